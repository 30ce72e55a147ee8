"""JSON from clients, read strictly: finite numbers, valid Unicode, bounded nesting.

Python's :func:`json.loads` accepts ``NaN``, ``Infinity`` and ``1e999``
(which it reads as infinity), none of which is JSON, and nests as deep as
the interpreter's stack allows. A non-finite number inside a schema turns
into ``null`` on its way to the grammar engine, deep nesting turns into a
``RecursionError`` in whichever recursive code reads the value next, and a
lone surrogate escape (``"\\ud800"``) is no text the tokenizer can encode,
so all three are refused here, before anything else looks at the body.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agent_sdk.server.errors import APIError

__all__ = ["MAX_JSON_DEPTH", "json_path", "load_json", "too_deep"]

# Objects and arrays nested in a request body. A request needs about 5 levels
# around a tool schema (body → tools → entry → function → parameters) plus the
# schema itself (at most MAX_SCHEMA_DEPTH, schemas.py); anything deeper only
# feeds recursion in the schema, template and grammar code.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def load_json(raw: bytes | str, *, what: str = "the body", code: str = "invalid_json", param: str | None = None) -> Any:
    """Parses ``raw`` as strict JSON nested at most :data:`MAX_JSON_DEPTH` levels.

    Args:
        raw: The JSON text (bytes: UTF-8, or UTF-16/32 with its BOM, as :func:`json.loads` reads them).
        what: How the error names the text.
        code: The error's code.
        param: The request field the text is.

    Raises:
        APIError: 400 saying what is wrong (and where, for nesting).
    """
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:  # nested past the interpreter's stack, far past the limit
        raise APIError(400, f"{what} nests deeper than {MAX_JSON_DEPTH} levels", code=code, param=param) from None
    except ValueError as exc:  # also UnicodeDecodeError (not UTF-8) and overlong integers
        raise APIError(400, f"{what} is not valid JSON: {exc}", code=code, param=param) from None
    path = too_deep(value, MAX_JSON_DEPTH)
    if path is not None:
        raise APIError(400, f"{what} nests deeper than {MAX_JSON_DEPTH} levels (at {json_path(path)})",
                       code=code, param=param)
    if _has_lone_surrogate(value):  # "\ud800" parses, but is no text: the tokenizer and the grammar engine refuse it
        raise APIError(400, f"{what} has a string with a lone UTF-16 surrogate (\\ud800-\\udfff): not valid Unicode",
                       code=code, param=param)
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def too_deep(value: Any, limit: int) -> list[str | int] | None:
    """The path to the first object or array nested deeper than ``limit`` levels in ``value``, or None.

    Iterative, so that it cannot itself run out of stack; ``{}`` is one level.
    """
    # Each entry: (value, depth, key in its parent, parent's entry): the path is rebuilt only when needed.
    stack: list[tuple[Any, int, str | int | None, Any]] = [(value, 1, None, None)]
    while stack:
        entry = stack.pop()
        node, depth = entry[0], entry[1]
        if isinstance(node, dict):
            children: Any = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if depth > limit:
            path: list[str | int] = []
            while entry is not None and entry[2] is not None:
                path.append(entry[2])
                entry = entry[3]
            return path[::-1]
        stack.extend((child, depth + 1, key, entry) for key, child in children if isinstance(child, (dict, list)))
    return None


def json_path(path: list[str | int], *, root: str = "", most: int = 8) -> str:
    """``tools[0].function.parameters…``: a readable path, cut after ``most`` steps."""
    out = root
    for step in path[:most]:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    if len(path) > most:
        out += "…"
    return out or "(root)"
