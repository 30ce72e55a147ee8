"""The tuned bundle's ``auto`` threshold: the highest that keeps 95% of the right generated calls."""

from __future__ import annotations

import argparse
import math

import pytest

from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.tune.pipeline import CALL_MARGIN, choose_threshold, choose_tool_thresholds


def _right(*scores: float) -> list[tuple[float, bool, bool]]:
    return [(s, True, True) for s in scores]


def test_the_threshold_keeps_95_percent_of_right_calls_and_declines_below() -> None:
    # 40 right calls from -5.9 to -2.0: 95% keeps 38, so the edge is the third lowest (-5.7).
    calls = _right(*[-5.9 + 0.1 * i for i in range(40)])
    negatives = [(-9.0, False, False), (-5.8, False, False), (-5.75, False, False), (-3.0, False, False)]
    threshold, kept, declined = choose_threshold([*calls, *negatives])
    assert threshold == pytest.approx(-5.7)
    assert threshold <= -5.7  # rounded down: the edge's own call is kept
    assert kept == pytest.approx(38 / 40)
    assert declined == pytest.approx(3 / 4)  # the negative scoring among the calls stays a call


def test_hard_negatives_do_not_pull_the_threshold_over_many_calls() -> None:
    # The former rule (the sum of the two shares: one negative worth four calls here) rose to -3.505, keeping
    # 75% of the right calls, to decline the 3 hard negatives among them.
    calls = _right(*[-4.0 + 0.05 * i for i in range(40)])
    negatives = [(-4.3, False, False)] * 7 + [(-3.56, False, False), (-3.53, False, False), (-3.51, False, False)]
    threshold, kept, declined = choose_threshold([*calls, *negatives])
    assert threshold == pytest.approx(-3.9)
    assert kept == pytest.approx(0.95) and declined == pytest.approx(0.7)


def test_negatives_far_below_every_call_cost_no_call_under_every_call() -> None:
    # The 95% edge would decline no more than a threshold under every right call: keep them all (the per-tool rule).
    calls = _right(*[-4.0 + 0.05 * i for i in range(40)])
    negatives = [(-8.0, False, False)] * 7 + [(-3.56, False, False), (-3.53, False, False), (-3.51, False, False)]
    threshold, kept, declined = choose_threshold([*calls, *negatives], under_every_call=True)
    assert threshold == pytest.approx(-4.0 - CALL_MARGIN)
    assert (kept, declined) == (1.0, pytest.approx(0.7))


def test_easy_negatives_do_not_lower_the_threshold_of_all_calls() -> None:
    # A tuned model that starts no call on any generated negative (the garden bundle): the negatives cannot tell a
    # threshold under every call from the 95% edge, so the edge stands (-7.07 there would have kept every call).
    calls = _right(*[-6.07, *[-4.0 + 0.05 * i for i in range(39)]])
    negatives = [(-math.inf, False, False)] * 10
    threshold, kept, declined = choose_threshold([*calls, *negatives])
    assert threshold == pytest.approx(-3.95)  # the third lowest: 38 of 40 kept
    assert (kept, declined) == (pytest.approx(38 / 40), 1.0)
    assert choose_threshold([*calls, *negatives], under_every_call=True)[0] == pytest.approx(-6.07 - CALL_MARGIN)


def test_wrong_calls_count_as_tool_requests_not_served_but_do_not_set_the_edge() -> None:
    points = [*_right(*[-3.0 + 0.1 * i for i in range(20)]), (-10.0, True, False), (-9.5, True, False),
              (-2.95, False, False)]
    threshold, kept, declined = choose_threshold(points)
    assert threshold == pytest.approx(-2.9)  # the second lowest right call: 19 of 20 right calls kept
    assert kept == pytest.approx(19 / 22) and declined == 1.0


def test_the_rounded_threshold_keeps_the_edge_call() -> None:
    edge = -16.641000000000002  # one step below -16.641: rounding down to 3 decimals gives -16.642
    points = [(edge, True, True), *_right(*[-16.0 + 0.1 * i for i in range(30)]), (-16.7, False, False)]
    threshold, kept, _ = choose_threshold(points, keep=1.0)
    assert threshold <= edge and threshold == pytest.approx(-16.642)
    assert kept == 1.0


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.5, math.nan])
def test_keep_must_be_a_share(keep: float) -> None:
    with pytest.raises(ValueError, match="keep must be a share"):
        choose_threshold(_right(-1.0, 0.0), keep=keep)


def test_a_tiny_keep_takes_the_highest_right_call() -> None:
    points = [*_right(-2.0, -1.0), (-1.5, False, False)]
    assert choose_threshold(points, keep=1e-10)[0] == pytest.approx(-1.0)


def test_nothing_to_decline_keeps_every_right_call_under_every_call() -> None:
    # No unservable request scores below the edge: every right call is kept, with a margin below the lowest.
    points = [*_right(-3.0, -1.0, 0.5), (2.0, True, False), (1.0, False, False), (-math.inf, False, False)]
    assert choose_threshold(points)[0] == pytest.approx(-3.0)  # without: the edge (95% of 3 calls is the lowest)
    threshold, kept, declined = choose_threshold(points, under_every_call=True)
    assert threshold == pytest.approx(-3.0 - CALL_MARGIN)
    assert kept == pytest.approx(3 / 4)
    assert declined == pytest.approx(1 / 2)  # the request that started no call is declined at any threshold


def test_keep_is_an_option() -> None:
    points = [*_right(*[float(i) for i in range(10)]), (-1.0, False, False), (4.5, False, False)]
    assert choose_threshold(points, keep=1.0)[0] == pytest.approx(0.0)
    assert choose_threshold(points, keep=0.5)[0] == pytest.approx(5.0)
    assert choose_threshold(points, keep=0.5)[2] == 1.0


def test_no_scores_keep_the_sdk_threshold() -> None:
    assert choose_threshold([])[0] == DEFAULT_POLICY.auto.threshold
    points = [(-math.inf, False, False), (-math.inf, True, False)]
    threshold, calls, declines = choose_threshold(points)
    assert threshold == DEFAULT_POLICY.auto.threshold
    assert (calls, declines) == (0.0, 1.0)


def test_auto_tool_listing_is_names() -> None:
    """``--tool-listing auto``: names for any tool set (the home tools' 469-token prompt and the cabin's 1,075 both)."""
    from agent_sdk.errors import UserError
    from agent_sdk.tune.pipeline import SHORT_LISTING_ABOVE_TOKENS, resolve_tool_listing

    assert SHORT_LISTING_ABOVE_TOKENS == 0
    assert resolve_tool_listing("auto", 469) == "names" and resolve_tool_listing("auto", 1075) == "names"
    assert resolve_tool_listing("auto", 1) == "names"
    assert resolve_tool_listing("full", 5000) == "full" and resolve_tool_listing("compact", 10) == "compact"
    assert resolve_tool_listing("names", 5000) == "names" and resolve_tool_listing("compact", 5000) == "compact"
    with pytest.raises(UserError, match="unknown tool listing"):
        resolve_tool_listing("tiny", 10)


def test_the_cli_offers_every_tool_listing() -> None:
    """The CLI spells its choices out (importing the agent layer would slow every command's start); they must be
    ``auto`` and :data:`TOOL_LISTINGS`, no more, no fewer."""
    from agent_sdk.agent.prompting import TOOL_LISTINGS
    from agent_sdk.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    tune = sub.choices["tune"]
    listing = next(a for a in tune._actions if "--tool-listing" in a.option_strings)
    assert tuple(listing.choices) == ("auto", *TOOL_LISTINGS)


def test_a_format_that_lists_its_own_tools_records_the_full_listing() -> None:
    """FunctionGemma's prompt declares the tools its own way whatever the listing: a tune records ``full`` for it
    (the listing its prompt keeps), so the manifest never claims a names-only prompt the model did not see."""
    from agent_sdk.agent.call_format import HERMES
    from agent_sdk.agent.functiongemma_format import FUNCTIONGEMMA
    from agent_sdk.agent.prompting import system_prompt
    from agent_sdk.agent.qwen_format import QWEN
    from agent_sdk.tune.pipeline import listing_is_ignored

    specs = [{"name": "set_timer", "description": "Start a timer.",
              "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}}}]
    assert listing_is_ignored(FUNCTIONGEMMA, specs, None)
    assert system_prompt(specs, call_format=FUNCTIONGEMMA, tool_listing="names") == \
        system_prompt(specs, call_format=FUNCTIONGEMMA, tool_listing="full")
    for fmt in (HERMES, QWEN):
        assert not listing_is_ignored(fmt, specs, None)
        assert system_prompt(specs, call_format=fmt, tool_listing="names") != \
            system_prompt(specs, call_format=fmt, tool_listing="full")
    assert not listing_is_ignored(FUNCTIONGEMMA, [], None)


def test_tool_specs_refuse_two_tools_of_one_name() -> None:
    """An agent refuses a tool set with a name twice; so does a tune (one name would be taught for two tools)."""
    from agent_sdk import tool
    from agent_sdk.errors import ToolDefinitionError
    from agent_sdk.tune.pipeline import tool_specs

    @tool
    def lights_on(room: str) -> str:
        """Turn on the lights.

        Args:
            room: Which room.
        """
        return room

    raw = {"type": "function", "function": {"name": "lights_on", "description": "Switch lamps on.",
                                            "parameters": {"type": "object", "properties": {}}}}
    other = {"type": "function", "function": {"name": "set_timer", "description": "Start a timer.",
                                              "parameters": {"type": "object", "properties": {}}}}
    assert [s["name"] for s in tool_specs([lights_on, other])] == ["lights_on", "set_timer"]
    for tools in ([lights_on, raw], [raw, other, raw], [lights_on, lights_on]):
        with pytest.raises(ToolDefinitionError, match="a tool named 'lights_on' is already registered") as caught:
            tool_specs(tools)
        assert caught.value.problems == (
            "a tool named 'lights_on' is already registered; give one of them another name",)


def test_a_tool_whose_right_calls_score_lower_gets_a_lower_threshold_never_a_higher_one() -> None:
    # go_to's 20 right calls score -6.0 to -4.1, turn's 20 -0.95 to 0; one threshold for all keeps 95% of the 40.
    go = [(-6.0 + 0.1 * i, True, True) for i in range(20)]
    turn = [(-0.95 + 0.05 * i, True, True) for i in range(20)]
    negatives = [(-7.0, False, False), (-8.0, False, False), (-2.0, False, False)]
    points = [*go, *turn, *negatives]
    called = [["go_to"]] * 20 + [["turn"]] * 20 + [["go_to"], ["go_to"], ["turn"]]
    threshold = choose_threshold(points)[0]
    assert threshold == pytest.approx(-5.8, abs=2e-3)  # the third lowest of the 40
    assert choose_tool_thresholds(points, called, threshold) == {}  # 0.1 nat lower: not far enough to count
    per_tool = choose_tool_thresholds(points, called, threshold, margin=0.0)
    # go_to's own edge is its second lowest of 20 (-5.9), and still declines both negatives its calls drew; turn's
    # own threshold would be higher than the rule's: none.
    assert per_tool == {"go_to": pytest.approx(-5.9, abs=2e-3)} and per_tool["go_to"] < threshold
    low = [(-9.0 + 0.1 * i, True, True) for i in range(20)]
    per_tool = choose_tool_thresholds([*low, *turn], [["go_to"]] * 20 + [["turn"]] * 20, -3.0)
    assert per_tool == {"go_to": pytest.approx(-8.9, abs=2e-3)}  # its own 95% edge, though no negative drew it
    # The rule before 2026-12-08 went 1 nat under the lowest call when that declined as many (here: none to decline).
    assert choose_tool_thresholds([*low, *turn], [["go_to"]] * 20 + [["turn"]] * 20, -3.0,
                                  under_every_call=True) == {"go_to": pytest.approx(-10.0)}
    assert choose_tool_thresholds(low[:10], [["go_to"]] * 10, -3.0) == {}  # too few right calls
    assert choose_tool_thresholds(low, [["go_to", "turn"]] * 20, -3.0) == {}  # two calls: the rule's threshold
    assert choose_tool_thresholds(low, [["go_to"]] * 20, -8.6) == {}  # 1.4 nats under: the rule's threshold
    with pytest.raises(ValueError):
        choose_tool_thresholds(low, [["go_to"]] * 19, -3.0)  # misaligned
