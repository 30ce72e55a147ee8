"""Checkpoint readers: the safe PyTorch ``.bin`` unpickler, safetensors, sharded folders.

References: the arrays the fixtures wrote (bfloat16 rounding by ``ml_dtypes``),
the restricted reader of ``tests/reference/numpy_llama.py`` and the
``safetensors`` package's own numpy loader and writer.
"""

from __future__ import annotations

import builtins
import collections
import io
import itertools
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from agent_sdk._safetensors import read_safetensors, read_safetensors_into, write_safetensors
from agent_sdk.errors import ModelFormatError
from agent_sdk.models.checkpoint_io import read_gguf, read_hf_weights, read_torch_bin
from tests.fixtures import checkpoints as fx
from tests.fixtures.checkpoints import make_llama_state, save_torch_state_dict
from tests.reference.numpy_llama import load_torch_zip

pytestmark = pytest.mark.unit

_DIMS: dict[str, Any] = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2}


def _expected_on_disk(arr: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "float32":
        return arr.astype(np.float32)
    if dtype == "float16":
        return arr.astype(np.float16)
    return arr.astype(ml_dtypes.bfloat16).astype(np.float32)  # bf16 storages widen to float32


# ------------------------------------------------------------ pytorch_model.bin


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_read_torch_bin_equals_the_written_arrays(tmp_path: Path, dtype: str) -> None:
    state = make_llama_state(seed=4, include_lm_head=True, **_DIMS)
    path = save_torch_state_dict(tmp_path / "pytorch_model.bin", state, dtype=dtype)
    got = read_torch_bin(path)
    assert list(got) == list(state)
    reference = load_torch_zip(path)
    for name, arr in state.items():
        want = _expected_on_disk(arr, dtype)
        assert got[name].dtype == want.dtype and got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
        np.testing.assert_array_equal(got[name], reference[name], err_msg=name)


def test_read_torch_bin_of_a_mobilellm_fixture(tmp_path: Path) -> None:
    dims = {k: v for k, v in _DIMS.items() if k != "vocab_size"}
    folder = fx.write_mobilellm_checkpoint(tmp_path / "m", seed=9, **dims)
    got = read_torch_bin(folder / "pytorch_model.bin")
    want = make_llama_state(seed=9, vocab_size=384, **dims)  # the fixture's tokenizer size
    assert list(got) == list(want)
    for name, arr in want.items():
        np.testing.assert_array_equal(got[name], arr)


def test_read_torch_bin_with_a_buffer_archive_name(tmp_path: Path) -> None:
    # torch.save to a buffer names the top folder "archive".
    state = {"w": np.arange(12, dtype=np.float32).reshape(3, 4)}
    path = save_torch_state_dict(tmp_path / "x.bin", state, archive_name="archive")
    np.testing.assert_array_equal(read_torch_bin(path)["w"], state["w"])


class _View:
    """A tensor over part of a storage, pickled like torch does (offset, size, stride)."""

    def __init__(self, storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (fx._REBUILD_TENSOR_V2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


def _write_views(path: Path, views: dict[str, _View], blobs: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    fx._TorchPickler(buf, protocol=2).dump(collections.OrderedDict(views))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        for key, blob in blobs.items():
            zf.writestr(f"archive/data/{key}", blob)
        zf.writestr("archive/version", b"3\n")
    return path


def test_read_torch_bin_honours_offsets_strides_and_shared_storages(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float32)
    storage = fx._Storage("0", "float32", 24)
    path = _write_views(
        tmp_path / "v.bin",
        {
            "full": _View(storage, 0, (4, 6), (6, 1)),
            "transposed": _View(storage, 0, (6, 4), (1, 6)),  # w.T as torch.save stores it
            "tail": _View(storage, 10, (2, 3), (3, 1)),
            "every_other": _View(storage, 1, (12,), (2,)),
            "scalar": _View(storage, 5, (), ()),
        },
        {"0": base.tobytes()},
    )
    got = read_torch_bin(path)
    np.testing.assert_array_equal(got["full"], base.reshape(4, 6))
    np.testing.assert_array_equal(got["transposed"], base.reshape(4, 6).T)
    np.testing.assert_array_equal(got["tail"], base[10:16].reshape(2, 3))
    np.testing.assert_array_equal(got["every_other"], base[1::2])
    assert got["scalar"].shape == () and got["scalar"] == 5.0


def test_read_torch_bin_refuses_a_view_past_its_storage(tmp_path: Path) -> None:
    storage = fx._Storage("0", "float32", 4)
    path = _write_views(tmp_path / "v.bin", {"w": _View(storage, 2, (4,), (1,))}, {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(ModelFormatError, match="reads past the end of its storage"):
        read_torch_bin(path)


def test_read_torch_bin_refuses_a_negative_stride(tmp_path: Path) -> None:
    storage = fx._Storage("0", "float32", 4)
    # Elements 3, 2, 1, 0 are in the storage; the next four would be before it.
    path = _write_views(tmp_path / "v.bin", {"w": _View(storage, 3, (8,), (-1,))}, {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(ModelFormatError):
        read_torch_bin(path)


def test_truncated_storage_and_missing_storage(tmp_path: Path) -> None:
    storage = fx._Storage("0", "float32", 8)
    view = {"w": _View(storage, 0, (8,), (1,))}
    short = _write_views(tmp_path / "short.bin", view, {"0": np.zeros(5, np.float32).tobytes()})
    with pytest.raises(ModelFormatError, match="storage 0 is truncated"):
        read_torch_bin(short)
    missing = _write_views(tmp_path / "missing.bin", view, {})
    with pytest.raises(ModelFormatError, match="storage 0 is missing from the archive"):
        read_torch_bin(missing)


# -------------------------------------------------------------- malicious pickles


class _Payload:
    """Unpickling this calls ``func(*args)``: what an attacker puts in data.pkl."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def _malicious_payloads(sentinel: Path) -> dict[str, _Payload]:
    return {
        "os.system": _Payload(os.system, f"touch {sentinel}"),
        "builtins.eval": _Payload(builtins.eval, f"__import__('pathlib').Path({str(sentinel)!r}).touch()"),
        "builtins.exec": _Payload(builtins.exec, f"__import__('pathlib').Path({str(sentinel)!r}).touch()"),
    }


@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "builtins.exec"])
@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL and STACK_GLOBAL opcodes
def test_malicious_pickle_is_refused_and_not_executed(tmp_path: Path, attack: str, protocol: int) -> None:
    sentinel = tmp_path / "pwned"
    payload = _malicious_payloads(sentinel)[attack]
    state = collections.OrderedDict([("model.embed_tokens.weight", payload)])
    pkl = pickle.dumps(state, protocol=protocol)

    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pytorch_model/data.pkl", pkl)
        zf.writestr("pytorch_model/version", b"3\n")
    with pytest.raises(ModelFormatError, match="refusing to unpickle") as info:
        read_torch_bin(path)
    assert "only plain tensors are loaded" in str(info.value)
    assert not sentinel.exists()

    # Control: the same bytes do run code under an ordinary unpickler.
    pickle.loads(pkl)
    assert sentinel.exists()


def test_a_pickle_that_is_not_a_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ModelFormatError, match="expected a dict of tensors, found list"):
        read_torch_bin(path)


def test_legacy_and_non_zip_files_are_refused(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.bin"
    # The pre-1.6 torch format: consecutive pickles, starting with a magic number.
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2))
    with pytest.raises(ModelFormatError, match="legacy pre-1.6 format is not supported"):
        read_torch_bin(legacy)
    text = tmp_path / "notes.bin"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelFormatError, match="not a PyTorch zip checkpoint"):
        read_torch_bin(text)
    with pytest.raises(ModelFormatError, match="not a PyTorch zip checkpoint"):
        read_torch_bin(tmp_path / "does-not-exist.bin")


def test_zip_without_data_pkl(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/version", b"3\n")
    with pytest.raises(ModelFormatError, match="no data.pkl inside"):
        read_torch_bin(path)


# -------------------------------------------------------------------- safetensors


def _mixed_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "a_int8_odd": rng.integers(-128, 128, size=(3,), dtype=np.int8),  # leaves the next tensor unaligned
        "b_f32": rng.standard_normal((4, 5)).astype(np.float32),
        "c_f16": rng.standard_normal((2, 3, 4)).astype(np.float16),
        "d_u32": rng.integers(0, 2**32, size=(7, 2), dtype=np.uint32),
        "e_i64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
        "f_f64": np.array([np.pi, -np.e]),
        "g_bool": np.array([True, False, True]),
        "h_scalar": np.array(1.5, np.float32),
        "i_empty": np.zeros((0, 4), np.float32),
        "j_u8": np.arange(5, dtype=np.uint8),
    }


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name], arr, err_msg=name)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    tensors = _mixed_tensors()
    write_safetensors(tmp_path / "x.safetensors", tensors)
    _assert_same(read_safetensors(tmp_path / "x.safetensors"), tensors)
    assert not (tmp_path / "x.safetensors.tmp").exists()


def test_safetensors_read_into_buffers(tmp_path: Path) -> None:
    tensors = {k: v for k, v in _mixed_tensors().items() if v.dtype != np.bool_}
    write_safetensors(tmp_path / "x.safetensors", tensors)
    names = sorted(tensors, reverse=True)
    made: list[tuple[tuple[int, ...], str]] = []

    def alloc(shape: tuple[int, ...], dtype: str) -> np.ndarray:
        made.append((shape, dtype))
        return np.full(shape, 7, dtype=dtype)

    got = read_safetensors_into(tmp_path / "x.safetensors", names, alloc)
    assert made == [(tensors[n].shape, tensors[n].dtype.name) for n in names]
    _assert_same(dict(zip(names, got)), tensors)
    with pytest.raises(ModelFormatError, match="no tensor nope"):
        read_safetensors_into(tmp_path / "x.safetensors", ["nope"], alloc)


def test_safetensors_writer_layout(tmp_path: Path) -> None:
    tensors = _mixed_tensors()
    order = sorted(tensors, reverse=True)
    path = tmp_path / "x.safetensors"
    write_safetensors(path, tensors, order)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0  # data starts 8-byte aligned
    header = json.loads(raw[8 : 8 + n])
    assert list(header) == order
    offsets = [header[k]["data_offsets"] for k in order]
    assert offsets[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(offsets))
    assert offsets[-1][1] == len(raw) - 8 - n
    assert header["d_u32"]["dtype"] == "U32" and header["a_int8_odd"]["dtype"] == "I8"


def test_our_writer_agrees_with_the_safetensors_package(tmp_path: Path) -> None:
    tensors = _mixed_tensors()
    write_safetensors(tmp_path / "ours.safetensors", tensors)
    _assert_same(load_file(str(tmp_path / "ours.safetensors")), tensors)


def test_our_reader_agrees_with_the_safetensors_package(tmp_path: Path) -> None:
    tensors = _mixed_tensors()
    save_file(tensors, str(tmp_path / "theirs.safetensors"), metadata={"format": "pt"})
    _assert_same(read_safetensors(tmp_path / "theirs.safetensors"), tensors)


def test_bf16_safetensors_widen_to_float32(tmp_path: Path) -> None:
    w = np.random.default_rng(1).standard_normal((3, 8)).astype(ml_dtypes.bfloat16)
    save_file({"w": w}, str(tmp_path / "bf16.safetensors"))
    got = read_safetensors(tmp_path / "bf16.safetensors")["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, w.astype(np.float32))


def test_truncated_safetensors_data(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    write_safetensors(path, {"a": np.ones((4, 4), np.float32), "b": np.ones(16, np.float32)})
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelFormatError, match=r"tensor b ends at byte 128 but the data has 118; the file is truncated"):
        read_safetensors(path)


def test_truncated_safetensors_header(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    write_safetensors(path, {"a": np.ones((4, 4), np.float32)})
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ModelFormatError, match="exceeds the file size; the file is truncated"):
        read_safetensors(path)
    path.write_bytes(b"\x10\x00")
    with pytest.raises(ModelFormatError, match="too short"):
        read_safetensors(path)


def test_safetensors_bad_header_and_dtype(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    head = b"{not json}"
    path.write_bytes(struct.pack("<Q", len(head)) + head)
    with pytest.raises(ModelFormatError, match="unreadable safetensors header"):
        read_safetensors(path)
    head = json.dumps({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"\x00\x00")
    with pytest.raises(ModelFormatError, match="unsupported dtype F8_E4M3"):
        read_safetensors(path)
    head = json.dumps({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + bytes(8))
    with pytest.raises(ModelFormatError, match=r"tensor w has 2 values for shape \(3,\)"):
        read_safetensors(path)


# ------------------------------------------------------------ Hugging Face folders


def test_read_hf_weights_sharded_safetensors(tmp_path: Path) -> None:
    state = make_llama_state(seed=2, **_DIMS)
    names = list(state)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, keys in shards.items():
        save_file({k: state[k] for k in keys}, str(tmp_path / fname))
    index = {"metadata": {}, "weight_map": {k: f for f, keys in shards.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    _assert_same(read_hf_weights(tmp_path), state)

    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="shard model-00002-of-00002.safetensors named in model.safetensors.index.json is missing"):
        read_hf_weights(tmp_path)


def test_read_hf_weights_sharded_bin(tmp_path: Path) -> None:
    state = make_llama_state(seed=3, **_DIMS)
    names = list(state)
    shards = {"pytorch_model-00001-of-00002.bin": names[:5], "pytorch_model-00002-of-00002.bin": names[5:]}
    for fname, keys in shards.items():
        save_torch_state_dict(tmp_path / fname, {k: state[k] for k in keys})
    index = {"weight_map": {k: f for f, keys in shards.items() for k in keys}}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    _assert_same(read_hf_weights(tmp_path), state)


def test_read_hf_weights_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelFormatError, match="no weights found"):
        read_hf_weights(tmp_path)


def test_read_gguf_of_a_non_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGML" + bytes(60))
    with pytest.raises(ModelFormatError, match="not a readable GGUF file"):
        read_gguf(path)


def test_safetensors_read_into_checks_the_whole_file_hash(tmp_path: Path) -> None:
    import hashlib

    tensors = {k: v for k, v in _mixed_tensors().items() if v.dtype != np.bool_}
    path = tmp_path / "x.safetensors"
    write_safetensors(path, tensors)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    names = sorted(tensors)[:2]  # a subset: the other tensors' bytes are hashed too
    got = read_safetensors_into(path, names, lambda shape, dtype: np.zeros(shape, dtype), sha256=digest)
    _assert_same(dict(zip(names, got)), {n: tensors[n] for n in names})
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01  # a byte of a tensor that was not asked for
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFormatError, match="does not match its sha256"):
        read_safetensors_into(path, names, lambda shape, dtype: np.zeros(shape, dtype), sha256=digest)
