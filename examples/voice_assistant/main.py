"""Offline voice assistant: "hey jarvis, turn on the kitchen lights" → the light turns on, and it says so.

Run (after ``./dev voice-setup``)::

    .venv/bin/python examples/voice_assistant/main.py                 # microphone and speaker
    .venv/bin/python examples/voice_assistant/main.py --wav cmd.wav --out reply.wav --json

``--wav`` feeds a file through the same loop in 80 ms frames (``--realtime``
paces them like a microphone). ``--json`` prints one object per command:
``{"transcript", "calls", "reply", "latency_ms"}``. Exit codes: 0 done
(even if no command was heard), 2 bad input or setup, 1 internal error.
"""

import argparse
import json
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "voice_assistant"

from agent_sdk import AgentSDKError, UserError
from agent_sdk.agent.policy import DEFAULT_POLICY
from voice_assistant.assistant import MAYBE_WAKE_THRESHOLD, SYSTEM_PROMPT, Command, ListenConfig, Notice, VoiceAssistant
from voice_assistant.audio import AudioError, MicSource, frames, read_wav, write_wav

DEFAULT_DATA = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "agent-sdk-voice"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wav", type=Path, help="read this WAV file instead of the microphone")
    p.add_argument("--out", type=Path, help="write the spoken replies to this WAV file instead of the speaker")
    p.add_argument("--json", action="store_true", help="print one JSON object per command heard")
    p.add_argument("--realtime", action="store_true", help="with --wav: feed frames at microphone pace")
    p.add_argument("--model", default="smollm2-135m", help="model preset or bundle (default smollm2-135m)")
    p.add_argument("--quant", default="auto", choices=["auto", "q4", "q4a16", "q4a8", "q8", "f16", "f32"],
                   help="quantization when compiling (auto: the file's own q4, with int16 activations on AVX-512 VNNI)")
    p.add_argument("--threads", type=int, default=None, help="model threads (default: big cores)")
    p.add_argument("--wake", default="hey_jarvis", help="wake word: hey_jarvis, alexa, hey_mycroft, hey_rhasspy")
    p.add_argument(
        "--maybe-threshold",
        type=float,
        default=MAYBE_WAKE_THRESHOLD,
        help="wake score from which an utterance is transcribed and taken if it starts with the wake phrase "
        f"(default {MAYBE_WAKE_THRESHOLD}; 0.5 or more: the wake-word detector alone)",
    )
    p.add_argument(
        "--tool-choice",
        default="auto",
        choices=["auto", "required"],
        help="auto: answer questions in words when no tool fits (default); required: always call a tool",
    )
    p.add_argument(
        "--auto-threshold",
        type=float,
        default=None,
        help="in auto, the call score a command needs to run a tool (default: the SDK's call policy)",
    )
    p.add_argument(
        "--reply",
        default="tool",
        choices=["tool", "model"],
        help="tool: say what the tools report (default, fast); model: let the model phrase it",
    )
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help=f"shopping list folder (default {DEFAULT_DATA})")
    p.add_argument("--device", default=None, help="audio device (name or index) for microphone and speaker")
    return p


def _print_command(cmd: Command, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(cmd.to_json(), ensure_ascii=False), flush=True)
        return
    lat = cmd.latency_ms
    print(f'heard: "{cmd.transcript}"')
    for c in cmd.calls:
        print(f"  call: {c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})")
    print(f'  said: "{cmd.reply}"')
    stages = " → ".join(
        f"{name} {lat[key]:.0f} ms"
        for key, name in (
            ("end_of_speech", "end of speech"),
            ("endpoint", "silence"),
            ("transcript", "transcript"),
            ("first_token", "first token"),
            ("tool_done", "tool done"),
            ("speech_start", "speech start"),
        )
        if key in lat
    )
    print(f"  latency: wake → {stages}; end of speech → reply {lat['total']:.0f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Builds the pipeline and runs it over the microphone or a WAV file."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except AgentSDKError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _run(args: argparse.Namespace) -> int:
    clip = read_wav(args.wav) if args.wav else None  # check the input before loading any model
    if clip is not None:
        for w in clip.warnings:
            print(f"warning: {args.wav}: {w}", file=sys.stderr)
    from agent_sdk import Agent, Engine
    from agent_sdk.cli import ensure_bundle
    from voice_assistant.home_tools import Home
    from voice_assistant.speech import Speaker, Transcriber, VoiceActivity, WakeWord

    replies: list[np.ndarray] = []
    mic = None if clip is not None else MicSource(device=args.device)
    if mic is not None:
        mic.check()
    # The microphone keeps recording while the reply plays: drop what it heard of it.
    player = _collect(replies) if args.out or args.wav else _speaker(args.device, after=mic.flush if mic else None)
    speaker = Speaker()
    assistant: VoiceAssistant | None = None

    def speak(text: str) -> None:  # timers and alarms, from their own threads
        if assistant is not None:
            assistant.say(text)

    home = Home(data_dir=args.data_dir, speak=speak, mixer=args.wav is None)
    engine = Engine(ensure_bundle(args.model, quant=args.quant), threads=args.threads)
    agent = Agent(
        engine,
        tools=home.tools(),
        system=SYSTEM_PROMPT,
        policy=DEFAULT_POLICY.replace(tool_choice=args.tool_choice).with_threshold(args.auto_threshold),
        max_steps=2 if args.reply == "model" else 1,
        max_tokens=64,
        answer_prefix=None,  # a spoken reply should not start "According to turn_on_lights, "
    )
    agent.warm()  # the tool prefix is prefilled now, not on the first command
    assistant = VoiceAssistant(
        agent=agent,
        home=home,
        wake=WakeWord(args.wake),
        vad=VoiceActivity(),
        stt=Transcriber(threads=args.threads or 2),
        tts=speaker,
        config=ListenConfig(maybe_threshold=args.maybe_threshold),
        wake_name=args.wake,
        reply_mode=args.reply,
        play=player,
    )
    source = frames(clip.samples, realtime=args.realtime) if clip is not None else mic
    assert source is not None
    if clip is None:
        print(f"Listening for {args.wake.replace('_', ' ')} … (Ctrl-C to stop)", file=sys.stderr)
    heard = woke = refused = 0
    try:
        for item in assistant.listen(source):
            if isinstance(item, Notice):  # the wake word without a command, or an utterance the check refused
                woke += item.woke
                refused += not item.woke
                print(f"note: {item.message}", file=sys.stderr)
                continue
            heard += 1
            _print_command(item, as_json=args.json)
    finally:
        home.close()
    if clip is not None and heard == 0:
        why = "only the wake word" if woke else f"no wake word '{args.wake}'"
        if refused and not woke:
            why += f"; {refused} utterance(s) checked and not starting with it"
        print(f"note: no command heard in {args.wav} ({why})", file=sys.stderr)
    if args.out and replies:
        gap = np.zeros(int(speaker.rate * 0.5), dtype=np.int16)
        write_wav(args.out, np.concatenate([x for r in replies for x in (r, gap)][:-1]), speaker.rate)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the whole pipeline: {peak:.0f} MiB", file=sys.stderr)
    return 0


def _collect(into: list[np.ndarray]):  # type: ignore[no-untyped-def]
    def play(audio: np.ndarray, rate: int) -> None:
        into.append(audio)

    return play


def _speaker(device: str | None, *, after: Callable[[], object] | None = None):  # type: ignore[no-untyped-def]
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise AudioError(f"no audio output ({exc}); use --out reply.wav, or install libportaudio2") from exc

    def play(audio: np.ndarray, rate: int) -> None:
        sd.play(audio, rate, device=device)
        sd.wait()
        if after is not None:
            after()

    return play


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
