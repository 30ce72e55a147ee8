"""The server's request validation and message rendering, without a model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.prompting import DEFAULT_SYSTEM, system_prompt
from agent_sdk.server import APIError, chat_messages

pytestmark = pytest.mark.unit

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_history_renders_as_the_agent_writes_it() -> None:
    """A client's round trip reads to the model exactly like the agent's own history."""
    args = {"city": "Paris"}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(args)}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
    ]
    assert chat_messages(messages, [WEATHER]) == [
        {"role": "system", "content": system_prompt([WEATHER], "Be brief.")},
        {"role": "user", "content": "Weather in Paris?"},
        # What the call grammar emits, and what Agent stores for a constrained call.
        {"role": "assistant", "content": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'},
        {"role": "tool", "content": HERMES.render_result('{"temperature": 21}')},
    ]
    assert HERMES.render_calls([("get_weather", args)]) == chat_messages(messages, [WEATHER])[2]["content"]


def test_system_prompt_placement() -> None:
    user = {"role": "user", "content": "hi"}
    # No tools and no system message: the model's template adds its own default.
    assert chat_messages([user], []) == [user]
    # Tools without a system message: the agent's default instructions, then the tools.
    assert chat_messages([user], [WEATHER])[0]["content"] == system_prompt([WEATHER], None)
    assert chat_messages([user], [WEATHER])[0]["content"].startswith(DEFAULT_SYSTEM)
    # Leading system and developer messages merge; a later one stays where it is.
    out = chat_messages([{"role": "developer", "content": "A."}, {"role": "system", "content": "B."}, user,
                         {"role": "system", "content": "C."}], [])
    assert out == [{"role": "system", "content": "A.\n\nB."}, user, {"role": "system", "content": "C."}]


def test_text_parts_and_assistant_text_with_calls() -> None:
    out = chat_messages([
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]},
    ], [])
    assert out[0]["content"] == "one\ntwo"
    assert out[1]["content"] == "Let me check.\n" + HERMES.render_calls([("f", {})])


@pytest.mark.parametrize(("messages", "fragment"), [
    (None, "'messages' is required"),
    ([], "non-empty"),
    ("hello", "non-empty"),
    ([42], "messages[0] must be an object"),
    ([{"role": "wizard", "content": "x"}], "messages[0].role"),
    ([{"content": "x"}], "messages[0].role"),
    ([{"role": "user", "content": 5}], "messages[0].content"),
    ([{"role": "user", "content": [{"type": "image_url"}]}], "only text parts"),
    ([{"role": "assistant", "tool_calls": "x"}], "tool_calls must be a list"),
    ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}], "not valid JSON"),
    ([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}], "tool_calls[0]"),
    ([{"role": "assistant", "tool_calls": [{"id": 7, "function": {"name": "f", "arguments": "{}"}}]}], "tool_calls[0]"),
    ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": '{"a": NaN}'}}]}], "not valid JSON"),
    ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[" * 5000}}]}], "deeper than"),
    # Tool results must answer a call of the assistant message just before them.
    ([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "c", "content": "x"}],
     "messages[1] is a tool result, but the message before it made no tool call"),
    ([{"role": "tool", "content": "x"}], "messages[0] is a tool result"),
    ([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "b", "content": "x"}], "messages[1].tool_call_id 'b' matches no call of messages[0]"),
    ([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "user", "content": "?"}, {"role": "tool", "tool_call_id": "a", "content": "x"}], "messages[2] is a tool result"),
    ([{"role": "assistant", "content": "no calls"}, {"role": "tool", "content": "x"}], "messages[1] is a tool result"),
    ([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": ["a"], "content": "x"}], "messages[1].tool_call_id must be a string"),
])
def test_malformed_messages_raise_400(messages: Any, fragment: str) -> None:
    with pytest.raises(APIError) as exc:
        chat_messages(messages, [])
    assert exc.value.status == 400 and fragment in exc.value.message
    body = exc.value.body()["error"]
    assert set(body) == {"message", "type", "code", "param"} and body["type"] == "invalid_request_error"


def test_tool_results_answering_the_calls_before_them() -> None:
    call = {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
    ]}
    out = chat_messages([
        {"role": "user", "content": "hi"}, call,
        {"role": "tool", "tool_call_id": "b", "content": "B"},  # any order
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},  # no ids
        {"role": "tool", "content": "C"},
    ], [])
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert out[2]["content"] == HERMES.render_result("B")


def test_a_tuned_bundles_listing_applies_to_its_own_tools_only() -> None:
    """A client sends a names-listing bundle its tuned tool and a new one: the new one is described in full."""
    lights = {"name": "turn_on_lights", "description": "Turn on the lights.",
              "parameters": {"type": "object", "properties": {"room": {"type": "string"}}}}
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    system = chat_messages(messages, [lights, WEATHER], tool_listing="names",
                           tuned_tools=frozenset({"turn_on_lights"}))[0]["content"]
    assert "turn_on_lights\nget_weather(city: string)\n  Get the weather." in system
    assert "Turn on the lights." not in system
    alone = chat_messages(messages, [lights, WEATHER], tool_listing="names")[0]["content"]
    assert "Get the weather." not in alone  # no record of the tuned tools: the listing for every tool
