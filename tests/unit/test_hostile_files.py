"""Hostile model files: a malformed checkpoint is a clear error naming the file (and the tensor or key), never an internal one.

Every case here once escaped as a KeyError, TypeError, IndexError,
RecursionError, ... (or was silently accepted). Each reader is probed with
hand-made inputs and, for the binary formats, with seeded random corruption:
the only acceptable outcomes are a result or an :class:`AgentSDKError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_sdk._safetensors import header_sha256, read_safetensors, read_safetensors_into, write_safetensors
from agent_sdk.errors import AgentSDKError, ConfigError, ModelFormatError
from agent_sdk.models.checkpoint_io import read_hf_weights, read_torch_bin
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.models.resolve import resolve_model
from tests.fixtures import checkpoints as fx
from tests.fixtures.checkpoints import save_torch_state_dict, write_gguf, write_llama_checkpoint

pytestmark = pytest.mark.unit


def _st_file(path: Path, header: Any = None, data: bytes = b"", *, raw: bytes | None = None) -> Path:
    head = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + data)
    return path


def _both_readers(path: Path) -> list[Callable[[], object]]:
    return [lambda: read_safetensors(path), lambda: read_safetensors_into(path, None, lambda s, d: np.zeros(s, d))]


# ------------------------------------------------------------ safetensors headers

_F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}

# name: (header, data, what the error says); every message also names the file.
_BAD_HEADERS: dict[str, tuple[Any, bytes, str]] = {
    "header a list": ([1, 2], b"", "safetensors header is a JSON list, not an object"),
    "header a string": ("w", b"", "safetensors header is a JSON str, not an object"),
    "entry a list": ({"w": [0, 8]}, bytes(8), "tensor w is described by a list, not an object"),
    "no data_offsets": ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), "tensor w lacks data_offsets"),
    "no dtype or shape": ({"w": {"data_offsets": [0, 8]}}, bytes(8), "tensor w lacks dtype, shape"),
    "string shape": ({"w": {**_F32, "shape": "2"}}, bytes(8), r"tensor w has shape '2'; expected a list of non-negative integers"),
    "string dims": ({"w": {**_F32, "shape": ["2"]}}, bytes(8), r"tensor w has shape \['2'\]"),
    "float dims": ({"w": {**_F32, "shape": [2.0]}}, bytes(8), r"tensor w has shape \[2.0\]"),
    "bool dims": ({"w": {**_F32, "shape": [True, True]}}, bytes(4), r"tensor w has shape \[True, True\]"),
    "nested shape": ({"w": {**_F32, "shape": [[2]]}}, bytes(8), r"tensor w has shape \[\[2\]\]"),
    # -1 x 4 bytes = 4 - 8: the sizes agreed, and the tensor was read as 0 elements.
    "negative shape, reversed offsets": ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [8, 4]}}, bytes(8), r"tensor w has shape \[-1\]"),
    # 2**32 x 2**32 wraps to 0 in int64: it matched empty offsets and then failed to reshape.
    "overflowing shape": ({"w": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}, b"", r"tensor w has 0 values for shape \(4294967296, 4294967296\)"),
    "huge shape": ({"w": {"dtype": "U8", "shape": [2**70], "data_offsets": [0, 1]}}, bytes(1), "tensor w has 1 values for shape"),
    "offsets a string": ({"w": {**_F32, "data_offsets": "0,8"}}, bytes(8), r"tensor w has data_offsets '0,8'; expected \[begin, end\] integers"),
    "three offsets": ({"w": {**_F32, "data_offsets": [0, 4, 8]}}, bytes(8), r"tensor w has data_offsets \[0, 4, 8\]"),
    "float offsets": ({"w": {**_F32, "data_offsets": [0, 8.0]}}, bytes(8), r"tensor w has data_offsets \[0, 8.0\]"),
    "bool offsets": ({"w": {"dtype": "U8", "shape": [1], "data_offsets": [False, True]}}, bytes(1), r"data_offsets \[False, True\]"),
    "negative begin": ({"w": {"dtype": "U8", "shape": [2], "data_offsets": [-1, 1]}}, bytes(1), r"tensor w has data_offsets \[-1, 1\]; expected 0 <= begin <= end"),
    "reversed offsets": ({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}}, bytes(4), "expected 0 <= begin <= end"),
    "offsets past the data": ({"w": _F32}, bytes(4), "tensor w ends at byte 8 but the data has 4; the file is truncated"),
    "offsets off the size": ({"w": {**_F32, "data_offsets": [0, 12]}}, bytes(12), r"tensor w has 3 values for shape \(2,\)"),
    "unknown dtype": ({"w": {**_F32, "dtype": "F8_E4M3"}}, bytes(8), "tensor w has unsupported dtype F8_E4M3"),
    "dtype a list": ({"w": {**_F32, "dtype": ["F32"]}}, bytes(8), r"tensor w has unsupported dtype \['F32'\]"),
    "overlapping tensors": (
        {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}},
        bytes(6), "tensor b overlaps tensor a",
    ),
    "metadata a list": ({"__metadata__": ["x"], "w": _F32}, bytes(8), "__metadata__ is a list, not an object"),
}


@pytest.mark.parametrize("case", sorted(_BAD_HEADERS))
def test_malformed_safetensors_headers(tmp_path: Path, case: str) -> None:
    header, data, message = _BAD_HEADERS[case]
    path = _st_file(tmp_path / "w.safetensors", header, data)
    for read in _both_readers(path):
        with pytest.raises(ModelFormatError, match=message) as info:
            read()
        assert str(path) in str(info.value)


_BAD_RAW_HEADERS: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (b'{"\xff": 1}', "unreadable safetensors header: 'utf-8' codec can't decode"),
    "UTF-16": ('{"w": {}}'.encode("utf-16"), "unreadable safetensors header: 'utf-8' codec"),  # json.loads would take it
    "not JSON": (b"{not json}", "unreadable safetensors header"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "unreadable safetensors header: maximum recursion depth"),
    "NaN in a shape": (b'{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}', r"tensor w has shape \[nan\]"),
    "a tensor twice": (
        b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
        "key 'w' appears twice",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_RAW_HEADERS))
def test_unparseable_safetensors_headers(tmp_path: Path, case: str) -> None:
    raw, message = _BAD_RAW_HEADERS[case]
    path = _st_file(tmp_path / "w.safetensors", raw=raw, data=bytes(8))
    for read in _both_readers(path):
        with pytest.raises(ModelFormatError, match=message):
            read()


def test_header_length_larger_than_the_file_or_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 2**64 - 1) + b"{}")
    for read in _both_readers(path):
        with pytest.raises(ModelFormatError, match="header length 18446744073709551615 exceeds the file size"):
            read()
    path.write_bytes(struct.pack("<Q", 100_000_001) + b" " * 100_000_001)
    with pytest.raises(ModelFormatError, match="header length 100000001 is over the 100000000-byte limit"):
        read_safetensors(path)


def test_a_folder_named_like_the_weights(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").mkdir()
    with pytest.raises(ModelFormatError, match="model.safetensors: cannot read"):
        read_hf_weights(tmp_path)


_dims = st.one_of(st.integers(-3, 5), st.just(2**64), st.text(max_size=2), st.floats(allow_nan=True), st.booleans(), st.none())
_entry = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.one_of(st.sampled_from(["F32", "F16", "U8", "I64", "BF16", "BOOL", "Q4"]), st.integers()),
        "shape": st.one_of(st.lists(_dims, max_size=3), _dims),
        "data_offsets": st.one_of(st.lists(st.one_of(st.integers(-4, 40), st.booleans(), st.floats()), max_size=3), _dims),
    },
)
_header = st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(_entry, _dims), max_size=4), st.lists(_dims), _dims)


@settings(max_examples=300, deadline=None)
@given(header=_header, data=st.binary(max_size=40))
def test_random_headers_are_read_or_refused(header: Any, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _st_file(Path(tmp) / "w.safetensors", header, data)
        for read in _both_readers(path):
            try:
                read()
            except ModelFormatError:
                pass


# -------------------------------------------- hashed reads: no header trusted first


def _weights(path: Path) -> tuple[Path, str, str]:
    write_safetensors(path, {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 3), np.int8)})
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), header_sha256(path) or ""


def _tamper_header(path: Path) -> None:
    """Turns tensor a's float32 into int32 in place: a valid header, not the one that was hashed."""
    raw = path.read_bytes()
    assert raw.count(b'"F32"') == 1
    path.write_bytes(raw.replace(b'"F32"', b'"I32"'))


@pytest.mark.parametrize("with_header_hash", [True, False])
def test_a_tampered_header_is_refused_before_any_buffer_is_made(tmp_path: Path, with_header_hash: bool) -> None:
    path, digest, head_digest = _weights(tmp_path / "p.safetensors")
    _tamper_header(path)
    made: list[tuple[int, ...]] = []

    def alloc(shape: tuple[int, ...], dtype: str) -> np.ndarray:
        made.append(shape)
        return np.zeros(shape, dtype)

    message = "its header does not match the sha256" if with_header_hash else "does not match its sha256"
    with pytest.raises(ModelFormatError, match=message):
        read_safetensors_into(path, ["a", "b"], alloc, sha256=digest, header_sha256=head_digest if with_header_hash else None)
    assert made == []


def test_tampered_data_under_a_good_header_is_caught_in_the_same_pass(tmp_path: Path) -> None:
    path, digest, head_digest = _weights(tmp_path / "p.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFormatError, match="does not match its sha256"):
        read_safetensors_into(path, ["a"], lambda s, d: np.zeros(s, d), sha256=digest, header_sha256=head_digest)


@pytest.mark.parametrize("with_header_hash", [True, False])
def test_hashed_reads_return_the_tensors(tmp_path: Path, with_header_hash: bool) -> None:
    path, digest, head_digest = _weights(tmp_path / "p.safetensors")
    a, b = read_safetensors_into(
        path, None, lambda s, d: np.zeros(s, d), sha256=digest, header_sha256=head_digest if with_header_hash else None
    )
    np.testing.assert_array_equal(a, np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(b, np.ones((2, 3), np.int8))


# ------------------------------------------------------------------ pytorch .bin


def _torch_zip(path: Path, numel: Any, blob: bytes, *, compress: int = zipfile.ZIP_STORED) -> Path:
    """A ``torch.save`` zip of one float32 tensor ``w`` of 4 elements whose storage claims ``numel``."""
    buf = io.BytesIO()
    fx._TorchPickler(buf, protocol=2).dump({"w": fx._Tensor(fx._Storage("0", "float32", numel), (4,))})
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", blob)
    return path


@pytest.mark.parametrize("numel", [-1, "4"])
def test_torch_storage_with_a_bad_element_count(tmp_path: Path, numel: Any) -> None:
    # count=-1 made numpy read the whole member whatever its size.
    path = _torch_zip(tmp_path / "m.bin", numel, np.zeros(4, np.float32).tobytes())
    with pytest.raises(ModelFormatError, match=f"storage 0 has {numel!r} elements"):
        read_torch_bin(path)


def test_torch_storage_member_is_read_only_as_far_as_needed(tmp_path: Path) -> None:
    # 64 MiB of zeros deflates to ~64 kB; only the 16 bytes the tensor needs are inflated.
    path = _torch_zip(tmp_path / "m.bin", 4, bytes(64 << 20), compress=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    np.testing.assert_array_equal(read_torch_bin(path)["w"], np.zeros(4, np.float32))


def test_random_corruption_of_a_torch_checkpoint(tmp_path: Path) -> None:
    state = {"w": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.ones(8, np.float16)}
    good = save_torch_state_dict(tmp_path / "good.bin", state).read_bytes()
    rng = random.Random(7)
    bad = tmp_path / "bad.bin"
    for _ in range(150):
        data = bytearray(good)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        bad.write_bytes(bytes(data))
        try:
            read_torch_bin(bad)
        except ModelFormatError:
            pass


# ---------------------------------------------------------- Hugging Face folders


@pytest.fixture(scope="module")
def llama_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_llama_checkpoint(tmp_path_factory.mktemp("llama") / "m", seed=3)


@pytest.fixture
def llama(llama_src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(llama_src, tmp_path / "m"))


def _write_index(folder: Path, index: Any) -> None:
    (folder / "model.safetensors.index.json").write_text(index if isinstance(index, str) else json.dumps(index))


@pytest.mark.parametrize(
    "index,message",
    [
        ("{oops", "unreadable index"),
        ([1, 2], "expected an object with a weight_map"),
        ({"metadata": {}}, "expected an object with a weight_map"),
        ({"weight_map": {"w": 3}}, "expected an object with a weight_map"),
        ({"weight_map": {"w": "../model.safetensors"}}, r"shard '../model.safetensors' is not a file name in this folder"),
        ({"weight_map": {"w": "/etc/passwd"}}, r"shard '/etc/passwd' is not a file name in this folder"),
        ({"weight_map": {"w": ".."}}, r"shard '..' is not a file name in this folder"),
    ],
)
def test_malformed_shard_index(llama: Path, index: Any, message: str) -> None:
    _write_index(llama, index)
    with pytest.raises(ModelFormatError, match=message) as info:
        read_hf_weights(llama)
    assert "model.safetensors.index.json" in str(info.value)


def test_a_tensor_in_two_shards(llama: Path) -> None:
    shutil.copy(llama / "model.safetensors", llama / "copy.safetensors")
    _write_index(llama, {"weight_map": {"a": "model.safetensors", "b": "copy.safetensors"}})
    with pytest.raises(ModelFormatError, match=r"tensor model\.\S+ is in both copy.safetensors and model.safetensors"):
        read_hf_weights(llama)


@pytest.mark.parametrize("config", ["[1, 2]", '"llama"', "3", "null"])
def test_config_json_that_is_json_but_not_an_object(llama: Path, config: str) -> None:
    (llama / "config.json").write_text(config)
    kind = type(json.loads(config)).__name__
    for load in (load_checkpoint, resolve_model):
        with pytest.raises(ModelFormatError, match=f"config.json: expected a JSON object, found a JSON {kind}") as info:
            load(llama)
        assert str(llama) in str(info.value)


def test_config_json_that_is_a_folder(llama: Path) -> None:
    (llama / "config.json").unlink()
    (llama / "config.json").mkdir()
    for load in (load_checkpoint, resolve_model):
        with pytest.raises(ModelFormatError, match="config.json: cannot read"):
            load(llama)


def test_config_json_not_json_is_named_by_resolve_too(llama: Path) -> None:
    (llama / "config.json").write_bytes(b"\xff\xfe{")
    for load in (load_checkpoint, resolve_model):
        with pytest.raises(ConfigError, match="config.json: invalid JSON"):
            load(llama)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"hidden_size": "64"}, "hidden_size is '64'; expected a positive integer"),
        ({"num_attention_heads": 0}, "num_attention_heads is 0; expected a positive integer"),  # was ZeroDivisionError
        ({"num_hidden_layers": 2.5}, "num_hidden_layers is 2.5; expected a positive integer"),
        ({"vocab_size": None, "intermediate_size": True}, "intermediate_size is True"),
        ({"rms_norm_eps": "small"}, "rms_norm_eps is 'small'; expected a number"),
        ({"rope_scaling": "linear"}, "rope_scaling is 'linear'; expected an object"),
        ({"rope_parameters": {"rope_theta": "big"}}, "rope_parameters.rope_theta is 'big'; expected a number"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings is 'yes'; expected true or false"),
        ({"eos_token_id": "2"}, "eos_token_id is '2'; expected an integer or a list of integers"),
        ({"eos_token_id": [2, "3"]}, "eos_token_id is"),
        ({"bos_token_id": [1]}, r"bos_token_id is \[1\]; expected an integer"),
    ],
)
def test_config_values_of_the_wrong_type(llama: Path, changes: dict[str, Any], message: str) -> None:
    cfg = json.loads((llama / "config.json").read_text())
    cfg.update(changes)
    (llama / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=message) as info:
        load_checkpoint(llama)
    assert str(llama / "config.json") in str(info.value)


def test_every_config_problem_is_listed_at_once(llama: Path) -> None:
    cfg = json.loads((llama / "config.json").read_text())
    cfg.update(hidden_size="64", rms_norm_eps="x", layer_sharing=1)
    (llama / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError) as info:
        load_checkpoint(llama)
    assert all(k in str(info.value) for k in ("hidden_size", "rms_norm_eps", "layer_sharing"))


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("tokenizer_config.json", "{oops", "tokenizer_config.json: invalid JSON"),
        ("tokenizer_config.json", "[]", "tokenizer_config.json: expected a JSON object, found a JSON list"),
        ("tokenizer_config.json", '{"chat_template": 3}', "tokenizer_config.json: chat_template is a int, not a string"),
        ("tokenizer_config.json", '{"chat_template": ["x"]}', "chat_template is a list whose items are not"),
        ("tokenizer_config.json", '{"add_bos_token": "yes"}', "add_bos_token is 'yes'; expected true or false"),
        ("generation_config.json", '"x"', "generation_config.json: expected a JSON object, found a JSON str"),
        ("generation_config.json", '{"eos_token_id": "2"}', "generation_config.json: eos_token_id '2' / bos_token_id"),
        ("generation_config.json", '{"eos_token_id": [{"id": 2}]}', "eos_token_id"),
        ("tokenizer.json", '{"model": 3}', "tokenizer.json: not a loadable tokenizer"),
        ("tokenizer.json", "\x00garbage", "tokenizer.json: not a loadable tokenizer"),
    ],
)
def test_malformed_tokenizer_files(llama: Path, name: str, content: str, message: str) -> None:
    (llama / name).write_text(content)
    with pytest.raises(ModelFormatError, match=message):
        load_checkpoint(llama)


def test_a_garbage_sentencepiece_model(llama: Path) -> None:
    (llama / "tokenizer.json").unlink()
    (llama / "tokenizer.model").write_bytes(b"\x0a\xff\xff\xff\xffgarbage")
    with pytest.raises(ModelFormatError, match="tokenizer.model: not a loadable tokenizer"):
        load_checkpoint(llama)


# ------------------------------------------------------------------------- GGUF


@pytest.fixture(scope="module")
def gguf_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "t.gguf", qtype="Q4_1")


_V = gguf.GGUFValueType
_Q = gguf.GGMLQuantizationType


def _rewrite_gguf(
    src: Path, dst: Path, meta: dict[str, tuple[Any, ...]] | None = None, drop: tuple[str, ...] = (),
    tensors: dict[str, tuple[np.ndarray, Any] | None] | None = None,
) -> Path:
    """A copy of ``src`` with metadata values replaced/dropped and tensors replaced/dropped."""
    meta, tensors = meta or {}, tensors or {}
    reader = gguf.GGUFReader(str(src))
    writer = gguf.GGUFWriter(str(dst), "llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in drop or key in meta:
            continue
        vtype = field.types[0]
        writer.add_key_value(key, field.contents(), vtype, sub_type=field.types[1] if vtype == _V.ARRAY else None)
    for key, (value, vtype, *sub) in meta.items():
        writer.add_key_value(key, value, vtype, sub_type=sub[0] if sub else None)
    for t in reader.tensors:
        if t.name in tensors:
            if tensors[t.name] is not None:
                arr, qtype = tensors[t.name]  # type: ignore[misc]
                writer.add_tensor(t.name, arr, raw_dtype=qtype)
            continue
        writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=_Q(int(t.tensor_type)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


_BAD_GGUF: dict[str, tuple[dict[str, Any], type[AgentSDKError], str]] = {
    "head count a string": (
        {"meta": {"llama.attention.head_count": ("four", _V.STRING)}}, ModelFormatError,
        "GGUF metadata llama.attention.head_count is 'four'; expected int",
    ),
    "head count zero": ({"meta": {"llama.attention.head_count": (0, _V.UINT32)}}, ConfigError, "num_attention_heads must be positive"),
    "context a string": ({"meta": {"llama.context_length": ("long", _V.STRING)}}, ModelFormatError, "llama.context_length is 'long'"),
    "epsilon a string": (
        {"meta": {"llama.attention.layer_norm_rms_epsilon": ("x", _V.STRING)}}, ModelFormatError, "expected float",
    ),
    "layer sharing a string": ({"meta": {"llama.layer_sharing": ("no", _V.STRING)}}, ModelFormatError, "llama.layer_sharing is 'no'; expected bool"),
    "no tokens": ({"drop": ("tokenizer.ggml.tokens",)}, ModelFormatError, "GGUF metadata tokenizer.ggml.tokens is missing"),
    "tokens are numbers": (
        {"meta": {"tokenizer.ggml.tokens": ([1, 2], _V.ARRAY, _V.INT32)}}, ModelFormatError, "tokenizer.ggml.tokens is not a list of str",
    ),
    "eos out of range": (
        {"meta": {"tokenizer.ggml.eos_token_id": (99999, _V.UINT32)}}, ModelFormatError,
        "tokenizer.ggml.eos_token_id is 99999, outside the 384 tokens",
    ),
    "bos out of range": ({"meta": {"tokenizer.ggml.bos_token_id": (99999, _V.UINT32)}}, ModelFormatError, "bos_token_id is 99999"),
    "eos a string": ({"meta": {"tokenizer.ggml.eos_token_id": ("2", _V.STRING)}}, ModelFormatError, "eos_token_id is '2'; expected int"),
    "too few token types": (
        {"meta": {"tokenizer.ggml.token_type": ([1, 1], _V.ARRAY, _V.INT32)}}, ModelFormatError, "2 token types for 384 tokens",
    ),
    "merges are numbers": ({"meta": {"tokenizer.ggml.merges": ([1, 2], _V.ARRAY, _V.INT32)}}, ModelFormatError, "merges is not a list of str"),
    "a merge without a space": ({"meta": {"tokenizer.ggml.merges": (["ab"], _V.ARRAY, _V.STRING)}}, ModelFormatError, "merge 'ab' is not two tokens"),
    "a merge of unknown tokens": (
        {"meta": {"tokenizer.ggml.merges": (["zz qq"], _V.ARRAY, _V.STRING)}}, ModelFormatError,
        "the GGUF vocabulary does not make a BPE tokenizer",
    ),
    "chat template a number": ({"meta": {"tokenizer.chat_template": (3, _V.UINT32)}}, ModelFormatError, "chat_template is 3; expected str"),
    # Mis-shaped tensors failed in a reshape before the shape check ran.
    "q rows wrong": (
        {"tensors": {"blk.0.attn_q.weight": (np.zeros((60, 64), np.float32), _Q.F32)}}, ModelFormatError,
        r"tensor model\.layers\.0\.self_attn\.q_proj\.weight has shape \(60, 64\), expected \(64, 64\)",
    ),
    "q three-dimensional": (
        {"tensors": {"blk.0.attn_q.weight": (np.zeros((2, 32, 64), np.float32), _Q.F32)}}, ModelFormatError,
        r"q_proj\.weight has shape \(2, 32, 64\)",
    ),
    "unsupported type": (
        {"tensors": {"blk.0.ffn_down.weight": (np.zeros((64, 84), np.uint8), _Q.Q2_K)}}, ModelFormatError,
        "tensor blk.0.ffn_down.weight has GGML type 10",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_GGUF))
def test_malformed_gguf(gguf_src: Path, tmp_path: Path, case: str) -> None:
    changes, error, message = _BAD_GGUF[case]
    path = _rewrite_gguf(gguf_src, tmp_path / "bad.gguf", **changes)
    with pytest.raises(error, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_the_gguf_rewriter_keeps_a_good_file_good(gguf_src: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(_rewrite_gguf(gguf_src, tmp_path / "same.gguf"))
    assert ckpt.config.num_attention_heads == 4 and ckpt.tokenizer_meta["eos_token_ids"] == [2]


def test_random_corruption_of_a_gguf(gguf_src: Path, tmp_path: Path) -> None:
    good = gguf_src.read_bytes()
    rng = random.Random(3)
    bad = tmp_path / "bad.gguf"
    for _ in range(120):
        data = bytearray(good)
        if rng.random() < 0.3:
            data = data[: rng.randrange(4, len(data))]
        else:  # the header, metadata and tensor infos: the first 12 kB
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(4, 12_000)] = rng.randrange(256)
        bad.write_bytes(bytes(data))
        try:
            load_checkpoint(bad)
        except AgentSDKError:
            pass
