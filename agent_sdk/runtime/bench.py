"""Measure an engine on this machine: prefill by prompt length, first token, decode, memory.

What ``agent-sdk bench`` runs. Prompts are random token ids (no tokenizer
effects) and EOS is masked, so every measurement decodes exactly the asked
number of tokens. For a comparison with llama.cpp on the same model, see
``tools/bench_engine.py``.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import UserError
from agent_sdk.runtime.engine import Engine, peak_rss_mb
from agent_sdk.runtime.sampler import SamplingParams

__all__ = ["BenchReport", "BenchRow", "cpu_name", "mask_eos", "measure_engine"]


@dataclass(frozen=True)
class BenchRow:
    """The best run at one prompt length.

    Attributes:
        prompt_tokens: Prompt length in tokens.
        prefill_tok_s: Prefill speed.
        ttft_ms: Time to the first generated token.
        decode_tokens: Tokens generated.
        decode_tok_s: Decode speed (excluding the first token).
    """

    prompt_tokens: int
    prefill_tok_s: float
    ttft_ms: float
    decode_tokens: int
    decode_tok_s: float

    def to_dict(self) -> dict[str, Any]:
        """The row as ``agent-sdk bench --json`` prints it (speeds and times to 0.1)."""
        return {"prompt_tokens": self.prompt_tokens, "prefill_tok_s": round(self.prefill_tok_s, 1),
                "ttft_ms": round(self.ttft_ms, 1), "decode_tokens": self.decode_tokens,
                "decode_tok_s": round(self.decode_tok_s, 1)}


@dataclass(frozen=True)
class BenchReport:
    """What :func:`measure_engine` measured.

    Attributes:
        threads: CPU threads the engine ran with.
        load_s: Seconds the engine took to load its bundle.
        peak_rss_mb: Peak resident memory of this process after the runs, in MiB.
        results: One row per prompt length, in the order asked.
    """

    threads: int
    load_s: float
    peak_rss_mb: float
    results: list[BenchRow]

    def to_dict(self) -> dict[str, Any]:
        """The report as ``agent-sdk bench --json`` prints it (after ``bundle``)."""
        return {"threads": self.threads, "load_s": round(self.load_s, 3), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "results": [row.to_dict() for row in self.results]}


def measure_engine(
    engine: Engine, *, prompt_lengths: Sequence[int], decode_tokens: int = 64, repeats: int = 2
) -> BenchReport:
    """Measures prefill at each prompt length, first-token time, decode speed and memory.

    After one warm-up request, each prompt length runs ``repeats`` times from
    an empty KV cache; the run with the fastest prefill is kept.

    Args:
        engine: The engine to measure (its KV cache is reset).
        prompt_lengths: Prompt lengths in tokens.
        decode_tokens: Tokens to generate after each prompt.
        repeats: Runs per prompt length (at least one).

    Returns:
        The measurements.

    Raises:
        UserError: The longest prompt plus ``decode_tokens`` exceeds the
            engine's context window.
    """
    lengths = list(prompt_lengths)
    if max(lengths) + decode_tokens > engine.context_window:
        raise UserError(f"prompt {max(lengths)} + {decode_tokens} tokens exceed the context window {engine.context_window}")
    rng = np.random.default_rng(0)
    vocab = min(engine.vocab_size, engine.tokenizer.vocab_size)
    eos = engine.eos_token_ids

    def no_eos(_ids: list[int], logits: Any) -> Any:  # decode a fixed length
        return mask_eos(logits, eos)

    engine.generate(engine.tokenizer.encode("Hello"), SamplingParams(max_tokens=2))  # warm-up
    rows = []
    for n in lengths:
        prompt = [int(t) for t in rng.integers(100, vocab, size=n)]
        best = None
        for _ in range(max(1, repeats)):
            engine.reset()
            g = engine.generate(prompt, SamplingParams(max_tokens=decode_tokens), logits_processor=no_eos)
            if best is None or g.stats.prefill_s < best.stats.prefill_s:
                best = g
        assert best is not None
        st = best.stats
        rows.append(BenchRow(prompt_tokens=n, prefill_tok_s=st.prefill_tok_s, ttft_ms=st.ttft_ms,
                             decode_tokens=st.generated_tokens, decode_tok_s=st.decode_tok_s))
    return BenchReport(threads=engine.threads, load_s=engine.load_seconds, peak_rss_mb=peak_rss_mb(), results=rows)


def mask_eos(logits: Any, eos: set[int]) -> Any:
    """Sets the end-of-sequence tokens' logits to -inf, in place.

    Args:
        logits: The logits of one step (a numpy array over the vocabulary).
        eos: The end-of-sequence token ids.

    Returns:
        ``logits``.
    """
    logits[list(eos)] = -float("inf")
    return logits


def cpu_name() -> str:
    """This machine's CPU model, from ``/proc/cpuinfo`` (a Raspberry Pi's ``Model`` line), else ``platform``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
