"""The agent loop: prompt → (tool calls → results)* → answer, as typed events.

Each step the model either calls tools or answers, through a
:class:`~agent_sdk.agent.backends.Backend` (a local engine, or a remote
OpenAI-compatible server). Locally, with constraints on (the default), a
call is decoded under a grammar built from the tools' JSON schemas, so every
call parses and validates by construction; how calls are decided, biased and
refined is the agent's :class:`~agent_sdk.agent.policy.CallPolicy`.
``tool_choice`` is ``auto`` (the agent decides), ``required`` (a call
first), ``none`` (text only) or a tool name. Tool errors, invalid arguments
and declined confirmations go back to the model as observations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from agent_sdk.agent.backends import Backend, LocalBackend, StepRequest
from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.events import (
    AgentEvent,
    AgentResult,
    FinalAnswer,
    RunStats,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.agent.policy import DEFAULT_POLICY, TOOL_CHOICES, CallPolicy
from agent_sdk.agent.prompting import system_message
from agent_sdk.agent.retrieval import ToolRetrieval
from agent_sdk.errors import ToolSchemaWarning, UserError
from agent_sdk.runtime.engine import Engine
from agent_sdk.runtime.phases import phase
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.tools import Tool, ToolRegistry, ToolResult

if TYPE_CHECKING:
    from typing_extensions import Self

    from agent_sdk.mcp import MCPServerConfig, MCPToolset

__all__ = ["DEFAULT_ANSWER_PREFIX", "DEFAULT_MAX_TOKENS", "Agent"]


class _Default:
    """The type of a keyword's "not given" marker, where None means something else."""


_DEFAULT = _Default()

# Most tokens one model step writes: BFCL's longest correct calls take ~150.
DEFAULT_MAX_TOKENS = 256

# Small models often answer "The weather in Paris." and drop the value the tool
# returned; starting the answer from the results' source grounds it (on
# SmolLM2-135M the value appears where it otherwise did not).
DEFAULT_ANSWER_PREFIX = "According to {tools}, "


class Agent:
    """A tool-using agent over a local engine or a remote server.

    Args:
        engine: The runtime engine, or a backend (e.g.
            :class:`~agent_sdk.agent.remote.OpenAIBackend` for a remote
            OpenAI-compatible server).
        tools: ``@tool`` functions, :class:`Tool` objects or a registry.
        mcp: MCP servers whose tools join ``tools``: command lines (stdio),
            ``http(s)://`` URLs (streamable HTTP) or
            :class:`~agent_sdk.mcp.MCPServerConfig` s, connected now and
            stopped by :meth:`close` (or leaving ``with Agent(...)``); or an
            open :class:`~agent_sdk.mcp.MCPToolset`, which stays its
            owner's to close. A tool named like one in ``tools`` (or of an
            earlier server) is renamed ``<server>_<name>``, with a warning
            (docs/mcp.md). Raises :class:`~agent_sdk.errors.MCPConnectionError`
            when a server cannot be used; needs ``pip install 'agent-sdk[mcp]'``.
        system: Instructions placed before the tool descriptions.
        policy: How calls are decided, decoded and refined (default:
            :data:`~agent_sdk.agent.policy.DEFAULT_POLICY`).
        tool_choice: Overrides the policy's ``tool_choice`` for the first
            step of each run; later steps use ``followup_choice``.
        followup_choice: Choice after tool results (default ``none``: answer
            from the results; ``auto`` allows chains of calls).
        constrain: Decode calls under the tools' grammar (default True; a
            local engine only).
        max_steps: Most model steps per run.
        max_tokens: Most tokens per model step.
        sampling: Sampling parameters for answers (calls are greedy).
        answer_prefix: How an answer after tool results starts (``{tools}``
            is replaced by the tools' names); None lets the model start.
        confirm: Asked before running a ``requires_confirmation`` tool;
            returns True to run it. Without it such tools are refused.
        call_format: How the (local) model writes calls (default: the one its vocabulary was trained
            on: Qwen's `<tool_call>` tokens when it has them, else Hermes text tags).
        tool_retrieval: With more tools than its ``max_tools`` (default 8),
            each turn offers only the ``top_k`` (default 5) tools its
            retriever (default BM25) ranks highest for the request, in
            registration order (:mod:`agent_sdk.agent.retrieval`); None
            offers every tool always (the default for a bundle made by
            ``agent-sdk tune``, which learned its tools all listed, and for
            a remote backend).
    """

    def __init__(
        self,
        engine: Engine | Backend,
        *,
        tools: ToolRegistry | Sequence[Tool | Callable[..., Any]] = (),
        mcp: Sequence[str | MCPServerConfig] | MCPToolset | None = None,
        system: str | None = None,
        policy: CallPolicy | None = None,
        tool_choice: str | None = None,
        followup_choice: str = "none",
        constrain: bool = True,
        max_steps: int = 4,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        sampling: SamplingParams | None = None,
        answer_prefix: str | None = DEFAULT_ANSWER_PREFIX,
        confirm: Callable[[ToolCall], bool] | None = None,
        call_format: CallFormat | None = None,
        tool_retrieval: ToolRetrieval | None | _Default = _DEFAULT,
    ) -> None:
        self.engine = engine
        self.backend: Backend = (
            engine if isinstance(engine, Backend) and not isinstance(engine, Engine)
            else LocalBackend(engine, constrain=constrain, call_format=call_format)  # type: ignore[arg-type]
        )
        if isinstance(tools, ToolRegistry) and not mcp:
            self.registry = tools
        else:
            self.registry = ToolRegistry()
            for t in tools:
                self.registry.register(t)
        self.mcp: MCPToolset | None = None
        self._owns_mcp = False
        if mcp:
            self._add_mcp_tools(mcp)
        for name in self.registry.names:
            for note in self.registry.get(name).schema_repairs:
                warnings.warn(f"tool {name!r}: {note}", ToolSchemaWarning, stacklevel=2)
        self.system = system
        policy = policy or DEFAULT_POLICY
        if tool_choice is not None:
            policy = policy.replace(tool_choice=tool_choice)
        self._check_choice(policy.tool_choice)
        self._check_choice(followup_choice)
        self.policy = policy
        self.followup_choice = followup_choice
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.sampling = sampling or SamplingParams(max_tokens=max_tokens)
        self.answer_prefix = answer_prefix
        self.confirm = confirm
        self._call_format = call_format
        if isinstance(tool_retrieval, _Default):
            # A bundle tuned on its tools learned them with every one listed: keep its prompt.
            manifest = getattr(self.backend.engine, "manifest", None) if isinstance(self.backend, LocalBackend) else None
            tuned = "tuning" in (manifest or {})
            # A remote model is the server's business, and a large one reads many tools well.
            tool_retrieval = None if tuned or not isinstance(self.backend, LocalBackend) else ToolRetrieval()
        self.tool_retrieval = tool_retrieval
        self.last_tools: list[dict[str, Any]] | None = None  # what the last turn offered
        self._specs: tuple[tuple[str, ...], list[dict[str, Any]]] | None = None
        self.messages: list[dict[str, Any]] = []
        self.last_stats = RunStats()

    @property
    def constrain(self) -> bool:
        """Whether a local model's calls are decoded under the tools' grammar (switchable between runs)."""
        return not isinstance(self.backend, LocalBackend) or self.backend.constrain

    @constrain.setter
    def constrain(self, value: bool) -> None:
        if not isinstance(self.backend, LocalBackend):
            raise UserError("constrained decoding is the remote server's to decide")
        self.backend.constrain = bool(value)

    @property
    def tool_choice(self) -> str:
        """The first step's choice (the policy's)."""
        return self.policy.tool_choice

    # ---------------------------------------------------------------- setup

    @property
    def call_format(self) -> CallFormat:
        """How the model writes calls (a local model's: its backend's, see :class:`LocalBackend`)."""
        if isinstance(self.backend, LocalBackend):
            return self.backend.call_format
        return self._call_format if self._call_format is not None else HERMES

    def _check_choice(self, choice: str) -> None:
        if choice not in TOOL_CHOICES and choice not in self.registry:
            raise UserError(f"tool_choice must be auto, required, none or a tool name; got {choice!r}")

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        """The tools as ``{"name", "description", "parameters"}`` dicts (rebuilt when tools are registered)."""
        names = tuple(self.registry.names)
        if self._specs is None or self._specs[0] != names:
            self._specs = (names, [t["function"] for t in self.registry.to_openai()])
        return self._specs[1]

    def tools_for(self, request: str, *, choice: str | None = None) -> list[dict[str, Any]]:
        """The tools offered for ``request``: every tool, or those retrieval picks when there are many.

        Beyond the retriever's picks, retrieval always offers the tools a
        choice names (``choice`` and the agent's ``followup_choice``) and
        those already called in this conversation, so a follow-up turn
        ("and in Oslo?") can call them again.

        Args:
            request: The user's message.
            choice: The turn's ``tool_choice``; a tool name is always offered.
        """
        tools = self.tool_specs
        if self.tool_retrieval is None:
            return tools
        keep = {c for c in (choice, self.followup_choice, self.policy.tool_choice) if c and c in self.registry}
        for m in self.messages:
            for call in m.get("tool_calls") or ():
                keep.add(str((call.get("function") or {}).get("name", "")))
        return self.tool_retrieval.select(request, tools, keep=keep)

    def system_message(self, request: str | None = None) -> dict[str, Any]:
        """The first message: the instructions and the tools offered.

        Args:
            request: Whose tools to list (with retrieval); default: the last
                turn's, as the model saw them (every tool before any turn,
                or without retrieval).
        """
        if request is not None:
            tools = self.tools_for(request)
        elif self.last_tools is not None:
            tools = self.last_tools
        else:
            tools = self.tool_specs
        if isinstance(self.backend, LocalBackend):
            return self.backend.system_message(tools, self.system)
        return system_message(tools, self.system, call_format=self.call_format)

    def reset(self) -> None:
        """Forgets the conversation (the engine keeps the cached system prefix)."""
        self.messages = []
        self.last_tools = None

    def warm(self) -> int:
        """Prefills the static prefix now, so the first question is answered faster."""
        if not isinstance(self.backend, LocalBackend):
            raise UserError("warm() needs a local Engine; the agent runs over a remote server")
        # With retrieval only the instructions are common to every request's prompt; the
        # tools listed after them are the first registered ones (what a request matching none gets).
        return self.backend.warm(self.tools_for(""), self.system)

    def _add_mcp_tools(self, mcp: Sequence[str | MCPServerConfig] | MCPToolset) -> None:
        from agent_sdk.mcp import MCPToolset

        if isinstance(mcp, MCPToolset):
            self.mcp = mcp
        else:
            self.mcp = MCPToolset(mcp, reserved_names=self.registry.names)
            self._owns_mcp = True
        try:
            for t in self.mcp.tools:
                self.registry.register(t)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stops the MCP servers the agent started (idempotent; a no-op without any)."""
        if self.mcp is not None and self._owns_mcp:
            self.mcp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        choice = tool_choice or self.policy.tool_choice
        self._check_choice(choice)
        self.messages.append({"role": "user", "content": prompt})
        with phase("retrieval"):
            tools = self.tools_for(prompt, choice=choice)
        self.last_tools = tools
        executed: list[tuple[ToolCall, ToolResult]] = []
        errors: list[str] = []
        stats = RunStats()
        text = ""
        while stats.steps < self.max_steps:
            policy = self.policy if choice == self.policy.tool_choice else self.policy.replace(tool_choice=choice)
            step = yield from self.backend.step(StepRequest(
                self.messages, tools, policy, self.max_tokens, system=self.system, sampling=self.sampling,
                answer_prefix=self._answer_prefix(),
            ))
            stats.add(step.stats)
            self.messages.append(step.message)
            for err in step.errors:
                errors.append(err.message)
                yield err
            if not step.calls:
                text = step.text
                break
            for call in step.calls:
                yield ToolCallEvent(call)
                reason = step.rejected.get(call.id)
                if reason is not None:
                    errors.append(f"{call.name}: {reason}")
                    outcome = ToolResult(name=call.name, arguments={}, ok=False, error=reason)
                else:
                    with phase("tool"):
                        outcome = self._execute(call)
                executed.append((call, outcome))
                yield ToolResultEvent(call, outcome)
                self.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": outcome.to_message()}
                )
            choice = self.followup_choice
            text = ""
        result = AgentResult(text=text, calls=executed, steps=stats.steps, stats=stats, errors=errors)
        self.last_stats = stats
        yield FinalAnswer(text, result)

    # ---------------------------------------------------------------- steps

    def _answer_prefix(self) -> str:
        """The start of an answer that follows successful tool results ("According to get_weather, ")."""
        if not self.answer_prefix or not self.messages or self.messages[-1]["role"] != "tool":
            return ""
        names = []
        for m in reversed(self.messages):
            if m["role"] != "tool":
                break
            if str(m.get("content") or "").startswith("Error:"):
                return ""  # let the model explain a failure in its own words
            names.append(m.get("name") or "the tool")
        names = list(dict.fromkeys(reversed(names)))
        return self.answer_prefix.format(tools=" and ".join(names))

    def _execute(self, call: ToolCall) -> ToolResult:
        tool = self.registry.get(call.name) if call.name in self.registry else None
        if tool is not None and tool.requires_confirmation:
            if self.confirm is None or not self.confirm(call):
                return ToolResult(name=call.name, arguments=call.arguments, ok=False,
                                  error="the user declined to run this tool", content=None, elapsed_s=0.0)
        return self.registry.execute_sync(call.name, call.arguments)
