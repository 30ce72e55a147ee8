"""``agent-sdk serve`` driven by the official ``openai`` client, on the tiny generated model.

The weights are random, so the text is gibberish; the protocol is what is
tested: plain and streamed chat, constrained tool calls (valid by
construction even with random weights) and their round trip, JSON-schema
replies, malformed requests, and requests from several threads at once.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import jsonschema
import openai
import pytest

from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.runtime import Engine, SamplingParams
from agent_sdk.server import ChatServer, ServerConfig, make_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "tiny-llama"
MAX_TOKENS_LIMIT = 256

# Bounded strings, enums and no extra keys: a random model fills every field in a few tokens.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 10, "description": "The city name."},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET", "PST"]}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def engine(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> Engine:
    return Engine(compile_bundle(llama_ckpt, "f32"))


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[ChatServer]:
    srv = make_server(engine, host="127.0.0.1", port=0,
                      config=ServerConfig(model_id=MODEL_ID, max_tokens_limit=MAX_TOKENS_LIMIT))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


@pytest.fixture
def client(server: ChatServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def _raw(server: ChatServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        assert resp.getheader("Content-Type") == "application/json"
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _post(server: ChatServer, obj: Any) -> tuple[int, dict[str, Any]]:
    return _raw(server, "POST", "/v1/chat/completions", json.dumps(obj).encode())


def _args(call: Any) -> dict[str, Any]:
    return json.loads(call.function.arguments)


# ------------------------------------------------------------------ basics


def test_models_and_health(server: ChatServer, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID
    status, body = _raw(server, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["model"] == MODEL_ID


def test_plain_chat_is_the_engines_greedy_reply(server: ChatServer, client: openai.OpenAI, engine: Engine) -> None:
    resp = client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=24, temperature=0)
    choice = resp.choices[0]
    assert resp.object == "chat.completion" and resp.model == MODEL_ID
    assert choice.message.role == "assistant" and choice.message.tool_calls is None
    assert choice.finish_reason in ("stop", "length")
    assert resp.usage is not None and 0 < resp.usage.completion_tokens <= 24
    # Without tools the server renders the messages as Engine.chat does: same prompt, same reply.
    with server.service.engine_slot():
        direct = engine.chat(QUESTION, SamplingParams(max_tokens=24))
    assert choice.message.content == direct.text
    assert resp.usage.prompt_tokens == direct.stats.prompt_tokens


def test_streamed_chat_concatenates_to_the_same_text(client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Answer briefly."}, *QUESTION]
    full = client.chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=32, temperature=0)
    chunks = list(client.chat.completions.create(
        model=MODEL_ID, messages=messages, max_tokens=32, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [full.choices[0].finish_reason]
    assert not chunks[-1].choices and chunks[-1].usage is not None  # the usage chunk comes last
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens


def test_seeded_sampling_repeats(client: openai.OpenAI) -> None:
    def ask(seed: int) -> str | None:
        resp = client.chat.completions.create(
            model=MODEL_ID, messages=QUESTION, max_tokens=16, temperature=1.0, top_p=0.9, seed=seed,
        )
        return resp.choices[0].message.content

    assert ask(7) == ask(7)


def test_stop_string_ends_the_reply(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=24, temperature=0)
    text = full.choices[0].message.content or ""
    assert len(text) > 4
    stop = text[2:4]
    resp = client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=24, temperature=0, stop=[stop])
    assert resp.choices[0].message.content == text[: text.index(stop)]
    assert resp.choices[0].finish_reason == "stop"


# --------------------------------------------------------------------- tools


def test_tool_call_round_trip(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris in celsius?"}]
    first = client.chat.completions.create(
        model=MODEL_ID, messages=messages, tools=[WEATHER], tool_choice="required", max_tokens=128,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "get_weather"
    args = _args(calls[0])
    jsonschema.validate(args, WEATHER["function"]["parameters"])

    # The client runs the tool and sends the result back; the server answers from it.
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": calls[0].id,
                     "content": json.dumps({"city": args["city"], "temperature": 21, "unit": args["unit"]})})
    second = client.chat.completions.create(model=MODEL_ID, messages=messages, tools=[WEATHER], max_tokens=32)
    answer = second.choices[0]
    assert answer.message.tool_calls is None and isinstance(answer.message.content, str) and answer.message.content
    assert answer.finish_reason in ("stop", "length")
    assert second.usage is not None and first.usage is not None
    assert second.usage.prompt_tokens > first.usage.prompt_tokens  # the call and its result are in the prompt
    # A follow-up turn extends the cached conversation instead of prefilling it again.
    assert second.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens - 1


def test_tool_choice_required_none_and_named(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "What time is it in Paris, and how warm is it?"}]
    tools: list[Any] = [WEATHER, TIME]
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}

    required = client.chat.completions.create(
        model=MODEL_ID, messages=messages, tools=tools, tool_choice="required", max_tokens=160,
    ).choices[0]
    assert required.finish_reason == "tool_calls" and required.message.tool_calls
    for call in required.message.tool_calls:
        jsonschema.validate(_args(call), schemas[call.function.name])

    for name in ("get_time", "get_weather"):
        named = client.chat.completions.create(
            model=MODEL_ID, messages=messages, tools=tools, max_tokens=160,
            tool_choice={"type": "function", "function": {"name": name}}, parallel_tool_calls=False,
        ).choices[0]
        assert [c.function.name for c in named.message.tool_calls or []] == [name]
        jsonschema.validate(_args(named.message.tool_calls[0]), schemas[name])

    none = client.chat.completions.create(
        model=MODEL_ID, messages=messages, tools=tools, tool_choice="none", max_tokens=16,
    ).choices[0]
    assert none.message.tool_calls is None and isinstance(none.message.content, str)
    assert none.finish_reason in ("stop", "length")


def test_streamed_tool_call_matches_the_plain_one(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "model": MODEL_ID, "messages": [{"role": "user", "content": "Weather in Rome?"}], "tools": [WEATHER],
        "tool_choice": "required", "max_tokens": 128,
    }
    plain = client.chat.completions.create(**kwargs).choices[0].message.tool_calls or []
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        (c.function.name, _args(c)) for c in plain
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())


def test_the_agents_remote_backend_runs_tools_through_the_server(server: ChatServer) -> None:
    from agent_sdk.agent import Agent, OpenAIBackend
    from agent_sdk.tools import tool

    seen: list[dict[str, str]] = []

    @tool
    def get_weather(city: Literal["Paris", "Rome"], unit: Literal["c", "f"]) -> dict[str, Any]:
        """Get the current weather in a city.

        Args:
            city: The city.
            unit: Temperature unit.
        """
        seen.append({"city": city, "unit": unit})
        return {"city": city, "temperature": 21, "unit": unit}

    agent = Agent(OpenAIBackend(server.url, model=MODEL_ID, max_tokens=64), tools=[get_weather],
                  system="Be brief.", tool_choice="required")
    result = agent.run("What's the weather in Paris?")
    assert len(result.calls) == 1 and result.calls[0][1].ok  # constrained by the server, run by the agent
    assert seen == [result.calls[0][0].arguments]
    assert isinstance(result.text, str) and result.steps == 2


@contextmanager
def _serving(engine: Engine, **config: Any) -> Iterator[ChatServer]:
    srv = make_server(engine, host="127.0.0.1", port=0, config=ServerConfig(model_id="smollm2", **config))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


@pytest.mark.real_model
def test_the_real_model_answers_a_call_it_already_made_instead_of_repeating_it(smollm2_engine: Engine) -> None:
    """Issue 11.9: call, result, ask again (``auto``) → text, not the same call again."""
    tools: list[Any] = [WEATHER]

    def round_trip(srv: ChatServer, *, stream: bool) -> tuple[str | None, str | None, list[Any]]:
        with openai.OpenAI(base_url=srv.url, api_key="unused", max_retries=0, timeout=300) as client:
            messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris in celsius?"}]
            first = client.chat.completions.create(model="smollm2", messages=messages, tools=tools,
                                                   tool_choice="required")
            calls = first.choices[0].message.tool_calls or []
            assert [(c.function.name, _args(c)) for c in calls] == [("get_weather", {"city": "Paris", "unit": "c"})]
            messages += [first.choices[0].message, {"role": "tool", "tool_call_id": calls[0].id, "content": "21 C and sunny"}]
            if not stream:
                choice = client.chat.completions.create(model="smollm2", messages=messages, tools=tools).choices[0]
                return choice.finish_reason, choice.message.content, list(choice.message.tool_calls or [])
            text, finish, again = "", None, []
            for chunk in client.chat.completions.create(model="smollm2", messages=messages, tools=tools, stream=True):
                delta = chunk.choices[0].delta
                text += delta.content or ""
                again += delta.tool_calls or []
                finish = chunk.choices[0].finish_reason or finish
            return finish, text, again

    with _serving(smollm2_engine) as srv:
        for stream in (False, True):
            finish, text, again = round_trip(srv, stream=stream)
            assert finish == "stop" and not again, (stream, again)
            assert text and "<tool_call>" not in text and "21" in text, text
    # The call policy's skip_answered rule is what answers: without it the model calls again.
    with _serving(smollm2_engine, policy=DEFAULT_POLICY.replace(skip_answered=False)) as srv:
        finish, _, again = round_trip(srv, stream=False)
        assert finish == "tool_calls" and [c.function.name for c in again] == ["get_weather"]


# -------------------------------------------------------------- JSON replies


def test_json_schema_response_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["c", "f"]},
        },
        "required": ["city", "days", "unit"],
        "additionalProperties": False,
    }
    resp = client.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": "Forecast for Paris as JSON."}], max_tokens=128,
        response_format={"type": "json_schema", "json_schema": {"name": "forecast", "schema": schema, "strict": True}},
    )
    assert resp.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(resp.choices[0].message.content or ""), schema)

    resp = client.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": "Any JSON object."}], max_tokens=200,
        response_format={"type": "json_object"},
    )
    if resp.choices[0].finish_reason == "stop":  # random weights may write a long object
        assert isinstance(json.loads(resp.choices[0].message.content or ""), dict)
    else:
        assert (resp.choices[0].message.content or "").startswith("{")


# --------------------------------------------------------- malformed requests

MALFORMED: list[tuple[str, Any, int, str]] = [
    ("invalid JSON", b'{"messages": [', 400, "invalid_json"),
    ("not an object", b"[1, 2]", 400, "invalid_json"),
    ("deeply nested", b"[" * 200_000, 400, "invalid_json"),
    ("missing messages", {"model": MODEL_ID}, 400, "missing_required_parameter"),
    ("empty messages", {"messages": []}, 400, "invalid_value"),
    ("unknown role", {"messages": [{"role": "wizard", "content": "hi"}]}, 400, "invalid_value"),
    ("image content", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     400, "invalid_value"),
    ("max_tokens too big", {"messages": QUESTION, "max_tokens": 100_000}, 400, "max_tokens_too_large"),
    ("max_tokens not a number", {"messages": QUESTION, "max_tokens": "many"}, 400, "invalid_value"),
    ("negative temperature", {"messages": QUESTION, "temperature": -1}, 400, "invalid_value"),
    ("bad tool schema", {"messages": QUESTION, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}}}}
    ]}, 400, "invalid_tools"),
    ("tool without a name", {"messages": QUESTION, "tools": [{"type": "function", "function": {}}]}, 400, "invalid_tools"),
    ("tool_choice names no tool", {"messages": QUESTION, "tools": [WEATHER],
                                   "tool_choice": {"type": "function", "function": {"name": "nope"}}}, 400, "invalid_value"),
    ("tool_choice required without tools", {"messages": QUESTION, "tool_choice": "required"}, 400, "invalid_value"),
    ("bad call arguments in history", {"messages": [
        *QUESTION, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                          "function": {"name": "f", "arguments": "{oops"}}]}]},
     400, "invalid_value"),
    ("bad response schema", {"messages": QUESTION, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}}, 400, "invalid_value"),
    ("n > 1", {"messages": QUESTION, "n": 2}, 400, "unsupported_value"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_gets_a_json_error(server: ChatServer, name: str, body: Any, status: int, code: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, reply = _raw(server, "POST", "/v1/chat/completions", raw)
    assert got == status, reply
    err = reply["error"]
    assert err["code"] == code and err["type"] == "invalid_request_error" and err["message"]
    assert _raw(server, "GET", "/health")[0] == 200


def test_huge_body_is_refused(server: ChatServer) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "x" * (3 << 19)}]}).encode()  # 1.5 MiB
    status, reply = _raw(server, "POST", "/v1/chat/completions", body)
    assert status == 413 and reply["error"]["code"] == "body_too_large"
    assert _raw(server, "GET", "/health")[0] == 200


def test_prompt_over_the_window_and_limits_through_the_client(client: openai.OpenAI, engine: Engine) -> None:
    long = " ".join(["Paris"] * (engine.context_window + 100))
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": long}])
    assert exc.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=MAX_TOKENS_LIMIT + 1)
    assert exc.value.code == "max_tokens_too_large" and exc.value.param == "max_tokens"
    # A request that fits exactly is still served.
    ok = client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=MAX_TOKENS_LIMIT)
    assert ok.choices[0].finish_reason in ("stop", "length")


def test_unknown_paths_and_methods(server: ChatServer) -> None:
    status, reply = _raw(server, "GET", "/v1/nothing")
    assert status == 404 and reply["error"]["code"] == "not_found"
    status, reply = _raw(server, "GET", "/v1/chat/completions")
    assert status == 405
    status, reply = _raw(server, "POST", "/v1/models", b"{}")
    assert status == 405
    status, reply = _raw(server, "DELETE", "/v1/models")
    assert status == 405
    status, reply = _raw(server, "POST", "/v1/chat/completions", b"{}", headers={"Content-Length": "nope"})
    assert status == 400
    assert _raw(server, "GET", "/health")[0] == 200


def test_keep_alive_connection_survives_an_error(server: ChatServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        for body in (b"not json", json.dumps({"messages": QUESTION, "max_tokens": 4}).encode()):
            conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            json.loads(resp.read())
        assert resp.status == 200
        conn.request("POST", "/v1/unknown", body=b'{"a": 1}')  # refused before its body is read
        resp = conn.getresponse()
        assert resp.status == 404
        resp.read()
        conn.request("GET", "/health")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
    finally:
        conn.close()


def test_client_leaving_a_stream_frees_the_engine(server: ChatServer, client: openai.OpenAI) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = {"messages": QUESTION, "max_tokens": MAX_TOKENS_LIMIT, "stream": True}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    assert resp.readline().startswith(b"data: {")
    resp.close()  # hang up mid-stream
    conn.close()
    reply = client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=4)
    assert reply.choices[0].finish_reason in ("stop", "length")


# ---------------------------------------------------------------- concurrency


def test_concurrent_requests_are_serialized(
    server: ChatServer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward = engine._forward
    trace: list[int] = []

    def traced(*args: Any, **kwargs: Any) -> Any:
        trace.append(threading.get_ident())
        time.sleep(0.002)  # widen the window another request could slip into
        return forward(*args, **kwargs)

    monkeypatch.setattr(engine, "_forward", traced)
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        # Three kinds at once: plain, streamed, and a tool call.
        kwargs: dict[str, Any] = {
            "model": MODEL_ID, "max_tokens": 24, "temperature": 0,
            "messages": [{"role": "user", "content": f"Question number {i}: what is {i} + {i}?"}],
        }
        if i == 1:
            kwargs["stream"] = True
        if i == 2:
            kwargs.update(tools=[WEATHER], tool_choice="required", max_tokens=96)
        try:
            with openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=300) as c:
                reply = c.chat.completions.create(**kwargs)
                results[i] = list(reply) if i == 1 else reply
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert sorted(results) == [0, 1, 2]
    assert isinstance(results[0].choices[0].message.content, str) and results[0].usage.completion_tokens == 24
    assert results[1][-1].choices[0].finish_reason in ("stop", "length")
    assert results[2].choices[0].message.tool_calls
    # Each request's engine work is one unbroken run: requests never interleave.
    runs = [tid for i, tid in enumerate(trace) if i == 0 or trace[i - 1] != tid]
    assert len(runs) == len(set(runs)) == 3, runs


# ----------------------------------------------------------------------- CLI


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_serve_starts_answers_and_stops(
    compile_bundle: Callable[..., Path], llama_ckpt: Path, stop_signal: signal.Signals
) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    # A shell that starts the test run in the background (`cmd &`) leaves SIGINT ignored, and a child inheriting
    # that gets no KeyboardInterrupt handler from Python; a handled SIGINT here is reset to the default at exec.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_sdk.cli", "serve", "--model", str(bundle), "--port", "0", "--threads", "1"],
            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )
    finally:
        signal.signal(signal.SIGINT, inherited)
    with proc:
        assert proc.stderr is not None
        try:
            log = b""
            deadline = time.monotonic() + 120
            while b"serving" not in log or not log.endswith(b"\n"):
                ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, f"the server did not start in time: {log!r}"
                data = os.read(proc.stderr.fileno(), 4096)
                assert data, f"the server exited ({proc.wait()}): {log!r}"
                log += data
            line = next(ln for ln in log.decode().splitlines() if ln.startswith("serving"))
            url = line.split(" at ", 1)[1].split()[0]
            with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60) as c:
                reply = c.chat.completions.create(model="anything", messages=QUESTION, max_tokens=4)
            assert reply.choices[0].message.content is not None
            proc.send_signal(stop_signal)
            # communicate, not wait: the server's stderr must be drained while it stops (a full pipe blocks it)
            _, rest = proc.communicate(timeout=30)
            log += rest
            assert proc.returncode == 0, log
            assert log.rstrip().endswith(b"stopped"), log
            assert b'"POST /v1/chat/completions HTTP/1.1" 200' in log  # the request log
        finally:
            if proc.poll() is None:
                proc.kill()


def test_cli_serve_on_a_taken_port_exits_1(
    server: ChatServer, compile_bundle: Callable[..., Path], llama_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent_sdk.cli import main

    code = main(["serve", "--model", str(compile_bundle(llama_ckpt, "f32")), "--port", str(server.port)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot listen" in err[0]
