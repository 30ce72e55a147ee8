"""``@tool`` functions served over MCP: :func:`build_server`, :func:`serve_tools`.

Each tool is listed with its name, description and JSON schema as the agent
sees them. A call runs through :meth:`ToolRegistry.execute_sync
<agent_sdk.tools.ToolRegistry.execute_sync>` in a worker thread (arguments
validated, the tool's timeout applied), and every failure, invalid
arguments included, is an ``isError`` result whose text says what went wrong.

A tool that ``requires_confirmation`` is listed with the annotations
``destructiveHint: true`` (and ``readOnlyHint: false``), so a client can ask
its user first. Whether it runs is the server's decision, as there is no one
at the server to ask: it is refused (an ``isError`` result saying so) unless
the server is started with ``allow_confirmation=True``
(``--allow-confirmation-tools``), which trusts every client to have asked.

Over HTTP the server binds to the loopback interface unless told otherwise,
with the ``mcp`` package's DNS-rebinding protection on for loopback hosts;
it has no authentication.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from agent_sdk.errors import UserError
from agent_sdk.mcp._require import require_mcp
from agent_sdk.tools.decorator import Tool
from agent_sdk.tools.registry import ToolRegistry

__all__ = [
    "DEFAULT_HTTP_PATH",
    "DEFAULT_HTTP_PORT",
    "LOOPBACK_HOSTS",
    "build_server",
    "parse_host_port",
    "refusal_message",
    "serve_tools",
]

DEFAULT_HTTP_PATH = "/mcp"
"""Where the streamable-HTTP endpoint is served."""

DEFAULT_HTTP_PORT = 8765
"""Port when ``--http`` names only a host."""

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts reachable from this machine only."""


def refusal_message(name: str) -> str:
    """What a client is told when it calls a ``requires_confirmation`` tool the server may not run."""
    return (
        f"tool {name!r} requires a person's confirmation and this MCP server has no one to ask, so it refused to "
        "run it (the server's operator can allow such tools with --allow-confirmation-tools)"
    )


def build_server(
    registry: ToolRegistry, *, name: str = "agent-sdk", allow_confirmation: bool = False
) -> Any:
    """An MCP server (the ``mcp`` package's low-level ``Server``) offering ``registry`` 's tools.

    Args:
        registry: The tools.
        name: The server's name, as clients see it.
        allow_confirmation: Run ``requires_confirmation`` tools (default: refuse them).

    Returns:
        The server, to run over any transport.

    Raises:
        UserError: The mcp package is not installed.
    """
    require_mcp()
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from agent_sdk import __version__

    listed = [_listing(t, types) for t in registry]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        tool_name, arguments = params.name, dict(params.arguments or {})
        if tool_name in registry and registry.get(tool_name).requires_confirmation and not allow_confirmation:
            return _error(types, refusal_message(tool_name))
        # A worker thread: a plain tool must not block the event loop (and other clients) while it runs.
        result = await anyio.to_thread.run_sync(registry.execute_sync, tool_name, arguments)
        if not result.ok:
            return _error(types, result.error or f"tool {tool_name!r} failed")
        text = result.to_message()
        structured = _json_object(text) if isinstance(result.content, dict) else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=False
        )

    return Server(name, version=__version__, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def serve_tools(
    registry: ToolRegistry,
    *,
    http: str | None = None,
    name: str = "agent-sdk",
    allow_confirmation: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serves ``registry`` 's tools over MCP until stdin closes (stdio) or the process is stopped (HTTP).

    Args:
        registry: The tools.
        http: ``HOST:PORT`` (or ``:PORT``, ``HOST``) to serve streamable HTTP
            on; port 0 picks a free one. None serves over stdin/stdout.
        name: The server's name, as clients see it.
        allow_confirmation: Run ``requires_confirmation`` tools (default: refuse them).
        on_ready: Called with the endpoint's URL once HTTP listens (the
            actual port when 0 was asked), or with ``"stdio"``.

    Raises:
        UserError: ``http`` is malformed, the address cannot be bound, or the
            mcp package is not installed.
    """
    import anyio

    server = build_server(registry, name=name, allow_confirmation=allow_confirmation)
    if http is None:
        anyio.run(_serve_stdio, server, on_ready)
        return
    host, port = parse_host_port(http)
    sock = _bind(host, port)
    try:
        anyio.run(_serve_http, server, host, sock, on_ready)
    finally:
        sock.close()


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``: ``[::1]:8000``, ``:8000`` (loopback), ``pi.local`` (port 8765).

    Raises:
        UserError: Not a host and port.
    """
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.isdigit():
        host, port_text = "", text
    host = host or "127.0.0.1"
    try:
        port = int(port_text) if port_text else DEFAULT_HTTP_PORT
    except ValueError:
        raise UserError(f"--http wants HOST:PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UserError(f"the port must be 0-65535 (0 picks a free one), got {port}")
    return host, port


# ------------------------------------------------------------------ internals


def _listing(tool: Tool[..., Any], types: Any) -> Any:
    annotations = None
    if tool.requires_confirmation:
        annotations = types.ToolAnnotations(read_only_hint=False, destructive_hint=True)
    return types.Tool(name=tool.name, description=tool.description, input_schema=tool.parameters,
                      annotations=annotations)


def _error(types: Any, message: str) -> Any:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _serve_stdio(server: Any, on_ready: Callable[[str], None] | None) -> None:
    from mcp.server.stdio import stdio_server

    # While serving, the mcp package points fd 1 at stderr: a tool's print() cannot corrupt the protocol.
    async with stdio_server() as (read_stream, write_stream):
        if on_ready is not None:
            on_ready("stdio")
        await server.run(read_stream, write_stream, server.create_initialization_options())


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(64)
    return sock


async def _serve_http(server: Any, host: str, sock: socket.socket, on_ready: Callable[[str], None] | None) -> None:
    import uvicorn

    app = server.streamable_http_app(host=host, streamable_http_path=DEFAULT_HTTP_PATH)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    shown = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(f"http://{shown}:{sock.getsockname()[1]}{DEFAULT_HTTP_PATH}")
    await uvicorn.Server(config).serve(sockets=[sock])
