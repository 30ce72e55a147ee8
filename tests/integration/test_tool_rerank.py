"""The first call's tool by its whole name's likelihood, on the real model (agent_sdk.agent.tool_rerank)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from agent_sdk.agent import Agent, LocalBackend
from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.agent.step import decode_calls
from agent_sdk.agent.tool_rerank import first_call_name, name_text, rerank_tool_name
from agent_sdk.runtime import Engine
from agent_sdk.tools import tool

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

REQUESTS = ["close the driver window", "pop the trunk", "shut the boot", "crack the passenger window a bit",
            "lock up the car", "blow some air on the windshield", "open the back", "let some fresh air in"]


@tool
def open_trunk() -> str:
    """Opens the trunk."""
    return "open"


@tool
def close_trunk() -> str:
    """Closes the trunk."""
    return "closed"


@tool
def set_window(window: Literal["driver", "passenger", "rear left", "rear right"], open_percent: int) -> str:
    """Opens or closes a window.

    Args:
        window: Which window.
        open_percent: How far open, 0 (closed) to 100.
    """
    return "ok"


@tool
def set_fan_mode(mode: Literal["face", "feet", "windshield", "auto"]) -> str:
    """Sets where the climate's air goes.

    Args:
        mode: The vents to use.
    """
    return "ok"


@tool
def lock_doors() -> str:
    """Locks every door."""
    return "locked"


TOOLS = [open_trunk, close_trunk, set_window, set_fan_mode, lock_doors]


def _prompt(engine: Engine, request: str) -> tuple[list[int], list[dict]]:
    agent = Agent(engine, tools=TOOLS, tool_choice="required")
    text = LocalBackend(engine).prompt_text([{"role": "user", "content": request}], agent.tool_specs, None)
    return engine.tokenizer.encode(text), agent.tool_specs


def _whole_name_scores(engine: Engine, prompt: list[int], lead: str, names: list[str]) -> dict[str, float]:
    """Each name's unmasked log-probability as a whole, from full forward passes (not the forks under test)."""
    out = {}
    for name in names:
        ids = engine.tokenizer.encode(lead + name_text(HERMES, name))
        logits = engine.logits(prompt + ids)[len(prompt) - 1:-1].astype(np.float64)
        top = logits.max(-1, keepdims=True)
        lp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
        out[name] = float(sum(lp[i, t] for i, t in enumerate(ids)))
    return out


def test_the_likeliest_whole_name_wins_and_the_pruning_loses_none(smollm2_engine: Engine) -> None:
    """For each request the re-ranked call names the tool with the highest whole-name likelihood (computed
    independently, every name scored by a full pass); the greedy call's name when it is that tool already."""
    policy = DEFAULT_POLICY.replace(tool_choice="required", parallel=False)
    changed = 0
    for request in REQUESTS:
        prompt, specs = _prompt(smollm2_engine, request)
        greedy = decode_calls(smollm2_engine, prompt, specs, policy=policy.replace(rerank_tools=False),
                              max_tokens=96, request=request)
        ranked = decode_calls(smollm2_engine, prompt, specs, policy=policy, max_tokens=96, request=request)
        names = [str(t["name"]) for t in specs]
        found = first_call_name(greedy.generation.text, names, HERMES)
        assert found is not None, greedy.generation.text
        scores = _whole_name_scores(smollm2_engine, prompt, greedy.generation.text[: found[1]], names)
        best = max(scores, key=scores.__getitem__)
        assert ranked.calls, request
        got = ranked.calls[0][0]
        assert scores[got] >= scores[best] - 1e-2, (request, got, best, scores)
        if scores[found[0]] < scores[best] - 1e-2:
            assert got != found[0], (request, scores)
        changed += got != greedy.calls[0][0]
        # The call stays one the grammar allows: a tool of the set, its arguments valid for it.
        spec = next(t for t in specs if t["name"] == got)
        assert set(ranked.calls[0][1]) <= set(spec["parameters"].get("properties", {}))
    assert changed >= 1  # on this model, greedy's first token misleads on at least one of these requests


def test_auto_judges_the_call_the_greedy_pass_wrote(smollm2_engine: Engine) -> None:
    """In ``auto`` the decision and its score are those without the re-ranking (its threshold was calibrated on
    greedy calls); a kept call may name another tool, and it then names the one ``required`` names."""
    auto = DEFAULT_POLICY.replace(tool_choice="auto", parallel=False)
    renamed = 0
    for request in REQUESTS:
        prompt, specs = _prompt(smollm2_engine, request)
        off = decode_calls(smollm2_engine, prompt, specs, policy=auto.replace(rerank_tools=False), max_tokens=96,
                           request=request)
        on = decode_calls(smollm2_engine, prompt, specs, policy=auto, max_tokens=96, request=request)
        assert on.declined == off.declined and on.score == pytest.approx(off.score, abs=1e-3), request
        assert bool(on.calls) == bool(off.calls)
        if on.calls and on.calls[0][0] != off.calls[0][0]:
            renamed += 1
            forced = decode_calls(smollm2_engine, prompt, specs, policy=auto.replace(tool_choice="required"),
                                  max_tokens=96, request=request)
            assert forced.calls[0][0] == on.calls[0][0], request
    assert renamed >= 1  # the base model keeps at least one of these calls under a misleading first token


def test_no_pass_without_a_choice_of_tools(smollm2_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """One tool, or a named tool: nothing is scored; ``rerank_tool_name`` itself says None for one name."""
    calls = []
    real = smollm2_engine.continuation_logits

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(smollm2_engine, "continuation_logits", counting)
    request = "close the driver window"
    prompt, specs = _prompt(smollm2_engine, request)
    one = [t for t in specs if t["name"] == "set_window"]
    step = decode_calls(smollm2_engine, prompt, one, policy=DEFAULT_POLICY.replace(tool_choice="required", rerank=None),
                        max_tokens=96, request=request)
    assert step.calls and step.calls[0][0] == "set_window"
    named = decode_calls(smollm2_engine, prompt, specs, policy=DEFAULT_POLICY.replace(tool_choice="close_trunk",
                                                                                       rerank=None),
                         max_tokens=96, request=request)
    assert named.calls and named.calls[0][0] == "close_trunk"
    assert not calls
    assert rerank_tool_name(smollm2_engine, prompt, step.generation.text, one, call_format=HERMES) is None
    assert not calls
