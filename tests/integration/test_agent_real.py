"""The agent with the real SmolLM2-135M: constrained calls, execution, answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from agent_sdk.agent import Agent, FinalAnswer, LocalBackend, ToolCallEvent, ToolResultEvent
from agent_sdk.agent.backends import StepRequest, run_step
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.runtime import Engine
from agent_sdk.tools import tool

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

REPO = Path(__file__).resolve().parents[2]
executed: list[dict[str, str]] = []


@tool
def get_weather(city: str, unit: Literal["c", "f"]) -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit, "c" for celsius or "f" for fahrenheit.
    """
    executed.append({"city": city, "unit": unit})
    return {"city": city, "temperature": 21 if unit == "c" else 70, "unit": unit, "conditions": "sunny"}


@tool
def broken_lookup(query: str) -> str:
    """Look something up in the company wiki.

    Args:
        query: What to look up.
    """
    raise RuntimeError("wiki is down")


@tool(requires_confirmation=True)
def delete_file(path: str) -> str:
    """Delete a file from the disk.

    Args:
        path: The file to delete.
    """
    return f"deleted {path}"


def test_weather_call_is_exact_executed_and_used(smollm2_engine: Engine) -> None:
    executed.clear()
    agent = Agent(smollm2_engine, tools=[get_weather])
    events = list(agent.stream("What's the weather in Paris in celsius?", tool_choice="required"))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.to_dict() for c in calls] == [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}]
    assert executed == [{"city": "Paris", "unit": "c"}]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert results[0].ok and results[0].content["temperature"] == 21
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    assert "21" in final.text, final.text
    assert final.result.stats.forced_tokens > 0  # jump-forward fed the fixed spans


def test_weather_in_auto_mode(smollm2_engine: Engine) -> None:
    """`auto` decides to call for a request the tool serves."""
    executed.clear()
    agent = Agent(smollm2_engine, tools=[get_weather])
    result = agent.run("What's the weather in Paris in celsius?")
    assert result.calls_json() == [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}]
    assert "21" in result.text


def test_tool_exception_becomes_an_observation(smollm2_engine: Engine) -> None:
    agent = Agent(smollm2_engine, tools=[broken_lookup], tool_choice="required")
    result = agent.run("Look up the holiday policy in the wiki.")
    assert len(result.calls) == 1
    call, res = result.calls[0]
    assert call.name == "broken_lookup" and not res.ok and "wiki is down" in (res.error or "")
    assert any(m["role"] == "tool" and "wiki is down" in m["content"] for m in agent.messages)
    assert isinstance(result.text, str)


def test_confirmation_is_asked_and_respected(smollm2_engine: Engine) -> None:
    asked: list[str] = []
    agent = Agent(smollm2_engine, tools=[delete_file], tool_choice="required",
                  confirm=lambda c: asked.append(c.name) is not None)  # always declines
    result = agent.run("Delete the file /tmp/old.log")
    assert asked == ["delete_file"]
    assert not result.calls[0][1].ok and "declined" in (result.calls[0][1].error or "")
    agent = Agent(smollm2_engine, tools=[delete_file], tool_choice="required", confirm=lambda c: True)
    result = agent.run("Delete the file /tmp/old.log")
    assert result.calls[0][1].ok and result.calls[0][1].content.startswith("deleted ")


def test_static_prefix_is_reused_across_runs(smollm2_engine: Engine) -> None:
    smollm2_engine.reset()
    agent = Agent(smollm2_engine, tools=[get_weather])
    prefix = agent.warm()
    agent.run("What's the weather in London in fahrenheit?", tool_choice="required")
    agent.reset()
    agent.run("What's the weather in Tokyo in celsius?", tool_choice="required")
    assert agent.last_stats.cached_tokens >= prefix


def test_cli_run_with_tools_json(smollm2_engine: Engine) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent_sdk.cli", "run", "--model", str(smollm2_engine.path), "--tools",
         str(REPO / "examples" / "tools" / "weather.py"), "--tool-choice", "required", "--json",
         "What's the weather in Paris in celsius?"],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [{"name": c["name"], "arguments": c["arguments"]} for c in data["calls"]] == [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}
    ]
    assert data["calls"][0]["ok"] is True


def test_question_without_tools_is_answered(smollm2_engine: Engine) -> None:
    """BFCL has a question that offers no functions: no grammar, no call, no error."""
    step = run_step(LocalBackend(smollm2_engine).step(StepRequest(
        [{"role": "user", "content": "Hello, who are you?"}], [], DEFAULT_POLICY, 64, answer=False,
    )))
    assert step.calls == [] and not step.attempted
    result = Agent(smollm2_engine, tools=[]).run("Say hello.")
    assert result.calls == [] and result.text


@tool
def latest_exchange_rate(source_currency: str, target_currency: str, period: Literal["day", "week", "month"]) -> float:
    """Retrieve the latest exchange rate between two currencies.

    Args:
        source_currency: The currency to convert from.
        target_currency: The currency to convert to.
        period: Averaging period.
    """
    return 1.0


def _value_score(engine: Engine, prefix_ids: list[int], value: str) -> float:
    """log P(value, then the string ends) after ``prefix_ids``, from one full forward (independent of the fork path)."""
    import numpy as np

    from agent_sdk.agent.token_index import TokenIndex

    ids = engine.tokenizer.encode(value)
    logits = engine.logits(prefix_ids + ids)[len(prefix_ids) - 1:].astype(np.float64)
    lp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    quotes = TokenIndex.for_tokenizer(engine.tokenizer).quote_ids
    return float(sum(lp[i, t] for i, t in enumerate(ids)) + np.logaddexp.reduce(lp[len(ids), quotes]))


def test_rerank_keeps_the_likeliest_whole_values(smollm2_engine: Engine) -> None:
    """Each reranked string is at least as likely, as a whole, as the greedy one; the call stays valid."""
    from agent_sdk.agent.rerank import ValueRerank, string_values
    from agent_sdk.agent.step import decode_calls

    request = "Daily rate for euros into Swiss francs please"
    agent = Agent(smollm2_engine, tools=[latest_exchange_rate], tool_choice="required")
    backend = LocalBackend(smollm2_engine)
    prompt = smollm2_engine.tokenizer.encode(
        backend.prompt_text([{"role": "user", "content": request}], agent.tool_specs, None))
    policy = DEFAULT_POLICY.replace(tool_choice="required", parallel=False)
    common = {"max_tokens": 128, "request": request}
    greedy = decode_calls(smollm2_engine, prompt, agent.tool_specs, policy=policy.replace(rerank=None), **common)
    ranked = decode_calls(smollm2_engine, prompt, agent.tool_specs, policy=policy.replace(rerank=ValueRerank()), **common)
    assert len(ranked.calls) == 1 and ranked.calls[0][0] == "latest_exchange_rate"
    args = ranked.calls[0][1]
    assert set(args) == {"source_currency", "target_currency", "period"} and args["period"] in ("day", "week", "month")
    # Greedy writes a currency code the request never mentions; the whole-value score prefers its words.
    assert greedy.calls[0][1]["target_currency"].lower() not in request.lower()
    assert args["target_currency"].lower() in request.lower(), args
    g_text, r_text = greedy.generation.text, ranked.generation.text
    for (gs, ge, _, key), (rs, re_, _, rkey) in zip(string_values(g_text), string_values(r_text)):
        assert key == rkey
        if g_text[:gs] != r_text[:rs]:
            break  # an earlier value changed: later ones were decoded after another prefix
        prefix = prompt + smollm2_engine.tokenizer.encode(r_text[:rs])
        assert _value_score(smollm2_engine, prefix, r_text[rs:re_]) >= _value_score(smollm2_engine, prefix, g_text[gs:ge]) - 1e-3


def test_auto_scores_without_running_the_head_over_forced_tokens(smollm2_engine: Engine) -> None:
    """The default rule reads only the tokens the model chose: a forced run is one plain forward (no head over
    every token), NaN in the skipped log-probabilities, and the same call and score as computing them all."""
    import dataclasses
    import math

    from agent_sdk.agent.backends import LocalBackend
    from agent_sdk.agent.step import decode_calls

    backend = LocalBackend(smollm2_engine)
    request = "What's the weather in Paris in celsius?"
    specs = Agent(smollm2_engine, tools=[get_weather]).tool_specs
    prompt = smollm2_engine.tokenizer.encode(backend.prompt_text([{"role": "user", "content": request}], specs, None))
    policy = DEFAULT_POLICY.replace(tool_choice="auto")
    all_logits: list[bool] = []
    forward = smollm2_engine._forward

    def tracing(seq_id: int, ids: list[int], **kw: bool) -> object:
        all_logits.append(bool(kw.get("all_logits")) and len(ids) > 1)
        return forward(seq_id, ids, **kw)

    smollm2_engine._forward = tracing  # type: ignore[method-assign]
    try:
        cheap = decode_calls(smollm2_engine, prompt, specs, policy=policy, max_tokens=64, request=request)
        head_runs = sum(all_logits)
        all_logits.clear()
        full_policy = policy.replace(auto=dataclasses.replace(policy.auto, reads_forced=True))
        full = decode_calls(smollm2_engine, prompt, specs, policy=full_policy, max_tokens=64, request=request)
    finally:
        del smollm2_engine._forward
    assert head_runs == 0 and sum(all_logits) > 0
    assert cheap.calls == full.calls == [("get_weather", {"city": "Paris", "unit": "c"})]
    assert cheap.score == pytest.approx(full.score, abs=1e-3)
    lp_cheap, lp_full = cheap.generation.logprobs, full.generation.logprobs
    assert lp_cheap is not None and lp_full is not None and len(lp_cheap) == len(lp_full)
    skipped = [i for i, lp in enumerate(lp_cheap) if math.isnan(lp)]
    assert skipped and all(cheap.forced_flags[i] for i in skipped)  # only forced tokens go uncomputed
    for a, b in zip(lp_cheap, lp_full):
        assert math.isnan(a) or a == pytest.approx(b, abs=1e-3)


@tool
def switch_lights(room: Literal["kitchen", "bedroom", "living room", "bathroom"], on: bool) -> str:
    """Switch the lights in a room on or off.

    Args:
        room: The room.
        on: True to switch on.
    """
    return f"{room} {'on' if on else 'off'}"


def test_rerank_skips_an_enum_value_the_request_names_alone(smollm2_engine: Engine) -> None:
    """An enum value the request names, with no other value of that enum in it, is not re-scored (no forks:
    the call path's re-ranking time on most voice commands); one named beside another still is."""
    from agent_sdk.agent.step import decode_calls

    agent = Agent(smollm2_engine, tools=[switch_lights], tool_choice="required")
    backend = LocalBackend(smollm2_engine)
    policy = DEFAULT_POLICY.replace(tool_choice="required", parallel=False)
    calls_made: list[int] = []
    real = smollm2_engine.continuation_logits

    def counting(prefix, continuations):  # the real engine, counted
        calls_made.append(len(continuations))
        return real(prefix, continuations)

    results = {}
    for request in ("Turn on the kitchen lights", "Turn on the kitchen lights, not the bedroom ones"):
        prompt = smollm2_engine.tokenizer.encode(
            backend.prompt_text([{"role": "user", "content": request}], agent.tool_specs, None))
        calls_made.clear()
        smollm2_engine.continuation_logits = counting  # type: ignore[method-assign]
        try:
            step = decode_calls(smollm2_engine, prompt, agent.tool_specs, policy=policy, max_tokens=64, request=request)
        finally:
            del smollm2_engine.continuation_logits
        results[request] = (step.calls, list(calls_made))
    calls, forks = results["Turn on the kitchen lights"]
    assert calls == [("switch_lights", {"room": "kitchen", "on": True})] and forks == []
    calls, forks = results["Turn on the kitchen lights, not the bedroom ones"]
    assert calls[0][1]["room"] in ("kitchen", "bedroom") and forks, forks


def test_follow_up_asks_the_part_of_a_compound_request_the_call_left_out(smollm2_engine: Engine) -> None:
    """The real model makes one call for two requests; the step asks the second alone and adds its call."""
    from agent_sdk.agent.step import decode_calls

    agent = Agent(smollm2_engine, tools=[get_weather])
    backend = LocalBackend(smollm2_engine)
    request = "What's the weather in Paris in celsius? Then tell me the weather in Tokyo in fahrenheit"
    asked: list[str] = []

    def ask(clause: str) -> list[int]:
        asked.append(clause)
        return smollm2_engine.tokenizer.encode(
            backend.prompt_text([{"role": "user", "content": clause}], agent.tool_specs, None))

    prompt = smollm2_engine.tokenizer.encode(
        backend.prompt_text([{"role": "user", "content": request}], agent.tool_specs, None))
    policy = DEFAULT_POLICY.replace(tool_choice="required")
    step = decode_calls(smollm2_engine, prompt, agent.tool_specs, policy=policy, max_tokens=96, request=request,
                        ask=ask)
    assert asked == ["tell me the weather in Tokyo in fahrenheit"]
    assert [c[1]["city"] for c in step.calls] == ["Paris", "Tokyo"]
    asked.clear()
    alone = decode_calls(smollm2_engine, prompt, agent.tool_specs, policy=policy.replace(follow_up=False),
                         max_tokens=96, request=request, ask=ask)
    assert asked == [] and [c[1]["city"] for c in alone.calls] == ["Paris"]


def _lights_call(engine: Engine, choice: str) -> tuple[list[int], Any, Any]:
    """"Turn on the kitchen lights" as the agent prompts it with ``switch_lights``, the engine's grammar engine and
    the call grammar for ``choice``."""
    from agent_sdk.agent.call_format import HERMES
    from agent_sdk.agent.step import call_grammar
    from agent_sdk.constrain.grammar import GrammarEngine

    specs = Agent(engine, tools=[switch_lights]).tool_specs
    prompt = engine.tokenizer.encode(
        LocalBackend(engine).prompt_text([{"role": "user", "content": "Turn on the kitchen lights"}], specs, None))
    ge = GrammarEngine.for_engine(engine)
    return prompt, ge, call_grammar(ge, specs, choice=choice, parallel=False, call_format=HERMES)


@contextmanager
def _counting_passes(engine: Engine) -> Iterator[list[int]]:
    """The token count of every forward pass ``engine`` makes inside the block."""
    passes: list[int] = []
    forward = engine._forward

    def tracing(seq_id: int, ids: list[int], **kw: Any) -> Any:
        passes.append(len(ids))
        return forward(seq_id, ids, **kw)

    engine._forward = tracing  # type: ignore[method-assign]
    try:
        yield passes
    finally:
        del engine._forward


def test_forced_text_runs_with_the_prompt_and_with_the_sampled_token_before_it(smollm2_engine: Engine) -> None:
    """A forced call's opening text is prefilled with the prompt, and forced text after a sampled token runs in
    that token's forward pass, when nothing reads their logits: fewer passes, the same tokens and text as
    running each piece alone (what ``logprobs`` with ``forced_logprobs`` still does)."""
    from agent_sdk.runtime.sampler import SamplingParams

    prompt, ge, grammar = _lights_call(smollm2_engine, "required")
    results = {}
    with _counting_passes(smollm2_engine) as passes:
        for merged in (True, False):
            smollm2_engine.reset()  # no cached prefix: each run prefills the prompt itself
            passes.clear()
            gen = smollm2_engine.generate(prompt, SamplingParams(max_tokens=64), constraint=ge.constraint(grammar),
                                          logprobs=not merged, forced_logprobs=True)
            results[merged] = (gen.token_ids, gen.text, list(passes))
    (ids_m, text_m, passes_m), (ids_s, text_s, passes_s) = results[True], results[False]
    assert ids_m == ids_s and text_m == text_s
    assert json.loads(text_m.split("<tool_call>")[1].split("</tool_call>")[0]) == {
        "name": "switch_lights", "arguments": {"room": "kitchen", "on": True}}
    assert len(passes_m) < len(passes_s), (passes_m, passes_s)
    assert sum(passes_m) <= sum(passes_s)  # the same tokens (or fewer: the last forced run ends the grammar)


def test_merged_forced_text_keeps_logprobs_aligned_and_stops_where_asked(smollm2_engine: Engine) -> None:
    """With ``forced_logprobs=False`` (``auto``'s call step) one log-probability per generated token even when
    generation ends inside merged forced text (``max_tokens``), and a stop string completed by a sampled token
    ends generation there (no forced text merged after it)."""
    import math

    from agent_sdk.runtime.sampler import SamplingParams

    prompt, ge, grammar = _lights_call(smollm2_engine, "auto")
    full = smollm2_engine.generate(prompt, SamplingParams(max_tokens=64), constraint=ge.constraint(grammar),
                                   logprobs=True, forced_logprobs=False)
    assert "<tool_call>" in full.text and full.logprobs is not None
    assert len(full.logprobs) == len(full.token_ids) and not math.isnan(full.logprobs[0])
    for cut in range(1, len(full.token_ids)):
        gen = smollm2_engine.generate(prompt, SamplingParams(max_tokens=cut), constraint=ge.constraint(grammar),
                                      logprobs=True, forced_logprobs=False)
        assert gen.token_ids == full.token_ids[:cut]
        assert gen.logprobs is not None and len(gen.logprobs) == cut, cut
        assert abs(gen.logprobs[0] - full.logprobs[0]) < 1e-3, cut  # the prompt's, whether the opening ran or not
    stop = smollm2_engine.generate(prompt, SamplingParams(max_tokens=64, stop=("kit",)),
                                   constraint=ge.constraint(grammar), logprobs=True, forced_logprobs=False)
    assert stop.finish_reason == "stop" and stop.text.endswith('"room": "'), stop.text
    assert smollm2_engine.tokenizer.decode(stop.token_ids).endswith("kit")  # nothing merged after the stop


def test_auto_prefills_the_prompt_and_the_forced_opening_in_one_pass(smollm2_engine: Engine) -> None:
    """``auto``'s call step reads the first forced token's log-probability (the prompt's last logits) and none of
    the rest of the opening: with logits at chosen positions of one pass (``prefill_rows``) the prompt and the
    opening run together, as in a forced call; the same tokens, text and log-probabilities as running them apart
    (what a bundle compiled before ``prefill_rows`` does)."""
    import math

    from agent_sdk.runtime.sampler import SamplingParams

    prompt, ge, grammar = _lights_call(smollm2_engine, "auto")
    model = smollm2_engine._model
    f_rows = model._f_prefill_rows
    assert f_rows is not None, "the bundle should have prefill_rows"
    results = {}
    with _counting_passes(smollm2_engine) as passes:
        try:
            for rows in (True, False):
                model._f_prefill_rows = f_rows if rows else None
                smollm2_engine.reset()
                passes.clear()
                gen = smollm2_engine.generate(prompt, SamplingParams(max_tokens=64),
                                              constraint=ge.constraint(grammar), logprobs=True, forced_logprobs=False)
                results[rows] = (gen.token_ids, gen.text, gen.logprobs, list(passes))
        finally:
            model._f_prefill_rows = f_rows
    (ids_r, text_r, lps_r, passes_r), (ids_s, text_s, lps_s, passes_s) = results[True], results[False]
    assert ids_r == ids_s and text_r == text_s and "<tool_call>" in text_r
    assert lps_r is not None and lps_s is not None and len(lps_r) == len(lps_s) == len(ids_r)
    assert [math.isnan(x) for x in lps_r] == [math.isnan(x) for x in lps_s]
    np.testing.assert_allclose([x for x in lps_r if not math.isnan(x)], [x for x in lps_s if not math.isnan(x)],
                               atol=1e-3)
    assert len(passes_r) == len(passes_s) - 1, (passes_r, passes_s)
