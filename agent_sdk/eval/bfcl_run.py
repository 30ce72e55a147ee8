"""Runs BFCL questions through the agent's model step and writes BFCL's result lines.

Each question's first model step runs as the agent runs it (the same
:class:`~agent_sdk.agent.backends.LocalBackend`, prompt and
:class:`~agent_sdk.agent.policy.CallPolicy`), without running any tool, and
``{"id", "calls"}`` lines are written for BFCL's own checker
(:mod:`agent_sdk.eval.bfcl_score`). A question whose tools cannot be turned
into a grammar is recorded as failed (no calls, its error noted) and the run
goes on.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_sdk.agent.agent import DEFAULT_MAX_TOKENS
from agent_sdk.agent.backends import LocalBackend, StepRequest, run_step
from agent_sdk.agent.policy import DEFAULT_POLICY, CallPolicy
from agent_sdk.errors import AgentSDKError, ToolSchemaWarning
from agent_sdk.eval.bfcl_data import BFCLQuestion, coerce_numbers, load_bfcl
from agent_sdk.runtime.engine import Engine
from agent_sdk.tools import ToolRegistry

__all__ = ["BFCLAnswer", "BFCLSummary", "answer_question", "run_bfcl"]


@dataclass
class BFCLAnswer:
    """One question's first model step.

    Attributes:
        calls: ``[{"name", "arguments"}]`` (numbers coerced to BFCL's types).
        valid: Every call names a known tool and its arguments validate (and there is one).
        attempted: The model wrote a call (kept, declined or malformed).
        generated_tokens: Tokens generated.
        model_seconds: Time in the model.
        error: Why the question could not be run (no tool's schema compiles), else None.
        warnings: Tools repaired or left out of the grammar.
    """

    calls: list[dict[str, Any]]
    valid: bool
    attempted: bool
    generated_tokens: int = 0
    model_seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class BFCLSummary:
    """What a run measured (accuracy comes from BFCL's checker on the results file)."""

    questions: int = 0
    attempted_calls: int = 0
    valid_calls: int = 0
    answered_with_calls: int = 0
    failed: int = 0
    latency_s: float = 0.0
    generated_tokens: int = 0
    model_seconds: float = 0.0
    per_category: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary as printed by ``agent-sdk eval bfcl --json``."""
        n = self.questions
        return {
            "questions": n,
            "valid_call_rate": self.valid_calls / self.attempted_calls if self.attempted_calls else 0.0,
            "attempted_calls": self.attempted_calls,
            "call_rate": self.answered_with_calls / n if n else 0.0,
            "failed_questions": self.failed,
            "mean_latency_s": self.latency_s / n if n else 0.0,
            "tokens_per_s": self.generated_tokens / self.model_seconds if self.model_seconds else 0.0,
            "per_category": dict(self.per_category),
        }


def answer_question(
    backend: LocalBackend, q: BFCLQuestion, *, policy: CallPolicy = DEFAULT_POLICY, max_tokens: int = DEFAULT_MAX_TOKENS,
) -> BFCLAnswer:
    """The calls of one question's first model step.

    Constrained, the decision is made without writing the answer text
    (evaluation scores calls only); free-running, the text is the output and
    its calls are parsed.
    """
    try:
        registry = ToolRegistry.from_openai([{"type": "function", "function": t} for t in q.tools])
        tools = [t["function"] for t in registry.to_openai()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ToolSchemaWarning)  # recorded per question below
            step = run_step(backend.step(StepRequest(
                [{"role": "user", "content": q.request}], tools, policy, max_tokens, system=q.system,
                answer=not backend.constrain,
            )))
    except AgentSDKError as exc:
        return BFCLAnswer([], False, False, error=f"{type(exc).__name__}: {exc}")
    notes = [f"tool {name!r}: {note}" for name in registry.names for note in registry.get(name).schema_repairs]
    notes += step.schema_warnings
    schemas = {t["name"]: t["parameters"] for t in q.tools}
    calls = [{"name": c.name, "arguments": coerce_numbers(c.arguments, schemas.get(c.name, {}))} for c in step.calls]
    valid = not step.errors and bool(calls)
    for c in step.calls:
        try:
            registry.validate(c.name, c.arguments)
        except AgentSDKError:
            valid = False
    # A call `auto` declined is no output: the valid-call rate counts the calls returned.
    return BFCLAnswer(calls, valid, bool(step.calls) or bool(step.errors), step.stats.generated_tokens,
                      step.stats.model_seconds, warnings=notes)


def run_bfcl(
    engine: Engine,
    data_dir: Path,
    *,
    categories: list[str] | None = None,
    limit: int | None = None,
    out: Path | None = None,
    policy: CallPolicy = DEFAULT_POLICY,
    constrain: bool = True,
    progress: Callable[[int, BFCLQuestion, list[dict[str, Any]]], None] | None = None,
) -> BFCLSummary:
    """Runs the first model step on each question; writes ``{"id", "calls"}`` lines to ``out``.

    Args:
        engine: The runtime engine.
        data_dir: Folder with ``BFCL_v4_<category>.json`` files.
        categories: Categories to run (default: all present).
        limit: Questions per category.
        out: Results file (``.jsonl``), or None.
        policy: The call policy (its ``tool_choice`` too).
        constrain: Decode calls under the tools' grammar.
        progress: Called after each question with its number, the question and its calls.
    """
    backend = LocalBackend(engine, constrain=constrain)
    summary = BFCLSummary()
    fp = open(out, "w") if out else None
    try:
        for q in load_bfcl(data_dir, categories, limit=limit):
            t0 = time.perf_counter()
            ans = answer_question(backend, q, policy=policy)
            summary.questions += 1
            summary.per_category[q.category] = summary.per_category.get(q.category, 0) + 1
            summary.latency_s += time.perf_counter() - t0
            summary.answered_with_calls += bool(ans.calls)
            summary.attempted_calls += ans.attempted
            summary.valid_calls += ans.valid
            summary.failed += ans.error is not None
            summary.generated_tokens += ans.generated_tokens
            summary.model_seconds += ans.model_seconds
            if fp:
                line: dict[str, Any] = {"id": q.id, "calls": ans.calls}
                if ans.error:
                    line["error"] = ans.error
                if ans.warnings:
                    line["warnings"] = ans.warnings
                fp.write(json.dumps(line) + "\n")
                fp.flush()
            if progress:
                progress(summary.questions, q, ans.calls)
    finally:
        if fp:
            fp.close()
    return summary
