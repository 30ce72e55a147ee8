"""The RMSNorm kernel (``agent_sdk.models.norm``) against float64 numpy.

Tolerance: 1e-6 relative to the output's scale (a float32 sum of squares
over up to 576 values, one rsqrt, two products).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.unit

tvm = pytest.importorskip("tvm")

from agent_sdk.compiler.targets import host_llvm_target
from agent_sdk.models import norm


def _build(width: int, eps: float):  # type: ignore[no-untyped-def]
    func = norm.rms_norm_kernel(width, eps).with_attr("global_symbol", "rms_norm")
    return tvm.compile(tvm.IRModule({"rms_norm": func}), target=tvm.target.Target(host_llvm_target()))["rms_norm"]


@pytest.mark.parametrize("width", [64, 576])
@pytest.mark.parametrize("rows", [1, 3, norm.PARALLEL_MIN_ROWS - 1, norm.PARALLEL_MIN_ROWS, 41])
def test_rms_norm_matches_numpy(width: int, rows: int) -> None:
    """Rows below and from the parallel threshold; rows of very different scales and an all-zero row."""
    rng = np.random.default_rng(width + rows)
    x = (rng.standard_normal((rows, width)) * rng.choice([1e-3, 1.0, 300.0], size=(rows, 1))).astype(np.float32)
    x[0] = 0.0
    w = rng.standard_normal(width).astype(np.float32)
    eps = 1e-6
    got = tvm.runtime.tensor(np.full_like(x, np.nan))
    _build(width, eps)(tvm.runtime.tensor(x), tvm.runtime.tensor(w), got)
    x64 = x.astype(np.float64)
    ref = x64 / np.sqrt((x64**2).mean(-1, keepdims=True) + eps) * w
    scale = np.abs(ref).max(-1, keepdims=True) + 1e-30
    assert (np.abs(got.numpy() - ref) <= 1e-6 * scale).all()
    assert not got.numpy()[0].any()


def test_widths_the_kernel_cannot_take_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        norm.rms_norm_kernel(40, 1e-5)
