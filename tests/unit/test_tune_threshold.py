"""The tuned bundle's ``auto`` threshold: the middle of the widest best range of generated requests' scores."""

from __future__ import annotations

import math

import pytest

from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.tune.pipeline import choose_threshold


def test_the_threshold_is_the_middle_of_the_gap_between_declines_and_right_calls() -> None:
    # Unservable requests score up to -6, right calls from -2: every threshold in (-6, -2] is best.
    points = [(-9.0, False, False), (-7.0, False, False), (-6.0, False, False),
              (-2.0, True, True), (-1.0, True, True), (-0.5, True, True)]
    threshold, calls, declines = choose_threshold(points)
    assert threshold == pytest.approx(-4.0)
    assert (calls, declines) == (1.0, 1.0)


def test_a_plateau_over_several_intervals_takes_its_middle_not_its_edge() -> None:
    # Wrong calls between the classes do not count either way: the best range runs from -6 to -1.
    points = [(-8.0, False, False), (-6.0, False, False), (-5.0, True, False), (-3.0, True, False),
              (-1.0, True, True), (0.0, True, True)]
    threshold, calls, declines = choose_threshold(points)
    assert threshold == pytest.approx(-3.5)
    assert (calls, declines) == (0.5, 1.0)  # right calls as a share of all tool requests


def test_overlapping_classes_trade_one_share_against_the_other() -> None:
    # One decline is worth 1/2 and one right call 1/4: declining both negatives costs one right call.
    points = [(-5.0, True, True), (-4.0, False, False), (-3.0, False, False),
              (-2.0, True, True), (-1.0, True, True), (0.0, True, True)]
    threshold, calls, declines = choose_threshold(points)
    assert -3.0 < threshold <= -2.0
    assert (calls, declines) == (0.75, 1.0)


def test_the_widest_of_two_equally_good_ranges_wins() -> None:
    # Best value 1.5 twice: below the lone right call at -9 (width 1) and between -4 and 0 (width 4).
    points = [(-9.0, True, True), (-8.0, False, False), (-4.0, False, False), (0.0, True, True),
              (1.0, True, False)]
    threshold, _, declines = choose_threshold(points)
    assert threshold == pytest.approx(-2.0)
    assert declines == 1.0


def test_no_scores_keep_the_sdk_threshold() -> None:
    assert choose_threshold([])[0] == DEFAULT_POLICY.auto.threshold
    points = [(-math.inf, False, False), (-math.inf, True, False)]
    threshold, calls, declines = choose_threshold(points)
    assert threshold == DEFAULT_POLICY.auto.threshold
    assert (calls, declines) == (0.0, 1.0)


def test_without_unservable_requests_every_right_call_is_kept() -> None:
    points = [(-3.0, True, True), (-1.0, True, True), (2.0, True, False)]
    threshold, calls, _ = choose_threshold(points)
    assert threshold < -3.0
    assert calls == pytest.approx(2 / 3)  # the wrong call counts as a tool request not served


def test_auto_tool_listing_is_compact_only_for_long_prompts() -> None:
    """``--tool-listing auto``: the home tools' 469-token prompt stays full, the cabin's 1,075 tokens go compact."""
    from agent_sdk.errors import UserError
    from agent_sdk.tune.pipeline import COMPACT_ABOVE_TOKENS, resolve_tool_listing

    assert resolve_tool_listing("auto", 469) == "full"
    assert resolve_tool_listing("auto", COMPACT_ABOVE_TOKENS) == "full"
    assert resolve_tool_listing("auto", COMPACT_ABOVE_TOKENS + 1) == "compact"
    assert resolve_tool_listing("auto", 1075) == "compact"
    assert resolve_tool_listing("full", 5000) == "full" and resolve_tool_listing("compact", 10) == "compact"
    with pytest.raises(UserError, match="unknown tool listing"):
        resolve_tool_listing("tiny", 10)
