"""The agent loop: prompt → (tool calls → results)* → answer, as typed events.

Each step the model either calls tools or answers. With constraints on
(the default), a call is decoded under a grammar built from the tools' JSON
schemas, so every call parses and validates by construction; the call's
fixed spans (tool-name remainder, keys, punctuation) are fed by
jump-forward. ``tool_choice`` is ``auto`` (the agent decides), ``required``
(a call first), ``none`` (text only) or a tool name.

Deciding in ``auto``: small models rarely start a call on their own even
when one is right, and free-running them yields malformed JSON. So the agent
decodes the best constrained call and keeps it when the model itself finds
it likely: the mean log-probability, under the model's *unmasked*
distribution, of the tokens it chose inside the call (forced tokens
excluded) must reach ``auto_threshold``. Otherwise it answers in text, from
the same cached prefix.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.agent.copy_bias import DEFAULT_VALUE_BIAS, ValueBias
from agent_sdk.agent.parsing import parse_calls
from agent_sdk.agent.prompting import system_prompt
from agent_sdk.agent.remote import OpenAIBackend
from agent_sdk.agent.rerank import DEFAULT_RERANK, ValueRerank
from agent_sdk.agent.step import AUTO_THRESHOLD, decode_calls, tool_response_text
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.errors import UserError
from agent_sdk.runtime.engine import Engine, Generation
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.tools import Tool, ToolRegistry, ToolResult

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentResult",
    "FinalAnswer",
    "ModelOutputError",
    "TokenDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolResultEvent",
]

TOOL_CHOICES = ("auto", "required", "none")


@dataclass(frozen=True)
class ToolCall:
    """A call the model made.

    Attributes:
        name: Tool name.
        arguments: Arguments (validated when constrained).
        id: Call id, unique in the conversation.
    """

    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "arguments"}``."""
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class TokenDelta:
    """Text streamed from the model (answer text, or call text when ``show_calls``)."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """The model called a tool (before it runs)."""

    call: ToolCall


@dataclass(frozen=True)
class ToolResultEvent:
    """A tool returned (or failed); the result goes back to the model."""

    call: ToolCall
    result: ToolResult


@dataclass(frozen=True)
class ModelOutputError:
    """The model's output could not be used (unconstrained, malformed call)."""

    message: str
    raw: str


@dataclass(frozen=True)
class FinalAnswer:
    """The answer text; the run ends after it."""

    text: str
    result: AgentResult


AgentEvent = TokenDelta | ToolCallEvent | ToolResultEvent | ModelOutputError | FinalAnswer


@dataclass
class AgentResult:
    """Everything a run produced.

    Attributes:
        text: The final answer.
        calls: Calls executed, in order, with their results.
        steps: Model steps taken.
        stats: Token counts and timings summed over steps.
        errors: Model output errors seen (unconstrained mode).
    """

    text: str
    calls: list[tuple[ToolCall, ToolResult]]
    steps: int
    stats: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    def calls_json(self) -> list[dict[str, Any]]:
        """The executed calls as ``[{"name", "arguments"}]`` (``--json`` output)."""
        return [c.to_dict() for c, _ in self.calls]


class Agent:
    """A tool-using agent over a local engine.

    Args:
        engine: The runtime engine, or an :class:`OpenAIBackend` for a
            remote OpenAI-compatible server.
        tools: ``@tool`` functions, :class:`Tool` objects or a registry.
        system: Instructions placed before the tool descriptions.
        tool_choice: ``auto``, ``required``, ``none`` or a tool name, for the
            first step of each run; later steps use ``followup_choice``.
        followup_choice: Choice after tool results (default ``none``: answer
            from the results; ``auto`` allows chains of calls).
        constrain: Decode calls under the tools' grammar (default True).
        parallel_calls: Allow several calls in one step.
        max_steps: Most model steps per run.
        max_tokens: Most tokens per model step.
        sampling: Sampling parameters for answers (calls are greedy).
        auto_threshold: :func:`~agent_sdk.agent.step.call_score` a call needs in ``auto``.
        parallel_bias: Nats by which another parallel call must beat ending.
        value_bias: How strongly calls favour argument values copied from
            the user's request (:class:`~agent_sdk.agent.copy_bias.ValueBias`;
            its defaults were chosen on BFCL's development split); None
            disables it.
        rerank: Re-rank argument values by the whole value's likelihood
            against the request's spans and numbers
            (:class:`~agent_sdk.agent.rerank.ValueRerank`); None keeps
            the greedy values.
        answer_prefix: How an answer after tool results starts (``{tools}``
            is replaced by the tools' names); None lets the model start.
        confirm: Asked before running a ``requires_confirmation`` tool;
            returns True to run it. Without it such tools are refused.
    """

    def __init__(
        self,
        engine: Engine | OpenAIBackend,
        *,
        tools: ToolRegistry | Sequence[Tool | Callable[..., Any]] = (),
        system: str | None = None,
        tool_choice: str = "auto",
        followup_choice: str = "none",
        constrain: bool = True,
        parallel_calls: bool = True,
        max_steps: int = 4,
        max_tokens: int = 256,
        sampling: SamplingParams | None = None,
        auto_threshold: float = AUTO_THRESHOLD,
        parallel_bias: float = 2.0,
        value_bias: ValueBias | None = DEFAULT_VALUE_BIAS,
        rerank: ValueRerank | None = DEFAULT_RERANK,
        answer_prefix: str | None = "According to {tools}, ",
        confirm: Callable[[ToolCall], bool] | None = None,
    ) -> None:
        self.engine = engine
        if isinstance(tools, ToolRegistry):
            self.registry = tools
        else:
            self.registry = ToolRegistry()
            for t in tools:
                self.registry.register(t)
        self.system = system
        self._check_choice(tool_choice)
        self._check_choice(followup_choice)
        self.tool_choice = tool_choice
        self.followup_choice = followup_choice
        self.constrain = constrain
        self.parallel_calls = parallel_calls
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.sampling = sampling or SamplingParams(max_tokens=max_tokens)
        self.auto_threshold = auto_threshold
        self.parallel_bias = parallel_bias
        self.value_bias = value_bias
        self.rerank = rerank
        self.answer_prefix = answer_prefix
        self.confirm = confirm
        self.messages: list[dict[str, Any]] = []
        self.last_stats: dict[str, Any] = {}
        self._grammar: GrammarEngine | None = None

    # ---------------------------------------------------------------- setup

    def _check_choice(self, choice: str) -> None:
        if choice not in TOOL_CHOICES and choice not in self.registry:
            raise UserError(f"tool_choice must be auto, required, none or a tool name; got {choice!r}")

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        """The tools as ``{"name", "description", "parameters"}`` dicts."""
        return [t["function"] for t in self.registry.to_openai()]

    def system_message(self) -> dict[str, Any]:
        """The static first message (instructions + tools): prefilled once, reused."""
        return {"role": "system", "content": system_prompt(self.tool_specs, self.system)}

    def reset(self) -> None:
        """Forgets the conversation (the engine keeps the cached system prefix)."""
        self.messages = []

    def warm(self) -> int:
        """Prefills the static prefix now, so the first question is answered faster."""
        engine = self._local()
        tok = engine.tokenizer
        text = tok.apply_chat_template([self.system_message()], add_generation_prompt=False)
        return engine.warm(tok.encode(text))

    def _local(self) -> Engine:
        """The local engine (the remote backend has its own loop, :meth:`_stream_remote`)."""
        if isinstance(self.engine, OpenAIBackend):
            raise UserError("this needs a local Engine; the agent runs over a remote OpenAI-compatible server")
        return self.engine

    def _grammar_engine(self) -> GrammarEngine:
        if self._grammar is None:
            self._grammar = GrammarEngine.for_engine(self.engine)
        return self._grammar

    # ------------------------------------------------------------------ run

    def run(self, prompt: str, *, tool_choice: str | None = None) -> AgentResult:
        """Runs one user turn to its final answer."""
        final = None
        for ev in self.stream(prompt, tool_choice=tool_choice):
            if isinstance(ev, FinalAnswer):
                final = ev.result
        assert final is not None
        return final

    def stream(self, prompt: str, *, tool_choice: str | None = None) -> Iterator[AgentEvent]:
        """Runs one user turn, yielding events as they happen.

        Args:
            prompt: The user's message.
            tool_choice: Overrides the agent's choice for this turn's first step.
        """
        choice = tool_choice or self.tool_choice
        self._check_choice(choice)
        if isinstance(self.engine, OpenAIBackend):
            yield from self._stream_remote(prompt, choice)
            return
        self.messages.append({"role": "user", "content": prompt})
        executed: list[tuple[ToolCall, ToolResult]] = []
        errors: list[str] = []
        totals = {"prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": 0, "forced_tokens": 0, "model_seconds": 0.0}
        steps = 0
        text = ""
        calls: list[ToolCall]
        gen: Generation | None
        while steps < self.max_steps:
            steps += 1
            if not self.registry or choice == "none" or (choice != "auto" and not self.registry):
                calls, gen = [], None
            else:
                calls, gen = self._try_calls(choice, totals)
            if not calls:
                text_gen = None
                for item in self._answer(totals):
                    if isinstance(item, str):
                        yield TokenDelta(item)
                    else:
                        text_gen = item
                assert text_gen is not None
                text = text_gen.text.strip()
                parsed = parse_calls(text, known_tools=set(self.registry.names)) if not self.constrain and self.registry else None
                if parsed is not None and parsed.calls and choice != "none":
                    calls = [ToolCall(c.name, dict(c.arguments)) for c in parsed.calls]
                    self.messages.append({"role": "assistant", "content": text})
                elif parsed is not None and parsed.errors and self.registry and choice != "none":
                    for e in parsed.errors:
                        errors.append(e.message)
                        yield ModelOutputError(e.message, e.raw)
                    self.messages.append({"role": "assistant", "content": text})
                    break
                else:
                    self.messages.append({"role": "assistant", "content": text})
                    break
            else:
                assert gen is not None
                self.messages.append({"role": "assistant", "content": gen.text.strip()})
            for call in calls:
                yield ToolCallEvent(call)
                outcome = self._execute(call)
                executed.append((call, outcome))
                yield ToolResultEvent(call, outcome)
                content = tool_response_text(outcome.to_message())
                self.messages.append({"role": "tool", "name": call.name, "content": content})
            choice = self.followup_choice
            text = ""
        result = AgentResult(text=text, calls=executed, steps=steps, stats=totals, errors=errors)
        self.last_stats = totals
        yield FinalAnswer(text, result)

    def _stream_remote(self, prompt: str, choice: str) -> Iterator[AgentEvent]:
        """The loop over a remote server: it renders tools and (maybe) constrains calls."""
        assert isinstance(self.engine, OpenAIBackend)
        backend = self.engine
        if not self.messages and self.system:
            self.messages.append({"role": "system", "content": self.system})
        self.messages.append({"role": "user", "content": prompt})
        executed: list[tuple[ToolCall, ToolResult]] = []
        totals: dict[str, Any] = {"prompt_tokens": 0, "generated_tokens": 0, "model_seconds": 0.0}
        errors: list[str] = []
        text = ""
        steps = 0
        tools = self.registry.to_openai() if len(self.registry) else None
        while steps < self.max_steps:
            steps += 1
            reply = backend.chat(self.messages, tools=tools, tool_choice=choice)
            totals["prompt_tokens"] += int(reply.usage.get("prompt_tokens", 0))
            totals["generated_tokens"] += int(reply.usage.get("completion_tokens", 0))
            totals["model_seconds"] += reply.seconds
            calls = [(cid, name, args) for cid, name, args in reply.calls]
            if not calls and reply.text and tools and choice != "none":
                parsed = parse_calls(reply.text, known_tools=set(self.registry.names))
                calls = [("", c.name, dict(c.arguments)) for c in parsed.calls]
            if not calls:
                text = reply.text.strip()
                if text:
                    yield TokenDelta(text)
                self.messages.append({"role": "assistant", "content": reply.text})
                break
            msg = dict(reply.raw_message)
            msg.setdefault("role", "assistant")
            if not msg.get("tool_calls"):
                msg["tool_calls"] = [
                    {"id": cid or f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                    for i, (cid, n, a) in enumerate(calls)
                ]
            self.messages.append(msg)
            for i, (cid, name, args) in enumerate(calls):
                call_id = cid or msg["tool_calls"][i]["id"]
                call = ToolCall(name, args if isinstance(args, dict) else {"_raw": args}, id=call_id)
                yield ToolCallEvent(call)
                if not isinstance(args, dict):
                    result = ToolResult(name=name, arguments={}, ok=False, error="arguments are not a JSON object")
                    errors.append(f"{name}: arguments are not a JSON object")
                else:
                    result = self._execute(call)
                executed.append((call, result))
                yield ToolResultEvent(call, result)
                self.messages.append({"role": "tool", "tool_call_id": call_id, "content": result.to_message()})
            choice = self.followup_choice
        result_obj = AgentResult(text=text, calls=executed, steps=steps, stats=totals, errors=errors)
        self.last_stats = totals
        yield FinalAnswer(text, result_obj)

    # ---------------------------------------------------------------- steps

    def first_step_calls(self, prompt: str, *, tool_choice: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        """One model step without running any tool: the calls it makes (for evaluation).

        Returns:
            ``([{"name", "arguments"}], valid)`` where ``valid`` says every call
            names a known tool and its arguments validate (always true when
            constrained; for free text, whether it parsed cleanly).
        """
        choice = tool_choice or self.tool_choice
        self._check_choice(choice)
        self.messages.append({"role": "user", "content": prompt})
        totals: dict[str, Any] = {"prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": 0, "forced_tokens": 0, "model_seconds": 0.0}
        calls: list[ToolCall] = []
        errors = 0
        if self.constrain and choice != "none" and len(self.registry):
            calls, _ = self._try_calls(choice, totals)
        # Constrained: the decision is made without writing the answer text
        # (evaluation scores calls only). Free-running: the text is the output.
        if not self.constrain and choice != "none":
            text = ""
            for item in self._answer(totals):
                if isinstance(item, Generation):
                    text = item.text
            if text:
                parsed = parse_calls(text, known_tools=set(self.registry.names))
                calls = [ToolCall(c.name, dict(c.arguments)) for c in parsed.calls]
                errors = len(parsed.errors)
        valid = errors == 0
        for c in calls:
            try:
                self.registry.validate(c.name, c.arguments)
            except Exception:
                valid = False
        totals["attempted_call"] = bool(calls) or errors > 0
        self.last_stats = totals
        return [c.to_dict() for c in calls], valid and bool(calls)

    def bias_options(self, request: str) -> dict[str, Any]:
        """The argument-value biases of a call step for ``request`` (keywords of ``decode_calls``)."""
        return {"copy_from": request, "value_bias": self.value_bias, "rerank": self.rerank}

    def _last_request(self) -> str:
        """The latest user message: argument values are copied from it."""
        for m in reversed(self.messages):
            if m["role"] == "user":
                return str(m.get("content") or "")
        return ""

    def _prompt_text(self) -> str:
        msgs = [self.system_message(), *self.messages]
        return self._local().tokenizer.apply_chat_template(_for_template(msgs), add_generation_prompt=True)

    def _prompt_ids(self) -> list[int]:
        return self._local().tokenizer.encode(self._prompt_text())

    def _account(self, gen: Generation, totals: dict[str, Any], seconds: float) -> None:
        st = gen.stats
        totals["prompt_tokens"] += st.prompt_tokens
        totals["cached_tokens"] += st.cached_tokens
        totals["generated_tokens"] += st.generated_tokens
        totals["forced_tokens"] += st.forced_tokens
        totals["model_seconds"] += seconds
        # For front ends' status lines: time split, decode speed, and what the window holds now.
        totals["prefill_s"] = totals.get("prefill_s", 0.0) + st.prefill_s
        totals["decode_s"] = totals.get("decode_s", 0.0) + st.decode_s
        totals["decode_tokens"] = totals.get("decode_tokens", 0) + max(st.generated_tokens - 1, 0)
        totals["context_tokens"] = st.prompt_tokens + st.generated_tokens
        totals.setdefault("ttft_ms", st.ttft_ms)  # the run's first model token

    def _try_calls(self, choice: str, totals: dict[str, Any]) -> tuple[list[ToolCall], Generation | None]:
        """Decodes a constrained call; in ``auto`` keeps it only if likely enough."""
        if not self.constrain:
            if choice == "auto" or choice == "none":
                return [], None
            # Unconstrained "required": let the model write, then parse.
            return [], None
        step = decode_calls(
            self._local(), self._prompt_ids(), self.tool_specs, choice=choice, max_tokens=self.max_tokens,
            parallel=self.parallel_calls, parallel_bias=self.parallel_bias, auto_threshold=self.auto_threshold,
            grammar_engine=self._grammar_engine(), **self.bias_options(self._last_request()),
        )
        self._account(step.generation, totals, step.seconds)
        if step.score is not None:
            totals["auto_score"] = step.score
        if not step.calls:  # declined in auto, or truncated by max_tokens
            return [], None
        return [ToolCall(name, args) for name, args in step.calls], step.generation

    def _answer_prefix(self) -> str:
        """The start of an answer that follows successful tool results.

        Small models often answer "The weather in Paris." and drop the value
        the tool returned; starting the answer from the results' source
        ("According to get_weather, ") grounds it (on SmolLM2-135M the value
        appears where it otherwise did not).
        """
        if not self.answer_prefix or not self.messages or self.messages[-1]["role"] != "tool":
            return ""
        names = []
        for m in reversed(self.messages):
            if m["role"] != "tool":
                break
            if "Error:" in m["content"][:40]:
                return ""  # let the model explain a failure in its own words
            names.append(m.get("name", "the tool"))
        names = list(dict.fromkeys(reversed(names)))
        return self.answer_prefix.format(tools=" and ".join(names))

    def _answer(self, totals: dict[str, Any]) -> Iterator[str | Generation]:
        # Without its trailing space: the model writes " Paris" as one token,
        # after a bare space it goes astray (a new line, a repeated space).
        prefix = self._answer_prefix().rstrip()
        ids = self._local().tokenizer.encode(self._prompt_text() + prefix)
        t0 = time.perf_counter()
        if prefix:
            yield prefix
        stream = self._local().stream(ids, self.sampling)
        for ev in stream:
            if ev.text:
                yield ev.text
        assert stream.result is not None
        self._account(stream.result, totals, time.perf_counter() - t0)
        if prefix:
            stream.result.text = prefix + stream.result.text
        yield stream.result

    def _execute(self, call: ToolCall) -> ToolResult:
        tool = self.registry.get(call.name) if call.name in self.registry else None
        if tool is not None and tool.requires_confirmation:
            if self.confirm is None or not self.confirm(call):
                return ToolResult(name=call.name, arguments=call.arguments, ok=False,
                                  error="the user declined to run this tool", content=None, elapsed_s=0.0)
        return self.registry.execute_sync(call.name, call.arguments)


def _for_template(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the plain role/content form every chat template renders."""
    out = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "content": m["content"]})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    return out


