"""JSON schemas for tool parameters, derived from a function's signature.

The schema is what the model sees in its prompt and what constrains its
decoding, so it is made small and explicit. The canonical shape:

* the root is ``{"type": "object", "properties": {...}, "required": [...],
  "additionalProperties": false}``; ``required`` is left out when empty;
* no ``$ref``/``$defs`` (nested models, TypedDicts and enums are inlined;
  only a recursive model keeps a ``$defs`` entry, since it cannot be inlined);
* no ``title``; ``description`` comes from the docstring's ``Args:`` (or a
  pydantic ``Field(description=...)``), ``default`` from the signature;
* every object with declared properties is closed (``additionalProperties:
  false``), nested ones too, and validation rejects unknown keys to match;
* a union of bare types becomes a type list: ``int | None`` is
  ``{"type": ["integer", "null"]}``; other unions stay ``anyOf``;
* keys appear in a fixed order: ``type``, then the type's own keywords
  (``const``, ``enum``, ``items``, ``properties``, ``required``,
  ``additionalProperties`` …), then ``default``, then ``description``.

A parameter whose type accepts any JSON value (``Any``, ``object``, a bare
``list`` or ``dict``, ``dict[str, Any]``) is refused: it gives the model no
guidance and the decoder nothing to constrain.
"""

from __future__ import annotations

import functools
import inspect
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

__all__ = [
    "FunctionSchema",
    "annotated_description",
    "build_function_schema",
    "canonical_schema",
    "unconstrained_paths",
]

# Keywords whose value maps names to schemas (the names are data, e.g. a property called "title").
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# Keywords whose value is one schema (or a boolean schema).
_SCHEMA_VALUES = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_CONSTRAINING = frozenset({"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "not"})
_KEY_ORDER = (
    "$ref",
    "type",
    "const",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "default",
    "description",
    "examples",
    "$defs",
)
_RANK = {key: i for i, key in enumerate(_KEY_ORDER)}
_UNKNOWN_RANK = _RANK["default"] - 0.5  # keywords not listed go just before default/description
_REF_PREFIX = "#/$defs/"


def canonical_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Brings a pydantic JSON schema to the canonical shape described in this module.

    Args:
        schema: A schema as produced by ``model_json_schema()``; not modified.

    Returns:
        A new schema: inlined, without titles, objects closed, keys ordered.
    """
    defs: dict[str, Any] = dict(schema.get("$defs", {}))
    recursive = _recursive_defs(defs)
    out: dict[str, Any] = _canonical({k: v for k, v in schema.items() if k != "$defs"}, defs, recursive)
    if recursive:
        out["$defs"] = {name: _canonical(defs[name], defs, recursive) for name in sorted(recursive)}
    return out


def unconstrained_paths(schema: Any, path: str) -> list[str]:
    """Where a schema lets any JSON value through.

    Args:
        schema: A canonical schema (or a boolean schema).
        path: How to name the schema's own position, e.g. a parameter name;
            nested positions append ``.key``, ``[]`` (array items) or ``{}``
            (dictionary values).

    Returns:
        The paths of every unconstrained position, in schema order.
    """
    if schema is True or (isinstance(schema, dict) and not _CONSTRAINING & schema.keys()):
        return [path]
    if not isinstance(schema, dict):
        return []
    found: list[str] = []
    for key, sub in schema.get("properties", {}).items():
        found += unconstrained_paths(sub, f"{path}.{key}")
    if "items" in schema:
        found += unconstrained_paths(schema["items"], f"{path}[]")
    for i, sub in enumerate(schema.get("prefixItems", [])):
        found += unconstrained_paths(sub, f"{path}[{i}]")
    if schema.get("type") == "object" and "properties" not in schema:
        found += unconstrained_paths(schema.get("additionalProperties", True), f"{path}{{}}")
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found += unconstrained_paths(sub, path)
    return found


@dataclass(frozen=True)
class FunctionSchema:
    """A function's parameters as a pydantic model and a canonical JSON schema.

    Attributes:
        model: Validates a whole argument dictionary; its fields are aliased
            to the parameter names (the field names themselves are private, so a
            parameter may be called ``json`` or ``model_config``).
        parameters: The canonical JSON schema of the arguments.
        field_names: ``(model field, parameter name)`` pairs in signature order.
        positional_only: Parameters that must be passed by position.
    """

    model: type[BaseModel]
    parameters: dict[str, Any]
    field_names: tuple[tuple[str, str], ...]
    positional_only: tuple[str, ...]


@dataclass(frozen=True)
class _Param:
    name: str
    annotation: Any
    default: Any
    description: str | None


def build_function_schema(
    fn: Callable[..., Any], descriptions: Mapping[str, str]
) -> tuple[FunctionSchema | None, list[str]]:
    """Derives the argument model and schema of a function.

    Every parameter needs a type hint and a description, from ``descriptions``
    or from an ``Annotated[T, Field(description=...)]`` hint.

    Args:
        fn: The function (or other callable).
        descriptions: Parameter descriptions from the docstring's ``Args:``.

    Returns:
        The schema (None when there is any problem) and every problem found
        with the signature, the parameters' documentation and their types,
        one sentence each.
    """
    problems: list[str] = []
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        return None, [f"cannot read the signature: {exc}"]
    hints = _resolve_hints(fn, signature, problems)
    params: list[_Param] = []
    positional_only: list[str] = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL or p.kind is p.VAR_KEYWORD:
            stars = "*" if p.kind is p.VAR_POSITIONAL else "**"
            problems.append(f"parameter '{stars}{p.name}' is not supported: a tool takes named arguments only")
            continue
        if isinstance(p.default, FieldInfo):
            problems.append(f"parameter {p.name!r}: use 'Annotated[T, Field(...)]' rather than a Field(...) default")
            continue
        hint = hints.get(p.name)
        if p.annotation is p.empty:
            problems.append(f"parameter {p.name!r} has no type hint")
        if p.name not in descriptions and annotated_description(hint) is None:
            problems.append(f"parameter {p.name!r} is not documented in the docstring's Args section")
        if p.name not in hints:
            continue
        routine = _routine_in(hints[p.name])
        if routine is not None:
            # pydantic would validate the arguments *of* a function used as a type, and call it.
            problems.append(f"parameter {p.name!r} has an unsupported type: {routine!r} is a function, not a type")
            continue
        if p.kind is p.POSITIONAL_ONLY:
            positional_only.append(p.name)
        params.append(_Param(p.name, hints[p.name], p.default, descriptions.get(p.name)))

    problems += [
        f"the docstring's Args section documents {name!r}, which is not a parameter"
        for name in descriptions
        if name not in signature.parameters
    ]
    result = _schema_for(params, problems)
    if problems or result is None:
        return None, problems
    model, parameters = result
    fields = tuple((f"p{i}", p.name) for i, p in enumerate(params))
    return FunctionSchema(model, parameters, fields, tuple(positional_only)), problems


def annotated_description(annotation: Any) -> str | None:
    """The description of an ``Annotated[T, Field(description=...)]`` hint, if any."""
    if typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
    return None


# ---------------------------------------------------------------- derivation


def _resolve_hints(fn: Callable[..., Any], signature: inspect.Signature, problems: list[str]) -> dict[str, Any]:
    # Each hint is resolved alone, so one bad hint does not hide the others, and
    # Python 3.10 does not turn ``x: int = None`` into ``Optional[int]`` behind our back.
    target: Any = fn
    call = inspect.getattr_static(type(fn), "__call__", None)
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and inspect.isfunction(call):
        target = call  # a callable object: its __call__ has the annotations
    raw: dict[str, Any] = dict(getattr(inspect.unwrap(target), "__annotations__", {}) or {})
    globalns: dict[str, Any] = getattr(inspect.unwrap(target), "__globals__", {})
    hints: dict[str, Any] = {}
    for name in signature.parameters:
        if name not in raw:
            continue
        shim = SimpleNamespace(__annotations__={name: raw[name]})
        try:
            hints[name] = typing.get_type_hints(shim, globalns=globalns, include_extras=True)[name]
        except Exception as exc:  # noqa: BLE001  (any error evaluating the hint is the user's to fix)
            problems.append(
                f"parameter {name!r}: cannot resolve the type hint {raw[name]!r} ({type(exc).__name__}: {exc});"
                " types used in tool signatures must be importable from the function's module"
            )
    return hints


def _routine_in(annotation: Any) -> Any:
    """A function (lambda, builtin, partial) used as a type inside ``annotation``, if any."""
    if inspect.isroutine(annotation) or isinstance(annotation, functools.partial):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return None
    args = typing.get_args(annotation)
    if origin is Annotated:
        args = args[:1]
    for arg in args:
        if isinstance(arg, list):  # Callable[[int], int] has its parameter types in a list
            found = next((r for r in map(_routine_in, arg) if r is not None), None)
        else:
            found = _routine_in(arg)
        if found is not None:
            return found
    return None


def _schema_for(params: list[_Param], problems: list[str]) -> tuple[type[BaseModel], dict[str, Any]] | None:
    built = _try_build(params)
    if isinstance(built, str):
        # Something failed; build each parameter alone to say which, and check the others.
        before = len(problems)
        for p in params:
            alone = _try_build([p])
            if isinstance(alone, str):
                problems.append(f"parameter {p.name!r} has an unsupported type {_type_name(p.annotation)}: {alone}")
            else:
                _check(*alone, [p], problems)
        if len(problems) == before:
            problems.append(f"cannot build the argument schema: {built}")
        return None
    model, raw = built
    return model, _check(model, raw, params, problems)


def _check(model: type[BaseModel], raw: dict[str, Any], params: list[_Param], problems: list[str]) -> dict[str, Any]:
    """The canonical schema; adds the problems of loose types and of defaults that do not fit."""
    parameters = canonical_schema(raw)
    for name, sub in parameters.get("properties", {}).items():
        loose = unconstrained_paths(sub, name)
        if loose:
            problems.append(
                f"parameter {name!r}: its type {_type_name(_param(params, name).annotation)} lets any JSON value"
                f" through (at {', '.join(loose)}); use a concrete type instead of Any, object, bare list or dict"
            )
    _check_defaults(model, params, problems)
    return parameters


def _try_build(params: list[_Param]) -> tuple[type[BaseModel], dict[str, Any]] | str:
    """The model and raw JSON schema for ``params``, or why they cannot be built."""
    definitions: dict[str, Any] = {}
    for i, p in enumerate(params):
        default = ... if p.default is inspect.Parameter.empty else p.default
        # description=None would still count as set and hide an Annotated[..., Field(description=...)].
        documented: dict[str, Any] = {"description": p.description} if p.description else {}
        definitions[f"p{i}"] = (p.annotation, Field(default, alias=p.name, **documented))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = pydantic.create_model("arguments", __config__=ConfigDict(extra="forbid"), **definitions)
            raw = model.model_json_schema()
        except Exception as exc:  # noqa: BLE001  (pydantic raises several types; each is a definition problem)
            return _first_line(str(exc)) or type(exc).__name__
    if caught:
        return _first_line(str(caught[0].message))
    return model, raw


def _check_defaults(model: type[BaseModel], params: list[_Param], problems: list[str]) -> None:
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    if not defaults:
        return
    try:
        model.model_validate(defaults)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "missing" or not err["loc"]:
                continue
            name = str(err["loc"][0])
            problems.append(
                f"parameter {name!r}: the default {defaults[name]!r} does not match the type"
                f" {_type_name(_param(params, name).annotation)} ({err['msg']})"
            )


def _param(params: list[_Param], name: str) -> _Param:
    return next(p for p in params if p.name == name)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "").replace("typing_extensions.", "")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# ---------------------------------------------------------------- canonical form


def _canonical(node: Any, defs: Mapping[str, Any], recursive: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node
    node = _resolve(node, defs, recursive)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _canonical(sub, defs, recursive) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES:
            out[key] = _canonical(value, defs, recursive)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_canonical(sub, defs, recursive) for sub in value]
        else:
            out[key] = value  # data (enum, const, default, required …) is copied untouched
    if out.get("type") == "object" and "properties" in out:
        out["additionalProperties"] = False
    _collapse_type_union(out)
    return dict(sorted(out.items(), key=lambda kv: _RANK.get(kv[0], _UNKNOWN_RANK)))


def _resolve(node: dict[str, Any], defs: Mapping[str, Any], recursive: frozenset[str]) -> dict[str, Any]:
    """Replaces a ``$ref`` (or a lone ``allOf`` wrapper) by its target; keys beside it win."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX) :] not in recursive:
        target = defs[ref[len(_REF_PREFIX) :]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **siblings}, defs, recursive)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        inner = _resolve(all_of[0], defs, recursive)
        siblings = {k: v for k, v in node.items() if k != "allOf"}
        if not (inner.keys() & siblings.keys()) - {"description", "default", "title", "examples"}:
            return {**inner, **siblings}
    return node


def _collapse_type_union(node: dict[str, Any]) -> None:
    members = node.get("anyOf")
    if "type" in node or not isinstance(members, list) or len(members) < 2:
        return
    if all(isinstance(m, dict) and m.keys() == {"type"} and isinstance(m["type"], str) for m in members):
        node["type"] = list(dict.fromkeys(m["type"] for m in members))
        del node["anyOf"]


def _recursive_defs(defs: Mapping[str, Any]) -> frozenset[str]:
    edges = {name: set(_refs(body)) for name, body in defs.items()}
    found: set[str] = set()
    for start, targets in edges.items():
        seen: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name == start:
                found.add(start)
                break
            if name not in seen and name in edges:
                seen.add(name)
                stack.extend(edges[name])
    return frozenset(found)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            yield ref[len(_REF_PREFIX) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
