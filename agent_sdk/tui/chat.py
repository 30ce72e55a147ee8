"""``agent-sdk chat``: an interactive session over :meth:`Agent.stream`.

The session reads lines, runs slash commands, and shows the agent's events
as they come; every decision (calls, confirmation policy, stats) is the
agent's. Ctrl-C during an answer stops it at the next event, where the
engine's cache is consistent (a second Ctrl-C stops at once and clears the
cache, since it may land mid-step); the session goes on.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from agent_sdk.agent.events import (
    FinalAnswer,
    ModelOutputError,
    RunStats,
    TokenDelta,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.errors import AgentSDKError, ContextOverflowError
from agent_sdk.tui.views import PlainView, RichView, View

__all__ = ["ChatSession", "Turn", "history_path", "make_view", "run_chat", "status_parts"]

HELP = [
    ("/tools", "list the tools the model can call"),
    ("/reset", "forget the conversation"),
    ("/constrain on|off", "decode tool calls under their grammar, or not"),
    ("/model", "show the model and runtime settings"),
    ("/save FILE", "write the conversation as JSON"),
    ("/help", "show this help"),
    ("/quit", "leave (Ctrl-D too)"),
]


def history_path() -> Path:
    """Where input history is kept: ``$XDG_CACHE_HOME`` or ``~/.cache``, then ``agent_sdk/chat_history``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "agent_sdk" / "chat_history"


def status_parts(stats: RunStats, *, context_window: int | None, peak_rss_mb: float | None) -> list[str]:
    """The status line after an answer, from the agent's per-turn stats."""
    parts = [f"prefill {stats.prefill_s * 1000:.0f} ms", f"decode {stats.decode_tok_s:.1f} tok/s"]
    used = stats.context_tokens
    if used:
        parts.append(f"context {used}/{context_window}" if context_window else f"context {used}")
    if peak_rss_mb is not None:
        parts.append(f"mem {peak_rss_mb:.0f} MB")
    return parts


@dataclass
class Turn:
    """What one question produced on screen (for tests and callers).

    Attributes:
        final: The final answer event, or None when stopped or failed.
        interrupted: Whether Ctrl-C stopped it.
        events: Every event shown.
    """

    final: FinalAnswer | None = None
    interrupted: bool = False
    events: list[Any] = field(default_factory=list)


class _StopRequests:
    """SIGINT as a request to stop at the next event; a second one raises at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Ordinary Ctrl-C (KeyboardInterrupt) meanwhile, e.g. at a y/n prompt."""
        if not self._installed:
            yield
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._handle)


class ChatSession:
    """An interactive conversation with an agent.

    Args:
        agent: An :class:`~agent_sdk.agent.agent.Agent` (anything with its
            ``stream``, ``reset``, ``messages``, ``registry`` and ``constrain``).
        view: How to show things (:class:`RichView` or :class:`PlainView`).
        input_stream: Read lines (and y/n answers) from here instead of the
            keyboard; they are echoed. Default: the terminal via ``input()``,
            or stdin read as lines when it is not a terminal.
        model_name: Shown in the banner.
        history: Told every line typed at the terminal (readline history).
    """

    def __init__(
        self,
        agent: Any,
        view: View,
        *,
        input_stream: TextIO | None = None,
        model_name: str = "",
        history: Callable[[str], None] | None = None,
    ) -> None:
        self.agent = agent
        self.view = view
        self.input_stream = input_stream
        self.model_name = model_name
        self.history = history
        self._stops = _StopRequests()
        self._commands: dict[str, Callable[[str], bool]] = {
            "/tools": self._cmd_tools,
            "/reset": self._cmd_reset,
            "/constrain": self._cmd_constrain,
            "/model": self._cmd_model,
            "/save": self._cmd_save,
            "/help": self._cmd_help,
            "/quit": self._cmd_quit,
            "/exit": self._cmd_quit,
        }

    # ----------------------------------------------------------------- loop

    def run(self) -> int:
        """Reads and answers lines until ``/quit`` or end of input; returns the exit code."""
        n = len(self.agent.registry)
        tools = f"{n} tool{'s' if n != 1 else ''}"
        name = f" · {self.model_name}" if self.model_name else ""
        self.view.banner(f"agent-sdk chat{name} · {tools} · /help for commands")
        while True:
            try:
                line = self.read_line()
            except EOFError:
                self._after_terminal_prompt()
                return 0
            except KeyboardInterrupt:
                self._after_terminal_prompt()
                self.view.info("(/quit or Ctrl-D to leave)")
                continue
            if not self.handle(line):
                return 0

    def read_line(self) -> str:
        """The next input line (EOFError at the end)."""
        stream = self.input_stream
        if stream is None and not sys.stdin.isatty():
            stream = sys.stdin
        if stream is None:
            line = input(self.view.input_prompt())
            if line.strip() and self.history is not None:
                self.history(line)
            return line
        line = stream.readline()
        if not line:
            raise EOFError
        line = line.rstrip("\n")
        self.view.echo_input(line)
        return line

    def _after_terminal_prompt(self) -> None:
        """Ends the prompt's line after Ctrl-C or Ctrl-D there (the terminal leaves the cursor on it)."""
        if self.input_stream is None and sys.stdin.isatty():
            self.view.token("\n")

    def handle(self, line: str) -> bool:
        """Runs one input line (a command or a question); False means leave."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            name, _, rest = line.partition(" ")
            command = self._commands.get(name.lower())
            if command is None:
                self.view.error(f"unknown command {name}; /help lists the commands")
                return True
            return command(rest.strip())
        self.ask(line)
        return True

    # ------------------------------------------------------------------ turn

    def ask(self, prompt: str) -> Turn:
        """Streams the agent's answer to ``prompt``; Ctrl-C stops it."""
        turn = Turn()
        self._stops = _StopRequests()
        events = self.agent.stream(prompt)
        model_busy = True  # the model works before the first event and after each tool result
        answer_start = True
        in_next = False
        try:
            with self._stops:
                while True:
                    in_next = True
                    with self.view.thinking() if model_busy else _nothing():
                        try:
                            ev = next(events)
                        except StopIteration:
                            break
                    in_next = False
                    turn.events.append(ev)
                    model_busy = isinstance(ev, ToolResultEvent)
                    if isinstance(ev, TokenDelta):
                        text = ev.text.lstrip() if answer_start else ev.text
                        if text:
                            answer_start = False
                            self.view.token(text)
                    elif isinstance(ev, ToolCallEvent):
                        self.view.tool_call(ev.call)
                    elif isinstance(ev, ToolResultEvent):
                        self.view.tool_result(ev.call, ev.result)
                        answer_start = True
                    elif isinstance(ev, ModelOutputError):
                        self.view.model_error(ev.message)
                    elif isinstance(ev, FinalAnswer):
                        if answer_start and ev.text:  # nothing was streamed (e.g. a remote backend)
                            self.view.token(ev.text)
                        turn.final = ev
                    if self._stops.requested and turn.final is None:
                        turn.interrupted = True
                        break
        except KeyboardInterrupt:
            turn.interrupted = True
            if in_next:
                # It may have landed inside a model step: cached sequences can no longer be trusted.
                reset = getattr(getattr(self.agent, "engine", None), "reset", None)
                if callable(reset):
                    reset()
        except AgentSDKError as exc:
            self.view.end_line()
            self.view.error(" / ".join(s.strip() for s in str(exc).splitlines() if s.strip()))
            if isinstance(exc, ContextOverflowError):
                self.view.info("the conversation no longer fits: /reset starts over")
        finally:
            events.close()
        self.view.end_line()
        if turn.interrupted:
            self.view.info("stopped")
        elif turn.final is not None:
            self.view.status(self._status(turn.final))
        return turn

    def _status(self, final: FinalAnswer) -> list[str]:
        from agent_sdk.runtime.engine import peak_rss_mb

        window = getattr(getattr(self.agent, "engine", None), "context_window", None)
        return status_parts(final.result.stats, context_window=window, peak_rss_mb=peak_rss_mb())

    def confirm(self, call: ToolCall) -> bool:
        """The agent's ``confirm`` callback: asks y/n; Ctrl-C declines and stops the answer."""
        with self._stops.paused():
            try:
                return self.view.confirm(call, self.input_stream)
            except (KeyboardInterrupt, EOFError):
                self._stops.requested = True
                self.view.end_line()
                return False

    # -------------------------------------------------------------- commands

    def _cmd_tools(self, arg: str) -> bool:
        tools = list(self.agent.registry)
        if not tools:
            self.view.info("no tools (start with --tools FILE_OR_MODULE)")
            return True
        rows = []
        for t in tools:
            params = ", ".join(t.parameters.get("properties", {}))
            note = " (asks first)" if t.requires_confirmation else ""
            rows.append([t.name, params, t.description.split("\n")[0] + note])
        self.view.table(["tool", "arguments", "description"], rows)
        return True

    def _cmd_reset(self, arg: str) -> bool:
        self.agent.reset()
        self.view.info("conversation cleared")
        return True

    def _cmd_constrain(self, arg: str) -> bool:
        value = arg.lower()
        if value in ("on", "off"):
            self.agent.constrain = value == "on"
        elif value:
            self.view.error("usage: /constrain on|off")
            return True
        self.view.info(f"constrained tool calls: {'on' if self.agent.constrain else 'off'}")
        return True

    def _cmd_model(self, arg: str) -> bool:
        engine = getattr(self.agent, "engine", None)
        info = dict(engine.info()) if engine is not None and hasattr(engine, "info") else {}
        quant = info.get("quantization")
        if isinstance(quant, dict):
            info["quantization"] = quant.get("name", "")
        if isinstance(info.get("parameters"), int):
            info["parameters"] = f"{info['parameters']:,}"
        if "load_seconds" in info:
            info["load_seconds"] = f"{info['load_seconds']:.1f} s"
        info["constrained calls"] = "on" if self.agent.constrain else "off"
        info["tools"] = ", ".join(self.agent.registry.names) or "none"
        self.view.table(["model", ""], [[str(k).replace("_", " "), str(v)] for k, v in info.items()])
        return True

    def _cmd_save(self, arg: str) -> bool:
        if not arg:
            self.view.error("usage: /save FILE")
            return True
        path = Path(arg).expanduser()
        system = self.agent.system_message() if hasattr(self.agent, "system_message") else None
        messages = list(self.agent.messages)
        data = {
            "model": self.model_name,
            "system": system["content"] if system else None,
            "tools": list(getattr(self.agent, "tool_specs", [])),
            "messages": messages,
        }
        try:
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        except OSError as exc:
            self.view.error(f"cannot write {path}: {exc.strerror or exc}")
            return True
        self.view.info(f"saved {len(messages)} messages to {path}")
        return True

    def _cmd_help(self, arg: str) -> bool:
        self.view.table(["command", ""], [list(row) for row in HELP])
        self.view.info("Ctrl-C stops an answer; ↑/↓ recall earlier lines.")
        return True

    def _cmd_quit(self, arg: str) -> bool:
        return False


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ----------------------------------------------------------------- entry


def make_view(*, plain: bool | None = None) -> View:
    """A rich view on a terminal (when rich is installed), plain text otherwise."""
    if plain is None:
        plain = not sys.stdout.isatty() or os.environ.get("TERM") == "dumb"
    if not plain:
        try:
            return RichView()
        except ImportError:
            pass
    return PlainView()


class _History:
    """readline history in a file, when readline exists and input is a terminal.

    Only the session's own lines are kept (not y/n answers): :meth:`add`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._readline: Any = None

    def add(self, line: str) -> None:
        if self._readline is not None:
            self._readline.add_history(line)

    def __enter__(self) -> None:
        if not sys.stdin.isatty():
            return
        try:
            import readline
        except ImportError:
            return
        self._readline = readline
        readline.set_auto_history(False)
        readline.set_history_length(1000)
        try:
            readline.read_history_file(self.path)
        except OSError:
            pass  # no history yet

    def __exit__(self, *exc: object) -> None:
        if self._readline is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self.path)
        except OSError:
            pass  # history is a convenience: never fail the session for it


def run_chat(
    *,
    model: str,
    tools: Sequence[str],
    load_bundle: Callable[..., Path],
    quant: str = "auto",
    threads: int | None = None,
    system: str | None = None,
    max_tokens: int = 256,
    mcp: Sequence[str] = (),
) -> int:
    """Loads the model and tools and runs a chat session on the terminal.

    Args:
        model: Preset, model path or bundle folder.
        tools: Modules or ``.py`` files with ``@tool`` functions.
        load_bundle: Returns a bundle folder for ``model`` (the CLI's
            ``ensure_bundle``: compiles on first use).
        quant: Quantization when compiling.
        threads: CPU threads.
        system: Instructions before the tool descriptions.
        max_tokens: Most tokens per model step.
        mcp: MCP servers (command lines or URLs) whose tools join ``tools``;
            started before the model loads, stopped when the session ends.

    Returns:
        The exit code.
    """
    from agent_sdk.tools import ToolRegistry, load_tools

    registry = ToolRegistry()
    for spec in tools:  # before the model: a bad tools file fails fast
        for t in load_tools(spec):
            registry.register(t)
    toolset = None
    if mcp:  # so does a server that will not start
        from agent_sdk.mcp import MCPToolset

        toolset = MCPToolset(mcp, reserved_names=registry.names)
    try:
        return _chat(model, registry, load_bundle, quant=quant, threads=threads, system=system,
                     max_tokens=max_tokens, mcp=toolset)
    finally:
        if toolset is not None:
            toolset.close()


def _chat(
    model: str, registry: Any, load_bundle: Callable[..., Path], *, quant: str, threads: int | None,
    system: str | None, max_tokens: int, mcp: Any,
) -> int:
    """Loads the model and runs the session (:func:`run_chat` after the tools are ready)."""
    from agent_sdk.agent.agent import Agent
    from agent_sdk.runtime import Engine

    view = make_view()
    with view.loading(f"loading {model}…"):
        bundle = load_bundle(model, quant=quant, quiet=False)
        engine = Engine(bundle, threads=threads)
        agent = Agent(engine, tools=registry, mcp=mcp, system=system, max_tokens=max_tokens)
        agent.warm()  # the system prompt and tools, prefilled once for every turn
    history = _History(history_path())
    name = str(engine.manifest.get("name") or Path(bundle).name)
    session = ChatSession(agent, view, model_name=name, history=history.add)
    agent.confirm = session.confirm
    with history:
        return session.run()
