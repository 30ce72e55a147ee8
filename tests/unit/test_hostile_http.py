"""Hostile input against a real ``agent-sdk serve`` on 127.0.0.1 (issue 11).

Every test sends real bytes to a real :class:`ChatServer` over a socket,
serving the tiny generated model (it compiles one, hence the ``integration``
marker although the file sits with the server's other tests). Each case is
something a client or a proxy in front could send: ambiguous framing, bodies
that stall or trickle, schemas that recurse or nest without end, numbers
that are not numbers, tool results that answer nothing, control characters
for the log. Each must get a clear 4xx (or be cut off), never a 500, never
a second reading of the same bytes, and never internals in the reply.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_sdk.errors import AgentSDKError
from agent_sdk.runtime import Engine
from agent_sdk.server import ChatServer, ServerConfig, make_server

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
INTERNALS = ("<state>", "<grammar>", "%json", "x-guidance", "Traceback", "llguidance", "NoExtensionBias")

Serve = Callable[..., tuple[ChatServer, list[str]]]


@pytest.fixture(scope="module")
def engine(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> Engine:
    return Engine(compile_bundle(llama_ckpt, "f32"))


@pytest.fixture
def serve(engine: Engine) -> Iterator[Serve]:
    """Starts servers on free ports (``ServerConfig`` fields as keywords); returns each with its log lines."""
    running: list[tuple[ChatServer, threading.Thread]] = []

    def start(**config: Any) -> tuple[ChatServer, list[str]]:
        log: list[str] = []
        srv = make_server(engine, host="127.0.0.1", port=0, config=ServerConfig(model_id="tiny", **config),
                          log=log.append)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        running.append((srv, thread))
        return srv, log

    yield start
    for srv, thread in running:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server(serve: Serve) -> ChatServer:
    return serve()[0]


def _exchange(port: int, data: bytes, *, timeout: float = 30) -> bytes:
    """Sends ``data`` and reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every response in ``raw`` (Content-Length framed), in order."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), raw[:200]
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


def _post(port: int, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", CHAT, body=raw, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _refused(port: int, body: Any, code: str | None = None) -> str:
    """Posts ``body``; asserts a 400 with no internals in it; returns the message."""
    status, reply = _post(port, body)
    assert status == 400, reply
    err = reply["error"]
    assert err["type"] == "invalid_request_error" and (code is None or err["code"] == code), err
    assert not any(s in json.dumps(reply) for s in INTERNALS), err["message"]
    return str(err["message"])


def _tool(parameters: Any, name: str = "f") -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def _schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


def _nested_arrays(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


def _chat_bytes(max_tokens: int = 2) -> bytes:
    return json.dumps({"messages": QUESTION, "max_tokens": max_tokens}).encode()


# ------------------------- JSON: numbers, nesting, text (issue 11.2, 11.8)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_anywhere(server: ChatServer, literal: str) -> None:
    raw = ('{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "response_format": '
           f'{{"type": "json_schema", "json_schema": {{"name": "x", "schema": {{"const": {literal}}}}}}}}}').encode()
    message = _refused(server.port, raw, "invalid_json")
    assert literal.lstrip("-") in message


@pytest.mark.parametrize(("field", "value"), [
    ("top_k", 1.5), ("top_k", True), ("n", True), ("n", 1.0), ("seed", 1.5), ("max_tokens", 8.0),
    ("max_completion_tokens", True), ("temperature", True), ("top_p", False),
])
def test_integers_must_be_integers_and_booleans_are_not_numbers(server: ChatServer, field: str, value: Any) -> None:
    message = _refused(server.port, {"messages": QUESTION, "max_tokens": 4, field: value} if field != "max_tokens"
                       else {"messages": QUESTION, field: value})
    assert f"'{field}'" in message


@pytest.mark.parametrize(("name", "body"), [
    ("tool parameters 150 deep", {"messages": QUESTION, "tools": [_tool(
        {"type": "object", "properties": {"x": _nested_arrays(150)}})]}),
    ("response_format 200 deep", {"messages": QUESTION, "response_format": _schema_format(_nested_arrays(200))}),
    ("default 900 deep", {"messages": QUESTION, "tools": [_tool(
        {"type": "object", "properties": {"x": {"type": "array", "default": json.loads("[" * 900 + "]" * 900)}}})]}),
    ("body 70 deep elsewhere", {"messages": QUESTION, "metadata": json.loads("[" * 70 + "]" * 70)}),
    ("tool call arguments 100k deep in history", {"messages": [
        *QUESTION, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "f", "arguments": "[" * 100_000}}]}, {"role": "tool", "tool_call_id": "c", "content": "ok"}]}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_deep_nesting_is_a_400_naming_the_limit(server: ChatServer, name: str, body: Any) -> None:
    raw = json.dumps(body).encode()
    assert len(raw) < 250_000
    message = _refused(server.port, raw)
    assert "deeper than" in message or "not valid JSON" in message


def test_a_lone_surrogate_is_named(server: ChatServer) -> None:
    message = _refused(server.port, b'{"messages": [{"role": "user", "content": "hi \\ud800"}]}', "invalid_json")
    assert "surrogate" in message


# ------------------------------- schemas and limits (issue 11.1, 11.2)

RECURSIVE = {"type": "object", "properties": {"c": {"$ref": "#"}}}
LOOP = {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}},
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}


@pytest.mark.parametrize(("where", "schema", "extra"), [
    ("tools", RECURSIVE, {}),
    ("tools", RECURSIVE, {"tool_choice": "required"}),
    ("tools", LOOP, {"tool_choice": "required"}),
    ("tools", LOOP, {}),
    ("response_format", {"properties": {"c": {"$ref": "#"}}}, {}),
    ("response_format", LOOP, {}),
], ids=["tools-self-auto", "tools-self-required", "tools-defs-loop-required", "tools-defs-loop-auto",
        "response-self", "response-defs-loop"])
def test_recursive_schemas_are_a_400_naming_the_loop(server: ChatServer, where: str, schema: Any,
                                                     extra: dict[str, Any]) -> None:
    body: dict[str, Any] = {"messages": QUESTION, "max_tokens": 64, **extra}
    if where == "tools":
        body["tools"] = [_tool(schema)]
    else:
        body["response_format"] = _schema_format(schema)
    message = _refused(server.port, body, "recursive_schema")
    assert "recursive" in message and "$ref" in message


def test_schemas_at_the_depth_limit_are_served(server: ChatServer) -> None:
    from agent_sdk.server.schemas import MAX_SCHEMA_DEPTH

    # A tool's parameters: the object, its "properties", nested arrays, the string at the limit.
    params = {"type": "object", "properties": {"x": _nested_arrays(MAX_SCHEMA_DEPTH - 3)}}
    status, reply = _post(server.port, {"messages": QUESTION, "tools": [_tool(params)], "tool_choice": "required",
                                        "max_tokens": 8})
    assert status == 200, reply
    status, reply = _post(server.port, {"messages": QUESTION, "max_tokens": 8,
                                        "response_format": _schema_format(_nested_arrays(MAX_SCHEMA_DEPTH - 1))})
    assert status == 200, reply
    params = {"type": "object", "properties": {"x": _nested_arrays(MAX_SCHEMA_DEPTH - 2)}}
    message = _refused(server.port, {"messages": QUESTION, "tools": [_tool(params)]}, "schema_too_deep")
    assert "tools[0].function.parameters" in message and str(MAX_SCHEMA_DEPTH) in message


def test_grammar_errors_name_the_tool_without_the_grammar(server: ChatServer) -> None:
    good = _tool({"type": "object", "properties": {"a": {"type": "string"}}}, "good")
    bad = _tool({"type": "object", "properties": {"a": {"type": "string", "format": "bogus"}}}, "bad")
    message = _refused(server.port, {"messages": QUESTION, "tools": [good, bad], "tool_choice": "required"},
                       "invalid_tools")
    assert message.startswith("tools[1] (bad):") and "Unknown format: bogus" in message
    assert "\n" not in message and " | " not in message
    message = _refused(server.port, {"messages": QUESTION, "response_format": _schema_format(
        {"type": "object", "not": {"required": ["a"]}})})
    assert message.endswith('Unimplemented keys: ["not"]') and "\n" not in message


def test_an_internal_error_reaches_the_log_not_the_client(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, log = serve()
    matcher_state = "grammar matcher error: NoExtensionBias\n<state>\nTokens: ⟦<‧tool‧>⟧\n</state><grammar>%json {}</grammar>"

    def fail(*_: Any, **__: Any) -> Any:  # what a grammar dead end raised while decoding
        raise AgentSDKError(matcher_state)

    monkeypatch.setattr(server.service, "complete", fail)
    status, reply = _post(server.port, {"messages": QUESTION, "max_tokens": 4})
    assert status == 500 and reply["error"]["code"] == "internal_error"
    assert not any(s in json.dumps(reply) for s in INTERNALS)
    assert any("NoExtensionBias" in ln and "\\x0a" in ln and "\n" not in ln for ln in log), log  # one escaped line


def test_too_many_tools_are_refused_before_any_is_compiled(server: ChatServer) -> None:
    from agent_sdk.server.validation import MAX_TOOLS

    tools = [_tool({"type": "object", "properties": {"a": {"type": "string"}}}, f"t{i}") for i in range(MAX_TOOLS + 1)]
    t0 = time.monotonic()
    message = _refused(server.port, {"messages": QUESTION, "tools": tools}, "invalid_tools")
    assert str(MAX_TOOLS) in message and time.monotonic() - t0 < 2


def test_more_messages_than_the_window_holds_are_refused_before_rendering(server: ChatServer, engine: Engine) -> None:
    messages = [{"role": "user", "content": ""}] * (engine.context_window + 1)
    message = _refused(server.port, {"messages": messages}, "context_length_exceeded")
    assert "messages cannot fit" in message


# ------------------------------------------------ messages (issue 11.8)

CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}


@pytest.mark.parametrize(("messages", "fragment"), [
    ([*QUESTION, {"role": "tool", "tool_call_id": "call_1", "content": "21 C"}], "messages[1]"),
    ([*QUESTION, {"role": "tool", "content": "21 C"}], "messages[1]"),
    ([*QUESTION, CALL, {"role": "tool", "tool_call_id": "call_2", "content": "21 C"}], "messages[2].tool_call_id"),
    ([*QUESTION, CALL, {"role": "user", "content": "and?"}, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
     "messages[3]"),
    ([*QUESTION, CALL, {"role": "tool", "tool_call_id": 1, "content": "21 C"}], "messages[2].tool_call_id"),
], ids=["no-call-before", "no-call-no-id", "id-matches-no-call", "user-in-between", "id-not-a-string"])
def test_orphan_tool_messages_are_a_400_naming_the_message(server: ChatServer, messages: list[Any],
                                                           fragment: str) -> None:
    assert fragment in _refused(server.port, {"messages": messages, "max_tokens": 4})


def test_answered_calls_are_accepted(server: ChatServer) -> None:
    two = {**CALL, "tool_calls": [*CALL["tool_calls"], {**CALL["tool_calls"][0], "id": "call_2"}]}
    for messages in (
        [*QUESTION, two, {"role": "tool", "tool_call_id": "call_2", "content": "a"},
         {"role": "tool", "tool_call_id": "call_1", "content": "b"}],
        [*QUESTION, CALL, {"role": "tool", "content": "no id: answers the call before it"}],
    ):
        status, reply = _post(server.port, {"messages": messages, "max_tokens": 2})
        assert status == 200, reply
