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


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Reads one whole response (head and Content-Length body), leaving the connection open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    n = int(next((ln.split(b":", 1)[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")), b"0"))
    while len(body) < n:
        body += sock.recv(65536)
    [reply] = _responses(head + b"\r\n\r\n" + body)
    return reply


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
    good = _tool({"type": "object", "properties": {}}, "good")  # a call the grammar writes whole (tiny random model)
    bad = _tool({"type": "object", "properties": {"a": {"type": "string", "format": "bogus"}}}, "bad")
    # One unusable tool is left out, named in the reply's warnings; the others stay callable.
    status, reply = _post(server.port, {"messages": QUESTION, "tools": [good, bad], "tool_choice": "required",
                                        "parallel_tool_calls": False, "max_tokens": 128})
    assert status == 200, reply
    assert [c["function"]["name"] for c in reply["choices"][0]["message"]["tool_calls"]] == ["good"]
    [warning] = reply["warnings"]
    assert warning.startswith("tool 'bad' left out:") and "Unknown format: bogus" in warning
    # A 400 only when no tool is left, or when tool_choice names the one left out.
    for body in ({"messages": QUESTION, "tools": [bad], "tool_choice": "required"},
                 {"messages": QUESTION, "tools": [good, bad],
                  "tool_choice": {"type": "function", "function": {"name": "bad"}}}):
        message = _refused(server.port, body, "invalid_tools")
        assert message.startswith("tools[1] (bad):" if len(body["tools"]) == 2 else "tools[0] (bad):")
        assert "Unknown format: bogus" in message and "\n" not in message and " | " not in message
    message = _refused(server.port, {"messages": QUESTION, "response_format": _schema_format(
        {"type": "object", "not": {"required": ["a"]}})})
    assert message.endswith('Unimplemented keys: ["not"]') and "\n" not in message


def test_a_schema_with_one_reading_is_repaired_not_refused(server: ChatServer) -> None:
    # Integers written as strings: no integer matches, so the grammar engine refuses it as written.
    # decode_calls repairs it (constrain.schema_repair); the server must accept what it repairs,
    # without the repair warning every request (filterwarnings = error would make that a 500 here).
    params = {"type": "object", "properties": {"n": {"type": "integer", "enum": ["1", "2"]}}, "required": ["n"],
              "additionalProperties": False}
    status, reply = _post(server.port, {"messages": QUESTION, "tools": [_tool(params)], "tool_choice": "required",
                                        "parallel_tool_calls": False, "max_tokens": 128})
    assert status == 200, reply
    [call] = reply["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) in ({"n": 1}, {"n": 2})
    assert any("#/properties/n" in w for w in reply["warnings"]), reply.get("warnings")


def test_a_strict_policy_refuses_an_unusable_tool(serve: Serve) -> None:
    from agent_sdk.agent.policy import CallPolicy

    server, _ = serve(policy=CallPolicy(strict_tools=True))
    good = _tool({"type": "object", "properties": {}}, "good")
    bad = _tool({"type": "object", "properties": {"a": {"type": "string", "format": "bogus"}}}, "bad")
    message = _refused(server.port, {"messages": QUESTION, "tools": [good, bad], "tool_choice": "required"},
                       "invalid_tools")
    assert "bad" in message and "Unknown format: bogus" in message


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


# ------------------------------------------------------ framing (issue 11.4)

SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("first_wins", [True, False], ids=["short-first", "long-first"])
def test_conflicting_content_lengths_are_refused_and_the_connection_closed(server: ChatServer, first_wins: bool) -> None:
    # A proxy that honours the other header forwards body + SMUGGLED as one request.
    body = _chat_bytes()
    lengths = (len(body), len(body) + len(SMUGGLED))
    a, b = lengths if first_wins else lengths[::-1]
    raw = _exchange(server.port, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
                    % (CHAT.encode(), a, b) + body + SMUGGLED)
    replies = _responses(raw)
    assert len(replies) == 1, raw  # nothing served from the rest of the bytes
    status, headers, reply = replies[0]
    assert status == 400 and headers["connection"] == "close"
    assert "Content-Length" in json.loads(reply)["error"]["message"]


@pytest.mark.parametrize("value", ["+{n}", "0_{n}", "{n}.0", "{n}, {n}", "-0{n}", "0x42"])
def test_content_length_must_be_plain_digits(server: ChatServer, value: str) -> None:
    body = _chat_bytes()
    head = f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: {value.format(n=len(body))}\r\n\r\n".encode()
    replies = _responses(_exchange(server.port, head + body + SMUGGLED))
    assert [(s, h["connection"]) for s, h, _ in replies] == [(400, "close")]


def test_full_width_digits_are_not_a_content_length() -> None:
    from email.message import Message

    from agent_sdk.server.http import request_body_length

    headers = Message()
    headers["Content-Length"] = "\uff16\uff16"  # int() reads these as 66
    with pytest.raises(Exception) as exc:
        request_body_length(headers)
    assert getattr(exc.value, "status", None) == 400


def test_transfer_encoding_with_content_length_is_refused(server: ChatServer) -> None:
    raw = _exchange(server.port, b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                    b"0\r\n\r\n" % CHAT.encode() + SMUGGLED)
    replies = _responses(raw)
    assert [(s, h["connection"]) for s, h, _ in replies] == [(400, "close")]
    assert "Transfer-Encoding" in json.loads(replies[0][2])["error"]["message"]


def test_chunked_body_is_refused_with_411_and_close(server: ChatServer) -> None:
    body = _chat_bytes()
    raw = _exchange(server.port, b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n"
                    % (CHAT.encode(), len(body)) + body + b"\r\n0\r\n\r\n")
    replies = _responses(raw)
    assert [(s, h["connection"]) for s, h, _ in replies] == [(411, "close")]
    assert json.loads(replies[0][2])["error"]["code"] == "length_required"


def test_a_body_on_a_get_is_not_read_as_the_next_request(server: ChatServer) -> None:
    # GET /health never reads its body; before, the body was served as a second request.
    raw = _exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
                    + SMUGGLED)
    replies = _responses(raw)
    assert [(s, h["connection"]) for s, h, _ in replies] == [(200, "close")]
    assert json.loads(replies[0][2])["status"] == "ok"


# -------------------------------------------------- the log (issue 11.3)


def test_control_characters_in_the_request_line_are_escaped_in_the_log(serve: Serve) -> None:
    server, log = serve()
    raw = _exchange(server.port, b"GET /\x1b[31mFAKE\x07\x9b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _responses(raw)[0][0] == 404
    line = next(ln for ln in log if "FAKE" in ln)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in "".join(log)), log
    assert "/\\x1b[31mFAKE\\x07\\x9b" in line


# -------------------------------------------- stalls and slowloris (11.8)


def test_a_stalled_body_gets_408_then_the_connection_closes(serve: Serve) -> None:
    server, _ = serve(timeout=1.0)
    body = _chat_bytes()
    t0 = time.monotonic()
    raw = _exchange(server.port, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (CHAT.encode(), len(body))
                    + body[:10])
    assert time.monotonic() - t0 < 10
    [(status, headers, reply)] = _responses(raw)  # and then closed: _exchange read to the end
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(reply)["error"]["code"] == "request_timeout"


def test_a_trickled_request_is_cut_off_at_its_deadline(serve: Serve) -> None:
    # Slowloris: a byte every 0.2 s never trips a per-read timeout; the request's deadline does.
    server, _ = serve(timeout=1.0)
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    got = b""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.settimeout(0.2)
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                got = sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                break
            if got:
                break
        sock.settimeout(10)
        got += _read_all(sock)
    elapsed = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408 "), got[:100]
    assert elapsed < 4, elapsed  # the whole trickle would take 46 s


def test_an_idle_keep_alive_connection_is_closed_quietly(serve: Serve) -> None:
    server, _ = serve(timeout=1.0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock)[0] == 200
        assert _read_all(sock) == b""  # no 408 for a request that never started


def test_connections_over_the_cap_get_503(serve: Serve) -> None:
    server, _ = serve(max_connections=2, timeout=30.0)
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(2)]
    try:
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(held[0])[0] == 200  # both are being served
        [(status, headers, reply)] = _responses(_exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == 503 and headers["connection"] == "close"
        assert json.loads(reply)["error"]["code"] == "server_busy"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the slots come back when the held connections end
        [(status, _, _)] = _responses(_exchange(server.port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"))
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200


# ------------------------------------------------------ methods, versions


def test_head_answers_without_a_body_and_keeps_the_connection(server: ChatServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("HEAD", "/health")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"" and int(resp.getheader("Content-Length")) > 0
        conn.request("GET", "/health")  # the same connection still reads cleanly
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
    finally:
        conn.close()


def test_options_lists_the_methods_and_405_says_which(server: ChatServer) -> None:
    [(status, headers, body)] = _responses(_exchange(server.port, b"OPTIONS %s HTTP/1.1\r\nConnection: close\r\n\r\n"
                                                     % CHAT.encode()))
    assert status == 204 and headers["allow"] == "POST, OPTIONS" and body == b""
    [(status, headers, body)] = _responses(_exchange(server.port, b"DELETE /health HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert status == 405 and headers["allow"] == "GET, HEAD, OPTIONS"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_an_unsupported_http_version_still_gets_a_status_line(server: ChatServer) -> None:
    raw = _exchange(server.port, b"GET /health HTTP/2.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 505 "), raw[:100]


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"\xff\xfe\x00garbage\r\n\r\n", 400),
])
def test_oversized_or_garbage_heads_get_a_json_error_and_close(server: ChatServer, head: bytes, status: int) -> None:
    [(got, headers, body)] = _responses(_exchange(server.port, head))
    assert got == status and headers["connection"] == "close" and json.loads(body)["error"]


def test_path_traversal_finds_nothing(server: ChatServer) -> None:
    for path in (b"/v1/models/../../etc/passwd", b"/../../etc/passwd", b"/v1/%2e%2e/%2e%2e/etc/passwd"):
        [(status, _, body)] = _responses(_exchange(server.port, b"GET %s HTTP/1.1\r\nConnection: close\r\n\r\n" % path))
        assert status == 404 and b"root:" not in body
