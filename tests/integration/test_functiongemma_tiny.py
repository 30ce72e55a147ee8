"""An agent over a FunctionGemma-style bundle calls in FunctionGemma's own syntax (tiny random Gemma 3 weights).

The tiny checkpoint's tokenizer holds FunctionGemma's control tokens as single
special tokens, as the real model's does, so the agent picks the native format
from the vocabulary, lists the tools as declarations, and the call grammar
(llguidance, control tokens as tokens) makes even random weights write a call
that parses and validates; the tool runs and its result goes back as a
function response.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from agent_sdk.agent import Agent, LocalBackend, ToolCallEvent, ToolResultEvent
from agent_sdk.agent.backends import StepRequest, run_step
from agent_sdk.agent.functiongemma_format import CONTROL_TOKENS, FUNCTION_CALLING_PROMPT, FUNCTIONGEMMA
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.runtime import Engine
from agent_sdk.tools import tool
from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

pytestmark = pytest.mark.integration

ran: list[dict[str, object]] = []


# Random weights never end a free string or number on their own, so the tool's values are bounded: enums and a
# boolean (strings and numbers are covered against the grammar in tests/unit/test_functiongemma_format.py).
@tool
def set_alarm(day: Literal["mon", "tue", "wed"], hour: Literal[6, 7, 8], loud: bool = False) -> str:
    """Sets an alarm.

    Args:
        day: Which day.
        hour: Hour of the day.
        loud: Ring loudly.
    """
    ran.append({"day": day, "hour": hour, "loud": loud})
    return f"alarm set for {hour}:00"


@pytest.fixture(scope="module")
def fg_engine(ckpt_dir: Path, compile_bundle: Callable[..., Path]) -> Engine:
    ckpt = write_gemma3_checkpoint(ckpt_dir / "functiongemma-tiny", special_tokens=CONTROL_TOKENS)
    engine = Engine(compile_bundle(ckpt, "f32"))
    engine.eos_token_ids.clear()  # random weights: do not stop on a random EOS
    return engine


def test_the_native_format_is_picked_and_a_call_is_written_in_it(fg_engine: Engine) -> None:
    backend = LocalBackend(fg_engine)
    assert backend.call_format is FUNCTIONGEMMA
    specs = Agent(fg_engine, tools=[set_alarm]).tool_specs
    prompt = backend.prompt_text([{"role": "user", "content": "wake me at 7"}], specs, None)
    assert FUNCTION_CALLING_PROMPT + "<start_function_declaration>declaration:set_alarm{" in prompt
    policy = DEFAULT_POLICY.replace(tool_choice="required")
    step = run_step(backend.step(StepRequest([{"role": "user", "content": "wake me at 7"}], specs, policy,
                                             max_tokens=48, system=None, answer=False)))
    assert [c.name for c in step.calls] == ["set_alarm"], step
    args = step.calls[0].arguments
    assert args["day"] in ("mon", "tue", "wed") and args["hour"] in (6, 7, 8)
    assert set(args) <= {"day", "hour", "loud"} and isinstance(args.get("loud", False), bool)
    # The call as the conversation records it is the native syntax, and parses back to the same call.
    content = step.message["content"] if step.message.get("content") else ""
    rendered = FUNCTIONGEMMA.render_calls([(c.name, c.arguments) for c in step.calls])
    assert FUNCTIONGEMMA.parse(rendered).calls[0].arguments == args
    assert "<tool_call>" not in content


def test_the_agent_runs_the_call_and_feeds_back_a_function_response(fg_engine: Engine) -> None:
    ran.clear()
    agent = Agent(fg_engine, tools=[set_alarm], max_steps=2, max_tokens=96)
    events = list(agent.stream("wake me at 7", tool_choice="required"))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert calls and calls[0].name == "set_alarm"
    assert results and results[0].ok and len(ran) == len(results)
    # The next prompt holds the call and its result in FunctionGemma's syntax.
    backend = agent.backend
    assert isinstance(backend, LocalBackend)
    follow = backend.prompt_text(agent.messages, agent.tool_specs, None)
    assert "<start_function_call>call:set_alarm{day:<escape>" in follow
    assert "<start_function_response>response:set_alarm{value:<escape>alarm set for" in follow


def test_the_server_prompts_and_calls_in_the_native_syntax(fg_engine: Engine) -> None:
    """The OpenAI-compatible server renders the tools, an earlier call and its result in FunctionGemma's syntax and
    returns a schema-valid call decoded under that grammar."""
    import json

    from agent_sdk.server.service import ChatService

    service = ChatService(fg_engine)
    assert service.call_format is FUNCTIONGEMMA
    spec = Agent(fg_engine, tools=[set_alarm]).tool_specs[0]
    body = {
        "model": "x", "max_tokens": 48, "tool_choice": "required",
        "tools": [{"type": "function", "function": spec}],
        "messages": [
            {"role": "user", "content": "alarm on monday"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "set_alarm", "arguments": json.dumps({"day": "mon", "hour": 6})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "alarm set for 6:00"},
            {"role": "user", "content": "and tuesday at 7"},
        ],
    }
    req = service.parse(json.dumps(body).encode())
    prompt = fg_engine.tokenizer.decode(req.prompt_ids)
    assert FUNCTION_CALLING_PROMPT + "<start_function_declaration>declaration:set_alarm{" in prompt
    assert "<start_function_call>call:set_alarm{day:<escape>mon<escape>,hour:6}<end_function_call>" in prompt
    assert "<start_function_response>response:set_alarm{value:<escape>alarm set for 6:00<escape>}" in prompt
    with service.engine_slot():
        out = service.complete(req)
    calls = out["choices"][0]["message"]["tool_calls"]
    args = json.loads(calls[0]["function"]["arguments"])
    assert calls[0]["function"]["name"] == "set_alarm" and args["day"] in ("mon", "tue", "wed")
