"""The pieces of agent_sdk.agent.tool_rerank that need no model."""

from __future__ import annotations

import pytest

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.functiongemma_format import FunctionGemmaFormat
from agent_sdk.agent.qwen_format import QWEN
from agent_sdk.agent.tool_rerank import first_call_name, name_text, rerank_tool_name

pytestmark = pytest.mark.unit


def test_name_text_ends_with_what_closes_the_name() -> None:
    assert name_text(HERMES, "set_window") == '{"name": "set_window",'
    assert name_text(QWEN, "set_window") == '{"name": "set_window",'
    # FunctionGemma's call head ends at the name: the arguments' brace closes it.
    assert name_text(FunctionGemmaFormat(), "set_window") == "call:set_window{"
    assert not name_text(FunctionGemmaFormat(), "set_window").startswith(name_text(FunctionGemmaFormat(), "set"))


def test_first_call_name_is_the_earliest_call_and_never_a_prefix_of_another_name() -> None:
    text = '<tool_call>\n{"name": "close_trunk", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "open_trunk", '
    assert first_call_name(text, ["open_trunk", "close_trunk"], HERMES) == ("close_trunk", text.index("{"))
    assert first_call_name(text, ["set_window", "close"], HERMES) is None
    fg = FunctionGemmaFormat()
    text = "<start_function_call>call:set_window{window:<escape>driver<escape>}<end_function_call>"
    assert first_call_name(text, ["set", "set_window"], fg) == ("set_window", text.index("call:"))
    assert first_call_name(text, ["set"], fg) is None


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        rerank_tool_name(None, [], "", [{"name": "a"}, {"name": "b"}], call_format=HERMES, margin=-1.0)  # type: ignore[arg-type]
