"""The ``auto`` decision: keep a constrained call only when it is wanted.

Small models rarely start a call on their own even when one is right, and
free-running them yields malformed calls. So in ``auto`` the call step
decodes the best call the grammar allows and then asks whether the model
itself, and the request, back it: :func:`call_score` combines the model's
own (unmasked) log-probabilities of the call with how much of the call the
request contains, and :class:`AutoRule` holds the weights and the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.agent.auto_probe import AutoProbe
from agent_sdk.agent.relevance import tool_relevance

__all__ = ["DEFAULT_AUTO_RULE", "AutoRule", "call_relevance", "call_score"]


@dataclass(frozen=True)
class AutoRule:
    """How ``auto`` scores a constrained call, and the score it must reach.

    ``score = start_weight * lp_start + free_weight * mean_free
    + coverage_weight * (coverage - 1) + relevance_weight * (min(1, relevance / relevance_saturation) - 1)``
    where ``lp_start`` is the log-probability of starting a call at all and
    ``mean_free`` the mean log-probability of the tokens the model chose
    inside the call (tokens the grammar forced are left out), both under the
    model's unmasked distribution; ``coverage`` is the share of the call's
    values written in the request and ``relevance`` how much the called
    tools' names and descriptions share the request's words.

    Attributes:
        start_weight: Weight of the log-probability of opening a call.
        free_weight: Weight of the mean log-probability of the chosen tokens.
        coverage_weight: Weight of the copied-values share (0: unused).
        relevance_weight: Weight of the word overlap (0: unused).
        relevance_saturation: Overlap at which relevance counts in full (1.0:
            linear; lower: a little shared vocabulary already says the tool is
            on topic, none says it is not).
        threshold: The score a call needs to be kept.
        reads_forced: Whether :meth:`score` reads the log-probabilities of
            forced tokens (those inside a jump-forward run after its first,
            and every forced token that follows a sampled one). This rule
            does not, so the call step does not compute them (NaN in their
            place); a subclass whose score does sets it.
        probe: A tuned bundle's call probe (:mod:`agent_sdk.agent.auto_probe`):
            its weighted log-odds are added to the score; set with the
            threshold calibrated for it (:meth:`CallPolicy.for_bundle`).
        tool_thresholds: ``(tool name, threshold)`` pairs that replace
            :attr:`threshold` for a single call to that tool: a tuned bundle's
            own, calibrated per tool where its right calls to that tool score
            lower than the others' (:meth:`CallPolicy.for_bundle`); never
            above :attr:`threshold`.
    """

    # Chosen by tools/search_auto_rule.py on the tuning half (even positions) of
    # BFCL's dev split -- simple_python, live_simple, live_multiple against
    # irrelevance and live_irrelevance -- and of the voice example's 99 home
    # commands: the best mean `auto` accuracy on the call categories among rules
    # that decline >= 85% of each irrelevance category (the target is 80%;
    # the margin holds on the held-out half). Whether the model would open a call
    # at all (start) carries most of the model's own signal on user-written
    # requests. Before (0.1, 0.9, 0.75, 1.5, linear, -2.0, chosen on
    # simple_python and irrelevance only) `auto` declined most live requests
    # that needed a call. docs/bfcl_results.md has the tables.
    start_weight: float = 0.8
    free_weight: float = 0.2
    coverage_weight: float = 3.0
    relevance_weight: float = 3.0
    relevance_saturation: float = 0.5
    threshold: float = -7.4
    reads_forced: bool = False
    probe: AutoProbe | None = field(default=None, compare=False, repr=False)
    tool_thresholds: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not self.relevance_saturation > 0:
            raise ValueError(f"relevance_saturation must be > 0; got {self.relevance_saturation}")
        above = [name for name, t in self.tool_thresholds if not t <= self.threshold]
        if above:
            raise ValueError(f"a tool's threshold must be at most the rule's ({self.threshold}); {above[0]!r} is not")

    def score(
        self, logprobs: Sequence[float], forced: Sequence[bool], *, coverage: float | None = None,
        relevance: float | None = None, probe: float | None = None,
    ) -> float:
        """The call's score (see the class docstring); ``-inf`` without log-probabilities.

        ``probe`` is :meth:`AutoProbe.value` of the prompt; with a :attr:`probe` its term is added.
        """
        if relevance is not None:
            relevance = min(1.0, relevance / self.relevance_saturation)
        score = call_score(
            logprobs, forced, coverage=coverage, relevance=relevance, start_weight=self.start_weight,
            free_weight=self.free_weight, coverage_weight=self.coverage_weight, relevance_weight=self.relevance_weight,
        )
        if self.probe is not None and probe is not None:
            score += self.probe.term(probe)
        return score

    def threshold_for(self, names: Sequence[str]) -> float:
        """The threshold for a step calling ``names``: a single call's tool's own, else :attr:`threshold`."""
        if len(names) == 1:
            for name, t in self.tool_thresholds:
                if name == names[0]:
                    return t
        return self.threshold

    def keeps(self, score: float, names: Sequence[str] = ()) -> bool:
        """Whether a step calling ``names`` (tool names, in order) with ``score`` is kept."""
        return score >= self.threshold_for(names)


DEFAULT_AUTO_RULE = AutoRule()


def call_relevance(names: Sequence[str], tools: Sequence[dict[str, Any]], request: str) -> float:
    """The mean :func:`~agent_sdk.agent.relevance.tool_relevance` of the called tools (0.0 without calls)."""
    by_name = {t["name"]: t for t in tools}
    scores = [tool_relevance(by_name[n], request) for n in names if n in by_name]
    return sum(scores) / len(scores) if scores else 0.0


def call_score(
    logprobs: Sequence[float],
    forced: Sequence[bool],
    *,
    coverage: float | None = None,
    relevance: float | None = None,
    start_weight: float = DEFAULT_AUTO_RULE.start_weight,
    free_weight: float = DEFAULT_AUTO_RULE.free_weight,
    coverage_weight: float = DEFAULT_AUTO_RULE.coverage_weight,
    relevance_weight: float = DEFAULT_AUTO_RULE.relevance_weight,
) -> float:
    """How much the model itself, and the request, want a constrained call.

    Args:
        logprobs: The unmasked log-probability of each generated token.
        forced: Per token, whether the grammar forced it (aligned with ``logprobs``).
        coverage: Share of the call's values written in the request
            (:func:`~agent_sdk.agent.request_features.copy_coverage`); None: unused.
        relevance: :func:`call_relevance`; None: unused.
        start_weight: See :class:`AutoRule`.
        free_weight: See :class:`AutoRule`.
        coverage_weight: See :class:`AutoRule`.
        relevance_weight: See :class:`AutoRule`.

    Returns:
        The score; ``-inf`` when there are no log-probabilities.
    """
    lps = list(logprobs)
    if not lps:
        return float("-inf")
    flags = list(forced[: len(lps)]) + [False] * max(0, len(lps) - len(forced))
    free = [lp for lp, was_forced in zip(lps, flags) if not was_forced]
    mean_free = sum(free) / len(free) if free else 0.0
    score = start_weight * lps[0] + free_weight * mean_free
    if coverage is not None:
        score += coverage_weight * (coverage - 1.0)
    if relevance is not None:
        score += relevance_weight * (relevance - 1.0)
    return score
