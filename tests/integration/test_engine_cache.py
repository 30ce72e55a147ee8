"""KV-cache capacity: many distinct requests in a small page pool evict old prefixes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.runtime import Engine, SamplingParams

pytestmark = pytest.mark.integration


def test_small_pool_evicts_least_recently_used(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=96, max_cached_sequences=4)
    eng.eos_token_ids.clear()
    rng = np.random.default_rng(0)
    outputs = {}
    for i in range(12):  # 12 x 48 tokens, far more than the 96-token pool
        prompt = [int(t) for t in rng.integers(3, eng.vocab_size, size=40)]
        g = eng.generate(prompt, SamplingParams(max_tokens=8))
        assert len(g.token_ids) == 8
        outputs[i] = (prompt, g.token_ids)
        assert sum(len(s.tokens) for s in eng._seqs.values()) <= eng.kv_tokens
    # An evicted prompt recomputes to the same tokens; a recent one is reused.
    prompt, toks = outputs[0]
    again = eng.generate(prompt, SamplingParams(max_tokens=8))
    assert again.token_ids == toks and again.stats.cached_tokens == 0
    again = eng.generate(prompt, SamplingParams(max_tokens=8))
    assert again.token_ids == toks and again.stats.cached_tokens == len(prompt) - 1
