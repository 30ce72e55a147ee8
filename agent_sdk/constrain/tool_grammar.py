"""Grammars for tool calls, from the tools' JSON schemas.

A call is written in the Hermes format that SmolLM2/Qwen-style models know::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}
    </tool_call>

Each tool gets its own rule with its name as a literal, so as soon as the
name is decided the rest of it, the key ``"arguments"`` and the punctuation
are forced (jump-forward). Arguments follow the tool's JSON schema exactly
(compact separators, required keys, enums, no extra keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent_sdk.errors import UserError

__all__ = ["tool_call_grammar", "CALL_OPEN", "CALL_CLOSE", "json_compact"]

CALL_OPEN = "<tool_call>\n"
CALL_CLOSE = "\n</tool_call>"

# Compact, single-line JSON: what small models have seen most and fewest tokens.
_JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def json_compact(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with llguidance formatting options for compact JSON."""
    return {**schema, "x-guidance": _JSON_STYLE}


def close_objects(schema: Any) -> Any:
    """Forbids undeclared keys in every object that declares its properties.

    Tool arguments come from a closed signature: a model must not invent
    keys (with random or weak models an open object lets it wander into an
    invented key until ``max_tokens``). Objects that say what extra keys may
    hold (``additionalProperties`` given) keep their rule.
    """
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas"):
        if isinstance(out.get(key), dict):  # name -> schema maps
            out[key] = {name: close_objects(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"):
        if isinstance(out.get(key), dict):
            out[key] = close_objects(out[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [close_objects(sub) for sub in out[key]]
    if "properties" in out and "additionalProperties" not in out and "patternProperties" not in out:
        out["additionalProperties"] = False
    return out


def _lit(text: str) -> str:
    # JSON string syntax is valid Lark string syntax for these literals.
    return json.dumps(text)


def tool_call_grammar(
    tools: Sequence[dict[str, Any]],
    *,
    choice: str = "required",
    parallel: bool = False,
    max_calls: int = 8,
) -> str:
    """A Lark grammar (llguidance dialect) for tool calls.

    Args:
        tools: Tools as ``{"name", "parameters"}`` dicts (the ``function`` part
            of the OpenAI format).
        choice: ``required`` (some tool) or a tool name (that tool).
        parallel: Allow several call blocks in a row.
        max_calls: Most call blocks when parallel.

    Raises:
        UserError: No tools, or ``choice`` names an unknown tool.
    """
    if not tools:
        raise UserError("a tool-call grammar needs at least one tool")
    names = [t["name"] for t in tools]
    if choice not in ("required", "auto"):
        if choice not in names:
            raise UserError(f"tool_choice names unknown tool {choice!r}; tools: {', '.join(names)}")
        tools = [t for t in tools if t["name"] == choice]
    rules = []
    alts = []
    for i, t in enumerate(tools):
        params = close_objects(t.get("parameters") or {"type": "object", "properties": {}})
        head = '{"name": ' + json.dumps(t["name"]) + ', "arguments": '
        rules.append(f"call_{i}: {_lit(head)} args_{i} \"}}\"")
        rules.append(f"args_{i}: %json {json.dumps(json_compact(params))}")
        alts.append(f"call_{i}")
    block = f"{_lit(CALL_OPEN)} call {_lit(CALL_CLOSE)}"
    if parallel and max_calls > 1:
        start = f"start: block (\"\\n\" block){{0,{max_calls - 1}}}"
    else:
        start = "start: block"
    lines = [start, f"block: {block}", "call: " + " | ".join(alts), *rules]
    return "\n".join(lines) + "\n"
