"""Tool-call parsing: Hermes blocks, bare JSON, Python call syntax, streaming, hostile input."""

from __future__ import annotations

import ast
import itertools
import json
import keyword
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agent_sdk.agent.parsing as parsing_module
from agent_sdk.agent.parsing import (
    CallError,
    CallParsed,
    CallStarted,
    ParsedCall,
    ParseResult,
    StreamEvent,
    StreamingCallParser,
    TextDelta,
    parse_calls,
)
from agent_sdk.errors import UserError

pytestmark = pytest.mark.unit

_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _calls(result: ParseResult) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    return [(c.name, c.arguments, c.positional) for c in result.calls]


def _one(text: str, **options: Any) -> ParsedCall:
    result = parse_calls(text, **options)
    assert not result.errors, result.errors
    assert len(result.calls) == 1, result.calls
    return result.calls[0]


def _failed(text: str, **options: Any) -> str:
    """The single error message for text that must yield no call."""
    result = parse_calls(text, **options)
    assert result.calls == [], result.calls
    assert len(result.errors) == 1, result.errors
    return result.errors[0].message


def _hermes(name: str, arguments: Any, key: str = "arguments") -> str:
    return "<tool_call>\n" + json.dumps({"name": name, key: arguments}, ensure_ascii=False) + "\n</tool_call>"


def _stream(chunks: list[str]) -> list[StreamEvent]:
    parser = StreamingCallParser()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def _stream_summary(events: list[StreamEvent]) -> tuple[str, list[ParsedCall], list[Any], int]:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [e.call for e in events if isinstance(e, CallParsed)]
    errors = [e.error for e in events if isinstance(e, CallError)]
    return text, calls, errors, sum(isinstance(e, CallStarted) for e in events)


# --------------------------------------------------------------------------- Hermes


def test_hermes_single_block() -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    call = _one(text)
    assert call == ParsedCall(name="get_weather", arguments={"city": "Paris"}, raw=text)
    assert parse_calls(text).text == ""


def test_hermes_parallel_blocks_with_free_text() -> None:
    text = (
        "Let me check both.\n"
        + _hermes("get_weather", {"city": "Paris"})
        + "\nand\n"
        + _hermes("get_time", {"tz": "CET"})
        + "\nDone."
    )
    result = parse_calls(text)
    assert _calls(result) == [("get_weather", {"city": "Paris"}, ()), ("get_time", {"tz": "CET"}, ())]
    assert result.text == "Let me check both.\n\nand\n\nDone."
    assert result.errors == []
    assert result.calls[1].raw == _hermes("get_time", {"tz": "CET"})


def test_hermes_list_and_object_sequence_in_one_block() -> None:
    listed = '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]</tool_call>'
    assert _calls(parse_calls(listed)) == [("a", {}, ()), ("b", {"x": 1}, ())]
    sequence = '<tool_call>\n{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {"x": 1}}\n</tool_call>'
    assert _calls(parse_calls(sequence)) == [("a", {}, ()), ("b", {"x": 1}, ())]


def test_hermes_arguments_as_json_string_and_parameters_alias() -> None:
    encoded = '<tool_call>{"name": "f", "arguments": "{\\"city\\": \\"Paris\\", \\"n\\": [1, 2]}"}</tool_call>'
    assert _one(encoded).arguments == {"city": "Paris", "n": [1, 2]}
    assert _one(_hermes("f", {"q": 1}, key="parameters")).arguments == {"q": 1}
    assert _one('<tool_call>{"name": "f", "parameters": "{\\"q\\": 1}"}</tool_call>').arguments == {"q": 1}
    assert _one('<tool_call>{"name": "get_time"}</tool_call>').arguments == {}
    assert _one('<tool_call>{"name": "get_time", "arguments": null}</tool_call>').arguments == {}
    assert _one('<tool_call>{"name": "get_time", "arguments": ""}</tool_call>').arguments == {}


def test_hermes_nested_escaped_and_unicode_values() -> None:
    arguments = {
        "text": 'She said "hi" \\ then </b> {braces} [brackets]\nnew line\ttab',
        "nested": {"list": [1, -2.5, 3e-7, True, False, None, {"deep": ["x", {"y": []}]}]},
        "city": "Zürich",
        "greeting": "こんにちは 👋",
        "emoji_key_🙂": "ok",
    }
    assert _one(_hermes("send_message", arguments)).arguments == arguments
    escaped = _hermes("send_message", arguments).replace("Zürich", "Z\\u00fcrich")
    assert _one(escaped).arguments == arguments


def test_hermes_openai_shape_python_syntax_and_python_dict_inside_block() -> None:
    openai = '<tool_call>{"type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 1}"}}</tool_call>'
    assert _one(openai).arguments == {"a": 1}
    assert _calls(parse_calls('<tool_call>get_weather(city="Paris")</tool_call>')) == [
        ("get_weather", {"city": "Paris"}, ())
    ]
    single_quoted = "<tool_call>{'name': 'f', 'arguments': {'on': True, 'v': None}}</tool_call>"
    assert _one(single_quoted).arguments == {"on": True, "v": None}
    fenced = '<tool_call>\n```json\n{"name": "f", "arguments": {"a": 1}}\n```\n</tool_call>'
    assert _one(fenced).arguments == {"a": 1}


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ('{"arguments": {"a": 1}}', "name"),
        ('{"name": "", "arguments": {}}', "name"),
        ('{"name": 3, "arguments": {}}', "name"),
        ('{"name": "f", "arguments": [1, 2]}', "must be an object"),
        ('{"name": "f", "arguments": "{not json"}', "not a JSON object"),
        ('{"name": "f", "arguments": "[1]"}', "must be an object"),
        ('{"name": "f", "arguments": {"a": 1}', "JSON"),
        ('{"name": "f", "arguments": {"x": NaN}}', "JSON"),
        ('{"name": "f", "arguments": {"x": 1e999}}', "JSON"),
        ("", "empty"),
        ("   \n ", "empty"),
        ("[]", "no call"),
        ("[1, 2]", "call object"),
        ("just words", "expected"),
    ],
)
def test_hermes_malformed_blocks_are_errors(block: str, needle: str) -> None:
    text = f"Before <tool_call>{block}</tool_call> after"
    result = parse_calls(text)
    assert result.calls == []
    assert result.errors  # one per unreadable element
    error = result.errors[0]
    assert all(needle in e.message for e in result.errors)
    assert error.raw == f"<tool_call>{block}</tool_call>"
    assert error.position is not None and 7 <= error.position <= 7 + len(error.raw)
    assert result.text == "Before  after"


def test_hermes_one_bad_block_does_not_spoil_the_others() -> None:
    text = _hermes("a", {}) + '<tool_call>{"name": "b", "arguments": {oops}}</tool_call>' + _hermes("c", {"z": 0})
    result = parse_calls(text)
    assert [c.name for c in result.calls] == ["a", "c"]
    assert len(result.errors) == 1
    assert text[result.errors[0].position or 0] == "o"  # points at the bad token


def test_hermes_block_left_open_before_the_next_one() -> None:
    text = '<tool_call>{"name": "a", "arguments": {}}\n<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    assert [c.name for c in parse_calls(text).calls] == ["a", "b"]
    broken = '<tool_call>{"name": "a", "argu<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    result = parse_calls(broken)
    assert [c.name for c in result.calls] == ["b"]
    assert len(result.errors) == 1 and "truncated" in result.errors[0].message
    assert _stream_summary(_stream(list(broken)))[1:3] == (result.calls, result.errors)


def test_hermes_unclosed_block_is_read_when_complete_else_truncated() -> None:
    complete = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n'
    assert _one(complete).arguments == {"a": 1}
    assert _one(complete + "</tool_c").arguments == {"a": 1}
    message = _failed('<tool_call>\n{"name": "f", "arguments": {"a": ')
    assert "truncated" in message
    assert "truncated" in _failed("text <tool_call>")


# --------------------------------------------------------------------------- bare JSON


def test_json_bare_object_list_and_openai_shapes() -> None:
    assert _calls(parse_calls('{"name": "get_time", "arguments": {"tz": "CET"}}')) == [("get_time", {"tz": "CET"}, ())]
    listed = '[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "parameters": {}}]'
    assert _calls(parse_calls(listed)) == [("a", {"x": 1}, ()), ("b", {}, ())]
    openai = '{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\\"q\\": \\"é\\"}"}}'
    assert _calls(parse_calls(openai)) == [("f", {"q": "é"}, ())]
    assert _calls(parse_calls('{"name": "get_time"}')) == [("get_time", {}, ())]


def test_json_in_fenced_block_and_within_prose() -> None:
    fenced = 'Here you go:\n```json\n{"name": "f", "arguments": {"a": [1, {"b": "}"}]}}\n```\nAnything else?'
    result = parse_calls(fenced)
    assert _calls(result) == [("f", {"a": [1, {"b": "}"}]}, ())]
    assert result.text == "Here you go:\n\nAnything else?"
    inline = 'Calling {"name": "f", "arguments": {"a": 1}} now.'
    result = parse_calls(inline)
    assert _calls(result) == [("f", {"a": 1}, ())]
    assert result.text == "Calling  now."


def test_json_that_is_not_a_call_stays_text() -> None:
    for text in [
        'The user {"name": "Bob", "age": 3} said hi',
        'Config: {"user": {"name": "f", "arguments": {}}}',
        "[1, 2, 3]",
        '{"answer": 42}',
        '["name", "arguments"]',
    ]:
        result = parse_calls(text)
        assert result == ParseResult(calls=[], text=text, errors=[]), text


def test_json_malformed_call_object_is_an_error() -> None:
    assert "JSON" in _failed('Sure: {"name": "f", "arguments": {"city": "Pa')
    assert "JSON" in _failed('{"name": "f", "arguments": {"x": NaN}}')


# --------------------------------------------------------------------------- Python syntax


def test_python_keyword_call() -> None:
    call = _one('set_alarm(time="7:30 am")')
    assert call == ParsedCall(name="set_alarm", arguments={"time": "7:30 am"}, raw='set_alarm(time="7:30 am")')


def test_python_parallel_list_and_dotted_names() -> None:
    result = parse_calls('[get_weather(city="Paris", unit="c"), get_time(tz="CET")]')
    assert _calls(result) == [("get_weather", {"city": "Paris", "unit": "c"}, ()), ("get_time", {"tz": "CET"}, ())]
    assert _calls(parse_calls("math.factorial(n=5)")) == [("math.factorial", {"n": 5}, ())]
    multi_line = '[\n    get_weather(city="Paris"),\n    get_time(tz="CET"),\n]'
    assert [c.name for c in parse_calls(multi_line).calls] == ["get_weather", "get_time"]


def test_python_positional_arguments_are_kept_apart() -> None:
    call = _one('send(5, "hi", to="bob")')
    assert call.positional == (5, "hi")
    assert call.arguments == {"to": "bob"}


def test_python_literals() -> None:
    source = (
        'f(a=\'single\', b="dou\\"ble", c=-3, d=2.5, e=-1.5e-3, g=1E6, h=True, i=False, j=None, '
        "k=[1, [2, (3, 4)]], l=(1,), m={'x': {'y': [None]}, 1: 'int key'}, n=0x1F, o='a' 'b', "
        "p='Zürich ✓', q='line\\nbreak', r=r'C:\\path', s=-0)"
    )
    assert _one(source).arguments == {
        "a": "single",
        "b": 'dou"ble',
        "c": -3,
        "d": 2.5,
        "e": -1.5e-3,
        "g": 1e6,
        "h": True,
        "i": False,
        "j": None,
        "k": [1, [2, [3, 4]]],
        "l": [1],
        "m": {"x": {"y": [None]}, 1: "int key"},
        "n": 31,
        "o": "ab",
        "p": "Zürich ✓",
        "q": "line\nbreak",
        "r": "C:\\path",
        "s": 0,
    }
    # An odd escape warns inside the parser; under filterwarnings=error that must not surface.
    assert _one('f(p="C:\\d")').arguments == {"p": "C:\\d"}


def test_python_mobilellm_wrapper_escaped_and_raw_quotes() -> None:
    for text in [
        '{API: "alarm(time=\\"7:30 am\\")"}',
        '{API: "alarm(time="7:30 am")"}',
        "{'API': 'alarm(time=\"7:30 am\")'}",
    ]:
        result = parse_calls(f"Sure!\n{text}\nAlarm set.")
        assert _calls(result) == [("alarm", {"time": "7:30 am"}, ())], text
        assert result.text == "Sure!\n\nAlarm set."
        assert result.calls[0].raw == text
    assert "wrapper" in _failed("{API: 42}")


def test_python_call_with_trailing_period_on_its_own_line() -> None:
    result = parse_calls('Setting it now:\nset_alarm(time="7:30 am").')
    assert _calls(result) == [("set_alarm", {"time": "7:30 am"}, ())]
    assert result.text == "Setting it now:"


def test_python_json_object_inside_arguments_is_not_split_out() -> None:
    result = parse_calls('configure(spec={"name": "x", "arguments": {}})')
    assert _calls(result) == [("configure", {"spec": {"name": "x", "arguments": {}}}, ())]


@pytest.mark.parametrize(
    "source",
    [
        "f(x=y)",
        "f(x=true)",
        "f(x=os.environ)",
        "f(x=g(1))",
        "f(x=1 + 2)",
        "f(x=-y)",
        "f(x=- -5)",
        "f(x=+5)",
        "f(x=not True)",
        "f(x=f'{y}')",
        "f(x=lambda: 1)",
        "f(x=[i for i in range(3)])",
        "f(x={1, 2})",
        "f(x=b'bytes')",
        "f(x=1j)",
        "f(x=...)",
        "f(x=d[0])",
        "f(x=(y := 1))",
        "f(*args)",
        "f(**kwargs)",
        "f(x={**d})",
        "f(x=[*xs])",
        "f(x=1e999)",
        "f(x={[1]: 2})",
        "f()()",
        "f(x=1).g(y=2)",
        "(lambda: 1)()",
        "f(x=1, x=2)",
        "f(x=1,, y=2)",
    ],
)
def test_python_non_literals_are_structured_errors(source: str) -> None:
    for text in (source, f"<tool_call>{source}</tool_call>", f'{{API: "{source}"}}'):
        result = parse_calls(text)
        if text == "(lambda: 1)()":
            # Does not start like a call, so free text does not even consider it.
            assert result == ParseResult(calls=[], text=text, errors=[])
            continue
        assert result.calls == [], text
        assert result.errors, text
        error = result.errors[0]
        assert error.message and error.raw
        assert error.position is not None and 0 <= error.position <= len(text)


def test_python_error_points_at_the_offending_node() -> None:
    text = 'Ok.\nget_weather(city="Zürich", unit=celsius)'
    error = parse_calls(text).errors[0]
    assert error.position is not None and text[error.position :].startswith("celsius")
    assert "'celsius'" in error.message


def test_python_bad_element_of_a_list_does_not_drop_the_good_ones() -> None:
    result = parse_calls('[a(x=1), b(x=y), c(x="z")]')
    assert [c.name for c in result.calls] == ["a", "c"]
    assert len(result.errors) == 1


# --------------------------------------------------------------------------- prose, known tools, formats


_PROSE = [
    "Hello! How can I help you today?",
    "call me (maybe)",
    "The function f (x) maps reals to reals.",
    "Use print(x) in your code to debug it.",
    "I think (roughly) five people came; see [the docs](https://example.com/a_(b)).",
    "Note(s): bring water (lots of it).",
    "Set {x} to [1, 2] and {y: 3}.",
    'Results: [1, 2, 3] and {"answer": 42}.',
    "Braces { and [ and ( unbalanced",
    "smile :) (really)",
    "An email to bob@example.com about the {name} placeholder.",
    "Write <b>bold</b> or <tool> tags, or the word tool_call.",
    "A listing:\n```python\nx = 1\nprint(x)\n```\nruns.",
    "",
    "   \n\t ",
]


@pytest.mark.parametrize("text", _PROSE)
def test_prose_yields_no_calls_and_no_errors(text: str) -> None:
    variants: list[dict[str, Any]] = [{}, {"known_tools": {"get_weather", "set_alarm"}}]
    for options in variants:
        result = parse_calls(text, **options)
        assert result.calls == [] and result.errors == [], (text, options)
        assert result.text == text.strip()


def test_known_tools_gate_python_syntax() -> None:
    known = {"get_time", "get_weather"}
    result = parse_calls("Sure, get_time(tz='CET') is next. Also note(s) and call me (maybe).", known_tools=known)
    assert _calls(result) == [("get_time", {"tz": "CET"}, ())]
    assert result.errors == []
    assert result.text == "Sure,  is next. Also note(s) and call me (maybe)."
    # An unknown name is text, even on a line of its own.
    unknown = parse_calls('set_alarm(time="7:30")', known_tools=known)
    assert unknown.calls == [] and unknown.errors == [] and unknown.text == 'set_alarm(time="7:30")'
    # A list of known calls is read whole; a known call with bad arguments is an error.
    both = parse_calls("[get_time(tz='CET'), get_weather(city='Paris')]", known_tools=known)
    assert [c.name for c in both.calls] == ["get_time", "get_weather"] and both.text == ""
    assert "'x'" in _failed("I will get_time(tz=x) now", known_tools=known)
    # Blocks and wrappers state their intent, so known_tools does not filter them.
    assert _one(_hermes("other", {}), known_tools=known).name == "other"
    assert _one('{API: "alarm(t=1)"}', known_tools=known).name == "alarm"


def test_a_known_name_inside_a_json_string_is_not_a_call() -> None:
    text = '{"name": "explain", "arguments": {"text": "use get_time(tz) here"}}'
    assert _calls(parse_calls(text, known_tools={"get_time", "explain"})) == [
        ("explain", {"text": "use get_time(tz) here"}, ())
    ]


def test_formats_select_the_detectors() -> None:
    text = _hermes("a", {}) + '\n{"name": "b", "arguments": {}}\nc(x=1)'
    assert [c.name for c in parse_calls(text).calls] == ["a", "b", "c"]
    assert [c.name for c in parse_calls(text, formats=("hermes",)).calls] == ["a"]
    assert [c.name for c in parse_calls(text, formats=("json",)).calls] == ["a", "b"]  # the block's JSON is bare JSON
    assert [c.name for c in parse_calls(text, formats=("python",)).calls] == ["c"]
    assert parse_calls(text, formats=()) == ParseResult(calls=[], text=text.strip(), errors=[])


def test_bad_options_raise_user_error() -> None:
    with pytest.raises(UserError, match="xml"):
        parse_calls("x", formats=("hermes", "xml"))
    with pytest.raises(UserError):
        parse_calls("x", formats="json")  # type: ignore[arg-type]
    with pytest.raises(UserError):
        parse_calls("x", known_tools="get_time")
    with pytest.raises(UserError):
        parse_calls(b"x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- security


def _payloads(marker: Path) -> list[str]:
    """Expressions that would create marker if anything evaluated them; none is a literal call."""
    path = str(marker)
    return [
        f"__import__('os').system('touch {path}')",
        f"open({path!r}, 'w').write('x')",
        f"f(x=__import__('os').system('touch {path}'))",
        f"f(x=open({path!r}, 'w'))",
        f"f(x=(lambda: open({path!r}, 'w'))())",
        f"f(x=[open({path!r}, 'w') for _ in '1'])",
        f"f(x=f'{{open({path!r}, \"w\")}}')",
        f"getattr(__builtins__, 'open')({path!r}, 'w')",
    ]


def test_hostile_python_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    known = {"__import__", "open", "exec", "eval", "f", "getattr"}
    variants: list[dict[str, Any]] = [{}, {"known_tools": known}]
    for payload in _payloads(marker):
        escaped = payload.replace("\\", "\\\\").replace('"', '\\"')
        texts = [
            payload,
            f"[{payload}]",
            f"<tool_call>{payload}</tool_call>",
            f'{{API: "{escaped}"}}',
            f"```python\n{payload}\n```",
        ]
        for text in texts:
            for options in variants:
                result = parse_calls(text, **options)
                assert result.errors and not result.calls, (text, options)
            _stream([text])
    # A call to exec/eval with a string is a well-formed call carrying a string;
    # reading it runs nothing (the agent loop then finds no such tool).
    smuggled = f"exec(\"open({str(marker)!r}, 'w')\")"
    assert _one(smuggled).positional == (f"open({str(marker)!r}, 'w')",)
    assert not marker.exists()


def test_module_never_calls_eval_exec_or_compile() -> None:
    tree = ast.parse(Path(parsing_module.__file__).read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not names & {"eval", "exec", "compile", "__import__", "getattr", "builtins"}
    assert not attributes & {"literal_eval", "eval", "exec", "__builtins__"}


# --------------------------------------------------------------------------- hostile and odd input


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        "{" * 5000,
        "(" * 5000,
        "f(" + "[" * 500 + "]" * 500 + ")",
        '{"name": "f", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
        "<tool_call>" + '{"name": "f", "arguments": ' + '{"a": ' * 3000 + "1" + "}" * 3001 + "</tool_call>",
        "f(n=" + "9" * 5000 + ")",
        '{"name": "f", "arguments": {"n": ' + "9" * 5000 + "}}",
        "f(x='\x00')",
        "f(x='\ud800')",
        '<tool_call>{"name": "f\\ud800", "arguments": {}}</tool_call>',
        "<tool_call>" * 50 + "</tool_call>" * 3,
        "f('''unterminated",
        'f("a\\',
        "f(x=1) # comment )",
        "\r\nf(x=1)\r\n",
        "```\n```",
        '```json\n{"name": "f", "arguments": {"a": 1}}',
        "{API:",
        '{API: "',
        "{API: f(",
        "\\" * 100,
    ],
)
def test_odd_input_never_raises(text: str) -> None:
    result = parse_calls(text)
    assert isinstance(result, ParseResult)
    parse_calls(text, known_tools={"f"})
    _stream(list(text))


@pytest.mark.parametrize(
    "text",
    [
        "a(\n" * 10_000,
        "f('\n" * 10_000,
        "a(\n" * 10_000 + "]",
        "[a(\n" * 10_000,
        '[{"a": ' * 10_000,
        "[" * 30_000,
        '{"name": "f", "arguments": ' * 5_000,
        "[get_time(), " * 5_000,
        "```json\n" * 10_000,
    ],
)
def test_pathological_input_takes_linear_time(text: str) -> None:
    # Each takes well under 0.1 s; a quadratic rescan takes many seconds.
    started = time.perf_counter()
    parse_calls(text)
    parse_calls(text, known_tools={"get_time", "a", "f"})
    assert time.perf_counter() - started < 2.0


def test_an_apostrophe_in_prose_does_not_hide_later_calls() -> None:
    result = parse_calls('I(don\'t know what) you mean\nget_time(tz="CET")')
    assert _calls(result) == [("get_time", {"tz": "CET"}, ())]
    assert result.errors == []


def test_big_and_deep_arguments_are_read_within_limits() -> None:
    deep = "f(x=" + "[" * 50 + "1" + "]" * 50 + ")"
    value: Any = _one(deep).arguments["x"]
    for _ in range(50):
        value = value[0]
    assert value == 1
    assert _one("f(n=" + "9" * 100 + ")").arguments["n"] == int("9" * 100)


@_FAST
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    result = parse_calls(text)
    assert result.text == result.text.strip()
    parse_calls(text, known_tools={"f", "a.b"})
    _stream([text])


_SYNTAX = st.text(alphabet=list("<>/tool_call{}[]()\"':,=.\\ \n-1eTrueNonfAPI#`*"), max_size=80)


@_FAST
@given(
    st.lists(
        st.one_of(_SYNTAX, st.sampled_from(["<tool_call>", "</tool_call>", '{"name": "f"', "f(", "```json\n"])),
        max_size=6,
    )
)
def test_call_like_garbage_never_raises(pieces: list[str]) -> None:
    text = "".join(pieces)
    for formats in (("hermes", "json", "python"), ("python",), ("json",)):
        result = parse_calls(text, formats=formats)
        for error in result.errors:
            assert error.position is None or 0 <= error.position <= len(text)
    parse_calls(text, known_tools={"f", "tool_call"})
    _stream([text])


# --------------------------------------------------------------------------- round trips

_IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
_ARGUMENTS = st.dictionaries(_IDENTIFIERS, _VALUES, max_size=4)


def _render(fmt: str, name: str, arguments: dict[str, Any]) -> str:
    as_json = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    as_python = f"{name}({', '.join(f'{key}={value!r}' for key, value in arguments.items())})"
    return {
        "hermes": f"<tool_call>\n{as_json}\n</tool_call>",
        "json": as_json,
        "fenced": f"```json\n{as_json}\n```",
        "python": as_python,
        "python-list": f"[{as_python}]",
        "wrapper": "{API: " + json.dumps(as_python, ensure_ascii=False) + "}",
    }[fmt]


@_FAST
@given(
    fmt=st.sampled_from(["hermes", "json", "fenced", "python", "python-list", "wrapper"]),
    name=_IDENTIFIERS,
    arguments=_ARGUMENTS,
)
def test_rendered_calls_round_trip_and_their_prefixes_never_mislead(
    fmt: str, name: str, arguments: dict[str, Any]
) -> None:
    text = _render(fmt, name, arguments)
    if "<tool_call>" in text[1:] or "</tool_call>" in text[:-1]:
        return  # a Hermes tag is a tag even inside a string: documented limitation
    result = parse_calls(text)
    assert _calls(result) == [(name, arguments, ())], text
    assert result.errors == [] and result.text == ""
    closed = max(text.rfind("}"), text.rfind(")"), text.rfind("]")) + 1
    for cut in range(0, len(text), 3):
        got = _calls(parse_calls(text[:cut]))
        assert got in ([], [(name, arguments, ())]), text[:cut]
        if cut < closed:
            assert got == [], text[:cut]


# --------------------------------------------------------------------------- truncation


_COMPLETE = [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 12}}\n</tool_call>',
    '<tool_call>{"name": "f", "arguments": "{\\"a\\": [1, 2.5e3]}"}</tool_call>',
    '<tool_call>[{"name": "a", "arguments": {"n": -10}}, {"name": "b", "arguments": {}}]</tool_call>',
    "Sure.\n" + _hermes("a", {"s": 'x"}y'}) + "\n" + _hermes("b", {"n": 123}) + "\nDone.",
    '{"name": "get_time", "arguments": {"tz": "CET", "offset": 100}}',
    '[{"name": "a", "arguments": {"x": 10}}, {"name": "b", "arguments": {"y": 20}}]',
    '```json\n{"name": "f", "arguments": {"a": 12}}\n```',
    'set_alarm(time="7:30 am", repeat=[1, 22], snooze=-15)',
    '[get_weather(city="Paris", unit="c"), get_time(tz="CET", n=10)]',
    "math.factorial(n=50)",
    'send("hello (there)", 42, to={"name": "bob"})',
    '{API: "alarm(time=\\"7:30 am\\", days=12)"}',
    '{API: "alarm(time="7:30 am", days=12)"}',
    "Ok: f(n=12, s='Zürich')",
]


@pytest.mark.parametrize("text", _COMPLETE)
def test_every_prefix_yields_a_prefix_of_the_calls(text: str) -> None:
    options: dict[str, Any] = {"known_tools": {"f"}} if text.startswith("Ok:") else {}
    full = parse_calls(text, **options)
    assert full.calls and not full.errors, full
    expected = _calls(full)
    last = max(text.rfind("}"), text.rfind(")")) + 1
    for cut in range(len(text)):
        prefix = text[:cut]
        got = _calls(parse_calls(prefix, **options))
        assert got == expected[: len(got)], prefix
        if len(expected) == 1 and cut < last:
            # The call's last character is missing: nothing may be read from it.
            assert got == [], prefix
        _, stream_calls, _, _ = _stream_summary(_stream([prefix]))
        assert [(c.name, c.arguments, c.positional) for c in stream_calls] == _calls(
            parse_calls(prefix, formats=("hermes",))
        )


def test_a_truncated_call_at_the_end_is_reported() -> None:
    for prefix in (
        'set_alarm(time="7:3',
        '<tool_call>{"name": "f", "argu',
        '{"name": "f", "arguments": {"a": ',
        "[a(x=1), b(",
    ):
        result = parse_calls("Sure.\n" + prefix)
        assert result.calls == [] or prefix.startswith("[")
        assert result.errors, prefix
        assert result.text == "Sure."


# --------------------------------------------------------------------------- streaming


def test_stream_holds_back_a_possible_tag_only() -> None:
    parser = StreamingCallParser()
    assert parser.feed("Hello <tool") == [TextDelta("Hello ")]
    assert parser.feed("_call>") == [CallStarted()]
    assert parser.feed('{"name": "f", "arguments": {"a": 1}}') == []
    events = parser.feed("</tool_call> bye <")
    assert events[0] == CallParsed(
        ParsedCall(name="f", arguments={"a": 1}, raw='<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>')
    )
    assert events[1:] == [TextDelta(" bye ")]
    assert parser.feed("b>") == [TextDelta("<b>")]
    assert parser.close() == []


def test_stream_close_reads_complete_unclosed_block_and_reports_truncated_one() -> None:
    parser = StreamingCallParser()
    parser.feed('<tool_call>{"name": "f", "arguments": {}}\n</tool_ca')
    [event] = parser.close()
    assert isinstance(event, CallParsed) and event.call.name == "f"

    parser.feed('x <tool_call>{"name": "f", "argu')
    [event] = parser.close()
    assert isinstance(event, CallError) and "truncated" in event.error.message
    assert event.error.position is not None and event.error.position > 2

    # After close the parser starts a new stream.
    assert parser.feed("<tool_") == []
    assert parser.close() == [TextDelta("<tool_")]


def test_stream_error_positions_count_from_the_stream_start() -> None:
    text = "abc " + '<tool_call>{"name": "f", "arguments": {bad}}</tool_call>'
    [error] = parse_calls(text, formats=("hermes",)).errors
    _, _, stream_errors, _ = _stream_summary(_stream(list(text)))
    assert stream_errors == [error]
    assert text[error.position or 0] == "b"


_STREAM_PIECES = st.one_of(
    st.text(alphabet=list("ab <>/_\n{}\"'lotc"), max_size=12),
    st.sampled_from(
        [
            "<tool_call>",
            "</tool_call>",
            "<tool_",
            "</tool",
            _hermes("get_weather", {"city": "Paris"}),
            _hermes("é", {"s": "</tool_call"}),
            '<tool_call>{"name": "f", "arguments": {oops}}</tool_call>',
            '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": "{\\"x\\": 1}"}]</tool_call>',
            "<tool_call>f(x=1)</tool_call>",
            '<tool_call>{"name": "f"',
            "Hello there. ",
        ]
    ),
)


@_FAST
@given(pieces=st.lists(_STREAM_PIECES, max_size=8), data=st.data())
def test_stream_is_invariant_to_chunking(pieces: list[str], data: st.DataObject) -> None:
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12), label="cuts"))
    bounds = [0, *cuts, len(text)]
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]

    whole = _stream_summary(_stream([text]))
    chunked = _stream_summary(_stream(chunks))
    assert chunked == whole
    assert _stream_summary(_stream(list(text))) == whole

    batch = parse_calls(text, formats=("hermes",))
    stream_text, stream_calls, stream_errors, started = whole
    assert stream_calls == batch.calls
    assert stream_errors == batch.errors
    assert stream_text.strip() == batch.text
    assert started == text.count("<tool_call>")  # every opening tag starts a block
