"""The inference engine: load a verified bundle, then prefill, decode and sample.

:class:`Engine` puts three parts together: the model in TVM's runtime
(:mod:`agent_sdk.runtime.tvm_model`: verification, library and weights, the
forward pass), the sequences kept in its paged KV cache for prefix reuse
(:mod:`agent_sdk.runtime.prefix_cache`), and the decode loop
(:mod:`agent_sdk.runtime.decode`). A follow-up turn extends its conversation
without re-prefilling the history, and requests that start with the same
system prompt (tool descriptions included) fork it instead of recomputing it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import ContextOverflowError, UserError
from agent_sdk.runtime.decode import (
    Decoder,
    Generation,
    GenerationStats,
    GenerationStream,
    LogitsProcessor,
    TokenConstraint,
    TokenEvent,
    encode_prompt,
    peak_rss_mb,
)
from agent_sdk.runtime.prefix_cache import SCRATCH_SEQUENCES, PrefixCache
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.runtime.tokenizer import Tokenizer
from agent_sdk.runtime.tvm_model import TVMModel, load_tvm_runtime, open_bundle

__all__ = [
    "Engine", "Generation", "GenerationStats", "GenerationStream", "TokenConstraint", "TokenEvent", "load_tvm_runtime",
    "peak_rss_mb",
]

# Which hidden state Engine.hidden_states returns, by the name it takes.
HIDDEN_LAYERS = ("final", "middle")
# How Engine.embed_text pools the hidden states of a text's tokens into one vector.
POOLINGS = ("mean", "mean_after_first", "last")


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
        verify: Check every file the runtime reads against the manifest
            before loading (loading a library runs its code; leave this on).

    Raises:
        BundleError: Missing, unlisted, corrupted or mismatched bundle files,
            or a library built for another machine.
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
        self.manifest = open_bundle(self.path, verify=verify)
        if threads is not None:
            if threads < 1:
                raise UserError(f"threads must be >= 1, got {threads}")
            os.environ["TVM_NUM_THREADS"] = str(threads)
        self.threads = int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))

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
        # The page pool: room for a full-window request next to cached prefixes.
        self.kv_tokens = max(kv_tokens or 2 * self.context_window, self.context_window)
        self._model = TVMModel(
            self.path, self.manifest, verify=verify, max_sequences=self.max_cached_sequences + SCRATCH_SEQUENCES,
            kv_tokens=self.kv_tokens, prefill_chunk=prefill_chunk, page_size=page_size,
        )
        self._cache = PrefixCache(self._model, max_sequences=self.max_cached_sequences, capacity_tokens=self.kv_tokens,
                                  page_size=page_size)
        self.load_seconds = time.perf_counter() - t0

    def _forward(
        self, seq_id: int, ids: list[int], *, all_logits: bool = False, rows: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Every forward pass of the engine goes through here (the server and tests trace it)."""
        if rows is not None:
            return self._model.forward_rows(seq_id, ids, rows)
        return self._model.forward(seq_id, ids, all_logits=all_logits)

    def _forward_many(self, seq_ids: Sequence[int], ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Every batched forward pass of the engine goes through here (tests trace it)."""
        return self._model.forward_many(seq_ids, ids)

    def _decoder(self) -> Decoder:
        """The decode loop for one request, with the engine's current settings."""
        return Decoder(
            self._forward, self._cache, self.tokenizer, context_window=self.context_window, overflow=self.overflow,
            keep_tokens=self.keep_tokens, eos_token_ids=self.eos_token_ids,
            forward_many=self._forward_many, forward_rows=self._model.has_rows,
        )

    def reset(self) -> None:
        """Forgets every cached sequence."""
        self._cache.reset()

    def encode_prompt(self, prompt: str | list[int]) -> list[int]:
        """Token ids for a prompt given as text or ids."""
        return encode_prompt(self.tokenizer, prompt)

    def warm(self, prompt: str | list[int]) -> int:
        """Prefills a prefix (e.g. a system prompt with tools) for later reuse.

        Returns:
            The number of tokens now cached for it.
        """
        return self._decoder().warm(prompt)

    def logits(self, prompt: str | list[int]) -> np.ndarray:
        """Logits at every position of ``prompt``, shape ``(n, vocab)``.

        Runs in a fresh sequence (no reuse), for scoring and for tests.
        """
        return self._decoder().logits(prompt)

    def hidden_states(self, ids: Sequence[int], *, layer: str = "final") -> np.ndarray:
        """Hidden states at every position of ``ids``, shape ``(n, hidden_size)``, float32.

        Runs in a scratch sequence of the KV cache that is removed afterwards:
        cached prefixes and conversations stay as they were (a kept sequence
        is evicted only if the page pool has no room for ``ids``, as for any
        request). No prefix is reused either: the states depend on ``ids`` alone.

        Args:
            ids: Token ids, used as given (no template, no BOS added).
            layer: ``final``: the final norm's output (what the output head
                reads); ``middle``: the residual stream after the manifest's
                ``hidden_states.middle_layer`` decoder blocks, not normalized.

        Returns:
            One row per token.

        Raises:
            UserError: ``ids`` is empty or holds an id outside the
                vocabulary, or ``layer`` is unknown.
            ContextOverflowError: ``ids`` is longer than the context window.
            BundleError: The bundle was compiled before hidden states existed.
        """
        if layer not in HIDDEN_LAYERS:
            raise UserError(f"layer must be one of {', '.join(HIDDEN_LAYERS)}, got {layer!r}")
        tokens = [int(t) for t in ids]
        if not tokens:
            raise UserError("no tokens to compute hidden states for")
        bad = [t for t in tokens if not 0 <= t < self.vocab_size]
        if bad:
            raise UserError(f"token ids outside the vocabulary (0..{self.vocab_size - 1}): {bad[:5]}")
        if len(tokens) > self.context_window:
            raise ContextOverflowError(
                f"{len(tokens)} tokens do not fit in the context window of {self.context_window}"
            )
        self._model.require_hidden_states()  # before a scratch sequence is made
        with self._cache.scratch(need=len(tokens)) as seq_id:
            final, middle = self._model.hidden_states(seq_id, tokens)  # each (n, h)
        return final if layer == "final" else middle

    def embed_text(self, text: str, *, pooling: str = "mean", layer: str = "final") -> np.ndarray:
        """An L2-normalised embedding of ``text`` from the model's own hidden states, shape ``(hidden_size,)``.

        Args:
            text: The text, tokenized as is (no chat template; BOS as the model's tokenizer sets it).
            pooling: ``mean`` over the text's tokens; ``mean_after_first``, the
                same without the first token (the mean of a one-token text is
                that token's state); or the ``last`` token's state. The first
                position is the model's attention sink: in SmolLM2-135M's
                middle layer its state is ~150x larger than the others', so
                a plain mean there is nearly the same vector for every text.
            layer: Which hidden state (see :meth:`hidden_states`).

        Returns:
            A float32 unit vector; the same text always gives the same one.

        Raises:
            UserError: ``text`` has no tokens, or ``pooling`` or ``layer`` is unknown.
            ContextOverflowError: ``text`` is longer than the context window.
            BundleError: The bundle was compiled before hidden states existed.
        """
        if pooling not in POOLINGS:
            raise UserError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        states = self.hidden_states(self.tokenizer.encode(text), layer=layer)  # (n, h)
        if pooling == "last":
            vec = states[-1]  # (h,)
        else:
            first = 1 if pooling == "mean_after_first" and len(states) > 1 else 0
            vec = states[first:].mean(axis=0)  # (h,)
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm > 0 else vec).astype(np.float32)

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
        return self._decoder().continuation_logits(prefix, continuations)

    def stream(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
        constraint: TokenConstraint | None = None,
        logprobs: bool = False,
        forced_logprobs: bool = True,
        prompt_logits: Callable[[np.ndarray], None] | None = None,
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
            forced_logprobs: With ``logprobs``, also for the tokens of a
                jump-forward run after its first (the constraint forced
                them). False records NaN for those instead and saves the
                output head over each of them (about a quarter of a small
                model's cost per token), for callers that only read the
                tokens the model chose; forced tokens that follow a sampled
                one then also run in its forward pass (NaN, their first too).
                Without ``logprobs``, a constraint's opening forced text is
                prefilled with the prompt.
            prompt_logits: Called once before the first token is chosen
                (not at all when none is generated) with the model's unmasked
                logits at the prompt's last position: a read-only ``(vocab,)``
                float32 view, to read then and not keep. Needs ``logprobs``.

        Returns:
            A stream of :class:`TokenEvent`; its ``result`` is the
            :class:`Generation`.
        """
        gen = self._decoder().generate(prompt, params or SamplingParams(), logits_processor, constraint, logprobs,
                                       forced_logprobs, prompt_logits)
        return GenerationStream(gen)

    def generate(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
        constraint: TokenConstraint | None = None,
        logprobs: bool = False,
        forced_logprobs: bool = True,
        on_token: Callable[[TokenEvent], None] | None = None,
        prompt_logits: Callable[[np.ndarray], None] | None = None,
    ) -> Generation:
        """Generates a completion; see :meth:`stream` for the arguments.

        Args:
            prompt: Text or token ids.
            params: Sampling parameters.
            logits_processor: Optional logits hook.
            constraint: Optional grammar matcher.
            logprobs: Record log-probabilities.
            forced_logprobs: See :meth:`stream`.
            on_token: Called for every token as it is generated.
            prompt_logits: See :meth:`stream`.
        """
        s = self.stream(prompt, params, logits_processor=logits_processor, constraint=constraint, logprobs=logprobs,
                        forced_logprobs=forced_logprobs, prompt_logits=prompt_logits)
        for ev in s:
            if on_token:
                on_token(ev)
        assert s.result is not None
        return s.result

    def chat(self, messages: list[dict[str, Any]], params: SamplingParams | None = None, **kw: Any) -> Generation:
        """Applies the chat template and generates the assistant's reply."""
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return self.generate(self.tokenizer.encode(text), params, **kw)

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
