"""Request validation: a ``/v1/chat/completions`` body → a :class:`ChatRequest` ready to run.

Everything a request carries is checked here, before it waits for the
engine: the JSON itself (strict, bounded: :mod:`~agent_sdk.server.json_input`),
the messages (:mod:`~agent_sdk.server.messages`), the tools and their schemas
(:mod:`~agent_sdk.server.schemas`), ``tool_choice``, ``response_format`` and
the sampling fields. A request that gets through renders to a prompt that
fits the context window and grammars that compile; anything else is a 400
naming the field.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.conversation import answered_calls, with_request
from agent_sdk.agent.prompting import TunedTools
from agent_sdk.agent.step import call_grammar
from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.schema_repair import usable_tools
from agent_sdk.errors import ToolDefinitionError, UserError
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.runtime.tokenizer import Tokenizer
from agent_sdk.server.config import ServerConfig
from agent_sdk.server.errors import APIError
from agent_sdk.server.json_input import load_json
from agent_sdk.server.messages import chat_messages
from agent_sdk.server.schemas import check_schema, grammar_problem, meta_check
from agent_sdk.tools import ToolRegistry

__all__ = ["MAX_STOP", "MAX_TOOLS", "ChatRequest", "RequestValidator"]

# OpenAI's own limit on tools per request. Each costs schema checks and a
# grammar branch before the prompt's length is known (a 1 MiB body of tiny
# tools takes seconds of CPU), and more would not fit a small model's window.
MAX_TOOLS = 128
MAX_STOP = 16  # stop strings per request (OpenAI allows 4)


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
        warnings: Tools left out of the call grammar (their schema cannot be
            used) and why; the reply lists them under ``warnings``.
        messages: The request's messages as sent (checked).
        server_tools: The request sent no tools, no ``tool_choice`` other
            than ``auto`` and no ``response_format``: a server started with
            ``--mcp`` answers it with its own tools (see ``ChatService``).
        ask: The prompt with the last user message replaced by a text (the
            call step's follow-up on a compound request); None: no follow-up.
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
    warnings: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    server_tools: bool = False
    ask: Callable[[str], list[int]] | None = None
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))


class RequestValidator:
    """Turns request bodies into :class:`ChatRequest` s for one model.

    Args:
        tokenizer: The model's tokenizer (renders and counts the prompt).
        context_window: The model's context window, in tokens.
        config: Limits and defaults.
        grammar: The model's grammar engine; None when it has none.
        grammar_problem: Why it has none (said to requests that need one).
        tool_listing: How the bundle lists tools (its manifest's).
        tuned_tools: The tools a tuned bundle learned (others are listed in full).
        call_format: The model's call format.
    """

    def __init__(
        self, tokenizer: Tokenizer, context_window: int, config: ServerConfig, *, grammar: GrammarEngine | None,
        grammar_problem: str = "",
        tool_listing: str = "full",
        tuned_tools: TunedTools | None = None,
        call_format: CallFormat = HERMES,
    ) -> None:
        self.tokenizer = tokenizer
        self.tool_listing = tool_listing
        self.tuned_tools = tuned_tools
        self.call_format = call_format
        self.context_window = context_window
        self.config = config
        self.max_tokens_limit = min(config.max_tokens_limit or context_window, context_window)
        self.grammar = grammar
        self.grammar_problem = grammar_problem

    def parse(self, raw: bytes) -> ChatRequest:
        """Validates a ``/v1/chat/completions`` body and renders its prompt.

        Raises:
            APIError: 400 for anything malformed or over a limit, naming what is wrong.
        """
        body = load_json(raw)
        if not isinstance(body, dict):
            raise APIError(400, "the body must be a JSON object", code="invalid_json")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise APIError(400, "'model' must be a string", param="model")
        if _integer(body, "n", 1) != 1:
            raise APIError(400, "only n=1 is supported", code="unsupported_value", param="n")
        if body.get("logprobs"):
            raise APIError(400, "logprobs are not supported", code="unsupported_value", param="logprobs")
        stream = _bool(body, "stream", False)
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise APIError(400, "'stream_options' must be an object", param="stream_options")
        include_usage = stream and _bool(options or {}, "include_usage", False, param="stream_options.include_usage")
        parallel = _bool(body, "parallel_tool_calls", True)

        messages: Any = body.get("messages")  # checked by chat_messages below
        if isinstance(messages, list) and len(messages) > self.context_window:  # each costs tokens: cannot fit
            raise APIError(400, f"{len(messages)} messages cannot fit this model's context window of "
                                f"{self.context_window} tokens", code="context_length_exceeded", param="messages")
        registry = self._tools(body.get("tools"))
        specs = [t["function"] for t in registry.to_openai()]
        choice = self._tool_choice(body.get("tool_choice"), registry)
        # Notes on the tools: loose schemas repaired at import, tools left out of the grammar.
        left_out = [f"tool {n!r}: {note}" for n in registry.names for note in registry.get(n).schema_repairs]
        if specs and choice != "none":
            specs, notes = self._callable(specs, choice, parallel)
            left_out += notes
        response_grammar = self._response_grammar(body.get("response_format"))

        conversation = chat_messages(messages, specs, tool_listing=self.tool_listing, tuned_tools=self.tuned_tools,
                                     call_format=self.call_format)
        tok = self.tokenizer
        try:
            # enable_thinking=False as the agent prompts (Qwen3's template then closes an empty think block)
            ids = tok.encode(tok.apply_chat_template(conversation, add_generation_prompt=True, enable_thinking=False))
        except Exception as exc:  # noqa: BLE001  (the model's own template refused the conversation)
            raise APIError(400, f"the model's chat template cannot render these messages: {exc}", param="messages") from None
        sampling = self._sampling(body, len(ids))
        users = [m.get("content") for m in conversation if m.get("role") == "user"]

        def ask(text: str) -> list[int]:
            return list(tok.encode(tok.apply_chat_template(with_request(conversation, text), add_generation_prompt=True,
                                                           enable_thinking=False)))

        return ChatRequest(
            prompt_ids=ids, tools=specs, tool_choice=choice, parallel=parallel, sampling=sampling,
            response_grammar=response_grammar, stream=stream, include_usage=include_usage,
            request=users[-1] if users and isinstance(users[-1], str) else "",
            answered=answered_calls(messages), warnings=left_out, messages=list(messages),
            server_tools=not len(registry) and body.get("tool_choice") in (None, "auto") and response_grammar is None,
            ask=ask,
        )

    def _grammar_engine(self, what: str) -> GrammarEngine:
        if self.grammar is None:
            raise APIError(400, f"{what} need constrained decoding, which this model cannot do: {self.grammar_problem}",
                           code="unsupported_value")
        return self.grammar

    def _tools(self, tools: Any) -> ToolRegistry:
        if tools is None:
            return ToolRegistry()
        if not isinstance(tools, list):
            raise APIError(400, "'tools' must be a list", code="invalid_tools", param="tools")
        if len(tools) > MAX_TOOLS:
            raise APIError(400, f"{len(tools)} tools; at most {MAX_TOOLS} are accepted", code="invalid_tools",
                           param="tools")
        for i, spec in enumerate(tools):  # before jsonschema and the prompt read them: both recurse
            fn = spec.get("function") if isinstance(spec, dict) and "function" in spec else spec
            if isinstance(fn, dict):
                check_schema(fn.get("parameters"), f"tools[{i}].function.parameters", param="tools")
        try:
            return ToolRegistry.from_openai(tools)
        except ToolDefinitionError as exc:
            raise APIError(400, str(exc), code="invalid_tools", param="tools") from None

    def _callable(self, specs: list[dict[str, Any]], choice: str, parallel: bool) -> tuple[list[dict[str, Any]], list[str]]:
        """The tools as calls will be decoded, and why any were left out.

        A tool the grammar engine cannot use is left out while the others stay
        callable, as the agent does
        (:func:`~agent_sdk.constrain.schema_repair.usable_tools`). A 400 names
        it only when no tool is left, when ``tool_choice`` names it, or when
        the server's policy is ``strict_tools``.
        """
        ge = self._grammar_engine("tools")
        try:
            usable, notes = usable_tools(ge, specs, strict=self.config.policy.strict_tools)
        except GrammarError as exc:
            raise APIError(400, grammar_problem(exc), code="invalid_tools", param="tools") from None
        kept = {t["name"] for t in usable}
        left = [(i, spec["name"]) for i, spec in enumerate(specs) if spec["name"] not in kept]
        if left and (not usable or choice in {name for _, name in left}):
            i, name = next((x for x in left if x[1] == choice), left[0])
            reason = next((n.split(" left out: ", 1)[1] for n in notes if n.startswith(f"tool {name!r} left out: ")),
                          "its schema cannot be used")
            others = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            raise APIError(400, f"tools[{i}] ({name}): the grammar engine cannot compile its parameters: "
                                f"{reason}{others}", code="invalid_tools", param="tools")
        try:
            call_grammar(ge, usable, choice=choice, parallel=parallel, call_format=self.call_format)
        except UserError as exc:  # GrammarError: each tool compiles, together they do not
            raise APIError(400, f"cannot constrain calls to these tools: {grammar_problem(exc)}", code="invalid_tools",
                           param="tools") from None
        return usable, notes

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
            param = "response_format.json_schema"
            if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), (dict, bool)):
                raise APIError(400, 'response_format json_schema must be {"name": ..., "schema": {...}}', param=param)
            schema = spec.get("schema", True)
            check_schema(schema, "response_format.json_schema.schema", param=param)
            meta_check(schema, "response_format.json_schema.schema", param=param)
        ge = self._grammar_engine("response_format")
        try:
            return ge.json_grammar(schema)
        except UserError as exc:
            raise APIError(400, f"the grammar engine cannot compile response_format's schema: {grammar_problem(exc)}",
                           param="response_format") from None

    def _sampling(self, body: Mapping[str, Any], prompt_tokens: int) -> SamplingParams:
        window = self.context_window
        room = window - prompt_tokens
        key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        requested = _integer(body, key, None)
        if requested is not None:
            if requested < 1:
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
        if stop is not None and (not isinstance(stop, list) or len(stop) > MAX_STOP
                                 or not all(isinstance(s, str) for s in stop)):
            raise APIError(400, f"'stop' must be a string or a list of at most {MAX_STOP} strings", param="stop")
        seed = _integer(body, "seed", None)
        try:
            return SamplingParams(
                temperature=_number(body, "temperature", self.config.default_temperature),
                top_p=_number(body, "top_p", 1.0),
                top_k=_integer(body, "top_k", 0),  # not OpenAI's; llama.cpp's and Ollama's servers take it too
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


def _integer(body: Mapping[str, Any], key: str, default: Any) -> Any:
    """An integer field: JSON integers only (``1.5`` is not truncated, ``true`` is not 1)."""
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise APIError(400, f"'{key}' must be an integer", param=key)
    return value
