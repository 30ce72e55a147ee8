"""Hand-scheduled TIR kernels for matmuls with quantized weights.

Weights are stored row-interleaved (:func:`agent_sdk.quantization.formats.pack_rows`):
``R`` consecutive output rows sit side by side in memory, so one vector load
fetches the same input column of ``R`` rows. The kernels vectorize over those
``R`` rows with no horizontal reductions, and keep every accumulator in a
register:

    for rb in parallel(N / R):                     # one block of R output rows per task
        for tile of TT tokens:                     # prefill: register tile over tokens
            acc[TT, R] = 0
            for g in K / 32:                       # one quantization group
                for k in 32:                       # unrolled
                    w[R] = dequant(q[rb, g, k], scale[rb, g], minv[rb, g])   # once per tile
                    for t in TT:                   # unrolled: TT independent FMA chains
                        acc[t, :] += x[t, g*32 + k] * w
            y[tile, rb] = acc
        for each remaining token:                  # decode (and the prefill tail)
            acc[A, R] = 0                          # A partial sums over k: A independent chains
            for g, k: acc[k % A, :] += x[t, g*32 + k] * dequant(...)
            y[t, rb] = sum(acc)

A single accumulator would make every FMA wait for the previous one (an FMA
has a latency of ~4 cycles but a throughput of 2 a cycle): the independent
chains, over tokens or over partial sums, keep the FMA units busy.
"""

from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T
from tvm.target import Target
from tvm.target.codegen import target_has_features

from agent_sdk.quantization.formats import GROUP

__all__ = ["PARTIAL_SUMS", "q_matmul_kernel", "token_tile"]

PARTIAL_SUMS = 4
"""Independent partial sums over the reduction when one token remains."""


def token_tile(target: Target | None = None) -> int:
    """Tokens per prefill register tile (``TT``) on ``target`` (default: the current one).

    The tile holds ``TT x R`` fp32 accumulators plus one dequantized column in
    vector registers. With 16-row blocks that is ``TT + 1`` registers with
    AVX-512 (32 registers of 16 lanes), but ``2 (TT + 1)`` with AVX2 (16 of 8
    lanes) and ``4 (TT + 1)`` with NEON (32 of 4 lanes): a larger tile there
    would spill.
    """
    tgt = target if target is not None else Target.current(allow_none=True)
    if tgt is not None and tgt.kind.name == "llvm" and target_has_features("avx512f", tgt):
        return 8
    return 4


# The accumulators are declared in "global" scope on purpose: TVM puts small
# constant-size CPU allocations of that scope on the stack, where LLVM keeps
# them in registers, but serves "local" ones (inside a model's Relax build)
# with TVMBackendAllocWorkspace: heap memory, allocated per row block, that
# every FMA then loads from and stores to (2.2x slower decode kernels).
#
# Both kernels share the loops below and differ only in the dequantizing
# macro they pass in. TVMScript macros are inlined into the prim_func body
# (ordinary Python helpers cannot be called there); a macro given as an
# argument to another macro is expanded at its use.


@T.macro
def _tiled_tokens(y, x, n, rb, rows, groups, tile, dequant_k, params):
    """Full tiles of ``tile`` tokens: the dequantized column is reused by every token of the tile."""
    acc = T.decl_buffer((tile, rows), "float32", scope="global")
    wk = T.decl_buffer((rows,), "float32", scope="global")
    for tt in range(n // tile):
        for t in T.unroll(tile):
            for r in T.vectorized(rows):
                acc[t, r] = T.float32(0)
        for g in range(groups):
            for k in T.unroll(GROUP):
                dequant_k(wk, params, rb, g, k, rows)
                for t in T.unroll(tile):
                    for r in T.vectorized(rows):
                        acc[t, r] = acc[t, r] + x[tt * tile + t, g * GROUP + k] * wk[r]
        for t in T.unroll(tile):
            for r in T.vectorized(rows):
                y[tt * tile + t, rb * rows + r] = acc[t, r]


@T.macro
def _single_tokens(y, x, n, rb, rows, groups, tile, dequant_k, params):
    """Tokens left after the tiles (all of them in decode), one at a time with split partial sums."""
    part = T.decl_buffer((PARTIAL_SUMS, rows), "float32", scope="global")
    wk1 = T.decl_buffer((rows,), "float32", scope="global")
    for t in range(n // tile * tile, n):
        for a in T.unroll(PARTIAL_SUMS):
            for r in T.vectorized(rows):
                part[a, r] = T.float32(0)
        for g in range(groups):
            for k in T.unroll(GROUP):
                dequant_k(wk1, params, rb, g, k, rows)
                for r in T.vectorized(rows):
                    part[k % PARTIAL_SUMS, r] = part[k % PARTIAL_SUMS, r] + x[t, g * GROUP + k] * wk1[r]
        for r in T.vectorized(rows):
            y[t, rb * rows + r] = (part[0, r] + part[1, r]) + (part[2, r] + part[3, r])


@T.macro
def _dequant_q4(wk, params, rb, g, k, rows):
    """``wk[r]`` = value ``k`` of group ``g`` of row ``rb*R + r``: word ``k // 8``, bits ``4 (k % 8)`` up."""
    qweight, scale, minv = params
    for r in T.vectorized(rows):
        wk[r] = T.Cast(
            "float32",
            T.bitwise_and(T.shift_right(qweight[rb, g * 4 + k // 8, r], T.uint32(k % 8 * 4)), T.uint32(15)),
        ) * T.Cast("float32", scale[rb, g, r]) + T.Cast("float32", minv[rb, g, r])


@T.macro
def _dequant_q8(wk, params, rb, g, k, rows):
    """``wk[r]`` = value ``k`` of group ``g`` of row ``rb*R + r``."""
    qweight, scale = params
    for r in T.vectorized(rows):
        wk[r] = T.Cast("float32", qweight[rb, g * GROUP + k, r]) * T.Cast("float32", scale[rb, g, r])


def q_matmul_kernel(fmt: str, n_out: int, n_in: int, rows: int, tile: int | None = None) -> tirx.PrimFunc:
    """A TIR kernel ``y (n, N) = x (n, K) @ dequant(W).T`` for ``fmt`` in q4/q8.

    Args:
        fmt: ``q4`` or ``q8``.
        n_out: N, output features (a multiple of ``rows``).
        n_in: K, input features (a multiple of 32).
        rows: R, rows interleaved per block (the vector width).
        tile: Tokens per prefill register tile; default :func:`token_tile` of the current target.
    """
    assert n_out % rows == 0 and n_in % GROUP == 0
    assert PARTIAL_SUMS == 4  # the final sum in _single_tokens is written out
    blocks, groups = n_out // rows, n_in // GROUP
    tile = tile or token_tile()
    if fmt == "q4":
        return _q4_kernel(blocks, groups, rows, n_in, n_out, tile)
    if fmt == "q8":
        return _q8_kernel(blocks, groups, rows, n_in, n_out, tile)
    raise ValueError(f"no kernel for {fmt!r}")


def _q4_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int) -> tirx.PrimFunc:
    words = n_in // 8

    @T.prim_func(private=True)
    def q4_matmul(
        var_x: T.handle, qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, groups, rows), "float16"), minv: T.Buffer((blocks, groups, rows), "float16"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        for rb in T.parallel(blocks):
            _tiled_tokens(y, x, n, rb, rows, groups, tile, _dequant_q4, (qweight, scale, minv))
            _single_tokens(y, x, n, rb, rows, groups, tile, _dequant_q4, (qweight, scale, minv))

    return q4_matmul


def _q8_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int) -> tirx.PrimFunc:
    @T.prim_func(private=True)
    def q8_matmul(
        var_x: T.handle, qweight: T.Buffer((blocks, n_in, rows), "int8"),
        scale: T.Buffer((blocks, groups, rows), "float16"), var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        for rb in T.parallel(blocks):
            _tiled_tokens(y, x, n, rb, rows, groups, tile, _dequant_q8, (qweight, scale))
            _single_tokens(y, x, n, rb, rows, groups, tile, _dequant_q8, (qweight, scale))

    return q8_matmul
