"""The int8 storage rule of low-rank factors (``models/low_rank.int8_rows``) and the parameters it gives a bundle.

Each row is ``q * scale`` with ``scale = max |row| / 127`` and ``q`` the nearest level; rows a scale cannot
resolve (zeros, subnormals) are zeros with scale 1; rounding rounded values again keeps them. Tolerances: a
level is the nearest, so within half a scale (+1% for float32's own rounding).
"""

from __future__ import annotations

import numpy as np
import pytest

from agent_sdk.errors import ModelFormatError
from agent_sdk.models.low_rank import INT8_LEVELS, FusedLowRank, int8_rows, low_rank_params

pytestmark = pytest.mark.unit


def test_each_row_is_its_nearest_levels_times_its_own_scale() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 40)).astype(np.float32) * np.float32([[1e-4], [1e-2], [1], [30], [0.5], [2e3]])
    q, scale = int8_rows(m)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and q.shape == m.shape and scale.shape == (6,)
    np.testing.assert_allclose(scale, np.abs(m).max(axis=1) / INT8_LEVELS, rtol=1e-7)
    assert (np.abs(q).max(axis=1) == INT8_LEVELS).all()  # each row's largest value takes the top level
    err = np.abs(q * scale[:, None].astype(np.float64) - m)
    assert (err <= 0.5 * 1.01 * scale[:, None]).all()
    again_q, again_scale = int8_rows((q * scale[:, None]).astype(np.float32))
    assert np.array_equal(again_q, q)
    np.testing.assert_allclose(again_scale, scale, rtol=2.0**-22)


def test_rows_a_scale_cannot_resolve_are_zeros_without_warnings() -> None:
    """Zeros and subnormals so small that ``max / 127`` is 0 in float32: zeros, scale 1, and no numpy warning (the
    suite turns warnings into errors)."""
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    m = np.array([[0, 0, 0], [tiny, -tiny, 0], [1, -2, 0.5]], np.float32)
    q, scale = int8_rows(m)
    assert not q[:2].any() and (scale[:2] == 1).all()
    assert q[2].tolist() == [64, -127, 32] and scale[2] == np.float32(2 / 127)


def test_int8_parameters_of_a_fused_projection() -> None:
    """``at``'s columns and ``bt``'s columns are rows of A and of B: one scale each, a part without an update (zero
    columns) gets scale 1 and zeros; non-finite factors are refused by name."""
    rng = np.random.default_rng(1)
    at = rng.normal(size=(16, 6)).astype(np.float32)
    at[:, 2:4] = 0  # the second part has no update
    bt = rng.normal(size=(2, 12)).astype(np.float32)
    bt[:, 4:8] = 0
    params = low_rank_params({"layers.0.self_attn.qkv_proj": FusedLowRank(at, bt, (4, 4, 4))}, dtype="int8")
    pre = "layers.0.self_attn.qkv_proj"
    assert sorted(params) == [f"{pre}.lora_as", f"{pre}.lora_at", f"{pre}.lora_bs", f"{pre}.lora_bt"]
    assert params[f"{pre}.lora_at"].dtype == np.int8 and params[f"{pre}.lora_at"].shape == (16, 6)
    assert params[f"{pre}.lora_as"].shape == (6,) and params[f"{pre}.lora_bs"].shape == (12,)
    assert (params[f"{pre}.lora_as"][2:4] == 1).all() and not params[f"{pre}.lora_at"][:, 2:4].any()
    got_at = params[f"{pre}.lora_at"] * params[f"{pre}.lora_as"].astype(np.float64)
    got_bt = params[f"{pre}.lora_bt"] * params[f"{pre}.lora_bs"].astype(np.float64)
    assert np.abs(got_at - at).max() <= 0.51 * np.abs(at).max(axis=0).max() / INT8_LEVELS
    assert np.abs(got_bt - bt).max() <= 0.51 * np.abs(bt).max(axis=0).max() / INT8_LEVELS
    bad = at.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ModelFormatError, match="lora_at holds values that are not finite"):
        low_rank_params({pre: FusedLowRank(bad, bt, (4, 4, 4))}, dtype="int8")
