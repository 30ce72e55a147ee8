"""q4 weights x int8 activations with integer dot products (the ``q4a8`` mode).

As llama.cpp does for Q4_1 x Q8_1: each token's activations are quantized to
int8 per group of 32 (``x ~ d * q``, ``d = max|x| / 127``), and a group's
products are summed in int32 by a 4-way byte dot-product instruction:
``vpdpbusd`` (AVX-512 VNNI) on x86, ``vpmaddubsw`` + ``vpmaddwd`` with AVX2, ``sdot``
on ARMv8.2 (``+dotprod``), plain int32 arithmetic elsewhere (Cortex-A72). Per group and row,

    y += (scale * d) * sum_k q_w[k] q_x[k]  +  minv * (d * sum_k q_x[k])

The stored q4 layout needs no change: a 32-bit word holds values k0..k7 of a
row as nibbles, byte j holding k_{2j} (low) and k_{2j+1} (high). Masking
the low nibbles gives the bytes (k0, k2, k4, k6), shifting first gives
(k1, k3, k5, k7); the activations are stored in that order inside every
8-value chunk (evens, then odds), so one broadcast 32-bit word of them meets
four weights of every row in a dot-product lane.

In prefill, tokens run in register tiles (:data:`_TOKEN_TILE`: 4 with
AVX-512 VNNI, 2 with AVX2 and ``sdot``): a group's weight words are masked
once and dotted with every token of the tile. A token's sums and its float
accumulation are the same as when it runs alone (tested bit for bit).
SmolLM2-135M at 1 thread: 64-token prefill 772 -> 934 tok/s, 512 tokens
667 -> 782 (``tools/profile_decode.py --prefill``).

Numerics differ from the float kernels (activation rounding, ~0.4% per
value), which is why this is a separate quantization mode.

``q4a16`` rounds the activations to int16 instead (``d = max|x| / 32767``:
steps 256 times finer: SmolLM2's logits within 0.007 of the float kernels'), and sums
pairs of int16 products with ``vpdpwssd`` (AVX-512 VNNI) or ``vpmaddwd``
(AVX2). A 32-bit weight word's nibbles are masked into four int16 pairs
per row, ``(k0, k4)``, ``(k1, k5)``, ``(k2, k6)``, ``(k3, k7)``, the second
and fourth left in place (16 times their value, summed apart and shifted
down by 4 at the end of the group); the activations are stored in that
pair order. A group sum reaches at most 32 x 15 x 32,767 < 2^24: exact in
int32 and in its float32 conversion.

Every CPU computes the same thing from the same activations: the rounding
is fp32 operations IEEE 754 specifies exactly (max, division, multiply,
round-half-to-even) and the group sums are exact int32 arithmetic, so VNNI,
``sdot`` and the plain-integer path give bit-identical int8 values and sums
(``q4a8_group_sums_kernel`` exposes them to tests). What differs between
CPUs is the float arithmetic *before* the rounding (reductions vectorized
with another width, see docs/cpu_kernels.md): a 1-ulp change of an input
can move a value across a rounding boundary, a step of ``max|x| / 127``
(``/ 32767`` with int16 activations).
"""

from __future__ import annotations

import functools
from typing import Any

from tvm import tirx
from tvm.script import tirx as T
from tvm.target import Target
from tvm.target.codegen import target_has_features

from agent_sdk.quantization.formats import GROUP
from agent_sdk.quantization.prefetch import PREFETCH_BYTES, PREFETCH_HEAD_BYTES, Ahead, ahead_plan, prefetch

__all__ = ["dot_kind", "q4a8_group_sums_kernel", "q4a8_matmul_kernel", "q4a16_matmul_kernel"]

_MASK = 0x0F0F0F0F
#: int16 mode: nibbles 0 and 4 of a word, each in the low bits of its 16-bit half.
_PAIR_MASK = 0x000F000F
#: Float scratch per token while rounding: the group's max and 1/step, 8 lanes of max, 8 lanes of sums.
_SCRATCH = 18
#: Largest rounded activation per mode (activation bits -> qmax).
_QMAX = {8: 127, 16: 32767}
#: Groups whose max |x| is below this round to zero, per activation bits: ``127 / max`` would
#: overflow float32 below ~3.7e-37 (2^-120 is safe), ``32767 / max`` below ~9.6e-35 (2^-112 is safe),
#: and converting inf or NaN to an integer is undefined (x86 and ARM give different values).
_MIN_GROUP_MAX = {8: 2.0**-120, 16: 2.0**-112}


def dot_kind(target: Target | None = None) -> str:
    """``vnni`` (AVX-512 VNNI), ``avx2`` (``vpmaddubsw``), ``sdot`` (AArch64 dotprod) or ``generic`` for ``target``
    (default: current)."""
    tgt = target if target is not None else Target.current(allow_none=True)
    if tgt is None or tgt.kind.name != "llvm":
        return "generic"
    triple = str(tgt.attrs.get("mtriple", ""))
    if triple.startswith("aarch64"):
        return "sdot" if target_has_features("dotprod", tgt) else "generic"
    if target_has_features("avx512vnni", tgt) and target_has_features("avx512bw", tgt):
        return "vnni"
    if target_has_features("avx2", tgt):
        return "avx2"
    return "generic"


def _lanes(kind: str, rows: int) -> int:
    """int32 lanes per dot-product instruction (rows handled per call)."""
    want = {"vnni": 16, "avx2": 8, "sdot": 4}.get(kind, rows)
    return want if rows % want == 0 else rows


_X86_KINDS = ("vnni", "avx2")
"""Dot-product kinds of x86 targets: their kernels prefetch weights (:mod:`agent_sdk.quantization.prefetch`)."""

_PARALLEL_MIN_TOKENS = 16
"""Tokens from which their activations are rounded to int8 (int16) in parallel (waking the thread pool costs a few
microseconds; a token's rounding, ~0.5-1.5 us at SmolLM2's widths, is not worth it alone)."""

_TOKEN_TILE = {"vnni": 4, "avx2": 2, "sdot": 2}
"""Tokens per register tile in prefill, per dot-product kind: each tile token keeps two int32 partial sums per
row vector, and a group's masked weight words are shared by the tile's tokens. AVX-512: 4 tokens x 2 = 8 of 32
registers; AVX2 (two 8-lane registers per 16 rows) and NEON (four) hold 2 tokens without spilling; the plain
integer path (Cortex-A72) has nothing to share and stays one token at a time."""


def _idx(base: tirx.PrimExpr, lanes: int) -> tirx.PrimExpr:
    return base if lanes == 1 else T.ramp(base, 1, lanes)


def _bc(value: tirx.PrimExpr, lanes: int) -> tirx.PrimExpr:
    return value if lanes == 1 else T.broadcast(value, lanes)


def _dot(kind: str, lanes: int, acc: tirx.PrimExpr, w: tirx.PrimExpr, xq: tirx.Buffer, xq32: tirx.Buffer,
         t: tirx.PrimExpr, base: tirx.PrimExpr) -> tirx.PrimExpr:
    """``acc[r] += sum_{b<4} byte_b(w[r]) * xq[t, base + b]`` for ``lanes`` rows; ``base`` is a multiple of 4."""
    if kind == "vnni" and lanes == 16:
        xv = T.reinterpret("int8x64", T.broadcast(xq32[t, base // 4], 16))
        return T.call_llvm_pure_intrin(
            "int32x16", "llvm.x86.avx512.vpdpbusd.512", acc, T.reinterpret("uint8x64", w), xv
        )
    if kind == "avx2" and lanes == 8:
        # vpdpbusd's sum in two steps: vpmaddubsw multiplies unsigned weight bytes by signed activation bytes and
        # adds neighbours into int16 (at most 2 * 15 * 127 = 3,810: never saturates), vpmaddwd adds the int16 pairs
        # into each row's int32 lane.
        xv = T.reinterpret("int8x32", T.broadcast(xq32[t, base // 4], 8))
        pairs = T.call_llvm_pure_intrin("int16x16", "llvm.x86.avx2.pmadd.ub.sw", T.reinterpret("uint8x32", w), xv)
        return acc + T.call_llvm_pure_intrin("int32x8", "llvm.x86.avx2.pmadd.wd", pairs, T.broadcast(T.int16(1), 16))
    if kind == "sdot" and lanes == 4:
        xv = T.reinterpret("int8x16", T.broadcast(xq32[t, base // 4], 4))
        return T.call_llvm_pure_intrin(
            "int32x4", "llvm.aarch64.neon.sdot.v4i32.v16i8", acc, T.reinterpret("int8x16", w), xv
        )
    out = acc
    for b in range(4):
        wb = T.Cast("int32" if lanes == 1 else f"int32x{lanes}",
                    T.bitwise_and(T.shift_right(w, _bc(T.uint32(8 * b), lanes)), _bc(T.uint32(0xFF), lanes)))
        out = out + wb * _bc(T.Cast("int32", xq[t, base + b]), lanes)
    return out


def _dot16(kind: str, lanes: int, acc: tirx.PrimExpr, w: tirx.PrimExpr, xq: tirx.Buffer, xq32: tirx.Buffer,
           t: tirx.PrimExpr, pair: tirx.PrimExpr) -> tirx.PrimExpr:
    """``acc[r] += lo16(w[r]) * xq[t, 2 pair] + hi16(w[r]) * xq[t, 2 pair + 1]`` for ``lanes`` rows (int16 values)."""
    if kind == "vnni" and lanes == 16:
        xv = T.reinterpret("int16x32", T.broadcast(xq32[t, pair], 16))
        return T.call_llvm_pure_intrin(
            "int32x16", "llvm.x86.avx512.vpdpwssd.512", acc, T.reinterpret("int16x32", w), xv
        )
    if kind == "avx2" and lanes == 8:
        # vpmaddwd: each row's two int16 products added into its int32 lane (at most 2 x 240 x 32,767: no overflow)
        xv = T.reinterpret("int16x16", T.broadcast(xq32[t, pair], 8))
        return acc + T.call_llvm_pure_intrin("int32x8", "llvm.x86.avx2.pmadd.wd", T.reinterpret("int16x16", w), xv)
    lo = T.Cast("int32" if lanes == 1 else f"int32x{lanes}", T.bitwise_and(w, _bc(T.uint32(0xFFFF), lanes)))
    hi = T.Cast("int32" if lanes == 1 else f"int32x{lanes}", T.shift_right(w, _bc(T.uint32(16), lanes)))
    return (acc + lo * _bc(T.Cast("int32", xq[t, 2 * pair]), lanes)) + hi * _bc(T.Cast("int32", xq[t, 2 * pair + 1]), lanes)


def _stored_source(e: Any, bits: int) -> Any:
    """Which value of an 8-chunk is stored at position ``e``: int8 evens then odds, int16 pairs ``(i, i + 4)``."""
    return e // 2 + 4 * (e % 2) if bits == 16 else e % 4 * 2 + e // 4


def _group_sum(acc0: tirx.PrimExpr, acc1: tirx.PrimExpr, bits: int) -> tirx.PrimExpr:
    """A group's integer sum from its two partial sums (int16 mode: ``acc1`` holds 16 times its products)."""
    return acc0 + T.shift_right(acc1, 4) if bits == 16 else acc0 + acc1


@T.macro
def _group_step(x, xd, st, t, g, bits):
    """Group ``g`` of token ``t``: ``xd[t, g] = max|x| / qmax`` and ``st[0] = qmax / max|x|`` (0 below
    ``_MIN_GROUP_MAX``), the max taken 8 lanes at a time in ``st[2:10]`` (exact in any order)."""
    for j in T.vectorized(8):
        st[2 + j] = T.float32(0)
    for c in T.unroll(4):
        for j in T.vectorized(8):
            st[2 + j] = T.max(st[2 + j], T.abs(x[t, g * GROUP + c * 8 + j]))
    st[0] = T.max(T.max(T.max(st[2], st[3]), T.max(st[4], st[5])), T.max(T.max(st[6], st[7]), T.max(st[8], st[9])))
    xd[t, g] = st[0] / T.float32(_QMAX[bits])
    st[0] = T.if_then_else(st[0] >= T.float32(_MIN_GROUP_MAX[bits]), T.float32(_QMAX[bits]) / st[0], T.float32(0))


def _word_part(word: tirx.PrimExpr, i: Any, bits: int) -> tirx.PrimExpr:
    """Part ``i`` of a q4 weight word as a dot product reads it: int8 mode the low (0) or high (1) nibbles as bytes;
    int16 mode the pairs ``(k0, k4)``, ``16 (k1, k5)``, ``(k2, k6)``, ``16 (k3, k7)`` (i = 0..3). ``i`` is an
    unrolled loop variable: the shifts and masks fold to constants."""
    if bits == 16:
        return T.bitwise_and(
            T.shift_right(word, T.Cast("uint32", 8 * (i // 2))),
            T.shift_left(T.uint32(_PAIR_MASK), T.Cast("uint32", 4 * (i % 2))),
        )
    return T.bitwise_and(T.shift_right(word, T.Cast("uint32", 4 * i)), T.uint32(_MASK))


def _part_dot(kind: str, lanes: int, acc: tirx.PrimExpr, w: tirx.PrimExpr, xq: tirx.Buffer, xq32: tirx.Buffer,
              t: tirx.PrimExpr, base: tirx.PrimExpr, i: Any, bits: int) -> tirx.PrimExpr:
    """``acc`` plus part ``i`` (:func:`_word_part`) of the word of weights ``base .. base + 7`` times their activations."""
    if bits == 16:
        return _dot16(kind, lanes, acc, w, xq, xq32, t, base // 2 + i)
    return _dot(kind, lanes, acc, w, xq, xq32, t, base + 4 * i)


def _kernel_plan(n_out: int, n_in: int, rows: int, kind: str | None) -> tuple[str, int, int, int, int]:
    assert n_out % rows == 0 and n_in % GROUP == 0
    kind = kind or dot_kind()
    return kind, _lanes(kind, rows), n_out // rows, n_in // GROUP, n_in // 8


def _macros(kind: str, lanes: int, rows: int, groups: int, bits: int = 8) -> tuple[Any, Any, Any]:
    """The steps the q4a8 kernels share, as TVMScript macros.

    ``quantize_activations`` rounds each token's activations to int8 per
    group (the only float rounding in the int8 path: one IEEE division, one
    multiply, round-half-to-even, each an exactly specified fp32 operation
    on every CPU; groups below ``_MIN_GROUP_MAX`` become zeros); ``group_dot`` sums a group's 32 products into two int32
    partial sums for each token of a tile; ``token_tiles`` scales those sums into a matmul's outputs. Weights are 0..15 and activations -127..127, so a 4-byte
    lane adds at most 4 * 15 * 127 = 7,620 and a group 60,960: no
    instruction saturates (``vpdpbusd`` and ``sdot`` never do; AVX2's
    ``vpmaddubsw`` saturates at 32,767 but adds only two products, at most
    3,810). With ``bits=16`` the activations are int16 (``|q| <= 32,767``), each word's nibbles are
    masked into four int16 pairs (two of them in place, 16 times their value) and the group sum is
    ``acc0 + (acc1 >> 4)``: at most 32 x 15 x 32,767 < 2^24, so exact in int32 and in float32.
    """
    act_dtype = f"int{bits}"
    # x86: the weight words' lines prefetched ahead (agent_sdk.quantization.prefetch); group g reads words 4g .. 4g + 3
    ahead = ahead_plan(4, 4 * rows, PREFETCH_BYTES) if kind in _X86_KINDS else Ahead()

    @T.macro
    def quantize_token(x: Any, xq: Any, xd: Any, xs: Any, st: Any, t: Any) -> None:
        # 8 lanes at a time (st[2:10] the lanes' max, st[10:18] their sums: max and sums of at most 32 rounded
        # values below 2^24 are exact in any order); values of each 8-chunk stored in _stored_source order
        for g in range(groups):
            _group_step(x, xd, st, t, g, bits)
            for j in T.vectorized(8):
                st[10 + j] = T.float32(0)
            for c in T.unroll(4):
                for e in T.vectorized(8):
                    xq[t, g * GROUP + c * 8 + e] = T.Cast(
                        act_dtype, T.nearbyint(x[t, g * GROUP + c * 8 + _stored_source(e, bits)] * st[0])
                    )
                for e in T.vectorized(8):
                    st[10 + e] = st[10 + e] + T.Cast("float32", xq[t, g * GROUP + c * 8 + e])
            st[1] = ((st[10] + st[11]) + (st[12] + st[13])) + ((st[14] + st[15]) + (st[16] + st[17]))
            xs[t, g] = st[1] * xd[t, g]

    @T.macro
    def quantize_activations(x: Any, xq: Any, xd: Any, xs: Any, st: Any, n: Any) -> None:
        # a prompt's tokens in parallel (each with its own scratch); a decode step's token on the calling thread
        if n >= _PARALLEL_MIN_TOKENS:
            for t in T.parallel(n):
                stt = T.decl_buffer((_SCRATCH,), "float32", scope="global")
                quantize_token(x, xq, xd, xs, stt, t)
        else:
            for t in range(n):
                quantize_token(x, xq, xd, xs, st, t)

    masked = 4 if bits == 16 else 2  # parts of a weight word (_word_part)

    @T.macro
    def group_dot(acci: Any, wm: Any, qweight: Any, xq: Any, xq32: Any, rb: Any, t0: Any, g: Any,
                  tile: Any) -> None:
        # tokens t0 .. t0 + tile: each weight word masked once into its parts, each part dotted with every token of
        # the tile; even parts add into acci[t, 0], odd ones into acci[t, 1] (int16: the pairs in place, x16)
        for t in T.unroll(tile):
            for h in T.unroll(2):
                for r in T.vectorized(rows):
                    acci[t, h, r] = 0
        if ahead.count > 0:
            for line in T.unroll(ahead.count):
                T.evaluate(prefetch(T.address_of(qweight[rb, g * 4 + ahead.first + line * ahead.step, 0])))
        for wd in T.unroll(4):
            for i in T.unroll(masked):
                for r in T.vectorized(rows):
                    wm[i, r] = _word_part(qweight[rb, g * 4 + wd, r], i, bits)
            for c in T.unroll(rows // lanes):
                for t in T.unroll(tile):
                    for i in T.unroll(masked):
                        acci[t, i % 2, _idx(c * lanes, lanes)] = _part_dot(
                            kind, lanes, acci[t, i % 2, _idx(c * lanes, lanes)], wm[i, _idx(c * lanes, lanes)],
                            xq, xq32, t0 + t, g * GROUP + wd * 8, i, bits,
                        )

    @T.macro
    def token_tiles(y: Any, qweight: Any, scale: Any, minv: Any, xq: Any, xq32: Any, xd: Any, xs: Any, rb: Any,
                    first: Any, count: Any, tile: Any) -> None:
        # ``count`` tiles of ``tile`` tokens from token ``first``: integer group sums scaled into fp32 per group
        acc = T.decl_buffer((tile, rows), "float32", scope="global")
        acci = T.decl_buffer((tile, 2, rows), "int32", scope="global")
        wm = T.decl_buffer((masked, rows), "uint32", scope="global")
        for tt in range(count):
            for t in T.unroll(tile):
                for r in T.vectorized(rows):
                    acc[t, r] = T.float32(0)
            for g in range(groups):
                group_dot(acci, wm, qweight, xq, xq32, rb, first + tt * tile, g, tile)
                for t in T.unroll(tile):
                    for r in T.vectorized(rows):
                        acc[t, r] = acc[t, r] + T.Cast("float32", _group_sum(acci[t, 0, r], acci[t, 1, r], bits)) * (
                            T.Cast("float32", scale[rb, g, r]) * xd[first + tt * tile + t, g]
                        ) + T.Cast("float32", minv[rb, g, r]) * xs[first + tt * tile + t, g]
            for t in T.unroll(tile):
                for r in T.vectorized(rows):
                    y[first + tt * tile + t, rb * rows + r] = acc[t, r]

    return quantize_activations, group_dot, token_tiles


def q4a8_matmul_kernel(n_out: int, n_in: int, rows: int, kind: str | None = None) -> tirx.PrimFunc:
    """``y (n, N) = x (n, K) @ dequant(W).T`` with ``x`` rounded to int8 per group (see module doc).

    Args:
        n_out: N (a multiple of ``rows``).
        n_in: K (a multiple of 32).
        rows: R, rows interleaved per block in the stored q4 weight.
        kind: Dot-product instruction (:func:`dot_kind`); default: the current target's.
    """
    return _integer_matmul(n_out, n_in, rows, kind or dot_kind(), 8)


def q4a16_matmul_kernel(n_out: int, n_in: int, rows: int, kind: str | None = None) -> tirx.PrimFunc:
    """As :func:`q4a8_matmul_kernel` with ``x`` rounded to int16 per group (``q4a16``: 256 times finer steps).

    Pairs of int16 products are summed by ``vpdpwssd`` (AVX-512 VNNI) or ``vpmaddwd`` (AVX2); other CPUs use
    plain int32 arithmetic.
    """
    return _integer_matmul(n_out, n_in, rows, kind or dot_kind(), 16)


@functools.cache
def _integer_matmul(n_out: int, n_in: int, rows: int, kind: str, bits: int) -> tirx.PrimFunc:
    """:func:`q4a8_matmul_kernel` (``bits`` 8) or :func:`q4a16_matmul_kernel` (16) for a resolved ``kind``, built
    once per shape (a model has one per layer)."""
    kind, lanes, blocks, groups, words = _kernel_plan(n_out, n_in, rows, kind)
    quantize_activations, _, token_tiles = _macros(kind, lanes, rows, groups, bits)
    tile = _TOKEN_TILE.get(kind, 1)
    act = f"int{bits}"
    per_word = 32 // bits  # activations per 32-bit word

    @T.prim_func(private=True)
    def q4a8_matmul(
        var_x: T.handle, qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, groups, rows), "float16"), minv: T.Buffer((blocks, groups, rows), "float16"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        xq = T.decl_buffer((n, n_in), act)
        xq32 = T.decl_buffer((n, n_in // per_word), "int32", data=xq.data)
        xd = T.decl_buffer((n, groups), "float32")
        xs = T.decl_buffer((n, groups), "float32")
        st = T.decl_buffer((_SCRATCH,), "float32", scope="global")
        # 1. activations -> int8 / int16
        quantize_activations(x, xq, xd, xs, st, n)
        # 2. integer dot products per group, scaled into fp32 per group
        for rb in T.parallel(blocks):
            token_tiles(y, qweight, scale, minv, xq, xq32, xd, xs, rb, 0, n // tile, tile)
            token_tiles(y, qweight, scale, minv, xq, xq32, xd, xs, rb, n // tile * tile, n % tile, 1)

    return q4a8_matmul


def q4a8_group_sums_kernel(n_out: int, n_in: int, rows: int, kind: str | None = None, *,
                           bits: int = 8) -> tirx.PrimFunc:
    """The integer half of :func:`q4a8_matmul_kernel` (or, ``bits=16``, :func:`q4a16_matmul_kernel`), for exact
    tests on every CPU.

    The same two steps (macros) as the matmul, writing what they produce
    instead of scaling it: ``xq (n, K)`` int8 (int16), the rounded activations in
    stored order (:func:`_stored_source`), and ``sums (n, K/32, N)`` int32,
    ``sum_k q_w[k] q_x[k]`` per token, group and row.

    Args:
        n_out: N (a multiple of ``rows``).
        n_in: K (a multiple of 32).
        rows: R, rows interleaved per block in the stored q4 weight.
        kind: Dot-product instruction (:func:`dot_kind`); default: the current target's.
        bits: Activation bits, 8 or 16.
    """
    kind, lanes, blocks, groups, words = _kernel_plan(n_out, n_in, rows, kind)
    quantize_activations, group_dot, _ = _macros(kind, lanes, rows, groups, bits)
    act = f"int{bits}"
    per_word = 32 // bits
    masked = 4 if bits == 16 else 2

    @T.prim_func(private=True)
    def q4a8_group_sums(
        var_x: T.handle, qweight: T.Buffer((blocks, words, rows), "uint32"), var_xq: T.handle, var_sums: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        xq = T.match_buffer(var_xq, (n, n_in), act)
        sums = T.match_buffer(var_sums, (n, groups, n_out), "int32")
        xq32 = T.decl_buffer((n, n_in // per_word), "int32", data=xq.data)
        xd = T.decl_buffer((n, groups), "float32")
        xs = T.decl_buffer((n, groups), "float32")
        st = T.decl_buffer((_SCRATCH,), "float32", scope="global")
        quantize_activations(x, xq, xd, xs, st, n)
        for rb in T.parallel(blocks):
            acci = T.decl_buffer((1, 2, rows), "int32", scope="global")
            wm = T.decl_buffer((masked, rows), "uint32", scope="global")
            for t in range(n):
                for g in range(groups):
                    group_dot(acci, wm, qweight, xq, xq32, rb, t, g, 1)
                    for r in T.vectorized(rows):
                        sums[t, g, rb * rows + r] = _group_sum(acci[0, 0, r], acci[0, 1, r], bits)

    return q4a8_group_sums


#: Partial sums per row vector in the q8 x int16 head kernel: ``vpdpwssd``'s latency (~5 cycles) over its
#: throughput, so consecutive pairs of a group do not wait for each other.
_HEAD_PARTIALS = 4


def q8a16_matmul_kernel(n_out: int, n_in: int, rows: int, kind: str | None = None) -> tirx.PrimFunc:
    """``y (n, N) = x (n, K) @ dequant(W).T`` for a q8 weight (the output head) with ``x`` rounded to int16.

    ``q4a16``'s head: the int8 weights of columns ``k`` and ``k + 1`` (16 rows
    each, adjacent in the stored layout) are sign-extended to int16 and
    interleaved into one row's pair per 32-bit lane, then summed against the
    token's ``(x_k, x_k+1)`` pair by ``vpdpwssd``: three instructions per 32
    multiply-adds where the float kernel needs six. Other CPUs compute the
    same sums with plain int32 arithmetic. Per group of 32 the int32 sum
    (at most 32 x 127 x 32,767) is scaled into float32 as in :func:`q4a16_matmul_kernel`.

    Args:
        n_out: N (a multiple of ``rows``).
        n_in: K (a multiple of 32).
        rows: R, rows interleaved per block in the stored q8 weight.
        kind: Dot-product instruction (:func:`dot_kind`); default: the current target's.
    """
    return _q8a16_matmul(n_out, n_in, rows, kind or dot_kind())


@functools.cache
def _q8a16_matmul(n_out: int, n_in: int, rows: int, kind: str) -> tirx.PrimFunc:
    assert n_out % rows == 0 and n_in % GROUP == 0
    blocks, groups, pairs = n_out // rows, n_in // GROUP, n_in // 2
    fast = kind == "vnni" and rows == 16
    # x86: the group's weight lines prefetched ahead, by the first token (agent_sdk.quantization.prefetch)
    ahead = ahead_plan(GROUP, rows, PREFETCH_HEAD_BYTES) if kind in _X86_KINDS else Ahead()
    parts = _HEAD_PARTIALS
    # lane 2r takes row r of column k, lane 2r + 1 row r of column k + 1 (sign-extended: [k rows..., k+1 rows...])
    order = [i // 2 + rows * (i % 2) for i in range(2 * rows)]

    @T.macro
    def quantize_token(x: Any, xq: Any, xd: Any, st: Any, t: Any) -> None:
        # as the q4a16 kernels, in natural order (a pair is two neighbouring columns)
        for g in range(groups):
            _group_step(x, xd, st, t, g, 16)
            for k in T.vectorized(GROUP):
                xq[t, g * GROUP + k] = T.Cast("int16", T.nearbyint(x[t, g * GROUP + k] * st[0]))

    @T.prim_func(private=True)
    def q8a16_matmul(
        var_x: T.handle, qweight: T.Buffer((blocks, n_in, rows), "int8"),
        scale: T.Buffer((blocks, groups, rows), "float16"), var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        qpair = T.decl_buffer((blocks, pairs, 2 * rows), "int8", data=qweight.data)
        xq = T.decl_buffer((n, n_in), "int16")
        xq32 = T.decl_buffer((n, pairs), "int32", data=xq.data)
        xd = T.decl_buffer((n, groups), "float32")
        st = T.decl_buffer((_SCRATCH,), "float32", scope="global")
        for t in range(n):
            quantize_token(x, xq, xd, st, t)
        for rb in T.parallel(blocks):
            acc = T.decl_buffer((rows,), "float32", scope="global")
            acci = T.decl_buffer((parts, rows), "int32", scope="global")
            for t in range(n):
                for r in T.vectorized(rows):
                    acc[r] = T.float32(0)
                for g in range(groups):
                    if ahead.count > 0:  # noqa: SIM102 (a Python condition at build time; the inner one runs)
                        if t == 0:
                            for line in T.unroll(ahead.count):
                                T.evaluate(prefetch(T.address_of(
                                    qweight[rb, g * GROUP + ahead.first + line * ahead.step, 0])))
                    for a in T.unroll(parts):
                        for r in T.vectorized(rows):
                            acci[a, r] = 0
                    for p in T.unroll(GROUP // 2):
                        if fast:
                            acci[p % parts, T.ramp(0, 1, rows)] = T.call_llvm_pure_intrin(
                                "int32x16", "llvm.x86.avx512.vpdpwssd.512", acci[p % parts, T.ramp(0, 1, rows)],
                                T.Shuffle([T.Cast("int16x32", qpair[rb, g * 16 + p, T.ramp(0, 1, 2 * rows)])], order),
                                T.reinterpret("int16x32", T.broadcast(xq32[t, g * 16 + p], rows)),
                            )
                        else:
                            for r in T.vectorized(rows):
                                acci[p % parts, r] = acci[p % parts, r] + (
                                    T.Cast("int32", qweight[rb, g * GROUP + 2 * p, r]) * T.Cast("int32", xq[t, g * GROUP + 2 * p])
                                    + T.Cast("int32", qweight[rb, g * GROUP + 2 * p + 1, r])
                                    * T.Cast("int32", xq[t, g * GROUP + 2 * p + 1])
                                )
                    for r in T.vectorized(rows):
                        acc[r] = acc[r] + T.Cast(
                            "float32", (acci[0, r] + acci[1, r]) + (acci[2, r] + acci[3, r])
                        ) * (T.Cast("float32", scale[rb, g, r]) * xd[t, g])
                for r in T.vectorized(rows):
                    y[t, rb * rows + r] = acc[r]

    return q8a16_matmul
