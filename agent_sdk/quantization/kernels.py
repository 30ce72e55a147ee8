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
                part[TT, R] = 0
                for k in 32:                       # unrolled
                    w[R] = float(q[rb, g, k])      # the integer value, once per tile
                    for t in TT:                   # unrolled: TT independent FMA chains
                        part[t, :] += xs[t, g*32 + k] * w
                acc[t, :] += scale[rb, g] * part[t, :] (+ minv[rb, g] * sum(x[t] over group g) for q4)
            y[tile, rb] = acc
        for each remaining token:                  # decode (and the prefill tail)
            acc[R] = 0
            for g in K / 32:
                part[A, R] = 0                     # A partial sums over k: A independent chains
                for k in 32: part[k % A, :] += xs[g*32 + k] * float(q[rb, g, k])
                acc += scale[rb, g] * sum(part) (+ minv[rb, g] * sum(x of group g) for q4)
            y[t, rb] = acc

A single accumulator would make every FMA wait for the previous one (an FMA
has a latency of ~4 cycles but a throughput of 2 a cycle): the independent
chains, over tokens or over partial sums, keep the FMA units busy.

Both paths take the scale (and q4's minimum) out of the sum over a group:
``sum_k x_k (q_k s + m) = s sum_k q_k x_k + m sum_k x_k``. A q4 value is
masked in place rather than shifted down (``xs`` is ``x`` scaled by the
matching power of two, see :func:`_column_q4`), so a weight costs a
mask, a convert and its FMAs instead of shift, mask, convert, scale and
FMAs: on an AVX2 core decode was bound by those operations, not by memory,
and prefill is 1.25x faster (docs/cpu_kernels.md).
"""

from __future__ import annotations

import functools

from tvm import tirx
from tvm.script import tirx as T
from tvm.target import Target
from tvm.target.codegen import target_has_features

from agent_sdk.quantization.formats import GROUP, K_GROUP, SUB_GROUP
from agent_sdk.quantization.prefetch import (
    PREFETCH_BYTES,
    PREFETCH_HEAD_BYTES,
    Ahead,
    ahead_plan,
    prefetch,
    prefetch_enabled,
)

__all__ = ["PARTIAL_SUMS", "q_matmul_kernel", "token_tile"]

PARTIAL_SUMS = 4
"""Independent partial sums over the reduction when one token remains."""
_PER_SUPER = K_GROUP // GROUP
_NO_AHEAD = Ahead()  # no prefetch: ARM targets, and formats not measured with it (only q4 and the q8 head were)


def token_tile(target: Target | None = None) -> int:
    """Tokens per prefill register tile (``TT``) on ``target`` (default: the current one).

    The tile holds ``TT x R`` fp32 partial sums plus one converted column in
    vector registers (and ``TT x R`` outputs, touched once per group, which
    may live on the stack). With 16-row blocks that is ``TT + 1`` registers
    with AVX-512 (32 registers of 16 lanes), but ``2 (TT + 1)`` with AVX2 (16
    of 8 lanes) and ``4 (TT + 1)`` with NEON (32 of 4 lanes): a larger tile
    there would spill the partial sums.
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
# TVMScript macros are inlined into the prim_func body (ordinary Python
# helpers cannot be called there).


def q_matmul_kernel(fmt: str, n_out: int, n_in: int, rows: int, tile: int | None = None) -> tirx.PrimFunc:
    """A TIR kernel ``y (n, N) = x (n, K) @ dequant(W).T`` for ``fmt`` in q4/q5/q8/q8k/q4k/q5k.

    Args:
        fmt: ``q4``, ``q5``, ``q8``, ``q8k``, ``q4k`` or ``q5k``.
        n_out: N, output features (a multiple of ``rows``).
        n_in: K, input features (a multiple of 32).
        rows: R, rows interleaved per block (the vector width).
        tile: Tokens per prefill register tile; default :func:`token_tile` of the current target.

    Each kernel is built once per shape and tile (parsing its script costs ~0.1 s, and a model asks for one
    per projection, layer and entry function: 483 for SmolLM2-135M).
    """
    assert n_out % rows == 0 and n_in % GROUP == 0
    assert PARTIAL_SUMS == 4  # the final sums in the one-token paths are written out
    blocks, groups = n_out // rows, n_in // GROUP
    tile = tile or token_tile()
    if fmt == "q4":  # group g: words 4g .. 4g + 3 of rows x 4 bytes
        ahead = ahead_plan(4, 4 * rows, PREFETCH_BYTES) if prefetch_enabled() else _NO_AHEAD
        return _q4_kernel(blocks, groups, rows, n_in, n_out, tile, ahead)
    if fmt == "q5":
        return _q5_kernel(blocks, groups, rows, n_in, n_out, tile)
    if fmt == "q8":  # group g: columns 32g .. 32g + 31 of rows bytes (the output head, in q4 bundles)
        ahead = ahead_plan(GROUP, rows, PREFETCH_HEAD_BYTES) if prefetch_enabled() else _NO_AHEAD
        return _q8_kernel(blocks, groups, rows, n_in, n_out, tile, ahead)
    if fmt == "q8k":
        return _q8k_kernel(blocks, groups, rows, n_in, n_out, tile)
    if fmt in ("q4k", "q5k"):
        assert n_in % K_GROUP == 0
        return _k_kernel(fmt == "q5k", blocks, groups, rows, n_in, n_out, tile)
    raise ValueError(f"no kernel for {fmt!r}")


def _nibble_exponent(j: tirx.PrimExpr) -> tirx.PrimExpr:
    """Where nibble ``j`` (0..7) of a word is read: bit ``4j``, except the top one, moved down to bit 24."""
    return 4 * j - 4 * (j // 7)


def _nibble_in_place(word: tirx.PrimExpr, j: tirx.PrimExpr) -> tirx.PrimExpr:
    """Nibble ``j`` of ``word`` left at bit :func:`_nibble_exponent` (``q * 2^e``, below the sign bit)."""
    return T.bitwise_and(
        T.shift_right(word, T.Cast("uint32", 4 * (j // 7))),
        T.shift_left(T.uint32(15), T.Cast("uint32", _nibble_exponent(j))),
    )


@T.macro
def _column_q4(wk, params, rb, g, k, rows):
    """``wk[r]`` = weight ``k`` of group ``g`` of row ``rb*R + r`` as ``q * 2^e``: nibble ``k % 8`` masked in place.

    Nibble ``j`` of a word is masked, not shifted down: as int32 it is
    ``q * 2^e`` with ``e = 4j`` (:func:`_nibble_in_place`; the top nibble,
    which would set the sign bit, is moved down to ``e = 24``), an exact
    float, and the kernel's ``xs`` holds ``x_k * 2^-e`` (a power of two:
    exact), so the product is ``q_k x_k``.
    """
    qweight = params[0]
    for r in T.vectorized(rows):
        wk[r] = T.Cast("float32", T.reinterpret("int32", _nibble_in_place(qweight[rb, g * 4 + k // 8, r], k % 8)))


def _fifth_bit_in_place(word: tirx.PrimExpr, k: tirx.PrimExpr) -> tirx.PrimExpr:
    """The fifth bit of value ``k`` (stored at ``formats.Q5_HIGH_BIT[k]``) moved to bit ``e + 4``, the rest zero.

    ``e`` is :func:`_nibble_exponent` of ``k % 8``: for ``j = k % 8 < 7`` the bit sits ``k // 8`` above ``4 j + 4``,
    so the seven values of a nibble word share one right shift of the word and each masks its bit; the top nibble's
    (``e = 24``) is shifted up from bit ``k // 8``. ``k`` is an unrolled constant: the select folds.
    """
    j, w = k % 8, k // 8
    up = T.shift_left(word, T.Cast("uint32", 28 - w))
    down = T.shift_right(word, T.Cast("uint32", w))
    return T.bitwise_and(T.if_then_else(j < 7, down, up), T.shift_left(T.uint32(1), T.Cast("uint32", _nibble_exponent(j) + 4)))


@T.macro
def _column_q5(wk, params, rb, g, k, rows):
    """As :func:`_column_q4` for a 5-bit value: the nibble masked in place, its fifth bit set just above it.

    The value is at most ``31 * 2^24`` as int32 (the top nibble sits at bit 24): exact in float32.
    """
    qweight, qhigh = params[0], params[3]
    for r in T.vectorized(rows):
        wk[r] = T.Cast(
            "float32",
            T.reinterpret(
                "int32",
                T.bitwise_or(
                    _nibble_in_place(qweight[rb, g * 4 + k // 8, r], k % 8),
                    _fifth_bit_in_place(qhigh[rb, g, r], k),
                ),
            ),
        )


@T.macro
def _column_q8(wk, params, rb, g, k, rows):
    """``wk[r]`` = weight ``k`` of group ``g`` of row ``rb*R + r`` (the int8 value)."""
    qweight = params[0]
    for r in T.vectorized(rows):
        wk[r] = T.Cast("float32", qweight[rb, g * GROUP + k, r])


@T.macro
def _column_q8k(wk, params, rb, g, k, rows):
    """``wk[r]`` = weight ``k`` of 16-value sub-block ``g`` of row ``rb*R + r`` (the int8 value)."""
    qweight = params[0]
    for r in T.vectorized(rows):
        wk[r] = T.Cast("float32", qweight[rb, g * SUB_GROUP + k, r])


@T.macro
def _finish_q8k(acc, i, part, j, xg, token, params, rb, g, rows):
    """``acc[i] += (sub * scale) * part[j]``: the sub-block's int8 scale times its group's float16 one, exact in fp32."""
    scale, sub = params[1], params[2]
    for r in T.vectorized(rows):
        acc[i, r] = acc[i, r] + part[j, r] * (
            T.Cast("float32", sub[rb, g, r]) * T.Cast("float32", scale[rb, g // (GROUP // SUB_GROUP), r])
        )


@T.macro
def _finish_k(acc, i, part, j, xg, token, params, rb, g, rows):
    """q4k / q5k: ``acc[i] += (sub d) * part[j] - (submin dmin) * sum(x over group g)``.

    ``d`` and ``dmin`` are the super-block's float16 scales (``scale``, ``minv``), ``sub`` and ``submin`` the group's
    6-bit integers (the last two of ``params``): their products are exact in float32, so the weights are GGUF's.
    """
    scale, minv, sub, submin = params[1], params[2], params[-2], params[-1]
    for r in T.vectorized(rows):
        acc[i, r] = (
            acc[i, r]
            + part[j, r] * (T.Cast("float32", sub[rb, g, r]) * T.Cast("float32", scale[rb, g // _PER_SUPER, r]))
            - (T.Cast("float32", submin[rb, g, r]) * T.Cast("float32", minv[rb, g // _PER_SUPER, r])) * xg[token, g]
        )


@T.macro
def _finish_q4(acc, i, part, j, xg, token, params, rb, g, rows):
    """``acc[i] += s * part[j] + m * sum(x over group g)``: the scale and minimum taken out of the group sum."""
    scale, minv = params[1], params[2]
    for r in T.vectorized(rows):
        acc[i, r] = (
            acc[i, r]
            + part[j, r] * T.Cast("float32", scale[rb, g, r])
            + T.Cast("float32", minv[rb, g, r]) * xg[token, g]
        )


@T.macro
def _finish_q8(acc, i, part, j, xg, token, params, rb, g, rows):
    """``acc[i] += s * part[j]``: the scale taken out of the group sum (``xg`` unused)."""
    scale = params[1]
    for r in T.vectorized(rows):
        acc[i, r] = acc[i, r] + part[j, r] * T.Cast("float32", scale[rb, g, r])


@T.macro
def _tiled_tokens(y, xs, xg, n, rb, rows, groups, tile, column, finish, params, group=GROUP):
    """The full tiles of ``tile`` tokens: per group each token keeps a partial sum of ``q x`` for the block's rows.

    One converted weight column (``column``) feeds the tile's independent FMA
    chains; the running outputs are touched once per group (``finish``).
    """
    acc = T.decl_buffer((tile, rows), "float32", scope="global")
    part = T.decl_buffer((tile, rows), "float32", scope="global")
    wk = T.decl_buffer((rows,), "float32", scope="global")
    for tt in range(n // tile):
        for t in T.unroll(tile):
            for r in T.vectorized(rows):
                acc[t, r] = T.float32(0)
        for g in range(groups):
            for t in T.unroll(tile):
                for r in T.vectorized(rows):
                    part[t, r] = T.float32(0)
            for k in T.unroll(group):
                column(wk, params, rb, g, k, rows)
                for t in T.unroll(tile):
                    for r in T.vectorized(rows):
                        part[t, r] = part[t, r] + xs[tt * tile + t, g * group + k] * wk[r]
            for t in T.unroll(tile):
                finish(acc, t, part, t, xg, tt * tile + t, params, rb, g, rows)
        for t in T.unroll(tile):
            for r in T.vectorized(rows):
                y[tt * tile + t, rb * rows + r] = acc[t, r]


@T.macro
def _single_tokens(y, xs, xg, n, rb, rows, groups, tile, column, finish, params, group=GROUP, ahead=_NO_AHEAD):
    """The tokens after the tiles, one at a time: ``PARTIAL_SUMS`` independent FMA chains over each group; the
    weights prefetched ``ahead`` (decode streams them)."""
    part = T.decl_buffer((PARTIAL_SUMS, rows), "float32", scope="global")
    acc1 = T.decl_buffer((1, rows), "float32", scope="global")
    wk = T.decl_buffer((rows,), "float32", scope="global")
    for tl in range(n % tile):
        for r in T.vectorized(rows):
            acc1[0, r] = T.float32(0)
        for g in range(groups):
            if ahead.count > 0:
                for i in T.unroll(ahead.count):
                    T.evaluate(prefetch(T.address_of(params[0][rb, g * ahead.span + ahead.first + i * ahead.step, 0])))
            for a in T.unroll(PARTIAL_SUMS):
                for r in T.vectorized(rows):
                    part[a, r] = T.float32(0)
            for k in T.unroll(group):
                column(wk, params, rb, g, k, rows)
                for r in T.vectorized(rows):
                    part[k % PARTIAL_SUMS, r] = (
                        part[k % PARTIAL_SUMS, r] + xs[n // tile * tile + tl, g * group + k] * wk[r]
                    )
            for r in T.vectorized(rows):
                part[0, r] = (part[0, r] + part[1, r]) + (part[2, r] + part[3, r])
            finish(acc1, 0, part, 0, xg, n // tile * tile + tl, params, rb, g, rows)
        for r in T.vectorized(rows):
            y[n // tile * tile + tl, rb * rows + r] = acc1[0, r]


@T.macro
def _scaled_inputs(x, xs, xg, n, groups):
    """The q4/q5 kernels' inputs: ``x`` scaled per nibble position (``xs``), and each group's sum of ``x`` (``xg``)."""
    lanes = T.decl_buffer((8,), "float32", scope="global")
    for t in range(n):
        for g in range(groups):
            for j in T.vectorized(8):
                lanes[j] = T.float32(0)
            for c in T.unroll(GROUP // 8):
                for j in T.vectorized(8):
                    xs[t, g * GROUP + c * 8 + j] = x[t, g * GROUP + c * 8 + j] * T.reinterpret(
                        "float32", T.shift_left(T.Cast("uint32", 127 - _nibble_exponent(j)), T.uint32(23))
                    )
                    lanes[j] = lanes[j] + x[t, g * GROUP + c * 8 + j]
            xg[t, g] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
                (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
            )


@T.macro
def _all_blocks(y, xs, xg, n, blocks, rows, groups, tile, column, finish, params, group, ahead=_NO_AHEAD):
    """Every block of ``rows`` output rows, in parallel: the token tiles, then the tokens after them."""
    for rb in T.parallel(blocks):
        _tiled_tokens(y, xs, xg, n, rb, rows, groups, tile, column, finish, params, group)
        _single_tokens(y, xs, xg, n, rb, rows, groups, tile, column, finish, params, group, ahead)


@T.macro
def _nibble_matmul(x, y, n, n_in, blocks, rows, groups, tile, column, finish, params, ahead=_NO_AHEAD):
    """The body of the q4/q5/q4k/q5k kernels: their scaled inputs (:func:`_scaled_inputs`), then every block."""
    xs = T.decl_buffer((n, n_in), "float32")
    xg = T.decl_buffer((n, groups), "float32")
    _scaled_inputs(x, xs, xg, n, groups)
    _all_blocks(y, xs, xg, n, blocks, rows, groups, tile, column, finish, params, GROUP, ahead)


@functools.cache
def _q4_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int, ahead: Ahead) -> tirx.PrimFunc:
    words = n_in // 8

    @T.prim_func(private=True)
    def q4_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, groups, rows), "float16"),
        minv: T.Buffer((blocks, groups, rows), "float16"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _nibble_matmul(x, y, n, n_in, blocks, rows, groups, tile, _column_q4, _finish_q4, (qweight, scale, minv), ahead)

    return q4_matmul


@functools.cache
def _q5_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int) -> tirx.PrimFunc:
    words = n_in // 8

    @T.prim_func(private=True)
    def q5_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, groups, rows), "float16"),
        minv: T.Buffer((blocks, groups, rows), "float16"),
        qhigh: T.Buffer((blocks, groups, rows), "uint32"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _nibble_matmul(x, y, n, n_in, blocks, rows, groups, tile, _column_q5, _finish_q4, (qweight, scale, minv, qhigh))

    return q5_matmul


@functools.cache
def _q8_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int, ahead: Ahead) -> tirx.PrimFunc:
    @T.prim_func(private=True)
    def q8_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, n_in, rows), "int8"),
        scale: T.Buffer((blocks, groups, rows), "float16"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _all_blocks(y, x, x, n, blocks, rows, groups, tile, _column_q8, _finish_q8, (qweight, scale), GROUP, ahead)

    return q8_matmul


@functools.cache
def _q8k_kernel(blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int) -> tirx.PrimFunc:
    subs = n_in // SUB_GROUP

    @T.prim_func(private=True)
    def q8k_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, n_in, rows), "int8"),
        scale: T.Buffer((blocks, groups, rows), "float16"),
        sub: T.Buffer((blocks, subs, rows), "int8"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _all_blocks(y, x, x, n, blocks, rows, subs, tile, _column_q8k, _finish_q8k, (qweight, scale, sub), SUB_GROUP)

    return q8k_matmul


@functools.cache
def _k_kernel(five: bool, blocks: int, groups: int, rows: int, n_in: int, n_out: int, tile: int) -> tirx.PrimFunc:
    """q4k (``five`` false) or q5k: q4's / q5's value columns with the two-level scales of :func:`_finish_k`."""
    words, supers = n_in // 8, n_in // K_GROUP

    @T.prim_func(private=True)
    def q4k_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, supers, rows), "float16"),
        minv: T.Buffer((blocks, supers, rows), "float16"),
        sub: T.Buffer((blocks, groups, rows), "uint8"),
        submin: T.Buffer((blocks, groups, rows), "uint8"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _nibble_matmul(x, y, n, n_in, blocks, rows, groups, tile, _column_q4, _finish_k, (qweight, scale, minv, sub, submin))

    @T.prim_func(private=True)
    def q5k_matmul(
        var_x: T.handle,
        qweight: T.Buffer((blocks, words, rows), "uint32"),
        scale: T.Buffer((blocks, supers, rows), "float16"),
        minv: T.Buffer((blocks, supers, rows), "float16"),
        qhigh: T.Buffer((blocks, groups, rows), "uint32"),
        sub: T.Buffer((blocks, groups, rows), "uint8"),
        submin: T.Buffer((blocks, groups, rows), "uint8"),
        var_y: T.handle,
    ):
        T.func_attr({"tirx.noalias": True})
        n = T.int64()
        x = T.match_buffer(var_x, (n, n_in), "float32")
        y = T.match_buffer(var_y, (n, n_out), "float32")
        _nibble_matmul(x, y, n, n_in, blocks, rows, groups, tile, _column_q5, _finish_k, (qweight, scale, minv, qhigh, sub, submin))

    return q5k_matmul if five else q4k_matmul
