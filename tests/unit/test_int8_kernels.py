"""The q4 x int8-activation kernel (``q4a8``), and its int16 sibling (``q4a16``), against a numpy emulation.

The reference rounds the activations exactly as the kernel is specified to
(per token and group of 32: ``d = max|x| / 127``, ``q = rint(x * (127 / max|x|))``,
all in float32), then multiplies in float64 by the dequantized q4 weight.
What remains is the kernel's fp32 per-group scaling: tolerance 1e-6 relative
to the largest output. Every dot-product flavour that runs here is checked
(AVX-512 VNNI when the CPU has it, the generic integer code used on
Cortex-A72); the ARMv8.2 ``sdot`` flavour is checked to compile to ``sdot``.

The integer half (rounded activations and per-group int32 sums) has no
tolerance: on adversarial inputs (exact halves, +-127 everywhere so sums
pass int16's range, outliers, 1e-30..1e30) it must equal the exact numpy
reference in ``tests/reference/numpy_q4a8.py`` bit for bit, for every flavour
that runs here; ``tests/integration/test_arm64_qemu.py`` runs the same check
on the pi4 and pi5 builds under qemu.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.unit

tvm = pytest.importorskip("tvm")

from agent_sdk.compiler.targets import TARGETS, host_llvm_target
from agent_sdk.quantization import formats as qf
from agent_sdk.quantization.int8_kernels import (
    dot_kind,
    q4a8_group_sums_kernel,
    q4a8_matmul_kernel,
    q4a16_matmul_kernel,
    q8a16_matmul_kernel,
)
from tests.reference import numpy_q4a8 as ref8


def _host_kinds() -> list[str]:
    from tvm.target.codegen import target_has_features

    target = tvm.target.Target(host_llvm_target())
    with target:
        native = dot_kind()
        avx2 = {"avx2"} if target_has_features("avx2", target) else set()  # a VNNI host runs the AVX2 flavour too
    return sorted({native, "generic", *avx2})


@cache
def _compiled(n_out: int, n_in: int, kind: str, bits: int = 8) -> Any:
    target = tvm.target.Target(host_llvm_target())
    make = q4a16_matmul_kernel if bits == 16 else q4a8_matmul_kernel
    with target:
        func = make(n_out, n_in, qf.interleave_rows(n_out), kind).with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]


def _emulated(x: np.ndarray, w: np.ndarray, bits: int = 8) -> np.ndarray:
    qmax = ref8.QMAX[bits]
    n, k = x.shape
    g = x.reshape(n, k // qf.GROUP, qf.GROUP)
    amax = np.abs(g).max(-1)
    big = amax >= ref8.MIN_GROUP_MAX[bits]  # smaller groups round to zeros
    safe = np.where(big, amax, np.float32(1))
    inv = np.where(big, np.float32(qmax) / safe, np.float32(0)).astype(np.float32)
    d = (amax / np.float32(qmax)).astype(np.float32)
    q = np.rint(g * inv[..., None])
    assert np.abs(q).max() <= qmax
    return (q.astype(np.float64) * d[..., None]).reshape(n, k) @ w.T


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", _host_kinds())
@pytest.mark.parametrize("n_out,n_in", [(48, 96), (40, 32), (36, 64), (6, 160), (7, 32)], ids=["r16", "r8", "r4", "r2", "r1"])
@pytest.mark.parametrize("n_tok", [1, 5, 9])
def test_kernel_matches_emulation(kind: str, n_out: int, n_in: int, n_tok: int, bits: int) -> None:
    rng = np.random.default_rng(n_out + n_in + n_tok)
    stored = qf.pack_rows(qf.quantize(rng.standard_normal((n_out, n_in)).astype(np.float32), "q4"), "q4")
    x = (rng.standard_normal((n_tok, n_in)) * 3).astype(np.float32)
    x[0, :32] = 0  # a group of zeros (scale 0)
    y = tvm.runtime.tensor(np.full((n_tok, n_out), np.nan, np.float32))
    _compiled(n_out, n_in, kind, bits)(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    w = qf.dequantize(qf.unpack_rows(stored, "q4"), "q4").astype(np.float64)
    ref = _emulated(x, w, bits)
    assert np.abs(y.numpy() - ref).max() <= 1e-6 * np.abs(ref).max()
    # and the rounding itself stays small: within 1% of the float product's scale (int16: 256 times finer steps)
    exact = x.astype(np.float64) @ w.T
    bound = 0.01 * np.abs(ref).max() + 0.05 if bits == 8 else 1e-4 * np.abs(ref).max()
    assert np.abs(y.numpy() - exact).max() <= bound


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", _host_kinds())
@pytest.mark.parametrize("n_out,n_in", [(48, 96), (40, 64), (7, 32)], ids=["r16", "r8", "r1"])
def test_token_tiles_compute_what_one_token_does(kind: str, n_out: int, n_in: int, bits: int) -> None:
    """Prefill runs tokens in register tiles (shared masked weights): each token's output must be bit-identical
    to running that token alone, whatever the tile and remainder (19 tokens: tiles of 4 or 2 plus the rest, and
    from 16 tokens the activations are rounded in parallel)."""
    rng = np.random.default_rng(n_out * 7 + n_in)
    stored = qf.pack_rows(qf.quantize(rng.standard_normal((n_out, n_in)).astype(np.float32), "q4"), "q4")
    weights = [tvm.runtime.tensor(a) for a in stored.values()]
    x = (rng.standard_normal((19, n_in)) * 2).astype(np.float32)
    together = tvm.runtime.tensor(np.full((19, n_out), np.nan, np.float32))
    _compiled(n_out, n_in, kind, bits)(tvm.runtime.tensor(x), *weights, together)
    for t in range(19):
        alone = tvm.runtime.tensor(np.full((1, n_out), np.nan, np.float32))
        _compiled(n_out, n_in, kind, bits)(tvm.runtime.tensor(x[t : t + 1]), *weights, alone)
        np.testing.assert_array_equal(together.numpy()[t], alone.numpy()[0])


def test_pi5_uses_sdot_and_pi4_does_not() -> None:
    for name, want in (("pi5", True), ("pi4", False)):
        target = tvm.target.Target(TARGETS[name].target)
        with target:
            assert dot_kind() == ("sdot" if want else "generic")
            func = q4a8_matmul_kernel(32, 64, 16).with_attr("global_symbol", "kernel")
        asm = tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")
        assert ("sdot" in asm) == want, name


@cache
def _compiled_sums(n_out: int, n_in: int, kind: str, bits: int = 8) -> Any:
    target = tvm.target.Target(host_llvm_target())
    with target:
        func = q4a8_group_sums_kernel(n_out, n_in, qf.interleave_rows(n_out), kind, bits=bits)
        func = func.with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]


def _adversarial_weight(n_out: int, n_in: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """4-bit values and the stored (row-interleaved) q4 weight holding them."""
    nib = ref8.adversarial_nibbles(n_out, n_in)
    rng = np.random.default_rng(1)
    groups = n_in // qf.GROUP
    arrays = {
        "qweight": ref8.pack_nibbles(nib),
        "scale": (rng.random((n_out, groups)) * 0.1 + 0.01).astype(np.float16),
        "minv": (-rng.random((n_out, groups)) * 0.5).astype(np.float16),
    }
    return nib, qf.pack_rows(arrays, "q4")


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", _host_kinds())
@pytest.mark.parametrize("n_out,n_in", [(48, 96), (40, 64), (7, 64)], ids=["r16", "r8", "r1"])
def test_integer_half_is_exact(kind: str, n_out: int, n_in: int, bits: int) -> None:
    """Rounded activations and group sums equal the exact reference, bit for bit."""
    x = ref8.adversarial_activations(n_in, bits=bits)
    nib, stored = _adversarial_weight(n_out, n_in)
    q_ref, _, _ = ref8.quantize_activations(x, bits)
    # the inputs do reach what they are meant to: ties, int16 overflow (int8 mode), the largest sum
    assert ref8.quantize_activations(x[2:3], bits)[0][0, 1:4].tolist() == [-126, -124, -124]
    sums_ref = ref8.group_sums(q_ref, nib)
    largest = ref8.MAX_GROUP_SUM if bits == 8 else ref8.MAX_GROUP_SUM16
    assert np.abs(sums_ref).max() == largest > np.iinfo(np.int16).max
    xq = tvm.runtime.tensor(np.zeros(x.shape, np.int8 if bits == 8 else np.int16))
    sums = tvm.runtime.tensor(np.full((x.shape[0], n_in // qf.GROUP, n_out), -1, np.int32))
    _compiled_sums(n_out, n_in, kind, bits)(tvm.runtime.tensor(x), tvm.runtime.tensor(stored["qweight"]), xq, sums)
    np.testing.assert_array_equal(xq.numpy(), ref8.stored_order(q_ref, bits))
    np.testing.assert_array_equal(sums.numpy(), sums_ref)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", _host_kinds())
def test_matmul_on_adversarial_inputs(kind: str, bits: int) -> None:
    """The float half: exact sums scaled per group, within fp32 rounding (1e-6 of each token's largest output)."""
    n_out, n_in = 48, 96
    x = ref8.adversarial_activations(n_in, bits=bits)
    nib, stored = _adversarial_weight(n_out, n_in)
    q, d, _ = ref8.quantize_activations(x, bits)
    sums = ref8.group_sums(q, nib).astype(np.float64)  # (n, g, N)
    flat = qf.unpack_rows(stored, "q4")
    scale, minv = flat["scale"].astype(np.float64).T, flat["minv"].astype(np.float64).T  # (g, N)
    xs = q.astype(np.float64).reshape(x.shape[0], -1, qf.GROUP).sum(-1) * d  # (n, g)
    ref = (sums * scale[None] * d[..., None].astype(np.float64) + minv[None] * xs[..., None]).sum(1)
    y = tvm.runtime.tensor(np.full((x.shape[0], n_out), np.nan, np.float32))
    _compiled(n_out, n_in, kind, bits)(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    err = np.abs(y.numpy() - ref).max(-1)
    assert (err <= 1e-6 * np.abs(ref).max(-1)).all(), err / np.abs(ref).max(-1)


def test_avx2_without_vnni_uses_vpmaddubsw() -> None:
    """An AVX2-only x86 (AMD Zen 2/3, Intel before Ice Lake) gets the two-instruction byte dot product, not
    the generic int32 multiplies; a VNNI CPU keeps vpdpbusd."""
    for mcpu, kind, instr in (("haswell", "avx2", "vpmaddubsw"), ("cascadelake", "vnni", "vpdpbusd")):
        target = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": mcpu})
        with target:
            assert dot_kind() == kind
            func = q4a8_matmul_kernel(32, 64, 16).with_attr("global_symbol", "kernel")
        asm = tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")
        assert instr in asm and "vpmulld" not in asm, mcpu


def test_int16_activations_use_the_pair_dot_products() -> None:
    """q4a16 sums int16 pairs with vpdpwssd on AVX-512 VNNI and vpmaddwd on AVX2, not int32 multiplies."""
    for mcpu, instr in (("haswell", "vpmaddwd"), ("cascadelake", "vpdpwssd")):
        target = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": mcpu})
        with target:
            func = q4a16_matmul_kernel(32, 64, 16).with_attr("global_symbol", "kernel")
        asm = tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")
        assert instr in asm and "vpmulld" not in asm, mcpu


@cache
def _compiled_head(n_out: int, n_in: int, kind: str) -> Any:
    target = tvm.target.Target(host_llvm_target())
    with target:
        func = q8a16_matmul_kernel(n_out, n_in, qf.interleave_rows(n_out), kind).with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]


@pytest.mark.parametrize("kind", _host_kinds())
@pytest.mark.parametrize("n_out,n_in", [(48, 96), (40, 64), (7, 32)], ids=["r16", "r8", "r1"])
@pytest.mark.parametrize("n_tok", [1, 3])
def test_q8_head_with_int16_activations_matches_emulation(kind: str, n_out: int, n_in: int, n_tok: int) -> None:
    """q4a16's output head: int8 weights x int16 activations (natural order, pairs of neighbouring columns), each
    group's exact int32 sum scaled in float32: within 1e-6 of the emulation's largest output, and within 1e-4 of
    the float product."""
    rng = np.random.default_rng(n_out + n_in + n_tok)
    stored = qf.pack_rows(qf.quantize(rng.standard_normal((n_out, n_in)).astype(np.float32), "q8"), "q8")
    x = (rng.standard_normal((n_tok, n_in)) * 3).astype(np.float32)
    x[0, :32] = 0  # a group of zeros
    x[-1, 3] = -400.0  # an outlier channel
    if n_in >= 64:  # a group where 32767 / max would overflow float32: rounds to zeros
        x[-1, 32:64] = np.float32(2.0**-116) * rng.standard_normal(32).astype(np.float32)
    y = tvm.runtime.tensor(np.full((n_tok, n_out), np.nan, np.float32))
    _compiled_head(n_out, n_in, kind)(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    w = qf.dequantize(qf.unpack_rows(stored, "q8"), "q8").astype(np.float64)
    ref = _emulated(x, w, 16)
    assert np.abs(y.numpy() - ref).max() <= 1e-6 * np.abs(ref).max()
    assert np.abs(y.numpy() - x.astype(np.float64) @ w.T).max() <= 1e-4 * np.abs(ref).max()


def test_q8_head_uses_vpdpwssd_with_vnni() -> None:
    target = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "cascadelake"})
    with target:
        func = q8a16_matmul_kernel(32, 64, 16).with_attr("global_symbol", "kernel")
    asm = tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")
    assert "vpdpwssd" in asm and "vpmulld" not in asm
