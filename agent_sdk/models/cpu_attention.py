"""Vectorized CPU attention kernels for TVM's paged KV cache.

TVM's own CPU kernels (``tvm.relax.frontend.nn.llm``'s ``*_cpu`` functions)
are scalar, serial, and rescale the output vector after every key (online
softmax one key at a time): at 512 prompt tokens they were two thirds of
SmolLM2-135M's prefill time, and a quarter of a decode step. These kernels
keep the same signatures and semantics (scores in log2 units, ``lse`` =
``max + log2(sum)``, so TVM's state merging still works) and compute:

    for each query row and head (in parallel for prefill):
        s[j] = (q . k_j) * sm_scale * log2(e)      # dot over D, vectorized
        p[j] = 2^(s[j] - max s)                     # vectorized polynomial exp2
        o    = sum_j p[j] v_j / sum_j p[j]          # FMAs over D, vectorized

Prefill (the ragged kernel: new tokens against themselves; the paged one:
against cached pages, gathered first into transposed keys and float32
values) runs tasks of 4 query rows x the query heads of one key/value head:
4 query vectors at a time share each loaded key and value vector, and the
softmax runs 16 scores at a time. SmolLM2-135M, kernel alone, 20 new tokens
against 350 cached, 1 thread: 15.2 -> 9.3 ms over 30 layers
(``tools/bench_attention.py --queries 20 --context 350``); a 512-token
prompt's attention 301 -> 172 ms (``tools/profile_decode.py --prefill 512``).

Decode computes the query heads that share a key/value head together (each
key and value row loaded once per group), its softmax 16 scores at a time,
and, from :data:`_PARALLEL_MIN_PAGES` cached pages, its key/value heads in
parallel: kernel alone over SmolLM2-135M's 30-layer cache at 800 tokens, 1.1x
at 1 thread and 1.5x at 2 (``tools/bench_attention.py``). Once a model's
cache outgrows L3 the kernel reads it at ~6-11 GB/s: bound by memory.

The sliding-window prefill (Gemma 3's local layers against their cached
window) gathers its keys in their logical order the same way and runs the
same tasks, each query vector over its own key range: Gemma 3 270M, 20 new
tokens after 350 cached, 1 thread, the whole prefill 92 -> 79 ms.

:func:`installed` swaps them in while a ``TIRPagedKVCache`` is built;
the sliding-window prefill is ours too (TVM's CPU one reads past a buffer);
sliding-window decode, inline RoPE and tree attention keep TVM's kernels.

The cache dtype (queries, pages, output; TVM keeps them in one dtype) is
float32 or float16; float16 values convert to float32 as they are loaded
(``vcvtph2ps`` with F16C, ``fcvtl`` on ARM) and all arithmetic, the
transposed keys and ``lse`` stay float32.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from tvm import tirx
from tvm.script import tirx as T

from agent_sdk.models.fast_math import exp2

__all__ = [
    "decode_paged_kernel", "installed", "prefill_paged_kernel", "prefill_paged_sliding_kernel", "prefill_ragged_kernel",
    "rope_kernel",
]

_LOG2E = math.log2(math.e)
_LANES = 16  # dot products run in 16 partial sums (one AVX-512 register, four NEON ones)
_NEG = -5e4  # TVM's "minus infinity" for masked scores and empty rows
_PARALLEL_MIN_PAGES = 8
"""Cached pages (16 keys each) from which decode attention runs its key/value heads in parallel.

At 128 keys the whole kernel takes ~9 us for SmolLM2-135M's 3 KV heads (5 us at 64, 18 us at 256, in cache;
``tools/bench_attention.py``), a few times what waking the thread pool costs; below it the split does not pay."""
_DTYPES = ("float32", "float16")  # cache dtypes these kernels take (they compute in float32)

def _f32(x: tirx.PrimExpr) -> tirx.PrimExpr:
    """``x`` as float32 (float16 cache entries convert on load: F16C ``vcvtph2ps``, NEON ``fcvtl``)."""
    return T.Cast("float32", x)


def _tree(terms: list[tirx.PrimExpr], combine: Any) -> tirx.PrimExpr:
    """``combine`` over ``terms`` as a balanced tree (short dependency chains)."""
    while len(terms) > 1:
        terms = [combine(terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
    return terms[0]


def _lane_sum(v: tirx.Buffer) -> tirx.PrimExpr:
    """``v[0] + ... + v[_LANES - 1]``."""
    return _tree([v[i] for i in range(_LANES)], lambda a, b: a + b)


def _lane_sum_row(v: tirx.Buffer, row: tirx.PrimExpr) -> tirx.PrimExpr:
    """``v[row, 0] + ... + v[row, _LANES - 1]``."""
    return _tree([v[row, i] for i in range(_LANES)], lambda a, b: a + b)


def _lane_max(v: tirx.Buffer) -> tirx.PrimExpr:
    """``max(v[0], ..., v[_LANES - 1])``."""
    return _tree([v[i] for i in range(_LANES)], T.max)


def _block_first(q_indptr: tirx.Buffer, b: tirx.PrimExpr, rb: tirx.PrimExpr) -> tirx.PrimExpr:
    """The first query row of row block ``rb`` of sequence ``b``."""
    return q_indptr[b] + rb * _ROWS


def _block_rows(q_indptr: tirx.Buffer, b: tirx.PrimExpr, rb: tirx.PrimExpr) -> tirx.PrimExpr:
    """How many query rows row block ``rb`` of sequence ``b`` holds (at most :data:`_ROWS`)."""
    return T.min(_ROWS, q_indptr[b + 1] - q_indptr[b] - rb * _ROWS)


def _paged_length(page_indptr: tirx.Buffer, last_page_len: tirx.Buffer, b: tirx.PrimExpr,
                  page_size: int) -> tirx.PrimExpr:
    """Keys cached for sequence ``b``: its full pages and the filled part of its last (0 without pages)."""
    return T.if_then_else(
        page_indptr[b] != page_indptr[b + 1],
        (page_indptr[b + 1] - page_indptr[b] - 1) * page_size + last_page_len[b],
        0,
    )


@T.macro
def _softmax_weights_vec(s, g, lo, n, limit, stat, vec):
    """``s[g, lo:n]`` (log2 units) -> unnormalized weights ``2^(s - max)``, 16 at a time; ``stat[g] = [max, sum]``.

    ``s[g]`` must have room up to ``limit >= n`` rounded up to 16; the other positions up to there are set to 0 (a
    tile of query vectors sums values over the union of their key ranges).
    """
    for i in T.vectorized(_LANES):
        vec[i] = T.float32(_NEG)
    for c in range((n + _LANES - 1) // _LANES):
        for i in T.vectorized(_LANES):
            vec[i] = T.max(
                vec[i], T.if_then_else(lo <= c * _LANES + i and c * _LANES + i < n, s[g, c * _LANES + i], T.float32(_NEG))
            )
    stat[g, 0] = _lane_max(vec)
    for i in T.vectorized(_LANES):
        vec[i] = T.float32(0)
    for c in range((limit + _LANES - 1) // _LANES):
        for i in T.vectorized(_LANES):
            s[g, c * _LANES + i] = T.if_then_else(
                lo <= c * _LANES + i and c * _LANES + i < n, exp2(s[g, c * _LANES + i] - stat[g, 0]), T.float32(0)
            )
            vec[i] = vec[i] + s[g, c * _LANES + i]
    stat[g, 1] = _lane_sum(vec)


@T.macro
def _decode_group(q, pages, page_indptr, page_values, last_page_len, output, lse, b, hk, sm_scale, max_pages, group,
                  page_size, d):
    """Sequence ``b``'s query heads that share key/value head ``hk``, against its pages."""
    s = T.decl_buffer((group, max_pages * page_size), "float32")  # the group's scores; no sequence is longer
    qs = T.decl_buffer((group, d), "float32", scope="global")
    acc = T.decl_buffer((group, d), "float32", scope="global")
    dot = T.decl_buffer((group, _LANES), "float32", scope="global")
    vec = T.decl_buffer((_LANES,), "float32", scope="global")
    stat = T.decl_buffer((group, 2), "float32", scope="global")
    p0 = page_indptr[b]
    n = _paged_length(page_indptr, last_page_len, b, page_size)
    for g in T.unroll(group):
        for i in T.vectorized(d):
            qs[g, i] = T.Cast("float32", q[b, hk * group + g, i]) * (sm_scale * T.float32(_LOG2E))
            acc[g, i] = T.float32(0)
    for pg in range((n + page_size - 1) // page_size):
        for jj in range(T.min(page_size, n - pg * page_size)):
            for g in T.unroll(group):
                for i in T.vectorized(_LANES):
                    dot[g, i] = T.float32(0)
            for c in T.unroll(d // _LANES):
                for g in T.unroll(group):
                    for i in T.vectorized(_LANES):
                        dot[g, i] = dot[g, i] + qs[g, c * _LANES + i] * T.Cast(
                            "float32", pages[page_values[p0 + pg], 0, hk, jj, c * _LANES + i]
                        )
            for g in T.unroll(group):
                s[g, pg * page_size + jj] = _lane_sum_row(dot, g)
    for g in T.unroll(group):
        _softmax_weights_vec(s, g, 0, n, n, stat, vec)
    for pg in range((n + page_size - 1) // page_size):
        for jj in range(T.min(page_size, n - pg * page_size)):
            for c in T.unroll(d // _LANES):
                for g in T.unroll(group):
                    for i in T.vectorized(_LANES):
                        acc[g, c * _LANES + i] = acc[g, c * _LANES + i] + s[g, pg * page_size + jj] * T.Cast(
                            "float32", pages[page_values[p0 + pg], 1, hk, jj, c * _LANES + i]
                        )
    for g in T.unroll(group):
        if n > 0:
            for i in T.vectorized(d):
                output[b, hk * group + g, i] = T.Cast(output.dtype, acc[g, i] / stat[g, 1])
            lse[b, hk * group + g] = stat[g, 0] + T.log2(stat[g, 1])
        else:
            for i in T.vectorized(d):
                output[b, hk * group + g, i] = T.Cast(output.dtype, T.float32(0))
            lse[b, hk * group + g] = T.float32(_NEG)


def decode_paged_kernel(h_kv: int, h_qo: int, d: int, page_size: int = 16, dtype: str = "float32") -> tirx.PrimFunc:
    """One new query per sequence against its paged keys/values (TVM's ``batch_decode_paged_kv``).

    ``dtype`` is the cache's (queries, pages, output); arithmetic is float32.
    The query heads that share a key/value head (grouped-query attention) are
    computed together: each key and value row is loaded once per group, not
    once per query head; the softmax runs 16 scores at a time.
    """
    group = h_qo // h_kv
    assert d % _LANES == 0 and page_size % _LANES == 0

    @T.prim_func
    def batch_decode_paged_kv(
        q_handle: T.handle, pages_handle: T.handle, page_indptr_handle: T.handle, page_values_handle: T.handle,
        length_info_handle: T.handle, k_rope_pos_offset_handle: T.handle, q_rope_position_handle: T.handle,
        output_handle: T.handle, lse_handle: T.handle,
        rotary_mode: T.int32, rope_scale: T.float32, rope_theta: T.float32, sm_scale: T.float32,
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True, "global_symbol": "batch_decode_paged_kv_cpu"})
        b_n, nnz_pages, max_pages = T.int32(), T.int32(), T.int32()
        off_indptr, off_values, off_rope, off_qpos, off_len = T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        q = T.match_buffer(q_handle, (b_n, h_qo, d), dtype)
        pages = T.match_buffer(pages_handle, (max_pages, 2, h_kv, page_size, d), dtype)
        page_indptr = T.match_buffer(page_indptr_handle, (b_n + 1,), "int32", elem_offset=off_indptr)
        page_values = T.match_buffer(page_values_handle, (nnz_pages,), "int32", elem_offset=off_values)
        T.match_buffer(k_rope_pos_offset_handle, (b_n,), "int32", elem_offset=off_rope)
        T.match_buffer(q_rope_position_handle, (b_n,), "int32", elem_offset=off_qpos)
        last_page_len = T.match_buffer(length_info_handle, (b_n,), "int32", elem_offset=off_len)
        output = T.match_buffer(output_handle, (b_n, h_qo, d), dtype)
        lse = T.match_buffer(lse_handle, (b_n, h_qo), "float32")
        assert rotary_mode == 0, "agent_sdk CPU attention: RoPE must be applied before attention"
        if page_indptr[b_n] - page_indptr[0] >= _PARALLEL_MIN_PAGES:
            for task in T.parallel(b_n * h_kv):
                _decode_group(q, pages, page_indptr, page_values, last_page_len, output, lse, task // h_kv,
                              task % h_kv, sm_scale, max_pages, group, page_size, d)
        else:
            for task in range(b_n * h_kv):
                _decode_group(q, pages, page_indptr, page_values, last_page_len, output, lse, task // h_kv,
                              task % h_kv, sm_scale, max_pages, group, page_size, d)

    return batch_decode_paged_kv


_ROWS = 4
"""Query rows per prefill task: with a key/value head's ``group`` query heads, ``4 * group`` query vectors share
each loaded key and value vector (and every tile below is full, whatever the group)."""
_TILE = 4
"""Query vectors scored and summed together: 4 x 16 partial sums, 4 AVX-512 registers (16 NEON ones), one key or
value vector load per 4 FMAs."""


def _balanced_block(i: tirx.PrimExpr, blocks: tirx.PrimExpr) -> tirx.PrimExpr:
    """The row block task ``i`` (of ``blocks``) handles: 0, last, 1, last - 1, ... (a bijection).

    Under a causal mask a row's cost grows with its position, and TVM's
    parallel loop gives each thread a contiguous range of tasks: in plain
    order the last thread got the most expensive rows (at 512 tokens, 2
    threads ran 1.27x faster than one). Interleaving both ends gives every
    contiguous range about the same work.
    """
    return T.if_then_else(i % 2 == 0, i // 2, blocks - 1 - i // 2)


@T.macro
def _causal_bounds(lo, hi, q_indptr, b, rb, n_kv, causal, group):
    """Key ranges of row block ``rb``'s query vectors: all ``n_kv`` keys, or under ``causal`` (the sequence's rows
    are its last positions) the keys up to each row's own position."""
    for u in range(_ROWS * group):
        lo[u] = 0
        hi[u] = T.if_then_else(
            causal > 0,
            T.max(T.min(n_kv - (q_indptr[b + 1] - q_indptr[b]) + rb * _ROWS
                        + T.min(u // group, _block_rows(q_indptr, b, rb) - 1) + 1, n_kv), 0),
            n_kv,
        )


@T.macro
def _attend_rows(q, kt, v, output, lse, lo, hi, q_indptr, b, rb, hk, k0, sm_scale, width, group, d):
    """Row block ``rb`` (at most ``_ROWS`` query rows) of sequence ``b``, heads of key/value head ``hk``.

    ``kt[hk, :, k0 + j]`` is key ``j`` transposed (16 keys' scores are 16
    lanes of one FMA chain), ``v[k0 + j, hk, :]`` its value; query vector
    ``u`` (row ``u // group``, head ``u % group`` of the group) attends to
    keys ``lo[u] .. hi[u]``. ``width`` bounds the keys (rounded up to 16,
    plus 16). The ``_ROWS x group`` query vectors run ``_TILE`` at a time over
    the union of their ranges: each key vector loaded once serves 4 of them,
    each value vector too. Rows past the block's end repeat its last row
    (computed, never written); a tile of only such rows is skipped.
    """
    qs = T.decl_buffer((_ROWS * group, d), "float32", scope="global")
    s = T.decl_buffer((_ROWS * group, width), "float32")
    sv = T.decl_buffer((_TILE, _LANES), "float32", scope="global")
    vec = T.decl_buffer((_LANES,), "float32", scope="global")
    stat = T.decl_buffer((_ROWS * group, 2), "float32", scope="global")
    span = T.decl_buffer((2,), "int32", scope="global")  # the tile's first key and key count
    row0 = _block_first(q_indptr, b, rb)
    n_rows = _block_rows(q_indptr, b, rb)
    for u in range(_ROWS * group):
        for i in T.vectorized(d):
            qs[u, i] = _f32(q[row0 + T.min(u // group, n_rows - 1), hk * group + u % group, i]) * (
                sm_scale * T.float32(_LOG2E)
            )
    for t in range(_ROWS * group // _TILE):
        if t * _TILE // group < n_rows:
            span[0] = lo[t * _TILE]
            span[1] = hi[t * _TILE]
            for a in range(1, _TILE):
                span[0] = T.min(span[0], lo[t * _TILE + a])
                span[1] = T.max(span[1], hi[t * _TILE + a])
            span[1] = T.max(span[1] - span[0], 0)
            for jb in range((span[1] + _LANES - 1) // _LANES):
                for a in T.unroll(_TILE):
                    for jj in T.vectorized(_LANES):
                        sv[a, jj] = T.float32(0)
                for i in range(d):
                    for a in T.unroll(_TILE):
                        for jj in T.vectorized(_LANES):
                            sv[a, jj] = sv[a, jj] + qs[t * _TILE + a, i] * kt[hk, i, k0 + span[0] + jb * _LANES + jj]
                for a in T.unroll(_TILE):
                    for jj in T.vectorized(_LANES):
                        s[t * _TILE + a, jb * _LANES + jj] = sv[a, jj]
            for a in range(_TILE):
                _softmax_weights_vec(
                    s, t * _TILE + a, lo[t * _TILE + a] - span[0], hi[t * _TILE + a] - span[0], span[1], stat, vec
                )
            for c in range(d // _LANES):
                for a in T.unroll(_TILE):
                    for i in T.vectorized(_LANES):
                        sv[a, i] = T.float32(0)
                for j in range(span[1]):
                    for a in T.unroll(_TILE):
                        for i in T.vectorized(_LANES):
                            sv[a, i] = sv[a, i] + s[t * _TILE + a, j] * _f32(v[k0 + span[0] + j, hk, c * _LANES + i])
                for a in range(_TILE):
                    if (t * _TILE + a) // group < n_rows:
                        for i in T.vectorized(_LANES):
                            output[row0 + (t * _TILE + a) // group, hk * group + (t * _TILE + a) % group, c * _LANES + i] = (
                                T.Cast(output.dtype, T.if_then_else(
                                    hi[t * _TILE + a] > lo[t * _TILE + a], sv[a, i] / stat[t * _TILE + a, 1], T.float32(0)
                                ))
                            )
    for u in range(_ROWS * group):
        if u // group < n_rows:
            lse[row0 + u // group, hk * group + u % group] = T.if_then_else(
                hi[u] > lo[u], stat[u, 0] + T.log2(stat[u, 1]), T.float32(_NEG)
            )


def prefill_ragged_kernel(h_kv: int, h_qo: int, d: int, dtype: str = "float32") -> tirx.PrimFunc:
    """New queries against the new keys/values of the same sequences (TVM's ragged prefill).

    Tasks are (sequence, key/value head, block of :data:`_ROWS` rows), the
    row blocks of a sequence taken from both ends in turn.
    """
    group = h_qo // h_kv
    assert d % _LANES == 0

    @T.prim_func
    def batch_prefill_ragged_kv(
        q_handle: T.handle, q_indptr_handle: T.handle, k_handle: T.handle, v_handle: T.handle,
        kv_indptr_handle: T.handle, q_rope_position_handle: T.handle, k_rope_pos_offset_handle: T.handle,
        output_handle: T.handle, lse_handle: T.handle,
        causal: T.int32, rotary_mode: T.int32, rope_scale: T.float32, rope_theta: T.float32, sm_scale: T.float32,
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        b_n, qo_len, kv_len = T.int32(), T.int32(), T.int32()
        off_q, off_kv, off_qpos, off_rope = T.int32(), T.int32(), T.int32(), T.int32()
        q = T.match_buffer(q_handle, (qo_len, h_qo, d), dtype)
        q_indptr = T.match_buffer(q_indptr_handle, (b_n + 1,), "int32", elem_offset=off_q)
        k = T.match_buffer(k_handle, (kv_len, h_kv, d), dtype)
        v = T.match_buffer(v_handle, (kv_len, h_kv, d), dtype)
        kv_indptr = T.match_buffer(kv_indptr_handle, (b_n + 1,), "int32", elem_offset=off_kv)
        T.match_buffer(q_rope_position_handle, (qo_len,), "int32", elem_offset=off_qpos)
        T.match_buffer(k_rope_pos_offset_handle, (b_n,), "int32", elem_offset=off_rope)
        output = T.match_buffer(output_handle, (qo_len, h_qo, d), dtype)
        lse = T.match_buffer(lse_handle, (qo_len, h_qo), "float32")
        assert rotary_mode == 0, "agent_sdk CPU attention: RoPE must be applied before attention"
        # Keys transposed to (head, dim, position): the scores of 16 consecutive
        # keys are then 16 lanes of one vector, d FMAs for 16 keys instead of
        # a dot product and a horizontal sum per key.
        kt = T.decl_buffer((h_kv, d, kv_len + _LANES), "float32")
        for task in T.parallel(h_kv * ((kv_len + _LANES - 1) // _LANES)):
            for i in range(d):
                for jj in T.vectorized(_LANES):
                    kt[task % h_kv, i, task // h_kv * _LANES + jj] = T.if_then_else(
                        task // h_kv * _LANES + jj < kv_len,
                        _f32(k[task // h_kv * _LANES + jj, task % h_kv, i]),
                        T.float32(0),
                    )
        blocks = (qo_len + _ROWS - 1) // _ROWS  # no sequence has more row blocks
        for task in T.parallel(b_n * h_kv * blocks):
            b = task // (h_kv * blocks)
            rb = _balanced_block(task % blocks, blocks)
            if rb * _ROWS < q_indptr[b + 1] - q_indptr[b]:
                lo = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                hi = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                _causal_bounds(lo, hi, q_indptr, b, rb, kv_indptr[b + 1] - kv_indptr[b], causal, group)
                _attend_rows(
                    q, kt, v, output, lse, lo, hi, q_indptr, b, rb, task // blocks % h_kv, kv_indptr[b], sm_scale,
                    kv_len + 2 * _LANES, group, d,
                )

    return batch_prefill_ragged_kv


def prefill_paged_kernel(h_kv: int, h_qo: int, d: int, page_size: int = 16, dtype: str = "float32") -> tirx.PrimFunc:
    """New queries against keys/values already in pages (TVM's ``batch_prefill_paged_kv_cpu``).

    The batch's pages are first gathered (in parallel, page by page) into
    transposed keys and contiguous float32 values, sequence after sequence;
    then the tasks of :func:`prefill_ragged_kernel` run over them.
    """
    group = h_qo // h_kv
    assert d % _LANES == 0 and page_size % _LANES == 0

    @T.prim_func
    def batch_prefill_paged_kv_cpu(
        q_handle: T.handle, q_indptr_handle: T.handle, pages_handle: T.handle, page_indptr_handle: T.handle,
        page_values_handle: T.handle, length_info_handle: T.handle, k_rope_pos_offset_handle: T.handle,
        q_rope_position_handle: T.handle, output_handle: T.handle, lse_handle: T.handle,
        causal: T.int32, rotary_mode: T.int32, rope_scale: T.float32, rope_theta: T.float32, sm_scale: T.float32,
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True, "global_symbol": "batch_prefill_paged_kv_cpu"})
        b_n, total_len, nnz_pages, max_pages = T.int32(), T.int32(), T.int32(), T.int32()
        off_q, off_indptr, off_values, off_len, off_rope, off_qpos = (
            T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        )
        q = T.match_buffer(q_handle, (total_len, h_qo, d), dtype)
        q_indptr = T.match_buffer(q_indptr_handle, (b_n + 1,), "int32", elem_offset=off_q)
        pages = T.match_buffer(pages_handle, (max_pages, 2, h_kv, page_size, d), dtype)
        page_indptr = T.match_buffer(page_indptr_handle, (b_n + 1,), "int32", elem_offset=off_indptr)
        page_values = T.match_buffer(page_values_handle, (nnz_pages,), "int32", elem_offset=off_values)
        last_page_len = T.match_buffer(length_info_handle, (b_n,), "int32", elem_offset=off_len)
        T.match_buffer(k_rope_pos_offset_handle, (b_n,), "int32", elem_offset=off_rope)
        T.match_buffer(q_rope_position_handle, (total_len,), "int32", elem_offset=off_qpos)
        output = T.match_buffer(output_handle, (total_len, h_qo, d), dtype)
        lse = T.match_buffer(lse_handle, (total_len, h_qo), "float32")
        assert rotary_mode == 0, "agent_sdk CPU attention: RoPE must be applied before attention"
        # the batch's pages in order: keys transposed to (head, dim, position), values as (position, head, dim)
        kt = T.decl_buffer((h_kv, d, nnz_pages * page_size + _LANES), "float32")
        vt = T.decl_buffer((nnz_pages * page_size, h_kv, d), "float32")
        for task in T.parallel((page_indptr[b_n] - page_indptr[0]) * h_kv):
            for i in range(d):
                for jj in T.vectorized(page_size):
                    kt[task % h_kv, i, task // h_kv * page_size + jj] = _f32(
                        pages[page_values[page_indptr[0] + task // h_kv], 0, task % h_kv, jj, i]
                    )
            for jj in range(page_size):
                for i in T.vectorized(d):
                    vt[task // h_kv * page_size + jj, task % h_kv, i] = _f32(
                        pages[page_values[page_indptr[0] + task // h_kv], 1, task % h_kv, jj, i]
                    )
        blocks = (total_len + _ROWS - 1) // _ROWS  # no sequence has more row blocks
        for task in T.parallel(b_n * h_kv * blocks):
            b = task // (h_kv * blocks)
            rb = _balanced_block(task % blocks, blocks)
            if rb * _ROWS < q_indptr[b + 1] - q_indptr[b]:
                lo = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                hi = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                _causal_bounds(
                    lo, hi, q_indptr, b, rb, _paged_length(page_indptr, last_page_len, b, page_size), causal, group
                )
                _attend_rows(
                    q, kt, vt, output, lse, lo, hi, q_indptr, b, rb, task // blocks % h_kv,
                    (page_indptr[b] - page_indptr[0]) * page_size, sm_scale, nnz_pages * page_size + 2 * _LANES,
                    group, d,
                )

    return batch_prefill_paged_kv_cpu


def _window_slot(j: tirx.PrimExpr, length_info: tirx.Buffer, b: tirx.PrimExpr) -> tirx.PrimExpr:
    """Where cached key ``j`` of sequence ``b`` of a sliding-window layer lives among its page slots.

    ``length_info[:, b]`` = (last page length, window offset, sink size): the
    first ``sink`` keys stay at the start, the window's keys follow from
    ``offset`` on.
    """
    return T.if_then_else(j < length_info[2, b], j, j - length_info[2, b] + length_info[1, b])


def prefill_paged_sliding_kernel(
    h_kv: int, h_qo: int, d: int, window: int, page_size: int = 16, dtype: str = "float32"
) -> tirx.PrimFunc:
    """New queries against the cached keys of a sliding-window layer (TVM's ``..._sliding_window`` prefill).

    TVM's CPU version reads ``scale_O[d_idx]`` past its one element and keeps an
    uninitialized running maximum when a row's first key is masked: its rows came
    out NaN or wrong depending on memory contents. Same semantics here:
    ``length_info`` is ``(3, b)`` = (last page length, window offset, sink size);
    cached key ``j`` lives at ``j`` if ``j < sink`` else ``j - sink + offset``; with
    ``causal`` the query row ``r`` of a sequence's chunk sees the last
    ``max(window - r - 1, 0)`` cached keys (the chunk's own keys come from the
    ragged kernel), and a row that sees none gets zeros and ``lse = -5e4``.
    """
    group = h_qo // h_kv
    assert d % _LANES == 0 and page_size % _LANES == 0

    @T.prim_func
    def batch_prefill_paged_kv_cpu_sliding_window(
        q_handle: T.handle, q_indptr_handle: T.handle, pages_handle: T.handle, page_indptr_handle: T.handle,
        page_values_handle: T.handle, length_info_handle: T.handle, k_rope_pos_offset_handle: T.handle,
        q_rope_position_handle: T.handle, output_handle: T.handle, lse_handle: T.handle,
        causal: T.int32, rotary_mode: T.int32, rope_scale: T.float32, rope_theta: T.float32, sm_scale: T.float32,
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True,
                     "global_symbol": "batch_prefill_paged_kv_cpu_sliding_window"})
        b_n, total_len, nnz_pages, max_pages = T.int32(), T.int32(), T.int32(), T.int32()
        off_q, off_indptr, off_values, off_len, off_rope, off_qpos = (
            T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        )
        q = T.match_buffer(q_handle, (total_len, h_qo, d), dtype)
        q_indptr = T.match_buffer(q_indptr_handle, (b_n + 1,), "int32", elem_offset=off_q)
        pages = T.match_buffer(pages_handle, (max_pages, 2, h_kv, page_size, d), dtype)
        page_indptr = T.match_buffer(page_indptr_handle, (b_n + 1,), "int32", elem_offset=off_indptr)
        page_values = T.match_buffer(page_values_handle, (nnz_pages,), "int32", elem_offset=off_values)
        length_info = T.match_buffer(length_info_handle, (3, b_n), "int32", elem_offset=off_len)
        T.match_buffer(k_rope_pos_offset_handle, (b_n,), "int32", elem_offset=off_rope)
        T.match_buffer(q_rope_position_handle, (total_len,), "int32", elem_offset=off_qpos)
        output = T.match_buffer(output_handle, (total_len, h_qo, d), dtype)
        lse = T.match_buffer(lse_handle, (total_len, h_qo), "float32")
        assert rotary_mode == 0, "agent_sdk CPU attention: RoPE must be applied before attention"
        # Each sequence's cached keys gathered in their logical order (sink keys, then the window's), as in
        # prefill_paged_kernel: keys transposed, values as float32 rows; a sequence starts at its first page slot.
        kt = T.decl_buffer((h_kv, d, nnz_pages * page_size + _LANES), "float32")
        vt = T.decl_buffer((nnz_pages * page_size, h_kv, d), "float32")
        for task in T.parallel((page_indptr[b_n] - page_indptr[0]) * h_kv):
            own = T.decl_buffer((1,), "int32", scope="global")
            own[0] = 0
            for bb in range(b_n):
                if page_indptr[bb + 1] - page_indptr[0] <= task // h_kv:
                    own[0] = bb + 1
            n_own = (page_indptr[own[0] + 1] - page_indptr[own[0]] - 1) * page_size + length_info[0, own[0]] - (
                length_info[1, own[0]] - length_info[2, own[0]]
            )
            first = (task // h_kv - (page_indptr[own[0]] - page_indptr[0])) * page_size  # this block's first key
            for i in range(d):
                for jj in T.vectorized(page_size):
                    kt[task % h_kv, i, task // h_kv * page_size + jj] = _f32(pages[
                        page_values[page_indptr[own[0]] + _window_slot(T.max(T.min(first + jj, n_own - 1), 0), length_info, own[0])
                                    // page_size],
                        0, task % h_kv,
                        _window_slot(T.max(T.min(first + jj, n_own - 1), 0), length_info, own[0]) % page_size, i,
                    ])
            for jj in range(page_size):
                for i in T.vectorized(d):
                    vt[task // h_kv * page_size + jj, task % h_kv, i] = _f32(pages[
                        page_values[page_indptr[own[0]] + _window_slot(T.max(T.min(first + jj, n_own - 1), 0), length_info, own[0])
                                    // page_size],
                        1, task % h_kv,
                        _window_slot(T.max(T.min(first + jj, n_own - 1), 0), length_info, own[0]) % page_size, i,
                    ])
        blocks = (total_len + _ROWS - 1) // _ROWS  # no sequence has more row blocks
        for task in T.parallel(b_n * h_kv * blocks):
            b = task // (h_kv * blocks)
            rb = _balanced_block(task % blocks, blocks)
            if rb * _ROWS < q_indptr[b + 1] - q_indptr[b]:
                lo = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                hi = T.decl_buffer((_ROWS * group,), "int32", scope="global")
                # at most the sequence's slots: TVM keeps sink <= offset, and no key may be read past them if not
                n_kv = T.min(
                    T.if_then_else(
                        page_indptr[b] != page_indptr[b + 1],
                        (page_indptr[b + 1] - page_indptr[b] - 1) * page_size + length_info[0, b] - length_info[1, b]
                        + length_info[2, b],
                        0,
                    ),
                    (page_indptr[b + 1] - page_indptr[b]) * page_size,
                )
                for u in range(_ROWS * group):
                    # row r of the chunk sees the last max(window - r - 1, 0) cached keys (its own come from ragged)
                    lo[u] = T.if_then_else(
                        causal > 0,
                        T.max(n_kv - T.max(window - (rb * _ROWS + T.min(u // group, _block_rows(q_indptr, b, rb) - 1))
                                           - 1, 0), 0),
                        T.max(n_kv - window, 0),
                    )
                    hi[u] = n_kv
                _attend_rows(
                    q, kt, vt, output, lse, lo, hi, q_indptr, b, rb, task // blocks % h_kv,
                    (page_indptr[b] - page_indptr[0]) * page_size, sm_scale, nnz_pages * page_size + 2 * _LANES,
                    group, d,
                )

    return batch_prefill_paged_kv_cpu_sliding_window


def rope_kernel(theta: float, scale: float, d: int, h_q: int, h_kv: int, dtype: str = "float32") -> tirx.PrimFunc:
    """Rotate-half RoPE on q and k, split from fused qkv (TVM's ``fused_rope``, default scaling).

    TVM's version evaluates ``pow``, ``cos`` and ``sin`` for every element of
    every head (768 libm calls per token for SmolLM2); a position needs only
    ``d / 2`` angles, shared by all heads. Frequencies use the same formula,
    ``pos * scale / theta^(2 i / d)``.
    """
    half = d // 2
    heads = h_q + 2 * h_kv

    @T.prim_func
    def fused_rope(
        qkv_handle: T.handle, position_map_handle: T.handle, q_handle: T.handle, k_handle: T.handle,
        v_handle: T.handle, apply_rope: T.int64,
    ):
        T.func_attr({"op_pattern": 8, "tirx.noalias": True})
        seq_len, off_pos = T.int32(), T.int32()
        qkv = T.match_buffer(qkv_handle, (seq_len, heads, d), dtype)
        position_map = T.match_buffer(position_map_handle, (seq_len,), "int32", elem_offset=off_pos)
        q = T.match_buffer(q_handle, (seq_len, h_q, d), dtype)
        k = T.match_buffer(k_handle, (seq_len, h_kv, d), dtype)
        v = T.match_buffer(v_handle, (seq_len, h_kv, d), dtype)
        cs = T.decl_buffer((half,), "float32", scope="global")
        sn = T.decl_buffer((half,), "float32", scope="global")
        for s in range(seq_len):
            for i in range(half):
                cs[i] = T.cos(
                    T.Cast("float32", position_map[s]) * T.float32(scale)
                    / T.pow(T.float32(theta), T.Cast("float32", i * 2) / T.float32(d))
                )
                sn[i] = T.sin(
                    T.Cast("float32", position_map[s]) * T.float32(scale)
                    / T.pow(T.float32(theta), T.Cast("float32", i * 2) / T.float32(d))
                )
            if apply_rope == 0:
                for i in range(half):
                    cs[i] = T.float32(1)
                    sn[i] = T.float32(0)
            for h in range(h_q):
                for i in T.vectorized(half):
                    q[s, h, i] = T.Cast(dtype, _f32(qkv[s, h, i]) * cs[i] - _f32(qkv[s, h, i + half]) * sn[i])
                    q[s, h, i + half] = T.Cast(dtype, _f32(qkv[s, h, i + half]) * cs[i] + _f32(qkv[s, h, i]) * sn[i])
            for h in range(h_kv):
                for i in T.vectorized(half):
                    k[s, h, i] = T.Cast(
                        dtype, _f32(qkv[s, h_q + h, i]) * cs[i] - _f32(qkv[s, h_q + h, i + half]) * sn[i]
                    )
                    k[s, h, i + half] = T.Cast(
                        dtype, _f32(qkv[s, h_q + h, i + half]) * cs[i] + _f32(qkv[s, h_q + h, i]) * sn[i]
                    )
                for i in T.vectorized(d):
                    v[s, h, i] = qkv[s, h_q + h_kv + h, i]

    return fused_rope


def installed() -> contextlib.AbstractContextManager[None]:
    """Context in which ``TIRPagedKVCache(...)`` builds with these kernels."""
    return _swap_kernels()


@contextlib.contextmanager
def _swap_kernels() -> Iterator[None]:
    from tvm.relax.frontend.nn.llm import kv_cache

    original_decode = kv_cache._attention_decode_cpu
    original_prefill = kv_cache._attention_prefill_cpu
    original_ragged = kv_cache._attention_prefill_ragged_cpu

    def decode(h_kv: int, h_qo: int, d: int, dtype: str, sliding_window: bool, rope_scaling: Any, *rest: Any) -> Any:
        if sliding_window or dtype not in _DTYPES or d % _LANES:
            return original_decode(h_kv, h_qo, d, dtype, sliding_window, rope_scaling, *rest)
        return decode_paged_kernel(h_kv, h_qo, d, rest[0] if rest else 16, dtype)

    def prefill(
        h_kv: int, h_qo: int, d: int, dtype: str, sliding_window: bool, rope_scaling: Any, *rest: Any, **kw: Any
    ) -> Any:
        if dtype not in _DTYPES or d % _LANES or set(kw) - {"sliding_window_size"}:
            return original_prefill(h_kv, h_qo, d, dtype, sliding_window, rope_scaling, *rest, **kw)
        if sliding_window:
            window = int(kw.get("sliding_window_size", 1024))
            return prefill_paged_sliding_kernel(h_kv, h_qo, d, window, rest[0] if rest else 16, dtype)
        return prefill_paged_kernel(h_kv, h_qo, d, rest[0] if rest else 16, dtype)

    def ragged(h_kv: int, h_qo: int, d_qk: int, d_v: int, dtype: str, rope_scaling: Any) -> Any:
        if d_qk != d_v or dtype not in _DTYPES or d_qk % _LANES:
            return original_ragged(h_kv, h_qo, d_qk, d_v, dtype, rope_scaling)
        return prefill_ragged_kernel(h_kv, h_qo, d_qk, dtype)

    original_rope = kv_cache.llama_rope_with_position_map

    def rope(
        theta: float, scale: float, d: int, h_q: int, h_kv: int, dtype: str, rope_scaling: Any,
        rotary_dim: int | None = None,
    ) -> Any:
        if rope_scaling or dtype not in _DTYPES or rotary_dim not in (None, d) or d % 2:
            return original_rope(theta, scale, d, h_q, h_kv, dtype, rope_scaling, rotary_dim)
        return rope_kernel(theta, scale, d, h_q, h_kv, dtype)

    kv_cache._attention_decode_cpu = decode
    kv_cache._attention_prefill_cpu = prefill
    kv_cache._attention_prefill_ragged_cpu = ragged
    kv_cache.llama_rope_with_position_map = rope
    try:
        yield
    finally:
        kv_cache.llama_rope_with_position_map = original_rope
        kv_cache._attention_decode_cpu = original_decode
        kv_cache._attention_prefill_cpu = original_prefill
        kv_cache._attention_prefill_ragged_cpu = original_ragged
