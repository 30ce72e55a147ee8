"""Repairs what has one reading in a JSON schema (tool parameters written loosely).

* ``enum`` and ``const`` values written in the wrong JSON type, when every
  value converts exactly to the one declared type: ``"1"`` to ``1`` for an
  integer, ``"2.5"`` to ``2.5`` for a number, ``"true"`` to ``True`` for a
  boolean, ``1`` to ``"1"`` for a string;
* type names from other languages (``int``, ``float``, ``str``, ``bool``,
  ``dict``, ``list``, ``tuple``, ``any``);
* a ``default`` the schema rejects: converted as above when that makes it
  valid, else dropped.

Pure JSON, no grammar engine: tools imported from the OpenAI format are
repaired when imported (:mod:`agent_sdk.tools.openai_format`), so the prompt,
the call grammar and argument validation all see the same schema;
:func:`agent_sdk.constrain.schema_repair.usable_tools` repairs tool specs
that did not come through a registry.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from jsonschema import validators

__all__ = ["repair_schema"]

_TYPE_ALIASES: dict[str, str | None] = {
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "str": "string",
    "text": "string",
    "bool": "boolean",
    "dict": "object",
    "map": "object",
    "list": "array",
    "tuple": "array",
    "none": "null",
    "nonetype": "null",
    "any": None,  # no type: any value
}
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_INTEGER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Subschemas repaired in turn. Not under "not", "if", "then", "else": there a
# repair could turn what a schema excludes into what it allows.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = ("items", "additionalProperties", "contains", "propertyNames")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems", "items")


def repair_schema(schema: Any) -> tuple[Any, list[str]]:
    """Repairs what is unambiguous in a JSON schema (see the module's description).

    Args:
        schema: A JSON schema; not changed.

    Returns:
        The repaired schema (``schema`` itself when nothing needed repair, else
        a repaired copy) and one warning per repair, each naming where it was
        made as a JSON pointer (``#/properties/number_of_tickets``).
    """
    if not isinstance(schema, dict):
        return schema, []
    repaired = copy.deepcopy(schema)
    warnings: list[str] = []
    _repair(repaired, repaired, "#", warnings)
    return (repaired, warnings) if warnings else (schema, [])


# ---------------------------------------------------------------------------
# Repairs


def _repair(node: Any, root: dict[str, Any], path: str, warnings: list[str]) -> None:
    """Repairs ``node`` (a subschema of ``root`` at ``path``) in place, then its subschemas."""
    if not isinstance(node, dict):
        return
    _repair_type(node, path, warnings)
    declared = node.get("type")
    if isinstance(declared, str):
        _repair_values(node, declared, path, warnings)
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            for name, sub in node[key].items():
                _repair(sub, root, f"{path}/{key}/{_pointer(name)}", warnings)
    for key in _SCHEMA_VALUES:
        if isinstance(node.get(key), dict):
            _repair(node[key], root, f"{path}/{key}", warnings)
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            for i, sub in enumerate(node[key]):
                _repair(sub, root, f"{path}/{key}/{i}", warnings)
    # Last, against the repaired node and subschemas.
    _repair_default(node, root, path, warnings)


def _repair_type(node: dict[str, Any], path: str, warnings: list[str]) -> None:
    declared = node.get("type")
    names: list[Any] = declared if isinstance(declared, list) else [declared]
    if not all(isinstance(name, str) for name in names) or all(name in _JSON_TYPES for name in names):
        return
    renamed: list[str | None] = []
    for name in map(str, names):
        if name in _JSON_TYPES or name.lower() in _JSON_TYPES:
            renamed.append(name.lower())
        elif name.lower() in _TYPE_ALIASES:
            renamed.append(_TYPE_ALIASES[name.lower()])
        else:
            return  # a name we do not know: left for the compile check to report
    if None in renamed:
        del node["type"]
        warnings.append(f"{path}: type {declared!r} means any value; the type is dropped")
        return
    new: Any = renamed[0] if isinstance(declared, str) else list(dict.fromkeys(renamed))
    node["type"] = new
    warnings.append(f"{path}: type {declared!r} is not a JSON Schema type; using {new!r}")


def _repair_values(node: dict[str, Any], declared: str, path: str, warnings: list[str]) -> None:
    """Converts ``enum`` and ``const`` values to the declared type when every one converts exactly."""
    enum = node.get("enum")
    if isinstance(enum, list) and enum and not all(_has_type(value, declared) for value in enum):
        converted = [_convert(value, declared) for value in enum]
        if all(ok for ok, _ in converted):
            values = _unique([value for _, value in converted])
            node["enum"] = values
            warnings.append(f"{path}: enum values {_shown(enum)} are not of type {declared!r}; using {_shown(values)}")
    if "const" in node and not _has_type(node["const"], declared):
        ok, value = _convert(node["const"], declared)
        if ok:
            warnings.append(f"{path}: const {_shown(node['const'])} is not of type {declared!r}; using {_shown(value)}")
            node["const"] = value


def _repair_default(node: dict[str, Any], root: dict[str, Any], path: str, warnings: list[str]) -> None:
    if "default" not in node:
        return
    default = node["default"]
    schema = {key: value for key, value in node.items() if key != "default"}
    if _accepts(schema, root, default) is not False:
        return
    declared = node.get("type")
    if isinstance(declared, str):
        ok, value = _convert(default, declared)
        if ok and _accepts(schema, root, value):
            node["default"] = value
            warnings.append(f"{path}: default {_shown(default)} does not fit the schema; using {_shown(value)}")
            return
    del node["default"]
    warnings.append(f"{path}: default {_shown(default)} does not fit the schema; dropped")


def _accepts(schema: dict[str, Any], root: dict[str, Any], value: Any) -> bool | None:
    """Whether ``schema`` (a subschema of ``root``) accepts ``value``; None when that cannot be told."""
    probe = dict(schema)
    for key in ("$defs", "definitions"):
        if isinstance(root.get(key), dict) and key not in probe:
            probe[key] = root[key]  # so that local references resolve
    try:
        validator = validators.validator_for(root, default=validators.Draft202012Validator)
        return bool(validator(probe).is_valid(value))
    except Exception:  # noqa: BLE001  (unknown types, unresolvable references: the compile check judges the schema)
        return None


def _has_type(value: Any, declared: str) -> bool:
    if declared == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if declared == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "object": dict,
        "array": list,
        "null": type(None),
    }
    kind = kinds.get(declared)
    return kind is not None and isinstance(value, kind)


def _convert(value: Any, declared: str) -> tuple[bool, Any]:
    """``(True, value as the declared type)`` if it converts exactly, else ``(False, None)``."""
    if _has_type(value, declared):
        return True, int(value) if declared == "integer" else value
    if isinstance(value, str):
        if declared == "integer" and _INTEGER_RE.fullmatch(value):
            return True, int(value)
        if declared == "number" and _NUMBER_RE.fullmatch(value):
            number = json.loads(value)
            if math.isfinite(number):
                return True, number
        if declared == "boolean" and value.lower() in ("true", "false"):
            return True, value.lower() == "true"
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if declared == "string" and numeric and (isinstance(value, int) or math.isfinite(value)):
        return True, json.dumps(value)
    return False, None


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if not any(value == other and type(value) is type(other) for other in seen):
            seen.append(value)
    return seen


def _shown(values: Any) -> str:
    text = json.dumps(values, ensure_ascii=False, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."


def _pointer(name: str) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")
