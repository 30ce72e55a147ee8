"""`agent-sdk run --mcp` and the server's --mcp path end to end: SmolLM2 calls the tools of a real MCP server subprocess.

(The tiny random test models cannot write a call even under the grammar, so the calls need the real model.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.mcp_support import REPO, alive, pids, server

if TYPE_CHECKING:
    from agent_sdk.runtime import Engine

pytestmark = pytest.mark.integration

def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent_sdk.cli", "run", *args], capture_output=True, text=True,
                          timeout=600, check=False, cwd=REPO)


@pytest.mark.real_model
def test_run_calls_an_mcp_servers_tool(smollm2_engine: Engine, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    r = _run("--model", str(smollm2_engine.path), "--mcp", server("notes.py", pid_file=pid_file),
             "--tool-choice", "required", "--json", "Add a note: buy milk")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [(c["name"], c["arguments"]["text"].lower(), c["ok"]) for c in data["calls"]] == [
        ("add_note", "buy milk", True)]
    assert data["calls"][0]["result"].lower() == "added note 1: buy milk"  # what the server answered
    assert not any(alive(p) for p in pids(pid_file))


def test_run_with_a_server_that_will_not_start(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    r = _run("--model", str(bundle), "--mcp", server("exits_at_start.py"), "--json", "hello")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("agent-sdk: error: cannot use 1 MCP server: / - MCP server 'exits_at_start'"), r.stderr
    assert "notes.db: no such file or directory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.real_model
def test_serve_runs_mcp_tools_for_requests_that_send_none(smollm2_engine: Engine) -> None:
    from agent_sdk.agent.policy import DEFAULT_POLICY
    from agent_sdk.mcp import MCPToolset
    from agent_sdk.server import ChatService, ServerConfig

    engine = smollm2_engine
    config = ServerConfig(policy=DEFAULT_POLICY.replace(tool_choice="list_notes"))  # the call forced: no luck involved
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What are my notes?"}]
    with MCPToolset([server("notes.py")]) as toolset:
        service = ChatService(engine, config, mcp=toolset)

        def ask(**body: object) -> object:
            req = service.parse(json.dumps({"messages": messages, "max_tokens": 64, **body}).encode())
            return list(service.stream(req)) if body.get("stream") else service.complete(req)

        out = ask()
        assert out["tool_runs"] == [  # type: ignore[index]
            {"name": "list_notes", "arguments": {}, "ok": True, "result": "no notes", "error": None}]
        assert out["choices"][0]["message"]["role"] == "assistant"  # type: ignore[index]
        chunks = ask(stream=True)
        assert [c["tool_runs"][0]["result"] for c in chunks if "tool_runs" in c] == ["no notes"]  # type: ignore[union-attr]
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"  # type: ignore[index]
        # A request with its own tools is served as before: its calls are returned, not run.
        own = {"type": "function", "function": {"name": "ping", "description": "Ping.",
                                                "parameters": {"type": "object", "properties": {}}}}
        out = ask(tools=[own], tool_choice="required")
        assert "tool_runs" not in out  # type: ignore[operator]
        assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "ping"  # type: ignore[index]
        # tool_choice none: plain text, no tools run.
        assert "tool_runs" not in ask(tool_choice="none")  # type: ignore[operator]
