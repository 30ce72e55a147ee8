"""Wake word and command capture over voices × pauses after "hey jarvis", and phrases that must not wake it.

Run::

    .venv/bin/python examples/voice_assistant/measure_wake.py
    .venv/bin/python examples/voice_assistant/measure_wake.py --voices en-us en --alignments 8
    .venv/bin/python examples/voice_assistant/measure_wake.py --no-check     # the wake-word detector alone
    .venv/bin/python examples/voice_assistant/measure_wake.py --prose /usr/share/common-licenses/GPL-3

Each phrase is spoken by espeak-ng (or by Piper: voice ``piper``, which samples its
voice, so its row varies from run to run), led by 0.5 s of silence and followed by
1 s, and fed in 80 ms frames through the assistant's listening loop with its real
wake-word detector and voice-activity detector (speech-to-text and the agent are
left out). A microphone's frames fall anywhere relative to the speech and the
scores depend on where, so every clip is run at ``--alignments`` offsets within
one frame.

With Whisper installed the loop runs its two-stage wake: an utterance whose wake score
rises into the maybe band is transcribed and kept only if the transcript starts with the
wake phrase (``--no-check``: the detector alone).

Tables: *wake word heard* by the detector (``hits/alignments lowest-highest peak score``;
the ``pause ms`` row is the silence measured after "hey jarvis", median over the voices),
*heard with the transcript check* (``heard/alignments``, ``+n`` of them through the
check, ``?n`` checks refused), and *command recorded* (the loop recorded one command
and its end of speech reached the end of the spoken command). ``--prose FILE`` reads a
text aloud instead and counts the checks it sets off: the cost of the check on speech
that is not meant for the assistant.

``--cold`` runs each clip as ``main.py --wav`` does: new detectors, the clip from
its first sample, one alignment.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "voice_assistant"

from agent_sdk import AgentSDKError
from voice_assistant.assistant import COMMAND_PROMPT, Command, ListenConfig, Notice, VoiceAssistant
from voice_assistant.audio import FRAME, SAMPLE_RATE, frames, read_wav, to_16k_pcm, write_wav
from voice_assistant.speech import Speaker, Transcriber, VoiceActivity, WakeWord

__all__ = [
    "NEGATIVES",
    "PAUSES",
    "Result",
    "Run",
    "Timed",
    "gap_ms",
    "listen_once",
    "measure",
    "measure_prose",
    "phrase_audio",
    "piper_say",
    "speak",
]

COMMAND = "turn on the kitchen lights"
PAUSES: dict[str, str | float] = {
    "none": f"hey jarvis {COMMAND}",
    "comma": f"hey jarvis, {COMMAND}",
    "period": f"hey jarvis. {COMMAND}",  # the cmd.wav: espeak-ng ends no sentence before a lowercase word
    "Period": f"Hey Jarvis. {COMMAND.capitalize()}",
    "[[_:]]": f"hey jarvis [[_:]] {COMMAND}",  # espeak-ng's long-pause phoneme; "[[_:500]]" reads the digits
    "break 300ms": f'hey jarvis. <break time="300ms"/> {COMMAND}',
    "break 500ms": f'hey jarvis. <break time="500ms"/> {COMMAND}',
    "break 1000ms": f'hey jarvis. <break time="1000ms"/> {COMMAND}',
    "+300ms": 0.3,  # "Hey Jarvis." and the command spoken apart, this much silence put between
    "+500ms": 0.5,
    "+1000ms": 1.0,
    "+2000ms": 2.0,
}
"""Pause after the wake phrase → the text spoken (SSML with ``<break>``), or seconds of silence inserted."""

NEGATIVES = [
    "hey travis, turn on the lights",
    "turn on the lights",
    "hey there, turn on the lights",
    "hey service, turn on the lights",
    "hey garbage",
]
"""Phrases that must not wake the assistant (the last two score highest among those tried)."""

SOUND_ALIKES = [
    "hey jeremy, turn on the lights",
    "hey charles, turn on the lights",
    "hey harvest, turn on the lights",
    "hey jars, turn on the lights",
    "hey nervous, turn on the lights",
    "hey darling, what's up",
]
"""More phrases that must not wake it, nearer "hey jarvis" (``--negatives`` them: not in the default run)."""

VOICES = ["en-us", "en", "en-gb-x-rp", "en-us+f3", "en-us+m3", "piper"]
LEAD_S = 0.5
TAIL_S = 1.0
END_SLACK_S = 0.25  # the last 10 ms of speech (a soft "s") may not count as speech to the detector


@dataclass
class Result:
    """One phrase in one voice.

    Attributes:
        voice: espeak-ng voice, or ``piper``.
        case: A key of :data:`PAUSES`, or a phrase of :data:`NEGATIVES`.
        wake: Whether the phrase holds the wake word (it should be heard).
        hits: Alignments at which the wake word was heard.
        alignments: Alignments tried.
        low: Lowest peak wake score over the alignments.
        high: Highest peak wake score.
        recorded: Alignments at which the whole command was recorded (wake phrases only).
        gap_ms: Silence measured after the wake phrase (wake phrases only).
        heard: Alignments at which the loop took a command (a wake, or a check that confirmed it).
        verified: Of those, the ones heard through the transcript check.
        refused: Alignments at which a check refused what it heard.
        transcripts: Every check's transcript, with how many alignments gave it.
    """

    voice: str
    case: str
    wake: bool
    hits: int
    alignments: int
    low: float
    high: float
    recorded: int | None = None
    gap_ms: float | None = None
    heard: int = 0
    verified: int = 0
    refused: int = 0
    transcripts: dict[str, int] = field(default_factory=dict)

    def cell(self) -> str:
        return f"{self.hits}/{self.alignments} {self.low:.2f}-{self.high:.2f}"

    def checked_cell(self) -> str:
        out = f"{self.heard}/{self.alignments}"
        out += f" +{self.verified}" if self.verified else ""
        return out + (f" ?{self.refused}" if self.refused else "")


@dataclass
class Transcription:
    """One speech-to-text call: the audio's length, wall and CPU time (all threads), the text."""

    audio_s: float
    wall_ms: float
    cpu_ms: float
    text: str


class Timed:
    """A speech-to-text model that records every call (:class:`Transcription`)."""

    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner
        self.calls: list[Transcription] = []

    def transcribe(self, samples: np.ndarray, *, prompt: str | None = None) -> str:
        w0, c0 = time.perf_counter(), time.process_time()
        text = self.inner.transcribe(samples, prompt=prompt)
        wall, cpu = (time.perf_counter() - w0) * 1000.0, (time.process_time() - c0) * 1000.0
        self.calls.append(Transcription(len(samples) / SAMPLE_RATE, wall, cpu, text))
        return text


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` spoken by an espeak-ng voice (SSML: ``<break time="500ms"/>`` works), as 16 kHz int16."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-m", "-v", voice, "-w", str(path), text], check=True, stderr=subprocess.DEVNULL)
        return read_wav(path).samples


def piper_say() -> Callable[[str], np.ndarray]:
    """A function speaking text with the assistant's Piper voice, as 16 kHz int16 (sampled: no two runs alike)."""
    speaker = Speaker(lead_silence_s=0.0)
    return lambda text: to_16k_pcm(speaker.synthesize(text).astype(np.float64), speaker.rate)


def _with_silence(first: np.ndarray, seconds: float, second: np.ndarray) -> np.ndarray:
    """``first``, ``seconds`` of silence, ``second``: with sox when it is installed."""
    if shutil.which("sox") is None:
        return np.concatenate([first, np.zeros(round(seconds * SAMPLE_RATE), np.int16), second])
    with tempfile.TemporaryDirectory() as tmp:
        a, padded, b, out = (Path(tmp) / n for n in ("a.wav", "a_pad.wav", "b.wav", "out.wav"))
        write_wav(a, first, SAMPLE_RATE)
        write_wav(b, second, SAMPLE_RATE)
        subprocess.run(["sox", str(a), str(padded), "pad", "0", f"{seconds}"], check=True)
        subprocess.run(["sox", str(padded), str(b), str(out)], check=True)
        return read_wav(out).samples


def phrase_audio(case: str, say: Callable[[str], np.ndarray]) -> np.ndarray:
    """The audio of a :data:`PAUSES` case (or of any other text) from a text-to-speech function."""
    spec = PAUSES.get(case, case)
    if isinstance(spec, float):
        return _with_silence(say("Hey Jarvis."), spec, say(COMMAND.capitalize() + "."))
    return say(spec)


def _quiet(samples: np.ndarray) -> np.ndarray:
    """Per 10 ms: below 2 % of the loudest 10 ms's RMS (synthetic speech has a clean floor)."""
    hop = SAMPLE_RATE // 100
    n = len(samples) // hop
    rms = np.sqrt((samples[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1))
    return np.asarray(rms < 0.02 * rms.max())


def gap_ms(samples: np.ndarray, *, after_s: tuple[float, float] = (0.3, 1.3)) -> float:
    """The longest silence starting ``after_s`` seconds after speech begins (the pause after "hey jarvis")."""
    quiet = _quiet(samples)
    n = len(quiet)
    onset = int(np.argmax(~quiet))
    best, i = 0, onset
    while i < n:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < n and quiet[j]:
            j += 1
        if j < n and after_s[0] <= (i - onset) / 100 <= after_s[1]:  # ends in speech: a pause, not the tail
            best = max(best, j - i)
        i = j
    return best * 10.0


def _speech_end_s(samples: np.ndarray) -> float:
    quiet = _quiet(samples)
    return float(len(quiet) - int(np.argmax(~quiet[::-1]))) / 100


class _Peak:
    """A wake-word scorer that keeps the highest score it has given."""

    def __init__(self, inner: WakeWord) -> None:
        self.inner, self.peak = inner, 0.0

    def score(self, frame: np.ndarray) -> float:
        s = self.inner.score(frame)
        self.peak = max(self.peak, s)
        return s

    def reset(self) -> None:
        self.inner.reset()


class _Listener(VoiceAssistant):
    """The listening loop alone: a recorded command is returned as heard, not transcribed or acted on.

    With ``stt`` the loop checks utterances in the maybe band (their transcripts are the
    commands' text); without it the check is off.
    """

    def __init__(self, wake: _Peak, vad: VoiceActivity, config: ListenConfig, stt: Timed | None) -> None:
        if stt is None:
            config = ListenConfig(**{**asdict(config), "maybe_threshold": config.wake_threshold})
        # listen() needs nothing else
        self.wake, self.vad, self.config, self.stt = wake, vad, config, stt  # type: ignore[assignment]
        self.stt_prompt, self.wake_name = COMMAND_PROMPT, "hey_jarvis"

    def handle(
        self,
        audio: np.ndarray,
        *,
        wake_at_s: float = 0.0,
        wake_score: float = 1.0,
        listened: dict[str, float] | None = None,
        heard: str | None = None,
        wake_verified: bool = False,
    ) -> Command:
        return Command(heard or "", [], "", dict(listened or {}), wake_at_s, wake_score, wake_verified=wake_verified)

    def run(self, audio: np.ndarray) -> list[Command | Notice]:
        return list(self.listen(frames(audio)))


@dataclass
class Run:
    """One clip through the listening loop.

    Attributes:
        peak: The highest wake score.
        whole: Exactly one command was recorded, up to the end of the clip's speech.
        commands: The commands the loop took.
        checks: The transcripts of the utterances checked for the wake phrase.
        refused: How many of them did not start with it.
    """

    peak: float
    whole: bool
    commands: list[Command]
    checks: list[str]
    refused: int


def listen_once(
    wake: WakeWord,
    vad: VoiceActivity,
    samples: np.ndarray,
    *,
    offset: int = 0,
    threshold: float = 0.5,
    lead: bool = True,
    stt: Timed | None = None,
) -> Run:
    """Runs one clip through the listening loop.

    Args:
        wake: The wake-word detector (reset first).
        vad: The voice-activity detector.
        samples: The clip (16 kHz int16).
        offset: Extra samples of leading silence (the clip's alignment within a frame).
        threshold: Wake score that starts a command.
        lead: Put :data:`LEAD_S` of silence before the clip and :data:`TAIL_S` after it.
        stt: Speech-to-text for the two-stage wake (None: the wake-word detector alone).

    Returns:
        What the loop did.
    """
    head = np.zeros((round(LEAD_S * SAMPLE_RATE) if lead else 0) + offset, np.int16)
    tail = np.zeros(round(TAIL_S * SAMPLE_RATE) if lead else 0, np.int16)
    audio = np.concatenate([head, samples, tail])
    spoken_until = len(head) / SAMPLE_RATE + _speech_end_s(samples)
    peak = _Peak(wake)
    wake.reset()
    vad.reset()
    calls = len(stt.calls) if stt is not None else 0
    out = _Listener(peak, vad, ListenConfig(wake_threshold=threshold), stt).run(audio)
    cmds = [c for c in out if isinstance(c, Command)]
    whole = len(cmds) == 1 and (
        cmds[0].wake_at_s + cmds[0].latency_ms["end_of_speech"] / 1000.0 >= spoken_until - END_SLACK_S
    )
    checks = [c.text for c in stt.calls[calls:]] if stt is not None else []
    refused = sum(isinstance(n, Notice) and not n.woke for n in out)
    return Run(peak.peak, whole, cmds, checks, refused)


def measure(
    *,
    voices: list[str],
    pauses: list[str],
    negatives: list[str],
    alignments: int = 4,
    threshold: float = 0.5,
    wake_name: str = "hey_jarvis",
    cold: bool = False,
    stt: Timed | None = None,
) -> list[Result]:
    """Runs every voice × (pause case and negative phrase) through the listening loop.

    Args:
        voices: espeak-ng voices, and ``piper`` for the assistant's own voice (skipped if not installed).
        pauses: Keys of :data:`PAUSES`.
        negatives: Phrases without the wake word.
        alignments: Offsets within one frame to run each clip at.
        threshold: The wake score that counts as heard.
        wake_name: The wake-word model.
        cold: As ``main.py --wav``: new detectors per clip, the clip from its first sample, one alignment.
        stt: Speech-to-text for the two-stage wake (None: the wake-word detector alone).

    Returns:
        One result per voice and case.
    """
    wake, vad = WakeWord(wake_name), VoiceActivity()
    results = []
    for voice in voices:
        say: Callable[[str], np.ndarray]
        if voice == "piper":
            try:
                say = piper_say()
            except AgentSDKError as exc:  # not installed, or its model file not the pinned one
                print(f"note: piper skipped ({exc})", file=sys.stderr)
                continue
            # Piper reads neither SSML nor espeak-ng's [[phonemes]].
            cases = [c for c in pauses if isinstance(PAUSES[c], float) or not any(m in str(PAUSES[c]) for m in "<[")]
        else:
            say, cases = partial(speak, voice=voice), list(pauses)
        for case in [*cases, *negatives]:
            samples = phrase_audio(case, say)
            if cold:
                runs = [
                    listen_once(WakeWord(wake_name), VoiceActivity(), samples, threshold=threshold, lead=False, stt=stt)
                ]
            else:
                runs = [
                    listen_once(wake, vad, samples, offset=k * FRAME // alignments, threshold=threshold, stt=stt)
                    for k in range(alignments)
                ]
            peaks = [r.peak for r in runs]
            is_wake = case in PAUSES
            transcripts: dict[str, int] = {}
            for r in runs:
                for text in r.checks:
                    transcripts[text] = transcripts.get(text, 0) + 1
            results.append(
                Result(
                    voice,
                    case,
                    is_wake,
                    sum(p >= threshold for p in peaks),
                    len(runs),
                    round(min(peaks), 3),
                    round(max(peaks), 3),
                    sum(r.whole for r in runs) if is_wake else None,
                    gap_ms(samples) if is_wake else None,
                    heard=sum(bool(r.commands) for r in runs),
                    verified=sum(any(c.wake_verified for c in r.commands) for r in runs),
                    refused=sum(r.refused > 0 for r in runs),
                    transcripts=transcripts,
                )
            )
    return results


@dataclass
class ProseResult:
    """A text read aloud in one voice: what the two-stage wake made of it.

    Attributes:
        voice: espeak-ng voice, or ``piper``.
        minutes: Length of the speech.
        checks: Utterances transcribed to check for the wake phrase.
        accepted: Commands taken (by the detector or by a check): false accepts.
        transcripts: The checks' transcripts.
    """

    voice: str
    minutes: float
    checks: int
    accepted: int
    transcripts: list[str]


def measure_prose(text: str, *, voices: list[str], stt: Timed, threshold: float = 0.5) -> list[ProseResult]:
    """Reads ``text`` aloud in each voice through the listening loop with its two-stage wake.

    Args:
        text: Speech not meant for the assistant (a page of prose).
        voices: espeak-ng voices, and ``piper``.
        stt: The speech-to-text model the checks use.
        threshold: The wake score that counts as heard.

    Returns:
        One result per voice.
    """
    wake, vad = WakeWord(), VoiceActivity()
    text = re.sub(r"\s+", " ", text).strip()
    out = []
    for voice in voices:
        if voice == "piper":
            try:
                say = piper_say()
            except AgentSDKError as exc:
                print(f"note: piper skipped ({exc})", file=sys.stderr)
                continue
            samples = np.concatenate([say(p) for p in re.split(r"(?<=[.;:])\s+", text) if p])
        else:
            samples = speak(text, voice)
        run = listen_once(wake, vad, samples, threshold=threshold, stt=stt)
        minutes = len(samples) / SAMPLE_RATE / 60.0
        out.append(ProseResult(voice, round(minutes, 2), len(run.checks), len(run.commands), run.checks))
    return out


def table(results: list[Result], *, checked: bool = False) -> str:
    """Voices down, cases across: the wake word heard, then the command recorded (wake phrases only).

    Args:
        results: From :func:`measure`.
        checked: The loop ran its two-stage wake: add what it heard with the transcript check.
    """
    voices = list(dict.fromkeys(r.voice for r in results))
    cases = list(dict.fromkeys(r.case for r in results))
    wake_cases = [c for c in cases if c in PAUSES]
    by = {(r.voice, r.case): r for r in results}
    width = max(len(r.cell()) for r in results) + 1

    def row(label: str, cells: list[str]) -> str:
        return " ".join([label.ljust(11)] + [c.rjust(width) for c in cells])

    def cell(v: str, c: str, f: Callable[[Result], str]) -> str:
        return f(by[v, c]) if (v, c) in by else "n/a"

    gaps = []
    for c in cases:
        g = [gap for v in voices if (v, c) in by and (gap := by[v, c].gap_ms) is not None]
        gaps.append(f"{np.median(g):.0f}" if g else "must not")
    lines = ["wake word heard", row("voice", [c[:width] for c in cases]), row("pause ms", gaps)]
    lines += [row(v, [cell(v, c, Result.cell) for c in cases]) for v in voices]
    if checked:
        lines += ["", "heard with the transcript check (+ through the check, ? checks refused)"]
        lines.append(row("voice", [c[:width] for c in cases]))
        lines += [row(v, [cell(v, c, Result.checked_cell) for c in cases]) for v in voices]
    lines += ["", "command recorded to its end", row("voice", wake_cases)]
    lines += [row(v, [cell(v, c, lambda r: f"{r.recorded}/{r.alignments}") for c in wake_cases]) for v in voices]
    pos = [r for r in results if r.wake]
    neg = [r for r in results if not r.wake]
    n_pos, n_neg = sum(r.alignments for r in pos), sum(r.alignments for r in neg)
    lines.append(
        f"wake phrases heard by the detector: {sum(r.hits for r in pos)}/{n_pos}"
        + (f", with the check: {sum(r.heard for r in pos)}/{n_pos}" if checked else "")
        + f"; commands recorded: {sum(r.recorded or 0 for r in pos)}/{n_pos}"
        + f"; false accepts by the detector: {sum(r.hits for r in neg)}/{n_neg}"
        + (f", with the check: {sum(r.heard for r in neg)}/{n_neg}" if checked else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Prints the tables (or JSON lines with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voices", nargs="+", default=VOICES, help=f"espeak-ng voices, or piper (default {VOICES})")
    p.add_argument(
        "--pauses",
        nargs="+",
        default=list(PAUSES),
        choices=list(PAUSES),
        metavar="PAUSE",
        help=f"pause cases (default all: {', '.join(PAUSES)})",
    )
    p.add_argument("--negatives", nargs="*", default=NEGATIVES, help="phrases that must not wake it")
    p.add_argument("--alignments", type=int, default=4, help="offsets within an 80 ms frame per clip (default 4)")
    p.add_argument("--threshold", type=float, default=ListenConfig().wake_threshold, help="wake score threshold")
    p.add_argument("--wake", default="hey_jarvis", help="wake-word model")
    p.add_argument("--cold", action="store_true", help="as main.py --wav: new detectors, clip from sample 0")
    p.add_argument("--no-check", action="store_true", help="the wake-word detector alone (no two-stage wake)")
    p.add_argument("--prose", type=Path, help="read this text aloud instead and count the checks it sets off")
    p.add_argument("--transcripts", action="store_true", help="list the checks' transcripts per voice and case")
    p.add_argument("--json", action="store_true", help="one JSON object per voice and case")
    args = p.parse_args(argv)
    if shutil.which("espeak-ng") is None and any(v != "piper" for v in args.voices):
        print("error: espeak-ng is not installed (apt install espeak-ng)", file=sys.stderr)
        return 2
    stt = None
    if not args.no_check:
        try:
            stt = Timed(Transcriber(threads=2))
        except AgentSDKError as exc:
            print(f"note: no speech-to-text, the detector alone ({exc})", file=sys.stderr)
    if args.prose is not None:
        if stt is None:
            print("error: --prose needs speech-to-text (the check is what it measures)", file=sys.stderr)
            return 2
        for pr in measure_prose(args.prose.read_text(), voices=args.voices, stt=stt, threshold=args.threshold):
            print(
                json.dumps(asdict(pr))
                if args.json
                else f"{pr.voice:11s} {pr.minutes:5.1f} min  checks {pr.checks}  "
                f"accepted {pr.accepted}  {pr.transcripts}"
            )
        print(_cost(stt), file=sys.stderr)
        return 0
    results = measure(
        voices=args.voices,
        pauses=args.pauses,
        negatives=args.negatives,
        alignments=args.alignments,
        threshold=args.threshold,
        wake_name=args.wake,
        cold=args.cold,
        stt=stt,
    )
    if args.json:
        for r in results:
            print(json.dumps(asdict(r)))
    else:
        maybe = "off" if stt is None else ListenConfig().maybe_threshold
        print(f"threshold {args.threshold}, transcript check from {maybe}")
        print(table(results, checked=stt is not None))
        if args.transcripts:
            for r in results:
                if r.transcripts:
                    print(f"{r.voice} | {r.case} | " + "; ".join(f"{n}x {t}" for t, n in r.transcripts.items()))
    if stt is not None:
        print(_cost(stt), file=sys.stderr)
    return 0


def _cost(stt: Timed) -> str:
    """The checks' speech-to-text cost: count, audio length, wall and CPU time (median, max)."""
    if not stt.calls:
        return "checks: none"
    audio = np.array([c.audio_s for c in stt.calls])
    wall = np.array([c.wall_ms for c in stt.calls])
    cpu = np.array([c.cpu_ms for c in stt.calls])
    return (
        f"checks: {len(stt.calls)}, audio {np.median(audio):.1f} s median ({audio.max():.1f} max), "
        f"Whisper {np.median(wall):.0f} ms wall median ({wall.max():.0f} max), "
        f"{np.median(cpu):.0f} ms CPU median ({cpu.max():.0f} max)"
    )


if __name__ == "__main__":
    sys.exit(main())
