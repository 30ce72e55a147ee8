"""The listening loop: wake word → record until silence → transcribe → agent → reply.

:class:`VoiceAssistant.listen` consumes 80 ms frames (a microphone or a WAV
file sliced the same way) and yields a :class:`Command` per command heard and
a :class:`Notice` for anything worth telling the user (the wake word heard but
no command, audio problems). Stage timings go in ``Command.latency_ms``.
"""

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent_sdk import Agent
from agent_sdk.agent import FinalAnswer, TokenDelta, ToolCallEvent, ToolResultEvent

from .audio import FRAME, SAMPLE_RATE
from .home_tools import Home
from .speech import WAKE_CHECKS, after_wake_phrase, strip_wake_phrase

__all__ = ["SYSTEM_PROMPT", "Command", "ListenConfig", "Notice", "VoiceAssistant"]

SYSTEM_PROMPT = (
    "You are a voice assistant in a home. Call a tool for each command. Answer other questions in one short sentence."
)

COMMAND_PROMPT = (
    "Hey Jarvis, turn on the lights. Add eggs to the shopping list. "
    "Set a timer for 10 minutes. Set the volume to 40 percent."
)
"""Primes speech-to-text with the phrasing of commands (Whisper's initial prompt).

Whisper tiny.en hears "add milk" as "and milk" from synthetic voices without
it; with it, the phrases the tools expect come out right and numbers come out
as digits.
"""

MAYBE_WAKE_THRESHOLD = 0.01
"""Wake-word score from which an utterance is transcribed to check for the wake phrase (two-stage wake).

Measured with measure_wake.py: espeak-ng's "hey jarvis turn on …" said in one breath
scores 0.18-0.45 in en-us and 0.003-0.063 in en (0.018 as ``main.py --wav`` reads the
file), while phrases far from it score below 0.01 ("turn on the lights" 0.000, "what
time is it" up to 0.004, "hey there" up to 0.009); espeak-ng reading prose sets off 0.4-1.1
checks a minute. Names that sound alike ("hey travis" 0.09-0.51) need the transcript to tell.
"""

FRAME_S = FRAME / SAMPLE_RATE
_EPS = 1e-6  # audio times are sums of 80 ms steps: compare durations with a little slack


class _Scorer(Protocol):
    def score(self, frame: np.ndarray) -> float: ...
    def reset(self) -> None: ...


class _Vad(Protocol):
    def probability(self, frame: np.ndarray) -> float: ...
    def reset(self) -> None: ...


class _Stt(Protocol):
    def transcribe(self, samples: np.ndarray, *, prompt: str | None = None) -> str: ...


class _Tts(Protocol):
    rate: int

    def synthesize(self, text: str, *, volume: float = 1.0) -> np.ndarray: ...


@dataclass(frozen=True, kw_only=True)
class ListenConfig:
    """When the assistant starts and stops listening.

    Attributes:
        wake_threshold: Wake-word score that starts a command.
        maybe_threshold: A lower score (rising to it) that makes the assistant listen to the
            utterance as if woken, transcribe it and accept it only if the transcript starts
            with the wake phrase; at or above ``wake_threshold`` the check is off.
        max_check_s: An utterance checked for the wake phrase that goes on longer than this (after
            the maybe) is checked on what was said so far: speech not meant for the assistant
            costs at most ``pre_roll_s`` + this of transcription; a command that passes is recorded on.
        speech_threshold: Voice-activity probability that counts as speech.
        pre_roll_s: Audio kept from before the wake word fired (a fast talker's
            first word can overlap the detection); the wake phrase is cut from the transcript.
        end_silence_s: Silence after speech that ends a command.
        no_speech_timeout_s: How long to wait for a command after the wake word.
        max_command_s: Longest command recorded.
        refractory_s: The wake word is ignored this long after a command.
    """

    wake_threshold: float = 0.5
    maybe_threshold: float = MAYBE_WAKE_THRESHOLD
    max_check_s: float = 3.0
    speech_threshold: float = 0.5
    pre_roll_s: float = 1.5
    end_silence_s: float = 0.8
    no_speech_timeout_s: float = 4.0
    max_command_s: float = 10.0
    refractory_s: float = 1.0


@dataclass
class Command:
    """One command, heard and handled.

    Attributes:
        transcript: What was understood (wake phrase removed).
        calls: Executed tool calls as ``{"name", "arguments"}``.
        reply: What the assistant said.
        latency_ms: Stage durations: ``end_of_speech`` (wake → end of speech, the command itself),
            ``endpoint`` (→ silence confirmed), ``transcript``, ``first_token``, ``tool_done`` (the call
            decoded and run; with ``reply_mode="model"`` also the model's reply),
            ``speech_start`` (→ reply audio ready), and ``total`` (end of speech → speech start).
        wake_at_s: Where in the audio the wake word fired.
        wake_score: Its score (the highest of the utterance, when the transcript confirmed it).
        wake_verified: The score was below the wake threshold and the transcript, starting with the
            wake phrase, confirmed it.
        audio: The reply's audio (int16 at ``audio_rate``).
        audio_rate: Its sample rate.
        errors: Tool failures, spoken as part of the reply.
    """

    transcript: str
    calls: list[dict[str, Any]]
    reply: str
    latency_ms: dict[str, float]
    wake_at_s: float
    wake_score: float
    audio: np.ndarray | None = field(default=None, repr=False)
    audio_rate: int = 0
    errors: list[str] = field(default_factory=list)
    wake_verified: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: transcript, calls, reply, latency_ms."""
        return {
            "transcript": self.transcript,
            "calls": self.calls,
            "reply": self.reply,
            "latency_ms": {k: round(v, 1) for k, v in self.latency_ms.items()},
            "wake_at_s": round(self.wake_at_s, 2),
            "wake_score": round(self.wake_score, 3),
            "wake_verified": self.wake_verified,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Notice:
    """Something to tell the user that is not a command (no command after the wake word, …).

    Attributes:
        message: What happened.
        at_s: Where in the audio.
        woke: The assistant was woken (False: an utterance checked for the wake phrase and refused).
    """

    message: str
    at_s: float
    woke: bool = True


@dataclass
class _Take:
    """Audio being recorded after a wake word, or after a score in the maybe band (to be checked)."""

    frames: list[np.ndarray]
    start: float  # audio time of the wake (or of the maybe)
    score: float  # highest wake score so far
    woken: bool  # False: a maybe, accepted only if its transcript starts with the wake phrase
    speech_end: float | None = None  # audio time of the last speech frame
    verified: bool = False  # woken by a maybe that its transcript confirmed


class VoiceAssistant:
    """Wake word, voice activity, speech-to-text, the agent and text-to-speech in one loop.

    Args:
        agent: The tool-calling agent (its tools act on ``home``).
        home: The home state (volume scales the reply).
        wake: Wake-word scorer.
        vad: Voice-activity detector.
        stt: Speech-to-text.
        tts: Text-to-speech.
        config: Listening thresholds and timeouts.
        wake_name: The wake model's name (to strip the phrase from transcripts).
        reply_mode: ``tool``: after tool calls, say what the tools report (fast, exact);
            ``model``: let the model phrase a reply from the results (one more model step).
        play: Called with ``(audio, rate)`` to play a reply (None: don't play).
        stt_prompt: Words that prime speech-to-text (None: no priming).
    """

    def __init__(
        self,
        *,
        agent: Agent,
        home: Home,
        wake: _Scorer,
        vad: _Vad,
        stt: _Stt,
        tts: _Tts,
        config: ListenConfig | None = None,
        wake_name: str = "hey_jarvis",
        reply_mode: str = "tool",
        play: Callable[[np.ndarray, int], None] | None = None,
        stt_prompt: str | None = COMMAND_PROMPT,
    ) -> None:
        if reply_mode not in ("tool", "model"):
            raise ValueError(f"reply_mode must be 'tool' or 'model', got {reply_mode!r}")
        self.agent = agent
        self.home = home
        self.wake = wake
        self.vad = vad
        self.stt = stt
        self.tts = tts
        self.config = config or ListenConfig()
        self.wake_name = wake_name
        self.reply_mode = reply_mode
        self.play = play
        self.stt_prompt = stt_prompt
        self._speak_lock = threading.Lock()

    # ------------------------------------------------------------ listening

    def listen(self, frames: Iterable[np.ndarray]) -> Iterator[Command | Notice]:
        """Runs the loop over ``frames`` (80 ms, 16 kHz int16) until they end.

        A wake score at or above ``wake_threshold`` wakes the assistant. A score rising to
        ``maybe_threshold`` (but not above the other) is checked: the utterance is recorded as
        a command would be, from ``pre_roll_s`` before, and transcribed; if the transcript starts
        with the wake phrase, the rest is the command (or, if nothing follows the phrase, the
        assistant waits for one as after a wake word); if not, a :class:`Notice` with
        ``woke=False`` says what was heard. No speech in the utterance: nothing is transcribed.

        Yields:
            A :class:`Command` per command, :class:`Notice` for wake words without one and for
            utterances refused by the check.
        """
        cfg = self.config
        checks = cfg.maybe_threshold < cfg.wake_threshold and self.wake_name in WAKE_CHECKS
        pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(cfg.pre_roll_s / FRAME_S)))
        t = 0.0
        ignore_until = 0.0
        last_score = 0.0
        take: _Take | None = None
        for frame in frames:
            t += FRAME_S
            score = self.wake.score(frame)  # fed every frame, recording or not, so it does not re-fire
            rising, last_score = last_score < cfg.maybe_threshold <= score, score
            pre_roll.append(frame)
            if (take is None or not take.woken) and t >= ignore_until - _EPS:
                if score >= cfg.wake_threshold:  # a maybe that turns into a wake starts over as one
                    take = _Take(list(pre_roll), t, score, woken=True)
                    self.vad.reset()
                    continue
                if take is None and checks and rising:
                    take = self._maybe(pre_roll, t, score)
                    continue
            if take is None:
                continue
            take.frames.append(frame)
            if not take.woken:
                take.score = max(take.score, score)
            if self.vad.probability(frame) >= cfg.speech_threshold:
                take.speech_end = t
            elapsed = t - take.start
            if take.speech_end is None:
                if not take.woken and elapsed >= cfg.end_silence_s - _EPS:
                    take = None  # no speech anywhere near the score: noise, nothing to transcribe
                elif take.woken and elapsed >= cfg.no_speech_timeout_s - _EPS:
                    yield Notice(f"heard the wake word at {take.start:.1f} s but no command after it", take.start)
                    take, ignore_until = None, t + cfg.refractory_s
                    self.wake.reset()
                continue
            ended = t - take.speech_end >= cfg.end_silence_s - _EPS or elapsed >= cfg.max_command_s - _EPS
            if take.woken:
                if not ended:
                    continue
                yield self._finish(take, t)
                take = None
            else:
                if not ended and elapsed < cfg.max_check_s - _EPS:
                    continue
                item, take = self._check(take, t, ended=ended)
                if item is None:
                    continue
                yield item
                if not isinstance(item, Command):
                    continue
            ignore_until = t + cfg.refractory_s
            self.wake.reset()
            pre_roll.clear()
        if take is not None:
            if take.speech_end is None:
                if take.woken:
                    yield Notice(f"the audio ended right after the wake word at {take.start:.1f} s", take.start)
            elif take.woken:  # the input ended mid-command (a file without trailing silence): that is its end
                yield self._finish(take, t)
            else:
                item, take = self._check(take, t, ended=True)
                if item is not None:
                    yield item
                elif take is not None:
                    yield Notice(f"the audio ended right after the wake word at {take.start:.1f} s", take.start)

    def _maybe(self, pre_roll: deque[np.ndarray], t: float, score: float) -> _Take:
        """Starts recording an utterance whose wake score reached the maybe band.

        The voice-activity detector hears the audio before it too: the wake phrase was
        said there, and without speech in it the score came from noise.
        """
        self.vad.reset()
        take = _Take(list(pre_roll), t, score, woken=False)
        for i, f in enumerate(take.frames):
            if self.vad.probability(f) >= self.config.speech_threshold:
                take.speech_end = t - (len(take.frames) - 1 - i) * FRAME_S
        return take

    def _check(self, take: _Take, t: float, *, ended: bool) -> tuple[Command | Notice | None, _Take | None]:
        """Transcribes a maybe and decides.

        Returns:
            (a command, None), (a refusal notice, None), (None, None) when no words were heard,
            or (None, the take, now a wake: waiting for its command, or, if the utterance has
            not ended, recording it on).
        """
        audio, listened = self._cut(take, t)
        t0 = time.perf_counter()
        text = self.stt.transcribe(audio, prompt=self.stt_prompt)
        listened["transcript"] = (time.perf_counter() - t0) * 1000.0
        if not re.search(r"\w", text):  # no words (noise the voice-activity detector took for speech)
            return None, None
        rest = after_wake_phrase(text, self.wake_name)
        if rest is None:
            msg = f'heard "{text}" at {take.start:.1f} s (wake score {take.score:.2f}): not the wake phrase'
            return Notice(msg, take.start, woke=False), None
        if not ended:  # a long command: recorded to its end, then transcribed whole as after a wake word
            take.woken = take.verified = True
            return None, take
        if re.search(r"\w", rest):
            cmd = self.handle(
                audio, wake_at_s=take.start, wake_score=take.score, listened=listened, heard=rest, wake_verified=True
            )
            return cmd, None
        # The wake phrase alone: listen for the command as after a wake word, from the silence after it.
        assert take.speech_end is not None
        quiet = take.frames[len(take.frames) - round((t - take.speech_end) / FRAME_S) :]
        self.vad.reset()
        return None, _Take(quiet, t, take.score, woken=True, verified=True)

    def _cut(self, take: _Take, t: float) -> tuple[np.ndarray, dict[str, float]]:
        """The recorded audio with its trailing silence cut (keeping a little), and the listening times."""
        end = take.speech_end if take.speech_end is not None else t
        keep = len(take.frames) - round((t - end) / FRAME_S) + 3
        audio = np.concatenate(take.frames[: max(1, keep)])
        return audio, {"end_of_speech": (end - take.start) * 1000.0, "endpoint": (t - end) * 1000.0}

    def _finish(self, take: _Take, t: float) -> "Command":
        """Handles a recorded command."""
        audio, listened = self._cut(take, t)
        return self.handle(
            audio, wake_at_s=take.start, wake_score=take.score, listened=listened, wake_verified=take.verified
        )

    # ------------------------------------------------------------ handling

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
        """Transcribes a recorded command, runs the agent and speaks the reply.

        Args:
            audio: The command (16 kHz int16).
            wake_at_s: Where the wake word fired.
            wake_score: Its score.
            listened: Listening-stage timings to put first in ``latency_ms``.
            heard: The command's text when it is known already (the transcript that confirmed
                the wake phrase, without it): ``audio`` is not transcribed again.
            wake_verified: The wake word was confirmed by a transcript (see :meth:`listen`).

        Returns:
            The handled command.
        """
        lat = dict(listened or {})
        if heard is None:
            t0 = time.perf_counter()
            transcript = strip_wake_phrase(self.stt.transcribe(audio, prompt=self.stt_prompt), self.wake_name)
            lat["transcript"] = (time.perf_counter() - t0) * 1000.0
        else:
            transcript = heard
        t1 = time.perf_counter()
        calls: list[dict[str, Any]] = []
        errors: list[str] = []
        if not re.search(r"\w", transcript):
            reply = "Sorry, I didn't catch that."
            lat["first_token"] = lat["tool_done"] = 0.0
        else:
            reply, calls, errors, first_token_s = self._run_agent(transcript)
            t2 = time.perf_counter()
            lat["first_token"] = first_token_s * 1000.0
            lat["tool_done"] = (t2 - t1 - first_token_s) * 1000.0
        t3 = time.perf_counter()
        audio_out = self.tts.synthesize(reply, volume=self.home.volume / 100.0)
        lat["speech_start"] = (time.perf_counter() - t3) * 1000.0
        lat["total"] = sum(
            lat.get(k, 0.0) for k in ("endpoint", "transcript", "first_token", "tool_done", "speech_start")
        )
        cmd = Command(
            transcript, calls, reply, lat, wake_at_s, wake_score, audio_out, self.tts.rate, errors, wake_verified
        )
        self._play(audio_out)
        return cmd

    def _run_agent(self, transcript: str) -> tuple[str, list[dict[str, Any]], list[str], float]:
        """The agent on one transcript: (reply, calls, errors, seconds to the model's first token)."""
        self.agent.reset()  # each command stands alone; the tools' prefix stays cached
        reports: list[str] = []
        errors: list[str] = []
        answer = ""
        result = None
        first: float | None = None
        t0 = time.perf_counter()
        for ev in self.agent.stream(transcript):
            if first is None and isinstance(ev, (TokenDelta, ToolCallEvent)):
                first = time.perf_counter() - t0
            if isinstance(ev, ToolResultEvent):
                if ev.result.ok:
                    reports.append(ev.result.to_message())
                else:
                    errors.append(ev.result.error or "failed")
                    reports.append(f"Sorry, I could not do that: {ev.result.error}.")
            elif isinstance(ev, FinalAnswer):
                answer, result = ev.text, ev.result
        calls = result.calls_json() if result is not None else []
        ttft = ((result.stats.ttft_ms or 0.0) / 1000.0) if result is not None else 0.0
        first_token = ttft if ttft > 0 else (first or 0.0)
        if self.reply_mode == "tool" and reports:
            reply = " ".join(reports)
        else:
            reply = _spoken(answer) or " ".join(reports) or "Sorry, I can't help with that."
        return reply, calls, errors, first_token

    # ------------------------------------------------------------ speech

    def say(self, text: str) -> None:
        """Speaks ``text`` now (timers and alarms call this from their threads)."""
        self._play(self.tts.synthesize(text, volume=self.home.volume / 100.0))

    def _play(self, audio: np.ndarray) -> None:
        if self.play is not None:
            with self._speak_lock:
                self.play(audio, self.tts.rate)


def _spoken(text: str, *, max_sentences: int = 2) -> str:
    """A model answer cut to what is worth saying aloud: its first sentences, no code or markup."""
    text = text.split("```", 1)[0]
    text = re.sub(r"</?[a-z_]+>", " ", text)  # chat-template tags a small model may echo
    text = text.strip().split("\n\n", 1)[0].replace("\n", " ")
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(sentences[:max_sentences]).strip()
