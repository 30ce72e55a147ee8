"""Token sampling on numpy logits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent_sdk.errors import UserError

__all__ = ["SamplingParams", "Sampler"]


@dataclass(frozen=True)
class SamplingParams:
    """How to pick the next token.

    Attributes:
        temperature: 0 means greedy (argmax).
        top_k: Keep the k most likely tokens (0 = all).
        top_p: Keep the smallest set whose probability reaches p (1 = all).
        repetition_penalty: >1 discourages tokens already generated or in the
            prompt (CTRL-style: positive logits divided, negative multiplied).
        seed: Random seed; None draws one from the OS.
        max_tokens: Most tokens to generate.
        stop: Strings that end generation (not included in the text).
        stop_token_ids: Extra token ids that end generation (the model's EOS
            ids always do).
    """

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = field(default_factory=tuple)
    stop_token_ids: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        problems = []
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            problems.append(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.max_tokens < 0:
            problems.append(f"max_tokens must be >= 0, got {self.max_tokens}")
        if problems:
            raise UserError("invalid sampling parameters: " + "; ".join(problems))


class Sampler:
    """Stateful sampler (owns the random generator).

    Args:
        params: Sampling parameters.
    """

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self._rng = np.random.default_rng(params.seed)

    def apply_penalty(self, logits: np.ndarray, history: list[int]) -> np.ndarray:
        """Returns logits with the repetition penalty applied to ``history``."""
        p = self.params.repetition_penalty
        if p == 1.0 or not history:
            return logits
        out = logits.copy()
        ids = np.unique(np.asarray(history, dtype=np.int64))
        ids = ids[ids < out.shape[-1]]
        vals = out[ids]
        out[ids] = np.where(vals > 0, vals / p, vals * p)
        return out

    def sample(self, logits: np.ndarray, history: list[int] | None = None) -> int:
        """Picks a token id from ``logits`` (1-D, possibly masked with -inf)."""
        logits = self.apply_penalty(np.asarray(logits, dtype=np.float32), history or [])
        prm = self.params
        if prm.temperature == 0.0:
            return int(np.argmax(logits))
        x = logits.astype(np.float64) / prm.temperature
        if prm.top_k and prm.top_k < x.size:
            kth = np.partition(x, -prm.top_k)[-prm.top_k]
            x = np.where(x >= kth, x, -np.inf)
        x = x - np.max(x)
        probs = np.exp(x)
        probs /= probs.sum()
        if prm.top_p < 1.0:
            order = np.argsort(-probs)
            cum = np.cumsum(probs[order])
            keep = order[: int(np.searchsorted(cum, prm.top_p) + 1)]
            mask = np.zeros_like(probs)
            mask[keep] = probs[keep]
            probs = mask / mask.sum()
        return int(self._rng.choice(probs.size, p=probs))
