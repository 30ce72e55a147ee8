"""The agent loop over a remote OpenAI-compatible server (a scripted local server).

The server is scripted: it plays the model, so this tests the loop, the
request format, tool execution and error handling; the local model path is
tested with the real model in tests/integration/test_agent_real.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from agent_sdk.agent import Agent, ToolCallEvent, ToolResultEvent
from agent_sdk.agent.remote import OpenAIBackend
from agent_sdk.errors import EngineError
from agent_sdk.tools import tool

pytestmark = pytest.mark.unit

ran: list[dict[str, Any]] = []


@tool
def get_weather(city: str, unit: Literal["c", "f"]) -> dict[str, Any]:
    """Get the weather.

    Args:
        city: City name.
        unit: Temperature unit.
    """
    ran.append({"city": city, "unit": unit})
    return {"temperature": 21}


class _Server:
    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                reply = outer.replies.pop(0)
                status, payload = (reply if isinstance(reply, tuple) else (200, reply))
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    s = _Server(request.param)
    yield s
    s.close()


def _call(name: str, args: Any, cid: str = "c1") -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


def _text(t: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": t}}], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}


@pytest.mark.parametrize("server", [[_call("get_weather", {"city": "Paris", "unit": "c"}), _text("It is 21 degrees.")]], indirect=True)
def test_remote_round_trip(server: _Server) -> None:
    ran.clear()
    agent = Agent(OpenAIBackend(server.url, model="m"), tools=[get_weather], system="Be brief.")
    events = list(agent.stream("Weather in Paris?"))
    assert ran == [{"city": "Paris", "unit": "c"}]
    assert any(isinstance(e, ToolCallEvent) and e.call.id == "c1" for e in events)
    first, second = server.requests[0]["body"], server.requests[1]["body"]
    assert first["tools"][0]["function"]["name"] == "get_weather" and first["tool_choice"] == "auto"
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "c1" and json.loads(tool_msg["content"]) == {"temperature": 21}
    assert second["tool_choice"] == "none"  # follow-up answers from the result
    final = events[-1]
    assert final.text == "It is 21 degrees." and final.result.calls_json() == [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}]
    assert agent.last_stats.prompt_tokens == 22


@pytest.mark.parametrize("server", [[_call("get_weather", {"city": "Paris", "unit": "kelvin"}), _text("Sorry.")]], indirect=True)
def test_remote_invalid_arguments_become_an_observation(server: _Server) -> None:
    ran.clear()
    agent = Agent(OpenAIBackend(server.url), tools=[get_weather])
    events = list(agent.stream("Weather?"))
    res = [e.result for e in events if isinstance(e, ToolResultEvent)][0]
    assert not res.ok and "unit" in (res.error or "")
    assert ran == []  # never executed with bad arguments
    assert "unit" in server.requests[1]["body"]["messages"][-1]["content"]


@pytest.mark.parametrize("server", [[_call("get_weather", "{not json"), _text("ok")]], indirect=True)
def test_remote_unparsable_arguments(server: _Server) -> None:
    agent = Agent(OpenAIBackend(server.url), tools=[get_weather])
    result = agent.run("Weather?")
    assert not result.calls[0][1].ok and result.errors


@pytest.mark.parametrize("server", [[(500, '{"error": "boom"}')], ["not json at all"], [{"nochoices": 1}]], indirect=True)
def test_remote_server_errors_raise_engine_error(server: _Server) -> None:
    agent = Agent(OpenAIBackend(server.url), tools=[get_weather])
    with pytest.raises(EngineError):
        agent.run("Weather?")


def test_unreachable_server() -> None:
    agent = Agent(OpenAIBackend("http://127.0.0.1:9/v1", timeout=2), tools=[get_weather])
    with pytest.raises(EngineError, match="cannot reach"):
        agent.run("hi")


@pytest.mark.parametrize("server", [[_text('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}}\n</tool_call>'), _text("Cold.")]], indirect=True)
def test_calls_written_in_text_are_parsed(server: _Server) -> None:
    ran.clear()
    agent = Agent(OpenAIBackend(server.url), tools=[get_weather], tool_choice="required")
    result = agent.run("Weather in Oslo?")
    assert ran == [{"city": "Oslo", "unit": "f"}] and result.text == "Cold."
    assert server.requests[0]["body"]["tool_choice"] == "required"

