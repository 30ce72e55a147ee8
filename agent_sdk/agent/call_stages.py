"""The stages of a call step: logits processors before sampling, post-steps after.

A call step (:func:`agent_sdk.agent.step.decode_calls`) decodes the best
call the grammar allows, greedily, with the policy's *processors* reshaping
the logits before the grammar's mask (so the call stays valid), then runs
the policy's *post-steps* in order over the decoded draft. Each stage is a
plain function of the step's :class:`CallContext`; a new heuristic or a model
family adds one to its :class:`~agent_sdk.agent.policy.CallPolicy` without
editing the others:

- processors: :func:`stop_bias` (end after a call rather than invent
  another), :func:`value_bias` (keep and copy what the request says);
- post-steps: :func:`rerank` (values by whole-value likelihood),
  :func:`parse` (the calls out of the text), :func:`dedupe` (exact
  repeats), :func:`auto_decision` (``auto`` keeps a likely call only),
  :func:`rerank_tool` (the first call's tool by its whole name's likelihood),
  :func:`state_question` (a yes/no question about a state calls no tool
  that changes it), :func:`said` (a duration, time of day, named number, enum value or flag
  the request says in words, in the tool's form), :func:`conjoined` (one call per item of a list the request
  joins with "and"), :func:`skip_answered` (a call already answered in the
  conversation does not win over answering).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agent_sdk.agent.auto import call_relevance
from agent_sdk.agent.call_format import CallFormat
from agent_sdk.agent.conjoined import conjoined_calls
from agent_sdk.agent.copy_bias import CopyBias
from agent_sdk.agent.request_features import copy_coverage
from agent_sdk.agent.rerank import rerank_values
from agent_sdk.agent.spoken_values import said_values
from agent_sdk.agent.state_questions import asks_state, changes_state
from agent_sdk.agent.tool_rerank import name_text, rerank_tool_name
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.errors import AgentSDKError, EngineError
from agent_sdk.runtime.engine import Engine, Generation, LogitsProcessor
from agent_sdk.runtime.sampler import SamplingParams

if TYPE_CHECKING:
    from agent_sdk.agent.policy import CallPolicy

__all__ = [
    "STOP_BIAS_WINDOW",
    "TRUNCATED",
    "CallContext",
    "CallDraft",
    "PostStep",
    "ProcessorFactory",
    "auto_decision",
    "call_key",
    "conjoined",
    "dedupe",
    "parse",
    "rerank",
    "rerank_tool",
    "said",
    "skip_answered",
    "state_question",
    "stop_bias",
    "value_bias",
]

# Tokens decoded again to see whether the latest ones closed a call block
# (the closing tag is at most a few tokens in any tokenizer we ship).
STOP_BIAS_WINDOW = 6

TRUNCATED = ("length", "context")
"""Finish reasons of a generation cut short (``max_tokens``, or the context window full)."""


@dataclass
class CallContext:
    """What every stage of one call step sees.

    Attributes:
        engine: The runtime engine.
        prompt_ids: The conversation, rendered with a generation prompt.
        tools: ``{"name", "description", "parameters"}`` dicts offered.
        choice: ``auto``, ``required`` or a tool name.
        max_tokens: Most tokens for the calls.
        policy: The call policy.
        call_format: How calls are written.
        request: The user's latest request (values are copied from it); "" if none.
        answered: Calls already made and answered in this conversation.
        grammar_engine: The engine's grammar engine.
        grammar: The compiled call grammar.
        processor: The chained logits processor of this step (set once built).
    """

    engine: Engine
    prompt_ids: list[int]
    tools: Sequence[dict[str, Any]]
    choice: str
    max_tokens: int
    policy: CallPolicy
    call_format: CallFormat
    request: str
    answered: Sequence[tuple[str, dict[str, Any]]]
    grammar_engine: GrammarEngine
    grammar: str
    processor: LogitsProcessor | None = None


@dataclass
class CallDraft:
    """A call step's result as the post-steps refine it.

    Attributes:
        text: The call text (Hermes blocks for :data:`~agent_sdk.agent.call_format.HERMES`).
        generation: The constrained generation (log-probabilities from the greedy pass).
        forced: Per generated token, whether the grammar forced it.
        calls: ``(name, arguments)`` pairs, once parsed.
        score: The ``auto`` score, once decided.
        declined: ``auto`` (or another post-step) dropped the call: answer instead.
        reason: Why it was declined (``"unlikely"``, ``"state_question"``, ``"answered"``), for logs and evaluation.
        probe: The ``auto`` rule's probe value for the prompt, when the rule has a probe.
        scored: The tools the calls named when ``auto`` scored them (later steps may rename or add calls).
    """

    text: str
    generation: Generation
    forced: list[bool] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    score: float | None = None
    declined: bool = False
    reason: str = ""
    probe: float | None = None
    scored: tuple[str, ...] = ()


ProcessorFactory = Callable[[CallContext], LogitsProcessor | None]
PostStep = Callable[[CallContext, CallDraft], CallDraft]


# ------------------------------------------------------------- processors


def stop_bias(ctx: CallContext) -> LogitsProcessor | None:
    """Favours ending after a complete call over starting another one.

    Small models tend to repeat or invent extra calls; another call must
    beat the end of the turn by ``policy.parallel_bias`` nats.
    """
    bias = ctx.policy.parallel_bias
    if not ctx.policy.parallel or not bias:
        return None
    tok = ctx.engine.tokenizer
    eos = sorted(ctx.engine.eos_token_ids)
    fmt = ctx.call_format

    def processor(out: list[int], logits: Any) -> Any:
        if len(out) >= 3 and fmt.ends_call(tok.decode(out[-STOP_BIAS_WINDOW:])):
            logits = logits.copy()
            logits[eos] += bias
        return logits

    return processor


def value_bias(ctx: CallContext) -> LogitsProcessor | None:
    """The policy's :class:`~agent_sdk.agent.copy_bias.ValueBias` towards the request's values."""
    bias = ctx.policy.value_bias
    if not ctx.request or bias is None or not bias.enabled():
        return None
    return CopyBias(ctx.engine.tokenizer, ctx.request, bias, tools=ctx.tools, call_format=ctx.call_format)


# ------------------------------------------------------------- post-steps


def _decode_from(ctx: CallContext, prefix: str, first: np.ndarray | None = None) -> str | None:
    """The call text decoded again after ``prefix`` under the step's grammar and processors.

    Args:
        ctx: The step.
        prefix: Call text to keep; decoding goes on after it.
        first: When given, the next token is one of these ids (what ends a value).

    Returns:
        The whole call text, or None when the grammar refuses the prefix as
        tokenized here or the budget runs out.
    """
    engine = ctx.engine
    ids = engine.tokenizer.encode(prefix)
    again = ctx.grammar_engine.constraint(ctx.grammar)
    try:
        for t in ids:
            again.accept(t)
    except AgentSDKError:
        return None
    budget = ctx.max_tokens - len(ids)
    if budget <= 0:
        return None

    def go_on(out: list[int], logits: Any) -> Any:
        if ctx.processor is not None:
            logits = ctx.processor(ids + out, logits)
        if first is not None and not out:  # the value is complete: what ends it comes next
            closing = np.full_like(logits, -np.inf)
            closing[first] = logits[first]
            logits = closing
        return logits

    rest = engine.generate(ctx.prompt_ids + ids, SamplingParams(max_tokens=budget), constraint=again,
                           logits_processor=go_on)
    return None if rest.finish_reason in TRUNCATED else prefix + rest.text


def rerank_tool(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """Names the tool the model finds likeliest as a whole in the first call (:mod:`agent_sdk.agent.tool_rerank`).

    Runs after ``auto_decision``: whether to call is judged on the greedy
    pass's call, as the ``auto`` threshold was calibrated. Only where the
    step may pick among tools (``auto``, ``required``). When another tool
    wins, the calls are decoded again from its name on (later calls too),
    and their values re-ranked, parsed and de-duplicated as the first ones were.

    Args:
        ctx: The step.
        draft: The draft so far (its calls parsed).

    Returns:
        The draft, with the new calls when the name changed.
    """
    if not ctx.policy.rerank_tools or ctx.choice not in ("auto", "required") or len(ctx.tools) < 2 or not draft.calls:
        return draft
    if draft.generation.finish_reason in TRUNCATED:
        return draft
    better = rerank_tool_name(ctx.engine, ctx.prompt_ids, draft.text, ctx.tools, call_format=ctx.call_format)
    if better is None:
        return draft
    name, at = better
    # The kept text ends on the name's closing characters (`",`), as the model writes them; the grammar forces what
    # follows up to the arguments.
    text = _decode_from(ctx, draft.text[:at] + name_text(ctx.call_format, name))
    if text is None:
        return draft  # keep the greedy call
    # The log-probabilities stay the greedy pass's (`auto` has judged it already).
    gen = dataclasses.replace(draft.generation, text=text, token_ids=ctx.engine.tokenizer.encode(text))
    new = dataclasses.replace(draft, text=text, generation=gen)
    return dedupe(ctx, parse(ctx, rerank(ctx, new)))


def rerank(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """Re-ranks argument values by the whole value's likelihood (:mod:`agent_sdk.agent.rerank`)."""
    options = ctx.policy.rerank
    if options is None or not ctx.request or draft.generation.finish_reason == "length":
        return draft

    def redecode(prefix: str, first: np.ndarray) -> str | None:
        return _decode_from(ctx, prefix, first)

    text, changed = rerank_values(
        ctx.engine, ctx.prompt_ids, draft.text, ctx.tools, request=ctx.request, redecode=redecode, options=options,
        call_format=ctx.call_format,
    )
    if not changed:
        return draft
    # The call as it now reads; the log-probabilities (for `auto`) stay the greedy pass's.
    gen = dataclasses.replace(draft.generation, text=text, token_ids=ctx.engine.tokenizer.encode(text))
    return dataclasses.replace(draft, text=text, generation=gen)


def parse(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """Reads the calls out of the draft's text (none when ``max_tokens`` cut it short)."""
    parsed = ctx.call_format.parse(draft.text, known_tools={t["name"] for t in ctx.tools})
    return dataclasses.replace(draft, calls=[(c.name, dict(c.arguments)) for c in parsed.calls])


def said(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """Puts the values the request says in words into the calls (:mod:`agent_sdk.agent.spoken_values`)."""
    if not ctx.request or not draft.calls:
        return draft
    calls, changed = said_values(draft.calls, ctx.tools, ctx.request)
    return dataclasses.replace(draft, calls=calls) if changed else draft


def conjoined(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """One call per item of a list the request joins with "and" (:mod:`agent_sdk.agent.conjoined`).

    Only where several calls may be made (``policy.parallel``) and a call was kept.
    """
    if not ctx.request or not draft.calls or not ctx.policy.parallel:
        return draft
    calls, added = conjoined_calls(draft.calls, ctx.tools, ctx.request)
    return dataclasses.replace(draft, calls=calls) if added else draft


def call_key(name: str, arguments: Any) -> str:
    """A call's identity: its name and its arguments, key order ignored."""
    return name + json.dumps(arguments, sort_keys=True)


def dedupe(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """Drops exact repeats (small models often repeat a parallel call verbatim)."""
    seen: set[str] = set()
    out = []
    for name, args in draft.calls:
        key = call_key(name, args)
        if key not in seen:
            seen.add(key)
            out.append((name, args))
    return dataclasses.replace(draft, calls=out)


def auto_decision(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """In ``auto``, keeps the call only when the policy's :class:`~agent_sdk.agent.auto.AutoRule` scores it high enough."""
    if ctx.choice != "auto" or draft.generation.logprobs is None:
        return draft
    rule = ctx.policy.auto
    coverage = relevance = None
    if ctx.request:
        params = {t.get("name"): t.get("parameters") for t in ctx.tools}
        schemas = [params.get(n) for n, _ in draft.calls]
        coverage = copy_coverage([a for _, a in draft.calls], ctx.request, schemas=schemas)
        relevance = call_relevance([n for n, _ in draft.calls], ctx.tools, ctx.request)
    if rule.probe is not None and draft.probe is None and draft.generation.logprobs:
        # the threshold was calibrated with the probe's term: scoring without it would move every decision
        raise EngineError("the auto rule has a call probe but the call step read no prompt logits for it")
    score = rule.score(draft.generation.logprobs, draft.forced, coverage=coverage, relevance=relevance,
                       probe=draft.probe)
    scored = tuple(n for n, _ in draft.calls)
    if not rule.keeps(score, scored):
        return dataclasses.replace(draft, calls=[], score=score, declined=True, reason="unlikely", scored=scored)
    return dataclasses.replace(draft, score=score, scored=scored)


def state_question(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """In ``auto``, a yes/no question about a state ("is the trunk open") calls no tool that changes it.

    The calls to tools that change what the question names
    (:func:`~agent_sdk.agent.state_questions.changes_state`) are dropped; a
    tool that reads may still answer. With none left the step answers in
    text. ``required`` and a named tool keep the call: the caller asked for one.
    """
    if ctx.choice != "auto" or not draft.calls or not asks_state(ctx.request):
        return draft
    kept = [(name, args) for name, args in draft.calls if not changes_state(name, ctx.request)]
    if len(kept) == len(draft.calls):
        return draft
    if kept:
        return dataclasses.replace(draft, calls=kept)
    return dataclasses.replace(draft, calls=[], declined=True, reason="state_question")


def skip_answered(ctx: CallContext, draft: CallDraft) -> CallDraft:
    """In ``auto``, a call already made and answered in the conversation does not win over answering.

    Clients that follow the standard loop (call, result, ask again) would
    otherwise receive the same call for ever. Only the repeats are dropped;
    when nothing new is left the step answers in text. ``required`` and a
    named tool keep the call: the caller asked for one.
    """
    if ctx.choice != "auto" or not ctx.answered or not draft.calls:
        return draft
    done = {call_key(name, args) for name, args in ctx.answered}
    fresh = [(n, a) for n, a in draft.calls if call_key(n, a) not in done]
    if fresh:
        return dataclasses.replace(draft, calls=fresh)
    return dataclasses.replace(draft, calls=[], declined=True, reason="answered")
