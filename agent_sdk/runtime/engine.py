"""The inference engine: load a verified bundle, prefill, decode, sample.

The KV cache is TVM's paged cache. The engine keeps a few finished sequences
alive and, for each new request, reuses the one sharing the longest token
prefix with it: a follow-up turn extends its conversation without
re-prefilling the history, and requests that start with the same system
prompt (tool descriptions included) fork it instead of recomputing it.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent_sdk.errors import BundleError, ContextOverflowError, EngineError, ModelFormatError, UserError
from agent_sdk.manifest import read_manifest, verify_bundle
from agent_sdk.runtime.sampler import Sampler, SamplingParams
from agent_sdk.runtime.tokenizer import StreamDecoder, Tokenizer

__all__ = ["Engine", "Generation", "GenerationStats", "TokenEvent", "GenerationStream", "TokenConstraint", "peak_rss_mb"]

LogitsProcessor = Callable[[list[int], np.ndarray], np.ndarray]


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


def load_tvm_runtime() -> Any:
    """Makes TVM's runtime available; returns the ``tvm_ffi`` module that drives it.

    When nothing has imported TVM yet, only ``libtvm_runtime.so`` is loaded and
    the ``tvm`` Python package is never imported: the full library (compiler +
    LLVM) costs ~160 MiB of resident memory and the package's Python modules
    ~40 MiB more, none of which running a compiled model uses. Set
    ``AGENT_SDK_RUNTIME_ONLY=0`` to load the full TVM anyway (a process that
    creates an Engine first and compiles afterwards needs that).
    """
    import ctypes
    import importlib.util
    import sys

    import tvm_ffi

    if "tvm" in sys.modules or os.environ.get("AGENT_SDK_RUNTIME_ONLY", "1") == "0":
        import tvm  # noqa: F401  # its libraries register the runtime's functions

        return tvm_ffi
    os.environ.setdefault("TVM_USE_RUNTIME_LIB", "1")  # a later `import tvm` takes the same runtime library
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("apache-tvm is not installed: pip install apache-tvm")
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib" / "libtvm_runtime.so"
    if not lib.is_file():
        raise EngineError(f"TVM's runtime library is missing: {lib}")
    ctypes.CDLL(str(lib), ctypes.RTLD_GLOBAL)
    return tvm_ffi


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
            under the model's own (unmasked) distribution; forced tokens too.
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


@dataclass
class _Seq:
    seq_id: int
    tokens: list[int]
    last_used: float
    # The logits after the first ``n`` tokens, when it was prefilled to exactly
    # ``n`` tokens: (n, logits). Tokens only ever grow, so it holds while len(tokens) == n.
    last_logits: tuple[int, np.ndarray] | None = None


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


class Engine:
    """Runs a compiled bundle.

    Args:
        path: The bundle folder.
        threads: CPU threads for TVM kernels (default: all cores). Read once
            per process, when the first engine starts.
        context_window: Tokens one sequence may hold (default: the model's,
            capped at 4096 to bound KV-cache memory on small boards).
        overflow: What to do with a prompt longer than the window:
            ``error`` raises :class:`ContextOverflowError`; ``truncate`` drops
            the oldest prompt tokens (keeping the first ``keep_tokens``).
        keep_tokens: Tokens kept at the start when truncating.
        max_cached_sequences: Finished sequences kept for prefix reuse.
        kv_tokens: KV-cache capacity in tokens across all sequences (default
            twice the window); least recently used sequences make room.
        page_size: KV-cache page size in tokens.
        prefill_chunk: Most tokens computed in one prefill call.
        verify: Check every file against the manifest before loading
            (loading a library runs its code; leave this on).

    Raises:
        BundleError: Missing, corrupted or mismatched bundle files, or a
            library built for another machine.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        context_window: int | None = None,
        overflow: str = "error",
        keep_tokens: int = 0,
        max_cached_sequences: int = 4,
        kv_tokens: int | None = None,
        page_size: int = 16,
        prefill_chunk: int = 512,
        verify: bool = True,
    ) -> None:
        t0 = time.perf_counter()
        self.path = Path(path)
        if overflow not in ("error", "truncate"):
            raise UserError(f"overflow must be 'error' or 'truncate', got {overflow!r}")
        # With verify, the weights' sha256 is checked as they are read, below.
        self.manifest = verify_bundle(self.path, hash_params_later=True) if verify else read_manifest(self.path)
        params_name = self.manifest["params"]
        arch = self.manifest["target"].get("arch")
        if self.manifest["target"].get("name") == "vulkan":
            raise BundleError(f"{self.path}: Vulkan bundles need a TVM runtime with Vulkan; this one has none")
        if arch and arch != platform.machine():
            raise BundleError(
                f"{self.path}: bundle was compiled for {arch} ({self.manifest['target']['name']}); "
                f"this machine is {platform.machine()}. Compile with --target host here."
            )
        for key in ("vocab_size", "context_window"):
            v = self.manifest["model"].get(key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise BundleError(f"{self.path}: manifest model.{key} is {v!r}, not a positive integer")
        if threads is not None:
            if threads < 1:
                raise UserError(f"threads must be >= 1, got {threads}")
            os.environ["TVM_NUM_THREADS"] = str(threads)
        self.threads = int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))

        ffi = load_tvm_runtime()
        ShapeTuple = ffi.Shape
        alloc = ffi.get_global_func("runtime.TVMTensorAllocWithScope")

        from agent_sdk._safetensors import read_safetensors_into

        self._ShapeTuple = ShapeTuple
        self.config: dict[str, Any] = self.manifest["model"]
        self.tokenizer = Tokenizer(self.path)
        self.vocab_size = int(self.config["vocab_size"])
        model_ctx = int(self.config["context_window"])
        self.context_window = min(context_window or min(model_ctx, 4096), model_ctx)
        self.overflow = overflow
        self.keep_tokens = keep_tokens
        self.max_cached_sequences = max(1, max_cached_sequences)
        self.prefill_chunk = prefill_chunk
        self.eos_token_ids = set(self.tokenizer.eos_token_ids) | set(self.config.get("eos_token_id") or [])

        self._dev = ffi.device("cpu", 0)

        def empty(shape: Sequence[int], dtype: str) -> Any:
            return alloc(ShapeTuple(list(shape)), dtype, self._dev, None)

        def tensor(array: np.ndarray) -> Any:  # a TVM-owned (aligned) copy of a numpy array
            t = empty(array.shape, array.dtype.name)
            np.from_dlpack(t)[...] = array
            return t

        self._tensor = tensor  # kept: _forward runs once per token
        try:
            lib = ffi.load_module(str(self.path / self.manifest["library"]))
            self._vm = lib["vm_load_executable"]()
            self._vm["vm_initialization"](1, 0, 2)  # kDLCPU, device 0, pooled allocator
        except Exception as exc:
            raise BundleError(f"{self.path}: cannot load the library: {exc}") from exc
        params_path = self.path / self.manifest["params"]
        listed = self.manifest["files"].get(params_name, {}) if verify else {}
        try:
            # Straight from the file into TVM's memory: a memory map plus copies
            # would hold the weights twice at the peak. Nothing in the header is
            # used before it is known to be the hashed one; without param_order
            # the tensors come in the verified header's order.
            self._params = read_safetensors_into(
                params_path, self.manifest.get("param_order"), empty,
                sha256=listed.get("sha256"), header_sha256=listed.get("header_sha256"),
            )
        except ModelFormatError as exc:
            raise BundleError(f"{self.path}: params file: {exc}") from exc
        self._f_embed = self._vm["embed"]
        self._f_prefill = self._vm["prefill"]
        self._f_prefill_all = self._vm["prefill_all"]
        self._f_decode = self._vm["decode"]
        g = ffi.get_global_func
        self._kv_add = g("vm.builtin.kv_state_add_sequence")
        self._kv_remove = g("vm.builtin.kv_state_remove_sequence")
        self._kv_fork = g("vm.builtin.kv_state_fork_sequence")
        self._kv_begin = g("vm.builtin.kv_state_begin_forward")
        self._kv_end = g("vm.builtin.kv_state_end_forward")
        self._kv_popn = g("vm.builtin.kv_state_popn")
        # The page pool: room for a full-window request next to cached prefixes.
        self.kv_tokens = max(kv_tokens or 2 * self.context_window, self.context_window)
        total = self.kv_tokens
        self._kv = self._vm["create_paged_kv_cache"](
            ShapeTuple([self.max_cached_sequences + 1]),
            ShapeTuple([total]),
            ShapeTuple([prefill_chunk]),
            ShapeTuple([page_size]),
            ShapeTuple([0]),
        )
        self._seqs: dict[int, _Seq] = {}
        self._next_id = 0
        self.load_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------ low level

    def _new_seq_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _forward(self, seq_id: int, ids: list[int], *, all_logits: bool = False) -> np.ndarray:
        """Appends ``ids`` to a sequence; returns logits (last, or all rows)."""
        tvm_tensor = self._tensor
        outs = []
        for start in range(0, len(ids), self.prefill_chunk):
            chunk = ids[start : start + self.prefill_chunk]
            n = len(chunk)
            emb = self._f_embed(tvm_tensor(np.asarray(chunk, dtype=np.int32)), self._params)
            self._kv_begin(self._kv, self._ShapeTuple([seq_id]), self._ShapeTuple([n]))
            if all_logits:
                fn = self._f_prefill_all
            else:
                fn = self._f_decode if n == 1 else self._f_prefill
            out = fn(emb, self._kv, self._params)
            self._kv_end(self._kv)
            logits = np.from_dlpack(out[0]).copy()  # (1, n or 1, v)
            outs.append(logits[0])
        if all_logits:
            return np.concatenate(outs, axis=0)
        return outs[-1][-1]

    def _drop(self, seq: _Seq) -> None:
        self._kv_remove(self._kv, seq.seq_id)
        self._seqs.pop(seq.seq_id, None)

    def _acquire(self, prompt: list[int], reserve: int = 0) -> tuple[_Seq, int]:
        """A sequence holding the longest cached prefix of ``prompt``.

        Returns:
            The sequence (its tokens truncated to the reused prefix) and the
            number of prompt tokens already in it.
        """
        best, best_len = None, 0
        for s in self._seqs.values():
            n = _common_prefix(s.tokens, prompt)
            if n > best_len:
                best, best_len = s, n
        best_len = min(best_len, len(prompt) - 1)  # the last token must run for its logits
        if best is not None and best_len > 0:
            if best_len == len(best.tokens):
                best.last_used = time.monotonic()
                self._evict(keep=best, need=len(prompt) - best_len + reserve)
                return best, best_len  # extend in place: a follow-up turn
            self._evict(keep=best, need=len(prompt) + reserve)
            child = _Seq(self._new_seq_id(), best.tokens[:best_len], time.monotonic())
            self._kv_fork(self._kv, best.seq_id, child.seq_id, best_len)
            self._seqs[child.seq_id] = child
            return child, best_len
        self._evict(need=len(prompt) + reserve)
        seq = _Seq(self._new_seq_id(), [], time.monotonic())
        self._kv_add(self._kv, seq.seq_id)
        self._seqs[seq.seq_id] = seq
        return seq, 0

    def _prefill(self, ids: list[int], reserve: int = 0) -> tuple[_Seq, int, np.ndarray]:
        """Brings ``ids`` into a sequence, reusing the longest cached prefix.

        A sequence already holding exactly ``ids`` from an earlier prefill
        is reused as is (nothing runs, no fork): scoring alternatives after
        one prefix asks for it twice.

        Returns:
            The sequence (holding exactly ``ids``), how many tokens came from
            the cache, and the logits after the last token (the caller's copy).
        """
        for held in self._seqs.values():
            if held.last_logits is not None and held.last_logits[0] == len(ids) == len(held.tokens) and held.tokens == ids:
                held.last_used = time.monotonic()
                self._evict(keep=held, need=reserve)
                return held, len(ids), held.last_logits[1].copy()
        seq, reused = self._acquire(ids, reserve)
        seq.tokens = list(ids[:reused])
        try:
            logits = self._forward(seq.seq_id, ids[reused:])
        except Exception:
            self._drop(seq)
            raise
        seq.tokens = list(ids)
        seq.last_logits = (len(ids), logits.copy())  # callers mask logits in place
        return seq, reused, logits

    def _evict(self, keep: _Seq | None = None, need: int = 0) -> None:
        """Drops least recently used sequences until one more fits, with ``need`` free tokens.

        Token accounting counts a forked prefix in both sequences, so it errs
        on the safe side of the page pool.
        """
        while True:
            used = sum(len(s.tokens) for s in self._seqs.values())
            if len(self._seqs) < self.max_cached_sequences and used + need <= self.kv_tokens:
                return
            victims = sorted((s for s in self._seqs.values() if s is not keep), key=lambda s: s.last_used)
            if not victims:
                return
            self._drop(victims[0])

    def reset(self) -> None:
        """Forgets every cached sequence."""
        for s in list(self._seqs.values()):
            self._drop(s)

    # ------------------------------------------------------------ public API

    def encode_prompt(self, prompt: str | list[int]) -> list[int]:
        """Token ids for a prompt given as text or ids."""
        return self.tokenizer.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]

    def warm(self, prompt: str | list[int]) -> int:
        """Prefills a prefix (e.g. a system prompt with tools) for later reuse.

        Returns:
            The number of tokens now cached for it.
        """
        ids = self._fit(self.encode_prompt(prompt), 0)
        seq, reused = self._acquire(ids + [0])  # the dummy token is never run
        if reused < len(ids):
            self._forward(seq.seq_id, ids[reused:])
            seq.tokens = list(ids)
        return len(ids)

    def logits(self, prompt: str | list[int]) -> np.ndarray:
        """Logits at every position of ``prompt``, shape ``(n, vocab)``.

        Runs in a fresh sequence (no reuse), for scoring and for tests.
        """
        ids = self._fit(self.encode_prompt(prompt), 0)
        self._evict(need=len(ids))
        seq_id = self._new_seq_id()
        self._kv_add(self._kv, seq_id)
        try:
            return self._forward(seq_id, ids, all_logits=True)
        finally:
            self._kv_remove(self._kv, seq_id)

    def continuation_logits(
        self, prefix: str | list[int], continuations: Sequence[Sequence[int]],
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits after ``prefix`` and along each continuation of it, for scoring alternatives.

        The prefix is computed once (reusing the longest cached prefix, and
        kept for reuse); each continuation runs in a fork of it that is
        dropped afterwards, so nothing is recomputed between them.

        Args:
            prefix: Text or token ids.
            continuations: Token ids to follow the prefix with, each scored
                on its own.

        Returns:
            ``(last, rows)``: the logits for the token after ``prefix``
            (shape ``(vocab,)``), and for each continuation the logits after
            each of its tokens (shape ``(len(c), vocab)``).
        """
        ids = self._fit(self.encode_prompt(prefix), max((len(c) for c in continuations), default=0))
        seq, _, last = self._prefill(ids)
        rows: list[np.ndarray] = []
        for cont in continuations:
            if not cont:
                rows.append(np.empty((0, last.shape[-1]), dtype=last.dtype))
                continue
            self._evict(keep=seq, need=len(cont))
            child = self._new_seq_id()
            self._kv_fork(self._kv, seq.seq_id, child, len(ids))
            try:
                rows.append(self._forward(child, [int(t) for t in cont], all_logits=True))
            finally:
                self._kv_remove(self._kv, child)
        seq.last_used = time.monotonic()
        return last, rows

    def _fit(self, ids: list[int], max_new: int) -> list[int]:
        if not ids:
            raise UserError("the prompt is empty")
        limit = self.context_window - max(max_new, 1)
        if len(ids) <= limit:
            return ids
        if self.overflow == "error":
            raise ContextOverflowError(
                f"prompt has {len(ids)} tokens and {max_new} more were requested, but the context window is "
                f"{self.context_window}; shorten the prompt, lower max_tokens, raise the window "
                "(context_window=, --ctx) up to the model's, or use overflow='truncate'"
            )
        keep = min(self.keep_tokens, limit // 2)
        return ids[:keep] + ids[len(ids) - (limit - keep):]

    def stream(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
        constraint: TokenConstraint | None = None,
        logprobs: bool = False,
    ) -> GenerationStream:
        """Generates token by token.

        Args:
            prompt: Text (tokenized as is, no chat template) or token ids.
            params: Sampling parameters.
            logits_processor: Called with (generated ids, logits) before
                sampling; returns the logits to sample from.
            constraint: A grammar matcher: masks every step, and tokens it
                forces are fed in one prefill step (jump-forward).
            logprobs: Record each token's unmasked log-probability.

        Returns:
            A stream of :class:`TokenEvent`; its ``result`` is the
            :class:`Generation`.
        """
        return GenerationStream(self._generate(prompt, params or SamplingParams(), logits_processor, constraint, logprobs))

    def generate(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
        constraint: TokenConstraint | None = None,
        logprobs: bool = False,
        on_token: Callable[[TokenEvent], None] | None = None,
    ) -> Generation:
        """Generates a completion; see :meth:`stream` for the arguments.

        Args:
            prompt: Text or token ids.
            params: Sampling parameters.
            logits_processor: Optional logits hook.
            constraint: Optional grammar matcher.
            logprobs: Record log-probabilities.
            on_token: Called for every token as it is generated.
        """
        s = self.stream(prompt, params, logits_processor=logits_processor, constraint=constraint, logprobs=logprobs)
        for ev in s:
            if on_token:
                on_token(ev)
        assert s.result is not None
        return s.result

    def chat(self, messages: list[dict[str, Any]], params: SamplingParams | None = None, **kw: Any) -> Generation:
        """Applies the chat template and generates the assistant's reply."""
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return self.generate(self.tokenizer.encode(text), params, **kw)

    def _generate(
        self,
        prompt: str | list[int],
        params: SamplingParams,
        processor: LogitsProcessor | None,
        constraint: TokenConstraint | None = None,
        want_logprobs: bool = False,
    ) -> Generator[TokenEvent, None, Generation]:
        t0 = time.perf_counter()
        ids = self._fit(self.encode_prompt(prompt), params.max_tokens)
        stats = GenerationStats(prompt_tokens=len(ids))
        sampler = Sampler(params)
        stop_ids = self.eos_token_ids | set(params.stop_token_ids)
        seq, stats.cached_tokens, logits = self._prefill(ids, params.max_tokens)
        stats.prefill_s = time.perf_counter() - t0
        out: list[int] = []
        lps: list[float] = []
        decoder = StreamDecoder(self.tokenizer, ids)
        text = ""
        emitted = 0
        hold = max((len(s) for s in params.stop), default=0)
        finish = "length"
        t_first = 0.0
        try:
            while len(out) < params.max_tokens:
                if constraint is not None and constraint.is_stopped():
                    finish = "stop"
                    break
                forced = constraint.forced_tokens() if constraint is not None else []
                if len(forced) > 1:
                    # Jump-forward: the grammar fixes these tokens; no sampling needed.
                    forced = forced[: params.max_tokens - len(out)]
                    batch = forced
                    if want_logprobs:
                        lps.append(_logprob(logits, forced[0]))
                else:
                    if want_logprobs:
                        raw = logits.copy()  # the model's own distribution, before any hook
                    if processor is not None:
                        logits = processor(out, logits)
                    if constraint is not None:
                        logits = constraint.mask_logits(logits)
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
                stop_now = False
                for tok in batch:
                    if constraint is not None:
                        constraint.accept(tok)
                    if tok in stop_ids:
                        stop_now = True
                        break
                    out.append(tok)
                    text += decoder.push(tok)
                if len(batch) > 1 and constraint is not None:
                    constraint.note_forced(len(batch))
                    stats.forced_tokens += len(batch)
                cut = _find_stop(text, params.stop)
                if cut is not None:
                    text = text[:cut]
                    if len(text) > emitted:
                        yield TokenEvent(out[-1], text[emitted:])
                    emitted = len(text)
                    finish = "stop"
                    break
                safe = len(text) - (hold - 1 if hold else 0)
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
                run = [t for t in batch if t not in stop_ids]
                if len(seq.tokens) + len(run) > self.context_window:
                    finish = "context"
                    break
                if want_logprobs and len(run) > 1:
                    rows = self._forward(seq.seq_id, run, all_logits=True)  # (len(run), v)
                    lps.extend(_logprob(rows[i], run[i + 1]) for i in range(len(run) - 1))
                    logits = rows[-1]
                else:
                    logits = self._forward(seq.seq_id, run)
                stats.decode_steps += 1
                seq.tokens.extend(run)
        finally:
            # The KV cache holds exactly seq.tokens: a token sampled last is never run.
            seq.last_used = time.monotonic()
        if len(text) > emitted and finish != "stop":
            yield TokenEvent(out[-1] if out else -1, text[emitted:])
        stats.generated_tokens = len(out)
        stats.decode_s = time.perf_counter() - t_first if t_first else 0.0
        return Generation(text, out, finish, stats, lps if want_logprobs else None)

    def info(self) -> dict[str, Any]:
        """Bundle and runtime facts, for ``agent-sdk info``."""
        return {
            "path": str(self.path),
            "name": self.manifest["name"],
            "parameters": self.manifest.get("parameters"),
            "quantization": self.manifest["quantization"],
            "target": self.manifest["target"]["name"],
            "context_window": self.context_window,
            "kv_tokens": self.kv_tokens,
            "threads": self.threads,
            "load_seconds": round(self.load_seconds, 3),
        }


def _logprob(logits: np.ndarray, token: int) -> float:
    x = np.asarray(logits, dtype=np.float64)
    finite = x[np.isfinite(x)]
    m = finite.max()
    return float(x[token] - m - np.log(np.exp(finite - m).sum()))


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    best = None
    for s in stops:
        if s:
            k = text.find(s)
            if k >= 0 and (best is None or k < best):
                best = k
    return best
