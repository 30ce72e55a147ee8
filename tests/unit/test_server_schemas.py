"""The server's input guards without a model or a socket: JSON limits, schema loops, framing headers, the log."""

from __future__ import annotations

import json
from email.message import Message
from typing import Any

import pytest

from agent_sdk.server import APIError
from agent_sdk.server.http import escape_log, request_body_length
from agent_sdk.server.json_input import MAX_JSON_DEPTH, load_json, too_deep
from agent_sdk.server.schemas import MAX_SCHEMA_DEPTH, check_schema, grammar_problem, ref_loop

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------- JSON


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "[-1E400]"])
def test_non_finite_numbers_are_not_json(text: str) -> None:
    with pytest.raises(APIError) as exc:
        load_json(text.encode())
    assert exc.value.status == 400 and exc.value.code == "invalid_json"


def test_finite_numbers_and_unicode_pass() -> None:
    assert load_json(b'{"a": [1.5e300, -2, "\\u00e9\\ud83d\\ude00"]}') == {"a": [1.5e300, -2, "é😀"]}


def test_nesting_is_bounded_with_the_path() -> None:
    ok = json.dumps({"a": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))})
    load_json(ok.encode())
    deep = json.dumps({"tools": [{"x": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)}]})
    with pytest.raises(APIError) as exc:
        load_json(deep.encode())
    assert f"deeper than {MAX_JSON_DEPTH}" in exc.value.message and "tools[0].x[0][0]" in exc.value.message
    with pytest.raises(APIError):  # past the interpreter's own stack
        load_json(b"[" * 200_000)


def test_too_deep_is_iterative_and_exact() -> None:
    value: Any = []
    for _ in range(50_000):
        value = [value]
    assert too_deep(value, 10) == [0] * 10
    assert too_deep({"a": [{}]}, 3) is None and too_deep({"a": [{}]}, 2) == ["a", 0]


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(APIError) as exc:
        load_json(b'{"k\\udc00": 1}')
    assert "surrogate" in exc.value.message


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize(("schema", "labels"), [
    ({"properties": {"c": {"$ref": "#"}}}, ["#", "#"]),
    ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
     ["#/$defs/a", "#/$defs/b", "#/$defs/a"]),
    ({"definitions": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {
        "$ref": "#/definitions/node"}}}}}, "$ref": "#/definitions/node"}, ["#/definitions/node", "#/definitions/node"]),
    ({"$defs": {"a/b": {"items": {"$ref": "#/$defs/a~1b"}}}}, ["#/$defs/a~1b", "#/$defs/a~1b"]),
    ({"anyOf": [{"type": "null"}, {"properties": {"x": {"$ref": "#/anyOf/1"}}}]}, ["#/anyOf/1", "#/anyOf/1"]),
])
def test_ref_loops_are_found(schema: dict[str, Any], labels: list[str]) -> None:
    loop = ref_loop(schema)
    assert loop is not None and loop[2] == labels


@pytest.mark.parametrize("schema", [
    {"$defs": {"a": {"type": "string"}, "b": {"properties": {"x": {"$ref": "#/$defs/a"}}}},
     "properties": {"p": {"$ref": "#/$defs/b"}, "q": {"$ref": "#/$defs/a"}}},  # shared, not recursive
    {"properties": {"c": {"const": {"$ref": "#"}}, "d": {"default": {"$ref": "#"}}, "e": {"enum": [{"$ref": "#"}]}}},
    {"properties": {"x": {"$ref": "other.json#"}, "y": {"$ref": "#anchor"}, "z": {"$ref": "#/$defs/missing"}}},
])
def test_schemas_without_loops_pass(schema: dict[str, Any]) -> None:
    assert ref_loop(schema) is None
    check_schema(schema, "s", param="s")


def test_many_refs_are_checked_quickly() -> None:
    import time

    schema = {"$defs": {f"d{i}": {"type": "string"} for i in range(2000)},
              "properties": {f"p{i}": {"$ref": f"#/$defs/d{i % 2000}"} for i in range(20_000)}}
    t0 = time.monotonic()
    assert ref_loop(schema) is None
    assert time.monotonic() - t0 < 2


def test_check_schema_names_where() -> None:
    with pytest.raises(APIError) as exc:
        check_schema({"properties": {"c": {"$ref": "#"}}}, "tools[2].function.parameters", param="tools")
    assert exc.value.code == "recursive_schema" and "tools[2].function.parameters.properties.c" in exc.value.message
    deep: dict[str, Any] = {}
    for _ in range(MAX_SCHEMA_DEPTH):
        deep = {"items": deep}
    with pytest.raises(APIError) as exc:
        check_schema(deep, "response_format.json_schema.schema", param="response_format")
    assert exc.value.code == "schema_too_deep" and str(MAX_SCHEMA_DEPTH) in exc.value.message


def test_grammar_problem_keeps_the_statement_only() -> None:
    listing = ('grammar does not compile: at 5(9): failed to compile JSON schema: Unknown format: bogus\n'
               '   3 | call: call_0\n   5 | args_0: %json {"type": "object"}\n      ^')
    assert grammar_problem(Exception(listing)) == "Unknown format: bogus"
    state = "grammar matcher error: NoExtensionBias\n<state>\nTokens: x\n</state><grammar>\nstart: a\n</grammar>"
    assert grammar_problem(Exception(state)) == "grammar matcher error: NoExtensionBias"
    assert grammar_problem(Exception("regex parse error:\n    (\n    ^\nerror: unclosed group")) == \
        "regex parse error: ( ^ error: unclosed group"
    assert len(grammar_problem(Exception("x" * 5000))) == 300


# ------------------------------------------------------------ HTTP pieces


def _headers(*pairs: tuple[str, str]) -> Message:
    msg = Message()
    for k, v in pairs:
        msg[k] = v
    return msg


@pytest.mark.parametrize(("pairs", "length"), [
    ((), 0), ((("Content-Length", "0"),), 0), ((("Content-Length", " 42\t"),), 42), ((("Content-Length", "007"),), 7),
])
def test_request_body_length_accepts_plain_digits(pairs: tuple[tuple[str, str], ...], length: int) -> None:
    assert request_body_length(_headers(*pairs)) == length


@pytest.mark.parametrize(("pairs", "status"), [
    ((("Content-Length", "+2"),), 400), ((("Content-Length", "0_2"),), 400), ((("Content-Length", "\uff12"),), 400),
    ((("Content-Length", "-1"),), 400), ((("Content-Length", "2, 2"),), 400), ((("Content-Length", ""),), 400),
    ((("Content-Length", "9" * 40),), 400),
    ((("Content-Length", "2"), ("Content-Length", "3")), 400), ((("Content-Length", "2"), ("Content-Length", "2")), 400),
    ((("Transfer-Encoding", "chunked"), ("Content-Length", "2")), 400),
    ((("Transfer-Encoding", "chunked"),), 411), ((("Transfer-Encoding", "gzip, chunked"),), 411),
])
def test_request_body_length_refuses_ambiguous_framing(pairs: tuple[tuple[str, str], ...], status: int) -> None:
    with pytest.raises(APIError) as exc:
        request_body_length(_headers(*pairs))
    assert exc.value.status == status


def test_escape_log() -> None:
    assert escape_log('GET /\x1b[31mFAKE\x07 "x"\x7f\x9b\n é') == 'GET /\\x1b[31mFAKE\\x07 "x"\\x7f\\x9b\\x0a é'
