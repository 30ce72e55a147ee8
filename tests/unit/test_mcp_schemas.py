"""MCP tools whose schemas no call grammar can express: left out with the reason, or an error when strict.

A real MCP server (tests/fixtures/mcp_servers/odd_schemas.py) lists them;
the real llguidance engine judges them, as the agent's local backend does
before each constrained step.
"""

from __future__ import annotations

import pytest

from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.schema_repair import usable_tools
from agent_sdk.mcp import MCPToolset
from tests.fixtures.checkpoints import build_bpe_tokenizer
from tests.fixtures.mcp_support import server

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def grammar_engine() -> GrammarEngine:
    tokenizer = build_bpe_tokenizer()
    return GrammarEngine(tokenizer.to_str(), vocab_size=tokenizer.get_vocab_size(), eos_token_ids=[2])


def test_mcp_tools_without_a_grammar_are_left_out_naming_why_and_the_rest_stay(grammar_engine: GrammarEngine) -> None:
    with MCPToolset([server("odd_schemas.py")]) as toolset:
        specs = [t.to_openai()["function"] for t in toolset.tools]
        assert [s["name"] for s in specs] == ["pick", "code", "echo"]
        usable, warnings = usable_tools(grammar_engine, specs)
        assert [t["name"] for t in usable] == ["echo"]
        assert len(warnings) == 2
        assert warnings[0].startswith("tool 'pick' left out: ") and warnings[1].startswith("tool 'code' left out: ")
        with pytest.raises(GrammarError, match="pick") as err:
            usable_tools(grammar_engine, specs, strict=True)
        assert "code" in str(err.value)
        echo = next(t for t in toolset.tools if t.name == "echo")
        assert echo.run({"word": "still works"}) == "still works"
