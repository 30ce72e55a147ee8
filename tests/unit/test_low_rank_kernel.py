"""The low-rank update kernel against numpy (float64): fused parts, one part, decode and prefill shapes (whole
token tiles, a tile and a tail, a tail alone), factors stored in float32, in float16, and in int8 with row scales.

Tolerance: relative to the output's scale (random normal data: outputs O(100)), 1e-5; measured ~1e-6. The float16
case is compared with the same factors rounded to float16 in numpy: storage rounds, the arithmetic is float32. The
int8 case with the factors its integers and scales stand for (``q * scale``), computed in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm

from agent_sdk.compiler.targets import resolve_target
from agent_sdk.quantization.low_rank_kernel import FACTOR_DTYPES, TOKEN_TILE, low_rank_add_kernel

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("dtype", FACTOR_DTYPES)
@pytest.mark.parametrize(("n_in", "parts", "rank", "tokens"), [
    (64, (40, 12, 12), 3, 5),         # tiny q/k/v, outputs not a multiple of the vector width; a tile and a tail
    (576, (576,), 16, 1),             # o_proj, decode
    (576, (1536, 1536), 16, 7),       # gate/up
    (576, (576, 192, 192), 16, 64),   # SmolLM2 q/k/v, prefill: whole tiles
    (33, (5,), 1, 2),                 # rank 1, fewer outputs than a vector, fewer tokens than a tile
    (40, (24,), 2, TOKEN_TILE),       # exactly one tile
    (64, (64, 32, 32), 40, 9),        # P r = 120: a smaller tile keeps the sums on the stack
])
def test_kernel_matches_numpy(n_in: int, parts: tuple[int, ...], rank: int, tokens: int, dtype: str) -> None:
    rng = np.random.default_rng(sum(parts) + rank)
    n_out = sum(parts)
    func = low_rank_add_kernel(n_in, n_out, rank, parts, dtype=dtype)
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target(resolve_target("host")[1]))
    x = rng.normal(size=(tokens, n_in)).astype("float32")
    base = rng.normal(size=(tokens, n_out)).astype("float32")
    scales: list[np.ndarray] = []
    if dtype == "int8":
        at = rng.integers(-127, 128, size=(n_in, len(parts) * rank)).astype(np.int8)
        bt = rng.integers(-127, 128, size=(rank, n_out)).astype(np.int8)
        scales = [rng.uniform(1e-3, 2e-2, size=len(parts) * rank).astype(np.float32),  # per column of At
                  rng.uniform(1e-3, 2e-2, size=n_out).astype(np.float32)]  # per column of Bt (output)
        at_f, bt_f = at * scales[0].astype(np.float64), bt * scales[1].astype(np.float64)
    else:
        at = rng.normal(size=(n_in, len(parts) * rank)).astype(dtype)
        bt = rng.normal(size=(rank, n_out)).astype(dtype)
        at_f, bt_f = at.astype(np.float64), bt.astype(np.float64)
    low = x.astype(np.float64) @ at_f
    want = base.astype(np.float64).copy()
    start = 0
    for p, rows in enumerate(parts):  # each part's outputs read only its own rank's slice
        want[:, start:start + rows] += low[:, p * rank:(p + 1) * rank] @ bt_f[:, start:start + rows]
        start += rows
    y = tvm.runtime.empty((tokens, n_out), "float32")
    lib["main"](*(tvm.runtime.tensor(a) for a in (x, base, at, bt, *scales)), y)
    err = float(np.abs(y.numpy() - want).max()) / float(np.abs(want).max())
    update = float(np.abs(want - base).max())
    assert update > 0.1 * float(np.abs(want).max())  # the update is a real part of the output, not lost in base
    assert err <= 1e-5, f"relative error {err}"
