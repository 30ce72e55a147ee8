"""The tools an agent may call, and the results of calling them.

:meth:`ToolRegistry.execute` is where a model's call meets the world, and it
never raises for the call's failures: an unknown tool, invalid arguments, an
exception inside the tool or a timeout each become a :class:`ToolResult` with
``ok=False`` and an ``error`` written for the model, which can then correct
itself. A tool can fail with a message of its choosing by raising
:class:`~agent_sdk.errors.ToolError`; other exceptions are reported with their
type. Bugs in the SDK and cancellation still propagate.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ParamSpec, TypeVar, overload

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from agent_sdk.errors import AgentSDKError, ToolDefinitionError, ToolError
from agent_sdk.tools.decorator import Tool, is_valid_tool_name

__all__ = ["ToolRegistry", "ToolResult"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    """The outcome of one tool call.

    Attributes:
        name: The tool name the model asked for (possibly unknown).
        arguments: The arguments as the model gave them.
        ok: Whether the call succeeded.
        content: What the tool returned (None on failure).
        error: What went wrong, written for the model (None on success).
        elapsed_s: Wall time of validation and execution, in seconds.
        exception: The exception behind ``error``, for logs and debugging.
    """

    name: str
    arguments: Mapping[str, Any]
    ok: bool
    content: Any = None
    error: str | None = None
    elapsed_s: float = 0.0
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def to_message(self) -> str:
        """The result as the text of a tool message for the model.

        Returns:
            ``"Error: ..."`` for a failure. For a success: a string as is; JSON for
            dicts, lists, tuples, pydantic models, dataclasses, enums, numbers,
            booleans and None; ``str(content)`` for anything else.
        """
        if not self.ok:
            return f"Error: {self.error}"
        return _render(self.content)


def _render(content: Any) -> str:
    if isinstance(content, str):
        return content
    jsonable = (dict, list, tuple, BaseModel, Enum, int, float, bool, type(None))
    if isinstance(content, jsonable) or (dataclasses.is_dataclass(content) and not isinstance(content, type)):
        return json.dumps(to_jsonable_python(content, fallback=str), ensure_ascii=False)
    return str(content)


class ToolRegistry:
    """Tools by name: no two tools share a name, and nothing is renamed."""

    def __init__(self, tools: Iterable[Tool[..., Any] | Callable[..., Any]] = ()) -> None:
        """Registers ``tools`` in order.

        Args:
            tools: Tools, or functions to make tools of with :func:`~agent_sdk.tools.tool`.

        Raises:
            ToolDefinitionError: A function is not a valid tool, or two tools share a name.
        """
        self._tools: dict[str, Tool[..., Any]] = {}
        for t in tools:
            self.register(t)

    @overload
    def register(self, tool: Tool[P, R], /) -> Tool[P, R]: ...

    @overload
    def register(self, tool: Callable[P, R], /) -> Tool[P, R]: ...

    def register(self, tool: Tool[..., Any] | Callable[..., Any], /) -> Tool[..., Any]:
        """Adds a tool; also usable as a decorator on a function.

        Args:
            tool: A tool, or a function to make one of.

        Returns:
            The registered tool.

        Raises:
            ToolDefinitionError: A tool with this name is already registered, or
                the function is not a valid tool.
        """
        made = tool if isinstance(tool, Tool) else Tool.from_function(tool)
        if made.name in self._tools:
            problem = f"a tool named {made.name!r} is already registered; give one of them another name"
            raise ToolDefinitionError(problem, problems=(problem,))
        self._tools[made.name] = made
        return made

    @classmethod
    def from_openai(
        cls,
        tools: Iterable[Mapping[str, Any]],
        /,
        *,
        implementations: Mapping[str, Callable[..., Any]] | None = None,
    ) -> ToolRegistry:
        """Imports tools in the OpenAI ``tools`` format.

        Args:
            tools: ``{"type": "function", "function": {...}}`` entries (bare
                ``{"name", "description", "parameters"}`` entries are accepted too).
            implementations: What to run for each tool name; tools without one
                are declared only (they have schemas, but running them fails).

        Returns:
            A new registry, in the order given.

        Raises:
            ToolDefinitionError: Listing every malformed tool, duplicate name and
                implementation that matches no tool.
        """
        impls = dict(implementations or {})
        registry = cls()
        problems: list[str] = []
        names: set[str] = set()
        for i, spec in enumerate(tools):
            name = _spec_name(spec)
            valid = is_valid_tool_name(name)
            if valid:
                names.add(str(name))
            try:
                registry.register(Tool.from_openai(spec, implementation=impls.get(str(name)) if valid else None))
            except ToolDefinitionError as exc:
                prefix = f"{name}: " if valid else f"tools[{i}]: "
                problems += [prefix + p for p in exc.problems or (str(exc),)]
        problems += [
            f"an implementation is given for {n!r}, but no tool has that name" for n in impls if n not in names
        ]
        if problems:
            lines = "\n".join(f"- {p}" for p in problems)
            raise ToolDefinitionError(f"cannot import the tools:\n{lines}", problems=tuple(problems))
        return registry

    # ---------------------------------------------------------------- lookup

    def get(self, name: str) -> Tool[..., Any]:
        """The tool called ``name``.

        Raises:
            ToolError: No tool has this name (the message suggests close names).
        """
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(self._unknown(name)) from None

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Tool):
            return self._tools.get(item.name) is item
        return item in self._tools

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names!r})"

    @property
    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def to_openai(self) -> list[dict[str, Any]]:
        """Every tool in the OpenAI ``tools`` format, in registration order."""
        return [t.to_openai() for t in self._tools.values()]

    # ---------------------------------------------------------------- calling

    def validate(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validates arguments for a tool.

        Args:
            name: The tool's name.
            arguments: The arguments as decoded from the model's output.

        Returns:
            The keyword arguments to call the tool's function with.

        Raises:
            ToolError: No tool has this name.
            ToolArgumentError: The arguments are invalid (listing every problem).
        """
        return self.get(name).validate(arguments)

    async def execute(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Runs a tool call; every failure of the call becomes an error result.

        Args:
            name: The tool name the model produced.
            arguments: The arguments the model produced.

        Returns:
            The result: ``ok=True`` with the return value, or ``ok=False`` with an
            error message for the model.
        """
        return await self._execute(name, arguments, lambda t: t.arun(arguments))

    def execute_sync(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Like :meth:`execute`, without an event loop (coroutine tools get one of their own).

        Args:
            name: The tool name the model produced.
            arguments: The arguments the model produced.

        Returns:
            The result, as for :meth:`execute`.
        """
        start = time.perf_counter()
        tool = self._tools.get(name)
        if tool is None:
            return self._failure(name, arguments, start, self._unknown(name), None)
        try:
            content = tool.run(arguments)
        except Exception as exc:  # noqa: BLE001  (a failing tool is an observation for the model)
            return self._failure(name, arguments, start, _describe(name, exc), exc)
        return ToolResult(
            name=name, arguments=arguments, ok=True, content=content, elapsed_s=time.perf_counter() - start
        )

    async def _execute(
        self, name: str, arguments: Mapping[str, Any], call: Callable[[Tool[..., Any]], Awaitable[Any]]
    ) -> ToolResult:
        start = time.perf_counter()
        tool = self._tools.get(name)
        if tool is None:
            return self._failure(name, arguments, start, self._unknown(name), None)
        try:
            content = await call(tool)
        except Exception as exc:  # noqa: BLE001  (a failing tool is an observation for the model)
            return self._failure(name, arguments, start, _describe(name, exc), exc)
        return ToolResult(
            name=name, arguments=arguments, ok=True, content=content, elapsed_s=time.perf_counter() - start
        )

    @staticmethod
    def _failure(
        name: str, arguments: Mapping[str, Any], start: float, error: str, exc: BaseException | None
    ) -> ToolResult:
        return ToolResult(
            name=name, arguments=arguments, ok=False, error=error, elapsed_s=time.perf_counter() - start, exception=exc
        )

    def _unknown(self, name: object) -> str:
        message = f"unknown tool {name!r}"
        close = difflib.get_close_matches(str(name), self._tools, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        available = ", ".join(self._tools) or "none"
        return f"{message} (available tools: {available})"


def _describe(name: str, exc: Exception) -> str:
    if isinstance(exc, AgentSDKError):
        return str(exc)  # written for the model already: invalid arguments, timeout, a tool's own ToolError
    return f"tool {name!r} failed: {type(exc).__name__}: {exc}"


def _spec_name(spec: object) -> object:
    if not isinstance(spec, Mapping):
        return None
    body = spec.get("function", spec)
    return body.get("name") if isinstance(body, Mapping) else None
