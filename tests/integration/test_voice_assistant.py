"""The voice assistant end to end, no sound card: espeak-ng speech → wake word → Whisper → agent → Piper.

Every part is real: openWakeWord, Silero VAD, Whisper tiny.en, SmolLM2-135M with
constrained decoding, Piper; the spoken reply is transcribed back to check it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from voice_assistant.assistant import SYSTEM_PROMPT, Command, VoiceAssistant
from voice_assistant.audio import SAMPLE_RATE, frames, read_wav
from voice_assistant.home_tools import Home
from voice_assistant.speech import Speaker, Transcriber, VoiceActivity, WakeWord

from agent_sdk import Agent

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "examples" / "voice_assistant" / "main.py"


def _say(text: str, path: Path) -> Path:
    """espeak-ng's US voice speaks ``text`` into a 22.05 kHz WAV file."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (./dev setup installs it with apt)")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def _padded(samples: np.ndarray) -> np.ndarray:
    """Half a second of room silence before, a second after: how a microphone hears a command."""
    return np.concatenate([np.zeros(SAMPLE_RATE // 2, np.int16), samples, np.zeros(SAMPLE_RATE, np.int16)])


@pytest.fixture(scope="module")
def voice(smollm2_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = Home(data_dir=tmp_path_factory.mktemp("home"), speak=lambda text: None)
    agent = Agent(
        smollm2_engine,
        tools=home.tools(),
        system=SYSTEM_PROMPT,
        tool_choice="auto",  # the SDK's auto rule, as examples/voice_assistant/main.py uses it
        max_steps=1,
        max_tokens=64,
    )
    stt = Transcriber(threads=2)
    tts = Speaker(noise_scale=0.0, noise_w_scale=0.0)  # the same audio every run: the reply is transcribed back
    assistant = VoiceAssistant(
        agent=agent, home=home, wake=WakeWord("hey_jarvis"), vad=VoiceActivity(), stt=stt, tts=tts
    )
    yield assistant, home, stt, tts
    home.close()


def _listen(assistant: VoiceAssistant, samples: np.ndarray) -> list[Any]:
    assistant.wake.reset()
    return list(assistant.listen(frames(_padded(samples))))


@pytest.mark.parametrize(
    ("sentence", "name", "arguments", "reply_words"),
    [
        ("hey jarvis, turn on the kitchen lights", "turn_on_lights", {"room": "kitchen"}, ["kitchen", "light"]),
        ("hey jarvis, set a timer for five minutes", "set_timer", {"minutes": 5}, ["timer", "5 minutes"]),
        ("hey jarvis, add milk to the shopping list", "add_to_shopping_list", {"item": "milk"}, ["milk", "shopping"]),
    ],
)
def test_spoken_command_calls_the_right_tool_and_says_so(
    voice: Any, tmp_path: Path, sentence: str, name: str, arguments: dict[str, Any], reply_words: list[str]
) -> None:
    assistant, home, stt, tts = voice
    clip = read_wav(_say(sentence, tmp_path / "cmd.wav"))
    out = _listen(assistant, clip.samples)
    commands = [o for o in out if isinstance(o, Command)]
    assert len(commands) == 1, out
    cmd = commands[0]
    assert len(cmd.calls) == 1, cmd
    call = cmd.calls[0]
    assert call["name"] == name, cmd
    defaults = {"seconds": 0} if name == "set_timer" else {}
    assert {**defaults, **arguments} == {**defaults, **call["arguments"]}, cmd
    # The reply, spoken by Piper and heard back by Whisper, reports the outcome.
    heard = stt.transcribe(tts.to_16k(cmd.audio)).lower().replace("five", "5")
    for word in reply_words:
        assert word in heard, (heard, cmd.reply)
    assert set(cmd.latency_ms) >= {"end_of_speech", "transcript", "first_token", "tool_done", "speech_start", "total"}
    assert all(v >= 0 for v in cmd.latency_ms.values())
    # ... and the world changed.
    if name == "turn_on_lights":
        assert home.lights.pin_value("kitchen") == 1.0
    elif name == "set_timer":
        assert [label for label, _ in home.timers.pending()] == ["5 minutes timer"]
        home.timers.cancel_all()
    else:
        assert json.loads(home.shopping.path.read_text())["items"] == ["milk"]


def test_no_wake_word_no_action(voice: Any, tmp_path: Path) -> None:
    assistant, home, _, _ = voice
    home.lights.set("bathroom", 0.0)
    clip = read_wav(_say("turn on the bathroom lights", tmp_path / "plain.wav"))
    assert [o for o in _listen(assistant, clip.samples) if isinstance(o, Command)] == []
    assert home.lights.pin_value("bathroom") == 0.0


def test_silence_and_noise_trigger_nothing(voice: Any) -> None:
    assistant, _, _, _ = voice
    rng = np.random.default_rng(0)
    assert _listen(assistant, np.zeros(3 * SAMPLE_RATE, np.int16)) == []
    noise = (rng.standard_normal(3 * SAMPLE_RATE) * 4000).astype(np.int16)
    assert _listen(assistant, noise) == []


def test_clipped_command_warns_and_does_not_crash(voice: Any, tmp_path: Path) -> None:
    assistant, _, _, _ = voice
    path = _say("hey jarvis, turn on the kitchen lights", tmp_path / "loud.wav")
    with wave.open(str(path)) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    loud = np.clip(np.frombuffer(raw, np.int16).astype(np.int32) * 12, -32768, 32767).astype(np.int16)
    with wave.open(str(tmp_path / "clipped.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(loud.tobytes())
    clip = read_wav(tmp_path / "clipped.wav")
    assert any("clipped" in w for w in clip.warnings)
    for item in _listen(assistant, clip.samples):  # heard or not, every item is a well-formed result
        assert isinstance(item, Command) or "wake word" in item.message


def _main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), *args], capture_output=True, text=True, timeout=600, cwd=REPO, check=False
    )


def test_cli_json_and_reply_wav(tmp_path: Path) -> None:
    wav = _say("hey jarvis, add eggs to the shopping list", tmp_path / "eggs.wav")
    r = _main("--wav", str(wav), "--json", "--out", str(tmp_path / "reply.wav"), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, r.stdout
    obj = lines[0]
    assert set(obj) >= {"transcript", "calls", "reply", "latency_ms"}
    assert obj["calls"] == [{"name": "add_to_shopping_list", "arguments": {"item": "eggs"}}]
    assert "eggs" in obj["reply"].lower()
    assert json.loads((tmp_path / "d" / "shopping_list.json").read_text()) == {"items": ["eggs"]}
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert w.getnframes() > w.getframerate() // 2  # at least half a second of speech
    assert "peak RSS of the whole pipeline" in r.stderr


@pytest.mark.parametrize("voice", [["-v", "en-us"], []], ids=["en-us", "default"])
def test_cli_hears_the_run_on_wake_phrase_of_the_issue(tmp_path: Path, voice: list[str]) -> None:
    """Issue 11 item 10, as written: ``espeak-ng -v en-us -w cmd.wav "hey jarvis. turn on the kitchen lights"``.

    The wake-word detector scores espeak-ng's run-on "jarvis" below its threshold; the
    transcript check hears it (README, "Wake word and pauses").
    """
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (./dev setup installs it with apt)")
    wav = tmp_path / "cmd.wav"
    subprocess.run(["espeak-ng", *voice, "-w", str(wav), "hey jarvis. turn on the kitchen lights"], check=True)
    r = _main("--wav", str(wav), "--json", "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, (r.stdout, r.stderr)
    obj = lines[0]
    assert obj["transcript"].lower().rstrip(".") == "turn on the kitchen lights", obj
    assert obj["calls"] == [{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}], obj
    assert obj["wake_verified"] is True and obj["wake_score"] < 0.5, obj


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"not a wav file at all" * 10), "not a PCM WAV"),
        (lambda p: _write_rate(p, 8000), "8000 Hz"),
    ],
)
def test_cli_bad_audio_is_a_clear_error(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    r = _main("--wav", str(path), "--json")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def _write_rate(path: Path, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(rate, np.int16).tobytes())


def test_cli_without_a_microphone_says_so(tmp_path: Path) -> None:
    import sounddevice as sd

    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has an input device; the check is for machines without one")
    r = _main("--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.startswith("error: no usable microphone") and "Traceback" not in r.stderr
