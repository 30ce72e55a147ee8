"""Hand-scheduled TIR kernels for matmuls with quantized weights.

Weights are stored row-interleaved (:func:`agent_sdk.quantization.formats.pack_rows`):
``R`` consecutive output rows sit side by side in memory, so one vector load
fetches the same input column of ``R`` rows. The kernel then vectorizes over
those ``R`` rows with no horizontal reductions:

    for rb in parallel(N / R):                 # one block of R output rows per task
        y[:, rb] = 0
        for g in K / 32:                       # one quantization group
            w[32, R] = dequant(q[rb, g], scale[rb, g], minv[rb, g])   # in registers / L1
            for t in tokens:                   # decode: 1 token; prefill: many
                for k in 32:                   # unrolled
                    y[t, rb, :] += x[t, g*32 + k] * w[k, :]            # R-wide FMA

The dequantized group is reused by every token, so prefill costs one FMA per
weight per token, and decode streams each weight byte once.
"""

from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T

from agent_sdk.quantization.formats import GROUP

__all__ = ["q_matmul_kernel"]


# The two kernels differ only in how a group is dequantized into ``w``; the
# shared loops are TVMScript macros (inlined into the prim_func body, where
# ordinary Python helpers cannot be called). The prologue (``n``, the
# ``match_buffer`` calls, the block loop) stays written out in each kernel:
# names a macro binds are not visible to the prim_func that calls it.


@T.macro
def _zero_rows(y, n, rb, rows):
    """``y[:, rb*R : (rb+1)*R] = 0``."""
    for t in range(n):
        for r in T.vectorized(rows):
            y[t, rb * rows + r] = T.float32(0)


@T.macro
def _accumulate_group(y, x, w, n, rb, g, rows):
    """``y[t, rb*R + r] += x[t, g*32 + k] * w[k, r]`` for every token ``t`` (unrolled over ``k``)."""
    for t in range(n):
        for k in T.unroll(GROUP):
            for r in T.vectorized(rows):
                y[t, rb * rows + r] = y[t, rb * rows + r] + x[t, g * GROUP + k] * w[k, r]


def q_matmul_kernel(fmt: str, n_out: int, n_in: int, rows: int) -> tirx.PrimFunc:
    """A TIR kernel ``y (n, N) = x (n, K) @ dequant(W).T`` for ``fmt`` in q4/q8.

    Args:
        fmt: ``q4`` or ``q8``.
        n_out: N, output features (a multiple of ``rows``).
        n_in: K, input features (a multiple of 32).
        rows: R, rows interleaved per block (the vector width).
    """
    assert n_out % rows == 0 and n_in % GROUP == 0
    blocks, groups = n_out // rows, n_in // GROUP
    if fmt == "q4":
        return _q4_kernel(blocks, groups, rows, n_in, n_out)
    if fmt == "q8":
        return _q8_kernel(blocks, groups, rows, n_in, n_out)
    raise ValueError(f"no kernel for {fmt!r}")


def _q4_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int) -> tirx.PrimFunc:
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
            w = T.decl_buffer((GROUP, rows), "float32", scope="local")
            _zero_rows(y, n, rb, rows)
            for g in range(groups):
                for wd in T.unroll(4):
                    for j in T.unroll(8):
                        for r in T.vectorized(rows):
                            w[wd * 8 + j, r] = T.Cast(
                                "float32",
                                T.bitwise_and(
                                    T.shift_right(qweight[rb, g * 4 + wd, r], T.uint32(j * 4)), T.uint32(15)
                                ),
                            ) * T.Cast("float32", scale[rb, g, r]) + T.Cast("float32", minv[rb, g, r])
                _accumulate_group(y, x, w, n, rb, g, rows)

    return q4_matmul


def _q8_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int) -> tirx.PrimFunc:
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
            w = T.decl_buffer((GROUP, rows), "float32", scope="local")
            _zero_rows(y, n, rb, rows)
            for g in range(groups):
                for k in T.unroll(GROUP):
                    for r in T.vectorized(rows):
                        w[k, r] = T.Cast("float32", qweight[rb, g * GROUP + k, r]) * T.Cast("float32", scale[rb, g, r])
                _accumulate_group(y, x, w, n, rb, g, rows)

    return q8_matmul
