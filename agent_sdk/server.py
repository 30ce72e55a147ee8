"""An OpenAI-compatible local server: ``agent-sdk serve``.

Endpoints: ``POST /v1/chat/completions`` (messages with system, user,
assistant ``tool_calls`` and tool results; ``tools`` and ``tool_choice``;
``stream`` as server-sent events; ``response_format`` with a JSON schema or
``json_object``; ``max_tokens``, ``temperature``, ``top_p``, ``seed``,
``stop``), ``GET /v1/models`` and ``GET /health``.

Tool calls are decoded under the tools' grammar exactly as the agent decodes
them (:func:`agent_sdk.agent.step.decode_calls`), so every call the server
returns names a tool and its arguments validate; ``auto`` keeps a call only
when the model finds it likely. The server never runs tools: it returns the
calls, and the client sends the results back as ``tool`` messages.

One engine serves every request, one at a time: a request waits (queued, at
most ``max_queue`` of them) while another one decodes, and a streamed reply
holds the engine until it ends. Requests are validated before they queue:
a malformed one, or one over a limit (body size, ``max_tokens``, the context
window), gets a 4xx ``{"error": {"message", "type", "code", "param"}}``.

Only the standard library's ``http.server`` is used. It binds to the loopback
interface by default and has no authentication: put it behind a proxy that
has one before exposing it to a network.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.conversation import answered_calls, render_messages
from agent_sdk.agent.events import ToolCall
from agent_sdk.agent.policy import DEFAULT_POLICY, CallPolicy
from agent_sdk.agent.prompting import system_prompt
from agent_sdk.agent.step import call_grammar, decode_calls
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.errors import AgentSDKError, ContextOverflowError, ToolDefinitionError, UserError
from agent_sdk.runtime.engine import Engine, Generation
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.tools import ToolRegistry

__all__ = ["APIError", "ChatRequest", "ChatServer", "ChatService", "ServerConfig", "chat_messages", "make_server"]

_FINISH = {"stop": "stop", "length": "length", "context": "length"}
_SYSTEM_ROLES = ("system", "developer")
_ROLES = (*_SYSTEM_ROLES, "user", "assistant", "tool")


class APIError(Exception):
    """A request the server refuses, as an HTTP status and an OpenAI-style error body.

    Args:
        status: HTTP status code.
        message: What is wrong, for the client's user.
        type: OpenAI error type (``invalid_request_error``, ``server_error``).
        code: A short machine-readable code.
        param: The request field at fault, if one is.
    """

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", code: str = "invalid_value",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "code", "param"}}``."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


@dataclass(frozen=True)
class ServerConfig:
    """Limits and defaults of the server.

    Attributes:
        model_id: The model's name in ``/v1/models`` and in replies (any
            ``model`` a request names is served by this one model).
        max_body_bytes: Largest request body accepted.
        max_tokens_limit: Most tokens a request may ask for (default: the
            context window).
        default_max_tokens: ``max_tokens`` when a request sets none (capped by
            the room left in the context window).
        default_temperature: Temperature when a request sets none (greedy,
            like ``agent-sdk run``: small models ramble when sampled).
        policy: How calls are decided, decoded and refined, as the agent
            does it (:class:`~agent_sdk.agent.policy.CallPolicy`; each
            request's ``tool_choice`` and ``parallel_tool_calls`` override
            its own).
        max_queue: Requests that may wait for the engine; more get HTTP 503.
        timeout: Seconds a connection may stall while sending or reading.
    """

    model_id: str = "default"
    max_body_bytes: int = 1 << 20
    max_tokens_limit: int | None = None
    default_max_tokens: int = 512
    default_temperature: float = 0.0
    policy: CallPolicy = DEFAULT_POLICY
    max_queue: int = 8
    timeout: float = 60.0


@dataclass
class ChatRequest:
    """A validated chat request, ready to run.

    Attributes:
        prompt_ids: The rendered conversation, ending with the assistant header.
        tools: Function specs (``{"name", "description", "parameters"}``).
        tool_choice: ``auto``, ``required``, ``none`` or a tool name.
        parallel: Several calls allowed in one reply.
        sampling: Sampling for text replies (``max_tokens`` resolved).
        response_grammar: Compiled grammar the text reply must match.
        stream: Reply as server-sent events.
        include_usage: Streamed replies end with a usage chunk.
        request: The last user message's text (argument values are copied from it).
        answered: Calls the conversation already made and answered.
    """

    prompt_ids: list[int]
    tools: list[dict[str, Any]]
    tool_choice: str
    parallel: bool
    sampling: SamplingParams
    response_grammar: str | None = None
    stream: bool = False
    include_usage: bool = False
    request: str = ""
    answered: list[tuple[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))


class ChatService:
    """The server's logic, apart from HTTP: validate a request, run it on the engine.

    Args:
        engine: The engine every request runs on.
        config: Limits and defaults.
    """

    def __init__(self, engine: Engine, config: ServerConfig | None = None) -> None:
        self.engine = engine
        self.config = config or ServerConfig()
        self.max_tokens_limit = min(self.config.max_tokens_limit or engine.context_window, engine.context_window)
        self.created = int(time.time())
        self._grammar: GrammarEngine | None = None
        self._grammar_problem = ""
        try:
            self._grammar = GrammarEngine.for_engine(engine)  # built once, before threads share it
        except AgentSDKError as exc:
            self._grammar_problem = str(exc)
        self._engine_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._waiting = 0

    # ------------------------------------------------------------ endpoints

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return {"status": "ok", "model": self.config.model_id, "busy": self._engine_lock.locked(), "queued": self._waiting}

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``."""
        return {"object": "list", "data": [self.model_card()]}

    def model_card(self) -> dict[str, Any]:
        """The one model, as ``/v1/models`` lists it."""
        return {
            "id": self.config.model_id, "object": "model", "created": self.created, "owned_by": "agent-sdk",
            "context_window": self.engine.context_window,
        }

    @contextmanager
    def engine_slot(self) -> Iterator[None]:
        """Holds the engine for one request; waits while another one runs.

        Raises:
            APIError: 503 when ``max_queue`` requests are already waiting.
        """
        with self._queue_lock:
            if self._waiting >= self.config.max_queue:
                raise APIError(503, "the server is busy; retry later", type="server_error", code="server_busy")
            self._waiting += 1
        try:
            self._engine_lock.acquire()
        finally:
            with self._queue_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._engine_lock.release()

    def complete(self, req: ChatRequest) -> dict[str, Any]:
        """Runs a request to its ``chat.completion`` object (hold :meth:`engine_slot`)."""
        text: list[str] = []
        calls: list[ToolCall] = []
        finish, usage = "stop", {}
        for kind, value in self._run(req):
            if kind == "text":
                text.append(value)
            elif kind == "calls":
                calls = value
            else:
                finish, usage = value
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if not calls else None}
        if calls:
            message["tool_calls"] = [_call_json(c) for c in calls]
        return {
            "id": req.id, "object": "chat.completion", "created": req.created, "model": self.config.model_id,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }

    def stream(self, req: ChatRequest) -> Generator[dict[str, Any], None, None]:
        """Runs a request as ``chat.completion.chunk`` objects (hold :meth:`engine_slot`)."""

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out = {
                "id": req.id, "object": "chat.completion.chunk", "created": req.created, "model": self.config.model_id,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if req.include_usage:
                out["usage"] = None
            return out

        yield chunk({"role": "assistant", "content": ""})
        run = self._run(req)
        try:
            yield from self._chunks(req, run, chunk)
        finally:
            run.close()  # a client that went away stops the decoding here

    def _chunks(
        self, req: ChatRequest, run: Iterator[tuple[str, Any]], chunk: Callable[..., dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        for kind, value in run:
            if kind == "text":
                if value:
                    yield chunk({"content": value})
            elif kind == "calls":
                # The call is complete (and validated) before its first byte is sent: ``auto``
                # decides on the whole call. Name first, then the arguments, as OpenAI streams them.
                for i, c in enumerate(value):
                    head = {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
                    yield chunk({"tool_calls": [head]})
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": json.dumps(c.arguments)}}]})
            else:
                finish, usage = value
                yield chunk({}, finish)
                if req.include_usage:
                    yield {
                        "id": req.id, "object": "chat.completion.chunk", "created": req.created,
                        "model": self.config.model_id, "choices": [], "usage": usage,
                    }

    def _run(self, req: ChatRequest) -> Generator[tuple[str, Any], None, None]:
        """Yields ``("text", delta)``…, or ``("calls", [ToolCall])``; then ``("end", (finish, usage))``."""
        if req.tools and req.tool_choice != "none":
            policy = self.config.policy.replace(tool_choice=req.tool_choice, parallel=req.parallel)
            step = decode_calls(
                self.engine, req.prompt_ids, req.tools, policy=policy, max_tokens=req.sampling.max_tokens,
                request=req.request, answered=req.answered, grammar_engine=self._grammar,
            )
            if step.calls:
                yield "calls", [ToolCall(name, args) for name, args in step.calls]
                yield "end", ("tool_calls", _usage(step.generation))
                return
            if req.tool_choice != "auto":  # a required call cut short by max_tokens
                yield "text", step.generation.text
                yield "end", ("length", _usage(step.generation))
                return
        constraint = self._grammar.constraint(req.response_grammar) if self._grammar and req.response_grammar else None
        stream = self.engine.stream(req.prompt_ids, req.sampling, constraint=constraint)
        try:
            for ev in stream:
                if ev.text:
                    yield "text", ev.text
        finally:
            if stream.result is None:  # the client went away: stop decoding
                stream.close()
        gen = stream.result
        assert gen is not None
        yield "end", (_FINISH.get(gen.finish_reason, "stop"), _usage(gen))

    # ------------------------------------------------------------ validation

    def parse(self, raw: bytes) -> ChatRequest:
        """Validates a ``/v1/chat/completions`` body and renders its prompt.

        Raises:
            APIError: 400 for anything malformed or over a limit, listing what is wrong.
        """
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
        if not isinstance(body, dict):
            raise APIError(400, "the body must be a JSON object", code="invalid_json")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise APIError(400, "'model' must be a string", param="model")
        n = body.get("n", 1)
        if n is not None and n != 1:
            raise APIError(400, "only n=1 is supported", code="unsupported_value", param="n")
        if body.get("logprobs"):
            raise APIError(400, "logprobs are not supported", code="unsupported_value", param="logprobs")
        stream = _bool(body, "stream", False)
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise APIError(400, "'stream_options' must be an object", param="stream_options")
        include_usage = stream and _bool(options or {}, "include_usage", False, param="stream_options.include_usage")
        parallel = _bool(body, "parallel_tool_calls", True)

        registry = self._tools(body.get("tools"))
        specs = [t["function"] for t in registry.to_openai()]
        choice = self._tool_choice(body.get("tool_choice"), registry)
        if specs and choice != "none":
            ge = self._grammar_engine("tools")
            try:
                call_grammar(ge, specs, choice=choice, parallel=parallel)
            except UserError as exc:  # GrammarError: a schema the grammar engine cannot compile
                raise APIError(400, f"cannot constrain calls to these tools: {exc}", code="invalid_tools", param="tools") from None
        response_grammar = self._response_grammar(body.get("response_format"))

        messages = body.get("messages")
        conversation = chat_messages(messages, specs)
        tok = self.engine.tokenizer
        try:
            ids = tok.encode(tok.apply_chat_template(conversation, add_generation_prompt=True))
        except Exception as exc:  # noqa: BLE001  (the model's own template refused the conversation)
            raise APIError(400, f"the model's chat template cannot render these messages: {exc}", param="messages") from None
        sampling = self._sampling(body, len(ids))
        users = [m.get("content") for m in conversation if m.get("role") == "user"]
        return ChatRequest(
            prompt_ids=ids, tools=specs, tool_choice=choice, parallel=parallel, sampling=sampling,
            response_grammar=response_grammar, stream=stream, include_usage=include_usage,
            request=users[-1] if users and isinstance(users[-1], str) else "",
            answered=answered_calls(messages),
        )

    def _grammar_engine(self, what: str) -> GrammarEngine:
        if self._grammar is None:
            raise APIError(400, f"{what} need constrained decoding, which this model cannot do: {self._grammar_problem}",
                           code="unsupported_value")
        return self._grammar

    def _tools(self, tools: Any) -> ToolRegistry:
        if tools is None:
            return ToolRegistry()
        if not isinstance(tools, list):
            raise APIError(400, "'tools' must be a list", code="invalid_tools", param="tools")
        try:
            return ToolRegistry.from_openai(tools)
        except ToolDefinitionError as exc:
            raise APIError(400, str(exc), code="invalid_tools", param="tools") from None

    def _tool_choice(self, value: Any, registry: ToolRegistry) -> str:
        if value is None:
            return "auto" if len(registry) else "none"
        if isinstance(value, str):
            if value not in ("auto", "required", "none"):
                raise APIError(400, f"tool_choice must be auto, required, none or a function; got {value!r}",
                               param="tool_choice")
            choice = value
        elif isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("function"), dict):
            choice = value["function"].get("name")
            if not isinstance(choice, str) or choice not in registry:
                raise APIError(400, f"tool_choice names {choice!r}, which is not among the tools "
                               f"({', '.join(registry.names) or 'none given'})", param="tool_choice")
        else:
            raise APIError(400, 'tool_choice must be a string or {"type": "function", "function": {"name": ...}}',
                           param="tool_choice")
        if choice != "none" and choice != "auto" and not len(registry):
            raise APIError(400, f"tool_choice {choice!r} needs tools", param="tool_choice")
        return choice

    def _response_grammar(self, fmt: Any) -> str | None:
        if fmt is None:
            return None
        if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
            raise APIError(400, "response_format must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}",
                           param="response_format")
        if fmt["type"] == "text":
            return None
        schema: Any = {"type": "object"}
        if fmt["type"] == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), (dict, bool)):
                raise APIError(400, 'response_format json_schema must be {"name": ..., "schema": {...}}',
                               param="response_format.json_schema")
            schema = spec.get("schema", True)
            _check_schema(schema)
        ge = self._grammar_engine("response_format")
        try:
            return ge.json_grammar(schema)
        except UserError as exc:
            raise APIError(400, str(exc), param="response_format") from None

    def _sampling(self, body: Mapping[str, Any], prompt_tokens: int) -> SamplingParams:
        window = self.engine.context_window
        room = window - prompt_tokens
        key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        requested = body.get(key)
        if requested is not None:
            if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
                raise APIError(400, f"'{key}' must be a positive integer", param=key)
            if requested > self.max_tokens_limit:
                raise APIError(400, f"'{key}' is {requested}, above this server's limit of {self.max_tokens_limit}",
                               code="max_tokens_too_large", param=key)
        if room < 1 or (requested is not None and requested > room):
            if requested is None:
                asked = f"the messages take {prompt_tokens} tokens"
            else:
                asked = f"{prompt_tokens + requested} tokens were requested ({prompt_tokens} in the messages, " \
                        f"{requested} in the completion)"
            raise APIError(400, f"this model's context window is {window} tokens, but {asked}; shorten the messages "
                           "or lower max_tokens", code="context_length_exceeded", param="messages")
        max_tokens = requested if requested is not None else min(self.config.default_max_tokens, self.max_tokens_limit, room)
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and (not isinstance(stop, list) or len(stop) > 16 or not all(isinstance(s, str) for s in stop)):
            raise APIError(400, "'stop' must be a string or a list of at most 16 strings", param="stop")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise APIError(400, "'seed' must be an integer", param="seed")
        try:
            return SamplingParams(
                temperature=_number(body, "temperature", self.config.default_temperature),
                top_p=_number(body, "top_p", 1.0),
                top_k=int(_number(body, "top_k", 0)),  # not OpenAI's; llama.cpp's and Ollama's servers take it too
                repetition_penalty=_number(body, "repetition_penalty", 1.0),
                seed=None if seed is None else seed % 2**63,
                max_tokens=max_tokens,
                stop=tuple(stop or ()),
            )
        except UserError as exc:
            raise APIError(400, str(exc)) from None


def _bool(body: Mapping[str, Any], key: str, default: bool, *, param: str | None = None) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise APIError(400, f"'{param or key}' must be true or false", param=param or key)
    return value


def _number(body: Mapping[str, Any], key: str, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise APIError(400, f"'{key}' must be a number", param=key)
    return float(value)


def _check_schema(schema: Any) -> None:
    import jsonschema

    if isinstance(schema, bool):
        return
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise APIError(400, f"invalid JSON schema at {path}: {exc.message}", param="response_format.json_schema") from None


def _text(content: Any, where: str) -> str:
    """A message's content as text (a string, or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(400, f"{where}.content[{i}]: only text parts are supported", param=f"{where}.content")
            parts.append(part["text"])
        return "\n".join(parts)
    raise APIError(400, f"{where}.content must be a string or a list of text parts", param=f"{where}.content")


def _assistant_calls(calls: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(calls, list):
        raise APIError(400, f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        args = fn.get("arguments", "{}") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not isinstance(args, (str, dict)):
            raise APIError(400, f'{where}.tool_calls[{i}] must be {{"type": "function", "function": {{"name", "arguments"}}}}',
                           param=f"{where}.tool_calls")
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                raise APIError(400, f"{where}.tool_calls[{i}].function.arguments is not valid JSON",
                               param=f"{where}.tool_calls") from None
        out.append((name, args))
    return out


def chat_messages(messages: Any, tools: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI messages as the plain role/content messages the chat template renders.

    Leading system (or developer) messages become the system prompt, with the
    tools described after them as the agent describes them; assistant calls
    and tool results are written as the agent writes them (Hermes format), so
    the model sees the same conversation either way.

    Args:
        messages: The request's ``messages``.
        tools: Function specs offered in the request.

    Raises:
        APIError: 400, naming the first malformed message.
    """
    if messages is None:
        raise APIError(400, "'messages' is required", code="missing_required_parameter", param="messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise APIError(400, f"messages[{i}] must be an object", param="messages")
        if m.get("role") not in _ROLES:
            raise APIError(400, f"messages[{i}].role is {m.get('role')!r}; expected one of {', '.join(_ROLES)}",
                           param=f"messages[{i}].role")
    lead = 0
    while lead < len(messages) and messages[lead]["role"] in _SYSTEM_ROLES:
        lead += 1
    system = "\n\n".join(_text(m.get("content"), f"messages[{i}]") for i, m in enumerate(messages[:lead])).strip()
    out: list[dict[str, str]] = []
    if tools:
        out.append({"role": "system", "content": system_prompt(tools, system or None)})
    elif lead:
        out.append({"role": "system", "content": system})
    rest = []
    for i, m in enumerate(messages[lead:], start=lead):
        where = f"messages[{i}]"
        msg: dict[str, Any] = {"role": m["role"], "content": _text(m.get("content"), where)}
        if m["role"] == "assistant" and m.get("tool_calls"):
            msg["tool_calls"] = [{"function": {"name": n, "arguments": a}}
                                 for n, a in _assistant_calls(m["tool_calls"], where)]
        rest.append(msg)
    return out + render_messages(rest, HERMES)


def _call_json(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}


def _usage(gen: Generation) -> dict[str, Any]:
    st = gen.stats
    return {
        "prompt_tokens": st.prompt_tokens, "completion_tokens": st.generated_tokens,
        "total_tokens": st.prompt_tokens + st.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": st.cached_tokens},
    }


# ------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agent-sdk"
    server: ChatServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.service.config.timeout)  # a stalled client cannot hold a thread

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        service = self.server.service
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self._consumed = False
        try:
            if path in ("/health", "/v1/health"):
                self._allow(method, "GET")
                self._send_json(200, service.health())
            elif path == "/v1/models":
                self._allow(method, "GET")
                self._send_json(200, service.models())
            elif path.startswith("/v1/models/"):
                self._allow(method, "GET")
                if path[len("/v1/models/"):] != service.config.model_id:
                    raise APIError(404, f"no model {path[len('/v1/models/'):]!r}", code="model_not_found")
                self._send_json(200, service.model_card())
            elif path in ("/v1/chat/completions", "/chat/completions"):
                self._allow(method, "POST")
                self._chat(service)
            else:
                raise APIError(404, f"no such endpoint: {method} {path}", code="not_found")
        except APIError as exc:
            if not self._consumed and self.headers.get("Content-Length", "0").strip() not in ("", "0"):
                self.close_connection = True  # the unread body would be taken for the next request
            self._send_json(exc.status, exc.body())
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away
        except Exception as exc:  # noqa: BLE001  (one bad request must not take the server down)
            if isinstance(exc, ContextOverflowError):
                err = APIError(400, str(exc), code="context_length_exceeded", param="messages")
            elif isinstance(exc, UserError):
                err = APIError(400, str(exc))
            else:
                err = APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error",
                               code="internal_error")
            self._send_json(err.status, err.body())

    def _allow(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise APIError(405, f"use {allowed} here", code="method_not_allowed")

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise APIError(411, "send the body with a Content-Length", code="length_required")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise APIError(400, "bad Content-Length", code="invalid_request")
        if length > limit:
            self.close_connection = True
            if length <= 16 * limit:  # read it, so the client sees the answer instead of a reset
                remaining = length
                while remaining > 0:
                    got = self.rfile.read(min(remaining, 1 << 16))
                    if not got:
                        break
                    remaining -= len(got)
            raise APIError(413, f"the body is {length} bytes; the limit is {limit}", code="body_too_large")
        body = self.rfile.read(length)
        self._consumed = True
        if len(body) < length:
            self.close_connection = True
            raise APIError(400, "the body ended early", code="invalid_request")
        return body

    def _chat(self, service: ChatService) -> None:
        req = service.parse(self._read_body(service.config.max_body_bytes))
        with service.engine_slot():
            if not req.stream:
                self._send_json(200, service.complete(req))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")  # the stream ends when the connection does
            self.end_headers()
            self.close_connection = True
            chunks = service.stream(req)
            try:
                for chunk in chunks:
                    self._event(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                return  # the client went away; closing the generator stops the decoding
            except Exception as exc:  # noqa: BLE001  (the status line is sent: report in the stream)
                err = APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error",
                               code="internal_error")
                self._event(err.body())
            finally:
                chunks.close()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    def _event(self, obj: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, huge headers) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        kind = "server_error" if code >= 500 else "invalid_request_error"
        slug = phrase.lower().replace(" ", "_").replace("-", "_")
        self._send_json(code, APIError(code, message or phrase, type=kind, code=slug).body())

    def log_message(self, format: str, *args: Any) -> None:
        log = self.server.log
        if log is not None:
            log(f"{self.address_string()} {format % args}")


class ChatServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, one engine behind a lock.

    Args:
        service: The request logic.
        host: Address to bind (loopback by default).
        port: Port; 0 picks a free one (see :attr:`port`).
        log: Called with one line per request (None: quiet).
    """

    daemon_threads = True

    def __init__(
        self, service: ChatService, host: str = "127.0.0.1", port: int = 8000, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.service = service
        self.log = log
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The base URL for OpenAI clients (``…/v1``)."""
        host = str(self.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"


def make_server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServerConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> ChatServer:
    """An OpenAI-compatible server for ``engine`` (call ``serve_forever()`` on it).

    Args:
        engine: The engine to serve.
        host: Address to bind; the default serves this machine only.
        port: Port; 0 picks a free one.
        config: Limits and defaults.
        log: Called with one line per request.

    Raises:
        AgentSDKError: The address cannot be bound (in use, not local, no permission).
    """
    service = ChatService(engine, config)
    try:
        return ChatServer(service, host, port, log=log)
    except OSError as exc:
        raise AgentSDKError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
