"""The chat TUI as a front end: scripted agent events in, screen text out.

The agent is scripted (it yields predetermined events, and asks the
session's ``confirm`` where the real agent would): the TUI owns no logic, so
what is tested here is how events, commands, confirmations and Ctrl-C are
shown and handled. The real model drives ``agent-sdk chat`` in
tests/integration/test_chat_tmux.py.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from rich.console import Console

from agent_sdk import cli
from agent_sdk.agent.events import (
    AgentResult,
    RunStats,
    FinalAnswer,
    ModelOutputError,
    TokenDelta,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.errors import ContextOverflowError
from agent_sdk.tools import ToolRegistry, ToolResult, tool
from agent_sdk.tui import ChatSession, PlainView, RichView
from agent_sdk.tui.chat import make_view, status_parts

pytestmark = pytest.mark.unit

_ROOT = Path(__file__).resolve().parents[2]


@tool
def get_weather(city: str, unit: Literal["c", "f"]) -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit, "c" for celsius or "f" for fahrenheit.
    """
    return {"city": city, "temperature": 21, "unit": unit}


@tool(requires_confirmation=True)
def delete_file(path: str) -> str:
    """Delete a file from the disk.

    Args:
        path: The file to delete.
    """
    return f"deleted {path}"


STATS = {"prompt_tokens": 300, "cached_tokens": 250, "generated_tokens": 21, "forced_tokens": 6,
         "model_seconds": 0.9, "prefill_s": 0.12, "decode_s": 0.5, "decode_tokens": 20, "context_tokens": 321}


class FakeEngine:
    context_window = 2048

    def __init__(self) -> None:
        self.resets = 0

    def info(self) -> dict[str, Any]:
        return {"path": "/bundles/smollm2-135m-q4-host", "name": "smollm2-135m", "parameters": 134515008,
                "quantization": {"name": "q4"}, "target": "host", "context_window": 2048, "threads": 2,
                "load_seconds": 0.4}

    def reset(self) -> None:
        self.resets += 1


Script = Callable[["ScriptedAgent", str], Iterator[Any]]


class ScriptedAgent:
    """Plays the agent: yields a script's events; asks ``confirm`` where the real one would."""

    def __init__(self, script: Script, tools: tuple[Any, ...] = (get_weather, delete_file)) -> None:
        self.script = script
        self.registry = ToolRegistry(tools)
        self.engine = FakeEngine()
        self.constrain = True
        self.messages: list[dict[str, Any]] = []
        self.confirm: Callable[[ToolCall], bool] | None = None
        self.prompts: list[str] = []
        self.closed = 0

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        return [t["function"] for t in self.registry.to_openai()]

    def system_message(self) -> dict[str, Any]:
        return {"role": "system", "content": "You are a helpful assistant with tools."}

    def reset(self) -> None:
        self.messages = []

    def stream(self, prompt: str) -> Iterator[Any]:
        self.prompts.append(prompt)
        self.messages.append({"role": "user", "content": prompt})
        try:
            yield from self.script(self, prompt)
        finally:
            self.closed += 1


def final(text: str, calls: list[Any] | None = None) -> FinalAnswer:
    return FinalAnswer(text, AgentResult(text=text, calls=calls or [], steps=2, stats=RunStats(**STATS)))


def weather_script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
    call = ToolCall("get_weather", {"city": "Paris", "unit": "c"}, id="call_1")
    yield ToolCallEvent(call)
    yield ToolResultEvent(call, ToolResult(name=call.name, arguments=call.arguments, ok=True,
                                           content={"city": "Paris", "temperature": 21, "unit": "c"}, elapsed_s=0.01))
    for piece in [" It", " is", " 21", " °C", " in", " Paris", "."]:
        yield TokenDelta(piece)
    agent.messages.append({"role": "assistant", "content": "It is 21 °C in Paris."})
    yield final("It is 21 °C in Paris.")


def delete_script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
    call = ToolCall("delete_file", {"path": "/tmp/old.log"}, id="call_2")
    yield ToolCallEvent(call)
    assert agent.confirm is not None
    if agent.confirm(call):
        res = ToolResult(name=call.name, arguments=call.arguments, ok=True, content="deleted /tmp/old.log")
    else:
        res = ToolResult(name=call.name, arguments=call.arguments, ok=False,
                         error="the user declined to run this tool")
    yield ToolResultEvent(call, res)
    yield TokenDelta("Done.")
    yield final("Done.")


def rich_session(script: Script, lines: str = "", **kw: Any) -> tuple[ChatSession, ScriptedAgent, Console]:
    console = Console(file=io.StringIO(), width=80, record=True, force_terminal=False, color_system=None)
    agent = ScriptedAgent(script, **kw)
    session = ChatSession(agent, RichView(console), input_stream=io.StringIO(lines), model_name="smollm2-135m")
    agent.confirm = session.confirm
    return session, agent, console


def plain_session(script: Script, lines: str = "") -> tuple[ChatSession, ScriptedAgent, io.StringIO]:
    out = io.StringIO()
    agent = ScriptedAgent(script)
    session = ChatSession(agent, PlainView(out, io.StringIO()), input_stream=io.StringIO(lines), model_name="m")
    agent.confirm = session.confirm
    return session, agent, out


# ------------------------------------------------------------------ events


def test_rich_shows_call_panel_then_result_then_streamed_answer_and_status() -> None:
    session, agent, console = rich_session(weather_script)
    turn = session.ask("What's the weather in Paris in celsius?")
    text = console.export_text()
    assert turn.final is not None and not turn.interrupted
    call_at = text.index("call get_weather")
    assert text.index('city = "Paris"') > call_at and text.index('unit = "c"') > call_at
    result_at = text.index("result get_weather")
    assert result_at > call_at
    assert '"temperature": 21' in text[result_at:]
    answer_at = text.index("It is 21 °C in Paris.")  # deltas joined, leading space dropped
    assert answer_at > result_at
    assert "╭" in text and "╰" in text  # panels
    status = text.splitlines()[-1]
    assert status.startswith("prefill 120 ms · decode 40.0 tok/s · context 321/2048 · mem ")
    assert status.endswith(" MB")
    assert agent.closed == 1


def test_rich_fits_80_columns_with_long_arguments_and_results() -> None:
    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        call = ToolCall("get_weather", {"city": "Llanfairpwllgwyngyll " * 12, "unit": "c"})
        yield ToolCallEvent(call)
        yield ToolResultEvent(call, ToolResult(name=call.name, arguments=call.arguments, ok=True,
                                               content="\n".join(f"line {i} " + "x" * 120 for i in range(30))))
        yield TokenDelta("word " * 40)
        yield final("...")

    session, _, console = rich_session(script)
    session.ask("long")
    text = console.export_text()
    assert "… (3,859 characters in all)" in text  # long results are cut to fit a 24-row screen
    result_panel = text[text.index("result get_weather"):text.index("characters in all")]
    assert result_panel.count("\n") <= 10
    lines = text.splitlines()
    panel_lines = [ln for ln in lines if ln.startswith(("╭", "│", "╰"))]
    assert panel_lines and all(len(ln) <= 80 for ln in panel_lines)
    assert all(len(ln) <= 80 for ln in lines if not ln.startswith("word"))


def test_rich_shows_tool_errors_and_model_errors() -> None:
    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        call = ToolCall("get_weather", {"city": "Atlantis", "unit": "c"})
        yield ToolCallEvent(call)
        yield ToolResultEvent(call, ToolResult(name=call.name, arguments=call.arguments, ok=False,
                                               error="RuntimeError: no such city"))
        yield ModelOutputError("unknown tool 'get_wether'", raw="<tool_call>...")
        yield final("")

    session, _, console = rich_session(script)
    session.ask("weather in Atlantis")
    text = console.export_text()
    assert "error get_weather" in text and "RuntimeError: no such city" in text
    assert "model error: unknown tool 'get_wether'" in text


def test_plain_mode_has_no_panels_and_no_ansi() -> None:
    session, _, out = plain_session(weather_script)
    session.ask("What's the weather in Paris in celsius?")
    text = out.getvalue()
    assert "\x1b" not in text
    assert not any(ch in text for ch in "╭│╰─")
    lines = text.splitlines()
    assert lines[0] == '[call] get_weather(city="Paris", unit="c")'
    assert lines[1] == '[result] get_weather: {"city": "Paris", "temperature": 21, "unit": "c"}'
    assert lines[2] == "It is 21 °C in Paris."
    assert lines[3].startswith("[prefill 120 ms | decode 40.0 tok/s | context 321/2048 | mem ")


def test_not_a_tty_gives_the_plain_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert isinstance(make_view(), PlainView)
    assert isinstance(make_view(plain=False), RichView)


def test_an_answer_without_streamed_tokens_is_still_shown() -> None:
    session, _, out = plain_session(lambda agent, prompt: iter([final("Paris.")]))
    session.ask("capital of France?")
    assert out.getvalue().splitlines()[0] == "Paris."


def test_engine_errors_are_shown_and_the_session_goes_on() -> None:
    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        if prompt == "too long":
            raise ContextOverflowError("prompt has 3000 tokens\nbut the context window is 2048")
        yield final("ok")

    session, agent, out = plain_session(script, "too long\nhello\n/quit\n")
    assert session.run() == 0
    text = out.getvalue()
    assert "error: prompt has 3000 tokens / but the context window is 2048" in text
    assert "/reset starts over" in text
    assert agent.prompts == ["too long", "hello"]


def test_status_parts() -> None:
    parts = status_parts(RunStats(**STATS), context_window=2048, peak_rss_mb=401.6)
    assert parts == ["prefill 120 ms", "decode 40.0 tok/s", "context 321/2048", "mem 402 MB"]
    assert status_parts(RunStats(), context_window=None, peak_rss_mb=None) == ["prefill 0 ms", "decode 0.0 tok/s"]


# ---------------------------------------------------------- confirmation


@pytest.mark.parametrize("answer, ran", [("y", True), ("n", False), ("", False)])
def test_confirmation_asks_before_running(answer: str, ran: bool) -> None:
    session, _, console = rich_session(delete_script, f"{answer}\n")
    turn = session.ask("Delete /tmp/old.log")
    text = console.export_text()
    assert "Run delete_file? [y/n] (n):" in text
    assert text.index("call delete_file") < text.index("Run delete_file?")
    results = [e.result for e in turn.events if isinstance(e, ToolResultEvent)]
    assert results[0].ok is ran
    assert ("result delete_file" in text) is ran
    assert ("declined delete_file" in text) is (not ran)


def test_plain_confirmation() -> None:
    session, _, out = plain_session(delete_script, "Delete /tmp/old.log\nyes\n")
    assert session.run() == 0
    text = out.getvalue()
    assert "> Delete /tmp/old.log\n[call] delete_file(path=\"/tmp/old.log\")\nRun delete_file? [y/N] yes\n" in text
    assert "[result] delete_file: deleted /tmp/old.log" in text


def test_ctrl_c_at_the_confirmation_declines_and_stops() -> None:
    class CtrlC(io.StringIO):
        def readline(self, *a: Any) -> str:
            raise KeyboardInterrupt

    session, _, console = rich_session(delete_script)
    session.input_stream = CtrlC()
    turn = session.ask("Delete /tmp/old.log")
    text = console.export_text()
    assert turn.interrupted and turn.final is None
    assert "declined delete_file" in text and "Done." not in text
    assert text.rstrip().endswith("stopped")


# ------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_stops_at_the_next_event_and_keeps_the_session() -> None:
    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        if prompt == "second":
            yield TokenDelta("still here")
            yield final("still here")
            return
        yield TokenDelta("One")
        signal.raise_signal(signal.SIGINT)  # as if Ctrl-C came during the next token
        yield TokenDelta(" two")
        yield TokenDelta(" three")
        yield final("One two three")

    session, agent, console = rich_session(script, "first\nsecond\n")
    before = signal.getsignal(signal.SIGINT)
    assert session.run() == 0
    text = console.export_text()
    assert "One two" in text and "three" not in text
    assert "stopped" in text
    assert "still here" in text  # the session went on
    assert agent.closed == 2  # the interrupted stream was closed, not left suspended
    assert agent.engine.resets == 0  # stopped between events: the cache is consistent
    assert signal.getsignal(signal.SIGINT) is before


def test_second_ctrl_c_interrupts_at_once_and_clears_the_engine_cache() -> None:
    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        yield TokenDelta("One")
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # the second raises inside the model step
        yield TokenDelta(" never")
        yield final("One never")

    session, agent, console = rich_session(script, "go\n/help\n")
    assert session.run() == 0
    text = console.export_text()
    assert "never" not in text and "stopped" in text
    assert agent.engine.resets == 1
    assert "/constrain on|off" in text  # next line was still read


def test_ctrl_c_at_the_prompt_does_not_leave() -> None:
    class Lines(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def readline(self, *a: Any) -> str:
            self.calls += 1
            if self.calls == 1:
                raise KeyboardInterrupt
            return "/quit\n" if self.calls == 2 else ""

    session, _, console = rich_session(weather_script)
    session.input_stream = Lines()
    assert session.run() == 0
    assert "(/quit or Ctrl-D to leave)" in console.export_text()


# ------------------------------------------------------------ slash commands


def test_tools_command_lists_tools_and_which_ask_first() -> None:
    session, _, console = rich_session(weather_script, "/tools\n")
    session.run()
    text = console.export_text()
    assert "get_weather" in text and "city, unit" in text and "Get the current weather in a city." in text
    assert "delete_file" in text and "(asks first)" in text


def test_tools_command_without_tools() -> None:
    session, _, console = rich_session(weather_script, "/tools\n", tools=())
    session.run()
    assert "no tools (start with --tools FILE_OR_MODULE)" in console.export_text()


def test_reset_forgets_the_conversation() -> None:
    session, agent, console = rich_session(weather_script, "hello\n/reset\n")
    session.run()
    assert agent.messages == []
    assert "conversation cleared" in console.export_text()


def test_constrain_on_off() -> None:
    session, agent, console = rich_session(weather_script)
    session.handle("/constrain off")
    assert agent.constrain is False
    session.handle("/constrain")
    session.handle("/constrain on")
    assert agent.constrain is True
    session.handle("/constrain maybe")
    assert agent.constrain is True
    text = console.export_text()
    assert text.count("constrained tool calls: off") == 2 and "constrained tool calls: on" in text
    assert "usage: /constrain on|off" in text


def test_save_writes_the_conversation_as_json(tmp_path: Path) -> None:
    out = tmp_path / "chat.json"
    session, _, console = rich_session(weather_script, f"What's the weather in Paris?\n/save {out}\n")
    session.run()
    data = json.loads(out.read_text())
    assert data["model"] == "smollm2-135m"
    assert data["system"] == "You are a helpful assistant with tools."
    assert [t["name"] for t in data["tools"]] == ["get_weather", "delete_file"]
    assert data["messages"] == [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "It is 21 °C in Paris."},
    ]
    assert f"saved 2 messages to {out}" in " ".join(console.export_text().split())  # the line wraps at 80


def test_save_errors_do_not_end_the_session(tmp_path: Path) -> None:
    session, agent, console = rich_session(weather_script, f"/save\n/save {tmp_path}/no/such/dir/x.json\nhi\n")
    assert session.run() == 0
    text = console.export_text()
    assert "usage: /save FILE" in text and "cannot write" in text
    assert agent.prompts == ["hi"]


def test_model_command_shows_the_engine() -> None:
    session, _, console = rich_session(weather_script, "/model\n")
    session.run()
    text = console.export_text()
    for expected in ("smollm2-135m", "134,515,008", "q4", "context window", "2048", "threads", "0.4 s",
                     "constrained calls", "get_weather, delete_file"):
        assert expected in text, expected


def test_help_lists_every_command() -> None:
    session, _, console = rich_session(weather_script, "/help\n")
    session.run()
    text = console.export_text()
    for command in ("/tools", "/reset", "/constrain on|off", "/model", "/save FILE", "/help", "/quit"):
        assert command in text, command


def test_unknown_command() -> None:
    session, agent, console = rich_session(weather_script, "/frobnicate now\n")
    assert session.run() == 0
    assert "unknown command /frobnicate; /help lists the commands" in console.export_text()
    assert agent.prompts == []


def test_quit_and_end_of_input_leave_with_0() -> None:
    session, agent, _ = rich_session(weather_script, "/quit\nnever asked\n")
    assert session.run() == 0
    assert agent.prompts == []
    session, agent, _ = rich_session(weather_script, "")
    assert session.run() == 0


def test_plain_slash_commands() -> None:
    session, _, out = plain_session(weather_script, "/tools\n/help\n/bogus\n")
    session.run()
    text = out.getvalue()
    assert "\x1b" not in text
    assert "get_weather  city, unit" in text and "/save FILE" in text and "error: unknown command /bogus" in text


# --------------------------------------------------------------- packaging


def test_import_agent_sdk_tui_does_not_import_rich() -> None:
    code = "import sys, agent_sdk.tui; print(any(m == 'rich' or m.startswith('rich.') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_cli_chat_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["chat", "--tools", "/no/such/tools.py"]) == 2
    assert "no such Python file" in capsys.readouterr().err
    assert cli.main(["chat", "--threads", "many"]) == 2


def test_streamed_text_breaks_lines_between_words() -> None:
    text = "Once upon a time, in a land far away, there lived a magnificent dragon named Erebo who guarded gold."

    def script(agent: ScriptedAgent, prompt: str) -> Iterator[Any]:
        for i in range(0, len(text), 3):  # pieces that split words, as tokens do
            yield TokenDelta(text[i : i + 3])
        yield final(text)

    console = Console(file=io.StringIO(), width=30, record=True, force_terminal=False, color_system=None)
    session = ChatSession(ScriptedAgent(script), RichView(console), input_stream=io.StringIO())
    session.ask("story")
    shown = console.export_text()
    lines = shown[: shown.index("prefill")].splitlines()  # the status line after the answer
    assert all(len(line) <= 30 for line in lines), lines
    assert " ".join(" ".join(lines).split()) == text
    assert lines[0] == "Once upon a time, in a land"
