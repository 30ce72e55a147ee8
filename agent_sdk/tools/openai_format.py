"""Tools imported from the OpenAI format: ``{"type": "function", "function": {...}}``.

The schema is kept as given (deep-copied) and arguments are checked against it
with ``jsonschema``; an implementation, if any, is checked against the schema's
parameters. :meth:`Tool.from_openai <agent_sdk.tools.Tool.from_openai>` is the
usual way in.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from agent_sdk.jsonschema_repair import repair_schema
from agent_sdk.tools.decorator import NAME_RULE, Tool, definition_error, is_valid_tool_name
from agent_sdk.tools.validation import JsonSchemaArgumentValidator

__all__ = ["read_openai_spec", "signature_problems", "tool_from_openai"]


def tool_from_openai(
    spec: Mapping[str, Any],
    /,
    *,
    implementation: Callable[..., Any] | None = None,
    tool_class: type[Tool[..., Any]] = Tool,
) -> Tool[..., Any]:
    """Imports a tool from the OpenAI format: what :meth:`Tool.from_openai` does.

    Args:
        spec: The wrapped or the bare form (see :meth:`Tool.from_openai`).
        implementation: What to run; None declares the tool only. A
            :class:`Tool` validates the arguments its own way after the
            schema's check, and lends its timeout and confirmation flag.
        tool_class: The class to make.

    Returns:
        The tool.

    Raises:
        ToolDefinitionError: The spec is malformed, its schema invalid, or the
            implementation cannot take the declared arguments.
    """
    name, description, parameters, problems = read_openai_spec(spec)
    repairs: list[str] = []
    if parameters is not None:
        # What has one reading is repaired now, so the prompt, the call grammar and
        # validation all see one schema; the caller learns of it from ``schema_repairs``.
        parameters, repairs = repair_schema(parameters)
    if implementation is not None and not callable(implementation):
        problems.append(f"the implementation {implementation!r} is not callable")
    elif implementation is not None and parameters is not None:
        impl_fn = implementation.function if isinstance(implementation, Tool) else implementation
        if impl_fn is not None:
            problems += signature_problems(impl_fn, parameters)
    if problems or parameters is None:
        raise definition_error(f"tool {name!r}", problems)
    checker = JsonSchemaArgumentValidator(name, parameters)
    if isinstance(implementation, Tool):
        inner = implementation

        def validator(arguments: Mapping[str, Any]) -> dict[str, Any]:
            return inner.validate(checker(arguments))

        made = tool_class(
            name=name,
            description=description,
            parameters=parameters,
            function=inner.function,
            validator=validator,
            requires_confirmation=inner.requires_confirmation,
            timeout=inner.timeout,
            positional_only=inner.positional_only,
        )
    else:
        made = tool_class(
            name=name, description=description, parameters=parameters, function=implementation, validator=checker
        )
    made.schema_repairs = tuple(repairs)
    return made


def read_openai_spec(spec: object) -> tuple[str, str, dict[str, Any] | None, list[str]]:
    """The parts of an OpenAI tool spec, and what is wrong with it.

    Args:
        spec: The wrapped or the bare form (see :func:`tool_from_openai`).

    Returns:
        ``(name, description, parameters, problems)``: the name (``"<unnamed>"``
        or its text when unusable), the description, a deep copy of the
        parameters' schema (None when it is not an object schema) and every
        problem found.
    """
    if not isinstance(spec, Mapping):
        return "<unnamed>", "", None, [f"a tool spec must be a JSON object, got {spec!r}"]
    body: Any = spec
    if "type" in spec or "function" in spec:  # the wrapped form; otherwise a bare function spec
        if spec.get("type") != "function":
            return "<unnamed>", "", None, [f"unsupported tool type {spec.get('type')!r} (only 'function')"]
        body = spec.get("function")
        if not isinstance(body, Mapping):
            return "<unnamed>", "", None, ["'function' must be a JSON object"]
    problems: list[str] = []
    name = body.get("name")
    if not is_valid_tool_name(name):
        problems.append(f"the name {name!r} is not a valid tool name: {NAME_RULE}")
        name = str(name)
    description = body.get("description", "")
    if not isinstance(description, str):
        problems.append(f"the description must be a string, got {description!r}")
        description = ""
    parameters = body.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, Mapping) or parameters.get("type") != "object":
        problems.append("the parameters must be a JSON schema of type 'object'")
        return name, description, None, problems
    return name, description, copy.deepcopy(dict(parameters)), problems


def signature_problems(function: Callable[..., Any], parameters: Mapping[str, Any]) -> list[str]:
    """Why ``function`` could not be called with arguments valid for ``parameters``.

    Args:
        function: The implementation.
        parameters: The tool's object schema.

    Returns:
        One sentence per problem; empty when the call would work (or the
        function has no signature to check).
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []  # some builtins have no signature; nothing to check
    declared = list(parameters.get("properties", {}))
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = {p.name: p for p in signature.parameters.values() if p.kind in by_name}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    problems = [
        f"the implementation does not accept the declared parameter {n!r}"
        for n in declared
        if n not in accepted and not takes_any
    ]
    for p in signature.parameters.values():
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in declared:
            problems.append(f"the implementation requires {p.name!r}, which the schema does not declare")
    return problems
