"""A TIR kernel adding a low-rank update to a projection's output: ``y = base + (x A^T) B^T``.

The update is kept beside the stored weights (:mod:`agent_sdk.models.low_rank`)
and is thin (rank ``r`` of 8-64 against 576-1536 features), so a generic
matmul spends its time on loop overhead and on the zero blocks of a fused
projection's block-diagonal ``B``. This kernel works on the compact layout:

    At (K, P r)      A transposed, the P parts' factors side by side
    Bt (r, N)        B transposed; output row o of part p reads low[p r : p r + r]

    for t in parallel(n):                          # tokens
        low[P r] = 0
        for k in K:  low[:] += x[t, k] * At[k, :]  # vectorized over P r
        for p in parts:                            # static
            for ob in rows_p / V:                  # V outputs at a time
                acc[V] = base[t, o..o+V]
                for j in r:  acc[:] += low[p r + j] * Bt[j, o..o+V]   # vectorized over V
                y[t, o..o+V] = acc

Both inner loops are vector FMAs over contiguous memory with no horizontal
reduction. The kernel does ``r (K P + N)`` multiply-adds per token, against
``P r (K + N)`` for the block-diagonal product.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import tirx
from tvm.script import tirx as T

__all__ = ["MAX_PARTS", "OUTPUT_VECTOR", "low_rank_add_kernel"]

MAX_PARTS = 3
"""Parts of a fused projection (q/k/v)."""

OUTPUT_VECTOR = 8
"""Outputs per vector FMA in the second stage (one AVX2 register, two NEON registers)."""


def low_rank_add_kernel(n_in: int, n_out: int, rank: int, parts: Sequence[int]) -> tirx.PrimFunc:
    """``y (n, N) = base (n, N) + (x (n, K) @ At (K, P r)) per part @ Bt (r, N)``.

    Args:
        n_in: K, input features.
        n_out: N, output features (the sum of ``parts``).
        rank: r, the rank of each part (parts with a smaller rank are zero-padded).
        parts: Output rows of each part, in order (one entry for an unfused projection).
    """
    assert sum(parts) == n_out and rank >= 1 and all(p > 0 for p in parts)
    assert 1 <= len(parts) <= MAX_PARTS
    n_parts, width = len(parts), len(parts) * rank
    # each part's first output row and row count, padded to MAX_PARTS (the unused ones are never expanded)
    s0, s1, s2 = ([sum(parts[:i]) for i in range(n_parts)] + [0, 0])[:MAX_PARTS]
    r0, r1, r2 = (list(parts) + [0, 0])[:MAX_PARTS]
    vec = OUTPUT_VECTOR

    @T.prim_func(private=True)
    def low_rank_add(
        var_x: T.handle, var_base: T.handle, at: T.Buffer((n_in, width), "float32"),
        bt: T.Buffer((rank, n_out), "float32"), var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        base = T.match_buffer(var_base, (n, n_out), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        for t in T.parallel(n):
            # "global" scope: small constant-size buffers go on the stack (see kernels.py)
            low = T.decl_buffer((width,), "float32", scope="global")
            acc = T.decl_buffer((vec,), "float32", scope="global")
            for j in T.vectorized(width):
                low[j] = T.float32(0)
            for k in range(n_in):
                for j in T.vectorized(width):
                    low[j] = low[j] + x[t, k] * at[k, j]
            # the parts are expanded at parse time (conditions on Python ints)
            _part(y, base, bt, low, acc, t, s0, r0, 0, rank, vec)
            if n_parts > 1:
                _part(y, base, bt, low, acc, t, s1, r1, rank, rank, vec)
            if n_parts > 2:
                _part(y, base, bt, low, acc, t, s2, r2, 2 * rank, rank, vec)

    return low_rank_add


@T.macro
def _part(y, base, bt, low, acc, t, start, rows, col, rank, vec):
    """Outputs ``start .. start + rows`` of token ``t``: V at a time, then the remainder one by one."""
    for ob in range(rows // vec):
        for v in T.vectorized(vec):
            acc[v] = base[t, start + ob * vec + v]
        for j in range(rank):
            for v in T.vectorized(vec):
                acc[v] = acc[v] + low[col + j] * bt[j, start + ob * vec + v]
        for v in T.vectorized(vec):
            y[t, start + ob * vec + v] = acc[v]
    for o in range(rows // vec * vec, rows):
        acc[0] = base[t, start + o]
        for j in range(rank):
            acc[0] = acc[0] + low[col + j] * bt[j, start + o]
        y[t, start + o] = acc[0]
