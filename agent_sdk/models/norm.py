"""RMSNorm as a hand-written TIR kernel, shared by every model family.

TVM's legalized ``rms_norm`` is four loops over the whole ``(tokens, width)``
input with three token-sized intermediate buffers. With a symbolic token
count those buffers are heap allocations on every call (large ones are fresh
``mmap``s, so the call also pays page faults and, with a second thread in the
process, TLB shoot-downs), and the loops run on one thread. Measured on
SmolLM2-135M (``tools/profile_decode.py --prefill 512``, 2026-12-03, AMD EPYC,
q4): its 61 calls per 512-token prefill cost 12 ms at 1 thread and 51 ms at 2.

This kernel normalizes one row at a time with no intermediate buffer: a
vectorized sum of squares, then ``x * rsqrt(mean + eps) * w`` in the same
pass over the (cache-resident) row; rows run in parallel when there are
enough of them to pay for waking the thread pool.

``x``'s last axis is normalized; any leading axes are flattened into rows
(per-head q/k norms pass ``(b, s, heads, d)``).
"""

from __future__ import annotations

import functools

from tvm import tirx
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op
from tvm.script import tirx as T

__all__ = ["PARALLEL_MIN_ROWS", "RMSNorm", "rms_norm_kernel"]

PARALLEL_MIN_ROWS = 16
"""Rows from which the kernel runs them in parallel (a decode step normalizes 1 row, a prompt one per token).

Waking TVM's thread pool costs a few microseconds; a 576-wide row costs ~0.1 us,
so fewer rows stay on the calling thread."""

_LANES = 16
"""Sum-of-squares accumulators per row: one AVX-512 vector, two AVX2 or four NEON registers."""


@T.macro
def _normalize_row(x, w, y, t, width, eps):
    """``y[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w`` with ``_LANES`` independent partial sums."""
    lanes = T.decl_buffer((_LANES,), "float32", scope="global")
    for j in T.vectorized(_LANES):
        lanes[j] = T.float32(0)
    for c in range(width // _LANES):
        for j in T.vectorized(_LANES):
            lanes[j] = lanes[j] + x[t, c * _LANES + j] * x[t, c * _LANES + j]
    for j in T.vectorized(_LANES // 2):
        lanes[j] = lanes[j] + lanes[j + _LANES // 2]
    for j in T.vectorized(_LANES // 4):
        lanes[j] = lanes[j] + lanes[j + _LANES // 4]
    inv = T.rsqrt(((lanes[0] + lanes[2]) + (lanes[1] + lanes[3])) / T.float32(width) + T.float32(eps))
    for c in range(width // _LANES):
        for j in T.vectorized(_LANES):
            y[t, c * _LANES + j] = x[t, c * _LANES + j] * inv * w[c * _LANES + j]


@functools.cache
def rms_norm_kernel(width: int, eps: float) -> tirx.PrimFunc:
    """A TIR kernel ``y (n, width) = rms_norm(x (n, width)) * w`` for any ``n``.

    Built once per ``(width, eps)`` (parsing the script costs ~0.1 s; a model
    has 2 norms per layer), and the same for every target.

    Args:
        width: The normalized axis' length, a multiple of 16.
        eps: Added to the mean square.
    """
    if width % _LANES:
        raise ValueError(f"rms_norm_kernel needs a width that is a multiple of {_LANES}, not {width}")

    @T.prim_func(private=True)
    def rms_norm(var_x: T.handle, w: T.Buffer((width,), "float32"), var_y: T.handle):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, width), "float32")
        y = T.match_buffer(var_y, (n, width), "float32")
        if n >= PARALLEL_MIN_ROWS:
            for t in T.parallel(n):
                _normalize_row(x, w, y, t, width, eps)
        else:
            for t in range(n):
                _normalize_row(x, w, y, t, width, eps)

    return rms_norm


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis.

    Widths that are not a multiple of 16 use TVM's own ``rms_norm``.

    Args:
        width: Length of the normalized (last) axis.
        eps: Added to the mean square.
    """

    def __init__(self, width: int, eps: float) -> None:
        self.weight = nn.Parameter((width,), "float32")
        self.eps = eps

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        width = int(self.weight.shape[0])
        if width % _LANES:
            return op.rms_norm(x, self.weight, axes=[-1], epsilon=self.eps)
        shape = list(x.shape)
        rows = 1
        for dim in shape[:-1]:
            rows = rows * dim
        flat = op.reshape(x, (rows, width))  # (rows, width)
        y = op.tensor_ir_op(
            rms_norm_kernel(width, self.eps), "rms_norm", [flat, self.weight],
            nn.Tensor.placeholder([rows, width], "float32"),
        )
        return op.reshape(y, shape)  # x's shape
