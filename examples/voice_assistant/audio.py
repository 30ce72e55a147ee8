"""Audio in: WAV files checked and converted to 16 kHz mono, microphone frames, frame slicing.

Everything downstream (wake word, voice activity, speech-to-text) takes 16 kHz
mono int16 in 80 ms frames (1280 samples, openWakeWord's frame). A WAV file
and the microphone go through the same :func:`frames` iterator, so ``--wav``
tests the code path a live Pi runs.
"""

import queue
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk import UserError

__all__ = [
    "FRAME",
    "SAMPLE_RATE",
    "AudioError",
    "Clip",
    "MicSource",
    "frames",
    "read_wav",
    "resample",
    "to_16k_pcm",
    "write_wav",
]

SAMPLE_RATE = 16000
FRAME = 1280  # 80 ms at 16 kHz
MIN_RATE = 16000  # below this the band the models listen to is gone
CLIP_LEVEL = 32700  # |sample| at or above this counts as clipped
CLIP_SHARE = 0.005  # more than 0.5 % clipped samples: warn


class AudioError(UserError):
    """Audio that cannot be used: unreadable, empty, too low a sample rate, no input device."""


@dataclass
class Clip:
    """Audio ready for the pipeline.

    Attributes:
        samples: 16 kHz mono int16.
        source_rate: The file's sample rate before conversion.
        channels: The file's channel count before mixing down.
        warnings: Problems that do not stop processing (clipping, very quiet input).
    """

    samples: np.ndarray
    source_rate: int
    channels: int
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / SAMPLE_RATE


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling of a whole signal (FFT: ideal low-pass at the lower Nyquist).

    Args:
        x: float signal.
        src: Its sample rate.
        dst: The wanted rate.

    Returns:
        The signal at ``dst`` Hz, float64.
    """
    if src == dst or len(x) == 0:
        return x.astype(np.float64)
    n_out = max(1, round(len(x) * dst / src))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spec), n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    return np.fft.irfft(out_spec, n_out) * (n_out / len(x))


def read_wav(path: str | Path) -> Clip:
    """Reads a PCM WAV file (8/16/24/32-bit, any channels, ≥ 16 kHz) as 16 kHz mono int16.

    Args:
        path: The file.

    Returns:
        The clip, with warnings for clipped or near-silent audio.

    Raises:
        AudioError: Missing, empty, not a PCM WAV, no samples, or a sample rate below 16 kHz.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: no such audio file")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: the file is empty (0 bytes)")
    try:
        with wave.open(str(p), "rb") as w:
            rate, channels, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{p}: not a PCM WAV file ({exc})") from exc
    if n == 0 or not raw:
        raise AudioError(f"{p}: the WAV file holds no audio samples")
    if rate < MIN_RATE:
        raise AudioError(
            f"{p}: recorded at {rate} Hz; the wake-word and speech models need at least {MIN_RATE} Hz "
            "(record at 16000 Hz or more)"
        )
    data = _decode(raw, width, p)
    data = data[: len(data) - len(data) % channels].reshape(-1, channels).mean(axis=1)
    return Clip(to_16k_pcm(data, rate), rate, channels, _warnings(data))


def to_16k_pcm(x: np.ndarray, rate: int) -> np.ndarray:
    """Samples on the int16 scale at ``rate`` Hz → 16 kHz int16 (resampled, rounded, clipped)."""
    y = resample(x.astype(np.float64), rate, SAMPLE_RATE)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _decode(raw: bytes, width: int, p: Path) -> np.ndarray:
    """PCM bytes → float samples on the int16 scale."""
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / 256.0
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    raise AudioError(f"{p}: unsupported sample width of {width} bytes")


def _warnings(x: np.ndarray) -> list[str]:
    out = []
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL)) if len(x) else 0.0
    if clipped > CLIP_SHARE:
        out.append(
            f"the audio is clipped ({clipped:.1%} of samples at full scale): lower the microphone gain; "
            "recognition may suffer"
        )
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak < 30:  # about -60 dBFS
        out.append("the audio is silent (peak below -60 dBFS): check the microphone")
    return out


def frames(samples: np.ndarray, *, size: int = FRAME, realtime: bool = False) -> Iterator[np.ndarray]:
    """Slices 16 kHz int16 audio into frames; the last one is zero-padded.

    Args:
        samples: The audio.
        size: Samples per frame.
        realtime: Sleep so frames arrive at the rate a microphone delivers them.

    Yields:
        int16 frames of ``size`` samples.
    """
    start = time.monotonic()
    for k, i in enumerate(range(0, len(samples), size)):
        chunk = samples[i : i + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.zeros(size - len(chunk), dtype=np.int16)])
        if realtime:
            delay = start + k * size / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield chunk


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Writes mono int16 samples as a WAV file.

    Args:
        path: Where.
        samples: int16 audio.
        rate: Its sample rate.
    """
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


class MicSource:
    """Microphone frames at 16 kHz mono through ``sounddevice`` (imported only here).

    Args:
        device: Input device name or index (default: the system's).

    Raises:
        AudioError: No PortAudio, no input device, or the device refuses 16 kHz mono.
    """

    def __init__(self, *, device: str | int | None = None) -> None:
        self.device = device
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=256)
        self.dropped = 0

    def check(self) -> None:
        """Fails now, before any model loads, if there is no usable input device.

        Raises:
            AudioError: No PortAudio or no input device.
        """
        sd = self._sounddevice()
        try:
            sd.check_input_settings(device=self.device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
        except Exception as exc:  # PortAudio raises its own types
            raise AudioError(f"no usable microphone ({exc}); list devices with: python -m sounddevice") from exc

    @staticmethod
    def _sounddevice() -> Any:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise AudioError(
                f"no audio input: {exc}. Install the voice extra and PortAudio (apt install libportaudio2)"
            ) from exc
        return sd

    def flush(self) -> int:
        """Drops the frames queued so far (the assistant's own reply, heard while it spoke); returns how many."""
        n = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return n
            n += 1

    def __iter__(self) -> Iterator[np.ndarray]:
        sd = self._sounddevice()

        def callback(indata: np.ndarray, n: int, t: Any, status: Any) -> None:
            try:
                self._queue.put_nowait(indata[:, 0].copy())
            except queue.Full:
                self.dropped += 1  # the pipeline fell behind: drop rather than stall the audio thread

        try:
            stream = sd.InputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=FRAME,
                device=self.device,
                callback=callback,
            )
        except Exception as exc:
            raise AudioError(f"cannot open the microphone ({exc}); list devices with: python -m sounddevice") from exc
        with stream:
            while True:
                yield self._queue.get()
