"""The hand-written q4/q5/q8/q8k/q4k/q5k matmul kernels against a plain numpy reference.

Each kernel is compiled alone for the host and run on odd shapes: every row
interleave (16, 8, 4, 2, 1 rows per block), token counts below, at and above
the prefill register tile (so the tile loop and the one-token tail both run,
alone and together; tiles of 8 as on AVX-512 and of 4 as on NEON/AVX2), and reductions of one and several groups.

Reference: ``x @ dequantize(W).T`` in float64 on the same stored weights, so
the only difference is fp32 accumulation order. Tolerance: 2e-5 * (1 + |y|)
per element summed over sqrt(K) terms of size ~1 -> stated as an absolute
bound of 1e-4 * sqrt(K / 32) for inputs of unit scale.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.unit

tvm = pytest.importorskip("tvm")

from agent_sdk.compiler.targets import host_llvm_target
from agent_sdk.quantization import formats as qf
from agent_sdk.quantization.kernels import q_matmul_kernel, token_tile


@cache
def _compiled(fmt: str, n_out: int, n_in: int, tile: int) -> Any:
    target = tvm.target.Target(host_llvm_target())
    with target:
        func = q_matmul_kernel(fmt, n_out, n_in, qf.interleave_rows(n_out), tile).with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]


def _width(fmt: str, n_in: int) -> int:
    """The reduction width tested: q4k/q5k need whole 256-value super-blocks (one, or two for the wider shapes)."""
    return n_in if fmt not in ("q4k", "q5k") else (256 if n_in <= 64 else 512)


def _run(fmt: str, n_out: int, n_in: int, n_tok: int, tile: int, seed: int, *, x_offset: float = 0.0,
         x_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    n_in = _width(fmt, n_in)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    stored = qf.pack_rows(qf.quantize(w, fmt), fmt)
    x = (x_offset + x_scale * rng.standard_normal((n_tok, n_in))).astype(np.float32)
    y = tvm.runtime.tensor(np.full((n_tok, n_out), np.nan, dtype=np.float32))
    _compiled(fmt, n_out, n_in, tile)(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    w_ref = qf.dequantize(qf.unpack_rows(stored, fmt), fmt).astype(np.float64)
    return y.numpy(), x.astype(np.float64) @ w_ref.T


def test_host_tile_is_a_real_tile() -> None:
    with tvm.target.Target(host_llvm_target()):
        assert token_tile() >= 2


@pytest.mark.parametrize("fmt", ["q4", "q5", "q8", "q8k", "q4k", "q5k"])
@pytest.mark.parametrize(
    "n_out,n_in",
    [(48, 96), (40, 32), (36, 64), (6, 160), (7, 32)],
    ids=["rows16", "rows8", "rows4", "rows2", "rows1"],
)
@pytest.mark.parametrize("n_tok", [1, 3, 8, 11, 19])
@pytest.mark.parametrize("tile", [8, 4], ids=["tile8", "tile4"])
def test_kernel_matches_numpy(fmt: str, n_out: int, n_in: int, n_tok: int, tile: int) -> None:
    got, ref = _run(fmt, n_out, n_in, n_tok, tile, seed=n_out * 1000 + n_in + n_tok)
    assert got.shape == ref.shape
    assert np.isfinite(got).all(), "some outputs were never written"
    err = np.abs(got - ref).max()
    assert err <= 1e-4 * np.sqrt(_width(fmt, n_in) / 32), f"max |error| {err}"


@pytest.mark.parametrize("fmt", ["q4", "q5", "q8", "q8k", "q4k", "q5k"])
@pytest.mark.parametrize("x_offset,x_scale", [(10.0, 1.0), (-3.0, 0.01), (0.0, 1e-20), (0.0, 1e4)],
                         ids=["offset", "offset-small", "tiny", "large"])
@pytest.mark.parametrize("n_tok", [1, 9])
def test_kernel_keeps_its_precision_on_offset_and_extreme_activations(
    fmt: str, x_offset: float, x_scale: float, n_tok: int
) -> None:
    # The kernels sum q*x per group and add scale * that + minimum * sum(x): activations that share a sign (an
    # offset) make the two terms cancel, and the nibble scaling multiplies x by powers of two down to 2^-24. The
    # error stays at fp32 rounding of the products' magnitudes (sum |x| |w| per output), whatever the scale.
    got, ref = _run(fmt, 48, 96, n_tok, 4, seed=11, x_offset=x_offset, x_scale=x_scale)
    rng = np.random.default_rng(11)
    w = rng.standard_normal((48, _width(fmt, 96))).astype(np.float32)
    stored = qf.pack_rows(qf.quantize(w, fmt), fmt)
    w_ref = qf.dequantize(qf.unpack_rows(stored, fmt), fmt).astype(np.float64)
    x = (x_offset + x_scale * rng.standard_normal((n_tok, _width(fmt, 96)))).astype(np.float64)
    magnitude = np.abs(x) @ np.abs(w_ref).T  # (n_tok, 48)
    assert np.isfinite(got).all()
    assert (np.abs(got - ref) <= 1e-6 * magnitude + 1e-30).all(), float((np.abs(got - ref) / magnitude).max())



@pytest.mark.parametrize(
    ("name", "fmt"), [("Q4_K", "q4k"), ("Q4_K", "q5k"), ("Q5_K", "q5k"), ("Q6_K", "q8k"), ("Q5_0", "q5"), ("Q5_0", "q8k")]
)
@pytest.mark.parametrize("n_tok", [1, 11])
def test_kernels_on_file_blocks_equal_the_reference_dequantization(name: str, fmt: str, n_tok: int) -> None:
    """The kernels on GGUF blocks as files hold them (negative ``d``/``dmin``, negative Q6_K sub-scales, every 6-bit
    scale and minimum), against ``gguf.quants.dequantize`` of the same bytes: our quantizer never makes those."""
    gguf = pytest.importorskip("gguf")
    from agent_sdk.models.gguf_source import TensorSource
    from tests.fixtures.gguf_blocks import TYPES, random_blocks

    n_out, n_in = 48, 512
    raw = random_blocks(name, n_out, n_in, seed=n_tok, scale_exp=(-12, -6))
    stored = qf.pack_rows(TensorSource((n_out, n_in), ggml_type=TYPES[name], raw=raw).as_format(fmt), fmt)
    w_ref = np.asarray(gguf.quants.dequantize(raw, getattr(gguf.GGMLQuantizationType, name)), np.float64).reshape(
        n_out, n_in
    )
    x = np.random.default_rng(n_tok).standard_normal((n_tok, n_in)).astype(np.float32)
    y = tvm.runtime.tensor(np.full((n_tok, n_out), np.nan, dtype=np.float32))
    _compiled(fmt, n_out, n_in, token_tile())(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in stored.values()], y)
    ref = x.astype(np.float64) @ w_ref.T
    magnitude = np.abs(x.astype(np.float64)) @ np.abs(w_ref).T
    assert (np.abs(y.numpy() - ref) <= 1e-6 * magnitude + 1e-30).all(), float(np.abs(y.numpy() - ref).max())
