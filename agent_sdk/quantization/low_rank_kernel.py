"""A TIR kernel adding a low-rank update to a projection's output: ``y = base + (x A^T) B^T``.

The update is kept beside the stored weights (:mod:`agent_sdk.models.low_rank`)
and is thin (rank ``r`` of 8-64 against 576-1536 features), so a generic
matmul spends its time on loop overhead and on the zero blocks of a fused
projection's block-diagonal ``B``. This kernel works on the compact layout:

    At (K, P r)      A transposed, the P parts' factors side by side
    Bt (r, N)        B transposed; output row o of part p reads low[p r : p r + r]

    for tile of TT tokens in parallel(n / TT):     # prefill; decode and the tail one token at a time
        low[TT, P r] = 0
        for k in K:
            a[P r] = float(At[k, :])                 # once per tile
            for t in TT:  low[t, :] += x[t, k] * a   # vectorized over P r
        for p in parts:                            # static
            for ob in rows_p / V:                  # V outputs at a time
                acc[TT, V] = base[tile, o..o+V]
                for j in r:
                    b[V] = float(Bt[j, o..o+V])      # once per tile
                    for t in TT:  acc[t, :] += low[t, p r + j] * b
                y[tile, o..o+V] = acc

Both inner loops are vector FMAs over contiguous memory with no horizontal
reduction, and a tile of tokens reads the factors once. The kernel does
``r (K P + N)`` multiply-adds per token, against ``P r (K + N)`` for the
block-diagonal product. The factors may be stored in float16 (converted to
float32 as they are loaded; the sums are float32): in decode the factors are
read once per token, and on a memory-bound core their bytes are the cost.
Or in int8 with a float32 scale per row of each factor (``as (P r)`` for
``At``'s columns, ``bs (N)`` for ``Bt``'s): each token's ``low`` is scaled once
after the first stage, and each output once after the second, so the loops
read a quarter of float32's bytes and do the same float32 arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import tirx
from tvm.script import tirx as T

from agent_sdk.quantization.formats import FACTOR_DTYPES

__all__ = ["FACTOR_DTYPES", "MAX_PARTS", "OUTPUT_VECTOR", "TOKEN_TILE", "low_rank_add_kernel"]

MAX_PARTS = 3
"""Parts of a fused projection (q/k/v)."""

OUTPUT_VECTOR = 8
"""Outputs per vector FMA in the second stage (one AVX2 register, two NEON registers)."""

TOKEN_TILE = 4
"""Tokens sharing each load of the factors in prefill (TT above). Measured on SmolLM2-135M's shapes
(tools/bench_low_rank.py): see docs/tuning.md, "What it costs"."""

STACK_FLOATS = 256
"""A tile's first-stage sums stay within this many floats (1 KiB): TVM puts a larger buffer on the heap, allocated
for every tile (the tile shrinks for high ranks: P r = 96 takes 2 tokens, 192 one)."""

FIRST_VECTOR = 8
"""Sums per vector FMA in the first stage."""


def low_rank_add_kernel(n_in: int, n_out: int, rank: int, parts: Sequence[int], *,
                        dtype: str = "float32", tile: int = TOKEN_TILE) -> tirx.PrimFunc:
    """``y (n, N) = base (n, N) + (x (n, K) @ At (K, P r)) per part @ Bt (r, N)``.

    Args:
        n_in: K, input features.
        n_out: N, output features (the sum of ``parts``).
        rank: r, the rank of each part (parts with a smaller rank are zero-padded).
        parts: Output rows of each part, in order (one entry for an unfused projection).
        dtype: How ``At`` and ``Bt`` are stored (:data:`FACTOR_DTYPES`); the arithmetic is float32. With
            ``int8`` the function takes two more buffers after them, their scales ``as (P r)`` and ``bs (N)``
            (float32): ``y = base + ((x @ At) * as) per part @ Bt * bs``.
        tile: Tokens per tile in prefill (at most :data:`STACK_FLOATS` // P r, at least 1).
    """
    assert sum(parts) == n_out and rank >= 1 and all(p > 0 for p in parts)
    assert 1 <= len(parts) <= MAX_PARTS
    assert dtype in FACTOR_DTYPES
    n_parts, width = len(parts), len(parts) * rank
    # each part's first output row and row count, padded to MAX_PARTS (the unused ones are never expanded)
    starts = ([sum(parts[:i]) for i in range(n_parts)] + [0, 0])[:MAX_PARTS]
    rows = (list(parts) + [0, 0])[:MAX_PARTS]
    assert tile >= 1
    tile = max(1, min(tile, STACK_FLOATS // width))
    vec = OUTPUT_VECTOR
    if dtype == "int8":
        return _int8_kernel(n_in, n_out, rank, width, n_parts, starts, rows, tile, vec)

    @T.prim_func(private=True)
    def low_rank_add(
        var_x: T.handle, var_base: T.handle, at: T.Buffer((n_in, width), dtype),
        bt: T.Buffer((rank, n_out), dtype), var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        # unscaled: the scale arguments are never read (the branches on ``False`` go at parse time)
        _body(var_x, var_base, at, bt, at, bt, var_y, tile, n_in, n_out, width, n_parts, starts, rows, rank, vec,
              False)

    return low_rank_add


def _int8_kernel(n_in: int, n_out: int, rank: int, width: int, n_parts: int, starts: list[int], rows: list[int],
                 tile: int, vec: int) -> tirx.PrimFunc:
    """The kernel for int8 factors with their row scales (see :func:`low_rank_add_kernel`)."""

    @T.prim_func(private=True)
    def low_rank_add(
        var_x: T.handle, var_base: T.handle, at: T.Buffer((n_in, width), "int8"),
        bt: T.Buffer((rank, n_out), "int8"), a_scale: T.Buffer((width,), "float32"),
        b_scale: T.Buffer((n_out,), "float32"), var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        _body(var_x, var_base, at, bt, a_scale, b_scale, var_y, tile, n_in, n_out, width, n_parts, starts, rows, rank,
              vec, True)

    return low_rank_add


@T.macro
def _part(y, base, bt, b_scale, low, t0, tile, start, rows, col, rank, vec, scaled):
    """Outputs ``start .. start + rows`` of tokens ``t0 .. t0 + tile``: V at a time, then the remainder one by one.

    ``scaled`` (a Python bool, so the branches go at parse time): int8 ``Bt``, each output's sum scaled once by
    ``b_scale`` and then added to its base; otherwise the sums start from the base.
    """
    acc = T.decl_buffer((tile, vec), "float32", scope="global")
    b = T.decl_buffer((vec,), "float32", scope="global")
    for ob in range(rows // vec):
        for tt in T.unroll(tile):
            for v in T.vectorized(vec):
                if scaled:
                    acc[tt, v] = T.float32(0)
                else:
                    acc[tt, v] = base[t0 + tt, start + ob * vec + v]
        for j in range(rank):
            for v in T.vectorized(vec):
                b[v] = T.Cast("float32", bt[j, start + ob * vec + v])
            for tt in T.unroll(tile):
                for v in T.vectorized(vec):
                    acc[tt, v] = acc[tt, v] + low[tt, col + j] * b[v]
        for tt in T.unroll(tile):
            for v in T.vectorized(vec):
                if scaled:
                    y[t0 + tt, start + ob * vec + v] = (base[t0 + tt, start + ob * vec + v]
                                                        + acc[tt, v] * b_scale[start + ob * vec + v])
                else:
                    y[t0 + tt, start + ob * vec + v] = acc[tt, v]
    for o in range(rows // vec * vec, rows):
        for tt in T.unroll(tile):
            if scaled:
                acc[tt, 0] = T.float32(0)
            else:
                acc[tt, 0] = base[t0 + tt, start + o]
            for j in range(rank):
                acc[tt, 0] = acc[tt, 0] + low[tt, col + j] * T.Cast("float32", bt[j, start + o])
            if scaled:
                y[t0 + tt, start + o] = base[t0 + tt, start + o] + acc[tt, 0] * b_scale[start + o]
            else:
                y[t0 + tt, start + o] = acc[tt, 0]


@T.macro
def _tokens(x, base, at, bt, a_scale, b_scale, y, t0, tile, n_in, width, n_parts, starts, rows, rank, vec, scaled):
    """Tokens ``t0 .. t0 + tile``: their ``x A^T`` (times ``a_scale`` when ``scaled``), then each part's outputs."""
    # "global" scope: small constant-size buffers go on the stack (see kernels.py)
    low = T.decl_buffer((tile, width), "float32", scope="global")
    a = T.decl_buffer((width,), "float32", scope="global")
    for tt in T.unroll(tile):
        for j in range(width):
            low[tt, j] = T.float32(0)
    for k in range(n_in):
        for jo in T.unroll(width // FIRST_VECTOR):
            for ji in T.vectorized(FIRST_VECTOR):
                a[jo * FIRST_VECTOR + ji] = T.Cast("float32", at[k, jo * FIRST_VECTOR + ji])
        for j in range(width // FIRST_VECTOR * FIRST_VECTOR, width):
            a[j] = T.Cast("float32", at[k, j])
        for tt in T.unroll(tile):
            # FIRST_VECTOR sums at a time: one vector loop over all P r sums compiled to slow code (4.7x slower
            # at P r = 48 on an AVX-512 host, tools/bench_low_rank.py)
            for jo in T.unroll(width // FIRST_VECTOR):
                for ji in T.vectorized(FIRST_VECTOR):
                    low[tt, jo * FIRST_VECTOR + ji] = (low[tt, jo * FIRST_VECTOR + ji]
                                                       + x[t0 + tt, k] * a[jo * FIRST_VECTOR + ji])
            for j in range(width // FIRST_VECTOR * FIRST_VECTOR, width):
                low[tt, j] = low[tt, j] + x[t0 + tt, k] * a[j]
    if scaled:
        for tt in T.unroll(tile):
            for j in range(width):
                low[tt, j] = low[tt, j] * a_scale[j]
    # the parts are expanded at parse time (conditions on Python ints)
    _part(y, base, bt, b_scale, low, t0, tile, starts[0], rows[0], 0, rank, vec, scaled)
    if n_parts > 1:
        _part(y, base, bt, b_scale, low, t0, tile, starts[1], rows[1], rank, rank, vec, scaled)
    if n_parts > 2:
        _part(y, base, bt, b_scale, low, t0, tile, starts[2], rows[2], 2 * rank, rank, vec, scaled)


@T.macro
def _body(var_x, var_base, at, bt, a_scale, b_scale, var_y, tile, n_in, n_out, width, n_parts, starts, rows, rank, vec,
          scaled):
    """Both kernels' body: whole tiles of tokens in parallel, then the tail one token at a time."""
    n = T.int64()
    x = T.match_buffer(var_x, (n, n_in), "float32")
    base = T.match_buffer(var_base, (n, n_out), "float32")
    y = T.match_buffer(var_y, (n, n_out), "float32")
    if n >= tile:
        for tb in T.parallel(n // tile):
            _tokens(x, base, at, bt, a_scale, b_scale, y, tb * tile, tile, n_in, width, n_parts, starts, rows, rank,
                    vec, scaled)
    for t in T.parallel(n % tile):
        _tokens(x, base, at, bt, a_scale, b_scale, y, n // tile * tile + t, 1, n_in, width, n_parts, starts, rows,
                rank, vec, scaled)
