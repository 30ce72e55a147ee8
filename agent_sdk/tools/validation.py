"""Validating a model's tool arguments, with error messages the model can act on.

A function tool validates with pydantic, which also converts: an enum value
becomes the enum member, an object becomes the nested model, ``"3"`` may
become ``3`` (pydantic's lax mode). A tool declared only by its JSON schema
(imported from the OpenAI format) validates with ``jsonschema`` and passes the
arguments on unchanged.

Either way a failure raises one :class:`~agent_sdk.errors.ToolArgumentError`
listing every problem, one line per argument path::

    invalid arguments for tool 'get_weather':
    - city: missing required argument
    - unit: Input should be 'c' or 'f' (got "k")
    - days: unexpected argument (the parameters are: city, unit)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import pydantic
from pydantic import BaseModel

from agent_sdk.errors import ToolArgumentError, ToolDefinitionError
from agent_sdk.tools.schema import FunctionSchema

__all__ = ["JsonSchemaArgumentValidator", "PydanticArgumentValidator", "format_value", "schema_accepts"]

# pydantic >= 2.12 can forbid unknown keys in nested models and TypedDicts at
# validation time, which keeps validation as strict as the schema (where every
# object is closed). Older versions ignore (drop) unknown nested keys.
_NESTED_EXTRA: dict[str, Any] = (
    {"extra": "forbid"} if "extra" in inspect.signature(BaseModel.model_validate).parameters else {}
)
_MAX_SHOWN = 80

# Schemas already checked (validator class, SHA-256 of the canonical JSON): checking one costs ~1.1 ms with
# jsonschema (measured on BFCL's functions), and the server, the BFCL runner and MCP rebuild the same tools per request.
_MAX_CHECKED = 4096
_checked: dict[tuple[type, bytes], None] = {}


class PydanticArgumentValidator:
    """Validates and converts arguments with a function's argument model."""

    def __init__(self, tool_name: str, function_schema: FunctionSchema) -> None:
        """Wraps a function schema.

        Args:
            tool_name: The tool's name, for messages.
            function_schema: The function's argument model and schema.
        """
        self._name = tool_name
        self._schema = function_schema
        self._params = [param for _, param in function_schema.field_names]

    def __call__(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validates ``arguments``.

        Args:
            arguments: The arguments as the model produced them.

        Returns:
            Every parameter's value (defaults filled in), ready to call with.

        Raises:
            ToolArgumentError: The arguments do not fit the parameters.
        """
        _require_mapping(self._name, arguments)
        try:
            instance = self._schema.model.model_validate(dict(arguments), **_NESTED_EXTRA)
        except pydantic.ValidationError as exc:
            problems = [self._problem(err, arguments) for err in exc.errors(include_url=False)]
            _fail(self._name, problems)
        return {param: getattr(instance, field) for field, param in self._schema.field_names}

    def _problem(self, err: Any, arguments: Mapping[str, Any]) -> str:
        where, depth = _pydantic_path(tuple(err["loc"]), arguments)
        kind = err["type"]
        if kind == "missing":
            return f"{where}: missing required {'argument' if depth == 1 else 'field'}"
        if kind == "extra_forbidden":
            if depth == 1:
                return f"{where}: unexpected argument ({_expected(self._params)})"
            return f"{where}: unexpected field"
        return f"{where}: {err['msg']} (got {format_value(err['input'])})"


def _check_schema(cls: Any, schema: Mapping[str, Any]) -> None:
    """``cls.check_schema(schema)``, skipped for a schema that passed it before (same class, same JSON).

    Raises:
        jsonschema.SchemaError: ``schema`` is not a valid schema for ``cls``.
    """
    key = None
    try:
        text = json.dumps(schema, sort_keys=True, allow_nan=False)
        # Only plain JSON is kept: a tuple dumps like a list and a key 1 like "1", but jsonschema judges them apart.
        if json.loads(text) == schema:
            key = (cls, hashlib.sha256(text.encode()).digest())
    except (TypeError, ValueError):  # not plain JSON: check it, keep nothing
        pass
    if key is not None and key in _checked:
        return
    cls.check_schema(schema)
    if key is not None:
        if len(_checked) >= _MAX_CHECKED:
            _checked.clear()
        _checked[key] = None


class JsonSchemaArgumentValidator:
    """Validates arguments against a JSON schema and returns them unchanged."""

    def __init__(self, tool_name: str, schema: Mapping[str, Any]) -> None:
        """Compiles a validator for ``schema``.

        Args:
            tool_name: The tool's name, for messages.
            schema: The parameters' JSON schema (any draft; 2020-12 if unstated).

        Raises:
            ToolDefinitionError: ``schema`` is not a valid JSON schema.
        """
        import jsonschema  # only declared tools need it; keep `import agent_sdk.tools` light

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            _check_schema(cls, schema)
        except jsonschema.SchemaError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ToolDefinitionError(
                f"tool {tool_name!r}: invalid parameters schema at {path}: {exc.message}",
                problems=(f"invalid parameters schema at {path}: {exc.message}",),
            ) from None
        self._name = tool_name
        self._validator = cls(schema)
        self._params = list(schema.get("properties", {}))

    def __call__(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validates ``arguments``.

        Args:
            arguments: The arguments as the model produced them.

        Returns:
            A shallow copy of ``arguments``.

        Raises:
            ToolArgumentError: The arguments do not satisfy the schema.
        """
        _require_mapping(self._name, arguments)
        problems: list[str] = []
        for err in self._validator.iter_errors(dict(arguments)):
            for problem in self._problems(err):
                if problem not in problems:
                    problems.append(problem)
        if problems:
            _fail(self._name, problems)
        return dict(arguments)

    def _problems(self, err: Any) -> list[str]:
        loc = tuple(err.absolute_path)
        instance = err.instance
        kind = err.validator
        if kind == "required" and isinstance(instance, dict):
            noun = "argument" if not loc else "field"
            return [
                f"{_path((*loc, key))}: missing required {noun}" for key in err.validator_value if key not in instance
            ]
        if kind == "additionalProperties" and isinstance(instance, dict):
            known = err.schema.get("properties", {})
            patterns = list(err.schema.get("patternProperties", {}))
            extra = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
            if not loc:
                return [f"{_path((key,))}: unexpected argument ({_expected(self._params)})" for key in extra]
            return [f"{_path((*loc, key))}: unexpected field" for key in extra]
        where = _path(loc)
        if kind == "enum":
            choices = ", ".join(format_value(v) for v in err.validator_value)
            return [f"{where}: must be one of {choices} (got {format_value(instance)})"]
        if kind == "const":
            return [f"{where}: must be {format_value(err.validator_value)} (got {format_value(instance)})"]
        if kind == "type":
            wanted = err.validator_value
            wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
            return [f"{where}: expected {wanted} (got {format_value(instance)})"]
        return [f"{where}: {err.message}"]


def format_value(value: Any) -> str:
    """A short JSON rendering of a value for an error message (``"k"``, ``[1, 2]``)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _require_mapping(name: str, arguments: object) -> None:
    if not isinstance(arguments, Mapping):
        _fail(name, [f"arguments must be a JSON object (got {format_value(arguments)})"])
    bad = [k for k in arguments if not isinstance(k, str)]
    if bad:
        _fail(name, [f"argument names must be strings (got {format_value(k)})" for k in bad])


def _fail(name: str, problems: Sequence[str]) -> NoReturn:
    lines = "\n".join(f"- {p}" for p in problems)
    raise ToolArgumentError(f"invalid arguments for tool {name!r}:\n{lines}", problems=tuple(problems))


def _expected(params: Sequence[str]) -> str:
    return f"the parameters are: {', '.join(params)}" if params else "the tool takes no arguments"


def _pydantic_path(loc: tuple[str | int, ...], arguments: Any) -> tuple[str, int]:
    """Renders a pydantic error location against the input; returns it and its depth.

    pydantic puts union members in the location too (``("m", "int")`` for
    ``m: int | str``). A part is a key or an index when the input has it there
    (or when it is the last part: a missing or unexpected key); otherwise it
    names a union member, shown as ``m (as int)``.
    """
    out = ""
    depth = 0
    value = arguments
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(value, Mapping) and isinstance(part, str) and (part in value or last):
            out += f".{part}" if out else part
            value = value.get(part)
            depth += 1
        elif isinstance(value, (list, tuple)) and isinstance(part, int) and 0 <= part < len(value):
            out += f"[{part}]"
            value = value[part]
            depth += 1
        else:
            out += f" (as {part})"
    return out or "arguments", depth


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "arguments"


def schema_accepts(schema: Any, arguments: Any) -> bool:
    """Whether ``arguments`` validate against the JSON schema ``schema`` (False when the schema itself is unusable).

    For code that rewrites a decoded call (the agent's post-steps) and keeps the change only when the tool would
    take it; an unusable schema keeps the call as decoded.
    """
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        return bool(cls(schema).is_valid(arguments))
    except Exception:  # noqa: BLE001 - a schema the validator cannot use
        return False
