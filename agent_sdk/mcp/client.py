"""Tools of MCP servers as agent tools: :class:`MCPToolset`.

The agent loop is synchronous and the ``mcp`` package is async, so a toolset
keeps one background thread running an event loop (an anyio blocking
portal). Each server has a task in it that owns the server's session for
the toolset's lifetime: it starts the server (a subprocess over stdio, or a
streamable-HTTP connection), lists its tools, then waits until the toolset
is closed. A tool call is a short task in the same loop, which the calling
thread waits for.

What can go wrong, and what becomes of it:

* at connect time (:class:`MCPToolset` construction): a server that will not
  start, exits, does not answer the handshake within ``start_timeout`` or
  ``tools/list`` within ``list_timeout``, or writes something that is not
  JSON-RPC raises one :class:`~agent_sdk.errors.MCPConnectionError` naming
  every failed server (with the end of its stderr); servers already started
  are stopped;
* at call time: a timeout (``call_timeout``), a server that died or broke
  the connection, a malformed result, or a result marked ``isError`` is a
  :class:`~agent_sdk.errors.ToolError`, which the registry turns into an
  observation for the model; the agent keeps running;
* a result longer than ``max_result_chars`` is cut, with a note to the model.

A server's stderr goes to a temporary file (its log would otherwise mix with
the agent's output); its last lines are quoted when the server fails.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import os
import tempfile
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from agent_sdk.errors import (
    AgentSDKError,
    MCPConnectionError,
    ToolDefinitionError,
    ToolError,
    ToolNameWarning,
    ToolSchemaWarning,
)
from agent_sdk.mcp._require import require_mcp
from agent_sdk.mcp.config import MCPServerConfig, sanitize_name
from agent_sdk.mcp.naming import NameAssigner
from agent_sdk.mcp.results import render_result
from agent_sdk.tools.decorator import Tool
from agent_sdk.tools.openai_format import tool_from_openai

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CLOSE_TIMEOUT", "MAX_LIST_PAGES", "MCPToolset"]

CLOSE_TIMEOUT = 10.0
"""Seconds closing waits for every server to stop (the mcp package closes stdin, waits 2 s, then kills)."""

MAX_LIST_PAGES = 100
"""Most ``tools/list`` pages read from one server: a cursor that never ends cannot hang the connect."""

_CALL_GRACE = 5.0  # the calling thread waits this much longer than the call's own timeout in the loop
_STDERR_TAIL = 600  # characters of a failed server's stderr quoted in the error
_PHASES = {"start": "start and answer the handshake", "list": "list its tools (tools/list)"}


class MCPToolset:
    """The tools of one or more MCP servers, connected now and callable until :meth:`close`.

    Use as a context manager, or pass to ``Agent(mcp=...)`` (the agent closes
    what it opened). Servers start in parallel.

    Example::

        with MCPToolset(["python notes_server.py", "http://127.0.0.1:8765/mcp"]) as mcp:
            agent = Agent(engine, tools=[get_time], mcp=mcp)
            agent.run("Add a note: buy milk")

    Names: a tool keeps its own name unless a local tool or a tool of an
    earlier server has it; then it is ``<server>_<name>`` (see
    :mod:`agent_sdk.mcp.naming`), with a :class:`~agent_sdk.errors.ToolNameWarning`.
    A tool the server marks ``destructiveHint: true`` requires confirmation.
    A tool whose schema cannot be imported is left out with a
    :class:`~agent_sdk.errors.ToolSchemaWarning`.

    Args:
        servers: Command lines, ``http(s)://`` URLs or :class:`MCPServerConfig` s.
        reserved_names: Names already taken (the agent's local tools), which
            the servers' tools do not get.

    Attributes:
        tools: The servers' tools, ready to register.
        server_names: Each server's short name, in the order given.

    Raises:
        UserError: A server is given wrongly, or the mcp package is not installed.
        MCPConnectionError: A server could not be connected (every failure listed).
    """

    def __init__(
        self, servers: Sequence[str | MCPServerConfig], /, *, reserved_names: Iterable[str] = ()
    ) -> None:
        configs = [MCPServerConfig.of(s) for s in ([servers] if isinstance(servers, str) else servers)]
        require_mcp()
        from anyio.from_thread import start_blocking_portal

        self.tools: list[Tool[..., Any]] = []
        self.server_names: list[str] = []
        self._stack = contextlib.ExitStack()
        self._connections: list[_Connection] = []
        self._finalizer = weakref.finalize(self, _close_all, self._connections, self._stack)
        try:
            portal = self._stack.enter_context(start_blocking_portal(name="agent_sdk-mcp"))
            self._connections += [_Connection(config, portal) for config in configs]
            problems = []
            for conn in self._connections:
                try:
                    conn.ready.result(timeout=conn.config.start_timeout + conn.config.list_timeout + _CALL_GRACE)
                except concurrent.futures.TimeoutError:
                    problems.append(f"MCP server {conn.label!r} did not get ready in time")
                except MCPConnectionError as exc:
                    problems.append(str(exc))
            if problems:
                lines = "\n".join(f"- {p}" for p in problems)
                raise MCPConnectionError(
                    f"cannot use {len(problems)} MCP server{'s' if len(problems) > 1 else ''}:\n{lines}",
                    problems=tuple(problems),
                )
            self._make_tools(NameAssigner(reserved_names))
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Stops every server (a subprocess is asked to exit, then killed) and the background thread; idempotent."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return not self._finalizer.alive

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.tools)} tools"
        return f"<MCPToolset {', '.join(self.server_names) or 'no servers'}: {state}>"

    # ---------------------------------------------------------------- tools

    def _make_tools(self, names: NameAssigner) -> None:
        used: set[str] = set()
        for conn in self._connections:
            short = sanitize_name(conn.config.name or "") or sanitize_name(conn.reported_name or "")
            short = short or conn.config.derived_name()
            base, n = short, 2
            while short in used:
                short, n = f"{base}_{n}", n + 1
            used.add(short)
            conn.label = short
            self.server_names.append(short)
            for spec in conn.tools:
                made = self._make_tool(conn, spec, names)
                if made is not None:
                    self.tools.append(made)

    @staticmethod
    def _make_tool(conn: _Connection, spec: dict[str, Any], names: NameAssigner) -> Tool[..., Any] | None:
        remote = str(spec.get("name", ""))
        local, reason = names.assign(remote, conn.label)
        if reason is not None:
            warnings.warn(
                f"tool {remote!r} of MCP server {conn.label!r} is offered as {local!r}: {reason}",
                ToolNameWarning, stacklevel=4,
            )
        description = spec.get("description") or spec.get("title") or f"{remote} (a tool of MCP server {conn.label})"
        openai = {"name": local, "description": str(description), "parameters": spec.get("inputSchema") or {}}
        try:
            made = tool_from_openai(openai, implementation=_remote_call(conn, remote))
        except ToolDefinitionError as exc:
            why = "; ".join(exc.problems or (str(exc),))
            warnings.warn(f"tool {remote!r} of MCP server {conn.label!r} left out: {why}", ToolSchemaWarning,
                          stacklevel=4)
            return None
        annotations = spec.get("annotations") or {}
        made.requires_confirmation = annotations.get("destructiveHint") is True
        return made


def _remote_call(conn: _Connection, remote: str) -> Callable[..., str]:
    def call(**arguments: Any) -> str:
        return render_result(conn.call(remote, arguments), limit=conn.config.max_result_chars, tool=remote)

    call.__name__ = remote
    return call


def _close_all(connections: list[_Connection], stack: contextlib.ExitStack) -> None:
    for conn in connections:
        conn.request_stop()
    concurrent.futures.wait([c.task for c in connections], timeout=CLOSE_TIMEOUT)
    try:
        stack.close()  # stops the portal: what is still running is cancelled, the thread joined
    finally:
        for conn in connections:
            conn.close_log()


class _Connection:
    """One server: the task owning its session, its tools, and calls to them."""

    def __init__(self, config: MCPServerConfig, portal: Any) -> None:
        self.config = config
        self.label = sanitize_name(config.name) if config.name else config.derived_name()
        self.portal = portal
        self.ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.tools: list[dict[str, Any]] = []
        self.reported_name: str | None = None
        self.client: Any = None
        self.phase = "start"
        self.dead: str | None = None  # why the session ended, once it has
        self.stream_errors: list[str] = []
        self._scope: Any = None
        self._stop: Any = None
        self._log: IO[bytes] | None = None if config.is_url else tempfile.TemporaryFile()  # noqa: SIM115  (open while the server runs)
        self.task: concurrent.futures.Future[None] = portal.start_task_soon(self._run, name=f"mcp:{self.label}")

    # ------------------------------------------------------------ the owning task

    async def _run(self) -> None:
        import anyio
        from mcp import Client

        self._stop = anyio.Event()
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + self.config.start_timeout) as scope:
                self._scope = scope
                async with Client(self._transport(), message_handler=self._on_message) as client:
                    self.phase = "list"
                    scope.deadline = anyio.current_time() + self.config.list_timeout
                    self.tools = await self._list_tools(client)
                    scope.deadline = math.inf
                    self.reported_name = client.server_info.name if client.server_info else None
                    self.client = client
                    self.phase = "ready"
                    self.ready.set_result(None)
                    await self._stop.wait()
                    self.phase = "closing"
        except Exception as exc:  # noqa: BLE001  (reported to the caller, naming the server)
            self._failed(_leaf(exc))
        finally:
            self.client = None
        if not self.ready.done():
            if self.stream_errors:
                why = f"it wrote something that is not JSON-RPC: {self.stream_errors[0]}"
            else:
                why = f"it did not {_PHASES.get(self.phase, self.phase)} within {self._phase_timeout():g} s"
            self.ready.set_exception(MCPConnectionError(self._problem(why)))
        elif self.phase != "closing" and self.dead is None:
            self.dead = "its session ended"

    def _transport(self) -> Any:
        if self.config.is_url:
            from mcp.client.streamable_http import streamable_http_client

            return streamable_http_client(self.config.target.strip())
        from mcp.client.stdio import StdioServerParameters, stdio_client

        argv = self.config.argv
        params = StdioServerParameters(
            command=argv[0], args=argv[1:], env=dict(self.config.env) if self.config.env else None,
            cwd=self.config.cwd,
        )
        return stdio_client(params, errlog=self._log)  # type: ignore[arg-type]  # a binary file works: only its fd is used

    async def _list_tools(self, client: Any) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools += [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                return tools
            if cursor in seen:
                raise _ProtocolProblem(f"tools/list repeated the cursor {cursor!r}")
            seen.add(cursor)
        raise _ProtocolProblem(f"tools/list did not end within {MAX_LIST_PAGES} pages")

    async def _on_message(self, message: object) -> None:
        if isinstance(message, Exception):  # a line that is not JSON-RPC
            self.stream_errors.append(_stream_error(message))
            if self.phase != "ready" and self._scope is not None:
                self._scope.cancel()  # fail now rather than at the timeout

    def _failed(self, exc: BaseException) -> None:
        why = _describe(exc, self.phase)
        if not self.ready.done():
            self.ready.set_exception(MCPConnectionError(self._problem(why)))
        else:
            self.dead = why

    def _phase_timeout(self) -> float:
        return self.config.list_timeout if self.phase == "list" else self.config.start_timeout

    def _problem(self, why: str) -> str:
        tail = self.stderr_tail()
        where = f"MCP server {self.label!r} ({self.config.shown_target})"
        return f"{where}: {why}" + (f"; its stderr ends: {tail}" if tail else "")

    # ------------------------------------------------------------ calls

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Calls tool ``name`` and returns the result's JSON form.

        Raises:
            ToolError: The call timed out or failed (the message is for the model).
        """
        client = self.client
        if client is None or self.dead is not None:
            raise ToolError(f"MCP server {self.label!r} is not running" + (f" ({self.dead})" if self.dead else ""))
        timeout = self.config.call_timeout
        try:
            future = self.portal.start_task_soon(self._call, client, name, arguments)
        except RuntimeError:  # the portal has stopped: the toolset was closed
            raise ToolError(f"MCP server {self.label!r} is not running (the agent was closed)") from None
        try:
            return future.result(timeout=timeout + _CALL_GRACE)
        except TimeoutError:
            future.cancel()
            raise ToolError(f"tool {name!r} of MCP server {self.label!r} timed out after {timeout:g} s") from None
        except ToolError:
            raise
        except Exception as exc:  # every failure of a call is an observation for the model
            leaf = _leaf(exc)
            why = _describe(leaf, "call")
            if _connection_closed(leaf):
                self.dead = why
                tail = self.stderr_tail()
                why += f"; its stderr ends: {tail}" if tail else ""
            raise ToolError(f"tool {name!r} of MCP server {self.label!r} failed: {why}") from exc

    async def _call(self, client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        import anyio

        with anyio.move_on_after(self.config.call_timeout) as scope:
            result = await client.call_tool(name, arguments)
            return dict(result.model_dump(by_alias=True, mode="json", exclude_none=True))
        assert scope.cancelled_caught
        raise ToolError(f"tool {name!r} of MCP server {self.label!r} timed out after {self.config.call_timeout:g} s")

    # ------------------------------------------------------------ stopping

    def request_stop(self) -> None:
        """Asks the owning task to close the session: gracefully when connected, by cancelling otherwise."""
        if self.task.done():
            return
        with contextlib.suppress(RuntimeError):  # the portal already stopped
            if self.phase == "ready" and self._stop is not None:
                self.portal.call(self._stop.set)
            elif self._scope is not None:
                self.portal.call(self._scope.cancel)
            else:
                self.task.cancel()

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr, on one line (empty for none)."""
        if self._log is None or self._log.closed:
            return ""
        try:
            size = os.fstat(self._log.fileno()).st_size
            data = os.pread(self._log.fileno(), _STDERR_TAIL * 4, max(0, size - _STDERR_TAIL * 4))
        except (OSError, AttributeError):
            return ""
        lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        text = " / ".join(lines)
        return text if len(text) <= _STDERR_TAIL else "..." + text[-_STDERR_TAIL:]

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()


class _ProtocolProblem(AgentSDKError):
    """A server broke the protocol in a way the mcp package accepts (a listing that never ends)."""


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, which anyio task groups raise."""
    while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # type: ignore[attr-defined]
        inner = exc.exceptions  # type: ignore[attr-defined]
        exc = next((e for e in inner if not _is_cancellation(e)), inner[0])
    return exc


def _is_cancellation(exc: BaseException) -> bool:
    import anyio

    return isinstance(exc, anyio.get_cancelled_exc_class())


def _connection_closed(exc: BaseException) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    return isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED


def _describe(exc: BaseException, phase: str) -> str:
    """Why a server failed, in words for the user (at connect time) or the model (at call time)."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
    from pydantic import ValidationError

    during = {"start": "while starting", "list": "while listing its tools", "call": "during the call"}.get(phase, "")
    if isinstance(exc, FileNotFoundError):
        return f"cannot start it: {exc.strerror or 'no such file'}: {exc.filename!r}"
    if isinstance(exc, (PermissionError, OSError)) and phase == "start":
        return f"cannot start it: {exc}"
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return f"the server closed the connection {during} (did it exit?)".replace("  ", " ")
        if exc.code == REQUEST_TIMEOUT:
            return f"the server did not answer {during}".strip()
        return f"the server answered with an error {during}: {_short(exc.message)} (code {exc.code})"
    if isinstance(exc, ValidationError):
        return f"the server sent a malformed message {during}: {_short(str(exc))}"
    if isinstance(exc, AgentSDKError):
        return str(exc)
    return f"{type(exc).__name__} {during}: {_short(str(exc))}".replace("  ", " ")


def _stream_error(exc: Exception) -> str:
    """What was wrong with a line a server wrote: pydantic's first error and the line's start."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            first = errors()[0]
            return f"{_short(str(first.get('msg', '')), 120)} in {_short(str(first.get('input', '')), 80)!r}"
    return _short(str(exc))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
