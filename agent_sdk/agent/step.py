"""One constrained tool-call step, shared by the agent loop, the server and evaluation.

:func:`decode_calls` decodes the best call the grammar allows from a prompt
(greedy, jump-forward through the fixed spans) and runs the policy's
post-steps over it; in ``auto`` the call is kept only when it is wanted.
The agent runs it once per step, ``agent-sdk serve`` once per request
(returning the calls instead of running them), ``agent-sdk eval bfcl`` once
per question. The stages themselves live in :mod:`agent_sdk.agent.call_stages`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.call_stages import CallContext, CallDraft, call_key
from agent_sdk.agent.clauses import uncovered_part, written_in
from agent_sdk.agent.copy_bias import chain_processors
from agent_sdk.agent.policy import DEFAULT_POLICY, CallPolicy
from agent_sdk.agent.request_features import argument_values
from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.schema_repair import usable_tools
from agent_sdk.errors import AgentSDKError, ToolSchemaWarning
from agent_sdk.runtime.engine import Engine, Generation
from agent_sdk.runtime.phases import phase
from agent_sdk.runtime.sampler import SamplingParams

__all__ = ["CallStep", "call_grammar", "decode_calls"]


@dataclass(frozen=True)
class CallStep:
    """What one constrained call step produced.

    Attributes:
        calls: ``(name, arguments)`` pairs, exact repeats dropped; empty when
            the call was declined or ``max_tokens`` cut it short.
        generation: The constrained generation (its text is the call text).
        score: The ``auto`` score of the call (``auto`` only, else None).
        declined: A post-step dropped the call (``auto`` found it unlikely, it
            changes the state a question asks about, or it repeats a call
            already answered): answer in text instead.
        seconds: Time spent generating and refining.
        forced_flags: Per generated step, whether the grammar forced its token
            (``auto`` only, aligned with the generation's log-probabilities).
        reason: Why it was declined (``"unlikely"``, ``"state_question"``, ``"answered"``), else "".
        schema_warnings: Tools repaired or left out of the grammar, and why.
        follow_up: The generation of the follow-up on a compound request
            (``decode_calls``' ``ask``), when one ran; its statistics add to
            the step's.
        scored_tools: The tools the call named when ``auto`` scored it.
    """

    calls: list[tuple[str, dict[str, Any]]]
    generation: Generation
    score: float | None
    declined: bool
    seconds: float
    forced_flags: list[bool] = field(default_factory=list)
    reason: str = ""
    schema_warnings: list[str] = field(default_factory=list)
    follow_up: Generation | None = None
    scored_tools: tuple[str, ...] = ()

    @property
    def attempted(self) -> bool:
        """Whether the model wrote a call at all (kept or declined)."""
        return bool(self.calls) or self.declined


def call_grammar(
    ge: GrammarEngine, tools: Sequence[dict[str, Any]], *, choice: str, parallel: bool, call_format: CallFormat = HERMES
) -> str:
    """The compiled grammar of a call step (``auto`` decodes as ``required``).

    Raises:
        UserError: No tools, or ``choice`` names an unknown tool.
        GrammarError: A tool's schema cannot be compiled.
    """
    return ge.lark_grammar(call_format.grammar(tools, choice="required" if choice == "auto" else choice, parallel=parallel))


def decode_calls(
    engine: Engine,
    prompt_ids: list[int],
    tools: Sequence[dict[str, Any]],
    *,
    policy: CallPolicy = DEFAULT_POLICY,
    max_tokens: int,
    request: str = "",
    answered: Sequence[tuple[str, dict[str, Any]]] = (),
    grammar_engine: GrammarEngine | None = None,
    call_format: CallFormat = HERMES,
    ask: Callable[[str], list[int]] | None = None,
) -> CallStep:
    """Decodes tool calls under the tools' grammar (greedy) and refines them by ``policy``.

    Args:
        engine: The runtime engine.
        prompt_ids: The conversation, rendered with a generation prompt.
        tools: ``{"name", "description", "parameters"}`` dicts.
        policy: The call policy (its ``tool_choice``: ``auto``, ``required``
            or a tool name; ``none`` is the caller's to handle).
        max_tokens: Most tokens for the calls.
        request: The user's latest request: argument values are biased
            towards it and re-ranked against it, and ``auto`` reads it.
        answered: Calls already made and answered in the conversation.
        grammar_engine: The engine's grammar engine (default: its cached one).
        call_format: How calls are written.
        ask: The prompt of the same conversation with the latest request
            replaced by a text. Given (and ``policy.follow_up``), a part of a
            compound request the calls leave out ("... and set an alarm for 7
            am", :func:`~agent_sdk.agent.clauses.uncovered_part`) is asked
            alone in ``auto`` and its calls are added.

    A tool whose schema the grammar engine refuses is repaired when the fix
    is unambiguous, else left out while the others stay callable; each case
    is a :class:`~agent_sdk.errors.ToolSchemaWarning` (with
    ``policy.strict_tools``, a :class:`GrammarError` instead).

    Raises:
        UserError: No tools, or the choice names an unknown tool.
        GrammarError: No tool's schema can be compiled (or, strictly, some cannot).
    """
    with phase("grammar_setup"):
        ge = grammar_engine or GrammarEngine.for_engine(engine)
        choice = policy.tool_choice
        tools, problems = usable_tools(ge, tools, strict=policy.strict_tools)
        for problem in problems:
            warnings.warn(problem, ToolSchemaWarning, stacklevel=2)
        if not tools:
            raise GrammarError("no tool can be constrained by the grammar engine: " + "; ".join(problems))
        grammar = call_grammar(ge, tools, choice=choice, parallel=policy.parallel, call_format=call_format)
        ctx = CallContext(
            engine=engine, prompt_ids=prompt_ids, tools=tools, choice=choice, max_tokens=max_tokens, policy=policy,
            call_format=call_format, request=request, answered=answered, grammar_engine=ge, grammar=grammar,
        )
        ctx.processor = chain_processors(*(make(ctx) for make in policy.processors))
        constraint = ge.constraint(grammar)
    t0 = time.perf_counter()
    probe = policy.auto.probe if choice == "auto" else None
    probed: list[float] = []  # the probe's value for the prompt, read from its last logits (no extra pass)
    gen = engine.generate(
        prompt_ids, SamplingParams(max_tokens=max_tokens), constraint=constraint, logprobs=choice == "auto",
        forced_logprobs=policy.auto.reads_forced, logits_processor=ctx.processor,
        **({"prompt_logits": lambda logits: probed.append(probe.value(logits))} if probe is not None else {}),
    )
    forced = list(constraint.forced_flags[: len(gen.logprobs)]) if gen.logprobs is not None else []
    draft = CallDraft(text=gen.text, generation=gen, forced=forced, probe=probed[0] if probed else None)
    for post in policy.active_post_steps():
        with phase(getattr(post, "__name__", "post_step")):
            draft = post(ctx, draft)
    calls, follow_up = draft.calls, None
    if ask is not None and policy.follow_up and policy.parallel and choice in ("auto", "required") and calls:
        with phase("follow_up"):
            # The clause gets the step's own budget: a call of its own, with its tokens counted in the usage.
            calls, follow_up = _follow_up(engine, ask, tools, calls, policy=policy, budget=max_tokens, request=request,
                                          answered=answered, grammar_engine=ge, call_format=call_format)
    seconds = time.perf_counter() - t0
    flags = draft.forced if choice == "auto" else []
    return CallStep(calls, draft.generation, draft.score, draft.declined, seconds, flags, draft.reason, problems,
                    follow_up, draft.scored)


def _follow_up(
    engine: Engine, ask: Callable[[str], list[int]], tools: Sequence[dict[str, Any]],
    calls: list[tuple[str, dict[str, Any]]], *, policy: CallPolicy, budget: int, request: str,
    answered: Sequence[tuple[str, dict[str, Any]]], grammar_engine: GrammarEngine, call_format: CallFormat,
) -> tuple[list[tuple[str, dict[str, Any]]], Generation | None]:
    """``calls`` with those of the part of a compound request they leave out, asked alone in ``auto``.

    A call of the follow-up is kept when the clause writes one of its values
    (or it takes none): asked alone, a clause that only qualifies the first
    request ("and make it quick") would have its values invented. A failure of
    the follow-up (an SDK error) keeps the first calls and warns.
    """
    part = uncovered_part(request, [*answered, *calls])
    if part is None:
        return calls, None
    try:
        more = decode_calls(
            engine, ask(part.text), tools, policy=policy.replace(tool_choice="auto"), max_tokens=budget,
            request=part.text, answered=answered, grammar_engine=grammar_engine, call_format=call_format,
        )
    except AgentSDKError as exc:
        warnings.warn(f"the follow-up on {part.text!r} failed, the first calls stand: {exc}", RuntimeWarning,
                      stacklevel=3)
        return calls, None
    have = {call_key(n, a) for n, a in [*answered, *calls]}
    new = [(n, a) for n, a in more.calls if call_key(n, a) not in have and _stated(part.text, a)]
    return ([*new, *calls] if part.earlier else [*calls, *new]), more.generation


def _stated(clause: str, arguments: Any) -> bool:
    """Whether ``clause`` writes one of the call's values, or the call takes none."""
    values = argument_values(arguments)
    return not values or any(written_in(clause, v) for v in values)
