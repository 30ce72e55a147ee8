"""The pieces of agent_sdk.agent.tool_rerank that need no model."""

from __future__ import annotations

import math

import pytest

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.functiongemma_format import FunctionGemmaFormat
from agent_sdk.agent.tool_rerank import _greedy_cannot_lose, first_call_name, name_text

pytestmark = pytest.mark.unit


def test_name_text_ends_with_what_closes_the_name() -> None:
    assert name_text(HERMES, "set_window") == '{"name": "set_window",'
    assert name_text(FunctionGemmaFormat(), "set_window") == "call:set_window"


def test_first_call_name_is_the_earliest_and_the_longest_at_one_place() -> None:
    text = '<tool_call>\n{"name": "close_trunk", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "open_trunk", '
    assert first_call_name(text, ["open_trunk", "close_trunk"], HERMES) == ("close_trunk", text.index("{"))
    assert first_call_name(text, ["set_window"], HERMES) is None
    fg = FunctionGemmaFormat()
    text = "<start_function_call>call:set_window{window:<escape>driver<escape>}"
    assert first_call_name(text, ["set", "set_window"], fg) == ("set_window", text.index("call:"))


def test_the_greedy_pass_settles_a_sure_name_and_not_a_doubtful_one() -> None:
    lead, name = [1, 2], [3, 4, 5]
    ids = lead + name + [6]
    # Sure of each token (p 0.99): another name is at most 0.01 as likely, the written one 0.97.
    sure = [0.0, 0.0, math.log(0.99), math.log(0.99), math.log(0.99), 0.0]
    assert _greedy_cannot_lose(lead, name, ids, sure, [True, True, False, False, False, False])
    # The first token at p 0.6 and a forced token the model finds unlikely (p 0.05): the written name is 0.03
    # likely as a whole, another could reach 0.4.
    doubt = [0.0, 0.0, math.log(0.6), math.log(0.05), math.log(0.99), 0.0]
    assert not _greedy_cannot_lose(lead, name, ids, doubt, [True, True, False, True, False, False])
    # A forced token's log-probability not computed (NaN): the whole name's likelihood is not known.
    nan = [0.0, 0.0, math.log(0.99), float("nan"), math.log(0.99), 0.0]
    assert not _greedy_cannot_lose(lead, name, ids, nan, [True, True, False, True, False, False])
    # The pass wrote other tokens than the name's own tokenization: no bound.
    assert not _greedy_cannot_lose(lead, name, [1, 2, 3, 9, 5, 6], sure, [False] * 6)
