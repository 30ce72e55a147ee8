"""The service behind the endpoints: one engine, a queue for it, and running a request on it.

A request holds the engine for its whole run (a streamed reply until it
ends); others wait, at most ``max_queue`` of them. A run either decodes tool
calls the way the agent does (:func:`agent_sdk.agent.step.decode_calls`,
under the tools' grammar and the call policy) or generates text, and is
returned as one ``chat.completion`` or streamed as ``chat.completion.chunk`` s.

With MCP tools (``agent-sdk serve --mcp``), a request that sends no tools
(and no ``tool_choice`` but ``auto``, no ``response_format``) and ends with
a user message is answered by the agent loop over those tools, run here:
calls go to the MCP servers, their results back to the model, and the reply
is the final answer, with the calls made listed in an extra ``tool_runs``
field (``{"name", "arguments", "ok", "result", "error"}``; streamed, the
answer comes as one chunk after the run). A request with its own ``tools``
is served as without MCP: the calls are returned, not run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agent_sdk.agent.call_format import with_stop_texts
from agent_sdk.agent.conversation import SYSTEM_ROLES
from agent_sdk.agent.events import AgentResult, RunStats, ToolCall
from agent_sdk.agent.format_choice import native_call_format
from agent_sdk.agent.prompting import bundle_tool_listing, bundle_tuned_tools
from agent_sdk.agent.step import decode_calls
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.errors import AgentSDKError
from agent_sdk.runtime.engine import Engine, GenerationStats
from agent_sdk.server.config import ServerConfig
from agent_sdk.server.errors import APIError
from agent_sdk.server.validation import ChatRequest, RequestValidator

if TYPE_CHECKING:
    from agent_sdk.agent.agent import Agent
    from agent_sdk.mcp import MCPToolset

__all__ = ["ChatService"]

_FINISH = {"stop": "stop", "length": "length", "context": "length"}


class ChatService:
    """The server's logic, apart from HTTP: validate a request, run it on the engine.

    Args:
        engine: The engine every request runs on.
        config: Limits and defaults.
        mcp: Tools to run here for requests that send none (see the module's description).
    """

    def __init__(self, engine: Engine, config: ServerConfig | None = None, *, mcp: MCPToolset | None = None) -> None:
        self.engine = engine
        self.config = config or ServerConfig()
        self.mcp = mcp
        self._agent: Agent | None = None  # over the MCP tools; made at the first such request
        self.created = int(time.time())
        self._grammar: GrammarEngine | None = None
        problem = ""
        try:
            self._grammar = GrammarEngine.for_engine(engine)  # built once, before threads share it
        except AgentSDKError as exc:
            problem = str(exc)
        # The model's own call format, as the agent picks it (Qwen's tag tokens, FunctionGemma's syntax).
        self.call_format = native_call_format(engine.tokenizer)
        self.validator = RequestValidator(
            engine.tokenizer, engine.context_window, self.config, grammar=self._grammar, grammar_problem=problem,
            tool_listing=bundle_tool_listing(engine.manifest), tuned_tools=bundle_tuned_tools(engine.manifest),
            call_format=self.call_format,
        )
        self.max_tokens_limit = self.validator.max_tokens_limit
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

    def parse(self, raw: bytes) -> ChatRequest:
        """Validates a ``/v1/chat/completions`` body and renders its prompt (:class:`RequestValidator`).

        Raises:
            APIError: 400 for anything malformed or over a limit, naming what is wrong.
        """
        return self.validator.parse(raw)

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

    # ------------------------------------------------------------ running

    def complete(self, req: ChatRequest) -> dict[str, Any]:
        """Runs a request to its ``chat.completion`` object (hold :meth:`engine_slot`)."""
        if self._runs_mcp(req):
            result = self._run_mcp(req)
            return {
                "id": req.id, "object": "chat.completion", "created": req.created, "model": self.config.model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": _usage(result.stats), "tool_runs": result.runs_json(),
            }
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
        out = {
            "id": req.id, "object": "chat.completion", "created": req.created, "model": self.config.model_id,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        if req.warnings:  # tools left out of the call grammar (an extra field; OpenAI clients keep it)
            out["warnings"] = list(req.warnings)
        return out

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

        first = chunk({"role": "assistant", "content": ""})
        if req.warnings:  # tools left out of the call grammar
            first["warnings"] = list(req.warnings)
        yield first
        if self._runs_mcp(req):
            result = self._run_mcp(req)
            yield {**chunk({"content": result.text}), "tool_runs": result.runs_json()}
            yield chunk({}, "stop")
            if req.include_usage:
                yield {"id": req.id, "object": "chat.completion.chunk", "created": req.created,
                       "model": self.config.model_id, "choices": [], "usage": _usage(result.stats)}
            return
        run = self._run(req)
        try:
            yield from self._chunks(req, run, chunk)
        finally:
            run.close()  # a client that went away stops the decoding here

    def _runs_mcp(self, req: ChatRequest) -> bool:
        last = req.messages[-1] if req.messages else None
        return (self.mcp is not None and bool(self.mcp.tools) and req.server_tools and isinstance(last, dict)
                and last.get("role") == "user" and isinstance(last.get("content"), str))

    def _run_mcp(self, req: ChatRequest) -> AgentResult:
        """The agent loop over the MCP tools for this conversation (hold :meth:`engine_slot`)."""
        from agent_sdk.agent.agent import Agent

        if self._agent is None:
            policy = self.config.policy.for_bundle(self.engine.manifest, bundle=self.engine.path)
            self._agent = Agent(self.engine, mcp=self.mcp, policy=policy)
        agent = self._agent
        systems = [str(m.get("content") or "") for m in req.messages if m.get("role") in SYSTEM_ROLES]
        agent.system = "\n\n".join(systems) or None
        agent.messages = [dict(m) for m in req.messages[:-1] if m.get("role") not in SYSTEM_ROLES]
        agent.sampling = req.sampling
        agent.max_tokens = req.sampling.max_tokens
        return agent.run(str(req.messages[-1]["content"]))

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
            policy = self.config.policy.for_bundle(self.engine.manifest, bundle=self.engine.path).replace(
                tool_choice=req.tool_choice, parallel=req.parallel)
            step = decode_calls(
                self.engine, req.prompt_ids, req.tools, policy=policy, max_tokens=req.sampling.max_tokens,
                request=req.request, answered=req.answered, grammar_engine=self._grammar, call_format=self.call_format,
                ask=req.ask,
            )
            if step.calls:
                yield "calls", [ToolCall(name, args) for name, args in step.calls]
                usage = _usage(step.generation.stats)
                if step.follow_up is not None:  # the follow-up's call tokens are part of the reply
                    usage["completion_tokens"] += step.follow_up.stats.generated_tokens
                    usage["total_tokens"] += step.follow_up.stats.generated_tokens
                yield "end", ("tool_calls", usage)
                return
            if req.tool_choice != "auto":  # a required call cut short by max_tokens
                yield "text", step.generation.text
                yield "end", ("length", _usage(step.generation.stats))
                return
        constraint = self._grammar.constraint(req.response_grammar) if self._grammar and req.response_grammar else None
        with_tools = bool(req.tools) and req.tool_choice != "none"
        sampling = with_stop_texts(req.sampling, self.call_format.stop_texts) if with_tools else req.sampling
        stream = self.engine.stream(req.prompt_ids, sampling, constraint=constraint)
        try:
            for ev in stream:
                if ev.text:
                    yield "text", ev.text
        finally:
            if stream.result is None:  # the client went away: stop decoding
                stream.close()
        gen = stream.result
        assert gen is not None
        yield "end", (_FINISH.get(gen.finish_reason, "stop"), _usage(gen.stats))


def _call_json(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}


def _usage(st: GenerationStats | RunStats) -> dict[str, Any]:
    """OpenAI's ``usage`` of one generation or of an agent run's steps."""
    return {
        "prompt_tokens": st.prompt_tokens, "completion_tokens": st.generated_tokens,
        "total_tokens": st.prompt_tokens + st.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": st.cached_tokens},
    }
