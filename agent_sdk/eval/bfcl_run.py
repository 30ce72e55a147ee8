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
from agent_sdk.agent.retrieval import ToolRetrieval
from agent_sdk.errors import AgentSDKError, ToolSchemaWarning
from agent_sdk.eval.bfcl_data import BFCLQuestion, coerce_numbers, load_bfcl
from agent_sdk.eval.tool_pool import pool_functions, with_tool_pool
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
        offered: The tools in the prompt (all, or those retrieval picked).
        prompt_tokens: The prompt's length in tokens.
        cached_tokens: Prompt tokens reused from the KV cache.
    """

    calls: list[dict[str, Any]]
    valid: bool
    attempted: bool
    generated_tokens: int = 0
    model_seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    cached_tokens: int = 0


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
    prompt_tokens: int = 0
    retrieval_hits: int = 0
    retrieval_questions: int = 0
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
            "mean_prompt_tokens": self.prompt_tokens / n if n else 0.0,
            # Questions whose own functions were all offered (below the retrieval threshold: all of them).
            "tool_recall": self.retrieval_hits / self.retrieval_questions if self.retrieval_questions else None,
        }


def answer_question(
    backend: LocalBackend, q: BFCLQuestion, *, policy: CallPolicy = DEFAULT_POLICY, max_tokens: int = DEFAULT_MAX_TOKENS,
    retrieval: ToolRetrieval | None = None,
) -> BFCLAnswer:
    """The calls of one question's first model step.

    Constrained, the decision is made without writing the answer text
    (evaluation scores calls only); free-running, the text is the output and
    its calls are parsed. With ``retrieval``, the prompt offers the tools it
    picks for the request, as the agent does.
    """
    offered: list[str] = []
    try:
        registry = ToolRegistry.from_openai([{"type": "function", "function": t} for t in q.tools])
        tools = [t["function"] for t in registry.to_openai()]
        if retrieval is not None:
            tools = retrieval.select(q.request, tools)
        offered = [str(t["name"]) for t in tools]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ToolSchemaWarning)  # recorded per question below
            step = run_step(backend.step(StepRequest(
                [{"role": "user", "content": q.request}], tools, policy, max_tokens, system=q.system,
                answer=not backend.constrain,
            )))
    except AgentSDKError as exc:
        return BFCLAnswer([], False, False, error=f"{type(exc).__name__}: {exc}", offered=offered)
    # repairs of the tools in the prompt (with a pool, the hundreds retrieval left out say nothing)
    notes = [f"tool {name!r}: {note}" for name in offered for note in registry.get(name).schema_repairs]
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
                      step.stats.model_seconds, warnings=notes, offered=offered,
                      prompt_tokens=step.stats.prompt_tokens, cached_tokens=step.stats.cached_tokens)


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
    tool_pool: int | None = None,
    retrieval: ToolRetrieval | None = None,
    seed: int = 0,
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
        tool_pool: Ask each question among this many tools
            (:func:`~agent_sdk.eval.tool_pool.with_tool_pool`), or None for its own.
        retrieval: Narrow each question's tools as the agent does (None: offer all).
        seed: Seeds the tool pools.
    """
    backend = LocalBackend(engine, constrain=constrain)
    summary = BFCLSummary()
    questions = list(load_bfcl(data_dir, categories, limit=limit))
    own = [[str(t.get("name")) for t in q.tools] for q in questions]
    if tool_pool is not None:
        questions = with_tool_pool(questions, pool_functions(data_dir), tool_pool, seed=seed)
    fp = open(out, "w") if out else None
    try:
        for q, own_names in zip(questions, own):
            t0 = time.perf_counter()
            ans = answer_question(backend, q, policy=policy, retrieval=retrieval)
            summary.questions += 1
            summary.per_category[q.category] = summary.per_category.get(q.category, 0) + 1
            summary.latency_s += time.perf_counter() - t0
            summary.answered_with_calls += bool(ans.calls)
            summary.attempted_calls += ans.attempted
            summary.valid_calls += ans.valid
            summary.failed += ans.error is not None
            summary.generated_tokens += ans.generated_tokens
            summary.model_seconds += ans.model_seconds
            summary.prompt_tokens += ans.prompt_tokens
            if own_names and ans.error is None:
                summary.retrieval_questions += 1
                summary.retrieval_hits += set(own_names) <= set(ans.offered)
            if fp:
                line: dict[str, Any] = {"id": q.id, "calls": ans.calls}
                if ans.error:
                    line["error"] = ans.error
                if ans.warnings:
                    line["warnings"] = ans.warnings
                if tool_pool is not None:
                    line["offered"] = ans.offered
                    line["prompt_tokens"] = ans.prompt_tokens
                    line["latency_s"] = round(time.perf_counter() - t0, 4)
                fp.write(json.dumps(line) + "\n")
                fp.flush()
            if progress:
                progress(summary.questions, q, ans.calls)
    finally:
        if fp:
            fp.close()
    return summary
