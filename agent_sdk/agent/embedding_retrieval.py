"""Tool retrieval by the model's own hidden states: no extra model on the device.

Each tool's text (:func:`~agent_sdk.agent.retrieval.tool_text`) and each
request are run through the deployed model
(:meth:`~agent_sdk.runtime.engine.Engine.embed_text`) and compared by cosine
after removing the tool set's mean vector (a language model's states share a
large common direction that otherwise dominates every cosine). Tool vectors
are computed once per tool text and kept; a request costs one forward pass
over its own tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agent_sdk.agent.retrieval import BM25Retriever, tool_text
from agent_sdk.errors import UserError
from agent_sdk.runtime.engine import HIDDEN_LAYERS, POOLINGS, Engine

__all__ = ["HiddenStateRetriever", "HybridRetriever"]

# Tool vectors kept between requests (beyond this the cache starts over).
_MAX_CACHED_TOOLS = 4096


class HiddenStateRetriever:
    """Cosine between mean-centred hidden states of the request and of each tool's text.

    Args:
        engine: The deployed model.
        layer: Which hidden state (``final`` or ``middle``, see
            :meth:`~agent_sdk.runtime.engine.Engine.hidden_states`).
        pooling: ``mean`` over tokens or the ``last`` token's.
    """

    name = "hidden"

    def __init__(self, engine: Engine, *, layer: str = "final", pooling: str = "mean") -> None:
        problems = []
        if layer not in HIDDEN_LAYERS:
            problems.append(f"layer must be one of {', '.join(HIDDEN_LAYERS)}, got {layer!r}")
        if pooling not in POOLINGS:
            problems.append(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if problems:
            raise UserError("hidden-state retrieval: " + "; ".join(problems))
        # A bundle compiled before hidden states existed fails here (BundleError), not in the middle of a run.
        engine.hidden_states(engine.tokenizer.encode("tool")[:1])
        self.engine = engine
        self.layer = layer
        self.pooling = pooling
        self._vectors: dict[str, np.ndarray] = {}

    def _embed(self, text: str) -> np.ndarray:
        vec = self._vectors.get(text)
        if vec is None:
            if len(self._vectors) >= _MAX_CACHED_TOOLS:
                self._vectors.clear()
            vec = self._vectors[text] = self.engine.embed_text(text, pooling=self.pooling, layer=self.layer)
        return vec

    def scores(self, request: str, tools: Sequence[dict[str, Any]]) -> list[float]:
        """See :meth:`~agent_sdk.agent.retrieval.Retriever.scores`."""
        if not tools:
            return []
        if not request.strip():
            return [0.0] * len(tools)
        docs = np.stack([self._embed(tool_text(t)) for t in tools])  # (n, h)
        query = self.engine.embed_text(request, pooling=self.pooling, layer=self.layer)  # (h,)
        mean = docs.mean(axis=0) if len(tools) > 1 else np.zeros_like(query)
        docs = docs - mean
        query = query - mean
        docs /= np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-12)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        return [float(s) for s in docs @ query]


class HybridRetriever:
    """BM25 and hidden states together: each score scaled to [0, 1] over the tool set, then mixed.

    Args:
        engine: The deployed model.
        weight: The hidden states' share of the score (BM25 has the rest).
    """

    name = "hybrid"

    def __init__(self, engine: Engine, *, weight: float = 0.5) -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise UserError(f"hybrid retrieval: weight must be a number from 0 to 1, got {weight!r}")
        self.bm25 = BM25Retriever()
        self.hidden = HiddenStateRetriever(engine)
        self.weight = weight

    def scores(self, request: str, tools: Sequence[dict[str, Any]]) -> list[float]:
        """See :meth:`~agent_sdk.agent.retrieval.Retriever.scores`."""
        if not tools:
            return []
        mixed = np.zeros(len(tools))
        for part, share in ((self.bm25, 1 - self.weight), (self.hidden, self.weight)):
            s = np.asarray(part.scores(request, tools), dtype=np.float64)
            span = s.max() - s.min()
            mixed += share * ((s - s.min()) / span if span > 0 else np.zeros_like(s))
        return [float(x) for x in mixed]
