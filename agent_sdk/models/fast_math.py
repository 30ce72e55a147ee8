"""Element-wise math as plain TIR arithmetic, so LLVM vectorizes it.

``T.exp`` becomes a call to libm's ``expf`` per element, which LLVM cannot
vectorize; a polynomial in registers runs 8-16 lanes at a time. Used by the
attention kernels (softmax) and SwiGLU.
"""

from __future__ import annotations

import math

from tvm import te, tirx
from tvm.script import tirx as T

__all__ = ["exp2", "swiglu", "swiglu_expr"]

# Taylor coefficients of 2^f = e^(f ln 2) up to f^6; with |f| <= 1/2 the
# truncation error is (ln 2 / 2)^7 / 7! ~ 1.2e-7, float32's own precision.
_EXP2_COEFFS = [math.log(2.0) ** k / math.factorial(k) for k in range(7)]


def exp2(x: tirx.PrimExpr) -> tirx.PrimExpr:
    """``2^x`` for float32 ``x <= 0`` as plain arithmetic (vectorizes, unlike a libm call).

    ``x`` is clamped at -126 (2^-126 is the smallest normal float), split as
    ``n + f`` with integer ``n`` and ``|f| <= 1/2``; ``2^n`` is built in the
    exponent bits and ``2^f`` by a degree-6 polynomial.
    """
    x = T.max(x, T.float32(-126.0))
    n = T.floor(x + T.float32(0.5))
    f = x - n
    p = T.float32(_EXP2_COEFFS[-1])
    for c in reversed(_EXP2_COEFFS[:-1]):
        p = p * f + T.float32(c)
    return p * T.reinterpret("float32", T.shift_left(T.Cast("int32", n) + 127, 23))


def swiglu_expr(gate: tirx.PrimExpr, up: tirx.PrimExpr) -> tirx.PrimExpr:
    """``silu(gate) * up = gate * up / (1 + e^-gate)``, with ``e^-gate`` from :func:`exp2`.

    The exponent is clamped to +-126: beyond it ``1 + e^-gate`` is either 1 or
    so large that the quotient is 0 in float32 anyway.
    """
    t = T.min(gate * T.float32(-math.log2(math.e)), T.float32(126.0))
    return gate * up / (T.float32(1.0) + exp2(t))


def swiglu(gate_up: te.Tensor) -> te.Tensor:
    """``(..., 2f)`` gate and up halves side by side -> ``(..., f)``."""
    *lead, two_f = gate_up.shape
    f = two_f // 2
    return te.compute(
        (*lead, f),
        lambda *idx: swiglu_expr(gate_up[idx], gate_up[tuple(idx[:-1]) + (idx[-1] + f,)]),
        name="swiglu",
    )
