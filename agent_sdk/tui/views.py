"""How the chat looks: a ``rich`` view for terminals and a plain-text one for pipes.

Both views take the same calls from :class:`~agent_sdk.tui.chat.ChatSession`
and decide nothing about the conversation. ``rich`` is imported only when a
:class:`RichView` is made, so the plain view (and ``import agent_sdk.tui``)
works without it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from agent_sdk.agent.agent import ToolCall
    from agent_sdk.tools import ToolResult

__all__ = ["PlainView", "RichView", "View", "call_signature", "format_arguments"]

# What a tool result may take on screen: an 80x24 terminal has little room.
_RESULT_LINES = 6
_RESULT_CHARS = 300
_VALUE_CHARS = 200


class View(Protocol):
    """What the session asks of a view."""

    def banner(self, text: str) -> None: ...
    def echo_input(self, line: str) -> None: ...
    def input_prompt(self) -> str: ...
    def token(self, text: str) -> None: ...
    def end_line(self) -> None: ...
    def tool_call(self, call: ToolCall) -> None: ...
    def tool_result(self, call: ToolCall, result: ToolResult) -> None: ...
    def model_error(self, message: str) -> None: ...
    def status(self, parts: Sequence[str]) -> None: ...
    def info(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...
    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...
    def thinking(self) -> contextlib.AbstractContextManager[Any]: ...
    def loading(self, text: str) -> contextlib.AbstractContextManager[Any]: ...
    def confirm(self, call: ToolCall, stream: TextIO | None) -> bool: ...


def format_arguments(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(name, value as JSON)`` pairs, long values cut."""
    out = []
    for key, value in arguments.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        out.append((str(key), _cut(text, _VALUE_CHARS)))
    return out


def call_signature(call: ToolCall) -> str:
    """``name(key=value, ...)`` with JSON values."""
    return f"{call.name}({', '.join(f'{k}={v}' for k, v in format_arguments(call.arguments))})"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result_text(result: ToolResult) -> str:
    text = result.to_message() if result.ok else (result.error or "failed")
    shown = "\n".join(text.splitlines()[:_RESULT_LINES])[:_RESULT_CHARS]
    if shown != text:
        shown = shown.rstrip() + f"\n… ({len(text):,} characters in all)"
    return shown


def _declined(result: ToolResult) -> bool:
    return not result.ok and "declined" in (result.error or "")


class PlainView:
    """Plain lines, no ANSI: for pipes, logs and dumb terminals.

    Args:
        out: Where to write (default ``sys.stdout``).
        err: Where loading messages go (default ``sys.stderr``).
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._midline = False

    def _line(self, text: str) -> None:
        self.end_line()
        self.out.write(text + "\n")
        self.out.flush()

    def banner(self, text: str) -> None:
        self._line(text)

    def echo_input(self, line: str) -> None:
        self._line(f"> {line}")

    def input_prompt(self) -> str:
        return "> "

    def token(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._midline = not text.endswith("\n")

    def end_line(self) -> None:
        if self._midline:
            self.out.write("\n")
            self.out.flush()
            self._midline = False

    def tool_call(self, call: ToolCall) -> None:
        self._line(f"[call] {call_signature(call)}")

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        kind = "result" if result.ok else ("declined" if _declined(result) else "error")
        self._line(f"[{kind}] {call.name}: {_result_text(result)}")

    def model_error(self, message: str) -> None:
        self._line(f"[model error] {message}")

    def status(self, parts: Sequence[str]) -> None:
        self._line("[" + " | ".join(parts) + "]")

    def info(self, text: str) -> None:
        self._line(text)

    def error(self, text: str) -> None:
        self._line(f"error: {text}")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        for row in (columns, *rows):
            self._line("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())

    def thinking(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def loading(self, text: str) -> Iterator[None]:
        print(text, file=self.err, flush=True)
        yield

    def confirm(self, call: ToolCall, stream: TextIO | None) -> bool:
        question = f"Run {call.name}? [y/N] "
        self.end_line()
        if stream is None:
            answer = input(question)
        else:
            self.out.write(question)
            answer = stream.readline()
            self.out.write(answer if answer.endswith("\n") else answer + "\n")
            self.out.flush()
        return answer.strip().lower() in ("y", "yes")


class RichView:
    """Panels, colours and spinners with ``rich``.

    Args:
        console: The console to draw on (default: a new one on stdout).
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self._midline = False
        self._col = 0  # cursor column while streaming
        self._word = ""  # the streamed word not shown yet: it may still grow
        self._space = ""  # spaces not shown yet: a line break may replace them

    def _print(self, *objects: Any, **kw: Any) -> None:
        self.end_line()
        self.console.print(*objects, **kw)

    def banner(self, text: str) -> None:
        from rich.text import Text

        self._print(Text(text, style="bold"))

    def echo_input(self, line: str) -> None:
        from rich.text import Text

        self._print(Text.assemble(("> ", "bold green"), line))

    def input_prompt(self) -> str:
        if self.console.is_terminal and self.console.color_system:
            # \001 and \002 tell readline the escapes take no room on the line.
            return "\001\033[1;32m\002>\001\033[0m\002 "
        return "> "

    def token(self, text: str) -> None:
        # Words are held until they end, so a line can break before one instead of inside it.
        self._word += text
        cut = max(self._word.rfind(" "), self._word.rfind("\n"), self._word.rfind("\t"))
        if cut >= 0:
            ready, self._word = self._word[: cut + 1], self._word[cut + 1 :]
            self._write_wrapped(ready)

    def _write_wrapped(self, text: str) -> None:
        from rich.cells import cell_len

        width = max(self.console.width, 20)
        out: list[str] = []
        for piece in re.split(r"(\s+)", text):
            if not piece:
                continue
            if "\n" in piece:
                out.append(piece)
                self._space = ""
                self._col = cell_len(piece.rsplit("\n", 1)[1])
            elif piece.isspace():
                self._space += piece
            else:
                n = cell_len(piece)
                if self._col and self._col + len(self._space) + n > width:
                    out.append("\n")
                    self._col = 0
                else:
                    out.append(self._space)
                    self._col += len(self._space)
                self._space = ""
                out.append(piece)
                self._col = (self._col + n) % width if self._col + n > width else self._col + n
        if out:
            # soft_wrap: we break lines; rich would wrap every chunk as if it began a line.
            self.console.print("".join(out), end="", markup=False, highlight=False, emoji=False, soft_wrap=True)
            self._midline = self._col > 0

    def end_line(self) -> None:
        if self._word:
            word, self._word = self._word, ""
            self._write_wrapped(word)
        if self._midline:
            self.console.print()
            self._midline = False
        self._col = 0
        self._space = ""

    def tool_call(self, call: ToolCall) -> None:
        from rich.panel import Panel
        from rich.text import Text

        body = Text()
        for i, (key, value) in enumerate(format_arguments(call.arguments)):
            if i:
                body.append("\n")
            body.append(key, style="bold")
            body.append(" = " + value)
        if not body:
            body = Text("(no arguments)", style="dim")
        title = Text.assemble(("call ", "bold cyan"), (call.name, "bold"))
        self._print(Panel(body, title=title, title_align="left", border_style="cyan", expand=False))

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        from rich.panel import Panel
        from rich.text import Text

        if result.ok:
            kind, colour = "result", "green"
        elif _declined(result):
            kind, colour = "declined", "yellow"
        else:
            kind, colour = "error", "red"
        title = Text.assemble((kind + " ", f"bold {colour}"), (call.name, "bold"), f" · {result.elapsed_s:.2f} s")
        body = Text(_result_text(result))
        self._print(Panel(body, title=title, title_align="left", border_style=colour, expand=False))

    def model_error(self, message: str) -> None:
        from rich.text import Text

        self._print(Text.assemble(("model error: ", "bold red"), message))

    def status(self, parts: Sequence[str]) -> None:
        from rich.text import Text

        self._print(Text(" · ".join(parts), style="dim"))

    def info(self, text: str) -> None:
        from rich.text import Text

        self._print(Text(text, style="cyan"))

    def error(self, text: str) -> None:
        from rich.text import Text

        self._print(Text.assemble(("error: ", "bold red"), text))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich import box
        from rich.table import Table

        t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*r)
        self._print(t)

    def thinking(self) -> contextlib.AbstractContextManager[Any]:
        if not self.console.is_terminal:
            return contextlib.nullcontext()
        self.end_line()
        return self.console.status("thinking…", spinner="dots")

    def loading(self, text: str) -> contextlib.AbstractContextManager[Any]:
        # Progress lines printed meanwhile (compiling) show above the spinner.
        self.end_line()
        return self.console.status(text, spinner="dots")

    def confirm(self, call: ToolCall, stream: TextIO | None) -> bool:
        from rich.prompt import Confirm
        from rich.text import Text

        self.end_line()
        question = Text.assemble("Run ", (call.name, "bold"), "?")
        answer = bool(Confirm.ask(question, console=self.console, default=False, stream=stream))
        if stream is not None:  # a scripted answer is not echoed by the terminal
            self.console.print("y" if answer else "n")
        return answer
