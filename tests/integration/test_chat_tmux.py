"""`agent-sdk chat` in a real 80x24 terminal (tmux) with the real SmolLM2-135M.

Keys go in with ``send-keys`` and the screen comes back with
``capture-pane``: what a person on a Pi over SSH would see. The model
decides on its own (``auto``) to call the weather tool; a second session
offers the same tool marked ``requires_confirmation`` and answers the y/n
prompt.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

REPO = Path(__file__).resolve().parents[2]
WEATHER = REPO / "examples" / "tools" / "weather.py"
QUESTION = "What's the weather in Paris in celsius?"
STATUS = re.compile(r"prefill \d+ ms · decode [\d.]+ tok/s · context \d+/\d+ · mem \d+ MB")

CONFIRM_TOOLS = '''
from typing import Literal

from agent_sdk import tool


@tool(requires_confirmation=True)
def get_weather(city: str, unit: Literal["c", "f"]) -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit, "c" for celsius or "f" for fahrenheit.
    """
    return {"city": city, "temperature": 21 if unit == "c" else 70, "unit": unit, "conditions": "sunny"}
'''


class Terminal:
    """One tmux session, 80x24, on a private tmux server."""

    def __init__(self, socket: str, name: str, command: list[str], cwd: Path) -> None:
        self.base = ["tmux", "-L", socket]
        self.name = name
        # Keep the pane after the program exits, to read its exit code.
        shell = f"{shlex.join(command)}; echo \"[exited $?]\"; sleep 600"
        subprocess.run([*self.base, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c", str(cwd), shell],
                       check=True)

    def send(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", self.name, "-l", text], check=True)
        self.send("Enter")

    def screen(self) -> str:
        """The visible 80x24 screen."""
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def transcript(self) -> str:
        """Everything since the start (scrollback included), wrapped lines joined."""
        return subprocess.run([*self.base, "capture-pane", "-p", "-J", "-S", "-", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float, *, after: int = 0) -> str:
        """Waits until ``pattern`` shows in the transcript (past offset ``after``)."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text = self.transcript()
            if rx.search(text, after):
                return text
            if "[exited" in text or time.monotonic() > deadline:
                pytest.fail(f"{rx.pattern!r} did not appear on screen; the transcript:\n{text}")
            time.sleep(0.5)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Any]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed")
    socket = f"agent-sdk-test-{os.getpid()}"

    def start(*args: str, name: str) -> Terminal:
        env = ["env", f"XDG_CACHE_HOME={tmp_path / 'cache'}"]  # input history away from the real home
        return Terminal(socket, name, [*env, sys.executable, "-m", "agent_sdk.cli", "chat", *args], REPO)

    yield start
    subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)
    (Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / socket).unlink(missing_ok=True)


def test_chat_calls_the_weather_tool_on_screen(tmux: Any, smollm2_engine: Any, tmp_path: Path) -> None:
    term = tmux("--model", str(smollm2_engine.path), "--tools", str(WEATHER), "--threads", "2", name="weather")
    term.wait_for("agent-sdk chat · .* · /help for commands", timeout=300)
    term.type(QUESTION)
    text = term.wait_for(STATUS, timeout=600)
    screen = term.screen()
    print(screen)  # the closing note shows one

    asked = text.index(f"> {QUESTION}")
    call = text.index("call get_weather", asked)
    assert text.index('city = "Paris"', call) < text.index("╰", call)
    assert text.index('unit = "c"', call) < text.index("╰", call)
    result = text.index("result get_weather", call)
    assert '"temperature": 21' in text[result:]
    status = STATUS.search(text, result)
    assert status is not None
    answer = text[text.index("╰", result) + 1 : status.start()].strip()
    # The answer streamed after the result. Whether it quotes the 21 degrees is the
    # model's business (tests/integration/test_agent_real.py), not the TUI's.
    assert answer and "╭" not in answer, answer
    assert all(len(line) <= 80 for line in screen.splitlines())
    assert STATUS.search(screen)

    # Input history (readline): Up recalls the question; Ctrl-C clears the line and keeps the session.
    term.send("Up")
    deadline = time.monotonic() + 30
    while not term.screen().rstrip().endswith(f"> {QUESTION}") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert term.screen().rstrip().endswith(f"> {QUESTION}")
    term.send("C-c")
    term.wait_for(re.escape("(/quit or Ctrl-D to leave)"), timeout=30)
    term.type("/quit")
    term.wait_for(re.escape("[exited 0]"), timeout=60)
    history = (tmp_path / "cache" / "agent_sdk" / "chat_history").read_text()
    assert QUESTION in history


def test_chat_asks_before_running_a_tool_that_requires_confirmation(
    tmux: Any, smollm2_engine: Any, tmp_path: Path
) -> None:
    tools = tmp_path / "confirm_tools.py"
    tools.write_text(CONFIRM_TOOLS)
    term = tmux("--model", str(smollm2_engine.path), "--tools", str(tools), "--threads", "2", name="confirm")
    term.wait_for("agent-sdk chat · .* · /help for commands", timeout=300)
    term.type(QUESTION)
    text = term.wait_for(re.escape("Run get_weather? [y/n] (n):"), timeout=600)
    call = text.index("call get_weather")
    prompt = text.index("Run get_weather?")
    assert call < prompt
    assert "result get_weather" not in text  # nothing ran before the answer
    term.type("y")
    text = term.wait_for(STATUS, timeout=600, after=prompt)
    print(term.screen())
    result = text.index("result get_weather", prompt)
    assert '"temperature": 21' in text[result:]
    status = STATUS.search(text, result)
    assert status is not None
    assert text[text.index("╰", result) + 1 : status.start()].strip()  # the final answer
    term.type("/quit")
    term.wait_for(re.escape("[exited 0]"), timeout=60)
