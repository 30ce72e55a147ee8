"""FunctionGemma's call syntax: rendering, parsing (hostile text included) and the call grammar under llguidance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_sdk.agent.call_format import HERMES, with_stop_texts
from agent_sdk.agent.conversation import render_messages
from agent_sdk.agent.functiongemma_format import (
    CONTROL_TOKENS,
    FUNCTION_CALLING_PROMPT,
    FUNCTIONGEMMA,
    parse_value,
    render_declaration,
    render_value,
)
from agent_sdk.agent.prompting import system_prompt
from agent_sdk.errors import AgentSDKError, UserError
from agent_sdk.runtime.sampler import SamplingParams

pytestmark = pytest.mark.unit

WEATHER = {
    "name": "get_current_weather",
    "description": "Gets the current weather in a given location.",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": 'The city and state, e.g. "San Francisco, CA" or "Tokyo, JP"'},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                     "description": "The unit to return the temperature in."},
        },
        "required": ["location"],
    },
}


def test_a_declaration_is_written_as_functiongemmas_documentation_shows_it() -> None:
    # The weather tool of Google's FunctionGemma formatting guide, character for character.
    assert render_declaration(WEATHER) == (
        "<start_function_declaration>declaration:get_current_weather{description:<escape>Gets the current weather "
        "in a given location.<escape>,parameters:{properties:{location:{description:<escape>The city and state, "
        'e.g. "San Francisco, CA" or "Tokyo, JP"<escape>,type:<escape>STRING<escape>},unit:{description:<escape>The '
        "unit to return the temperature in.<escape>,enum:[<escape>celsius<escape>,<escape>fahrenheit<escape>],"
        "type:<escape>STRING<escape>}},required:[<escape>location<escape>],type:<escape>OBJECT<escape>}}"
        "<end_function_declaration>"
    )


def test_the_system_prompt_is_the_trigger_sentence_and_the_declarations() -> None:
    text = system_prompt([WEATHER], None, call_format=FUNCTIONGEMMA)
    assert text == FUNCTION_CALLING_PROMPT + render_declaration(WEATHER)
    assert system_prompt([WEATHER], "Be brief.", call_format=FUNCTIONGEMMA).startswith("Be brief.\n" + FUNCTION_CALLING_PROMPT)
    assert system_prompt([], "Be brief.", call_format=FUNCTIONGEMMA) == "Be brief."


def test_calls_and_results_render_in_the_native_syntax() -> None:
    call = FUNCTIONGEMMA.render_call("get_current_weather", {"location": "Tokyo, Japan", "days": 3, "alerts": True})
    assert call == ("<start_function_call>call:get_current_weather{location:<escape>Tokyo, Japan<escape>,days:3,"
                    "alerts:true}<end_function_call>")
    two = FUNCTIONGEMMA.render_calls([("a", {}), ("b", {"x": [1, 2.5, None]})])
    assert two == "<start_function_call>call:a{}<end_function_call><start_function_call>call:b{x:[1,2.5,null]}<end_function_call>"
    assert FUNCTIONGEMMA.render_result('{"temperature": 15, "weather": "sunny"}') == (
        "<start_function_response>response:result{temperature:15,weather:<escape>sunny<escape>}"
        "<end_function_response>")
    assert FUNCTIONGEMMA.render_result("done <escape>!") == (
        "<start_function_response>response:result{value:<escape>done !<escape>}<end_function_response>")
    for bad in ({"a b": 1}, {"x": float("nan")}, {"x": "has <escape> inside"}, {"x": object()}):
        with pytest.raises(UserError):
            FUNCTIONGEMMA.render_call("t", bad)


def test_a_result_names_the_tool_that_returned_it() -> None:
    assert FUNCTIONGEMMA.render_result('{"temperature": 15}', name="get_current_weather") == (
        "<start_function_response>response:get_current_weather{temperature:15}<end_function_response>")
    # a name this syntax cannot write (from a client's message) falls back to "result", never into the text
    for hostile in ("x{y:1}", "a b", "<end_function_response>", "a:b", "", "n" * 500):
        assert FUNCTIONGEMMA.render_result("1", name=hostile) == (
            "<start_function_response>response:result{value:1}<end_function_response>")


def test_conversation_results_are_matched_to_their_calls() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
             {"id": "c2", "type": "function", "function": {"name": "get_current_weather", "arguments": "{}"}}]
    by_id = render_messages([
        {"role": "user", "content": "time and weather"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c2", "content": '{"t": 15}'},
        {"role": "tool", "tool_call_id": "c1", "content": '"noon"'},
    ], FUNCTIONGEMMA)
    assert [m["content"] for m in by_id[2:]] == [
        "<start_function_response>response:get_current_weather{t:15}<end_function_response>",
        "<start_function_response>response:get_time{value:<escape>noon<escape>}<end_function_response>",
    ]
    in_order = render_messages([
        {"role": "assistant", "content": None, "tool_calls": [{"function": c["function"]} for c in calls]},
        {"role": "tool", "content": "1"},
        {"role": "tool", "name": "get_time", "content": "2"},
    ], FUNCTIONGEMMA)
    # no ids: the first result answers the first call; a named one its own tool
    assert "response:get_time{value:1}" in in_order[1]["content"]
    assert "response:get_time{value:2}" in in_order[2]["content"]
    # the id wins over a name the syntax cannot write; ids of an earlier turn's calls resolve nothing
    later = render_messages([
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c3", "type": "function", "function": {"name": "get_current_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c3", "name": "a b", "content": "2"},
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
    ], FUNCTIONGEMMA)
    assert "response:get_time{value:1}" in later[1]["content"]
    assert "response:get_current_weather{value:2}" in later[3]["content"]
    assert "response:result{value:3}" in later[4]["content"]
    # the JSON formats do not show the name
    assert render_messages([{"role": "tool", "name": "get_time", "content": "2"}])[0]["content"] == (
        "<tool_response>\n2\n</tool_response>")


def test_free_running_generation_stops_where_a_result_would_start() -> None:
    # FunctionGemma's guide: <start_function_response> is a stop sequence (the model would invent the result)
    assert FUNCTIONGEMMA.stop_texts == ("<start_function_response>",)
    assert HERMES.stop_texts == ()
    params = SamplingParams(max_tokens=8, stop=("END",))
    added = with_stop_texts(params, FUNCTIONGEMMA.stop_texts)
    assert added.stop == ("END", "<start_function_response>") and added.max_tokens == 8
    assert with_stop_texts(added, FUNCTIONGEMMA.stop_texts) is added
    assert with_stop_texts(params, HERMES.stop_texts) is params


_plain = st.text(alphabet=st.characters(exclude_characters="<", exclude_categories=["Cs"]), max_size=12)
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False) | _plain,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_values_round_trip(value: Any) -> None:
    text = render_value(value)
    parsed, end = parse_value(text)
    assert end == len(text)
    assert parsed == value


def test_parse_reads_calls_text_and_errors_and_never_raises_on_text() -> None:
    text = ("Sure.<start_function_call>call:get_current_weather{location:<escape>Paris, {FR}<escape>,days:2}"
            "<end_function_call><start_function_call>call:b{}<end_function_call> done")
    result = FUNCTIONGEMMA.parse(text)
    assert [(c.name, c.arguments) for c in result.calls] == [
        ("get_current_weather", {"location": "Paris, {FR}", "days": 2}), ("b", {})]
    assert result.text == "Sure. done" and not result.errors
    hostile = [
        "<start_function_call>call:x{a:<escape>never closed",
        "<start_function_call>call:x{a:1<start_function_call>call:y{}<end_function_call>",
        "<start_function_call>{a:1}<end_function_call>",
        "<start_function_call>call:x[1,2]<end_function_call>",
        "<start_function_call>call:x{a:1} trailing<end_function_call>",
        "<start_function_call>call:x{a:1e999}<end_function_call>",
        "<start_function_call>call:x{" + "a:[" * 200 + "1" + "]" * 200 + "}<end_function_call>",
        "<start_function_call>call:x{a:" + "9" * 700 + "}<end_function_call>",
        "<start_function_call>call:x{a:" + "x" * 70_000 + "}<end_function_call>",
        "<start_function_call>call:x{:1}<end_function_call>",
        "<end_function_call><escape>call:x{}",
    ]
    for bad in hostile:
        result = FUNCTIONGEMMA.parse(bad)
        assert all(c.name == "y" for c in result.calls), bad
        assert result.errors or not bad.startswith("<start"), bad
    assert [c.name for c in FUNCTIONGEMMA.parse(hostile[1]).calls] == ["y"]
    with pytest.raises(UserError):
        FUNCTIONGEMMA.parse(b"bytes")  # type: ignore[arg-type]


def test_the_tool_being_called_and_json_stages_stay_inactive() -> None:
    assert FUNCTIONGEMMA.current_tool("<start_function_call>call:get_current_weather{location:<escape>Pa") == (
        "get_current_weather")
    assert FUNCTIONGEMMA.current_tool("no call") is None
    assert FUNCTIONGEMMA.arguments_start('{"arguments": {}}') == -1
    assert FUNCTIONGEMMA.ends_call("...}<end_function_call>")


# ------------------------------------------------------------------ the grammar, under llguidance


@pytest.fixture(scope="module")
def grammar_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tokenizers import AddedToken

    from agent_sdk.constrain.grammar import GrammarEngine
    from tests.fixtures.checkpoints import build_bpe_tokenizer

    tok = build_bpe_tokenizer()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CONTROL_TOKENS])
    path: Path = tmp_path_factory.mktemp("fg") / "tokenizer.json"
    tok.save(str(path))
    engine = GrammarEngine(path.read_text(), vocab_size=tok.get_vocab_size(), eos_token_ids=[2])
    engine.hf = tok  # type: ignore[attr-defined]
    return engine


TOOLS = [
    WEATHER,
    {"name": "set_alarm", "parameters": {"type": "object", "properties": {
        "hour": {"type": "integer"}, "minute": {"type": "integer"}, "label": {"type": "string"},
        "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue"]}},
        "loud": {"type": "boolean"}, "volume": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "extra": {"type": "object", "properties": {"snooze": {"type": "integer"}}, "required": ["snooze"]},
    }, "required": ["hour", "label"]}},
    {"name": "ping", "parameters": {"type": "object", "properties": {}}},
    {"name": "timer", "parameters": {"type": "object", "properties": {  # optional keys before and after a required one
        "label": {"type": "string"}, "minutes": {"type": "integer"}, "sound": {"type": "boolean"}},
        "required": ["minutes"]}},
    {"name": "note", "parameters": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "null"}}}},
]


def _feed(engine: Any, grammar: str, text: str) -> bool:
    """Whether the grammar accepts ``text`` (tokenized with the control tokens as single tokens) to its end."""
    c = engine.constraint(grammar)
    for t in engine.hf.encode(text, add_special_tokens=False).ids:
        try:
            c.accept(t)
        except AgentSDKError:
            return False
    return c.is_accepting()


@pytest.mark.parametrize("name,args", [
    ("get_current_weather", {"location": "Tokyo, Japan"}),
    ("get_current_weather", {"location": "", "unit": "fahrenheit"}),
    ("set_alarm", {"hour": 7, "label": "wake up, {now}!"}),
    ("set_alarm", {"hour": -1, "minute": 30, "label": "x", "days": ["mon", "tue"], "loud": False, "volume": 0.5,
                   "extra": {"snooze": 5}}),
    ("set_alarm", {"hour": 0, "label": "y", "days": [], "volume": None}),
    ("ping", {}),
    ("timer", {"minutes": 3}),
    ("timer", {"label": "tea", "minutes": 3}),
    ("timer", {"label": "tea", "minutes": 3, "sound": True}),
    ("timer", {"minutes": 3, "sound": False}),
    ("note", {}),
    ("note", {"b": None}),
    ("note", {"a": "x", "b": None}),
])
def test_the_grammar_accepts_every_valid_call(grammar_engine: Any, name: str, args: dict[str, Any]) -> None:
    grammar = FUNCTIONGEMMA.grammar(TOOLS)
    assert _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call(name, args))


@pytest.mark.parametrize("text", [
    "<start_function_call>call:get_current_weather{unit:<escape>celsius<escape>}<end_function_call>",  # required
    ("<start_function_call>call:get_current_weather{location:<escape>x<escape>,unit:<escape>kelvin<escape>}"
    "<end_function_call>"),  # enum
    ("<start_function_call>call:get_current_weather{location:<escape>x<escape>,city:<escape>y<escape>}"
    "<end_function_call>"),  # undeclared key
    ("<start_function_call>call:get_current_weather{unit:<escape>celsius<escape>,location:<escape>x<escape>}"
    "<end_function_call>"),  # declared order
    "<start_function_call>call:set_alarm{hour:7.5,label:<escape>x<escape>}<end_function_call>",  # integer
    "<start_function_call>call:set_alarm{hour:<escape>7<escape>,label:<escape>x<escape>}<end_function_call>",
    "<start_function_call>call:set_alarm{hour:7,label:<escape>x<escape>,extra:{}}<end_function_call>",  # nested
    ("<start_function_call>call:set_alarm{hour:7,label:<escape>x<escape>,days:[<escape>sun<escape>]}"
    "<end_function_call>"),
    "<start_function_call>call:unknown{}<end_function_call>",
    "<start_function_call>call:timer{label:<escape>tea<escape>}<end_function_call>",  # required after optional
    "<start_function_call>call:timer{}<end_function_call>",
    "<start_function_call>call:timer{sound:true,minutes:3}<end_function_call>",
    "<start_function_call>call:note{b:null,a:<escape>x<escape>}<end_function_call>",
    "<start_function_call>call:note{,}<end_function_call>",
    "<start_function_call>call:get_current_weather{location:\"x\"}<end_function_call>",  # JSON string
])
def test_the_grammar_refuses_invalid_calls(grammar_engine: Any, text: str) -> None:
    assert not _feed(grammar_engine, FUNCTIONGEMMA.grammar(TOOLS), text)


def test_parallel_calls_and_a_named_tool(grammar_engine: Any) -> None:
    two = FUNCTIONGEMMA.render_calls([("ping", {}), ("get_current_weather", {"location": "Oslo"})])
    assert _feed(grammar_engine, FUNCTIONGEMMA.grammar(TOOLS, parallel=True), two)
    assert not _feed(grammar_engine, FUNCTIONGEMMA.grammar(TOOLS), two)
    only = FUNCTIONGEMMA.grammar(TOOLS, choice="ping")
    assert _feed(grammar_engine, only, FUNCTIONGEMMA.render_call("ping", {}))
    assert not _feed(grammar_engine, only, FUNCTIONGEMMA.render_call("get_current_weather", {"location": "Oslo"}))
    with pytest.raises(UserError, match="unknown tool"):
        FUNCTIONGEMMA.grammar(TOOLS, choice="nope")
    with pytest.raises(UserError, match="plain name"):
        FUNCTIONGEMMA.grammar([{"name": "t", "parameters": {"type": "object", "properties": {"a b": {}}}}])


def test_schemas_the_syntax_cannot_write_leave_their_tool_out_with_a_warning(grammar_engine: Any) -> None:
    from agent_sdk.errors import ToolSchemaWarning

    tools = [{"name": "bad", "parameters": {"type": "object", "properties": {"first name": {"type": "string"}}}},
             {"name": "ping", "parameters": {"type": "object", "properties": {}}}]
    with pytest.warns(ToolSchemaWarning, match="'bad' left out"):
        grammar = FUNCTIONGEMMA.grammar(tools)
    assert _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call("ping", {}))
    with pytest.raises(UserError, match="no tool's schema"):
        FUNCTIONGEMMA.grammar(tools[:1])


def test_odd_but_valid_schemas(grammar_engine: Any) -> None:
    tools = [
        # An MCP tool without arguments declares empty properties: closed, as the JSON formats close it.
        {"name": "now", "parameters": {"type": "object", "properties": {}}},
        {"name": "pick", "parameters": {"type": "object", "properties": {
            "v": {"anyOf": [True, False, {"type": "integer"}]},
            "mode": {"enum": [[1, "a"], {"k": "x"}, "plain", 3]},
            "both": {"allOf": [{"type": "object"}, {"properties": {"n": {"type": "integer"}}, "required": ["n"]}]},
        }, "required": "v"}},  # not a list: ignored
        {"name": "ghost", "parameters": {"type": "object", "properties": {"a": {"type": "string"}},
                                         "required": ["a", "undeclared"]}},
    ]
    grammar = FUNCTIONGEMMA.grammar(tools)
    ok = [("now", {}), ("pick", {}), ("pick", {"v": 3}), ("pick", {"v": "anything"}), ("pick", {"mode": [1, "a"]}),
          ("pick", {"mode": {"k": "x"}}), ("pick", {"mode": 3}), ("pick", {"both": {"n": 2}}), ("ghost", {"a": ""})]
    for name, args in ok:
        assert _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call(name, args)), (name, args)
    bad = [("now", {"x": 1}), ("pick", {"mode": [1, "b"]}), ("pick", {"mode": "other"}), ("pick", {"both": {}}),
           ("ghost", {})]
    for name, args in bad:
        assert not _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call(name, args)), (name, args)


def test_deeply_nested_values_and_results_are_errors_or_text_never_crashes() -> None:
    deep: Any = 1
    for _ in range(500):
        deep = [deep]
    with pytest.raises(UserError, match="nested deeper"):
        render_value(deep)
    result = FUNCTIONGEMMA.render_result("[" * 5000 + "]" * 5000)
    assert result.startswith("<start_function_response>response:result{value:<escape>[[[")


def test_many_unclosed_blocks_are_each_an_error() -> None:
    # 20,000 unclosed blocks: one error each (the closing tag is searched for once, not once per block).
    result = FUNCTIONGEMMA.parse("<start_function_call>call:x{a:1" * 20_000 + "<end_function_call>")
    assert len(result.errors) == 20_000 and result.calls == []  # the last is closed, its arguments are not


BOUNDED = [{"name": "set", "parameters": {"type": "object", "properties": {
    "volume": {"type": "integer", "minimum": 0, "maximum": 100},
    "hour": {"type": "integer", "exclusiveMinimum": -1, "exclusiveMaximum": 24},
    "count": {"type": "integer", "minimum": 1},
    "below": {"type": "integer", "maximum": -1},
    "level": {"type": "number", "minimum": 0},
    "code": {"type": "string", "minLength": 2, "maxLength": 3},
    "memo": {"type": "string", "maxLength": 4},
    "huge": {"type": "integer", "minimum": -1e300, "maximum": 1e300},
}}}]


@pytest.mark.parametrize("args,ok", [
    ({"volume": 0}, True), ({"volume": 100}, True), ({"volume": 101}, False), ({"volume": -1}, False),
    ({"hour": 0}, True), ({"hour": 23}, True), ({"hour": 24}, False), ({"hour": -1}, False),
    ({"count": 1}, True), ({"count": 123456}, True), ({"count": 0}, True), ({"count": -3}, False),
    ({"below": -7}, True), ({"below": 0}, False), ({"below": 5}, False),
    ({"level": 0.5}, True), ({"level": -0.5}, False),
    ({"code": "ab"}, True), ({"code": "abc"}, True), ({"code": "a"}, False), ({"code": "abcd"}, False),
    ({"memo": ""}, True), ({"memo": "abcd"}, True), ({"memo": "abcde"}, False),
    ({"huge": -5}, True), ({"huge": 10**12}, True),
])
def test_the_grammar_holds_numeric_bounds_and_string_lengths(grammar_engine: Any, args: dict[str, Any], ok: bool) -> None:
    # Bounds the grammar keeps (the rest is the agent's argument check): integer ranges up to 1,024 values listed,
    # the sign otherwise (count >= 1 is held as >= 0), non-negative numbers, string lengths up to 512.
    grammar = FUNCTIONGEMMA.grammar(BOUNDED)
    assert _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call("set", args)) is ok


def test_bounds_that_allow_nothing_are_errors() -> None:
    for schema in ({"type": "integer", "minimum": 5, "maximum": 4}, {"type": "string", "minLength": 3, "maxLength": 2},
                   {"type": "array", "minItems": 2, "maxItems": 1}):
        with pytest.raises(UserError):
            FUNCTIONGEMMA.grammar([{"name": "t", "parameters": {"type": "object", "properties": {"a": schema}}}])


LISTS = [{"name": "pick", "parameters": {"type": "object", "properties": {
    "two_to_three": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3},
    "at_most_one": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
    "some": {"type": "array", "items": {"type": "boolean"}, "minItems": 1},
    "none": {"type": "array", "maxItems": 0},
}}}]


@pytest.mark.parametrize("args,ok", [
    ({"two_to_three": [1, 2]}, True), ({"two_to_three": [1, 2, 3]}, True),
    ({"two_to_three": [1]}, False), ({"two_to_three": [1, 2, 3, 4]}, False), ({"two_to_three": []}, False),
    ({"at_most_one": []}, True), ({"at_most_one": ["a"]}, True), ({"at_most_one": ["a", "b"]}, False),
    ({"some": [True]}, True), ({"some": [True, False, True]}, True), ({"some": []}, False),
    ({"none": []}, True), ({"none": [1]}, False),
])
def test_the_grammar_holds_list_lengths(grammar_engine: Any, args: dict[str, Any], ok: bool) -> None:
    grammar = FUNCTIONGEMMA.grammar(LISTS)
    assert _feed(grammar_engine, grammar, FUNCTIONGEMMA.render_call("pick", args)) is ok
