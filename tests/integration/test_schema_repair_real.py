"""One unusable tool schema no longer breaks a request, an agent run or an evaluation (real model, real grammar)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_sdk.agent import Agent, LocalBackend
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.agent.step import decode_calls
from agent_sdk.constrain.grammar import GrammarError
from agent_sdk.errors import ToolSchemaWarning
from agent_sdk.eval import run_bfcl
from agent_sdk.runtime import Engine
from agent_sdk.tools import ToolRegistry

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

TICKETS = {"name": "buy_tickets", "description": "Buy tickets for an event.", "parameters": {
    "type": "object", "required": ["event", "number_of_tickets"],
    "properties": {"event": {"type": "string"},
                   "number_of_tickets": {"type": "integer", "enum": [str(i) for i in range(1, 10)]}}}}
IMPOSSIBLE = {"name": "lookup_code", "description": "Look up a code.", "parameters": {
    "type": "object", "required": ["code"], "properties": {"code": {"type": "string", "minLength": 5, "maxLength": 2}}}}
WEATHER = {"name": "get_weather", "description": "Get the weather in a city.", "parameters": {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}


def _prompt(engine: Engine, request: str, tools: list[dict]) -> list[int]:
    return engine.tokenizer.encode(LocalBackend(engine).prompt_text([{"role": "user", "content": request}], tools, None))


def test_string_enum_on_an_integer_is_repaired(smollm2_engine: Engine) -> None:
    tools = [TICKETS]
    policy = DEFAULT_POLICY.replace(tool_choice="required", parallel=False)
    with pytest.warns(ToolSchemaWarning, match="number_of_tickets"):
        step = decode_calls(smollm2_engine, _prompt(smollm2_engine, "Buy 3 tickets for the Coldplay concert", tools),
                            tools, policy=policy, max_tokens=64, request="Buy 3 tickets for the Coldplay concert")
    assert len(step.calls) == 1 and step.calls[0][0] == "buy_tickets"
    assert step.calls[0][1]["number_of_tickets"] in range(1, 10)  # an integer, as declared


def test_an_impossible_tool_is_left_out_and_the_others_stay_callable(smollm2_engine: Engine) -> None:
    tools = [IMPOSSIBLE, WEATHER]
    policy = DEFAULT_POLICY.replace(tool_choice="required", parallel=False)
    request = "What's the weather in Paris?"
    with pytest.warns(ToolSchemaWarning, match="lookup_code.*left out"):
        step = decode_calls(smollm2_engine, _prompt(smollm2_engine, request, tools), tools, policy=policy,
                            max_tokens=64, request=request)
    assert step.calls == [("get_weather", {"city": "Paris"})]
    with pytest.raises(GrammarError, match="lookup_code"):
        decode_calls(smollm2_engine, _prompt(smollm2_engine, request, tools), tools,
                     policy=policy.replace(strict_tools=True), max_tokens=64, request=request)
    with pytest.warns(ToolSchemaWarning), pytest.raises(GrammarError, match="no tool can be constrained"):
        decode_calls(smollm2_engine, _prompt(smollm2_engine, request, [IMPOSSIBLE]), [IMPOSSIBLE], policy=policy,
                     max_tokens=64, request=request)


def test_agent_runs_with_a_broken_tool_beside_a_good_one(smollm2_engine: Engine) -> None:
    registry = ToolRegistry.from_openai([{"type": "function", "function": t} for t in (IMPOSSIBLE, WEATHER)])
    with pytest.warns(ToolSchemaWarning):
        result = Agent(smollm2_engine, tools=registry, tool_choice="required", max_steps=1).run("Weather in Rome?")
    assert [c.name for c, _ in result.calls] == ["get_weather"]


def test_evaluation_records_a_question_it_cannot_run_and_goes_on(smollm2_engine: Engine, tmp_path: Path) -> None:
    rows = [
        {"id": "simple_python_0", "question": [[{"role": "user", "content": "Look up the code abc."}]],
         "function": [{"name": "lookup_code", "description": "Look up a code.", "parameters": {
             "type": "dict", "required": ["code"], "properties": {"code": {"type": "string", "enum": []}}}}]},
        {"id": "simple_python_1", "question": [[{"role": "user", "content": "What's the weather in Oslo?"}]],
         "function": [{"name": "get_weather", "description": "Get the weather.", "parameters": {
             "type": "dict", "required": ["city"], "properties": {"city": {"type": "string"}}}}]},
    ]
    (tmp_path / "BFCL_v4_simple_python.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "results.jsonl"
    summary = run_bfcl(smollm2_engine, tmp_path, categories=["simple_python"], out=out,
                       policy=DEFAULT_POLICY.replace(tool_choice="required"))
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert summary.questions == 2 and summary.failed == 1
    assert lines[0]["calls"] == [] and "lookup_code" in lines[0]["error"]
    assert lines[1]["calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
