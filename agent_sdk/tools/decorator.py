"""``@tool`` and :class:`Tool`: a function the model can call.

Example::

    from typing import Literal

    from agent_sdk.tools import tool


    @tool
    def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        \"\"\"Current weather in a city.

        Args:
            city: City name, e.g. "Paris".
            unit: Temperature unit: c (Celsius) or f (Fahrenheit).
        \"\"\"
        return f"18 degrees {unit} in {city}"


    get_weather("Paris", "c")  # still the function
    get_weather.parameters  # the JSON schema the model sees (see agent_sdk.tools.schema)
    get_weather.run({"city": "Paris"})  # validated call, with the timeout if any

Everything wrong with a definition (missing hints or docs, unsupported types,
a bad name) raises one :class:`~agent_sdk.errors.ToolDefinitionError` that
lists every problem.

This module defines tools; :mod:`agent_sdk.tools.openai_format` imports them
from the OpenAI format and :mod:`agent_sdk.tools.execution` runs them.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from agent_sdk.errors import ToolDefinitionError, ToolError
from agent_sdk.tools.docstrings import parse_google_docstring
from agent_sdk.tools.execution import call_async, call_sync, is_async_callable, run_coroutine
from agent_sdk.tools.schema import build_function_schema
from agent_sdk.tools.validation import PydanticArgumentValidator

__all__ = ["NAME_RULE", "ArgumentValidator", "Tool", "definition_error", "is_valid_tool_name", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

ArgumentValidator = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Checks a model's arguments and returns the keyword arguments to call with."""

# The OpenAI limit on function names; small models also copy short plain names best.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "use 1 to 64 letters, digits, '_', '-' or '.' (not first)"
"""What :func:`is_valid_tool_name` accepts, worded for an error message."""


class Tool(Generic[P, R]):
    """A function the model can call: its name, description, JSON schema and how to run it.

    A ``Tool`` made by :func:`tool` still calls like the original function.
    A tool imported from the OpenAI format without an implementation is
    *declared only*: it has a schema (so a model can be prompted and
    constrained with it) but running it raises :class:`~agent_sdk.errors.ToolError`.

    Attributes:
        name: The name the model calls the tool by.
        description: What the tool does, for the model.
        parameters: The JSON schema of the arguments (treat as read-only).
        function: The implementation, or None for a declared-only tool.
        requires_confirmation: Whether an agent should ask the user before running it.
        timeout: Seconds a run may take, or None for no limit.
        is_async: Whether the implementation is a coroutine function.
        schema_repairs: What was repaired in a loosely written imported schema
            (:func:`agent_sdk.jsonschema_repair.repair_schema`), one note each.
    """

    __name__: str
    __qualname__: str

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        function: Callable[P, R] | None,
        validator: ArgumentValidator,
        requires_confirmation: bool = False,
        timeout: float | None = None,
        positional_only: tuple[str, ...] = (),
    ) -> None:
        """Assembles a tool from its parts; :func:`tool` and :meth:`from_openai` are the usual ways in.

        Args:
            name: The tool's name.
            description: What the tool does.
            parameters: The arguments' JSON schema.
            function: The implementation, or None (declared only).
            validator: Checks arguments and returns the keyword arguments to call with.
            requires_confirmation: Whether to ask the user before running it.
            timeout: Seconds a run may take, or None.
            positional_only: Parameters ``function`` takes by position only.
        """
        self.__name__ = self.__qualname__ = name
        if function is not None:
            # Make the tool look like the function to help() and inspect; the
            # function's __dict__ is not copied (it could shadow our attributes).
            functools.update_wrapper(self, function, updated=())
        self.name = name
        self.description = description
        self.schema_repairs: tuple[str, ...] = ()  # what tool_from_openai repaired in a loose schema
        self.parameters = parameters
        self.function = function
        self.requires_confirmation = requires_confirmation
        self.timeout = timeout
        self.is_async = function is not None and is_async_callable(function)
        self._validator = validator
        self._positional_only = positional_only

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_function(
        cls,
        function: Callable[P, R],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        requires_confirmation: bool = False,
        timeout: float | None = None,
    ) -> Tool[P, R]:
        """Makes a tool of a function; what :func:`tool` does.

        Args:
            function: A function, coroutine function, bound method or callable object.
            name: The tool's name (default: the function's ``__name__``).
            description: What the tool does (default: the docstring's text before
                its first section).
            requires_confirmation: Whether an agent should ask before running it.
            timeout: Seconds a run may take (default: no limit).

        Returns:
            The tool.

        Raises:
            ToolDefinitionError: Listing every problem with the definition.
        """
        if isinstance(function, Tool):
            raise ToolDefinitionError(f"{function!r} is already a tool", problems=("already a tool",))
        if inspect.isclass(function) or not callable(function):
            raise ToolDefinitionError(
                f"@tool expects a function, got {function!r}", problems=(f"not a function: {function!r}",)
            )
        problems: list[str] = []
        tool_name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(tool_name, str):
            problems.append("the callable has no __name__: pass name=...")
            tool_name = "<unnamed>"
        elif not _NAME.match(tool_name):
            problems.append(f"the name {tool_name!r} is not a valid tool name: {NAME_RULE}")
        parsed = parse_google_docstring(_docstring(function))
        text = (description if description is not None else parsed.description).strip()
        if not text:
            problems.append(
                "no description: write a docstring whose first paragraph says what the tool does, or pass description=..."
            )
        problems += parsed.problems
        problems += _option_problems(requires_confirmation, timeout)
        schema, schema_problems = build_function_schema(function, parsed.params)
        problems += schema_problems
        if problems or schema is None:
            raise definition_error(_where(function, tool_name), problems)
        return cls(
            name=tool_name,
            description=text,
            parameters=schema.parameters,
            function=function,
            validator=PydanticArgumentValidator(tool_name, schema),
            requires_confirmation=requires_confirmation,
            timeout=timeout,
            positional_only=schema.positional_only,
        )

    @classmethod
    def from_openai(
        cls, spec: Mapping[str, Any], /, *, implementation: Callable[..., Any] | None = None
    ) -> Tool[..., Any]:
        """Imports a tool from the OpenAI format.

        The imported schema is kept as given (deep-copied) and arguments are
        validated against it with ``jsonschema``. An implementation that is
        itself a :class:`Tool` then validates (and converts) them its own way,
        and lends its timeout and confirmation flag.

        Args:
            spec: ``{"type": "function", "function": {"name", "description",
                "parameters"}}``, or the bare ``{"name", "description", "parameters"}``.
            implementation: What to run; None declares the tool only.

        Returns:
            The tool.

        Raises:
            ToolDefinitionError: The spec is malformed, its schema invalid, or the
                implementation cannot take the declared arguments.
        """
        # The OpenAI format builds on this class, so it is imported when used.
        from agent_sdk.tools.openai_format import tool_from_openai

        return tool_from_openai(spec, implementation=implementation, tool_class=cls)

    # ---------------------------------------------------------------- use

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Calls the function directly, as if it were not a tool (no validation, no timeout)."""
        return self._implementation()(*args, **kwargs)

    def __repr__(self) -> str:
        params = ", ".join(self.parameters.get("properties", {}))
        kind = "" if self.function is not None else " (declared only)"
        return f"<Tool {self.name}({params}){kind}>"

    @property
    def positional_only(self) -> tuple[str, ...]:
        """Parameters the implementation takes by position only (passed so when the tool runs)."""
        return self._positional_only

    @property
    def has_implementation(self) -> bool:
        """Whether the tool can run (False for a declared-only tool)."""
        return self.function is not None

    def to_openai(self) -> dict[str, Any]:
        """The tool in the OpenAI format.

        Returns:
            ``{"type": "function", "function": {"name", "description", "parameters"}}``,
            with a copy of the schema.
        """
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),
            },
        }

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Checks (and converts) a model's arguments.

        Args:
            arguments: The arguments as decoded from the model's output.

        Returns:
            The keyword arguments to call the function with (defaults filled in
            for a function tool).

        Raises:
            ToolArgumentError: Listing every problem, in words meant for the model.
        """
        return self._validator(arguments)

    async def arun(self, arguments: Mapping[str, Any]) -> Any:
        """Validates ``arguments`` and runs the tool, within its timeout.

        A coroutine function is awaited (and cancelled at the timeout). A plain
        function runs in this thread when there is no timeout, and otherwise in
        a daemon worker thread; Python cannot stop a thread, so at the timeout
        the call is abandoned and the function finishes in the background.

        Args:
            arguments: The arguments as decoded from the model's output.

        Returns:
            What the function returned.

        Raises:
            ToolError: The tool is declared only, or it timed out.
            ToolArgumentError: The arguments are invalid.
            Exception: Whatever the function raised, unchanged.
        """
        function, args, kwargs = self._prepare(arguments)
        return await call_async(function, args, kwargs, is_async=self.is_async, timeout=self.timeout, name=self.name)

    def run(self, arguments: Mapping[str, Any]) -> Any:
        """Validates ``arguments`` and runs the tool, within its timeout, without an event loop.

        A coroutine function runs on a fresh event loop (in a helper thread if
        this thread already runs one). Otherwise as :meth:`arun`, whose
        arguments, return value and exceptions it shares.
        """
        if self.is_async:
            return run_coroutine(self.arun(arguments), self.name)
        function, args, kwargs = self._prepare(arguments)
        return call_sync(function, args, kwargs, timeout=self.timeout, name=self.name)

    # ---------------------------------------------------------------- internals

    def _implementation(self) -> Callable[P, R]:
        if self.function is None:
            raise ToolError(f"tool {self.name!r} has no implementation (it is declared by its schema only)")
        return self.function

    def _prepare(self, arguments: Mapping[str, Any]) -> tuple[Callable[P, R], list[Any], dict[str, Any]]:
        """The implementation and the validated arguments to call it with, positional ones split off."""
        function = self._implementation()
        args, kwargs = self._split(self.validate(arguments))
        return function, args, kwargs

    def _split(self, kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if not self._positional_only:
            return [], kwargs
        args = [kwargs.pop(name) for name in self._positional_only]
        return args, kwargs


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    requires_confirmation: bool = False,
    timeout: float | None = None,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_confirmation: bool = False,
    timeout: float | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Makes a tool of a function, bare (``@tool``) or with options (``@tool(timeout=5)``).

    The description is the docstring's text before its first section; the
    ``Args:`` section describes each parameter (every parameter must be
    described); type hints give the types. See :mod:`agent_sdk.tools.schema`
    for the schema this produces and the types supported.

    Args:
        function: The function, when used bare.
        name: The tool's name (default: the function's name).
        description: What the tool does (default: from the docstring).
        requires_confirmation: Whether an agent should ask the user before running it.
        timeout: Seconds a run may take (default: no limit).

    Returns:
        The tool, or a decorator making one.

    Raises:
        ToolDefinitionError: Listing every problem with the definition.
    """

    def make(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool.from_function(
            fn, name=name, description=description, requires_confirmation=requires_confirmation, timeout=timeout
        )

    return make if function is None else make(function)


# ---------------------------------------------------------------- helpers


def is_valid_tool_name(name: object) -> bool:
    """Whether ``name`` can name a tool: 1 to 64 letters, digits, ``_``, ``-`` or ``.`` (dotted names as in BFCL)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def definition_error(where: str, problems: list[str]) -> ToolDefinitionError:
    """The one error listing every problem with a tool's definition.

    Args:
        where: Which tool, e.g. ``"tool 'get_weather' (tools.py:12)"``.
        problems: One sentence each.
    """
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    lines = "\n".join(f"- {p}" for p in problems)
    return ToolDefinitionError(f"{where}: {count}\n{lines}", problems=tuple(problems))


def _docstring(function: Callable[..., Any]) -> str | None:
    if inspect.isfunction(function) or inspect.ismethod(function):
        return inspect.getdoc(function)
    call = inspect.getattr_static(type(function), "__call__", None)  # a callable object: its __call__ documents it
    return inspect.getdoc(call) if inspect.isfunction(call) else None


def _option_problems(requires_confirmation: object, timeout: object) -> list[str]:
    problems = []
    if not isinstance(requires_confirmation, bool):
        problems.append(f"requires_confirmation must be True or False, got {requires_confirmation!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0
    ):
        problems.append(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return problems


def _where(function: Callable[..., Any], name: str) -> str:
    code = getattr(inspect.unwrap(function), "__code__", None)
    return f"tool {name!r}" + (f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else "")
