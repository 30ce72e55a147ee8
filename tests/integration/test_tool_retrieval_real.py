"""Tool retrieval with the real SmolLM2-135M: BFCL among many tools, the agent, the prefix cache, hidden states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_sdk.agent import Agent
from agent_sdk.agent.embedding_retrieval import HiddenStateRetriever
from agent_sdk.agent.retrieval import ToolRetrieval
from agent_sdk.eval import run_bfcl
from agent_sdk.eval.bfcl_data import function_to_tool, load_bfcl
from agent_sdk.eval.tool_pool import pool_functions
from agent_sdk.runtime import Engine
from agent_sdk.tools import Tool

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

BFCL = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "bfcl"
needs_bfcl = pytest.mark.skipif(not BFCL.is_dir(), reason="needs ../shared/eval/bfcl")


def _tools(count: int) -> list[Tool]:
    """BFCL functions as declared tools that answer "ok"."""
    specs = [function_to_tool(f) for f in pool_functions(BFCL)[:count]]
    return [Tool.from_openai({"type": "function", "function": s}, implementation=lambda **kw: "ok")
            for s in specs]


@needs_bfcl
def test_bfcl_questions_among_50_tools_offer_a_few_and_find_the_right_one(smollm2_engine: Engine,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "pooled.jsonl"
    summary = run_bfcl(smollm2_engine, BFCL, categories=["simple_python"], limit=3, out=out, tool_pool=50,
                       retrieval=ToolRetrieval(), seed=1).to_dict()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    own = [q.tools[0]["name"] for q in load_bfcl(BFCL, ["simple_python"], limit=3)]
    assert summary["questions"] == 3 and summary["failed_questions"] == 0
    for line, name in zip(lines, own):
        assert 1 <= len(line["offered"]) <= 5 and name in line["offered"]
        assert line["prompt_tokens"] > 0
    assert summary["tool_recall"] == 1.0
    # every tool listed: 20 (50 do not fit the 4096-token window), a longer prompt
    full = run_bfcl(smollm2_engine, BFCL, categories=["simple_python"], limit=1, out=tmp_path / "all.jsonl",
                    tool_pool=20, retrieval=None, seed=1).to_dict()
    listed = json.loads((tmp_path / "all.jsonl").read_text().splitlines()[0])
    assert len(listed["offered"]) == 20 and full["failed_questions"] == 0
    assert full["mean_prompt_tokens"] > 2 * max(line["prompt_tokens"] for line in lines)


@needs_bfcl
@pytest.mark.filterwarnings("ignore::agent_sdk.errors.ToolSchemaWarning")  # BFCL's loose schemas, repaired
def test_agent_with_many_tools_calls_the_retrieved_one_and_reuses_the_cached_prompt(smollm2_engine: Engine) -> None:
    agent = Agent(smollm2_engine, tools=_tools(60), tool_choice="required", max_steps=1)
    specs = {t["name"]: t for t in agent.tool_specs}
    assert "calculate_triangle_area" in specs
    request = "Find the area of a triangle with a base of 10 units and height of 5 units."
    other = "What is the area of a triangle whose height is 3 and base is 8?"
    offered = [t["name"] for t in agent.tools_for(request)]
    assert 1 <= len(offered) <= 5 and "calculate_triangle_area" in offered
    assert agent.tools_for(other) == agent.tools_for(request)  # another wording, the same picks
    first = agent.run(request)
    assert [c.name for c, _ in first.calls] == ["calculate_triangle_area"]
    agent.reset()
    again = agent.run(other)
    # the same tools were picked, so the other request's whole system prompt came from the KV cache
    assert agent.system_message() == agent.system_message(request)
    system_tokens = len(smollm2_engine.tokenizer.encode(
        smollm2_engine.tokenizer.apply_chat_template([agent.system_message()], add_generation_prompt=False)))
    assert again.stats.cached_tokens >= system_tokens
    assert [c.name for c, _ in again.calls] == ["calculate_triangle_area"]


@needs_bfcl
def test_hidden_state_retrieval_ranks_bfcl_functions(smollm2_engine: Engine) -> None:
    """The model's own states as embeddings: the right tool among 30 in the top 5 for most of 12 questions."""
    questions = list(load_bfcl(BFCL, ["simple_python"], limit=12))
    tools = [function_to_tool(f) for f in pool_functions(BFCL)[:30]]
    names = {t["name"] for t in tools}
    ranking = ToolRetrieval(retriever=HiddenStateRetriever(smollm2_engine), max_tools=0)
    found = 0
    for q in questions:
        pool = tools if q.tools[0]["name"] in names else [*tools, function_to_tool(q.tools[0])]
        found += q.tools[0]["name"] in ranking.rank(q.request, pool)[:5]
    assert found >= 9  # measured 12 of 12 (BM25: 12 of 12)
