"""One constrained tool-call step, shared by the agent loop and the server.

:func:`decode_calls` decodes the best call the grammar allows from a
prompt and, in ``auto``, keeps it only when the model itself finds it likely
(:func:`call_score`). The agent runs it once per step; ``agent-sdk serve``
once per request, returning the calls to the client instead of running them.
:func:`call_text` and :func:`tool_response_text` write calls and results the
way they appear in a conversation (Hermes format), so a history sent back by
an OpenAI client renders exactly as the agent's own history does.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent_sdk.agent.copy_bias import CopyBias, ValueBias, chain_processors, copy_coverage
from agent_sdk.agent.parsing import parse_calls
from agent_sdk.agent.relevance import tool_relevance
from agent_sdk.agent.rerank import ValueRerank, rerank_values
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.constrain.tool_grammar import CALL_CLOSE, CALL_OPEN, tool_call_grammar
from agent_sdk.errors import AgentSDKError
from agent_sdk.runtime.engine import Engine, Generation
from agent_sdk.runtime.sampler import SamplingParams

__all__ = [
    "AUTO_THRESHOLD",
    "COVERAGE_WEIGHT",
    "RELEVANCE_WEIGHT",
    "CallStep",
    "call_grammar",
    "call_relevance",
    "call_score",
    "call_text",
    "decode_calls",
    "tool_response_text",
]


@dataclass(frozen=True)
class CallStep:
    """What one constrained call step produced.

    Attributes:
        calls: ``(name, arguments)`` pairs, exact repeats dropped; empty when
            ``auto`` declined the call or ``max_tokens`` cut it short.
        generation: The constrained generation (its text is the Hermes call text).
        score: :func:`call_score` of the call (``auto`` only, else None).
        declined: ``auto`` found the call too unlikely.
        seconds: Time spent generating.
        forced_flags: Per generated step, whether the grammar forced its token
            (``auto`` only, aligned with the generation's log-probabilities).
    """

    calls: list[tuple[str, dict[str, Any]]]
    generation: Generation
    score: float | None
    declined: bool
    seconds: float
    forced_flags: list[bool] = field(default_factory=list)


# The ``auto`` decision (:func:`call_score`): chosen on BFCL's development
# split, even-numbered questions (simple_python every 4th, irrelevance every
# 2nd) with the agent's default ValueBias and ValueRerank, by
# ``tools/eval_bfcl_modes.py --search``; see docs/bfcl_results.md.
COVERAGE_WEIGHT = 0.75
RELEVANCE_WEIGHT = 1.5
AUTO_THRESHOLD = -2.0


def call_grammar(ge: GrammarEngine, tools: Sequence[dict[str, Any]], *, choice: str, parallel: bool) -> str:
    """The compiled grammar of a call step (``auto`` decodes as ``required``).

    Raises:
        UserError: No tools, or ``choice`` names an unknown tool.
        GrammarError: A tool's schema cannot be compiled.
    """
    return ge.lark_grammar(tool_call_grammar(tools, choice="required" if choice == "auto" else choice, parallel=parallel))


def decode_calls(
    engine: Engine,
    prompt_ids: list[int],
    tools: Sequence[dict[str, Any]],
    *,
    choice: str,
    max_tokens: int,
    parallel: bool = True,
    parallel_bias: float = 2.0,
    auto_threshold: float = AUTO_THRESHOLD,
    grammar_engine: GrammarEngine | None = None,
    copy_from: str | None = None,
    value_bias: ValueBias | None = None,
    rerank: ValueRerank | None = None,
) -> CallStep:
    """Decodes tool calls under the tools' grammar (greedy).

    Args:
        engine: The runtime engine.
        prompt_ids: The conversation, rendered with a generation prompt.
        tools: ``{"name", "description", "parameters"}`` dicts.
        choice: ``auto``, ``required`` or a tool name.
        max_tokens: Most tokens for the calls.
        parallel: Allow several calls.
        parallel_bias: Nats by which another parallel call must beat ending.
        auto_threshold: :func:`call_score` a call needs in ``auto``.
        grammar_engine: The engine's grammar engine (default: its cached one).
        copy_from: The request the argument values should be copied from
            (:class:`~agent_sdk.agent.copy_bias.CopyBias`); None: no copy bias.
        value_bias: How strongly to favour values from ``copy_from`` (None: not at all).
        rerank: Re-rank argument values by the whole value's likelihood
            against the request's spans and numbers
            (:func:`~agent_sdk.agent.rerank.rerank_values`; needs
            ``copy_from``); None: keep the greedy values.
    """
    ge = grammar_engine or GrammarEngine.for_engine(engine)
    grammar = call_grammar(ge, tools, choice=choice, parallel=parallel)
    constraint = ge.constraint(grammar)
    copy = None
    if copy_from and value_bias is not None and value_bias.enabled():
        copy = CopyBias(engine.tokenizer, copy_from, value_bias, tools=tools)
    processor = chain_processors(_stop_bias(engine, parallel_bias) if parallel and parallel_bias else None, copy)
    t0 = time.perf_counter()
    gen = engine.generate(
        prompt_ids, SamplingParams(max_tokens=max_tokens), constraint=constraint, logprobs=choice == "auto",
        logits_processor=processor,
    )
    text = gen.text
    if rerank is not None and copy_from and gen.finish_reason != "length":

        def redecode(prefix: str, first: np.ndarray) -> str | None:
            ids = engine.tokenizer.encode(prefix)
            again = ge.constraint(grammar)
            try:
                for t in ids:
                    again.accept(t)
            except AgentSDKError:
                return None
            budget = max_tokens - len(ids)
            if budget <= 0:
                return None

            def close_then_go_on(out: list[int], logits: Any) -> Any:
                if processor is not None:
                    logits = processor(ids + out, logits)
                if not out:  # the value is complete: what ends it comes next
                    closing = np.full_like(logits, -np.inf)
                    closing[first] = logits[first]
                    logits = closing
                return logits

            rest = engine.generate(
                prompt_ids + ids, SamplingParams(max_tokens=budget), constraint=again, logits_processor=close_then_go_on,
            )
            return None if rest.finish_reason == "length" else prefix + rest.text

        text, changed = rerank_values(engine, prompt_ids, text, tools, request=copy_from, redecode=redecode, options=rerank)
        if changed:
            # The call as it now reads; the log-probabilities (for `auto`) stay the greedy pass's.
            gen = dataclasses.replace(gen, text=text, token_ids=engine.tokenizer.encode(text))
    seconds = time.perf_counter() - t0
    parsed = parse_calls(text, formats=("hermes",), known_tools={t["name"] for t in tools})
    calls = _dedupe([(c.name, dict(c.arguments)) for c in parsed.calls])
    score = None
    flags: list[bool] = []
    if choice == "auto" and gen.logprobs is not None:
        flags = list(constraint.forced_flags[: len(gen.logprobs)])
        coverage = relevance = None
        if copy_from is not None:
            coverage = copy_coverage([a for _, a in calls], copy_from)
            relevance = call_relevance([n for n, _ in calls], tools, copy_from)
        score = call_score(gen, flags, coverage=coverage, relevance=relevance)
        if score < auto_threshold:
            return CallStep([], gen, score, True, seconds, flags)
    return CallStep(calls, gen, score, False, seconds, flags)  # no calls: truncated by max_tokens


def _stop_bias(engine: Engine, bias: float) -> Callable[[list[int], Any], Any]:
    """Favours ending after a complete call over starting another one.

    Small models tend to repeat or invent extra calls; another call must
    beat the end of the turn by ``bias`` nats (greedy decoding).
    """
    tok = engine.tokenizer
    eos = sorted(engine.eos_token_ids)

    def processor(out: list[int], logits: Any) -> Any:
        if len(out) >= 3 and tok.decode(out[-6:]).endswith("</tool_call>"):
            logits = logits.copy()
            logits[eos] += bias
        return logits

    return processor


def call_relevance(names: Sequence[str], tools: Sequence[dict[str, Any]], request: str) -> float:
    """The mean :func:`~agent_sdk.agent.relevance.tool_relevance` of the called tools (0.0 without calls)."""
    by_name = {t["name"]: t for t in tools}
    scores = [tool_relevance(by_name[n], request) for n in names if n in by_name]
    return sum(scores) / len(scores) if scores else 0.0


def call_score(
    gen: Generation,
    forced_flags: list[bool],
    *,
    coverage: float | None = None,
    coverage_weight: float = COVERAGE_WEIGHT,
    relevance: float | None = None,
    relevance_weight: float = RELEVANCE_WEIGHT,
) -> float:
    """How much the model itself wants the call it was constrained to.

    ``0.1 * (log-probability of starting a call at all) + 0.9 * (mean
    log-probability of the tokens it chose inside the call)``, both under the
    model's unmasked distribution; forced tokens (fixed by the grammar) are
    left out of the mean. With ``coverage`` (the share of the call's values
    written in the request, :func:`~agent_sdk.agent.copy_bias.copy_coverage`),
    ``coverage_weight * (coverage - 1)`` is added: a call whose values the
    request does not contain is likely forced onto a request no tool fits.
    With ``relevance`` (how much the called tools' names and descriptions
    share the request's words, :func:`call_relevance`),
    ``relevance_weight * (relevance - 1)`` is added too: a tool that shares
    no word with the request is likely not what it asks for.
    The log-probability weights were chosen on BFCL's development split
    (simple_python and irrelevance, first 80 questions each;
    ``tools/eval_auto_features.py``); the coverage and relevance weights and
    :data:`AUTO_THRESHOLD` on its even-numbered questions (simple_python
    every 4th, irrelevance every 2nd): relevance took `auto` there from
    46% / 90% (simple / irrelevance, at the best threshold without it) to
    49% / 94%.
    """
    lps = gen.logprobs or []
    if not lps:
        return float("-inf")
    flags = list(forced_flags[: len(lps)]) + [False] * max(0, len(lps) - len(forced_flags))
    free = [lp for lp, forced in zip(lps, flags) if not forced]
    mean_free = sum(free) / len(free) if free else 0.0
    score = 0.1 * lps[0] + 0.9 * mean_free
    if coverage is not None:
        score += coverage_weight * (coverage - 1.0)
    if relevance is not None:
        score += relevance_weight * (relevance - 1.0)
    return score


def _dedupe(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Drops exact repeats (small models often repeat a parallel call verbatim)."""
    seen: set[str] = set()
    out = []
    for name, args in calls:
        key = name + json.dumps(args, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append((name, args))
    return out


def call_text(calls: Sequence[tuple[str, Any]]) -> str:
    """Calls as the model writes them: Hermes blocks, as the call grammar emits them."""
    return "\n".join(
        CALL_OPEN + '{"name": ' + json.dumps(name, ensure_ascii=False) + ', "arguments": '
        + json.dumps(args, ensure_ascii=False) + "}" + CALL_CLOSE
        for name, args in calls
    )


def tool_response_text(content: str) -> str:
    """A tool result as the model reads it.

    Hermes-style wrapping: what small instruction-tuned models read best.
    """
    return f"<tool_response>\n{content}\n</tool_response>"
