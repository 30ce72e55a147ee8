"""Value re-ranking helpers: request spans and where string arguments sit in call text."""

from __future__ import annotations

import json

import pytest

from agent_sdk.agent.rerank import (
    ValueRerank,
    _candidates,
    argument_values,
    quoted,
    request_numbers,
    request_spans,
    string_values,
)

pytestmark = pytest.mark.unit


def test_request_spans_group_by_start_word_and_strip_punctuation() -> None:
    groups = request_spans("Find 'Guardian Sword+' in Zelda.", max_words=3)
    assert groups[0] == ["Find", "Find 'Guardian", "Find 'Guardian Sword+"]
    assert groups[1] == ["Guardian", "Guardian Sword+", "Guardian Sword+' in"]
    assert groups[-1] == ["Zelda"]
    flat = [s for g in groups for s in g]
    assert len(flat) == len(set(flat))  # each span once
    assert request_spans("") == []
    assert request_spans("?! ...") == []


def test_string_values_are_top_level_string_arguments() -> None:
    args = {"city": "New \"York\"", "n": 3, "tags": ["a", "b"], "opt": {"x": "y"}, "unit": "c"}
    text = '<tool_call>\n{"name": "get", "arguments": ' + json.dumps(args) + "}\n</tool_call>"
    text += '\n<tool_call>\n{"name": "other", "arguments": {"q": "z"}}\n</tool_call>'
    found = string_values(text)
    assert [(tool, key) for _, _, tool, key in found] == [("get", "city"), ("get", "unit"), ("other", "q")]
    assert [text[s:e] for s, e, _, _ in found] == ['New \\"York\\"', "c", "z"]
    assert string_values('<tool_call>\n{"name": "get", "arguments": {"city": "Par') == []  # not complete


def test_candidates_by_schema() -> None:
    opts = ValueRerank(max_words=2)
    assert _candidates({"type": "string", "enum": ["a", "b"]}, "x y", opts, "string") == ([["a"], ["b"]], True)
    assert _candidates({"type": "string", "enum": ["only"]}, "x y", opts, "string") == ([], True)
    assert _candidates({"type": "string"}, "x y", opts, "string") == ([["x", "x y"], ["y"]], False)
    assert _candidates({}, "x", opts, "string") == ([["x"]], False)
    assert _candidates({"type": "integer"}, "x", opts, "string") == ([], False)
    assert _candidates({"type": "string", "format": "date"}, "x", opts, "string") == ([], False)
    request = "Invest $5,000 for 2.5 years, five times, 3 million shares"
    assert _candidates({"type": "integer"}, request, opts, "number") == ([["5000"], ["3000000"], ["5"]], True)
    assert _candidates({"type": "number"}, request, opts, "number") == ([["5000"], ["2.5"], ["3000000"], ["5"]], True)
    assert _candidates({"type": "integer", "enum": [1, 2]}, request, opts, "number") == ([], True)
    assert _candidates({"type": "string"}, request, opts, "number") == ([], True)


def test_request_numbers() -> None:
    assert request_numbers("Buy two apples for $1,200.50 and 2 pears; ten percent off, 1.5 billion") == [
        "1200.50", "2", "1500000000", "10",
    ]


def test_argument_values_lists_strings_numbers_and_array_items() -> None:
    args = {"city": "Paris", "n": 3, "tags": ["a", "b"], "nums": [1, 2.5], "opt": {"x": "y", "z": 4}, "last": -7}
    text = '<tool_call>\n{"name": "get", "arguments": ' + json.dumps(args) + "}\n</tool_call>"
    got = [(v.key, v.kind, v.item, text[v.start:v.end]) for v in argument_values(text)]
    assert got == [
        ("city", "string", False, "Paris"), ("n", "number", False, "3"), ("tags", "string", True, "a"),
        ("tags", "string", True, "b"), ("nums", "number", True, "1"), ("nums", "number", True, "2.5"),
        ("last", "number", False, "-7"),
    ]


def test_quoted_text_is_a_candidate_however_long() -> None:
    review = "Analyze the review 'I love the food here! It's always fresh and delicious.'."
    assert quoted(review) == ["I love the food here! It's always fresh and delicious."]
    assert quoted('Rate "Ticket to Ride" and \u201cCatan\u201d, or \u2018Go\u2019.') == ["Ticket to Ride", "Catan", "Go"]
    assert quoted("It's John's car, don't worry") == []  # apostrophes are not quotes
    groups, _ = _candidates({"type": "string"}, review, ValueRerank(max_words=2), "string")
    assert ["I love the food here! It's always fresh and delicious."] in groups


def test_an_enum_value_said_alone() -> None:
    from agent_sdk.agent.rerank import _alone_in_request

    others = ["bedroom", "living room", "bathroom"]
    assert _alone_in_request("kitchen", others, "turn on the kitchen lights")
    assert not _alone_in_request("kitchen", others, "kitchen and bedroom lights")
    assert not _alone_in_request("room", ["bedroom"], "the bedroom")  # whole words only
    assert not _alone_in_request("kitchen", others, "turn on the lights")
    assert not _alone_in_request("living room", ["room"], "living room lights")  # "room" is said too: not alone
