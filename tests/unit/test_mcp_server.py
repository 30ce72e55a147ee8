"""`agent-sdk mcp serve` driven by the mcp package's own client, over stdio and streamable HTTP.

The server runs as a real subprocess of the command line; the voice example's
home tools and tests/fixtures/mcp_servers/confirm_tools.py are served.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_sdk.errors import UserError
from agent_sdk.mcp import MCPToolset
from agent_sdk.mcp.server import parse_host_port, refusal_message
from agent_sdk.tools import ToolRegistry, load_tools
from tests.fixtures.mcp_support import REPO, SERVERS, alive

pytestmark = pytest.mark.unit

mcp = pytest.importorskip("mcp")

HOME_TOOLS = REPO / "examples" / "voice_assistant" / "home_tools.py"
CONFIRM_TOOLS = SERVERS / "confirm_tools.py"
START_TIMEOUT = 60  # seconds for the served command to start listening (imports on a busy 2-core box)


def stdio_params(*args: str, data_dir: Path | None = None) -> Any:
    env = {"PYTHONPATH": str(REPO)}
    if data_dir is not None:
        env["XDG_DATA_HOME"] = str(data_dir)
    return mcp.StdioServerParameters(command=sys.executable, args=["-m", "agent_sdk.cli", "mcp", "serve", *args],
                                     env=env, cwd=str(REPO))


async def session_calls(server: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """Lists the tools and makes ``calls`` through the mcp package's Client."""
    async with mcp.Client(server) as client:
        listed = (await client.list_tools()).tools
        results = [await client.call_tool(name, args) for name, args in calls]
    return listed, results


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def test_home_tools_over_stdio(tmp_path: Path) -> None:
    calls = [("add_to_shopping_list", {"item": "oat milk"}), ("read_shopping_list", {}),
             ("set_brightness", {"room": "kitchen", "percent": 150}), ("turn_on_lights", {"room": "garage"})]
    listed, results = anyio.run(session_calls, stdio_params(str(HOME_TOOLS), data_dir=tmp_path), calls)
    local = load_tools(str(HOME_TOOLS))
    assert [t.name for t in listed] == local.names
    for served, tool in zip(listed, local, strict=True):
        assert served.description == tool.description and served.input_schema == tool.parameters
        assert served.annotations is None  # no home tool needs confirmation
    added, read, bright, garage = results
    assert not added.is_error and "oat milk" in text(read)
    assert bright.is_error and "brightness must be 0 to 100 percent, got 150" in text(bright)
    assert garage.is_error and "room" in text(garage)  # invalid arguments: an isError result, not a crash
    assert json.loads((tmp_path / "agent-sdk-voice" / "shopping_list.json").read_text()) is not None


def test_confirmation_tools_are_marked_and_refused() -> None:
    calls = [("wipe_disk", {"device": "/dev/sdb"}), ("greet", {"name": "Ada", "excited": True}),
             ("water_plants", {"litres": 9}), ("water_plants", {"litres": 2})]
    listed, results = anyio.run(session_calls, stdio_params(str(CONFIRM_TOOLS)), calls)
    wipe = next(t for t in listed if t.name == "wipe_disk")
    assert wipe.annotations.destructive_hint is True and wipe.annotations.read_only_hint is False
    refused, greeted, too_much, watered = results
    assert refused.is_error and text(refused) == refusal_message("wipe_disk")
    assert text(greeted) == "Hello, Ada!"
    assert too_much.is_error and text(too_much) == "the tank holds 5 litres at most"
    assert watered.structured_content == {"watered": True, "litres": 2.0}


def test_confirmation_tools_run_when_allowed() -> None:
    _, (wiped,) = anyio.run(session_calls, stdio_params(str(CONFIRM_TOOLS), "--allow-confirmation-tools"),
                            [("wipe_disk", {"device": "/dev/sdb"})])
    assert not wiped.is_error and text(wiped) == "wiped /dev/sdb"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """``agent-sdk mcp serve`` of the confirm tools over HTTP on a free port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_sdk.cli", "mcp", "serve", str(CONFIRM_TOOLS), "--http", "127.0.0.1:0"],
        cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/mcp)", line)
        assert found, line + proc.stderr.read()
        assert "needing confirmation, refused: wipe_disk" in line
        yield found.group(1)
    finally:
        proc.terminate()
        code = proc.wait(timeout=START_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()
        assert code in (0, -signal.SIGTERM)  # uvicorn stops gracefully, then re-raises the signal
        assert not alive(proc.pid)


def test_http_with_the_mcp_client_and_with_ours(http_server: str) -> None:
    listed, (greeted, refused) = anyio.run(
        session_calls, http_server, [("greet", {"name": "Bo"}), ("wipe_disk", {"device": "/dev/sda"})])
    assert [t.name for t in listed] == ["greet", "water_plants", "wipe_disk"]
    assert text(greeted) == "Hello, Bo." and refused.is_error
    # Our own client, over HTTP: destructiveHint comes back as requires_confirmation.
    with MCPToolset([http_server]) as toolset:
        assert toolset.server_names == ["agent_sdk"]
        wipe = next(t for t in toolset.tools if t.name == "wipe_disk")
        assert wipe.requires_confirmation
        registry = ToolRegistry(toolset.tools)
        assert registry.execute_sync("greet", {"name": "Cy"}).content == "Hello, Cy."
        outcome = registry.execute_sync("water_plants", {"litres": 7})
        assert not outcome.ok and outcome.error == "the tank holds 5 litres at most"


@pytest.mark.parametrize(("text_in", "expected"), [
    ("127.0.0.1:0", ("127.0.0.1", 0)), (":9000", ("127.0.0.1", 9000)), ("[::1]:8000", ("::1", 8000)),
    ("pi.local", ("pi.local", 8765)), ("0.0.0.0:8765", ("0.0.0.0", 8765)),
])
def test_host_port(text_in: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text_in) == expected


def test_bad_host_port() -> None:
    for bad in ("host:port", "127.0.0.1:70000"):
        with pytest.raises(UserError):
            parse_host_port(bad)


def test_a_bad_tools_file_is_a_usage_error_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "tools.py"
    bad.write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-m", "agent_sdk.cli", "mcp", "serve", str(bad)], cwd=REPO,
                       capture_output=True, text=True, timeout=START_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 2 and "defines no tools" in r.stderr and r.stdout == ""
