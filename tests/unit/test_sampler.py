"""Sampler: greedy, seeded sampling, top-k / top-p supports, repetition penalty, masks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from agent_sdk.errors import UserError
from agent_sdk.runtime.sampler import Sampler, SamplingParams

pytestmark = pytest.mark.unit

# Softmax probabilities at temperature 1: [0.0117, 0.0317, 0.0861, 0.2341, 0.6364].
_LOGITS = np.arange(5, dtype=np.float32)


def _draws(params: SamplingParams, logits: np.ndarray, n: int, history: list[int] | None = None) -> list[int]:
    sampler = Sampler(params)
    return [sampler.sample(logits, history) for _ in range(n)]


def _random_logits(seed: int, size: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32) * 3


@pytest.mark.parametrize("seed", range(5))
def test_greedy_is_argmax(seed: int) -> None:
    logits = _random_logits(seed)
    assert Sampler(SamplingParams()).sample(logits) == int(np.argmax(logits))
    assert Sampler(SamplingParams(temperature=0.0, seed=seed, top_k=3, top_p=0.5)).sample(logits) == int(np.argmax(logits))


def test_seeded_sampling_is_deterministic_and_seeds_differ() -> None:
    logits = _random_logits(0)
    params = SamplingParams(temperature=1.0, seed=1234)
    a = _draws(params, logits, 50)
    assert a == _draws(params, logits, 50)
    others = [_draws(SamplingParams(temperature=1.0, seed=s), logits, 50) for s in range(5)]
    assert sum(o != a for o in others) >= 4
    assert len(set(a)) > 3  # really sampling, not argmax


def test_sampling_follows_the_softmax() -> None:
    n = 20000
    counts = Counter(_draws(SamplingParams(temperature=1.0, seed=7), _LOGITS, n))
    expected = np.exp(_LOGITS.astype(np.float64)) / np.exp(_LOGITS.astype(np.float64)).sum()
    for token, p in enumerate(expected):
        # 5 standard deviations of a binomial count.
        assert abs(counts[token] - n * p) < 5 * np.sqrt(n * p * (1 - p)), (token, counts[token], n * p)


def test_temperature_sharpens_and_flattens() -> None:
    n = 4000
    cold = Counter(_draws(SamplingParams(temperature=0.25, seed=3), _LOGITS, n))
    hot = Counter(_draws(SamplingParams(temperature=4.0, seed=3), _LOGITS, n))
    # At T=0.25 the top token has p = e^16 / sum(e^{4k}) ~ 0.98; at T=4 about 0.29.
    assert cold[4] / n > 0.95
    assert 0.22 < hot[4] / n < 0.36 and hot[0] / n > 0.08


@pytest.mark.parametrize("seed", range(3))
def test_top_k_1_is_greedy(seed: int) -> None:
    logits = _random_logits(seed)
    assert set(_draws(SamplingParams(temperature=2.0, top_k=1, seed=seed), logits, 200)) == {int(np.argmax(logits))}


@pytest.mark.parametrize("k", [2, 5, 10])
def test_top_k_restricts_the_support(k: int) -> None:
    logits = _random_logits(11)
    top = set(np.argsort(-logits)[:k].tolist())
    drawn = set(_draws(SamplingParams(temperature=5.0, top_k=k, seed=k), logits, 3000))
    assert drawn == top  # nothing outside, and (at this temperature) everything inside


def test_top_k_larger_than_vocab_keeps_everything() -> None:
    drawn = set(_draws(SamplingParams(temperature=3.0, top_k=100, seed=0), _LOGITS, 3000))
    assert drawn == set(range(5))


@pytest.mark.parametrize(
    ("top_p", "nucleus"),
    [
        (0.5, {4}),  # 0.636 >= 0.5
        (0.7, {4, 3}),  # 0.636 < 0.7 <= 0.870
        (0.88, {4, 3, 2}),  # 0.870 < 0.88 <= 0.956
        (0.96, {4, 3, 2, 1}),
        (1.0, {0, 1, 2, 3, 4}),
    ],
)
def test_top_p_restricts_to_the_nucleus(top_p: float, nucleus: set[int]) -> None:
    drawn = set(_draws(SamplingParams(temperature=1.0, top_p=top_p, seed=5), _LOGITS, 5000))
    assert drawn == nucleus


def test_top_p_renormalises_within_the_nucleus() -> None:
    n = 10000
    counts = Counter(_draws(SamplingParams(temperature=1.0, top_p=0.7, seed=9), _LOGITS, n))
    p = np.exp(4.0) / (np.exp(4.0) + np.exp(3.0))  # 0.731 within {3, 4}
    assert abs(counts[4] / n - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_repetition_penalty_divides_positive_and_multiplies_negative() -> None:
    logits = np.array([2.0, -1.0, 0.5, 3.0, -4.0], np.float32)
    out = Sampler(SamplingParams(repetition_penalty=2.0)).apply_penalty(logits, [0, 1, 1, 4, 99])
    np.testing.assert_array_equal(out, np.array([1.0, -2.0, 0.5, 3.0, -8.0], np.float32))
    np.testing.assert_array_equal(logits, [2.0, -1.0, 0.5, 3.0, -4.0])  # input untouched


def test_repetition_penalty_changes_the_greedy_choice() -> None:
    logits = np.array([0.1, 3.0, 2.0], np.float32)
    assert Sampler(SamplingParams()).sample(logits, [1]) == 1  # penalty 1: history ignored
    assert Sampler(SamplingParams(repetition_penalty=1.6)).sample(logits, [1]) == 2  # 3.0 / 1.6 < 2.0
    assert Sampler(SamplingParams(repetition_penalty=1.4)).sample(logits, [1]) == 1  # 3.0 / 1.4 > 2.0


def test_masked_logits_are_never_sampled() -> None:
    logits = _random_logits(2)
    allowed = np.array([3, 17, 41])
    masked = np.full_like(logits, -np.inf)
    masked[allowed] = logits[allowed]
    masked[0] = -np.inf
    for params in (
        SamplingParams(temperature=1.0, seed=0),
        SamplingParams(temperature=50.0, seed=1),
        SamplingParams(temperature=1.0, top_k=10, seed=2),
        SamplingParams(temperature=1.0, top_p=0.99, seed=3),
        SamplingParams(temperature=2.0, repetition_penalty=1.3, seed=4),
    ):
        drawn = set(_draws(params, masked, 500, history=[3, 5, 0]))
        assert drawn <= set(allowed.tolist()), params
    # A masked token that has the largest raw logit stays masked under a penalty < 1, too.
    assert Sampler(SamplingParams(repetition_penalty=0.5)).sample(masked, [0, 17]) in allowed


def test_invalid_params_list_every_problem() -> None:
    with pytest.raises(UserError) as info:
        SamplingParams(temperature=-1, top_k=-2, top_p=0.0, repetition_penalty=0.0, max_tokens=-5)
    msg = str(info.value)
    for fragment in (
        "temperature must be >= 0, got -1",
        "top_k must be >= 0, got -2",
        "top_p must be in (0, 1], got 0.0",
        "repetition_penalty must be > 0, got 0.0",
        "max_tokens must be >= 0, got -5",
    ):
        assert fragment in msg


@pytest.mark.parametrize("top_p", [1.5, -0.1])
def test_top_p_out_of_range(top_p: float) -> None:
    with pytest.raises(UserError, match="top_p must be in"):
        SamplingParams(top_p=top_p)


def test_sampling_params_is_exported_lazily_from_the_package() -> None:
    import agent_sdk

    assert agent_sdk.SamplingParams is SamplingParams
