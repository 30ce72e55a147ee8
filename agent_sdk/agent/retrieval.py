"""Tool retrieval: only the few tools a request is about go into the prompt and the grammar.

A small model's accuracy, prompt length and prefill time all degrade as
tools are added, and a 135M model's window holds a few dozen tool listings
at most. With more tools than :data:`DEFAULT_MAX_TOOLS`, the agent ranks
them against each request and offers only the top :data:`DEFAULT_TOP_K`;
at or below it, every tool is offered as before.

The selected tools are listed in the order they were registered, never in
score order, and each tool's listing is the same text whatever else is
listed. Two requests that pick the same tools therefore have the same
system prompt (the engine's prefix cache serves it without a prefill), and
two that share the first few tools share the cached prefix up to the first
tool they differ in.

Two retrievers are provided (their measurement is in docs/tool_retrieval.md):
:class:`BM25Retriever`, lexical, over the tools' names, descriptions and
parameters (the default), and
:class:`~agent_sdk.agent.embedding_retrieval.HiddenStateRetriever`, the
model's own hidden states as embeddings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agent_sdk.agent.words import split_camel_case
from agent_sdk.errors import UserError

__all__ = [
    "DEFAULT_MAX_TOOLS", "DEFAULT_MIN_SCORE_RATIO", "DEFAULT_TOP_K", "BM25Retriever", "Retriever", "ToolRetrieval", "retrieval_terms",
    "tool_text",
]

# Above this many tools a request sees only its top-K. Measured with
# SmolLM2-135M on BFCL simple_python (docs/tool_retrieval.md): the listing of
# eight average BFCL tools is ~600 tokens, a third of a 2k window, and accuracy
# with every tool listed already falls at 10 tools.
DEFAULT_MAX_TOOLS = 8

# Tools offered per request when retrieving. BM25's recall@5 on BFCL
# simple_python among 400 tools is in docs/tool_retrieval.md.
DEFAULT_TOP_K = 5

# A word is cut to this many letters after its plural is removed: a crude,
# language-light stemmer ("calculate" / "calculation" → "calcul").
_TERM_LEN = 6

# Function words only: BM25's weights already discount words many tools share
# ("calculate", "get"), and dropping them outright lost "function" in
# ``cell_biology.function_lookup`` (BFCL simple_python).
_FUNCTION_WORDS = frozenset(re.findall(r"\S+", """of to in on at is it me my by an as be do go if or so up us we no
    the and for with from into onto that this these those what which when where who whom whose how why
    are was were been being have has had does did can could should would will shall may might must
    any all each every some such other than then there their them they its not nor but per via
    you your yours our ours his her hers him she one ones also just about please want need like"""))

# Tools scoring under this share of the best one are not offered: by default
# only the best (and any tie). A 135M model picks between similar tools worse
# than BM25 does: on 40 BFCL simple_python tuning questions (ids divisible by 4)
# among 400 tools, SmolLM2-135M was right for 52.5% offered the best only,
# 45.0% at 0.8 and 40.0% at 0.5 (1.0 / 2.8 tools on average), and with every
# tool of 10 listed 36.7% against 58.3% with its one function (held-out; see
# docs/tool_retrieval.md). An app whose requests often need two different
# tools at once ("lights off and play jazz") lowers it (0.5 offers both).
DEFAULT_MIN_SCORE_RATIO = 1.0

# BM25's saturation and length normalisation (the usual values).
_K1 = 1.2
_B = 0.75

# Tools whose terms are kept between requests (beyond this the cache starts over).
_MAX_CACHED_TOOLS = 4096

# A tool's name says most about it: its words count this many times.
_NAME_WEIGHT = 2


def retrieval_terms(text: str) -> list[str]:
    """The index terms of ``text``: topical words (any script, two letters or more), plural removed, cut to six letters.

    Repeats are kept (BM25 counts them). Digits separate words and are not
    terms. Scripts written without spaces (Chinese, Japanese) give one term
    per run of letters: retrieval is meant for tools described in the
    language of their requests, and works best in English.
    """
    out = []
    for word in re.findall(r"[^\W\d_]+", split_camel_case(text)):
        w = word.casefold()
        if len(w) < 2 or w in _FUNCTION_WORDS:
            continue
        if w.endswith("ies") and len(w) > 4:
            w = w[:-3] + "y"
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
            w = w[:-1]
        out.append(w[:_TERM_LEN])
    return out


def tool_text(tool: dict[str, Any]) -> str:
    """What a tool is about, as one text: name, description, parameter names, descriptions and string choices."""
    parts = [re.sub(r"[_.\-]", " ", str(tool.get("name", ""))), str(tool.get("description") or "")]
    params = tool.get("parameters")
    props = params.get("properties") if isinstance(params, dict) else None
    for name, schema in (props if isinstance(props, dict) else {}).items():
        parts.append(str(name).replace("_", " "))
        if isinstance(schema, dict):
            if schema.get("description"):
                parts.append(str(schema["description"]))
            choices = schema.get("enum") or (schema.get("items") or {}).get("enum") or []
            words = [str(c) for c in choices if isinstance(c, str)]
            if words:  # "kitchen", "bedroom": what a request names
                parts.append(", ".join(words))
    return ". ".join(p for p in parts if p)


def _tool_terms(tool: dict[str, Any]) -> list[str]:
    return retrieval_terms(str(tool.get("name", ""))) * (_NAME_WEIGHT - 1) + retrieval_terms(tool_text(tool))


def _tool_key(tool: dict[str, Any]) -> tuple[str, str]:
    return str(tool.get("name", "")), tool_text(tool)


@runtime_checkable
class Retriever(Protocol):
    """Scores tools against a request (higher: more relevant)."""

    name: str

    def scores(self, request: str, tools: Sequence[dict[str, Any]]) -> list[float]:
        """One score per tool, in the tools' order."""
        ...


@dataclass
class _Index:
    """A tool set's BM25 index: for each term, the tools holding it with their weight."""

    postings: dict[str, list[tuple[int, float]]]  # term -> [(tool, idf * saturated term frequency)]
    size: int


class BM25Retriever:
    """Okapi BM25 over each tool's name (counted twice), description and parameters.

    The index of a tool set is built on first use and kept (keyed by the
    tools' names and texts): a request costs a look-up per term it contains
    and an addition per tool holding the term.
    """

    name = "bm25"

    def __init__(self) -> None:
        self._indexes: dict[tuple[tuple[str, str], ...], _Index] = {}
        self._terms: dict[tuple[str, str], Counter[str]] = {}  # per tool: pools of one tool set share them
        self._last: tuple[Sequence[dict[str, Any]], tuple[str, ...], _Index] | None = None

    def _counts(self, key: tuple[str, str], tool: dict[str, Any]) -> Counter[str]:
        counts = self._terms.get(key)
        if counts is None:
            if len(self._terms) >= _MAX_CACHED_TOOLS:
                self._terms.clear()
            counts = self._terms[key] = Counter(_tool_terms(tool))
        return counts

    def _index(self, tools: Sequence[dict[str, Any]]) -> _Index:
        names = tuple(str(t.get("name", "")) for t in tools)
        if self._last is not None and self._last[0] is tools and self._last[1] == names:
            return self._last[2]  # an agent's (cached) tool list again: skip re-reading every tool's text
        keys = [_tool_key(t) for t in tools]
        key = tuple(keys)
        index = self._indexes.get(key)
        if index is None:
            terms = [self._counts(k, t) for k, t in zip(keys, tools)]
            lengths = [sum(c.values()) for c in terms]
            df: Counter[str] = Counter()
            for c in terms:
                df.update(c.keys())
            n = len(tools)
            mean_length = (sum(lengths) / n) if n else 0.0
            idf = {term: math.log(1 + (n - k + 0.5) / (k + 0.5)) for term, k in df.items()}
            postings: dict[str, list[tuple[int, float]]] = {}
            for i, (counts, length) in enumerate(zip(terms, lengths)):
                norm = _K1 * (1 - _B + _B * length / (mean_length or 1.0))
                for term, f in counts.items():
                    postings.setdefault(term, []).append((i, idf[term] * f * (_K1 + 1) / (f + norm)))
            index = _Index(postings, n)
            if len(self._indexes) >= 8:  # a few tool sets at most (an agent has one)
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[key] = index
        self._last = (tools, names, index)
        return index

    def scores(self, request: str, tools: Sequence[dict[str, Any]]) -> list[float]:
        """See :meth:`Retriever.scores`."""
        if not tools:
            return []
        index = self._index(tools)
        out = [0.0] * index.size
        for term in set(retrieval_terms(request)):
            for i, weight in index.postings.get(term, ()):
                out[i] += weight
        return out


@dataclass(frozen=True, kw_only=True)
class ToolRetrieval:
    """When and how an agent narrows its tools per request.

    Attributes:
        retriever: Scores tools against a request (default :class:`BM25Retriever`).
        max_tools: With at most this many tools, every tool is offered.
        top_k: Most tools offered per request when there are more.
        min_score_ratio: Of those, only tools scoring at least this share of
            the best score are offered (0 offers all ``top_k``); when no tool
            scores above 0, the ``top_k`` first registered are.
    """

    retriever: Retriever = field(default_factory=BM25Retriever)
    max_tools: int = DEFAULT_MAX_TOOLS
    top_k: int = DEFAULT_TOP_K
    min_score_ratio: float = DEFAULT_MIN_SCORE_RATIO

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            problems.append(f"top_k must be a positive integer, got {self.top_k!r}")
        if isinstance(self.max_tools, bool) or not isinstance(self.max_tools, int) or self.max_tools < 0:
            problems.append(f"max_tools must be a non-negative integer, got {self.max_tools!r}")
        ratio = self.min_score_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            problems.append(f"min_score_ratio must be a number from 0 to 1, got {ratio!r}")
        if not isinstance(self.retriever, Retriever):
            problems.append(f"retriever must have a name and a scores(request, tools) method, got {self.retriever!r}")
        if problems:
            raise UserError("tool retrieval: " + "; ".join(problems))

    def select(
        self, request: str, tools: Sequence[dict[str, Any]], *, keep: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """The tools to offer for ``request``, in their given order.

        Args:
            request: The user's request.
            tools: Every tool (``{"name", "description", "parameters"}``).
            keep: Names always offered (a tool the caller forces), beyond ``top_k``.

        Returns:
            ``tools`` itself when there are at most ``max_tools``; otherwise the
            ``top_k`` best scored (ties: earlier first) that score at least
            ``min_score_ratio`` of the best, plus ``keep``.
        """
        if len(tools) <= self.max_tools:
            return list(tools)
        scores = self.retriever.scores(request, tools)
        order = _best_first(scores)[: self.top_k]
        best = scores[order[0]] if order else 0.0
        if best > 0:
            order = [i for i in order if scores[i] >= self.min_score_ratio * best]
        chosen = set(order)
        wanted = set(keep)
        chosen |= {i for i, t in enumerate(tools) if t.get("name") in wanted}
        return [t for i, t in enumerate(tools) if i in chosen]

    def rank(self, request: str, tools: Sequence[dict[str, Any]]) -> list[str]:
        """Every tool's name, best first (for measuring recall)."""
        return [str(tools[i].get("name")) for i in _best_first(self.retriever.scores(request, tools))]


def _best_first(scores: Sequence[float]) -> list[int]:
    """Indices by score, highest first; ties keep the tools' order."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))
