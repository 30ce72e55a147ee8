"""Weight formats: quantization error bounds, exact grids, and lossless GGUF repacking.

The GGUF reference is the ``gguf`` package's own numpy implementation of the
block formats (``gguf.quants.quantize`` / ``gguf.quants.dequantize``).
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent_sdk.errors import AgentSDKError, ConfigError, ModelFormatError
from agent_sdk.quantization import formats as qf
from agent_sdk.quantization.formats import (
    GROUP,
    QuantConfig,
    dequantize,
    dequantize_gguf,
    format_param_shapes,
    gguf_block_to_format,
    quantize,
)

pytestmark = pytest.mark.unit

_FAST = settings(max_examples=40, deadline=None, database=None)
_Q = gguf.GGMLQuantizationType
_GGUF_TYPES = {"Q4_0": (_Q.Q4_0, qf.GGML_Q4_0, "q4"), "Q4_1": (_Q.Q4_1, qf.GGML_Q4_1, "q4"), "Q8_0": (_Q.Q8_0, qf.GGML_Q8_0, "q8")}

# Bounds below hold for weights in a normal range; float16 scales lose
# precision once a group's values fall below float16's normal range (~6e-5 * 127).
_shapes = st.tuples(st.integers(1, 4), st.integers(1, 4).map(lambda g: g * GROUP))
_log_std = st.floats(-2.0, 1.5)


def _weights(seed: int, shape: tuple[int, ...], log_std: float, offset: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (offset + 10.0**log_std * rng.standard_normal(shape)).astype(np.float32)


# ------------------------------------------------------------------ q8 / q4


@_FAST
@given(seed=st.integers(0, 2**32 - 1), shape=_shapes, log_std=_log_std)
def test_q8_error_is_at_most_half_a_step(seed: int, shape: tuple[int, int], log_std: float) -> None:
    w = _weights(seed, shape, log_std)
    arrays = quantize(w, "q8")
    assert arrays["qweight"].dtype == np.int8 and arrays["qweight"].shape == shape
    assert arrays["scale"].dtype == np.float16 and arrays["scale"].shape == (shape[0], shape[1] // GROUP)
    assert np.abs(arrays["qweight"].astype(np.int32)).max() <= 127
    err = np.abs(dequantize(arrays, "q8") - w).reshape(shape[0], -1, GROUP)
    s = arrays["scale"].astype(np.float32)[..., None]
    amax = np.abs(w).reshape(shape[0], -1, GROUP).max(-1, keepdims=True)
    assert np.all(err <= s / 2 + 1e-6 * amax)


def _q4_bound(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Half a step, plus what float16 rounding of the step and of the minimum can add."""
    g = w.reshape(w.shape[0], -1, GROUP).astype(np.float64)
    lo, hi = g.min(-1, keepdims=True), g.max(-1, keepdims=True)
    s = scale.astype(np.float64)[..., None]
    fp16_rel = 2.0**-11  # round-to-nearest relative error of a normal float16
    return s / 2 + fp16_rel * (np.abs(lo) + (hi - lo)) + 1e-6 * np.maximum(np.abs(lo), np.abs(hi))


@_FAST
@given(
    seed=st.integers(0, 2**32 - 1), shape=_shapes, log_std=_log_std,
    offset=st.sampled_from([0.0, 0.5, -3.0, 100.0]),
)
def test_q4_error_is_at_most_half_a_step_plus_fp16_rounding(
    seed: int, shape: tuple[int, int], log_std: float, offset: float
) -> None:
    w = _weights(seed, shape, log_std, offset)
    arrays = quantize(w, "q4")
    assert arrays["qweight"].dtype == np.uint32 and arrays["qweight"].shape == (shape[0], shape[1] // 8)
    assert arrays["minv"].dtype == arrays["scale"].dtype == np.float16
    err = np.abs(dequantize(arrays, "q4") - w).reshape(shape[0], -1, GROUP)
    assert np.all(err <= _q4_bound(w, arrays["scale"]))


def test_q4_bound_is_tight_enough_to_catch_a_wrong_step() -> None:
    w = _weights(1, (4, 64), 0.0)
    arrays = quantize(w, "q4")
    arrays["scale"] = (arrays["scale"].astype(np.float32) * 1.1).astype(np.float16)
    err = np.abs(dequantize(arrays, "q4") - w).reshape(4, -1, GROUP)
    assert not np.all(err <= _q4_bound(w, arrays["scale"]))


@_FAST
@given(
    seed=st.integers(0, 2**32 - 1), shape=_shapes,
    scale_k=st.integers(1, 2047), exponent=st.integers(-14, 0),
)
def test_q8_values_on_the_grid_round_trip_exactly(
    seed: int, shape: tuple[int, int], scale_k: int, exponent: int
) -> None:
    rng = np.random.default_rng(seed)
    s = np.float32(np.float16(scale_k * 2.0**-11 * 2.0**exponent))
    assume(s > 0)  # the smallest products round to a zero float16 scale
    q = rng.integers(-127, 128, size=shape).reshape(shape[0], -1, GROUP)
    q[..., 0] = rng.choice([-127, 127], size=q.shape[:2])  # the group's max sets the scale
    w = (q * s).astype(np.float32).reshape(shape)
    arrays = quantize(w, "q8")
    np.testing.assert_array_equal(arrays["qweight"], q.reshape(shape))
    assert np.all(arrays["scale"] == np.float16(s))
    np.testing.assert_array_equal(dequantize(arrays, "q8"), w)


@_FAST
@given(
    seed=st.integers(0, 2**32 - 1), shape=_shapes,
    scale_k=st.integers(1, 255), min_k=st.integers(-2000, 2000),
)
def test_q4_values_on_the_grid_round_trip_exactly(seed: int, shape: tuple[int, int], scale_k: int, min_k: int) -> None:
    rng = np.random.default_rng(seed)
    s, m = scale_k / 256.0, min_k / 256.0  # exact in float16; w below is exact in float32
    q = rng.integers(0, 16, size=shape).reshape(shape[0], -1, GROUP)
    q[..., 0], q[..., 1] = 0, 15  # the group's min and max set minv and scale
    w = (q * s + m).astype(np.float32).reshape(shape)
    arrays = quantize(w, "q4")
    assert np.all(arrays["scale"] == np.float16(s)) and np.all(arrays["minv"] == np.float16(m))
    np.testing.assert_array_equal(dequantize(arrays, "q4"), w)


@pytest.mark.parametrize("fmt", ["q8", "q4"])
def test_zero_groups_are_exact(fmt: str) -> None:
    w = np.zeros((2, 64), np.float32)
    w[1, 32:] = _weights(0, (32,), 0.0)
    np.testing.assert_array_equal(dequantize(quantize(w, fmt), fmt)[:, :32], 0.0)
    np.testing.assert_array_equal(dequantize(quantize(w, fmt), fmt)[0], 0.0)


def test_q4_constant_group_is_exact() -> None:
    # Zero range: scale 0, every value is minv (0.75 is exact in float16).
    w = np.full((1, 32), 0.75, np.float32)
    arrays = quantize(w, "q4")
    assert arrays["scale"][0, 0] == 0 and arrays["minv"][0, 0] == np.float16(0.75)
    np.testing.assert_array_equal(dequantize(arrays, "q4"), w)


def test_f16_and_f32() -> None:
    w = _weights(3, (3, 40), 0.0)  # no grouping: any width works
    f16 = quantize(w, "f16")
    assert f16["weight"].dtype == np.float16
    np.testing.assert_array_equal(dequantize(f16, "f16"), w.astype(np.float16).astype(np.float32))
    exact = w.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(dequantize(quantize(exact, "f16"), "f16"), exact)
    np.testing.assert_array_equal(dequantize(quantize(w, "f32"), "f32"), w)
    assert quantize(w, "f32")["weight"].dtype == np.float32


# ------------------------------------------------------------------ layout


def _pack_by_spec(q: np.ndarray) -> np.ndarray:
    """Value k of a row goes to word k // 8 at bit 4 * (k % 8) (module docstring)."""
    rows, cols = q.shape
    out = np.zeros((rows, cols // 8), np.uint32)
    for r in range(rows):
        for k in range(cols):
            out[r, k // 8] |= np.uint32(int(q[r, k]) << (4 * (k % 8)))
    return out


@_FAST
@given(seed=st.integers(0, 2**32 - 1), shape=_shapes)
def test_q4_qweight_follows_the_documented_bit_layout(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 16, size=shape)
    scale = rng.uniform(0.01, 1, size=(shape[0], shape[1] // GROUP)).astype(np.float16)
    minv = rng.uniform(-1, 1, size=scale.shape).astype(np.float16)
    arrays = {"qweight": _pack_by_spec(q), "scale": scale, "minv": minv}
    s = np.repeat(scale.astype(np.float32), GROUP, axis=1)
    m = np.repeat(minv.astype(np.float32), GROUP, axis=1)
    np.testing.assert_array_equal(dequantize(arrays, "q4"), q.astype(np.float32) * s + m)


@_FAST
@given(seed=st.integers(0, 2**32 - 1), shape=_shapes)
def test_nibble_pack_unpack_round_trip(seed: int, shape: tuple[int, int]) -> None:
    q = np.random.default_rng(seed).integers(0, 16, size=shape).astype(np.uint8)
    packed = qf._pack_nibbles(q)
    np.testing.assert_array_equal(packed, _pack_by_spec(q))
    np.testing.assert_array_equal(qf._unpack_nibbles(packed), q)


def test_format_param_shapes() -> None:
    assert format_param_shapes("q4", 96, 64) == {
        "qweight": ((96, 8), "uint32"), "scale": ((96, 2), "float16"), "minv": ((96, 2), "float16"),
    }
    assert format_param_shapes("q8", 96, 64) == {"qweight": ((96, 64), "int8"), "scale": ((96, 2), "float16")}
    assert format_param_shapes("f16", 3, 5) == {"weight": ((3, 5), "float16")}
    for fmt in ("q4", "q8", "f16", "f32"):
        arrays = quantize(_weights(0, (96, 64), 0.0), fmt)
        want = format_param_shapes(fmt, 96, 64)
        assert {k: (a.shape, str(a.dtype)) for k, a in arrays.items()} == want


@pytest.mark.parametrize("fmt", ["q4", "q8"])
@pytest.mark.parametrize("cols", [8, 48, 100])
def test_width_not_a_multiple_of_32_is_a_config_error(fmt: str, cols: int) -> None:
    with pytest.raises(ConfigError, match=f"multiple of 32, got {cols}"):
        quantize(np.zeros((2, cols), np.float32), fmt)
    with pytest.raises(ConfigError, match=f"multiple of 32, got {cols}"):
        format_param_shapes(fmt, 2, cols)


def test_unknown_formats() -> None:
    with pytest.raises(ConfigError, match="unknown weight format 'q3'"):
        quantize(np.zeros((2, 32), np.float32), "q3")
    with pytest.raises(ConfigError, match="unknown weight format 'q3'"):
        dequantize({}, "q3")
    with pytest.raises(ConfigError, match="unknown quantization 'int4'; choose one of q4, q4a8, q4a16, q5, q8, f16, f32"):
        QuantConfig.from_name("int4")
    assert QuantConfig.from_name("q4") == QuantConfig("q4", linear="q4", embed="q8")


def test_kv_dtype_option() -> None:
    """The KV cache stays float32 unless asked (float16 moves logits beyond the float modes' tolerances)."""
    for name in ("q4", "q4a8", "q4a16", "q8", "f16", "f32"):
        assert QuantConfig.from_name(name).kv_dtype == "float32"
    half = QuantConfig.from_name("q4", kv="f16")
    assert (half.kv, half.kv_dtype, half.linear) == ("f16", "float16", "q4")
    with pytest.raises(ConfigError, match="unknown KV-cache dtype 'bf16'; choose one of f32, f16"):
        QuantConfig.from_name("q4", kv="bf16")


# -------------------------------------------------------------------- GGUF


@pytest.mark.parametrize("type_name", sorted(_GGUF_TYPES))
@_FAST
@given(
    seed=st.integers(0, 2**32 - 1), shape=_shapes, log_std=_log_std,
    offset=st.sampled_from([0.0, 0.3, -2.0]), flat=st.booleans(),
)
def test_gguf_repack_is_lossless(
    type_name: str, seed: int, shape: tuple[int, int], log_std: float, offset: float, flat: bool
) -> None:
    gtype, type_id, fmt = _GGUF_TYPES[type_name]
    w = _weights(seed, shape, log_std, offset)
    raw = gguf_quantize(w, gtype)  # (rows, blocks * block_bytes) uint8, as in a file
    if flat:
        raw = raw.reshape(-1)  # as sliced from a memory map
    reference = gguf_dequantize(raw.reshape(shape[0], -1), gtype)
    got_fmt, arrays = gguf_block_to_format(raw, type_id, *shape)
    assert got_fmt == fmt
    assert {k: (a.shape, str(a.dtype)) for k, a in arrays.items()} == format_param_shapes(fmt, *shape)
    np.testing.assert_array_equal(dequantize(arrays, fmt), reference)
    np.testing.assert_array_equal(dequantize_gguf(raw, type_id, *shape), reference)


def test_gguf_q8_0_repack_keeps_the_files_integers_and_scales() -> None:
    w = _weights(5, (3, 64), 0.0)
    raw = gguf_quantize(w, _Q.Q8_0)
    _, arrays = gguf_block_to_format(raw, qf.GGML_Q8_0, 3, 64)
    blocks = raw.reshape(3, 2, 34)
    np.testing.assert_array_equal(arrays["scale"], blocks[..., :2].copy().view(np.float16).reshape(3, 2))
    np.testing.assert_array_equal(arrays["qweight"], blocks[..., 2:].copy().view(np.int8).reshape(3, 64))


@pytest.mark.parametrize(("gtype", "type_id", "dtype"), [(_Q.F32, qf.GGML_F32, np.float32), (_Q.F16, qf.GGML_F16, np.float16)])
def test_dequantize_gguf_float_types(gtype: gguf.GGMLQuantizationType, type_id: int, dtype: type) -> None:
    w: np.ndarray = _weights(7, (3, 40), 0.0).astype(dtype)
    got = dequantize_gguf(w, type_id, 3, 40)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, gguf_dequantize(w, gtype))


@pytest.mark.parametrize("type_name", sorted(_GGUF_TYPES))
@pytest.mark.parametrize("delta", [-1, 1, -20])
def test_gguf_wrong_byte_count_is_a_model_format_error(type_name: str, delta: int) -> None:
    gtype, type_id, _ = _GGUF_TYPES[type_name]
    raw = gguf_quantize(_weights(0, (2, 64), 0.0), gtype).reshape(-1)
    bad = np.zeros(raw.size + delta, np.uint8)
    with pytest.raises(ModelFormatError, match=f"{type_name} tensor of shape \\(2, 64\\) should have {raw.size} bytes, found {bad.size}"):
        gguf_block_to_format(bad, type_id, 2, 64)
    with pytest.raises(ModelFormatError, match=f"should have {raw.size} bytes"):
        dequantize_gguf(bad, type_id, 2, 64)


def test_gguf_width_not_a_multiple_of_32_is_an_sdk_error() -> None:
    raw = np.zeros(2 * 34, np.uint8)  # 2 rows x 48 // 32 = 1 block
    with pytest.raises(AgentSDKError):
        gguf_block_to_format(raw, qf.GGML_Q8_0, 2, 48)


def test_unsupported_ggml_types() -> None:
    with pytest.raises(ModelFormatError, match=r"GGML type 10 \(Q2_K\) is not supported; supported: F32, F16, Q4_0"):
        dequantize_gguf(np.zeros(84, np.uint8), 10, 1, 256)


def test_gguf_repack_of_an_unsupported_type_is_a_model_format_error() -> None:
    with pytest.raises(ModelFormatError, match="cannot be repacked"):
        gguf_block_to_format(np.zeros(84, np.uint8), 10, 1, 256)  # Q2_K
