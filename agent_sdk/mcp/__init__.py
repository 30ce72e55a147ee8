"""MCP (Model Context Protocol): use the tools of MCP servers, and serve ``@tool`` functions as one.

* :class:`MCPToolset` connects to servers (a command line over stdio, or an
  ``http(s)://`` URL over streamable HTTP) and offers their tools as
  :class:`~agent_sdk.tools.Tool` s; ``Agent(engine, mcp=[...])`` and
  ``agent-sdk run --mcp "COMMAND"`` use it.
* :func:`serve_tools` exposes a :class:`~agent_sdk.tools.ToolRegistry` as an
  MCP server (``agent-sdk mcp serve TOOLS``).

Needs the optional ``mcp`` package (``pip install 'agent-sdk[mcp]'``),
imported only when a server is connected or served. See docs/mcp.md.
"""

from __future__ import annotations

from agent_sdk.mcp.client import MCPToolset
from agent_sdk.mcp.config import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_LIST_TIMEOUT,
    DEFAULT_START_TIMEOUT,
    MAX_RESULT_CHARS,
    MCPServerConfig,
)
from agent_sdk.mcp.server import build_server, serve_tools

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_LIST_TIMEOUT",
    "DEFAULT_START_TIMEOUT",
    "MAX_RESULT_CHARS",
    "MCPServerConfig",
    "MCPToolset",
    "build_server",
    "serve_tools",
]
