"""What an agent run yields and returns: calls, typed events, run statistics."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from agent_sdk.runtime.engine import GenerationStats
from agent_sdk.tools import ToolResult

__all__ = [
    "AgentEvent", "AgentResult", "FinalAnswer", "ModelOutputError", "RunStats", "TokenDelta", "ToolCall",
    "ToolCallEvent", "ToolResultEvent",
]


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
    """Text streamed from the model (the answer)."""

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


@dataclass
class RunStats:
    """Token counts and timings, summed over a run's model steps.

    Attributes:
        prompt_tokens: Prompt tokens over all steps (cached ones included).
        cached_tokens: Prompt tokens reused from the KV cache.
        generated_tokens: Tokens generated (calls and answers).
        forced_tokens: Generated tokens fed by jump-forward (fixed by the grammar).
        model_seconds: Wall time in the model (generation, re-ranking).
        prefill_s: Time spent prefilling.
        decode_s: Time spent decoding.
        decode_tokens: Tokens decoded one by one (the first of each step comes from prefill).
        context_tokens: What the context window holds after the last step.
        ttft_ms: Time to the run's first model token.
        auto_score: The last ``auto`` score of a call, if one was scored.
        auto_tools: The tools the call that score was for named (the threshold it met is theirs).
        steps: Model steps taken.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    forced_tokens: int = 0
    model_seconds: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    decode_tokens: int = 0
    context_tokens: int = 0
    ttft_ms: float | None = None
    auto_score: float | None = None
    auto_tools: tuple[str, ...] = ()
    steps: int = 0

    def add_generation(self, stats: GenerationStats, seconds: float) -> None:
        """Adds one local generation's statistics."""
        self.prompt_tokens += stats.prompt_tokens
        self.cached_tokens += stats.cached_tokens
        self.generated_tokens += stats.generated_tokens
        self.forced_tokens += stats.forced_tokens
        self.model_seconds += seconds
        self.prefill_s += stats.prefill_s
        self.decode_s += stats.decode_s
        self.decode_tokens += max(stats.generated_tokens - 1, 0)
        self.context_tokens = stats.prompt_tokens + stats.generated_tokens
        if self.ttft_ms is None:
            self.ttft_ms = stats.ttft_ms

    def add(self, other: RunStats) -> None:
        """Adds another step's statistics (the later context size and score win)."""
        for name in ("prompt_tokens", "cached_tokens", "generated_tokens", "forced_tokens", "model_seconds",
                     "prefill_s", "decode_s", "decode_tokens", "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.context_tokens:
            self.context_tokens = other.context_tokens
        if self.ttft_ms is None:
            self.ttft_ms = other.ttft_ms
        if other.auto_score is not None:
            self.auto_score, self.auto_tools = other.auto_score, other.auto_tools

    @property
    def decode_tok_s(self) -> float:
        """Decode speed over the run (0.0 when nothing was decoded)."""
        return self.decode_tokens / self.decode_s if self.decode_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON output)."""
        return asdict(self)


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
    stats: RunStats
    errors: list[str] = field(default_factory=list)

    def calls_json(self) -> list[dict[str, Any]]:
        """The executed calls as ``[{"name", "arguments"}]`` (``--json`` output)."""
        return [c.to_dict() for c, _ in self.calls]

    def runs_json(self) -> list[dict[str, Any]]:
        """The executed calls with their outcomes: ``[{"name", "arguments", "ok", "result", "error"}]``."""
        return [{"name": c.name, "arguments": c.arguments, "ok": r.ok, "result": r.to_message() if r.ok else None,
                 "error": r.error} for c, r in self.calls]


@dataclass(frozen=True)
class FinalAnswer:
    """The answer text; the run ends after it."""

    text: str
    result: AgentResult


AgentEvent = TokenDelta | ToolCallEvent | ToolResultEvent | ModelOutputError | FinalAnswer
