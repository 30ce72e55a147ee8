"""The names MCP tools are offered under: their own, unless taken.

The rule, applied to the servers in the order given and to each server's
tools in the order it lists them:

1. a tool keeps its own name when no earlier tool (a local ``@tool`` or a
   tool of an earlier server) has it;
2. otherwise it is called ``<server>_<name>``, where ``<server>`` is the
   server's short name (:attr:`~agent_sdk.mcp.config.MCPServerConfig.name`,
   else the name it reports, else one derived from its command or URL;
   letters, digits and ``_``);
3. if that is taken too, ``_2``, ``_3``, … is appended.

A name the SDK cannot use (over 64 characters, or with characters other than
letters, digits, ``_``, ``-`` and ``.``) has the others replaced by ``_`` and
is cut to fit first. Every renaming warns with a
:class:`~agent_sdk.errors.ToolNameWarning`; calls still reach the server
under the tool's own name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent_sdk.tools.decorator import is_valid_tool_name

__all__ = ["MAX_TOOL_NAME", "NameAssigner", "usable_name"]

MAX_TOOL_NAME = 64
"""Longest tool name (the OpenAI limit, which :func:`~agent_sdk.tools.decorator.is_valid_tool_name` applies)."""

_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def usable_name(name: str) -> str:
    """``name`` made a valid tool name: other characters become ``_``, cut to :data:`MAX_TOOL_NAME`."""
    if is_valid_tool_name(name):
        return name
    fixed = _BAD.sub("_", name).lstrip(".-")[:MAX_TOOL_NAME] or "tool"
    return fixed if is_valid_tool_name(fixed) else "tool"


class NameAssigner:
    """Hands out tool names by the rule above, remembering the ones taken.

    Args:
        taken: Names already in use (the agent's local tools).
    """

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = set(taken)

    def assign(self, name: str, server: str) -> tuple[str, str | None]:
        """The name for tool ``name`` of server ``server``, and why it differs (None when it does not).

        Args:
            name: The tool's own name, as the server lists it.
            server: The server's short name (a valid name part).

        Returns:
            ``(local_name, reason)``.
        """
        base = usable_name(name)
        reason = None if base == name else f"{name!r} is not a name the model can call"
        if base in self._taken:
            reason = f"another tool is already called {base!r}"
            base = f"{server}_{base}"[:MAX_TOOL_NAME]
        chosen, n = base, 2
        while chosen in self._taken:
            suffix = f"_{n}"
            chosen = base[: MAX_TOOL_NAME - len(suffix)] + suffix
            n += 1
        self._taken.add(chosen)
        return chosen, reason
