"""The checkpoint fixtures are in the real published formats, and the reference agrees with itself."""

from __future__ import annotations

import json
import pickletools
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # allow plain `pytest` without a rootdir conftest
    sys.path.insert(0, str(_ROOT))

from tests.fixtures import checkpoints  # noqa: E402
from tests.fixtures.checkpoints import (  # noqa: E402
    make_llama_state,
    write_gguf,
    write_llama_checkpoint,
    write_mobilellm_checkpoint,
)
from tests.reference.numpy_llama import gguf_forward, hf_forward, load_hf_state, load_torch_zip  # noqa: E402

IDS = [1, 5, 77, 200, 13, 300, 42, 9, 150, 2]


def _zip_payload_offset(path: Path, info: zipfile.ZipInfo) -> int:
    with path.open("rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    assert header[:4] == b"PK\x03\x04"
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


# --------------------------------------------------------------------------- #
# pytorch_model.bin
# --------------------------------------------------------------------------- #


def test_bin_zip_layout(tmp_path: Path) -> None:
    folder = write_mobilellm_checkpoint(tmp_path / "m")
    bin_path = folder / "pytorch_model.bin"
    assert bin_path.read_bytes()[:4] == b"PK\x03\x04"
    with zipfile.ZipFile(bin_path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        n = len(load_torch_zip(bin_path))
        expected = (
            ["data.pkl", ".format_version", ".storage_alignment", "byteorder"]
            + [f"data/{i}" for i in range(n)]
            + ["version", ".data/serialization_id"]
        )
        assert names == ["pytorch_model/" + e for e in expected]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert zf.read("pytorch_model/version") == b"3\n"
        assert zf.read("pytorch_model/byteorder") == b"little"
        assert zf.read("pytorch_model/.format_version") == b"1"
        assert zf.testzip() is None
    for info in infos:
        assert _zip_payload_offset(bin_path, info) % 64 == 0, info.filename


@pytest.mark.parametrize(
    ("dtype", "storage", "itemsize"),
    [("float32", "FloatStorage", 4), ("float16", "HalfStorage", 2), ("bfloat16", "BFloat16Storage", 2)],
)
def test_bin_pickle_references_only_torch_rebuild_names(
    tmp_path: Path, dtype: str, storage: str, itemsize: int
) -> None:
    folder = write_mobilellm_checkpoint(tmp_path / "m", dtype=dtype, share_embedding=False)
    bin_path = folder / "pytorch_model.bin"
    with zipfile.ZipFile(bin_path) as zf:
        pkl = zf.read("pytorch_model/data.pkl")
        sizes = {i.filename: i.file_size for i in zf.infolist()}
    ops = list(pickletools.genops(pkl))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    globals_ = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
    assert globals_ == {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", f"torch {storage}"}
    assert not any(op.name in ("INST", "OBJ", "STACK_GLOBAL", "PERSID") for op, _, _ in ops)
    n_pids = sum(op.name == "BINPERSID" for op, _, _ in ops)

    state = load_torch_zip(bin_path)
    assert n_pids == len(state)
    assert "lm_head.weight" in state
    for key, arr in enumerate(state.values()):
        assert sizes[f"pytorch_model/data/{key}"] == arr.size * itemsize

    config = json.loads((folder / "config.json").read_text())
    assert config["torch_dtype"] == dtype


def test_bin_roundtrip_matches_generated_weights(tmp_path: Path) -> None:
    folder = write_mobilellm_checkpoint(tmp_path / "m", seed=7)
    config, weights = load_hf_state(folder)
    expected = make_llama_state(
        seed=7,
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        num_kv_heads=config["num_key_value_heads"],
    )
    assert list(weights) == list(expected)
    for name, arr in expected.items():
        np.testing.assert_array_equal(weights[name], arr.astype(np.float64))


def test_fixtures_are_deterministic(tmp_path: Path) -> None:
    a = write_mobilellm_checkpoint(tmp_path / "a", seed=3)
    b = write_mobilellm_checkpoint(tmp_path / "b", seed=3)
    for name in ("pytorch_model.bin", "tokenizer.model", "config.json", "tokenizer_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = write_llama_checkpoint(tmp_path / "c", seed=3)
    d = write_llama_checkpoint(tmp_path / "d", seed=3)
    for name in ("model.safetensors", "tokenizer.json"):
        assert (c / name).read_bytes() == (d / name).read_bytes(), name


# --------------------------------------------------------------------------- #
# MobileLLM folder
# --------------------------------------------------------------------------- #


def test_mobilellm_config_and_weight_names(tmp_path: Path) -> None:
    folder = write_mobilellm_checkpoint(tmp_path / "m", weights="safetensors")
    assert not (folder / "pytorch_model.bin").exists()
    config, weights = load_hf_state(folder)
    assert config["model_type"] == "mobilellm"
    assert config["architectures"] == ["MobileLLMForCausalLM"]
    assert config["share_embedding"] is True and config["layer_sharing"] is True
    assert config["tie_word_embeddings"] is False
    assert (config["hidden_act"], config["rms_norm_eps"], config["rope_theta"]) == ("silu", 1e-5, 10000.0)
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)
    assert config["attention_bias"] is False and config["mlp_bias"] is False
    assert "lm_head.weight" not in weights
    h, hd = config["hidden_size"], config["hidden_size"] // config["num_attention_heads"]
    kv = config["num_key_value_heads"] * hd
    assert weights["model.embed_tokens.weight"].shape == (config["vocab_size"], h)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        assert weights[p + "self_attn.q_proj.weight"].shape == (h, h)
        assert weights[p + "self_attn.k_proj.weight"].shape == (kv, h)
        assert weights[p + "self_attn.v_proj.weight"].shape == (kv, h)
        assert weights[p + "self_attn.o_proj.weight"].shape == (h, h)
        assert weights[p + "mlp.gate_proj.weight"].shape == (config["intermediate_size"], h)
        assert weights[p + "mlp.down_proj.weight"].shape == (h, config["intermediate_size"])
        assert weights[p + "input_layernorm.weight"].shape == (h,)
        assert weights[p + "post_attention_layernorm.weight"].shape == (h,)
    assert weights["model.norm.weight"].shape == (h,)


def test_sentencepiece_tokenizer_is_llama_like(tmp_path: Path) -> None:
    import sentencepiece as spm

    folder = write_mobilellm_checkpoint(tmp_path / "m")
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    config = json.loads((folder / "config.json").read_text())
    assert sp.get_piece_size() == config["vocab_size"]
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    for text in ("What is the capital of France? Paris", "It costs $42.50, ok!", "naïve café ☃"):
        ids = sp.encode(text)
        assert 0 not in ids  # byte fallback: nothing maps to <unk>
        assert sp.decode(ids) == text
    assert sp.encode("2024", out_type=str)[-4:] == ["2", "0", "2", "4"]  # digits split
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["add_bos_token"] is True
    assert tok_config["tokenizer_class"] == "LlamaTokenizer"


# --------------------------------------------------------------------------- #
# Llama / SmolLM2 folder
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("tie", [True, False])
def test_llama_folder(tmp_path: Path, tie: bool) -> None:
    from tokenizers import Tokenizer

    folder = write_llama_checkpoint(tmp_path / "l", tie_word_embeddings=tie)
    config, weights = load_hf_state(folder)
    assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
    assert config["tie_word_embeddings"] is tie
    assert ("lm_head.weight" in weights) is (not tie)

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size() == config["vocab_size"]
    assert [tok.id_to_token(i) for i in range(3)] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    enc = tok.encode(text)
    assert enc.ids[0] == 1 and 2 in enc.ids
    assert tok.decode(enc.ids, skip_special_tokens=False) == text
    assert tok.decode(tok.encode("Paris, 2024 ☃").ids) == "Paris, 2024 ☃"

    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in tok_config["chat_template"]
    assert "add_generation_prompt" in tok_config["chat_template"]


# --------------------------------------------------------------------------- #
# GGUF
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q4_0", "Q4_1"])
def test_gguf_reads_back_with_expected_types(tmp_path: Path, qtype: str) -> None:
    import gguf

    path = write_gguf(tmp_path / "m.gguf", qtype=qtype)
    reader = gguf.GGUFReader(str(path))

    def meta(key: str) -> object:
        field = reader.get_field(key)
        assert field is not None, key
        return field.contents()

    assert meta("general.architecture") == "llama"
    assert meta("llama.block_count") == 3
    assert meta("llama.embedding_length") == 64
    assert meta("llama.feed_forward_length") == 160
    assert (meta("llama.attention.head_count"), meta("llama.attention.head_count_kv")) == (4, 2)
    assert meta("llama.rope.dimension_count") == 16
    assert meta("llama.rope.freq_base") == 100000.0
    assert meta("tokenizer.ggml.model") == "gpt2"
    assert (meta("tokenizer.ggml.bos_token_id"), meta("tokenizer.ggml.eos_token_id")) == (1, 2)
    tokens = meta("tokenizer.ggml.tokens")
    assert isinstance(tokens, list) and len(tokens) == meta("llama.vocab_size") == 384
    assert tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert meta("tokenizer.ggml.token_type")[:4] == [3, 3, 3, 1]
    merges = meta("tokenizer.ggml.merges")
    assert isinstance(merges, list) and merges and all(len(m.split(" ")) == 2 for m in merges)
    assert "<|im_start|>" in str(meta("tokenizer.chat_template"))

    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert "output.weight" not in types
    assert len(types) == 2 + 9 * 3
    q = gguf.GGMLQuantizationType
    for name, ttype in types.items():
        if name.endswith("norm.weight"):
            assert ttype == q.F32.name, name
        elif name == "token_embd.weight":
            assert ttype == (q.Q8_0.name if qtype.startswith("Q4") else qtype)
        else:
            assert ttype == qtype, name


def test_gguf_q_k_rows_are_permuted(tmp_path: Path) -> None:
    import gguf

    state = make_llama_state(seed=0, vocab_size=384)
    reader = gguf.GGUFReader(str(write_gguf(tmp_path / "m.gguf", qtype="F32")))
    stored = {t.name: np.asarray(t.data) for t in reader.tensors}
    for hf, gg, n in (("q_proj", "attn_q", 4), ("k_proj", "attn_k", 2)):
        w = state[f"model.layers.0.self_attn.{hf}.weight"]
        perm = w.reshape(n, 2, w.shape[0] // n // 2, -1).swapaxes(1, 2).reshape(w.shape)
        np.testing.assert_array_equal(stored[f"blk.0.{gg}.weight"], perm)
    v_proj = state["model.layers.0.self_attn.v_proj.weight"]
    np.testing.assert_array_equal(stored["blk.0.attn_v.weight"], v_proj)


# --------------------------------------------------------------------------- #
# Reference forward passes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("tie", [True, False])
def test_hf_forward_matches_gguf_forward_f32(tmp_path: Path, tie: bool) -> None:
    config, weights = load_hf_state(write_llama_checkpoint(tmp_path / "l", seed=5, tie_word_embeddings=tie))
    hf = hf_forward(config, weights, IDS)
    gg = gguf_forward(write_gguf(tmp_path / "m.gguf", qtype="F32", seed=5, tie_word_embeddings=tie), IDS)
    assert hf.shape == gg.shape == (len(IDS), config["vocab_size"])
    # Residual ~1e-11 comes from rms_norm_eps being stored as float32 in GGUF.
    np.testing.assert_allclose(gg, hf, rtol=0, atol=1e-9)
    assert len(set(hf.argmax(-1).tolist())) >= 4  # logits are not degenerate


def test_gguf_forward_from_converted_folder_and_quantized(tmp_path: Path) -> None:
    folder = write_llama_checkpoint(tmp_path / "l", seed=2)
    hf = hf_forward(*load_hf_state(folder), IDS)
    converted = gguf_forward(write_gguf(tmp_path / "c.gguf", qtype="F32", hf_dir=folder), IDS)
    np.testing.assert_allclose(converted, hf, rtol=0, atol=1e-9)
    q8 = gguf_forward(write_gguf(tmp_path / "q8.gguf", qtype="Q8_0", seed=2), IDS)
    assert np.abs(q8 - hf).max() < 0.2


def test_reference_detects_missing_permutation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, weights = load_hf_state(write_llama_checkpoint(tmp_path / "l", seed=1))
    hf = hf_forward(config, weights, IDS)
    monkeypatch.setattr(checkpoints, "_permute_qk", lambda w, n_head: w)
    unpermuted = gguf_forward(write_gguf(tmp_path / "bad.gguf", qtype="F32", seed=1), IDS)
    assert np.abs(unpermuted - hf).max() > 1e-3
    np.testing.assert_allclose(unpermuted[0], hf[0], atol=1e-9)  # position 0 has no rotation


def test_layer_sharing_runs_each_block_twice_in_a_row(tmp_path: Path) -> None:
    config, weights = load_hf_state(write_mobilellm_checkpoint(tmp_path / "m", layer_sharing=True))
    shared = hf_forward(config, weights, IDS)
    n = config["num_hidden_layers"]
    unrolled = {k: v for k, v in weights.items() if not k.startswith("model.layers.")}
    for i in range(2 * n):
        src = f"model.layers.{i // 2}."
        for k, v in weights.items():
            if k.startswith(src):
                unrolled[f"model.layers.{i}." + k[len(src) :]] = v
    flat = dict(config, layer_sharing=False, num_hidden_layers=2 * n)
    np.testing.assert_allclose(hf_forward(flat, unrolled, IDS), shared, rtol=0, atol=1e-12)
    plain = hf_forward(dict(config, layer_sharing=False), weights, IDS)
    assert np.abs(plain - shared).max() > 1e-3
