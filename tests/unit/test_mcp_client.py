"""The MCP client against real MCP servers started as subprocesses (tests/fixtures/mcp_servers), through Agent.

The model is scripted (it returns prepared calls); everything between the
agent and the servers is real: the mcp package's stdio transport, the
servers' processes, their tools and their failures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_sdk.agent import Agent, RunStats, StepResult, TokenDelta, ToolCall
from agent_sdk.agent.backends import StepRequest, StepStream
from agent_sdk.agent.conversation import assistant_message
from agent_sdk.errors import MCPConnectionError, ToolNameWarning, UserError
from agent_sdk.mcp import MAX_RESULT_CHARS, MCPServerConfig, MCPToolset
from agent_sdk.mcp.config import sanitize_name
from agent_sdk.mcp.naming import NameAssigner
from agent_sdk.mcp.results import render_result
from agent_sdk.tools import tool
from tests.fixtures.mcp_support import alive, pids, server

pytestmark = pytest.mark.unit

QUICK = 1.0  # seconds: the timeouts under test


class ScriptedBackend:
    """Returns prepared steps in order and records the messages each step was given."""

    def __init__(self, steps: list[StepResult]) -> None:
        self.steps = list(steps)
        self.seen: list[list[dict[str, Any]]] = []
        self.tools: list[list[str]] = []

    def step(self, request: StepRequest) -> StepStream:
        self.seen.append([dict(m) for m in request.messages])
        self.tools.append([t["name"] for t in request.tools])
        result = self.steps.pop(0)
        if result.text:
            yield TokenDelta(result.text)
        return result


def calling(name: str, arguments: dict[str, Any]) -> StepResult:
    call = ToolCall(name, arguments)
    msg = assistant_message("", [(call.id, call.name, call.arguments)])
    return StepResult([call], "", msg, RunStats(steps=1), attempted=True)


def answering(text: str) -> StepResult:
    return StepResult([], text, assistant_message(text), RunStats(steps=1))


def run_calls(agent_tools: Any, *calls: tuple[str, dict[str, Any]], **agent_options: Any) -> tuple[Agent, Any]:
    """Runs an agent that makes ``calls`` in turn (one per step), then answers "done"."""
    steps = [calling(n, a) for n, a in calls] + [answering("done")]
    backend = ScriptedBackend(steps)
    agent = Agent(backend, mcp=agent_tools, followup_choice="auto", max_steps=len(steps), **agent_options)
    return agent, agent.run("go")


@pytest.fixture(scope="module")
def pid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp") / "pids"


@pytest.fixture(scope="module")
def servers(pid_file: Path) -> Iterator[MCPToolset]:
    """Notes, calculator and troubles servers, shared by the tests that do not stop them."""
    toolset = MCPToolset([
        server("notes.py", pid_file=pid_file),
        server("calculator.py", pid_file=pid_file),
        MCPServerConfig(server("troubles.py", pid_file=pid_file), call_timeout=QUICK),
    ])
    with toolset:
        yield toolset
    assert toolset.closed


# ------------------------------------------------------------------ calls through the agent


def test_tools_are_listed_with_their_schemas(servers: MCPToolset) -> None:
    names = [t.name for t in servers.tools]
    assert names[:5] == ["add_note", "list_notes", "note_stats", "add", "divide"]
    assert servers.server_names == ["notes", "calculator", "troubles"]
    add = next(t for t in servers.tools if t.name == "add")
    assert add.parameters["required"] == ["a", "b"] and add.parameters["properties"]["a"]["type"] == "number"
    assert add.description == "Add two numbers."


def test_the_agent_calls_mcp_tools_and_reads_their_results(servers: MCPToolset) -> None:
    agent, result = run_calls(servers, ("add_note", {"text": "buy milk"}), ("list_notes", {}), ("add", {"a": 2, "b": 3}))
    assert [r.ok for _, r in result.calls] == [True, True, True]
    assert result.calls[0][1].content == "added note 1: buy milk"
    assert "1. buy milk" in result.calls[1][1].content
    assert result.calls[2][1].content == '{"result": 5.0}'  # structuredContent, as JSON
    assert agent.backend.seen[-1][-1] == {  # type: ignore[attr-defined]
        "role": "tool", "tool_call_id": result.calls[2][0].id, "name": "add", "content": '{"result": 5.0}'}
    assert result.text == "done"
    agent.close()
    assert not servers.closed  # a toolset passed in stays its owner's


def test_arguments_are_validated_against_the_input_schema(servers: MCPToolset) -> None:
    _, result = run_calls(servers, ("add", {"a": "two", "b": 3}))
    outcome = result.calls[0][1]
    assert not outcome.ok and "a" in (outcome.error or "") and result.text == "done"


def test_a_tool_error_is_an_observation(servers: MCPToolset) -> None:
    _, result = run_calls(servers, ("divide", {"a": 1, "b": 0}), ("fail", {"reason": "rain"}), ("add", {"a": 1, "b": 1}))
    divide, fail, add = (r for _, r in result.calls)
    assert not divide.ok and "cannot divide by zero" in (divide.error or "")
    assert not fail.ok and "the sensor is offline (rain)" in (fail.error or "")
    assert add.ok and result.text == "done"


def test_a_slow_call_times_out_and_the_agent_goes_on(servers: MCPToolset) -> None:
    _, result = run_calls(servers, ("slow", {"seconds": 20}), ("list_notes", {}))
    slow, after = (r for _, r in result.calls)
    assert not slow.ok and slow.error == f"tool 'slow' of MCP server 'troubles' timed out after {QUICK:g} s"
    assert after.ok and result.text == "done"


def test_a_huge_result_is_cut_with_a_note_and_an_image_described() -> None:
    with MCPToolset([MCPServerConfig(server("troubles.py"), call_timeout=60)]) as toolset:
        _, result = run_calls(toolset, ("huge", {"megabytes": 10}), ("picture", {}))
    huge, picture = (r for _, r in result.calls)
    assert huge.ok, huge.error
    assert len(huge.content) <= MAX_RESULT_CHARS
    kept = huge.content.index("\n")
    assert huge.content.endswith(f"[truncated: the result has {10 * 2**20:,} characters; only the first {kept:,} "
                                 "are shown]")
    assert picture.content == "[image: image/png, 70 bytes]"


def test_a_paginated_listing_is_read_to_its_end() -> None:
    with MCPToolset([server("paged.py")]) as toolset:
        assert [t.name for t in toolset.tools] == ["echo", "shout", "whisper"]
        _, result = run_calls(toolset, ("whisper", {"word": "HUSH"}))
        assert result.calls[0][1].content == "hush"


# ------------------------------------------------------------------ names


@tool
def add(a: float, b: float) -> str:
    """A local add.

    Args:
        a: First.
        b: Second.
    """
    return "local"


def test_clashing_names_keep_the_first_and_prefix_the_others(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    backend = ScriptedBackend([calling("add", {"a": 1, "b": 2}), calling("calculator_add", {"a": 1, "b": 2}),
                               calling("calc2_divide", {"a": 6, "b": 3}), answering("ok")])
    with pytest.warns(ToolNameWarning) as caught:
        agent = Agent(backend, tools=[add], mcp=[server("calculator.py", pid_file=pid_file),
                                                  server("calculator.py", "--name", "calc2", pid_file=pid_file)],
                      followup_choice="auto", max_steps=4)
    with agent:
        assert agent.registry.names == ["add", "calculator_add", "divide", "calc2_add", "calc2_divide"]
        assert sorted(str(w.message) for w in caught) == [
            "tool 'add' of MCP server 'calc2' is offered as 'calc2_add': another tool is already called 'add'",
            ("tool 'add' of MCP server 'calculator' is offered as 'calculator_add': another tool is already called "
             "'add'"),
            ("tool 'divide' of MCP server 'calc2' is offered as 'calc2_divide': another tool is already called "
             "'divide'"),
        ]
        result = agent.run("sums")
        assert [r.content for _, r in result.calls] == ["local", '{"result": 3.0}', '{"result": 2.0}']
    assert len(pids(pid_file)) == 2 and not any(alive(p) for p in pids(pid_file))


def test_name_rule() -> None:
    names = NameAssigner(["lookup"])
    assert names.assign("search", "docs") == ("search", None)
    assert names.assign("lookup", "docs") == ("docs_lookup", "another tool is already called 'lookup'")
    assert names.assign("lookup", "docs")[0] == "docs_lookup_2"
    assert names.assign("files/read", "fs") == ("files_read", "'files/read' is not a name the model can call")
    assert len(names.assign("x" * 100, "fs")[0]) == 64


@pytest.mark.parametrize(("target", "name"), [
    ("python server.py --db notes.json", "server"),
    ("/usr/bin/python3.11 -m my_pkg.notes_server", "notes_server"),
    ("npx -y @modelcontextprotocol/server-filesystem /tmp", "server_filesystem"),
    ("uvx mcp-server-time@1.2", "mcp_server_time"),
    ("./home-mcp --port 3", "home_mcp"),
    ("http://pi.local:8000/mcp", "pi"),
    ("https://127.0.0.1:8000/mcp", "127_0_0_1"),
])
def test_server_names_derived_from_the_command(target: str, name: str) -> None:
    assert MCPServerConfig(target).derived_name() == name
    assert sanitize_name("my server!") == "my_server"


# ------------------------------------------------------------------ results


def test_results_rendering() -> None:
    text = {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert render_result(text, limit=100, tool="t") == "a\nb"
    both = {"content": [{"type": "text", "text": "{\"x\": 1}"}], "structuredContent": {"x": 1}}
    assert render_result(both, limit=100, tool="t") == '{"x": 1}'
    link = {"content": [{"type": "resource_link", "uri": "file:///a.txt", "name": "a"},
                        {"type": "resource", "resource": {"uri": "file:///b", "text": "inline"}}]}
    assert render_result(link, limit=100, tool="t") == "[link: file:///a.txt (a)]\ninline"
    with pytest.raises(Exception, match="its server gave no reason"):
        render_result({"content": [], "isError": True}, limit=100, tool="t")
    cut = render_result({"content": [{"type": "text", "text": "y" * 1000}]}, limit=200, tool="t")
    assert len(cut) == 200 and cut.startswith("y" * 100) and "1,000 characters" in cut


# ------------------------------------------------------------------ failures at connect time


@pytest.mark.parametrize(("script", "config", "expected"), [
    ("exits_at_start.py", {}, ("closed the connection while starting (did it exit?); its stderr ends: notes.db: "
                               "no such file or directory")),
    ("malformed.py", {}, "it wrote something that is not JSON-RPC: Invalid JSON"),
    ("hang_on_list.py", {"list_timeout": QUICK}, f"it did not list its tools (tools/list) within {QUICK:g} s"),
])
def test_a_server_that_cannot_be_used_fails_the_connect_naming_it(
    script: str, config: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    with pytest.raises(MCPConnectionError) as info:
        MCPToolset([MCPServerConfig(server(script, pid_file=pid_file), **config)])
    name = script.removesuffix(".py")
    assert info.value.problems[0].startswith(f"MCP server {name!r} (python")
    assert expected in str(info.value)
    assert not any(alive(p) for p in pids(pid_file))


def test_one_failed_server_stops_the_others_and_every_failure_is_listed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    with pytest.raises(MCPConnectionError) as info:
        Agent(ScriptedBackend([]), mcp=[server("notes.py", pid_file=pid_file), "no-such-mcp-server --flag",
                                        server("exits_at_start.py")])
    assert len(info.value.problems) == 2
    assert "MCP server 'no_such_mcp_server' (no-such-mcp-server --flag): cannot start it" in info.value.problems[0]
    assert "'exits_at_start'" in info.value.problems[1]
    assert len(pids(pid_file)) == 1 and not alive(pids(pid_file)[0])


def test_a_server_that_dies_is_an_observation_and_the_agent_goes_on(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    backend = ScriptedBackend([calling("crash", {}), calling("fail", {"reason": "x"}), answering("it broke")])
    with Agent(backend, mcp=[server("troubles.py", pid_file=pid_file)], followup_choice="auto") as agent:
        result = agent.run("crash it")
    crash, after = (r for _, r in result.calls)
    assert not crash.ok and "closed the connection during the call (did it exit?)" in (crash.error or "")
    assert not after.ok and "MCP server 'troubles' is not running" in (after.error or "")
    assert result.text == "it broke"
    assert not any(alive(p) for p in pids(pid_file))


def test_agent_close_stops_its_servers(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    agent = Agent(ScriptedBackend([]), mcp=[server("notes.py", pid_file=pid_file)])
    (pid,) = pids(pid_file)
    assert alive(pid) and agent.mcp is not None and not agent.mcp.closed
    agent.close()
    agent.close()  # idempotent
    assert not alive(pid)
    _, result = run_calls(agent.mcp, ("list_notes", {}))
    assert "is not running" in (result.calls[0][1].error or "")


def test_bad_server_specs_are_user_errors() -> None:
    for bad in ("", "python 'unclosed", "http:///mcp"):
        with pytest.raises(UserError):
            MCPServerConfig(bad)
    with pytest.raises(UserError, match="call_timeout"):
        MCPServerConfig("python x.py", call_timeout=0)


def test_without_the_mcp_package_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(UserError, match=r"pip install 'agent-sdk\[mcp\]'"):
        MCPToolset(["python server.py"])
