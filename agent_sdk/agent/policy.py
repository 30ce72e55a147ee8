"""The call policy: every knob of a tool-call step, in one frozen object.

``Agent``, ``agent-sdk serve``, ``agent-sdk eval bfcl`` and the CLI each take
one :class:`CallPolicy` and pass it on, so a setting measured in one place
means the same thing everywhere. Defaults are named here with where they
were measured.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_sdk.agent.auto import DEFAULT_AUTO_RULE, AutoRule
from agent_sdk.agent.auto_probe import AutoProbe
from agent_sdk.agent.call_stages import (
    PostStep,
    ProcessorFactory,
    auto_decision,
    conjoined,
    dedupe,
    parse,
    rerank,
    rerank_tool,
    said,
    skip_answered,
    state_question,
    stop_bias,
    value_bias,
)
from agent_sdk.agent.copy_bias import DEFAULT_VALUE_BIAS, ValueBias
from agent_sdk.agent.rerank import DEFAULT_RERANK, ValueRerank
from agent_sdk.errors import BundleError, UserError

__all__ = [
    "DEFAULT_POLICY", "DEFAULT_POST_STEPS", "DEFAULT_PROCESSORS", "PARALLEL_BIAS", "TOOL_CHOICES", "CallPolicy",
]

TOOL_CHOICES = ("auto", "required", "none")

# Another parallel call must beat ending the turn by this many nats. SmolLM2-135M
# repeats or invents extra calls without it; 2.0 kept BFCL simple_python's
# single calls single without losing the parallel category's second calls
# (docs/bfcl_results.md, issue 3).
PARALLEL_BIAS = 2.0

DEFAULT_PROCESSORS: tuple[ProcessorFactory, ...] = (stop_bias, value_bias)
# `said` and `conjoined` after `auto_decision`: whether to call is judged on the model's own calls, not on values
# and copies put in from the request (which the request states by construction). `state_question` right after it:
# what it drops needs no refining.
# `rerank_tool` right after it: `auto` judges the greedy pass's call, as its threshold was calibrated.
DEFAULT_POST_STEPS: tuple[PostStep, ...] = (rerank, parse, dedupe, auto_decision, rerank_tool, state_question, said,
                                            conjoined, skip_answered)


@dataclass(frozen=True)
class CallPolicy:
    """How a call step decides, decodes and refines tool calls.

    Attributes:
        tool_choice: ``auto`` (decide), ``required`` (a call), ``none`` (text
            only) or a tool name (a call to it).
        parallel: Allow several calls in one step.
        parallel_bias: Nats by which another parallel call must beat ending
            (:func:`~agent_sdk.agent.call_stages.stop_bias`; 0: off).
        auto: The ``auto`` decision's score weights and threshold.
        value_bias: How strongly calls favour argument values from the
            request (:class:`~agent_sdk.agent.copy_bias.ValueBias`); None: off.
        rerank: Re-ranking of argument values by whole-value likelihood
            (:class:`~agent_sdk.agent.rerank.ValueRerank`); None: greedy values.
        rerank_tools: The first call names the tool the model finds likeliest
            as a whole name, not by its first token
            (:func:`~agent_sdk.agent.call_stages.rerank_tool`).
        skip_answered: In ``auto``, a call identical to one already answered
            in the conversation does not win over answering.
        spoken_values: Values the request says in words (durations, times
            of day, numbers by their names, enum values, flags by their
            clause's word) replace the model's reading of them
            (:func:`~agent_sdk.agent.call_stages.said`).
        conjoined: A list the request joins with "and" ("the kitchen and
            living room lights") gets one call per item when the model made
            one (:func:`~agent_sdk.agent.call_stages.conjoined`).
        state_questions: In ``auto``, a yes/no question about a state ("are
            the doors locked") calls no tool that changes state
            (:func:`~agent_sdk.agent.call_stages.state_question`).
        follow_up: A part of a compound request the calls leave out ("lights
            off and set an alarm for 7 am") is asked alone, in ``auto``, and
            its calls are added (where the caller can re-render the prompt:
            :func:`~agent_sdk.agent.step.decode_calls`' ``ask``).
        strict_tools: A tool whose schema the grammar engine cannot use is an
            error (default: it is repaired when unambiguous, else left out
            with a :class:`~agent_sdk.errors.ToolSchemaWarning`).
        processors: Logits-processor factories run before the grammar mask,
            in order (see :mod:`agent_sdk.agent.call_stages`).
        post_steps: Steps run over the decoded call, in order.
    """

    tool_choice: str = "auto"
    parallel: bool = True
    parallel_bias: float = PARALLEL_BIAS
    auto: AutoRule = DEFAULT_AUTO_RULE
    value_bias: ValueBias | None = DEFAULT_VALUE_BIAS
    rerank: ValueRerank | None = DEFAULT_RERANK
    rerank_tools: bool = True
    skip_answered: bool = True
    spoken_values: bool = True
    conjoined: bool = True
    state_questions: bool = True
    follow_up: bool = True
    strict_tools: bool = False
    processors: tuple[ProcessorFactory, ...] = DEFAULT_PROCESSORS
    post_steps: tuple[PostStep, ...] = DEFAULT_POST_STEPS

    def __post_init__(self) -> None:
        if not isinstance(self.tool_choice, str) or not self.tool_choice:
            raise UserError(f"tool_choice must be auto, required, none or a tool name; got {self.tool_choice!r}")
        if self.parallel_bias < 0:
            raise UserError(f"parallel_bias must be >= 0; got {self.parallel_bias}")

    def replace(self, **changes: Any) -> CallPolicy:
        """A copy with ``changes`` applied (the policy itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def for_bundle(self, manifest: dict[str, Any] | None, *, bundle: Path | str | None = None) -> CallPolicy:
        """This policy with the bundle's own ``auto`` threshold (and probe), unless its rule was changed.

        A tuned bundle records the threshold calibrated for it on generated
        requests (manifest ``policy.auto_threshold``), lower ones for the
        tools whose right calls score lower (``policy.auto_tool_thresholds``,
        tool name → threshold), and may record a call
        probe calibrated with it (``policy.auto_probe``,
        :mod:`agent_sdk.agent.auto_probe`: read from ``bundle``, the bundle's
        folder); a caller who set a rule or a threshold keeps theirs, without
        the probe. The probe was fitted on single-turn requests (the first
        user turn under the bundle's own prompt); it is applied to every
        ``auto`` call step, later turns and follow-up clauses included.

        Raises:
            BundleError: The bundle records a probe that cannot be read, or
                records one and ``bundle`` is not given.
        """
        record = (manifest or {}).get("policy") if isinstance(manifest, dict) else None
        if not isinstance(record, dict) or self.auto != DEFAULT_AUTO_RULE or self.auto.probe is not None:
            return self
        t = record.get("auto_threshold")
        if t is None:
            if record.get("auto_probe") is not None:
                raise BundleError("the bundle records an auto probe without the threshold it was calibrated with")
            return self
        rule = dataclasses.replace(self.auto, threshold=float(t),
                                   tool_thresholds=_tool_thresholds(record.get("auto_tool_thresholds"), float(t)))
        if record.get("auto_probe") is not None:
            if bundle is None:
                raise BundleError("the bundle records an auto probe with its threshold; give its folder to read it")
            rule = dataclasses.replace(rule, probe=AutoProbe.from_bundle(bundle, manifest or {}))
        return self.replace(auto=rule)

    def with_threshold(self, threshold: float | None) -> CallPolicy:
        """A copy whose ``auto`` rule needs ``threshold`` of every call (None: this policy as it is)."""
        if threshold is None:
            return self
        return self.replace(auto=dataclasses.replace(self.auto, threshold=threshold, tool_thresholds=()))

    def active_post_steps(self) -> tuple[PostStep, ...]:
        """The post-steps this policy runs (``skip_answered``, ``said``, ``conjoined`` and ``state_question`` left out
        when switched off)."""
        switches = ((skip_answered, self.skip_answered), (said, self.spoken_values), (conjoined, self.conjoined),
                    (state_question, self.state_questions))
        off = {s for s, on in switches if not on}
        return tuple(s for s in self.post_steps if s not in off)


def _tool_thresholds(record: Any, threshold: float) -> tuple[tuple[str, float], ...]:
    """A manifest's ``policy.auto_tool_thresholds`` (absent: none), checked: names to finite numbers at most
    ``threshold``, sorted by name.

    Raises:
        BundleError: The record is not such a mapping.
    """
    if record is None:
        return ()
    if not isinstance(record, dict):
        raise BundleError("the bundle's policy.auto_tool_thresholds is not a mapping of tool names to thresholds")
    out = []
    for name, value in record.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value > threshold:
            raise BundleError(f"the bundle's auto threshold for tool {name!r} is not a number at most its "
                              f"auto_threshold ({threshold}): {value!r}")
        out.append((name, float(value)))
    return tuple(sorted(out))


DEFAULT_POLICY = CallPolicy()
