"""GGUF Q5_0/Q5_1/K-quant blocks: decoded bit-exactly and mapped onto our layouts.

The reference is the ``gguf`` package's own numpy dequantization
(``gguf.quants.dequantize``), independent of our code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent_sdk.errors import ModelFormatError
from agent_sdk.models.gguf_source import TensorSource
from agent_sdk.models.mobilellm.mobilellm_loader import build_params, load_checkpoint
from agent_sdk.quantization import formats as qf
from agent_sdk.quantization import gguf_blocks as gb
from tests.fixtures.checkpoints import write_gguf
from tests.fixtures.gguf_blocks import TYPES, random_blocks

gguf = pytest.importorskip("gguf", reason="the gguf package (the reference dequantizer) is not installed")

pytestmark = pytest.mark.unit

_T = gguf.GGMLQuantizationType
_TYPES = TYPES
_random_blocks = random_blocks


def _reference(raw: np.ndarray, name: str, rows: int, cols: int) -> np.ndarray:
    return np.asarray(gguf.quants.dequantize(raw, _T[name]), dtype=np.float32).reshape(rows, cols)


@pytest.mark.parametrize("name", sorted(_TYPES))
def test_dequantize_equals_gguf_bit_for_bit(name: str) -> None:
    per_block = gb.BLOCK_SHAPES[_TYPES[name]][0]
    rows, cols = 5, 3 * per_block
    for seed in range(3):
        raw = _random_blocks(name, rows, cols, seed)
        ref = _reference(raw, name, rows, cols)
        ours = qf.dequantize_gguf(raw, _TYPES[name], rows, cols)
        assert ours.dtype == np.float32 and ours.shape == (rows, cols)
        assert np.isfinite(ref).all()
        np.testing.assert_array_equal(ours.view(np.uint32), ref.view(np.uint32))


def test_tensor_source_reads_every_type_as_the_reference() -> None:
    for name, ggml_type in _TYPES.items():
        cols = 2 * gb.BLOCK_SHAPES[ggml_type][0]
        raw = _random_blocks(name, 4, cols, 7)
        src = TensorSource((4, cols), ggml_type=ggml_type, raw=raw)
        np.testing.assert_array_equal(src.as_float(), _reference(raw, name, 4, cols))


def test_q5_0_repacks_into_q5_and_q8_exactly() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, size=(16, 128)).astype(np.float32)
    raw = gguf.quants.quantize(w, _T.Q5_0)  # the reference quantizer: real blocks
    ref = _reference(raw, "Q5_0", 16, 128)
    fmt, arrays = qf.gguf_block_to_format(raw, gb.GGML_Q5_0, 16, 128)
    assert fmt == "q5" and list(arrays) == ["qweight", "scale", "minv", "qhigh"]
    assert arrays["qhigh"].any() and arrays["scale"].dtype == np.float16
    np.testing.assert_array_equal(qf.dequantize(arrays, "q5"), ref)
    # the 5-bit values in 8 bits: exact too (q - 16 as int8, scale d)
    src = TensorSource((16, 128), ggml_type=gb.GGML_Q5_0, raw=raw)
    q8 = src.as_format("q8")
    assert q8["qweight"].dtype == np.int8 and q8["qweight"].min() >= -16 and q8["qweight"].max() <= 15
    np.testing.assert_array_equal(qf.dequantize(q8, "q8"), ref)
    for k, v in src.as_format("q5").items():
        np.testing.assert_array_equal(v, arrays[k])


@pytest.mark.parametrize("name", ["Q5_1", "Q4_0", "Q4_1"])
def test_five_and_four_bit_types_are_exact_in_q5(name: str) -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.05, size=(8, 96)).astype(np.float32)
    raw = gguf.quants.quantize(w, getattr(_T, name))
    ggml_type = int(getattr(_T, name))
    src = TensorSource((8, 96), ggml_type=ggml_type, raw=raw)
    np.testing.assert_array_equal(qf.dequantize(src.as_format("q5"), "q5"), _reference(raw, name, 8, 96))
    assert "q5" in qf.GGUF_EXACT[ggml_type]


@pytest.mark.parametrize("name", ["Q4_K", "Q5_K"])
def test_k_quants_repack_into_their_own_layouts_exactly(name: str) -> None:
    ggml_type = _TYPES[name]
    raw = _random_blocks(name, 6, 512, 2)
    ref = _reference(raw, name, 6, 512)
    fmt, arrays = qf.gguf_block_to_format(raw, ggml_type, 6, 512)
    assert fmt == name.lower()[:2] + "k" and qf.GGUF_REPACK[ggml_type] == (fmt, "exact")
    assert arrays["sub"].max() <= 63 and arrays["submin"].max() <= 63 and arrays["scale"].shape == (6, 2)
    np.testing.assert_array_equal(qf.dequantize(arrays, fmt), ref)
    if name == "Q4_K":  # in q5k too, its fifth bits zero
        src = TensorSource((6, 512), ggml_type=ggml_type, raw=raw)
        np.testing.assert_array_equal(qf.dequantize(src.as_format("q5k"), "q5k"), ref)
    else:
        assert (gb.decode(raw, ggml_type, 6, 512).q > 15).any()  # fifth bits in use


def test_q4_k_into_q4_exactly_when_the_scales_fit_float16() -> None:
    # d and dmin powers of two: d * sc and dmin * m are exact in float16.
    raw = _random_blocks("Q4_K", 6, 512, 2)
    b = raw.reshape(-1, 144)
    for at in (0, 2):
        b[:, at : at + 2] = np.full((b.shape[0], 1), 2.0**-10, np.float16).view(np.uint8)
    arrays = qf.gguf_to_format(raw, gb.GGML_Q4_K, 6, 512, "q4")
    np.testing.assert_array_equal(qf.dequantize(arrays, "q4"), _reference(raw, "Q4_K", 6, 512))


@pytest.mark.parametrize(("name", "fmt", "top"), [("Q4_K", "q4", 15), ("Q4_K", "q5", 15), ("Q5_K", "q5", 31)])
def test_k_quants_into_q4_q5_move_weights_by_float16_rounding_of_scale_and_min_only(
    name: str, fmt: str, top: int
) -> None:
    ggml_type = _TYPES[name]
    raw = _random_blocks(name, 6, 512, 3)
    arrays = TensorSource((6, 512), ggml_type=ggml_type, raw=raw).as_format(fmt)
    dec = gb.decode(raw, ggml_type, 6, 512)
    assert dec.offset is not None
    ref = _reference(raw, name, 6, 512)
    err = np.abs(qf.dequantize(arrays, fmt) - ref).reshape(6, -1, 32)
    # float16 rounding: at most 2**-11 of the scale (times q <= top) and of the min,
    # plus float32 rounding of the sum.
    bound = 2.0**-11 * (top * np.abs(dec.scale) + np.abs(dec.offset))[..., None] + 1e-6 * np.abs(ref).max()
    assert (err <= bound).all()
    assert err.max() > 0  # random d * sc do not all fit: the rounding is real


def test_k_quantizer_is_as_close_as_a_k_quant() -> None:
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((8, 512)) * np.repeat(rng.uniform(0.2, 2, (8, 16)), 32, -1)).astype(np.float32)
    for fmt, top in (("q4k", 15), ("q5k", 31)):
        back = qf.dequantize(qf.quantize(w, fmt), fmt)
        g = w.reshape(8, -1, 32)
        step = (g.max(-1) - np.minimum(g.min(-1), 0)) / top  # (8, 16): the group's own step
        sup = np.repeat(step.reshape(8, 2, 8).max(-1), 8, -1)  # the super-block's d * 63 (before float16)
        # half of (the group's step + one d above it), plus half a dmin step of the rounded minimum
        bound = 0.5 * (step + sup / 63) * (1 + 2.0**-10) + 0.5 * np.repeat(
            (-np.minimum(g.min(-1), 0)).reshape(8, 2, 8).max(-1), 8, -1) / 63 * (1 + 2.0**-10)
        assert (np.abs(back.reshape(8, -1, 32) - g) <= bound[..., None] + 1e-6).all(), fmt


def test_q6_k_repacks_into_q8k_exactly_and_into_q8_within_half_a_step() -> None:
    raw = _random_blocks("Q6_K", 4, 512, 4)
    ref = _reference(raw, "Q6_K", 4, 512)
    fmt, arrays = qf.gguf_block_to_format(raw, gb.GGML_Q6_K, 4, 512)
    assert fmt == "q8k" and qf.GGUF_REPACK[gb.GGML_Q6_K] == ("q8k", "exact")
    assert list(arrays) == ["qweight", "scale", "sub"] and arrays["sub"].dtype == np.int8
    assert arrays["qweight"].min() >= -32 and arrays["qweight"].max() <= 31
    np.testing.assert_array_equal(qf.dequantize(arrays, "q8k"), ref)
    q8 = TensorSource((4, 512), ggml_type=gb.GGML_Q6_K, raw=raw).as_format("q8")  # requantized
    err = np.abs(qf.dequantize(q8, "q8").reshape(4, -1, 32) - ref.reshape(4, -1, 32))
    amax = np.abs(ref.reshape(4, -1, 32)).max(axis=-1, keepdims=True)
    # half a step of max|w| / 127, the step itself rounded to float16 (2**-11 relative, times 127)
    assert (err <= amax / 254 * (1 + 127 * 2.0**-10) + 1e-7).all()
    assert err.max() > 0


@pytest.mark.parametrize("name", ["Q8_0", "Q5_0", "Q4_0"])
def test_symmetric_types_are_exact_in_q8_and_q8k(name: str) -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, size=(8, 96)).astype(np.float32)
    raw = gguf.quants.quantize(w, getattr(_T, name))
    src = TensorSource((8, 96), ggml_type=int(getattr(_T, name)), raw=raw)
    ref = _reference(raw, name, 8, 96)
    for fmt in ("q8", "q8k"):
        np.testing.assert_array_equal(qf.dequantize(src.as_format(fmt), fmt), ref, err_msg=fmt)


def test_q8k_quantizer_stays_within_a_sub_blocks_q8_step() -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 64)).astype(np.float32) * np.repeat(rng.uniform(0.01, 2, (8, 4)), 16, -1)
    back = qf.dequantize(qf.quantize(w, "q8k"), "q8k").reshape(8, 4, 16)
    h = w.reshape(8, 4, 16)
    step = np.abs(h).max(-1, keepdims=True) / 127  # each 16-value sub-block's own step
    d = np.repeat(step.reshape(8, 2, 2).max(-1), 2, -1)[..., None] / 127  # the group's float16 scale, before rounding
    # the sub-block's step is its int8 sub-scale (rounded up) times d: at most d above its own; half of that, and
    # float16's rounding of d
    assert (np.abs(back - h) <= 0.5 * (step + d) * (1 + 2.0**-10) + 1e-7).all()
    assert np.abs(back - h).max() > 0


def test_k_quant_rows_must_be_whole_super_blocks() -> None:
    raw = np.zeros((4, 144 * 2), np.uint8)
    with pytest.raises(ModelFormatError, match=r"rows of 640 values are not a multiple of its 256-value blocks"):
        qf.gguf_block_to_format(raw, gb.GGML_Q4_K, 4, 640)
    assert "640 values, not a multiple of its 256-value blocks" in (qf.gguf_tensor_problem(gb.GGML_Q6_K, (4, 640)) or "")
    assert qf.gguf_tensor_problem(gb.GGML_Q5_0, (4, 640)) is None


def test_byte_count_must_match_the_shape() -> None:
    raw = np.zeros((4, 210), np.uint8)
    with pytest.raises(ModelFormatError, match=r"Q6_K tensor of shape \(4, 512\) should have 1680 bytes, found 840"):
        qf.dequantize_gguf(raw, gb.GGML_Q6_K, 4, 512)


def test_unsupported_types_are_named() -> None:
    assert "has GGML type 10 (Q2_K); supported: F32, F16, Q4_0, Q4_1, Q8_0, Q5_0" in (
        qf.gguf_tensor_problem(10, (4, 256)) or ""
    )
    assert "(unknown)" in (qf.gguf_tensor_problem(200, (4, 256)) or "")
    with pytest.raises(ModelFormatError, match=r"GGML type 10 \(Q2_K\) cannot be repacked"):
        qf.gguf_block_to_format(np.zeros(84, np.uint8), 10, 1, 256)


# ------------------------------------------------------------- through the loader

_MIXED = {  # a Q4_K_M-like mix, as llama.cpp writes for widths of 256
    "blk.0.attn_q.weight": "Q5_0",
    "blk.0.attn_k.weight": "Q5_0",
    "blk.0.attn_output.weight": "Q4_K",
    "blk.0.ffn_gate.weight": "Q5_K",
    "blk.0.ffn_up.weight": "Q5_0",
    "blk.0.ffn_down.weight": "Q6_K",
}


def _requantized_gguf(src: Path, dst: Path, types: dict[str, str]) -> Path:
    """A copy of ``src`` (an F32 GGUF) with the named tensors requantized by gguf's own quantizer."""
    reader = gguf.GGUFReader(str(src))
    writer = gguf.GGUFWriter(str(dst), "llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
    for t in reader.tensors:
        qtype = _T[types.get(t.name, t.tensor_type.name)]
        data = np.asarray(t.data)
        if qtype != t.tensor_type:
            if qtype in (_T.Q5_K, _T.Q6_K, _T.Q4_K):  # gguf quantizes no K-quant: random blocks of the right size
                data = _random_blocks(qtype.name, data.shape[0], data.shape[1], 11, scale_exp=(-12, -8))
            else:
                data = gguf.quants.quantize(data, qtype)
        writer.add_tensor(t.name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


@pytest.fixture(scope="module")
def mixed_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kquant")
    f32 = write_gguf(folder / "f32.gguf", qtype="F32", hidden_size=256, intermediate_size=512, num_layers=1)
    return _requantized_gguf(f32, folder / "mixed.gguf", _MIXED)


def test_a_q4_k_m_like_file_loads_as_the_reference_reads_it(mixed_gguf: Path) -> None:
    ckpt = load_checkpoint(mixed_gguf)
    assert ckpt.weight_types["Q4_K"] == 1 and ckpt.weight_types["Q6_K"] == 1 and ckpt.weight_types["Q5_0"] == 3
    reader = gguf.GGUFReader(str(mixed_gguf))
    canon = {
        "blk.0.attn_output.weight": "model.layers.0.self_attn.o_proj.weight",
        "blk.0.ffn_gate.weight": "model.layers.0.mlp.gate_proj.weight",
        "blk.0.ffn_up.weight": "model.layers.0.mlp.up_proj.weight",
        "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
    }
    for t in reader.tensors:
        if t.name in canon:
            ref = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32)
            np.testing.assert_array_equal(ckpt.tensors[canon[t.name]].as_float(), ref)
    # Q5_0 into q8 and q5 keeps the file's values; every projection converts.
    up = ckpt.tensors["model.layers.0.mlp.up_proj.weight"]
    np.testing.assert_array_equal(qf.dequantize(up.as_format("q8"), "q8"), up.as_float())
    np.testing.assert_array_equal(qf.dequantize(up.as_format("q5"), "q5"), up.as_float())
    # Q4_K into q4 keeps its 4-bit values (scales rounded to float16), not a new q4 fit of the floats.
    o = ckpt.tensors["model.layers.0.self_attn.o_proj.weight"]
    o_ref = o.as_float()
    repack_err = np.abs(qf.dequantize(o.as_format("q4"), "q4") - o_ref).max()
    refit_err = np.abs(qf.dequantize(qf.quantize(o_ref, "q4"), "q4") - o_ref).max()
    assert repack_err < refit_err / 20, (repack_err, refit_err)
    params = build_params(ckpt, "q8", "q8")
    assert params["layers.0.mlp.down_proj.qweight"].dtype == np.int8



@pytest.mark.parametrize(("name", "at"), [("Q4_K", 0), ("Q4_K", 2), ("Q5_K", 2), ("Q6_K", 208)])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_k_quant_scales_are_a_load_error(name: str, at: int, bad: float) -> None:
    raw = _random_blocks(name, 2, 256, 6)
    raw.reshape(-1, gb.BLOCK_SHAPES[_TYPES[name]][1])[0, at : at + 2] = np.array([bad], np.float16).view(np.uint8)
    with pytest.raises(ModelFormatError, match="scales that are not finite"):
        qf.gguf_block_to_format(raw, _TYPES[name], 2, 256)


def test_q5_0_beyond_float16_minimum_still_loads_into_q8() -> None:
    raw = _random_blocks("Q5_0", 2, 64, 7)
    raw.reshape(-1, 22)[:, 0:2] = np.full((4, 1), 6000.0, np.float16).view(np.uint8)  # -16 d overflows float16
    with pytest.raises(ModelFormatError, match="beyond float16"):
        qf.gguf_block_to_format(raw, gb.GGML_Q5_0, 2, 64)
    src = TensorSource((2, 64), ggml_type=gb.GGML_Q5_0, raw=raw)
    for fmt in ("q8", "q8k"):
        np.testing.assert_array_equal(qf.dequantize(src.as_format(fmt), fmt), _reference(raw, "Q5_0", 2, 64))
