"""Which MCP server to connect to, and the limits that apply to it.

A server is a command line (run as a subprocess, spoken to over its stdin and
stdout) or an ``http(s)://`` URL (streamable HTTP). A plain string is enough
(``"python notes.py --db notes.json"``); :class:`MCPServerConfig` adds a name,
an environment and the timeouts.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path, PurePath
from urllib.parse import urlsplit

from agent_sdk.errors import UserError

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_LIST_TIMEOUT",
    "DEFAULT_START_TIMEOUT",
    "MAX_RESULT_CHARS",
    "MCPServerConfig",
    "sanitize_name",
]

DEFAULT_START_TIMEOUT = 30.0
"""Seconds a server has to start and answer the handshake (a Python server takes ~2 s on a Pi 5; npx may download)."""

DEFAULT_LIST_TIMEOUT = 10.0
"""Seconds a server has to list its tools, every page included."""

DEFAULT_CALL_TIMEOUT = 60.0
"""Seconds one tool call may take before the model is told it timed out."""

MAX_RESULT_CHARS = 16_000
"""Most characters of one tool result the model sees (~4k tokens; a small model's window is 2k-8k)."""

# Programs that run the server named by their first argument: "python notes.py" is "notes".
_LAUNCHERS = frozenset({
    "python", "python3", "py", "node", "nodejs", "npx", "uv", "uvx", "pipx", "bun", "bunx", "deno", "sh", "bash",
    "ruby", "java", "dotnet", "go", "run", "exec", "-m",
})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]+")
MAX_SERVER_NAME = 24
"""Most characters of a server's name (it prefixes the names of its clashing tools)."""


@dataclass(frozen=True)
class MCPServerConfig:
    """One MCP server to connect to.

    Attributes:
        target: A command line (split like a shell would, without running one:
            ``"python server.py --db 'my notes.json'"``) or an ``http://`` /
            ``https://`` URL of a streamable-HTTP endpoint.
        name: What to call the server in messages and in the names of its
            clashing tools (default: the name the server reports, else one
            derived from the command or URL).
        env: Environment variables for a command, over the few the ``mcp``
            package passes on by default (``PATH``, ``HOME``, ``USER``, …):
            secrets in your environment are not handed to servers unasked.
        cwd: Working directory of a command.
        start_timeout: Seconds to start and answer the handshake.
        list_timeout: Seconds to list the tools.
        call_timeout: Seconds one tool call may take.
        max_result_chars: Most characters of a tool result the model sees.
    """

    target: str
    _: KW_ONLY
    name: str | None = None
    env: Mapping[str, str] | None = field(default=None, hash=False)
    cwd: str | Path | None = None
    start_timeout: float = DEFAULT_START_TIMEOUT
    list_timeout: float = DEFAULT_LIST_TIMEOUT
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    max_result_chars: int = MAX_RESULT_CHARS

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.target, str) or not self.target.strip():
            problems.append(f"an MCP server must be a command line or a URL, got {self.target!r}")
        elif self.is_url:
            parts = urlsplit(self.target)
            if not parts.hostname:
                problems.append(f"the MCP server URL {self.target!r} has no host")
        else:
            try:
                if not shlex.split(self.target):
                    problems.append(f"the MCP server command {self.target!r} is empty")
            except ValueError as exc:
                problems.append(f"cannot split the MCP server command {self.target!r}: {exc}")
        for option in ("start_timeout", "list_timeout", "call_timeout"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                problems.append(f"{option} must be a positive number of seconds, got {value!r}")
        if isinstance(self.max_result_chars, bool) or not isinstance(self.max_result_chars, int) \
                or self.max_result_chars < 100:
            problems.append(f"max_result_chars must be a whole number of at least 100, got {self.max_result_chars!r}")
        if self.name is not None and not sanitize_name(self.name):
            problems.append(f"the MCP server name {self.name!r} has no letters or digits")
        if problems:
            raise UserError("; ".join(problems))

    @classmethod
    def of(cls, value: str | MCPServerConfig) -> MCPServerConfig:
        """A config from a command line or URL, or the config itself.

        Raises:
            UserError: ``value`` is neither, or an empty command.
        """
        if isinstance(value, MCPServerConfig):
            return value
        if isinstance(value, str):
            return cls(value)
        raise UserError(f"an MCP server must be a command line, a URL or an MCPServerConfig, got {value!r}")

    @property
    def is_url(self) -> bool:
        """Whether the server is reached over streamable HTTP."""
        return self.target.strip().lower().startswith(("http://", "https://"))

    @property
    def argv(self) -> list[str]:
        """The command split into the program and its arguments (empty for a URL)."""
        return [] if self.is_url else shlex.split(self.target)

    @property
    def shown_target(self) -> str:
        """The command (its program without folders) or URL, shortened for messages."""
        text = self.target.strip() if self.is_url else shlex.join([PurePath(self.argv[0]).name, *self.argv[1:]])
        return text if len(text) <= 80 else text[:77] + "..."

    def derived_name(self) -> str:
        """A short name from the command or URL: ``python notes.py`` → ``notes``, ``uvx mcp-server-time`` →
        ``mcp_server_time``, ``http://pi.local:8000/mcp`` → ``pi``."""
        if self.is_url:
            host = urlsplit(self.target.strip()).hostname or ""
            first = host.split(".")[0] if not host.replace(".", "").isdigit() else host
            return sanitize_name(first) or "mcp"
        words = [w for w in self.argv if not w.startswith("-") or w == "-m"]
        chosen = words[0] if words else "mcp"
        for word in words:
            stem = PurePath(word).name.lower()
            stem = re.sub(r"\.(exe|py|js|mjs|ts)$", "", stem)
            if re.fullmatch(r"python[0-9.]*|node[0-9.]*", stem) or stem in _LAUNCHERS:
                continue
            chosen = word
            break
        stem = PurePath(chosen.lstrip("@").split("@")[0]).name  # @scope/package@1.2 -> package
        stem = re.sub(r"\.(exe|py|js|mjs|ts)$", "", stem)
        stem = stem.rsplit(".", 1)[-1]  # a module path: pkg.server -> server
        return sanitize_name(stem) or "mcp"


def sanitize_name(text: str) -> str:
    """``text`` as a name part: runs of other characters become ``_``, at most :data:`MAX_SERVER_NAME` long."""
    return _NAME_CHARS.sub("_", text).strip("_")[:MAX_SERVER_NAME].strip("_")
