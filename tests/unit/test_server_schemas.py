"""The server's input guards without a model or a socket: JSON limits, schema loops, framing headers, the log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sdk.server import APIError
from agent_sdk.server.json_input import MAX_JSON_DEPTH, load_json, too_deep

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
