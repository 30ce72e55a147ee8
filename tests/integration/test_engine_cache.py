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


def test_continuation_logits_match_a_full_forward(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=2)
    rng = np.random.default_rng(1)
    prefix = [int(t) for t in rng.integers(3, eng.vocab_size, size=20)]
    conts = [[int(t) for t in rng.integers(3, eng.vocab_size, size=n)] for n in (1, 4, 7)] + [[]]
    for _ in range(2):  # the second time the prefix comes from the cache
        last, rows = eng.continuation_logits(prefix, conts)
        np.testing.assert_allclose(last, eng.logits(prefix)[-1], atol=2e-4)
        for cont, got in zip(conts, rows):
            assert got.shape == (len(cont), eng.vocab_size)
            if cont:
                np.testing.assert_allclose(got, eng.logits(prefix + cont)[len(prefix):], atol=2e-4)
    # The forks are gone; only the prefix stays cached, once.
    assert [s.tokens for s in eng._seqs.values()] == [prefix]
    # Asked again about the same prefix, only the continuations run (the prefix's logits are kept).
    ran: list[int] = []
    forward = eng._forward

    def counting(seq_id: int, ids: list[int], **kw: bool) -> np.ndarray:
        ran.append(len(ids))
        return forward(seq_id, ids, **kw)

    eng._forward = counting  # type: ignore[method-assign]
    last, rows = eng.continuation_logits(prefix, conts)
    assert ran == [len(c) for c in conts if c]
    np.testing.assert_allclose(last, eng.logits(prefix)[-1], atol=2e-4)
    assert [s.tokens for s in eng._seqs.values()] == [prefix]
