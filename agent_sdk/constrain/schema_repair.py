"""Tool schemas the grammar engine cannot use: repaired when the intent is plain, else left out.

One tool-call grammar covers every tool of a request, so a single schema that
llguidance refuses (``{"type": "integer", "enum": ["1", "2"]}`` is
unsatisfiable: no integer equals a string) used to break the request for all
tools. :func:`repair_schema` fixes what has one reading:

* ``enum`` and ``const`` values written in the wrong JSON type, when every
  value converts exactly to the one declared type: ``"1"`` to ``1`` for an
  integer, ``"2.5"`` to ``2.5`` for a number, ``"true"`` to ``True`` for a
  boolean, ``1`` to ``"1"`` for a string;
* type names from other languages (``int``, ``float``, ``str``, ``bool``,
  ``dict``, ``list``, ``tuple``, ``any``);
* a ``default`` the schema rejects: converted as above when that makes it
  valid, else dropped.

:func:`usable_tools` repairs each tool, checks that its call grammar compiles
on its own, and leaves out (or, strictly, refuses) the tools that still fail,
saying which and why. Results are cached by schema: the same tools come with
every request.

Repairs change what the grammar lets the model write, not what a tool's
validator accepts: a tool whose schema was repaired should be validated
against the repaired schema too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import validators

from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.tool_grammar import arguments_grammar

__all__ = ["repair_schema", "usable_tools"]

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
# A line of the grammar listing llguidance appends to its errors: "  5 | args_0: %json {...".
_LISTING_RE = re.compile(r"\d+ \| ")
_INTEGER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Subschemas repaired in turn. Not under "not", "if", "then", "else": there a
# repair could turn what a schema excludes into what it allows.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = ("items", "additionalProperties", "contains", "propertyNames")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems", "items")
# Tool schemas kept per grammar engine; a request's tools are the same each time.
_CACHE_SIZE = 512


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


def usable_tools(
    grammar_engine: GrammarEngine, tools: Sequence[dict[str, Any]], *, strict: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tools whose call grammar compiles, repaired, and warnings for the rest.

    Each tool's ``parameters`` go through :func:`repair_schema`; then the
    grammar of its arguments alone (:func:`~agent_sdk.constrain.tool_grammar.arguments_grammar`,
    exactly the rule a call grammar holds for them, whatever the call format)
    must compile with ``grammar_engine``. Results are cached per grammar engine
    by a hash of the tool's name and schema.

    Args:
        grammar_engine: The engine that will compile the request's grammar.
        tools: Tools as ``{"name", "parameters", ...}`` dicts (the ``function``
            part of the OpenAI format); not changed.
        strict: Raise instead of leaving tools out.

    Returns:
        The usable tools in their order (a tool whose schema was repaired is a
        new dict with the repaired ``parameters``; the others are passed on as
        they are) and the warnings: one per repair, naming the tool, and one
        per tool left out, naming the tool and the reason.

    Raises:
        GrammarError: With ``strict``, when some tool is unusable; the message
            lists every such tool and its reason.
    """
    usable: list[dict[str, Any]] = []
    warnings: list[str] = []
    refused: list[str] = []
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else None
        label = f"tool {name!r}" if isinstance(name, str) else f"tool {tool!r}"[:80]
        checked = _check_tool(grammar_engine, tool)
        warnings += [f"{label}: {warning}" for warning in checked.warnings]
        if checked.error is not None:
            refused.append(f"{label}: {checked.error}")
            warnings.append(f"{label} left out: {checked.error}")
        elif checked.parameters is None:
            usable.append(tool)
        else:
            usable.append({**tool, "parameters": copy.deepcopy(checked.parameters)})
    if strict and refused:
        count = f"{len(refused)} tool{'s' if len(refused) != 1 else ''}"
        lines = "\n".join(f"- {line}" for line in refused)
        raise GrammarError(f"{count} cannot be constrained by the grammar engine:\n{lines}")
    return usable, warnings


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


# ---------------------------------------------------------------------------
# The compile check, cached


@dataclass(frozen=True)
class _Checked:
    """What is known about one tool.

    Attributes:
        parameters: The repaired schema, or None when it needed no repair.
        warnings: One per repair.
        error: Why the tool cannot be used, or None.
    """

    parameters: dict[str, Any] | None
    warnings: tuple[str, ...]
    error: str | None


_caches: weakref.WeakKeyDictionary[GrammarEngine, OrderedDict[str, _Checked]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _check_tool(grammar_engine: GrammarEngine, tool: Any) -> _Checked:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
        return _Checked(None, (), "a tool needs a 'name' string")
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return _Checked(None, (), f"'parameters' must be a JSON schema object, got {type(parameters).__name__}")
    try:
        text = json.dumps([tool["name"], parameters], allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _Checked(None, (), f"the schema is not JSON: {exc}")
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    with _lock:
        cache = _caches.setdefault(grammar_engine, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    checked = _compile_check(grammar_engine, tool["name"], parameters)
    with _lock:
        cache[key] = checked
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return checked


def _compile_check(grammar_engine: GrammarEngine, name: str, parameters: dict[str, Any] | None) -> _Checked:
    repaired, warnings = repair_schema(parameters)
    try:
        grammar_engine.lark_grammar(arguments_grammar(repaired))
    except GrammarError as exc:
        return _Checked(None, tuple(warnings), _reason(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # a schema json.dumps or close_objects cannot take
        return _Checked(None, tuple(warnings), f"{type(exc).__name__}: {exc}")
    return _Checked(repaired if warnings else None, tuple(warnings), None)


def _reason(exc: GrammarError) -> str:
    """llguidance's message on one line, without the grammar's position, listing and carets."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not _LISTING_RE.match(line) and set(line) != {"^"}]
    text = " ".join(kept).removeprefix("grammar does not compile: ")
    text = re.sub(r"^at \d+\(\d+\): ", "", text) or "the grammar does not compile"
    return text if len(text) <= 300 else text[:297] + "..."
