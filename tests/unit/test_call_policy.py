"""The call policy and the post-steps that need no model: decisions on prepared drafts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from agent_sdk.agent.auto import AutoRule, call_score
from agent_sdk.agent.call_format import HERMES, HermesFormat
from agent_sdk.agent.call_stages import (
    CallContext,
    CallDraft,
    auto_decision,
    conjoined,
    dedupe,
    parse,
    said,
    skip_answered,
    state_question,
)
from agent_sdk.agent.conversation import assistant_message, render_messages
from agent_sdk.agent.policy import DEFAULT_POLICY, DEFAULT_POST_STEPS, CallPolicy
from agent_sdk.errors import UserError
from agent_sdk.runtime.engine import Generation

pytestmark = pytest.mark.unit

TOOLS = [{"name": "get_weather", "description": "Get the weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def ctx(choice: str = "auto", answered: list[tuple[str, Any]] | None = None, request: str = "weather in Paris",
        policy: CallPolicy = DEFAULT_POLICY) -> CallContext:
    # The post-steps under test read the choice, the request, the tools and the policy only.
    return CallContext(engine=None, prompt_ids=[], tools=TOOLS, choice=choice, max_tokens=64,  # type: ignore[arg-type]
                       policy=policy, call_format=HERMES, request=request, answered=answered or [],
                       grammar_engine=None, grammar="")  # type: ignore[arg-type]


def draft(calls: list[tuple[str, dict[str, Any]]], logprobs: list[float] | None = None) -> CallDraft:
    text = HERMES.render_calls(calls)
    return CallDraft(text=text, generation=Generation(text, [], "stop", logprobs=logprobs), calls=calls,
                     forced=[False] * len(logprobs or []))


def test_policy_is_frozen_and_replace_copies() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.tool_choice = "required"  # type: ignore[misc]
    p = DEFAULT_POLICY.replace(tool_choice="required", rerank=None)
    assert p.tool_choice == "required" and p.rerank is None and DEFAULT_POLICY.rerank is not None
    with pytest.raises(UserError):
        CallPolicy(parallel_bias=-1)
    assert DEFAULT_POLICY.active_post_steps() == DEFAULT_POST_STEPS
    assert skip_answered not in DEFAULT_POLICY.replace(skip_answered=False).active_post_steps()
    assert said in DEFAULT_POST_STEPS and said not in DEFAULT_POLICY.replace(spoken_values=False).active_post_steps()
    assert conjoined in DEFAULT_POST_STEPS
    assert conjoined not in DEFAULT_POLICY.replace(conjoined=False).active_post_steps()
    assert state_question in DEFAULT_POST_STEPS
    assert state_question not in DEFAULT_POLICY.replace(state_questions=False).active_post_steps()
    assert DEFAULT_POLICY.with_threshold(None) is DEFAULT_POLICY
    stricter = DEFAULT_POLICY.with_threshold(-1.0)
    assert stricter.auto.threshold == -1.0 and stricter.auto.coverage_weight == DEFAULT_POLICY.auto.coverage_weight


def test_a_call_already_answered_does_not_win_in_auto() -> None:
    call = ("get_weather", {"city": "Paris"})
    out = skip_answered(ctx(answered=[call]), draft([call]))
    assert out.calls == [] and out.declined and out.reason == "answered"
    # A new call next to the repeat survives; key order does not make a call new.
    out = skip_answered(ctx(answered=[call]), draft([call, ("get_weather", {"city": "Rome"})]))
    assert out.calls == [("get_weather", {"city": "Rome"})] and not out.declined
    # `required` asked for a call: it is kept.
    assert skip_answered(ctx("required", answered=[call]), draft([call])).calls == [call]


def test_a_question_about_a_state_calls_no_tool_that_changes_it() -> None:
    """ "is the trunk open" is not "open the trunk"; a tool that reads may answer it; forced calls stay."""
    trunk = [("open_trunk", {})]
    out = state_question(ctx(request="hey, is the trunk open?"), draft(trunk))
    assert out.calls == [] and out.declined and out.reason == "state_question"
    assert state_question(ctx(request="open the trunk"), draft(trunk)).calls == trunk
    assert state_question(ctx(request="is it possible to open the trunk"), draft(trunk)).calls == trunk
    assert state_question(ctx(request="is the trunk open? if not open it"), draft(trunk)).calls == trunk
    assert state_question(ctx(choice="required", request="is the trunk open"), draft(trunk)).calls == trunk
    reads = [("check_range", {})]
    assert state_question(ctx(request="is the tank nearly empty"), draft(reads)).calls == reads
    status = [("lock_status", {})]
    assert state_question(ctx(request="is the front door locked"), draft(status)).calls == status
    # Of mixed calls the reading one stays; a verb-named pure function that names nothing asked about stays too.
    mixed = [("open_trunk", {}), ("get_trunk_state", {})]
    assert state_question(ctx(request="is the trunk open"), draft(mixed)).calls == [("get_trunk_state", {})]
    add = [("add", {"a": 5, "b": 3})]
    assert state_question(ctx(request="does 5 plus 3 equal 8"), draft(add)).calls == add
    assert state_question(ctx(request="is the trunk open"), draft(trunk)).declined
    assert not state_question(ctx(request="is the trunk open", policy=DEFAULT_POLICY), draft([])).declined


def test_dedupe_drops_verbatim_repeats() -> None:
    call = ("get_weather", {"city": "Paris"})
    assert dedupe(ctx(), draft([call, call])).calls == [call]


def test_auto_decision_uses_the_rule() -> None:
    call = ("get_weather", {"city": "Paris"})
    lps = [-0.1, -0.2, -0.3]
    strict = DEFAULT_POLICY.replace(auto=AutoRule(threshold=10.0))
    out = auto_decision(ctx(policy=strict), draft([call], lps))
    assert out.declined and out.calls == [] and out.reason == "unlikely"
    lenient = DEFAULT_POLICY.replace(auto=AutoRule(threshold=-100.0))
    out = auto_decision(ctx(policy=lenient), draft([call], lps))
    assert not out.declined and out.calls == [call] and out.score is not None
    # `required` is never scored.
    assert auto_decision(ctx("required", policy=strict), draft([call], lps)).score is None


def test_a_tool_s_own_threshold_decides_a_single_call_to_it() -> None:
    call = ("get_weather", {"city": "Paris"})
    lps = [-0.1, -0.2, -0.3]
    score = auto_decision(ctx(policy=DEFAULT_POLICY.with_threshold(-100.0)), draft([call], lps)).score
    assert score is not None
    rule = AutoRule(threshold=score + 1.0, tool_thresholds=(("get_weather", score - 1.0), ("other", -9.0)))
    assert rule.threshold_for(["get_weather"]) == score - 1.0 and rule.threshold_for(["nope"]) == score + 1.0
    assert rule.threshold_for(["get_weather", "get_weather"]) == score + 1.0  # two calls: the rule's own
    out = auto_decision(ctx(policy=DEFAULT_POLICY.replace(auto=rule)), draft([call], lps))
    assert not out.declined and out.calls == [call]
    assert out.scored == ("get_weather",)  # what calibration groups by: the names the rule looked up
    out = auto_decision(ctx(policy=DEFAULT_POLICY.replace(auto=rule)), draft([call, call], lps))
    assert out.declined and out.calls == [] and out.scored == ("get_weather", "get_weather")
    with pytest.raises(ValueError, match="at most"):
        AutoRule(threshold=-3.0, tool_thresholds=(("get_weather", -2.0),))


def test_a_bundle_s_tool_thresholds_come_with_its_threshold_and_go_with_the_caller_s() -> None:
    from agent_sdk.errors import BundleError

    manifest = {"policy": {"auto_threshold": -3.4, "auto_tool_thresholds": {"go_to": -5.9, "drive": -4.0}}}
    rule = DEFAULT_POLICY.for_bundle(manifest).auto
    assert rule.threshold == -3.4 and rule.tool_thresholds == (("drive", -4.0), ("go_to", -5.9))
    assert DEFAULT_POLICY.for_bundle(manifest).with_threshold(-2.0).auto.tool_thresholds == ()
    assert DEFAULT_POLICY.with_threshold(-1.5).for_bundle(manifest).auto.tool_thresholds == ()
    for bad in ([-5.9], {"go_to": "low"}, {"go_to": True}, {"go_to": float("nan")}, {"go_to": -1.0}, {"go_to": None}):
        with pytest.raises(BundleError, match="auto"):
            DEFAULT_POLICY.for_bundle({"policy": {"auto_threshold": -3.4, "auto_tool_thresholds": bad}})


def test_auto_rule_score_matches_call_score() -> None:
    rule = AutoRule(start_weight=0.2, free_weight=0.8, coverage_weight=1.0, relevance_weight=2.0,
                    relevance_saturation=1.0, threshold=-1.0)
    lps, forced = [-1.0, -0.5, -0.1, -2.0], [False, True, False, False]
    expected = 0.2 * -1.0 + 0.8 * ((-1.0 - 0.1 - 2.0) / 3) + 1.0 * (0.5 - 1) + 2.0 * (0.25 - 1)
    assert rule.score(lps, forced, coverage=0.5, relevance=0.25) == pytest.approx(expected)
    # Saturated: an overlap of half the saturation counts half; at or above it, in full.
    sat = dataclasses.replace(rule, relevance_saturation=0.5)
    assert sat.score(lps, forced, coverage=0.5, relevance=0.25) == pytest.approx(expected + 2.0 * 0.25)
    assert sat.score(lps, forced, coverage=0.5, relevance=0.9) == sat.score(lps, forced, coverage=0.5, relevance=0.5)
    with pytest.raises(ValueError):
        AutoRule(relevance_saturation=0.0)
    assert call_score([], []) == float("-inf")


def test_hermes_format_round_trips_its_own_calls() -> None:
    from agent_sdk.agent.parsing import parse_calls

    calls = [("get_weather", {"city": "Zürich"}), ("get_weather", {"city": "Paris"})]
    text = HERMES.render_calls(calls)
    assert [(c.name, dict(c.arguments)) for c in parse_calls(text, formats=("hermes",)).calls] == calls
    assert HERMES.current_tool(text[: HERMES.last_arguments_start(text)]) == "get_weather"
    assert HERMES.ends_call(text) and not HERMES.ends_call(text[:-3])
    assert text[HERMES.arguments_start(text):].startswith('{"city": "Zürich"}')
    assert HERMES.open_tag in HERMES.instructions and HERMES.close_tag in HERMES.instructions


@dataclass(frozen=True)
class TaggedFormat(HermesFormat):
    """A family that writes the same JSON inside other tags (how a new format plugs in)."""

    name: str = "tagged"
    open: str = "<function_call>\n"
    close: str = "\n</function_call>"
    result_open: str = "<function_result>"
    result_close: str = "</function_result>"


def test_another_call_format_flows_through_grammar_parse_and_stages() -> None:
    fmt = TaggedFormat()
    calls = [("get_weather", {"city": "Paris"})]
    text = fmt.render_calls(calls)
    assert text.startswith("<function_call>\n") and text.endswith("\n</function_call>")
    assert [(c.name, dict(c.arguments)) for c in fmt.parse(text).calls] == calls
    assert HERMES.parse(text).calls == []  # Hermes tags are not these
    grammar = fmt.grammar(TOOLS)
    assert '"<function_call>\\n"' in grammar and "<tool_call>" not in grammar
    assert "<function_call>" in fmt.instructions and fmt.render_result("21") == "<function_result>21</function_result>"
    c = dataclasses.replace(ctx(), call_format=fmt)
    out = parse(c, CallDraft(text=text, generation=Generation(text, [], "stop")))
    assert out.calls == calls
    rendered = render_messages([assistant_message("", [("c1", "get_weather", {"city": "Paris"})]),
                                {"role": "tool", "tool_call_id": "c1", "content": "21"}], fmt)
    assert rendered[0]["content"] == text and rendered[1]["content"] == "<function_result>21</function_result>"


def test_a_tuned_bundle_threshold_applies_only_to_the_default_rule() -> None:
    from agent_sdk.agent.policy import DEFAULT_POLICY

    manifest = {"policy": {"auto_threshold": -3.4}}
    assert DEFAULT_POLICY.for_bundle(manifest).auto.threshold == -3.4
    assert DEFAULT_POLICY.for_bundle({"name": "base"}) is DEFAULT_POLICY
    assert DEFAULT_POLICY.for_bundle(None) is DEFAULT_POLICY
    mine = DEFAULT_POLICY.with_threshold(-1.5)
    assert mine.for_bundle(manifest).auto.threshold == -1.5  # the caller's own threshold wins
    assert DEFAULT_POLICY.replace(tool_choice="required").for_bundle(manifest).tool_choice == "required"


@pytest.mark.parametrize("command", ["run", "serve", "eval"])
def test_the_command_line_builds_the_policy(command: str) -> None:
    from agent_sdk.cli import _policy, build_parser

    extra = ["bfcl", "--data", "x"] if command == "eval" else []
    args = build_parser().parse_args([command, *extra, "--strict-tools", "--no-rerank", "--auto-threshold", "-1.5",
                                      "--no-spoken-values", "--no-conjoined", "--no-follow-up",
                                      "--no-state-questions"])
    policy = _policy(args)
    assert policy.strict_tools and policy.rerank is None and policy.auto.threshold == -1.5
    assert not policy.spoken_values and _policy(build_parser().parse_args([command, *extra])).spoken_values
    assert not policy.conjoined and _policy(build_parser().parse_args([command, *extra])).conjoined
    assert not policy.follow_up and _policy(build_parser().parse_args([command, *extra])).follow_up
    assert not policy.state_questions and _policy(build_parser().parse_args([command, *extra])).state_questions
    assert not _policy(build_parser().parse_args([command, *extra])).strict_tools
