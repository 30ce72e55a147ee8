"""The low-rank update kernel against numpy (float64): fused parts, one part, decode and prefill shapes (whole
token tiles, a tile and a tail, a tail alone), factors stored in float32 and in float16.

Tolerance: relative to the output's scale (random normal data: outputs O(100)), 1e-5; measured ~1e-6. The float16
case is compared with the same factors rounded to float16 in numpy: storage rounds, the arithmetic is float32.
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
    at = rng.normal(size=(n_in, len(parts) * rank)).astype(dtype)
    bt = rng.normal(size=(rank, n_out)).astype(dtype)
    low = x.astype(np.float64) @ at.astype(np.float64)
    want = base.astype(np.float64).copy()
    start = 0
    for p, rows in enumerate(parts):  # each part's outputs read only its own rank's slice
        want[:, start:start + rows] += low[:, p * rank:(p + 1) * rank] @ bt[:, start:start + rows].astype(np.float64)
        start += rows
    y = tvm.runtime.empty((tokens, n_out), "float32")
    lib["main"](*(tvm.runtime.tensor(a) for a in (x, base, at, bt)), y)
    err = float(np.abs(y.numpy() - want).max()) / float(np.abs(want).max())
    assert err <= 1e-5, f"relative error {err}"
