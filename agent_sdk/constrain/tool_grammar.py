"""Grammar rules for a tool's arguments, from its JSON schema.

A call format (:mod:`agent_sdk.agent.call_format`) builds the call grammar:
how a call opens, names its tool and closes. What every format shares is
here: the arguments follow the tool's JSON schema exactly (compact
separators, required keys, enums, no extra keys).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["arguments_grammar", "arguments_rule", "close_objects", "json_compact"]

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


def arguments_rule(parameters: dict[str, Any] | None) -> str:
    """The right-hand side of a Lark rule for a call's arguments object (llguidance's ``%json``).

    Undeclared keys are closed (:func:`close_objects`) and the JSON is compact
    (:func:`json_compact`); a call format puts this rule after its call head.
    """
    params = close_objects(parameters or {"type": "object", "properties": {}})
    return f"%json {json.dumps(json_compact(params))}"


def arguments_grammar(parameters: dict[str, Any] | None) -> str:
    """A Lark grammar of one arguments object alone (to check that a tool's schema compiles)."""
    return f"start: {arguments_rule(parameters)}\n"
