"""The ``mcp`` package, imported when first needed: ``import agent_sdk`` works without it."""

from __future__ import annotations

from types import ModuleType

from agent_sdk.errors import UserError

__all__ = ["INSTALL_HINT", "require_mcp"]

INSTALL_HINT = "pip install 'agent-sdk[mcp]'"


def require_mcp() -> ModuleType:
    """The ``mcp`` package.

    Raises:
        UserError: It is not installed (the message says how to install it).
    """
    try:
        import mcp
    except ImportError as exc:
        raise UserError(f"MCP support needs the mcp package: {INSTALL_HINT} ({exc})") from exc
    return mcp
