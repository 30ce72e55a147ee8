"""The call parser against hostile model output: huge numbers, inputs built to be slow, huge blocks.

Whatever the text, :func:`parse_calls` and :class:`StreamingCallParser` must
return values a tool can receive (every argument survives ``json.dumps`` and
``str``), say clearly what they refused, and do work that grows with the
length of the text. Work is counted, not timed: the JSON decoder is wrapped to
count the characters handed to it (a failed decode counts the lines of all it
was handed, so handing it the whole text at every bracket was the quadratic
cost), and the streaming parser's bound is observed through its events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

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

pytestmark = pytest.mark.unit

_KB = 1024
_MAX_DIGITS = 640  # the parser's limit on an int's decimal digits
_MAX_BLOCK = 65_536  # the parser's limit on a <tool_call> block's content


def _stream(chunks: list[str]) -> list[StreamEvent]:
    parser = StreamingCallParser()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def _all_results(text: str) -> list[ParseResult]:
    return [
        parse_calls(text),
        parse_calls(text, known_tools={"f", "a"}),
        parse_calls(text, formats=("json",)),
        parse_calls(text, formats=("python",)),
    ]


def _assert_printable(result: ParseResult) -> None:
    """Every value found can be serialized and printed (Python's int-to-str limit included)."""
    for call in result.calls:
        json.dumps(call.arguments)
        json.dumps(call.positional)
        str(call.arguments)


class _CountingDecoder:
    """Wraps the parser's JSON decoder, counting the characters it is handed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.chars = 0
        self.calls = 0

    def raw_decode(self, text: str, idx: int = 0) -> tuple[Any, int]:
        self.calls += 1
        self.chars += len(text)
        return self.inner.raw_decode(text, idx)

    def decode(self, text: str) -> Any:
        self.calls += 1
        self.chars += len(text)
        return self.inner.decode(text)


@pytest.fixture
def decoder(monkeypatch: pytest.MonkeyPatch) -> _CountingDecoder:
    counting = _CountingDecoder(parsing_module._DECODER)
    monkeypatch.setattr(parsing_module, "_DECODER", counting)
    return counting


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "text",
    [
        "f(x=0x" + "f" * 5000 + ")",
        "f(x=-0x" + "f" * 5000 + ")",
        "f(x=0o" + "7" * 5000 + ")",
        "f(x=0b" + "1" * 20_000 + ")",
        "f(" + "0x" + "f" * 5000 + ")",
        "<tool_call>f(x=0x" + "f" * 5000 + ")</tool_call>",
        '{API: "f(x=0x' + "f" * 5000 + ')"}',
        "f(x=[1, {'a': 0x" + "f" * 5000 + "}])",
    ],
)
def test_a_huge_hexadecimal_int_is_a_clear_error(text: str) -> None:
    for result in _all_results(text):
        _assert_printable(result)
    result = parse_calls(text)
    assert result.calls == []
    [error] = result.errors
    assert f"more than {_MAX_DIGITS} digits" in error.message


def test_a_huge_int_in_a_python_dict_block_yields_no_call() -> None:
    # A Python-literal dict that is not all literals falls back to the JSON error.
    text = "<tool_call>{'name': 'f', 'arguments': {'x': 0x" + "f" * 5000 + "}}</tool_call>"
    result = parse_calls(text)
    assert result.calls == [] and len(result.errors) == 1


@pytest.mark.parametrize("digits", [_MAX_DIGITS + 1, 1000, 4300, 4301, 5000, 50_000])
@pytest.mark.parametrize(
    "template",
    [
        "f(x={n})",
        "f(x=-{n})",
        "f(x={n_})",
        "<tool_call>f(x={n})</tool_call>",
        '{{"name": "f", "arguments": {{"x": {n}}}}}',
        '{{"name": "f", "arguments": {{"x": [-{n}]}}}}',
        '<tool_call>{{"name": "f", "arguments": {{"x": {n}}}}}</tool_call>',
        '<tool_call>{{"name": "f", "arguments": "{{\\"x\\": {n}}}"}}</tool_call>',
        '```json\n{{"name": "f", "arguments": {{"x": {n}}}}}\n```',
    ],
)
def test_a_decimal_int_past_the_digit_limit_is_a_clear_error(template: str, digits: int) -> None:
    number = "9" * digits
    text = template.format(n=number, n_="1_" * (digits - 1) + "1")
    for result in _all_results(text):
        _assert_printable(result)
    result = parse_calls(text)
    assert result.calls == []
    [error] = result.errors
    assert f"more than {_MAX_DIGITS} digits" in error.message
    assert len(error.message) < 200


def test_a_python_digit_error_points_at_the_number() -> None:
    text = "f(a=1, b=" + "9" * 5000 + ")"
    [error] = parse_calls(text).errors
    assert error.position == text.index("9")


@pytest.mark.parametrize(
    "text",
    [
        "f(x=" + "9" * _MAX_DIGITS + ")",
        "f(x=-" + "9" * _MAX_DIGITS + ")",
        '{"name": "f", "arguments": {"x": ' + "9" * _MAX_DIGITS + "}}",
        "<tool_call>f(x=0x" + "f" * 500 + ")</tool_call>",  # 603 decimal digits
    ],
)
def test_an_int_within_the_limit_is_read(text: str) -> None:
    result = parse_calls(text)
    assert result.errors == []
    [call] = result.calls
    assert len(str(abs(call.arguments["x"]))) <= _MAX_DIGITS
    _assert_printable(result)


@pytest.mark.parametrize(
    "text",
    [
        "f(x=1e999)",
        "f(x=-1e999)",
        "f(x=1" + "0" * 400 + ".0)",
        '{"name": "f", "arguments": {"x": 1e999}}',
        '{"name": "f", "arguments": {"x": -1e999}}',
        '{"name": "f", "arguments": {"x": 1' + "0" * 100_000 + ".0}}",
        '<tool_call>{"name": "f", "arguments": {"x": 1e999}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": "{\\"x\\": 1e999}"}</tool_call>',
        '{"name": "f", "arguments": {"x": NaN}}',
        '{"name": "f", "arguments": {"x": -Infinity}}',
    ],
)
def test_a_float_out_of_range_is_an_error_with_a_short_message(text: str) -> None:
    for result in _all_results(text):
        _assert_printable(result)
    result = parse_calls(text)
    assert result.calls == []
    [error] = result.errors
    assert len(error.message) < 200


# --------------------------------------------------------------------------- work that grows with the text


@pytest.mark.parametrize(
    "unit",
    [
        '[{"',  # 192 KB of it took 6.6 s: every bracket decoded, every failure counting lines from the start
        '{"',
        '{"a":1 ',
        '[{"a": 1} ',
        '{"a": "b" ',
        '{"name": "f", ',
        '{"a":[',
        '{"\\u12',
        '```json\n{"a":1 ',
        '{API: "',
    ],
)
def test_json_decoding_work_grows_linearly(unit: str, decoder: _CountingDecoder) -> None:
    text = unit * (192 * _KB // len(unit))
    parse_calls(text)
    parse_calls(text, known_tools={"f"})
    # Decoding each candidate's own neighbourhood (a window that doubles from
    # 64 characters) stays within a small multiple of the text; handing the
    # decoder the whole text at each candidate is thousands of times it.
    assert decoder.chars <= 32 * len(text)


def test_a_repeated_list_of_objects_is_not_decoded_at_every_bracket(decoder: _CountingDecoder) -> None:
    text = '[{"' * (64 * _KB)
    result = parse_calls(text)
    assert result == ParseResult(calls=[], text=text, errors=[])
    # No '[{"' begins an object with a complete key: nothing to decode.
    assert decoder.calls == 0


def test_a_call_after_hostile_text_is_still_found(decoder: _CountingDecoder) -> None:
    text = '{"a":1 ' * 20_000 + '\n{"name": "f", "arguments": {"x": 1}}'
    result = parse_calls(text)
    assert [(c.name, c.arguments) for c in result.calls] == [("f", {"x": 1})]
    assert decoder.chars <= 64 * len(text)


def test_a_long_valid_value_is_decoded_whole() -> None:
    arguments = {"items": list(range(20_000)), "text": "x" * 50_000, "nested": {"a": [{"b": "c"}] * 1000}}
    text = "Here:\n" + json.dumps({"name": "f", "arguments": arguments}) + "\nDone."
    result = parse_calls(text)
    assert result.errors == []
    [call] = result.calls
    assert call.arguments == arguments
    assert result.text == "Here:\n\nDone."


# --------------------------------------------------------------------------- nesting, strings, odd characters


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("f(x=" + "[" * 100_000, "unterminated"),
        ("f(x=" + "[" * 300 + "]" * 300 + ")", "nested"),
        ("f(x=" + "(" * 300 + "1" + ")" * 300 + ")", "nested"),
        ("f(x=" + "-" * 100_000 + "1)", "nested too deeply"),
        ("f(x=" + "not " * 50_000 + "1)", "nested too deeply"),
        ('{"name": "f", "arguments": ' + '{"a": ' * 50_000, "recursion"),
        ('{"name": "f", "arguments": ' + "[" * 100_000 + "]" * 100_000 + "}", "recursion"),
        ("<tool_call>" + '{"name": "f", "arguments": ' + "[" * 30_000 + "]" * 30_000 + "}</tool_call>", "JSON"),
        ('{"name": "f", "arguments": {"a": "' + "x" * 200_000, "Unterminated string"),
        ('<tool_call>{"name": "f", "arguments": {"a": "' + "x" * 50_000, "Unterminated string"),
        ("f(x='" + "x" * 200_000, "unterminated"),
        ('{"name": "f", "arguments": {"a": "\\u12', "escape"),
        ("f(x='\x00')", "null bytes"),
        ('{"name": "f", "arguments": {"a": "\x00"}}', "control character"),
    ],
)
def test_deep_unterminated_and_odd_input_is_one_clear_error(text: str, needle: str) -> None:
    result = parse_calls(text)
    assert result.calls == []
    [error] = result.errors
    assert needle.lower() in error.message.lower()
    assert error.message.strip() != "invalid call syntax:"
    assert error.position is not None and 0 <= error.position <= len(text)


@pytest.mark.parametrize(
    "text",
    [
        "\x00" * 100_000,
        "f(x=1)\x00",
        "\x00f(x=1)",
        '<tool_call>{"name": "f", "arguments": {"a": "\\u0000"}}</tool_call>',
        'f(x="a\\x00b")',
        "\ud800" * 1000 + "f(x='\udfff')",
        "\\" * 100_000,
        '"' * 100_000,
        "'" * 100_000,
        "```" * 50_000,
        "#" * 100_000,
        "\r" * 100_000,
    ],
)
def test_odd_characters_never_raise(text: str) -> None:
    for result in _all_results(text):
        _assert_printable(result)
    _stream([text])
    _stream([text[i : i + 7] for i in range(0, len(text), 7)])


def test_nul_characters_inside_values_are_kept() -> None:
    [call] = parse_calls('<tool_call>{"name": "f", "arguments": {"a": "\\u0000"}}</tool_call>').calls
    assert call.arguments == {"a": "\x00"}
    [call] = parse_calls('f(x="a\\x00b")').calls
    assert call.arguments == {"x": "a\x00b"}


# --------------------------------------------------------------------------- huge <tool_call> blocks


def test_a_huge_block_is_one_error_with_a_bounded_raw() -> None:
    content = '{"name": "f", "arguments": {"a": "' + "x" * (2 * _MAX_BLOCK) + '"}}'
    text = "Sure. <tool_call>" + content + "</tool_call> Done."
    result = parse_calls(text)
    assert result.calls == []
    [error] = result.errors
    assert "longer than" in error.message
    assert error.position == text.index("<tool_call>")
    assert len(error.raw) <= len("<tool_call>") + _MAX_BLOCK
    assert result.text == "Sure.  Done."


def test_a_block_at_the_limit_is_read() -> None:
    filler = "x" * (_MAX_BLOCK - len('{"name": "f", "arguments": {"a": ""}}'))
    content = '{"name": "f", "arguments": {"a": "' + filler + '"}}'
    assert len(content) == _MAX_BLOCK
    [call] = parse_calls("<tool_call>" + content + "</tool_call>").calls
    assert call.arguments == {"a": filler}


def test_the_stream_reports_a_huge_block_before_it_ends_and_keeps_little() -> None:
    parser = StreamingCallParser()
    events = parser.feed("Hi <tool_call>")
    assert events == [TextDelta("Hi "), CallStarted()]
    chunk = '[{"' * 1000
    seen: list[StreamEvent] = []
    fed = 0
    while not seen:
        seen = parser.feed(chunk)
        fed += len(chunk)
        assert fed <= _MAX_BLOCK + 2 * len(chunk), "no error after the limit"
    [event] = seen
    assert isinstance(event, CallError) and "longer than" in event.error.message
    assert event.error.position == 3
    # The rest of a runaway block is dropped as it arrives: nothing more until it ends.
    for _ in range(200):
        assert parser.feed(chunk) == []
    assert parser.feed('</tool_call> bye <tool_call>{"name": "g", "arguments": {}}</tool_call>') == [
        TextDelta(" bye "),
        CallStarted(),
        CallParsed(ParsedCall("g", {}, '<tool_call>{"name": "g", "arguments": {}}</tool_call>')),
    ]
    assert parser.close() == []


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 10**9])
@pytest.mark.parametrize(
    "ending",
    ["</tool_call> tail", "<tool_call>f(x=1)</tool_call>", "</tool_ca", "", "</tool_call"],
)
def test_the_stream_and_the_batch_parser_agree_on_a_huge_block(chunk_size: int, ending: str) -> None:
    text = 'a <tool_call>{"name": "f", "arguments": {"a": "' + "y" * (_MAX_BLOCK + 50) + '"}}' + ending
    events = _stream([text[i : i + chunk_size] for i in range(0, len(text), chunk_size)])
    batch = parse_calls(text, formats=("hermes",))
    assert [e.call for e in events if isinstance(e, CallParsed)] == batch.calls
    assert [e.error for e in events if isinstance(e, CallError)] == batch.errors
    streamed_text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed_text.strip() == batch.text
