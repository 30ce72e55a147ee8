"""The q4 x int8-activation kernel (``q4a8``) against a numpy emulation.

The reference rounds the activations exactly as the kernel is specified to
(per token and group of 32: ``d = max|x| / 127``, ``q = rint(x * (127 / max|x|))``,
all in float32), then multiplies in float64 by the dequantized q4 weight.
What remains is the kernel's fp32 per-group scaling: tolerance 1e-6 relative
to the largest output. Every dot-product flavour that runs here is checked
(AVX-512 VNNI when the CPU has it, the generic integer code used on
Cortex-A72); the ARMv8.2 ``sdot`` flavour is checked to compile to ``sdot``.
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
from agent_sdk.quantization.int8_kernels import dot_kind, q4a8_matmul_kernel


def _host_kinds() -> list[str]:
    with tvm.target.Target(host_llvm_target()):
        native = dot_kind()
    return sorted({native, "generic"})


@cache
def _compiled(n_out: int, n_in: int, kind: str) -> Any:
    target = tvm.target.Target(host_llvm_target())
    with target:
        func = q4a8_matmul_kernel(n_out, n_in, qf.interleave_rows(n_out), kind).with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]


def _emulated(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, k = x.shape
    g = x.reshape(n, k // qf.GROUP, qf.GROUP)
    amax = np.abs(g).max(-1)
    safe = np.where(amax > 0, amax, np.float32(1))
    inv = np.where(amax > 0, np.float32(127) / safe, np.float32(0)).astype(np.float32)
    d = (amax / np.float32(127)).astype(np.float32)
    q = np.rint(g * inv[..., None])
    assert np.abs(q).max() <= 127
    return (q.astype(np.float64) * d[..., None]).reshape(n, k) @ w.T


@pytest.mark.parametrize("kind", _host_kinds())
@pytest.mark.parametrize("n_out,n_in", [(48, 96), (40, 32), (36, 64), (6, 160), (7, 32)], ids=["r16", "r8", "r4", "r2", "r1"])
@pytest.mark.parametrize("n_tok", [1, 5])
def test_kernel_matches_emulation(kind: str, n_out: int, n_in: int, n_tok: int) -> None:
    rng = np.random.default_rng(n_out + n_in + n_tok)
    stored = qf.pack_rows(qf.quantize(rng.standard_normal((n_out, n_in)).astype(np.float32), "q4"), "q4")
    x = (rng.standard_normal((n_tok, n_in)) * 3).astype(np.float32)
    x[0, :32] = 0  # a group of zeros (scale 0)
    y = tvm.runtime.tensor(np.full((n_tok, n_out), np.nan, np.float32))
    _compiled(n_out, n_in, kind)(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    w = qf.dequantize(qf.unpack_rows(stored, "q4"), "q4").astype(np.float64)
    ref = _emulated(x, w)
    assert np.abs(y.numpy() - ref).max() <= 1e-6 * np.abs(ref).max()
    # and the rounding itself stays small: within 1% of the float product's scale
    assert np.abs(y.numpy() - x.astype(np.float64) @ w.T).max() <= 0.01 * np.abs(ref).max() + 0.05


def test_pi5_uses_sdot_and_pi4_does_not() -> None:
    for name, want in (("pi5", True), ("pi4", False)):
        target = tvm.target.Target(TARGETS[name].target)
        with target:
            assert dot_kind() == ("sdot" if want else "generic")
            func = q4a8_matmul_kernel(32, 64, 16).with_attr("global_symbol", "kernel")
        asm = tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")
        assert ("sdot" in asm) == want, name
