"""The CPU attention kernels (and the fast-math helpers they use) against plain numpy.

Reference: float64 softmax attention with grouped KV heads, scores scaled by
``sm_scale``; ``lse`` in TVM's log2 units (``log2 sum_j 2^(s_j log2 e)``).
Tolerance 2e-6 on outputs of unit scale (fp32 dots over 64 and the
polynomial exp2, whose relative error is ~1.2e-7), 1e-5 on lse.

A float16 cache (queries, pages and output in float16, arithmetic in
float32) is checked against the same reference run on the float16 inputs:
the only extra error is the rounding of the output, so the tolerance is
2e-6 + 2^-11 |ref| (half a float16 ulp) per element, lse still 1e-5.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.unit

tvm = pytest.importorskip("tvm")

from agent_sdk.compiler.targets import host_llvm_target
from agent_sdk.models import cpu_attention as ca
from agent_sdk.models import fast_math

PAGE = 16
H_KV, H_QO, D = 3, 9, 64
SM_SCALE = D**-0.5


def _build(func: Any, name: str) -> Any:
    target = tvm.target.Target(host_llvm_target())
    return tvm.compile(tvm.IRModule({name: func.with_attr("global_symbol", name)}), target=target)[name]


DTYPES = ["float32", "float16"]


@cache
def _decode(dtype: str) -> Any:
    return _build(ca.decode_paged_kernel(H_KV, H_QO, D, PAGE, dtype), "decode")


@cache
def _ragged(dtype: str) -> Any:
    return _build(ca.prefill_ragged_kernel(H_KV, H_QO, D, dtype), "ragged")


@cache
def _prefill_paged(dtype: str) -> Any:
    return _build(ca.prefill_paged_kernel(H_KV, H_QO, D, PAGE, dtype), "prefill_paged")


def _assert_close(got: np.ndarray, ref: np.ndarray, dtype: str) -> None:
    """Outputs: 2e-6, plus half a float16 ulp when the output is stored in float16."""
    tol = 2e-6 + (np.abs(ref) * 2.0**-11 if dtype == "float16" else 0.0)
    assert got.dtype == np.dtype(dtype)
    bad = np.abs(got.astype(np.float64) - ref) > tol
    assert not bad.any(), f"max error {np.abs(got - ref).max()} at {np.argwhere(bad)[0]}"


def _causal(n_q: int, n_kv: int) -> np.ndarray:
    """Query i (the last n_q of n_kv positions) sees keys up to its own position."""
    return np.arange(n_kv)[None, :] <= (n_kv - n_q + np.arange(n_q))[:, None]


def _reference(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray, *, sm_scale: float = SM_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """q (m, h_qo, d), k/v (n, h_kv, d), mask (m, n) bool -> out (m, h_qo, d), lse (m, h_qo)."""
    group = q.shape[1] // k.shape[1]
    kk = np.repeat(k.astype(np.float64), group, axis=1)  # (n, h_qo, d)
    vv = np.repeat(v.astype(np.float64), group, axis=1)
    s = np.einsum("mhd,nhd->mhn", q.astype(np.float64), kk) * sm_scale
    s = np.where(mask[:, None, :], s, -np.inf)
    mx = s.max(-1, keepdims=True)
    p = np.exp(s - mx)
    out = np.einsum("mhn,nhd->mhd", p / p.sum(-1, keepdims=True), vv)
    lse = (mx[..., 0] + np.log(p.sum(-1))) * math.log2(math.e)
    return out, lse


def _paged(
    lengths: list[int], rng: np.random.Generator, dtype: str = "float32", *, h_kv: int = H_KV, d: int = D
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Random pages holding sequences of ``lengths`` in shuffled pages."""
    n_pages = [max(1, -(-n // PAGE)) if n else 0 for n in lengths]
    total = sum(n_pages) + 2
    pages = rng.standard_normal((total, 2, h_kv, PAGE, d)).astype(dtype)
    order = rng.permutation(total)[: sum(n_pages)].astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(n_pages)]).astype(np.int32)
    last = np.array([n - (p - 1) * PAGE if p else 0 for n, p in zip(lengths, n_pages)], dtype=np.int32)
    seqs = []
    for b, n in enumerate(lengths):
        ids = order[indptr[b] : indptr[b + 1]]
        kv = pages[ids].transpose(1, 0, 3, 2, 4).reshape(2, -1, h_kv, d)[:, :n]  # (2, n, h_kv, d)
        seqs.append(kv)
    return pages, seqs, indptr, order, last


def _t(a: np.ndarray) -> Any:
    return tvm.runtime.tensor(np.ascontiguousarray(a))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", [[1], [7], [16], [17], [200], [5, 33, 1]], ids=str)
def test_decode_matches_numpy(lengths: list[int], dtype: str) -> None:
    rng = np.random.default_rng(sum(lengths))
    pages, seqs, indptr, values, last = _paged(lengths, rng, dtype)
    b = len(lengths)
    q = rng.standard_normal((b, H_QO, D)).astype(dtype)
    out = _t(np.full((b, H_QO, D), np.nan, dtype))
    lse = _t(np.full((b, H_QO), np.nan, np.float32))
    zeros = _t(np.zeros(b, np.int32))
    _decode(dtype)(_t(q), _t(pages), _t(indptr), _t(values), _t(last), zeros, zeros, out, lse, 0, 1.0, 1e4, SM_SCALE)
    for i, (kv, n) in enumerate(zip(seqs, lengths)):
        ref_o, ref_l = _reference(q[i : i + 1], kv[0], kv[1], np.ones((1, n), bool))
        _assert_close(out.numpy()[i], ref_o[0], dtype)
        assert np.abs(lse.numpy()[i] - ref_l[0]).max() < 1e-5


@pytest.mark.parametrize("heads", [(2, 2, 64), (1, 4, 256), (2, 14, 64)], ids=str)
@pytest.mark.parametrize("lengths", [[9], [130], [3, 140]], ids=str)
def test_decode_groups_match_numpy(heads: tuple[int, int, int], lengths: list[int]) -> None:
    """Other grouped-query shapes (Qwen3: 1 query head per key head; Gemma 3: 4 of width 256; Qwen2.5: 7), on
    one thread and, from 8 cached pages, with the key/value heads in parallel."""
    h_kv, h_qo, d = heads
    rng = np.random.default_rng(len(lengths) * 1000 + h_qo)
    pages, seqs, indptr, values, last = _paged(lengths, rng, h_kv=h_kv, d=d)
    b = len(lengths)
    q = rng.standard_normal((b, h_qo, d)).astype(np.float32)
    out = _t(np.full((b, h_qo, d), np.nan, np.float32))
    lse = _t(np.full((b, h_qo), np.nan, np.float32))
    zeros = _t(np.zeros(b, np.int32))
    kernel = _build(ca.decode_paged_kernel(h_kv, h_qo, d, PAGE, "float32"), "decode")
    kernel(_t(q), _t(pages), _t(indptr), _t(values), _t(last), zeros, zeros, out, lse, 0, 1.0, 1e4, d**-0.5)
    for i, (kv, n) in enumerate(zip(seqs, lengths)):
        ref_o, ref_l = _reference(q[i : i + 1], kv[0], kv[1], np.ones((1, n), bool), sm_scale=d**-0.5)
        _assert_close(out.numpy()[i], ref_o[0], "float32")
        assert np.abs(lse.numpy()[i] - ref_l[0]).max() < 1e-5


def _check_rows(
    out: Any, lse: Any, q: np.ndarray, q_indptr: np.ndarray, kvs: list[tuple[np.ndarray, np.ndarray]], causal: bool
) -> None:
    for b, (k, v) in enumerate(kvs):
        rows = slice(q_indptr[b], q_indptr[b + 1])
        n_q, n_kv = q_indptr[b + 1] - q_indptr[b], k.shape[0]
        if n_q == 0:
            continue
        mask = _causal(n_q, n_kv) if causal else np.ones((n_q, n_kv), bool)
        ref_o, ref_l = _reference(q[rows], k, v, mask)
        _assert_close(out.numpy()[rows], ref_o, str(q.dtype))
        assert np.abs(lse.numpy()[rows] - ref_l).max() < 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [1, 0])
@pytest.mark.parametrize("shapes", [[(1, 1)], [(13, 13)], [(40, 40)], [(5, 21)], [(3, 3), (17, 30), (9, 9)]], ids=str)
def test_ragged_prefill_matches_numpy(shapes: list[tuple[int, int]], causal: int, dtype: str) -> None:
    """``shapes``: (new queries, keys) per sequence; keys >= queries as when a prefix is cached."""
    rng = np.random.default_rng(len(shapes) * 100 + causal)
    q_indptr = np.concatenate([[0], np.cumsum([s[0] for s in shapes])]).astype(np.int32)
    kv_indptr = np.concatenate([[0], np.cumsum([s[1] for s in shapes])]).astype(np.int32)
    q = rng.standard_normal((q_indptr[-1], H_QO, D)).astype(dtype)
    k = rng.standard_normal((kv_indptr[-1], H_KV, D)).astype(dtype)
    v = rng.standard_normal((kv_indptr[-1], H_KV, D)).astype(dtype)
    out = _t(np.full(q.shape, np.nan, dtype))
    lse = _t(np.full(q.shape[:2], np.nan, np.float32))
    b = len(shapes)
    _ragged(dtype)(
        _t(q), _t(q_indptr), _t(k), _t(v), _t(kv_indptr), _t(np.zeros(q.shape[0], np.int32)),
        _t(np.zeros(b, np.int32)), out, lse, causal, 0, 1.0, 1e4, SM_SCALE,
    )
    kvs = [(k[kv_indptr[i] : kv_indptr[i + 1]], v[kv_indptr[i] : kv_indptr[i + 1]]) for i in range(b)]
    _check_rows(out, lse, q, q_indptr, kvs, bool(causal))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [1, 0])
@pytest.mark.parametrize("shapes", [[(1, 7)], [(12, 40)], [(16, 16)], [(3, 20), (0, 5), (9, 33)]], ids=str)
def test_paged_prefill_matches_numpy(shapes: list[tuple[int, int]], causal: int, dtype: str) -> None:
    rng = np.random.default_rng(len(shapes) * 10 + causal)
    pages, seqs, indptr, values, last = _paged([s[1] for s in shapes], rng, dtype)
    q_indptr = np.concatenate([[0], np.cumsum([s[0] for s in shapes])]).astype(np.int32)
    q = rng.standard_normal((q_indptr[-1], H_QO, D)).astype(dtype)
    out = _t(np.full(q.shape, np.nan, dtype))
    lse = _t(np.full(q.shape[:2], np.nan, np.float32))
    b = len(shapes)
    _prefill_paged(dtype)(
        _t(q), _t(q_indptr), _t(pages), _t(indptr), _t(values), _t(last), _t(np.zeros(b, np.int32)),
        _t(np.zeros(q.shape[0], np.int32)), out, lse, causal, 0, 1.0, 1e4, SM_SCALE,
    )
    _check_rows(out, lse, q, q_indptr, [(kv[0], kv[1]) for kv in seqs], bool(causal))


@pytest.mark.parametrize("heads", [(2, 2, 64), (1, 4, 256), (2, 14, 64)], ids=str)
@pytest.mark.parametrize("causal", [1, 0])
def test_prefill_groups_match_numpy(heads: tuple[int, int, int], causal: int) -> None:
    """Prefill tasks hold 4 rows x the group's query heads, scored 4 vectors at a time: other groups (Qwen3's 1,
    Gemma 3's 4 of width 256, Qwen2.5's 7), blocks cut short (5 and 1 rows) and a batch of sequences, both kernels."""
    h_kv, h_qo, d = heads
    rng = np.random.default_rng(h_qo * 10 + causal)
    shapes = [(5, 37), (1, 18), (9, 9)]  # (new rows, keys) per sequence
    b = len(shapes)
    q_indptr = np.concatenate([[0], np.cumsum([s[0] for s in shapes])]).astype(np.int32)
    q = rng.standard_normal((q_indptr[-1], h_qo, d)).astype(np.float32)
    zeros_b, zeros_q = _t(np.zeros(b, np.int32)), _t(np.zeros(q.shape[0], np.int32))

    def check(out: Any, lse: Any, kvs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for i, (k, v) in enumerate(kvs):
            rows = slice(q_indptr[i], q_indptr[i + 1])
            n_q, n_kv = shapes[i]
            mask = _causal(n_q, n_kv) if causal else np.ones((n_q, n_kv), bool)
            ref_o, ref_l = _reference(q[rows], k, v, mask, sm_scale=d**-0.5)
            _assert_close(out.numpy()[rows], ref_o, "float32")
            assert np.abs(lse.numpy()[rows] - ref_l).max() < 1e-5

    kv_indptr = np.concatenate([[0], np.cumsum([s[1] for s in shapes])]).astype(np.int32)
    k = rng.standard_normal((kv_indptr[-1], h_kv, d)).astype(np.float32)
    v = rng.standard_normal((kv_indptr[-1], h_kv, d)).astype(np.float32)
    out, lse = _t(np.full(q.shape, np.nan, np.float32)), _t(np.full(q.shape[:2], np.nan, np.float32))
    _build(ca.prefill_ragged_kernel(h_kv, h_qo, d), "ragged")(
        _t(q), _t(q_indptr), _t(k), _t(v), _t(kv_indptr), zeros_q, zeros_b, out, lse, causal, 0, 1.0, 1e4, d**-0.5
    )
    check(out, lse, [(k[kv_indptr[i] : kv_indptr[i + 1]], v[kv_indptr[i] : kv_indptr[i + 1]]) for i in range(b)])

    pages, seqs, indptr, values, last = _paged([s[1] for s in shapes], rng, h_kv=h_kv, d=d)
    out, lse = _t(np.full(q.shape, np.nan, np.float32)), _t(np.full(q.shape[:2], np.nan, np.float32))
    _build(ca.prefill_paged_kernel(h_kv, h_qo, d, PAGE), "prefill_paged")(
        _t(q), _t(q_indptr), _t(pages), _t(indptr), _t(values), _t(last), zeros_b, zeros_q, out, lse, causal, 0,
        1.0, 1e4, d**-0.5,
    )
    check(out, lse, [(kv[0], kv[1]) for kv in seqs])


def test_paged_prefill_ignores_unwritten_slots_and_empty_sequences() -> None:
    """The slots of a last page past its length hold whatever the cache left there (here NaN and inf): no row may
    read them. A sequence with no cached keys gets zeros and ``lse = -5e4`` (TVM's empty-state convention)."""
    rng = np.random.default_rng(7)
    lengths = [21, 0, 16]
    pages, seqs, indptr, values, last = _paged(lengths, rng)
    pages[values[indptr[0] + 1], :, :, 5:] = np.nan  # the first sequence's second page holds 5 keys
    pages[values[indptr[0] + 1], 0, 0, 7] = np.inf
    q_indptr = np.array([0, 6, 9, 11], np.int32)
    q = rng.standard_normal((11, H_QO, D)).astype(np.float32)
    out, lse = _t(np.full(q.shape, np.nan, np.float32)), _t(np.full(q.shape[:2], np.nan, np.float32))
    _prefill_paged("float32")(
        _t(q), _t(q_indptr), _t(pages), _t(indptr), _t(values), _t(last), _t(np.zeros(3, np.int32)),
        _t(np.zeros(11, np.int32)), out, lse, 0, 0, 1.0, 1e4, SM_SCALE,
    )
    for i in (0, 2):
        rows = slice(q_indptr[i], q_indptr[i + 1])
        ref_o, ref_l = _reference(q[rows], seqs[i][0], seqs[i][1], np.ones((q_indptr[i + 1] - q_indptr[i], lengths[i]), bool))
        _assert_close(out.numpy()[rows], ref_o, "float32")
        assert np.abs(lse.numpy()[rows] - ref_l).max() < 1e-5
    assert (out.numpy()[6:9] == 0).all() and (lse.numpy()[6:9] == -5e4).all()


@pytest.mark.parametrize("heads", [(3, 9, 64), (1, 4, 256)], ids=str)
@pytest.mark.parametrize("causal", [1, 0])
def test_sliding_window_prefill_matches_numpy(heads: tuple[int, int, int], causal: int) -> None:
    """A sliding-window layer's cached keys: ``length_info`` = (last page length, window offset, sink size); key ``j``
    sits at slot ``j`` below the sink, else at ``j - sink + offset``. Under ``causal`` chunk row ``r`` sees the last
    ``max(window - r - 1, 0)`` cached keys (rows past the window see none: zeros, ``lse = -5e4``); otherwise every
    row sees the last ``window``. Three sequences with different offsets and sinks, shuffled pages, NaN in the
    slots no key uses."""
    h_kv, h_qo, d = heads
    window = 8
    rng = np.random.default_rng(h_qo + 100 * causal)
    seqs = [(3, 5, 3, 0, 5), (2, 16, 4, 2, 10), (1, 2, 0, 0, 1)]  # pages, last page length, offset, sink, new rows
    total = sum(p for p, *_ in seqs) + 2
    pages = rng.standard_normal((total, 2, h_kv, PAGE, d)).astype(np.float32)
    order = rng.permutation(total)[: total - 2].astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum([p for p, *_ in seqs])]).astype(np.int32)
    info = np.array([[s[1] for s in seqs], [s[2] for s in seqs], [s[3] for s in seqs]], np.int32)
    q_indptr = np.concatenate([[0], np.cumsum([s[4] for s in seqs])]).astype(np.int32)
    q = rng.standard_normal((q_indptr[-1], h_qo, d)).astype(np.float32)
    keys = []
    for b, (n_pages, last, offset, sink, _) in enumerate(seqs):
        slots = pages[order[indptr[b] : indptr[b + 1]]].transpose(1, 0, 3, 2, 4).reshape(2, -1, h_kv, d)
        n_kv = (n_pages - 1) * PAGE + last - offset + sink
        used = [j if j < sink else j - sink + offset for j in range(n_kv)]
        unused = sorted(set(range(n_pages * PAGE)) - set(used))
        for slot in unused:  # what the cache left there must not be read
            pages[order[indptr[b] + slot // PAGE], :, :, slot % PAGE] = np.nan
        keys.append(slots[:, used])
    out, lse = _t(np.full(q.shape, np.nan, np.float32)), _t(np.full(q.shape[:2], np.nan, np.float32))
    kernel = _build(ca.prefill_paged_sliding_kernel(h_kv, h_qo, d, window, PAGE), "sliding")
    kernel(
        _t(q), _t(q_indptr), _t(pages), _t(indptr), _t(order), _t(info), _t(np.zeros(3, np.int32)),
        _t(np.zeros(q.shape[0], np.int32)), out, lse, causal, 0, 1.0, 1e4, d**-0.5,
    )
    for b, (k, v) in enumerate(keys):
        n_q, n_kv = q_indptr[b + 1] - q_indptr[b], k.shape[0]
        for r in range(n_q):
            row = q_indptr[b] + r
            lo = max(n_kv - max(window - r - 1, 0), 0) if causal else max(n_kv - window, 0)
            if lo == n_kv:
                assert (out.numpy()[row] == 0).all() and (lse.numpy()[row] == -5e4).all()
                continue
            ref_o, ref_l = _reference(q[row : row + 1], k[lo:], v[lo:], np.ones((1, n_kv - lo), bool), sm_scale=d**-0.5)
            _assert_close(out.numpy()[row : row + 1], ref_o, "float32")
            assert np.abs(lse.numpy()[row] - ref_l[0]).max() < 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("apply", [1, 0])
def test_rope_matches_numpy(apply: int, dtype: str) -> None:
    """Rotate-half RoPE with TVM's frequencies ``pos * scale / theta^(2i/d)``; v passes through.

    Tolerance 5e-5, plus half a float16 ulp of the result for a float16 cache.
    """
    theta, scale, n = 10000.0, 1.0, 11
    rng = np.random.default_rng(apply)
    qkv = rng.standard_normal((n, H_QO + 2 * H_KV, D)).astype(dtype)
    pos = np.array([0, 1, 2, 5, 17, 30, 64, 99, 150, 199, 200], np.int32)
    outs = [tvm.runtime.tensor(np.full((n, h, D), np.nan, dtype)) for h in (H_QO, H_KV, H_KV)]
    _build(ca.rope_kernel(theta, scale, D, H_QO, H_KV, dtype), "rope")(_t(qkv), _t(pos), *outs, apply)
    x = qkv.astype(np.float64)
    ang = pos[:, None].astype(np.float64) * scale / theta ** (np.arange(D // 2) * 2 / D)  # (n, d/2)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if not apply:
        cos, sin = np.ones_like(cos), np.zeros_like(sin)
    a, b = x[..., : D // 2], x[..., D // 2 :]
    rot = np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)
    tol = 5e-5 + np.abs(rot) * (2.0**-11 if dtype == "float16" else 0.0)
    assert (np.abs(outs[0].numpy() - rot[:, :H_QO]) <= tol[:, :H_QO]).all()
    assert (np.abs(outs[1].numpy() - rot[:, H_QO : H_QO + H_KV]) <= tol[:, H_QO : H_QO + H_KV]).all()
    np.testing.assert_array_equal(outs[2].numpy(), qkv[:, H_QO + H_KV :])


def test_exp2_is_accurate() -> None:
    x = np.concatenate([-np.geomspace(1e-6, 125.0, 4000), np.linspace(-10, 0, 4001)]).astype(np.float32)

    @tvm.script.tirx.prim_func
    def f(a: tvm.script.tirx.Buffer((x.size,), "float32"), b: tvm.script.tirx.Buffer((x.size,), "float32")) -> None:
        for i in range(x.size):
            b[i] = fast_math.exp2(a[i])

    got = tvm.runtime.tensor(np.zeros_like(x))
    _build(f, "exp2")(_t(x), got)
    rel = np.abs(got.numpy() / np.exp2(x.astype(np.float64)) - 1)
    assert rel.max() < 5e-7


def test_swiglu_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    gate_up = (rng.standard_normal((3, 2, 2 * 37)) * 8).astype(np.float32)
    gate_up[0, 0, :4] = [-200.0, 200.0, 0.0, -90.0]
    gu = tvm.te.placeholder(gate_up.shape, "float32", name="gate_up")
    func = tvm.te.create_prim_func([gu, fast_math.swiglu(gu)])
    got = tvm.runtime.tensor(np.zeros((3, 2, 37), np.float32))
    _build(func, "swiglu")(_t(gate_up), got)
    g, u = gate_up[..., :37].astype(np.float64), gate_up[..., 37:].astype(np.float64)
    ref = g * u / (1 + np.exp(-g))
    assert np.abs(got.numpy() - ref).max() <= 1e-6 * (1 + np.abs(ref)).max()
