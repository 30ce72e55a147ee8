"""Audio input of the voice example: WAV checks and conversion, framing; the listening state machine."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from voice_assistant.assistant import ListenConfig, Notice, VoiceAssistant, _spoken
from voice_assistant.audio import FRAME, SAMPLE_RATE, AudioError, frames, read_wav, resample, write_wav
from voice_assistant.speech import after_wake_phrase, strip_wake_phrase

pytestmark = pytest.mark.unit


def _wav(path: Path, data: np.ndarray, rate: int, *, width: int = 2, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def _tone(freq: float, rate: int, seconds: float, amp: float = 8000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    return float(np.argmax(spec) * SAMPLE_RATE / len(x))


def test_stereo_44k_becomes_16k_mono_with_the_same_pitch(tmp_path: Path) -> None:
    tone = _tone(440, 44100, 1.0)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    clip = read_wav(_wav(tmp_path / "a.wav", stereo, 44100, channels=2))
    assert (clip.source_rate, clip.channels) == (44100, 2)
    assert len(clip.samples) == 16000 and clip.samples.dtype == np.int16
    assert abs(_peak_hz(clip.samples) - 440) <= 1.0
    assert abs(int(np.max(np.abs(clip.samples))) - 8000) < 200
    assert clip.warnings == []


def test_resample_removes_what_16k_cannot_hold() -> None:
    x = _tone(440, 48000, 0.5).astype(np.float64) + _tone(11000, 48000, 0.5).astype(np.float64)
    y = resample(x, 48000, 16000)
    spec = np.abs(np.fft.rfft(y))
    hz = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[np.argmin(np.abs(hz - 440))] > 100 * spec[hz > 5000].max()  # 11 kHz gone, not aliased to 5 kHz


@pytest.mark.parametrize("width", [1, 3, 4])
def test_other_sample_widths(tmp_path: Path, width: int) -> None:
    tone = _tone(300, 16000, 0.2).astype(np.int32)
    if width == 1:
        raw = (tone // 256 + 128).astype(np.uint8)
    elif width == 3:
        v = (tone * 256).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        raw = np.ascontiguousarray(v)
    else:
        raw = (tone * 65536).astype("<i4")
    clip = read_wav(_wav(tmp_path / "w.wav", raw, 16000, width=width))
    assert np.max(np.abs(clip.samples.astype(np.int32) - tone)) <= (256 if width == 1 else 1)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        read_wav(tmp_path / "e.wav")


def test_no_samples(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no audio samples"):
        read_wav(_wav(tmp_path / "z.wav", np.zeros(0, np.int16), 16000))


def test_not_a_wav(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"ID3\x04 this is an mp3 " * 20)
    with pytest.raises(AudioError, match="not a PCM WAV"):
        read_wav(tmp_path / "x.wav")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such audio file"):
        read_wav(tmp_path / "nope.wav")


def test_too_low_a_sample_rate(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="8000 Hz.*at least 16000 Hz"):
        read_wav(_wav(tmp_path / "t.wav", _tone(300, 8000, 0.5), 8000))


def test_clipped_and_silent_audio_warn(tmp_path: Path) -> None:
    t = np.arange(8000) / 16000
    loud = np.clip(60000 * np.sin(2 * np.pi * 300 * t), -32768, 32767).astype(np.int16)
    assert "clipped" in read_wav(_wav(tmp_path / "c.wav", loud, 16000)).warnings[0]
    assert "silent" in read_wav(_wav(tmp_path / "s.wav", np.zeros(16000, np.int16), 16000)).warnings[0]


def test_frames_pad_the_last_one(tmp_path: Path) -> None:
    out = list(frames(np.ones(FRAME * 2 + 5, np.int16)))
    assert [len(f) for f in out] == [FRAME] * 3
    assert out[2][:5].tolist() == [1] * 5 and not out[2][5:].any()


def test_write_wav_round_trip(tmp_path: Path) -> None:
    x = _tone(500, 22050, 0.1)
    write_wav(tmp_path / "o.wav", x, 22050)
    with wave.open(str(tmp_path / "o.wav")) as w:
        assert w.getframerate() == 22050 and np.array_equal(np.frombuffer(w.readframes(10**6), np.int16), x)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hey Jarvis, turn on the kitchen lights.", "Turn on the kitchen lights."),
        ("so I said hey jarvis add milk", "Add milk"),
        ("Jarvis. Set a timer for 5 minutes.", "Set a timer for 5 minutes."),
        ("Turn on the lights.", "Turn on the lights."),
    ],
)
def test_strip_wake_phrase(text: str, expected: str) -> None:
    assert strip_wake_phrase(text, "hey_jarvis") == expected


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("Hey Jarvis, turn on the kitchen lights.", "Turn on the kitchen lights."),
        ("Hey, Jarvis. Turn on the kitchen lights.", "Turn on the kitchen lights."),
        ("hi jarvis add milk", "Add milk"),
        ("A Jarvis, set a timer.", "Set a timer."),
        ("Hey Jervis, turn on the lights.", "Turn on the lights."),
        ("Hey, hey Jarvis!", ""),
        ("Hey Travis, turn on the lights.", None),
        ("Hey service, turn on the lights.", None),
        ("Hey garbage.", None),
        ("Hey there, Jarvis.", None),  # the phrase must lead
        ("Jarvis, turn on the lights.", None),  # and be whole
        ("so I said hey jarvis add milk", None),
        ("Hey Jarvisson.", None),
        ("", None),
    ],
)
def test_after_wake_phrase(text: str, rest: str | None) -> None:
    """What confirms a wake word the detector was unsure of: the transcript starts with the phrase."""
    assert after_wake_phrase(text, "hey_jarvis") == rest


def test_after_wake_phrase_of_a_custom_model_is_never_confirmed() -> None:
    assert after_wake_phrase("Hey Jarvis, turn on the lights.", "models/hey_jarvis_v2.onnx") is None


def test_spoken_answer_drops_code_and_long_text() -> None:
    assert _spoken("Sure.\n```\ncode()\n```") == "Sure."
    assert _spoken("One. Two. Three. Four.") == "One. Two."
    assert _spoken("<tool_response> Turned on the lights. </tool_response>") == "Turned on the lights."


# ------------------------------------------------------------ the listening state machine
# Scripted wake-word and voice-activity scores (per frame) test when a command starts and
# ends; the real models run in tests/integration/test_voice_assistant.py.


class _Scripted:
    def __init__(self, values: list[float]) -> None:
        self.values, self.i, self.resets = values, 0, 0

    def _next(self) -> float:
        v = self.values[self.i] if self.i < len(self.values) else 0.0
        self.i += 1
        return v

    def score(self, frame: np.ndarray) -> float:
        return self._next()

    def probability(self, frame: np.ndarray) -> float:
        return float(frame[0] > 0)  # speech frames are marked in the audio itself

    def reset(self) -> None:
        self.resets += 1


class _Said:
    """Speech-to-text that hears what it is told to."""

    def __init__(self, text: str) -> None:
        self.text, self.heard = text, []

    def transcribe(self, samples: np.ndarray, *, prompt: str | None = None) -> str:
        self.heard.append(len(samples) // FRAME)
        return self.text


class _Handled(VoiceAssistant):
    def __init__(self, wake: _Scripted, config: ListenConfig, *, said: str = "") -> None:
        self.wake, self.vad, self.config = wake, _Scripted([]), config
        self.stt, self.stt_prompt, self.wake_name = _Said(said), None, "hey_jarvis"
        self.handled: list[tuple[int, dict[str, float]]] = []
        self.heard: list[tuple[str | None, bool, float]] = []

    def handle(self, audio, *, wake_at_s=0.0, wake_score=1.0, listened=None, heard=None, wake_verified=False):  # type: ignore[no-untyped-def,override]
        self.handled.append((len(audio) // FRAME, dict(listened or {})))
        self.heard.append((heard, wake_verified, round(wake_at_s, 2)))
        return "handled"


def _stream(speech: list[int]) -> list[np.ndarray]:
    return [np.full(FRAME, 1 if s else 0, np.int16) for s in speech]


def test_command_ends_after_silence_and_the_wake_word_is_ignored_for_a_while() -> None:
    cfg = ListenConfig(pre_roll_s=0.16, end_silence_s=0.4, refractory_s=1.0)
    # frame 3 fires; speech in frames 4..9; 5 silent frames (0.4 s) end it; frame 16 fires again (refractory)
    wake = [0.0, 0.0, 0.9] + [0.0] * 12 + [0.9] + [0.0] * 20
    speech = [0, 0, 0] + [1] * 6 + [0] * 30
    va = _Handled(_Scripted(wake), cfg)
    out = list(va.listen(_stream(speech)))
    assert out == ["handled"]
    frames_kept, listened = va.handled[0]
    assert listened["end_of_speech"] == pytest.approx(6 * 80, abs=1)  # wake → last speech frame
    assert listened["endpoint"] == pytest.approx(5 * 80, abs=1)
    assert frames_kept == 2 + 6 + 3  # pre-roll (2 frames) + speech + 3 frames of tail


def test_wake_word_without_a_command_is_a_notice() -> None:
    cfg = ListenConfig(no_speech_timeout_s=0.8)
    va = _Handled(_Scripted([0.9] + [0.0] * 30), cfg)
    out = list(va.listen(_stream([0] * 31)))
    assert len(out) == 1 and isinstance(out[0], Notice) and "no command" in out[0].message
    assert va.handled == []


def test_input_ending_mid_command_handles_it() -> None:
    va = _Handled(_Scripted([0.9]), ListenConfig())
    out = list(va.listen(_stream([0, 1, 1, 1])))
    assert out == ["handled"]


def test_no_wake_word_no_command() -> None:
    va = _Handled(_Scripted([0.003] * 50), ListenConfig())  # below the maybe band too
    assert list(va.listen(_stream([1] * 50))) == []
    assert va.stt.heard == []


# ------------------------------------------------------------ the two-stage wake
# A wake score in the maybe band (ListenConfig.maybe_threshold up to wake_threshold) is
# checked by transcribing the utterance: scripted scores and transcripts here, the real
# models in tests/unit/test_voice_wake.py.

_SHORT = ListenConfig(pre_roll_s=0.16, end_silence_s=0.4)


def test_a_maybe_confirmed_by_its_transcript_is_the_command_transcribed_once() -> None:
    # speech in frames 0..8; the score reaches the maybe band at frame 2 (t 0.24 s), never 0.5
    wake = [0.0, 0.005, 0.2, 0.3, 0.1] + [0.0] * 20
    speech = [1] * 9 + [0] * 16
    va = _Handled(_Scripted(wake), _SHORT, said="Hey Jarvis, turn on the kitchen lights.")
    assert list(va.listen(_stream(speech))) == ["handled"]
    assert va.heard == [("Turn on the kitchen lights.", True, 0.24)]
    frames_kept, listened = va.handled[0]
    assert va.stt.heard == [frames_kept] and frames_kept == 2 + 6 + 3  # pre-roll, speech after it, tail
    assert listened["end_of_speech"] == pytest.approx(6 * 80, abs=1)
    assert listened["endpoint"] == pytest.approx(5 * 80, abs=1)
    assert "transcript" in listened


def test_a_maybe_whose_transcript_does_not_start_with_the_wake_phrase_is_refused() -> None:
    wake = [0.0, 0.0, 0.3] + [0.0] * 20
    va = _Handled(_Scripted(wake), _SHORT, said="Hey Travis, turn on the lights.")
    out = list(va.listen(_stream([1] * 8 + [0] * 15)))
    assert len(out) == 1 and isinstance(out[0], Notice) and not out[0].woke
    assert "Hey Travis" in out[0].message and va.handled == []
    assert va.wake.resets == 0  # nothing to forget: the detector goes on listening


def test_the_wake_phrase_alone_waits_for_the_command_as_a_wake_word_does() -> None:
    # "hey jarvis" (frames 0-1), 0.4 s of silence ends the check, the command follows (frames 9-12)
    wake = [0.0, 0.2] + [0.0] * 40
    speech = [1, 1] + [0] * 7 + [1] * 4 + [0] * 10
    va = _Handled(_Scripted(wake), _SHORT, said="Hey Jarvis.")
    assert list(va.listen(_stream(speech))) == ["handled"]
    assert va.heard == [(None, True, 0.56)]  # transcribed as after a wake word, from where the check ended
    frames_kept, _ = va.handled[0]
    assert frames_kept == 5 + 2 + 4 + 3  # the silence after the phrase, the wait, the command, tail


def test_a_maybe_without_speech_is_not_transcribed() -> None:
    wake = [0.0, 0.2, 0.3] + [0.0] * 20  # noise can reach the maybe band
    va = _Handled(_Scripted(wake), _SHORT, said="Thank you.")
    assert list(va.listen(_stream([0] * 23))) == []
    assert va.stt.heard == []


def test_a_maybe_transcribed_as_no_words_is_dropped_quietly() -> None:
    wake = [0.0, 0.2] + [0.0] * 20  # loud noise the voice-activity detector took for speech
    va = _Handled(_Scripted(wake), _SHORT, said="")
    assert list(va.listen(_stream([1] * 4 + [0] * 18))) == []
    assert len(va.stt.heard) == 1


def test_a_maybe_that_becomes_a_wake_is_a_wake() -> None:
    wake = [0.0, 0.2, 0.9] + [0.0] * 20
    va = _Handled(_Scripted(wake), _SHORT, said="never asked")
    assert list(va.listen(_stream([1] * 8 + [0] * 15))) == ["handled"]
    assert va.heard == [(None, False, 0.24)] and va.stt.heard == []


def test_one_check_per_rise_into_the_maybe_band() -> None:
    # the score stays in the band after the refused check: no second check until it falls and rises again
    wake = [0.0, 0.3] + [0.2] * 12 + [0.0, 0.3] + [0.0] * 20
    speech = [1, 1] + [0] * 12 + [1, 1] + [0] * 20
    va = _Handled(_Scripted(wake), _SHORT, said="Hey garbage.")
    out = list(va.listen(_stream(speech)))
    assert [isinstance(o, Notice) and not o.woke for o in out] == [True, True]
    assert len(va.stt.heard) == 2


@pytest.mark.parametrize(
    ("config", "wake_name"),
    [(ListenConfig(maybe_threshold=0.5), "hey_jarvis"), (_SHORT, "custom.onnx")],
)
def test_the_check_is_off_at_the_wake_threshold_and_for_a_custom_wake_word(
    config: ListenConfig, wake_name: str
) -> None:
    va = _Handled(_Scripted([0.0, 0.3] + [0.0] * 20), config, said="Hey Jarvis, turn on the lights.")
    va.wake_name = wake_name
    assert list(va.listen(_stream([1] * 8 + [0] * 14))) == []
    assert va.stt.heard == []


def test_input_ending_mid_check_checks_what_there_is() -> None:
    va = _Handled(_Scripted([0.0, 0.3]), _SHORT, said="Hey Jarvis, add milk.")
    assert list(va.listen(_stream([1] * 6))) == ["handled"]
    assert va.heard == [("Add milk.", True, 0.16)]


@pytest.mark.parametrize(("said", "handled"), [("Hey Jarvis, set a timer for", True), ("Now the weather.", False)])
def test_a_long_utterance_is_checked_on_its_start(said: str, handled: bool) -> None:
    """Speech going on past max_check_s is checked on what was said so far, not transcribed whole."""
    cfg = ListenConfig(pre_roll_s=0.16, end_silence_s=0.4, max_check_s=0.8)
    wake = [0.0, 0.2] + [0.0] * 40
    speech = [1] * 30 + [0] * 12
    va = _Handled(_Scripted(wake), cfg, said=said)
    out = list(va.listen(_stream(speech)))
    assert va.stt.heard == [2 + 10]  # pre-roll and 0.8 s after the maybe: the check's audio
    if handled:  # recorded on to the end of speech, then transcribed whole as after a wake word
        assert out == ["handled"] and va.heard == [(None, True, 0.16)]
        assert va.handled[0][0] == 2 + 28 + 3
    else:
        assert len(out) == 1 and isinstance(out[0], Notice) and not out[0].woke
