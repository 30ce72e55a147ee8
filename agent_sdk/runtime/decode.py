"""The decode loop: prefill a prompt, then sample, feed and stream tokens until a stop.

:class:`Decoder` runs one request against a model's forward function and
its :class:`~agent_sdk.runtime.prefix_cache.PrefixCache`: it fits the prompt
to the context window, prefills what the cache does not hold, then samples
(through the logits hook and the grammar constraint), feeds grammar-forced
tokens in one step (jump-forward), stops on EOS, stop ids or stop strings,
and yields text as it becomes printable. It also scores continuations of a
prefix. The results (:class:`Generation`, :class:`GenerationStats`,
:class:`TokenEvent`, :class:`GenerationStream`) are defined here.
"""

from __future__ import annotations

import math
import platform
import resource
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent_sdk.errors import ContextOverflowError, EngineError, UserError
from agent_sdk.runtime.phases import phase
from agent_sdk.runtime.prefix_cache import SCRATCH_SEQUENCES, CachedSequence, PrefixCache
from agent_sdk.runtime.sampler import Sampler, SamplingParams
from agent_sdk.runtime.tokenizer import StreamDecoder, Tokenizer

__all__ = [
    "Decoder", "Forward", "ForwardMany", "Generation", "GenerationStats", "GenerationStream", "LogitsProcessor", "TokenConstraint",
    "TokenEvent", "encode_prompt", "fit_prompt", "peak_rss_mb",
]

LogitsProcessor = Callable[[list[int], np.ndarray], np.ndarray]


class Forward(Protocol):
    """Runs the model: appends ``ids`` to a KV-cache sequence and returns logits."""

    def __call__(
        self, seq_id: int, ids: list[int], *, all_logits: bool = False, rows: Sequence[int] | None = None,
    ) -> np.ndarray:
        """The logits after the last token, shape ``(vocab,)``, after each, ``(len(ids), vocab)``, or after
        ``ids[r]`` for each ``r`` of ``rows``, ``(len(rows), vocab)`` (only where the decoder was told the model
        has it)."""


class ForwardMany(Protocol):
    """Runs the model on several KV-cache sequences at once: appends ``ids[i]`` to ``seq_ids[i]``."""

    def __call__(self, seq_ids: Sequence[int], ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """The logits after each token of each sequence, ``(len(ids[i]), vocab)`` each."""


class TokenConstraint(Protocol):
    """What the engine needs from a grammar matcher (see ``agent_sdk.constrain``)."""

    def mask_logits(self, logits: np.ndarray) -> np.ndarray:
        """Sets forbidden tokens' logits to -inf; returns the logits."""

    def accept(self, token_id: int) -> None:
        """Advances past a token."""

    def forced_tokens(self) -> list[int]:
        """Tokens the grammar determines from here on (may be empty)."""

    def note_forced(self, n: int) -> None:
        """Told how many forced tokens were fed in one step."""

    def is_stopped(self) -> bool:
        """True once the grammar admits nothing but the end."""


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if platform.system() == "Linux" else kb / (1024.0 * 1024.0)


@dataclass
class GenerationStats:
    """Counters and timings of one request.

    Attributes:
        prompt_tokens: Tokens in the prompt.
        cached_tokens: Prompt tokens reused from the KV cache (not prefilled).
        generated_tokens: Tokens sampled.
        prefill_s: Seconds spent prefilling.
        decode_s: Seconds spent decoding after the first token.
        ttft_ms: Time from the call to the first generated token.
        forced_tokens: Generated tokens fed by jump-forward (no sampling step).
        decode_steps: Forward calls made after the prompt.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    ttft_ms: float = 0.0
    forced_tokens: int = 0
    decode_steps: int = 0

    @property
    def prefill_tok_s(self) -> float:
        """Prefilled tokens per second (tokens actually computed)."""
        n = self.prompt_tokens - self.cached_tokens
        return n / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        """Decode speed, tokens per second, excluding the first token."""
        n = self.generated_tokens - 1
        return n / self.decode_s if self.decode_s > 0 and n > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``stats`` object of ``agent-sdk run --json``."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "generated_tokens": self.generated_tokens,
            "prefill_tok_s": round(self.prefill_tok_s, 2),
            "decode_tok_s": round(self.decode_tok_s, 2),
            "ttft_ms": round(self.ttft_ms, 2),
            "forced_tokens": self.forced_tokens,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


@dataclass
class Generation:
    """The result of a request.

    Attributes:
        text: Generated text (stop string excluded).
        token_ids: Generated token ids.
        finish_reason: ``stop`` (EOS or stop string), ``length`` (max_tokens)
            or ``context`` (the context window is full).
        stats: Counters and timings.
        logprobs: With ``logprobs=True``: each generated token's log-probability
            under the model's own (unmasked) distribution; forced tokens too,
            except with ``forced_logprobs=False``: NaN for the tokens of a
            jump-forward run after its first, and for forced tokens that follow
            a sampled token (they run in its forward pass).
    """

    text: str
    token_ids: list[int]
    finish_reason: str
    stats: GenerationStats = field(default_factory=GenerationStats)
    logprobs: list[float] | None = None


@dataclass
class TokenEvent:
    """One streamed token: its id and the text it completes (may be empty)."""

    token_id: int
    text: str


class GenerationStream:
    """Iterator of :class:`TokenEvent`; ``result`` is set once exhausted.

    Stop it early with :meth:`close` (the tokens so far are kept in the
    cache, so nothing is lost).
    """

    def __init__(self, gen: Generator[TokenEvent, None, Generation]) -> None:
        self._gen = gen
        self.result: Generation | None = None

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> TokenEvent:
        try:
            return next(self._gen)
        except StopIteration as stop:
            self.result = stop.value
            raise

    def close(self) -> None:
        """Stops generating; ``result`` holds what was produced."""
        try:
            self._gen.throw(GeneratorExit)
        except (GeneratorExit, StopIteration) as exc:
            if isinstance(exc, StopIteration):
                self.result = exc.value
        self._gen.close()

    def finish(self) -> Generation:
        """Consumes the rest and returns the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result


def encode_prompt(tokenizer: Tokenizer, prompt: str | list[int]) -> list[int]:
    """Token ids for a prompt given as text (tokenized as is) or ids."""
    return tokenizer.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]


def fit_prompt(ids: list[int], max_new: int, *, context_window: int, overflow: str, keep_tokens: int) -> list[int]:
    """The prompt, made to leave room for ``max_new`` tokens in the window.

    Args:
        ids: The prompt.
        max_new: Tokens to be generated after it (at least one is assumed).
        context_window: Tokens one sequence may hold.
        overflow: ``error`` or ``truncate`` (drop the oldest tokens).
        keep_tokens: Tokens kept at the start when truncating.

    Raises:
        UserError: The prompt is empty.
        ContextOverflowError: It does not fit and ``overflow`` is ``error``.
    """
    if not ids:
        raise UserError("the prompt is empty")
    limit = context_window - max(max_new, 1)
    if len(ids) <= limit:
        return ids
    if overflow == "error":
        raise ContextOverflowError(
            f"prompt has {len(ids)} tokens and {max_new} more were requested, but the context window is "
            f"{context_window}; shorten the prompt, lower max_tokens, raise the window "
            "(context_window=, --ctx) up to the model's, or use overflow='truncate'"
        )
    keep = min(keep_tokens, limit // 2)
    return ids[:keep] + ids[len(ids) - (limit - keep):]


class Decoder:
    """Prefill, decode and scoring for requests over one model and its prefix cache.

    Cheap to make: the engine makes one per request, so that the settings
    it holds at that moment apply.

    Args:
        forward: The model's forward pass.
        cache: The sequences kept in the model's KV cache.
        tokenizer: The model's tokenizer.
        context_window: Tokens one sequence may hold.
        overflow: ``error`` or ``truncate``, for prompts longer than the window.
        keep_tokens: Tokens kept at the start when truncating.
        eos_token_ids: Tokens that end a generation.
        forward_many: The model's batched forward pass over several sequences,
            if it has one (scored continuations then share forward calls).
        forward_rows: Whether ``forward`` takes ``rows`` (logits at chosen
            positions of one pass).
    """

    def __init__(
        self, forward: Forward, cache: PrefixCache, tokenizer: Tokenizer, *, context_window: int, overflow: str,
        keep_tokens: int, eos_token_ids: set[int], forward_many: ForwardMany | None = None,
        forward_rows: bool = False,
    ) -> None:
        self.forward = forward
        self.forward_many = forward_many
        self.forward_rows = forward_rows
        self.cache = cache
        self.tokenizer = tokenizer
        self.context_window = context_window
        self.overflow = overflow
        self.keep_tokens = keep_tokens
        self.eos_token_ids = eos_token_ids

    def fit(self, prompt: str | list[int], max_new: int) -> list[int]:
        """The prompt's ids, fitted to the window with room for ``max_new`` tokens (see :func:`fit_prompt`)."""
        return fit_prompt(
            encode_prompt(self.tokenizer, prompt), max_new,
            context_window=self.context_window, overflow=self.overflow, keep_tokens=self.keep_tokens,
        )

    def prefill(self, ids: list[int], reserve: int = 0) -> tuple[CachedSequence, int, np.ndarray]:
        """Brings ``ids`` into a sequence, reusing the longest cached prefix.

        A sequence already holding exactly ``ids`` from an earlier prefill
        is reused as is (nothing runs, no fork): scoring alternatives after
        one prefix asks for it twice.

        Returns:
            The sequence (holding exactly ``ids``), how many tokens came from
            the cache, and the logits after the last token (the caller's copy).
        """
        held = self.cache.find_prefilled(ids)
        if held is not None and held.last_logits is not None:
            self.cache.evict(keep=held, need=reserve, new_sequences=0)
            return held, len(ids), held.last_logits[1].copy()
        seq, reused = self.cache.acquire(ids, reserve)
        seq.tokens = list(ids[:reused])
        logits = self._run(seq, ids[reused:])
        seq.tokens = list(ids)
        seq.last_logits = (len(ids), logits.copy())  # callers mask logits in place
        return seq, reused, logits

    def prefill_with(
        self, ids: list[int], extra: list[int], reserve: int = 0,
    ) -> tuple[CachedSequence, int, np.ndarray, np.ndarray]:
        """Brings ``ids + extra`` into a sequence in one pass (needs ``forward_rows``), reusing a cached prefix.

        Returns:
            The sequence (holding ``ids + extra``), how many tokens came from
            the cache (``len(ids)`` when a sequence held exactly ``ids`` with
            its logits and was extended; otherwise at most ``len(ids) - 1``:
            the last of ``ids`` runs for its logits), the logits after the last
            of ``ids`` and those after the last of ``extra`` (the callers' copies).
        """
        full = ids + extra
        held = self.cache.find_prefilled(ids)
        if held is not None and held.last_logits is not None:  # the prompt and its logits are cached: extend it
            self.cache.evict(keep=held, need=len(extra) + reserve, new_sequences=0)
            first = held.last_logits[1].copy()
            last = self._run(held, list(extra))
            held.tokens = list(full)
            held.last_logits = (len(full), last.copy())
            return held, len(ids), first, last
        seq, reused = self.cache.acquire(full, reserve, max_reuse=len(ids) - 1)
        seq.tokens = list(full[:reused])
        got = self._run(seq, full[reused:], rows=[len(ids) - 1 - reused, len(full) - 1 - reused])
        seq.tokens = list(full)
        seq.last_logits = (len(full), got[1].copy())  # callers mask logits in place
        return seq, reused, got[0], got[1]

    def warm(self, prompt: str | list[int]) -> int:
        """Prefills a prefix for later reuse; returns how many tokens are now cached for it."""
        ids = self.fit(prompt, 0)
        seq, reused = self.cache.acquire(ids + [0])  # the dummy token is never run
        if reused < len(ids):
            self._run(seq, ids[reused:])
            seq.tokens = list(ids)
        return len(ids)

    def _run(self, seq: CachedSequence, ids: list[int], *, rows: Sequence[int] | None = None) -> np.ndarray:
        """The forward pass of ``ids`` appended to a kept sequence (:class:`Forward`); the sequence is dropped if
        it fails, an interrupted forward too (Ctrl-C): what the cache holds for it is then unknown."""
        try:
            return self.forward(seq.seq_id, ids, rows=rows)
        except BaseException:
            self.cache.drop(seq)
            raise

    def logits(self, prompt: str | list[int]) -> np.ndarray:
        """Logits at every position of ``prompt``, ``(n, vocab)``, from a fresh sequence (no reuse)."""
        ids = self.fit(prompt, 0)
        with self.cache.scratch(need=len(ids)) as seq_id:
            return self.forward(seq_id, ids, all_logits=True)

    def continuation_logits(
        self, prefix: str | list[int], continuations: Sequence[Sequence[int]],
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits after ``prefix`` and along each continuation (see :meth:`Engine.continuation_logits`).

        With a batched forward (``forward_many``), the continuations run in
        forks of the prefix :data:`SCRATCH_SEQUENCES` at a time, each group in
        one forward call; otherwise one fork after another.
        """
        ids = self.fit(prefix, max((len(c) for c in continuations), default=0))
        with phase("prefill"):
            seq, _, last = self.prefill(ids)
        rows: list[np.ndarray | None] = [None] * len(continuations)
        many = self.forward_many
        batched = [i for i, c in enumerate(continuations) if c and self.cache.can_fork_scratch(len(ids) + len(c))]

        def fits(group: list[int]) -> bool:  # the group's forks share the page pool with the prefix
            return len(ids) + self.cache.forks_need([len(continuations[j]) for j in group]) <= self.cache.capacity_tokens

        groups: list[list[int]] = []
        for i in batched if many is not None else []:
            if groups and len(groups[-1]) < SCRATCH_SEQUENCES and fits([*groups[-1], i]):
                groups[-1].append(i)
            elif fits([i]):
                groups.append([i])
            # else: it runs on its own below, as it always could
        for group in groups:
            conts = [[int(t) for t in continuations[i]] for i in group]
            with phase("fork"), self.cache.scratch_forks(seq, [len(c) for c in conts]) as children:
                for i, got in zip(group, many(children, conts) if many is not None else []):
                    rows[i] = got
        for i, cont in enumerate(continuations):
            if rows[i] is not None:
                continue
            if not cont:
                rows[i] = np.empty((0, last.shape[-1]), dtype=last.dtype)
            elif self.cache.can_fork_scratch(len(ids) + len(cont)):
                with phase("fork"), self.cache.scratch(need=len(cont), parent=seq) as child:
                    rows[i] = self.forward(child, [int(t) for t in cont], all_logits=True)
            elif self.cache.can_pop:  # sliding-window models past their window: extend the prompt, then cut it back
                with phase("fork"), self.cache.extended(seq, tokens=len(cont)) as same:
                    rows[i] = self.forward(same, [int(t) for t in cont], all_logits=True)
            else:  # no way to share the prompt: recompute it
                with phase("fork"), self.cache.scratch(need=len(ids) + len(cont)) as child:
                    self.forward(child, ids)
                    rows[i] = self.forward(child, [int(t) for t in cont], all_logits=True)
        seq.last_used = time.monotonic()
        return last, [r for r in rows if r is not None]

    def generate(
        self,
        prompt: str | list[int],
        params: SamplingParams,
        processor: LogitsProcessor | None,
        constraint: TokenConstraint | None = None,
        want_logprobs: bool = False,
        forced_logprobs: bool = True,
        prompt_logits: Callable[[np.ndarray], None] | None = None,
    ) -> Generator[TokenEvent, None, Generation]:
        """Generates token by token (see :meth:`Engine.stream`); returns the :class:`Generation`."""
        if prompt_logits is not None and not want_logprobs:
            raise UserError("prompt_logits needs logprobs: only then are the prompt's own logits computed")
        t0 = time.perf_counter()
        ids = self.fit(prompt, params.max_tokens)
        stats = GenerationStats(prompt_tokens=len(ids))
        sampler = Sampler(params)
        stop_ids = self.eos_token_ids | set(params.stop_token_ids)
        merge_forced = not (want_logprobs and forced_logprobs)  # forced tokens after a sampled one: no logits
        seq: CachedSequence | None = None
        running = False
        logits = np.empty(0, dtype=np.float32)
        pending: list[int] | None = None  # the grammar's forced tokens from here, when already computed
        # A grammar that starts with fixed text (a forced call's '<tool_call>\n{"name": "'): the prompt and that text
        # run as one prefill (below, before the first event), when nothing reads the logits at the end of the prompt
        # or the model gives the logits at chosen positions of a pass (the prompt's last: the first forced token's
        # log-probability, which `auto` reads) and nothing reads the forced text's own.
        if constraint is not None and (not want_logprobs or (not forced_logprobs and self.forward_rows)):
            with phase("grammar"):
                pending = constraint.forced_tokens()
        defer = pending is not None and len(pending) > 1
        out: list[int] = []
        lps: list[float] = []
        text = ""
        emitted = 0
        finish = "length"
        t_first = 0.0
        pinned: CachedSequence | None = None  # the sequence this generation holds a pin on, once it has one
        try:
            if not defer:
                with phase("prefill"):
                    seq, stats.cached_tokens, logits = self.prefill(ids, params.max_tokens)
                pinned = seq  # first: an interrupt between the two lines then leaves no pin behind
                seq.pinned += 1  # another request must not extend, cut or evict it while this one runs
                stats.prefill_s = time.perf_counter() - t0
                if prompt_logits is not None:
                    prompt_logits(_read_only(logits))
            decoder = StreamDecoder(self.tokenizer, ids)
            while len(out) < params.max_tokens:
                if constraint is not None and constraint.is_stopped():
                    finish = "stop"
                    break
                if pending is not None:
                    forced, pending = pending, None
                else:
                    with phase("grammar"):
                        forced = constraint.forced_tokens() if constraint is not None else []
                if len(forced) > 1:
                    # Jump-forward: the grammar fixes these tokens; no sampling needed.
                    forced = forced[: params.max_tokens - len(out)]
                    batch = forced
                    if want_logprobs and seq is not None:  # deferred: after the prefill below
                        lps.append(_logprob(logits, forced[0]))
                else:
                    if want_logprobs:
                        raw = logits.copy()  # the model's own distribution, before any hook
                    if processor is not None:
                        with phase("logits_processor"):
                            logits = processor(out, logits)
                    if constraint is not None:
                        with phase("mask"):
                            logits = constraint.mask_logits(logits)
                    with phase("sample"):
                        tok = sampler.sample(logits, ids + out if params.repetition_penalty != 1.0 else None)
                    if want_logprobs:
                        lps.append(_logprob(raw, tok))
                    batch = [tok]
                if not out:
                    t_first = time.perf_counter()
                    stats.ttft_ms = (t_first - t0) * 1000
                if batch[0] in stop_ids and constraint is None:
                    finish = "stop"
                    break
                with phase("accept"):
                    taken, stop_now, piece = _take(batch, constraint, stop_ids, out, decoder)
                text += piece
                if len(batch) > 1 and constraint is not None:
                    constraint.note_forced(taken)
                    stats.forced_tokens += taken
                elif (constraint is not None and not stop_now and merge_forced and len(out) < params.max_tokens
                      and _find_stop(text, params.stop) is None and not constraint.is_stopped()):
                    # A sampled token the grammar follows with fixed text ('kit' -> 'chen"}}</tool_call>'): the
                    # forced tokens run in the same forward pass (one pass's fixed cost less; their logits, which
                    # nothing reads then, are not computed).
                    with phase("grammar"):
                        more = constraint.forced_tokens()
                    if len(more) > 1:
                        more = more[: params.max_tokens - len(out)]
                        with phase("accept"):
                            taken, stop_now, piece = _take(more, constraint, stop_ids, out, decoder)
                        text += piece
                        constraint.note_forced(taken)
                        stats.forced_tokens += taken
                        batch = [*batch, *more[:taken]]
                    else:
                        pending = more  # the next step's forced tokens (none or one): not computed twice
                run = [t for t in batch if t not in stop_ids]
                ran = False
                if seq is None:
                    # The deferred prefill, before the first event: the prompt and the grammar's opening text
                    # together, or the prompt alone when generation ends within that text.
                    ends = stop_now or len(out) >= params.max_tokens or _find_stop(text, params.stop) is not None
                    with phase("prefill"):
                        if want_logprobs and not ends:
                            seq, stats.cached_tokens, first, logits = self.prefill_with(
                                ids, run, params.max_tokens - len(out)
                            )
                        else:
                            seq, stats.cached_tokens, logits = self.prefill(
                                ids if ends else ids + run, 0 if ends else params.max_tokens - len(out)
                            )
                            first = logits
                    pinned = seq
                    seq.pinned += 1
                    if prompt_logits is not None:  # with logprobs, `first` is the prompt's (checked above)
                        prompt_logits(_read_only(first))
                    if want_logprobs:  # the first forced token's, from the prompt's logits; none for the rest
                        lps.append(_logprob(first, batch[0]))
                        if not ends:
                            lps.extend([math.nan] * (len(run) - 1))
                    stats.cached_tokens = min(stats.cached_tokens, len(ids))
                    t_first = time.perf_counter()  # the forced text was not the model's until now
                    stats.prefill_s = t_first - t0
                    stats.ttft_ms = stats.prefill_s * 1000
                    ran = not ends
                cut = _find_stop(text, params.stop)
                if cut is not None:
                    text = text[:cut]
                    if len(text) > emitted:
                        yield TokenEvent(out[-1], text[emitted:])
                    emitted = len(text)
                    finish = "stop"
                    break
                safe = len(text) - _stop_prefix_len(text, params.stop)
                if safe > emitted:
                    yield TokenEvent(out[-1] if out else batch[0], text[emitted:safe])
                    emitted = safe
                elif out:
                    yield TokenEvent(out[-1], "")
                if stop_now:
                    finish = "stop"
                    break
                if len(out) >= params.max_tokens:
                    break
                if ran:
                    continue
                if len(seq.tokens) + len(run) > self.context_window:
                    finish = "context"
                    break
                if not self.cache.holds(seq):
                    raise EngineError("the engine's cache was reset while this generation ran; start it again")
                running = True  # until the forward returns: the KV cache may hold part of ``run``
                with phase("jump_forward" if len(run) > 1 else "decode"):
                    if want_logprobs and forced_logprobs and len(run) > 1:
                        rows = self.forward(seq.seq_id, run, all_logits=True)  # (len(run), v)
                        lps.extend(_logprob(rows[i], run[i + 1]) for i in range(len(run) - 1))
                        logits = rows[-1]
                    else:
                        logits = self.forward(seq.seq_id, run)
                        if want_logprobs and len(run) > 1:  # the output head is not run over a forced run's tokens
                            lps.extend([math.nan] * (len(run) - 1))
                running = False
                stats.decode_steps += 1
                seq.tokens.extend(run)
        finally:
            # The KV cache holds exactly seq.tokens: a token sampled last is never run.
            if pinned is not None:
                pinned.pinned = max(pinned.pinned - 1, 0)
            if seq is not None:
                seq.last_used = time.monotonic()
                if running:  # a forward interrupted (an error, Ctrl-C): what the cache holds is unknown
                    self.cache.drop(seq)
        if want_logprobs and len(lps) < len(out):  # forced tokens accepted but never run (the loop ended first)
            lps.extend([math.nan] * (len(out) - len(lps)))
        del lps[len(out):]  # a stop id's own (it ends the run and is not returned)
        # The text held back for a stop string that never came (a stop token, EOS or the grammar ended it); after
        # a stop string's cut nothing is left.
        if len(text) > emitted:
            yield TokenEvent(out[-1] if out else -1, text[emitted:])
        stats.generated_tokens = len(out)
        stats.decode_s = time.perf_counter() - t_first if t_first else 0.0
        return Generation(text, out, finish, stats, lps if want_logprobs else None)


def _take(tokens: Sequence[int], constraint: TokenConstraint | None, stop_ids: set[int], out: list[int],
          decoder: StreamDecoder) -> tuple[int, bool, str]:
    """Accepts ``tokens`` into the constraint and ``out`` up to a stop id (accepted by the constraint, not kept).

    Returns:
        How many tokens the constraint accepted, whether a stop id ended them, and their new text.
    """
    taken, text = 0, ""
    for tok in tokens:
        if constraint is not None:
            constraint.accept(tok)
        taken += 1
        if tok in stop_ids:
            return taken, True, text
        out.append(tok)
        text += decoder.push(tok)
    return taken, False, text


def _logprob(logits: np.ndarray, token: int) -> float:
    x = np.asarray(logits, dtype=np.float64)
    finite = x[np.isfinite(x)]
    m = finite.max()
    return float(x[token] - m - np.log(np.exp(finite - m).sum()))


def _stop_prefix_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that begins a stop string (held back until the next token decides).

    Text before it can be streamed: a stop string completed later starts at a
    position whose remaining text is a prefix of it, so within this end.
    """
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


def _find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    best = None
    for s in stops:
        if s:
            k = text.find(s)
            if k >= 0 and (best is None or k < best):
                best = k
    return best


def _read_only(logits: np.ndarray) -> np.ndarray:
    """A view of ``logits`` a hook cannot write through (the decoder masks the array itself in place)."""
    view = logits.view()
    view.setflags(write=False)
    return view
