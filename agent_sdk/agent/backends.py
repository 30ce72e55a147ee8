"""What the agent loop runs a model step on: a local engine or a remote server.

A :class:`Backend` takes the conversation (OpenAI messages), the tools and
the call policy and makes one model step: either calls or an answer, with
answer text streamed as :class:`~agent_sdk.agent.events.TokenDelta` events.
:class:`LocalBackend` renders the conversation in the model's call format
and decodes calls under the tools' grammar; the remote
:class:`~agent_sdk.agent.remote.OpenAIBackend` sends it to an
OpenAI-compatible server. The agent loop (:class:`~agent_sdk.agent.agent.Agent`)
and the evaluation (:mod:`agent_sdk.eval`) both run model steps through this
interface.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agent_sdk.agent.call_format import CallFormat, with_stop_texts
from agent_sdk.agent.conversation import answered_calls, assistant_message, last_request, render_messages, with_request
from agent_sdk.agent.events import ModelOutputError, RunStats, TokenDelta, ToolCall
from agent_sdk.agent.format_choice import native_call_format
from agent_sdk.agent.parsing import parse_calls
from agent_sdk.agent.policy import CallPolicy
from agent_sdk.agent.prompting import (
    TunedTools,
    bundle_tool_listing,
    bundle_tuned_tools,
    changed_tools,
    system_message,
)
from agent_sdk.agent.step import decode_calls
from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.schema_repair import usable_tools
from agent_sdk.errors import ToolSchemaWarning, TunedToolWarning
from agent_sdk.runtime.engine import Engine
from agent_sdk.runtime.phases import phase
from agent_sdk.runtime.sampler import SamplingParams

__all__ = ["Backend", "LocalBackend", "StepRequest", "StepResult", "StepStream", "run_step"]


@dataclass
class StepResult:
    """One model step: calls to run, or an answer.

    Attributes:
        calls: Calls to run (empty: ``text`` is the answer).
        text: The answer text (empty when calling).
        message: The assistant message to append to the conversation.
        stats: The step's token counts and timings.
        errors: Calls that could not be read (free-running models only).
        rejected: Call id -> why it must not run (arguments that are not an object).
        attempted: The model wrote a call, kept or not (``auto`` may decline it).
        declined: A call was decoded but not kept (``auto``).
        schema_warnings: Tools left out of this step (their schema cannot be constrained), and why.
    """

    calls: list[ToolCall]
    text: str
    message: dict[str, Any]
    stats: RunStats
    errors: list[ModelOutputError] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    attempted: bool = False
    declined: bool = False
    schema_warnings: list[str] = field(default_factory=list)


StepStream = Generator[TokenDelta, None, StepResult]


@dataclass(frozen=True)
class StepRequest:
    """What one model step is asked.

    Attributes:
        messages: The conversation so far (OpenAI form, no leading system message).
        tools: ``{"name", "description", "parameters"}`` dicts offered.
        policy: The call policy (its ``tool_choice`` for this step).
        max_tokens: Most tokens for the step.
        system: Instructions placed before the tools.
        sampling: Sampling for answer text (calls are greedy).
        answer: Write the answer text when no call is made (False: stop
            after the call decision, as evaluation does).
        answer_prefix: How the answer starts (a local model continues it).
    """

    messages: Sequence[dict[str, Any]]
    tools: Sequence[dict[str, Any]]
    policy: CallPolicy
    max_tokens: int
    system: str | None = None
    sampling: SamplingParams | None = None
    answer: bool = True
    answer_prefix: str = ""


@runtime_checkable
class Backend(Protocol):
    """Runs one model step of a conversation."""

    def step(self, request: StepRequest) -> StepStream:
        """Yields answer text as it comes; returns the step's :class:`StepResult`."""
        ...


def run_step(stream: StepStream) -> StepResult:
    """Runs a step to its end, dropping the streamed text (it is in the result)."""
    while True:
        try:
            next(stream)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _caller_outside_sdk() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside agent_sdk (from the function that warns).

    The warning then names the user's line whether it came through ``Agent.run``, ``Agent.warm`` or
    ``Agent.system_message``.
    """
    frame = sys._getframe(2)  # the caller of the function that warns: stacklevel 2
    level = 2
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).partition(".")[0] == "agent_sdk":
        frame = frame.f_back
        level += 1
    return level


class LocalBackend:
    """Model steps on a local :class:`~agent_sdk.runtime.engine.Engine`.

    Args:
        engine: The runtime engine.
        constrain: Decode calls under the tools' grammar (False: the model
            writes freely and its calls are parsed).
        call_format: How the model writes calls (default: the one its vocabulary
            was trained on, :func:`~agent_sdk.agent.format_choice.native_call_format`).
    """

    def __init__(self, engine: Engine, *, constrain: bool = True, call_format: CallFormat | None = None) -> None:
        self.engine = engine
        self.constrain = constrain
        self._call_format = call_format
        # A tuned bundle says how it expects its tools listed (its manifest's "prompt").
        self.tool_listing = bundle_tool_listing(getattr(engine, "manifest", None))
        # Tools it was not tuned on are listed in full whatever its listing (the model knows nothing else of them).
        self.tuned_tools = bundle_tuned_tools(getattr(engine, "manifest", None))
        self._warned_changed: set[str] = set()
        self._grammar: GrammarEngine | None = None

    @property
    def call_format(self) -> CallFormat:
        """How the model writes calls: the one given, else the one its vocabulary was trained on."""
        if self._call_format is None:
            self._call_format = native_call_format(self.engine.tokenizer)
        return self._call_format

    def system_message(self, tools: Sequence[dict[str, Any]], system: str | None) -> dict[str, str]:
        """The static first message, as this model expects it.

        A tool the bundle was tuned on that has changed since is listed in full, with a
        :class:`~agent_sdk.errors.TunedToolWarning` the first time this backend sees it changed.
        """
        tuned: TunedTools | None = self.tuned_tools
        if isinstance(tuned, Mapping):  # digests recorded: compare each tool's once, here
            changed = changed_tools(tools, tuned)
            for name in changed:
                if name not in self._warned_changed:
                    self._warned_changed.add(name)
                    warnings.warn(f"tool {name!r} has changed since this bundle was tuned (its description or "
                                  f"schema): it is listed in full, and the tuned model may not call it as it is now; "
                                  f"retune (agent-sdk tune) to teach it", TunedToolWarning,
                                  stacklevel=_caller_outside_sdk())
            tuned = frozenset(tuned) - set(changed)  # the rest are as learned: listed as the bundle lists them
        return system_message(tools, system, call_format=self.call_format, tool_listing=self.tool_listing,
                              tuned_tools=tuned)

    @property
    def grammar_engine(self) -> GrammarEngine:
        """The engine's grammar engine (built on first use)."""
        if self._grammar is None:
            self._grammar = GrammarEngine.for_engine(self.engine)
        return self._grammar

    def prompt_text(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], system: str | None) -> str:
        """The conversation as the model reads it, ending with the assistant header."""
        rendered = [self.system_message(tools, system), *render_messages(messages, self.call_format)]
        # enable_thinking=False: Qwen3's template then closes an empty think block, so a call starts at once
        # (other templates ignore the variable).
        return str(self.engine.tokenizer.apply_chat_template(rendered, add_generation_prompt=True, enable_thinking=False))

    def warm(self, tools: Sequence[dict[str, Any]], system: str | None) -> int:
        """Prefills the static prefix (instructions and tools) now; returns its tokens."""
        tok = self.engine.tokenizer
        text = tok.apply_chat_template([self.system_message(tools, system)],
                                       add_generation_prompt=False, enable_thinking=False)
        return self.engine.warm(tok.encode(text))

    def step(self, request: StepRequest) -> StepStream:
        """See :meth:`Backend.step`."""
        messages, tools, max_tokens = request.messages, request.tools, request.max_tokens
        # a tuned bundle's threshold (and call probe)
        policy = request.policy.for_bundle(getattr(self.engine, "manifest", None),
                                           bundle=getattr(self.engine, "path", None))
        tok = self.engine.tokenizer
        choice = policy.tool_choice
        schema_warnings: list[str] = []
        with phase("prompt"):
            if tools and choice != "none" and self.constrain:
                # Tools whose schema the grammar engine refuses are left out of the prompt and the grammar alike.
                tools, schema_warnings = usable_tools(self.grammar_engine, tools, strict=policy.strict_tools)
                for problem in schema_warnings:
                    warnings.warn(problem, ToolSchemaWarning, stacklevel=2)
                if not tools:
                    raise GrammarError(
                        "no tool can be constrained by the grammar engine: " + "; ".join(schema_warnings)
                    )
            prompt = self.prompt_text(messages, tools, request.system)
            prompt_ids = tok.encode(prompt)
        stats = RunStats(steps=1)
        attempted = declined = False
        if tools and choice != "none" and self.constrain:
            step = decode_calls(
                self.engine, prompt_ids, tools, policy=policy, max_tokens=max_tokens,
                request=last_request(messages), answered=answered_calls(messages) if policy.skip_answered else (),
                grammar_engine=self.grammar_engine, call_format=self.call_format,
                ask=lambda clause: tok.encode(self.prompt_text(with_request(messages, clause), tools, request.system)),
            )
            stats.add_generation(step.generation.stats, step.seconds)
            if step.follow_up is not None:
                stats.add_generation(step.follow_up.stats, 0.0)  # its time is in step.seconds
            stats.auto_score, stats.auto_tools = step.score, step.scored_tools
            attempted, declined = step.attempted, step.declined
            if step.calls:
                calls = [ToolCall(name, args) for name, args in step.calls]
                message = assistant_message("", [(c.id, c.name, c.arguments) for c in calls])
                return StepResult(calls, "", message, stats, attempted=True, schema_warnings=schema_warnings)
            # declined in auto, or a required call cut short by max_tokens: answer in text
        if not request.answer:
            return StepResult([], "", assistant_message(""), stats, attempted=attempted, declined=declined,
                              schema_warnings=schema_warnings)
        # Without its trailing space: the model writes " Paris" as one token,
        # after a bare space it goes astray (a new line, a repeated space).
        prefix = request.answer_prefix.rstrip()
        params = request.sampling or SamplingParams(max_tokens=max_tokens)
        if tools and choice != "none":
            params = with_stop_texts(params, self.call_format.stop_texts)
        t0 = time.perf_counter()
        if prefix:
            yield TokenDelta(prefix)
        stream = self.engine.stream(tok.encode(prompt + prefix), params)
        for ev in stream:
            if ev.text:
                yield TokenDelta(ev.text)
        assert stream.result is not None
        stats.add_generation(stream.result.stats, time.perf_counter() - t0)
        text = (prefix + stream.result.text).strip()
        if tools and choice != "none" and not self.constrain:
            known = {t["name"] for t in tools}
            parsed = (parse_calls(text, known_tools=known, call_format=self.call_format) if self.call_format.json_arguments
                      else self.call_format.parse(text, known_tools=known))  # a syntax of its own (FunctionGemma)
            if parsed.calls:
                calls = [ToolCall(c.name, dict(c.arguments)) for c in parsed.calls]
                return StepResult(calls, "", {"role": "assistant", "content": text}, stats, attempted=True)
            if parsed.errors:
                errors = [ModelOutputError(e.message, e.raw) for e in parsed.errors]
                return StepResult([], text, {"role": "assistant", "content": text}, stats, errors=errors,
                                  attempted=True)
        return StepResult([], text, assistant_message(text), stats, attempted=attempted, declined=declined,
                          schema_warnings=schema_warnings)
