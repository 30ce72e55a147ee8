"""The agent loop over a scripted backend: what it runs, sends back and reports.

The backend here is scripted (it returns prepared steps); the model path
itself is tested with the real SmolLM2 in tests/integration/test_agent_real.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_sdk.agent import (
    Agent,
    CallPolicy,
    FinalAnswer,
    ModelOutputError,
    RunStats,
    StepResult,
    TokenDelta,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.agent.backends import Backend, StepRequest, StepStream
from agent_sdk.agent.conversation import answered_calls, assistant_message, render_messages
from agent_sdk.errors import UserError
from agent_sdk.tools import tool

pytestmark = pytest.mark.unit


@tool
def get_weather(city: str) -> dict:
    """Get the weather.

    Args:
        city: The city.
    """
    if city == "Atlantis":
        raise RuntimeError("no such city")
    return {"city": city, "temperature": 21}


@tool(requires_confirmation=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"


class ScriptedBackend:
    """Returns prepared steps in order and records what each step was given."""

    def __init__(self, steps: list[StepResult]) -> None:
        self.steps = list(steps)
        self.seen: list[dict[str, Any]] = []

    def step(self, request: StepRequest) -> StepStream:
        self.seen.append({"messages": [dict(m) for m in request.messages], "tools": [t["name"] for t in request.tools],
                          "choice": request.policy.tool_choice, "prefix": request.answer_prefix,
                          "system": request.system})
        result = self.steps.pop(0)
        if result.text:
            yield TokenDelta(result.text)
        return result


def calling(*calls: ToolCall, **kw: Any) -> StepResult:
    msg = assistant_message("", [(c.id, c.name, c.arguments) for c in calls])
    return StepResult(list(calls), "", msg, RunStats(steps=1, generated_tokens=10, prompt_tokens=50), attempted=True, **kw)


def answering(text: str) -> StepResult:
    return StepResult([], text, assistant_message(text), RunStats(steps=1, generated_tokens=5, prompt_tokens=80))


def test_scripted_backend_is_a_backend() -> None:
    assert isinstance(ScriptedBackend([]), Backend)


def test_call_then_answer_runs_the_tool_and_sends_the_result_back() -> None:
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_a")
    backend = ScriptedBackend([calling(call), answering("It is 21 degrees.")])
    agent = Agent(backend, tools=[get_weather], system="Be brief.")
    events = list(agent.stream("Weather in Paris?"))
    kinds = [type(e) for e in events]
    assert kinds == [ToolCallEvent, ToolResultEvent, TokenDelta, FinalAnswer]
    result = events[-1].result  # type: ignore[union-attr]
    assert result.text == "It is 21 degrees." and result.steps == 2
    assert result.calls[0][1].ok and result.calls[0][1].content == {"city": "Paris", "temperature": 21}
    assert result.stats.generated_tokens == 15 and result.stats.prompt_tokens == 130
    # The second step saw the call and its result, and was asked to answer (followup "none").
    second = backend.seen[1]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][2]["tool_call_id"] == "call_a"
    assert '"temperature": 21' in second["messages"][2]["content"]
    assert second["choice"] == "none" and second["prefix"] == "According to get_weather, "
    assert backend.seen[0]["choice"] == "auto" and backend.seen[0]["system"] == "Be brief."


def test_tool_exception_goes_back_as_an_observation() -> None:
    call = ToolCall("get_weather", {"city": "Atlantis"}, id="call_b")
    backend = ScriptedBackend([calling(call), answering("Sorry.")])
    result = Agent(backend, tools=[get_weather]).run("Weather in Atlantis?")
    outcome = result.calls[0][1]
    assert not outcome.ok and "no such city" in (outcome.error or "")
    tool_msg = backend.seen[1]["messages"][2]
    assert tool_msg["content"].startswith("Error:")
    assert backend.seen[1]["prefix"] == ""  # a failure is explained in the model's own words


def test_invalid_arguments_are_an_observation_not_a_crash() -> None:
    call = ToolCall("get_weather", {"town": "Paris"}, id="call_c")
    result = Agent(ScriptedBackend([calling(call), answering("?")]), tools=[get_weather]).run("x")
    assert not result.calls[0][1].ok and "city" in (result.calls[0][1].error or "")


def test_rejected_call_is_not_run() -> None:
    call = ToolCall("get_weather", {"_raw": "not json"}, id="call_d")
    step = calling(call, rejected={"call_d": "arguments are not a JSON object"})
    result = Agent(ScriptedBackend([step, answering("ok")]), tools=[get_weather]).run("x")
    assert result.calls[0][1].error == "arguments are not a JSON object"
    assert result.errors == ["get_weather: arguments are not a JSON object"]


def test_confirmation_is_asked_and_refusal_is_an_observation() -> None:
    call = ToolCall("delete_file", {"path": "/tmp/x"}, id="call_e")
    asked: list[ToolCall] = []
    agent = Agent(ScriptedBackend([calling(call), answering("Not deleted.")]), tools=[delete_file],
                  confirm=lambda c: asked.append(c) is not None)
    result = agent.run("delete /tmp/x")
    assert asked == [call] and "declined" in (result.calls[0][1].error or "")
    agent = Agent(ScriptedBackend([calling(call), answering("Deleted.")]), tools=[delete_file], confirm=lambda c: True)
    assert agent.run("delete /tmp/x").calls[0][1].content == "deleted /tmp/x"


def test_max_steps_bounds_a_model_that_keeps_calling() -> None:
    steps = [calling(ToolCall("get_weather", {"city": f"C{i}"}, id=f"call_{i}")) for i in range(3)]
    agent = Agent(ScriptedBackend(steps), tools=[get_weather], max_steps=3, followup_choice="auto")
    result = agent.run("x")
    assert result.steps == 3 and len(result.calls) == 3 and result.text == ""


def test_model_output_errors_are_yielded() -> None:
    bad = StepResult([], "<tool_call>{oops", {"role": "assistant", "content": "<tool_call>{oops"},
                     RunStats(steps=1), errors=[ModelOutputError("bad call", "{oops")], attempted=True)
    events = list(Agent(ScriptedBackend([bad]), tools=[get_weather]).stream("x"))
    assert any(isinstance(e, ModelOutputError) for e in events)
    assert events[-1].result.errors == ["bad call"]  # type: ignore[union-attr]


def test_tool_choice_is_checked_and_passed_on() -> None:
    with pytest.raises(UserError):
        Agent(ScriptedBackend([]), tools=[get_weather], tool_choice="no_such_tool")
    backend = ScriptedBackend([answering("hi")])
    Agent(backend, tools=[get_weather], policy=CallPolicy(tool_choice="get_weather")).run("x")
    assert backend.seen[0]["choice"] == "get_weather"


def test_history_renders_calls_and_results_in_the_call_format() -> None:
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_f")
    agent = Agent(ScriptedBackend([calling(call), answering("21.")]), tools=[get_weather])
    agent.run("Weather in Paris?")
    rendered = render_messages(agent.messages)
    assert rendered[1]["content"] == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert rendered[2]["content"].startswith("<tool_response>\n") and rendered[2]["content"].endswith("\n</tool_response>")
    assert answered_calls(agent.messages) == [("get_weather", {"city": "Paris"})]


def test_answered_calls_need_a_result() -> None:
    msgs = [{"role": "user", "content": "x"},
            assistant_message("", [("c1", "f", {"a": 1}), ("c2", "g", {})]),
            {"role": "tool", "tool_call_id": "c1", "content": "done"}]
    assert answered_calls(msgs) == [("f", {"a": 1})]
    assert answered_calls(msgs[:2]) == []


def test_a_call_answered_in_an_earlier_turn_can_be_made_again() -> None:
    on = ("turn_on", {"room": "kitchen"})
    msgs = [{"role": "user", "content": "lights on"}, assistant_message("", [("c1", *on)]),
            {"role": "tool", "tool_call_id": "c1", "content": "on"}, assistant_message("Done."),
            {"role": "user", "content": "lights on again please"}]
    assert answered_calls(msgs) == []  # a new request, not a repeat
    msgs += [assistant_message("", [("c2", *on)]), {"role": "tool", "tool_call_id": "c2", "content": "on"}]
    assert answered_calls(msgs) == [on]


def test_constrain_switches_the_local_backend() -> None:
    from agent_sdk.agent import LocalBackend

    agent = Agent(LocalBackend(None, constrain=True), tools=[get_weather])  # type: ignore[arg-type]
    agent.constrain = False  # what `/constrain off` in agent-sdk chat does
    assert isinstance(agent.backend, LocalBackend) and agent.backend.constrain is False and agent.constrain is False
    with pytest.raises(UserError):
        Agent(ScriptedBackend([]), tools=[get_weather]).constrain = False
