"""load_checkpoint / build_params on checkpoints in the published MobileLLM, Llama and GGUF layouts.

References: the fixture's float32 weights (``make_llama_state``), the
``safetensors`` and ``gguf`` packages' own readers and dequantizers, and the
llama.cpp converter's Q/K row permutation as the fixture applies it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize as gguf_dequantize
from safetensors.numpy import load_file, save_file

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.mobilellm.mobilellm_loader import build_params, expected_tensors, load_checkpoint
from agent_sdk.quantization.formats import dequantize, format_param_shapes
from tests.fixtures import checkpoints as fx
from tests.fixtures.checkpoints import (
    CHATML_TEMPLATE,
    make_llama_state,
    write_gguf,
    write_llama_checkpoint,
    write_mobilellm_checkpoint,
)

pytestmark = pytest.mark.unit

SEED = 11
LAYERS, HEADS, KV, HIDDEN, FFN, VOCAB = 3, 4, 2, 64, 160, 384  # the fixtures' defaults
HEAD_DIM = HIDDEN // HEADS


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_llama_checkpoint(tmp_path_factory.mktemp("llama") / "m", seed=SEED)


@pytest.fixture(scope="module")
def gguf_f32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "f32.gguf", qtype="F32", seed=SEED)


@pytest.fixture(scope="module")
def gguf_q4_1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "q4_1.gguf", qtype="Q4_1", seed=SEED)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_weights(folder: Path, edit: Callable[[dict[str, np.ndarray]], object]) -> None:
    weights = load_file(str(folder / "model.safetensors"))
    edit(weights)
    save_file(weights, str(folder / "model.safetensors"))


def _edit_config(folder: Path, **changes: object) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("layer_sharing", [True, False])
@pytest.mark.parametrize("share_embedding", [True, False])
def test_mobilellm_bin(tmp_path: Path, layer_sharing: bool, share_embedding: bool) -> None:
    folder = write_mobilellm_checkpoint(
        tmp_path / "m", layer_sharing=layer_sharing, share_embedding=share_embedding, seed=SEED
    )
    ckpt = load_checkpoint(folder)
    cfg = ckpt.config
    assert cfg == MobileLLMConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV, head_dim=HEAD_DIM, rms_norm_eps=1e-5,
        rope_theta=10000.0, context_window=2048, share_embedding=share_embedding,
        layer_sharing=layer_sharing, bos_token_id=1, eos_token_id=(2,), model_type="mobilellm",
    )
    assert cfg.num_layer_runs == (2 * LAYERS if layer_sharing else LAYERS)
    assert ckpt.source_format == "hf"
    n_tensors = 2 + 9 * LAYERS + (0 if share_embedding else 1)
    assert ckpt.weight_types == {"float32": n_tensors}
    assert ("lm_head.weight" in ckpt.tensors) is (not share_embedding)
    assert ckpt.tokenizer_files == {"tokenizer.model": (folder / "tokenizer.model").read_bytes()}
    assert ckpt.tokenizer_meta["add_bos"] is True
    assert (ckpt.tokenizer_meta["bos_token_id"], ckpt.tokenizer_meta["eos_token_ids"]) == (1, [2])
    assert (ckpt.tokenizer_meta["bos_token"], ckpt.tokenizer_meta["eos_token"]) == ("<s>", "</s>")
    assert ckpt.tokenizer_meta["chat_template"] is None  # base model: the runtime falls back to ChatML

    want = make_llama_state(seed=SEED, vocab_size=VOCAB, include_lm_head=not share_embedding)
    for name, arr in want.items():
        np.testing.assert_array_equal(ckpt.tensors[name].as_float(), arr, err_msg=name)
    params = build_params(ckpt, "f32", "f32")
    assert ("lm_head.weight" in params) is (not share_embedding)
    if not share_embedding:
        np.testing.assert_array_equal(params["lm_head.weight"], want["lm_head.weight"])


def test_mobilellm_bf16_bin(tmp_path: Path) -> None:
    import ml_dtypes

    ckpt = load_checkpoint(write_mobilellm_checkpoint(tmp_path / "m", dtype="bfloat16", seed=SEED))
    want = make_llama_state(seed=SEED, vocab_size=VOCAB)
    assert ckpt.weight_types == {"float32": len(want)}  # widened on read
    for name, arr in want.items():
        np.testing.assert_array_equal(ckpt.tensors[name].as_float(), arr.astype(ml_dtypes.bfloat16).astype(np.float32))


def test_llama_safetensors(llama_dir: Path) -> None:
    ckpt = load_checkpoint(llama_dir)
    cfg = ckpt.config
    assert (cfg.model_type, cfg.share_embedding, cfg.layer_sharing) == ("llama", True, False)
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (LAYERS, HEADS, KV, HEAD_DIM)
    assert (cfg.rope_theta, cfg.vocab_size, cfg.intermediate_size) == (100000.0, VOCAB, FFN)
    assert ckpt.weight_types == {"float32": 2 + 9 * LAYERS}
    assert list(ckpt.tokenizer_files) == ["tokenizer.json"]
    meta = ckpt.tokenizer_meta
    assert meta["chat_template"] == CHATML_TEMPLATE
    assert (meta["bos_token"], meta["eos_token"], meta["add_bos"]) == ("<|im_start|>", "<|im_end|>", False)
    assert (meta["bos_token_id"], meta["eos_token_ids"]) == (1, [2])
    for name, arr in make_llama_state(seed=SEED, vocab_size=VOCAB).items():
        np.testing.assert_array_equal(ckpt.tensors[name].as_float(), arr, err_msg=name)


def test_llama_untied_and_float16(tmp_path: Path) -> None:
    folder = write_llama_checkpoint(tmp_path / "m", seed=SEED, tie_word_embeddings=False, dtype="float16")
    ckpt = load_checkpoint(folder)
    assert ckpt.config.share_embedding is False
    assert ckpt.weight_types == {"float16": 3 + 9 * LAYERS}
    want = make_llama_state(seed=SEED, vocab_size=VOCAB, include_lm_head=True)
    np.testing.assert_array_equal(ckpt.tensors["lm_head.weight"].as_float(), want["lm_head.weight"].astype(np.float16).astype(np.float32))


def test_gguf_q4_1(gguf_q4_1: Path, llama_dir: Path) -> None:
    ckpt = load_checkpoint(gguf_q4_1)
    assert ckpt.source_format == "gguf"
    assert ckpt.weight_types == {"F32": 2 * LAYERS + 1, "Q4_1": 7 * LAYERS, "Q8_0": 1}
    cfg, hf = ckpt.config, load_checkpoint(llama_dir).config
    for field in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "head_dim", "rope_theta", "context_window", "share_embedding",
                  "layer_sharing", "bos_token_id", "eos_token_id", "model_type"):
        assert getattr(cfg, field) == getattr(hf, field), field
    assert cfg.rms_norm_eps == pytest.approx(1e-5, rel=1e-6)  # stored as float32
    assert ckpt.tokenizer_meta["chat_template"] == CHATML_TEMPLATE
    assert (ckpt.tokenizer_meta["eos_token"], ckpt.tokenizer_meta["add_bos"]) == ("<|im_end|>", False)


def test_gguf_tokenizer_encodes_like_the_hf_tokenizer(gguf_q4_1: Path, llama_dir: Path) -> None:
    from tokenizers import Tokenizer

    ours = Tokenizer.from_str(load_checkpoint(gguf_q4_1).tokenizer_files["tokenizer.json"].decode())
    hf = Tokenizer.from_file(str(llama_dir / "tokenizer.json"))
    texts = fx.CORPUS.splitlines() + [
        "<|im_start|>user\nWhat is 12 times 12?<|im_end|>\n<|im_start|>assistant\n",
        "héllo wörld ✓ 日本 2024-05-17",
    ]
    for text in texts:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert ours.encode(text, add_special_tokens=False).ids == ids, text
        assert ours.decode(ids, skip_special_tokens=False) == text


# ------------------------------------------------------------ errors, with names


def test_missing_tensor_is_named_with_its_shape(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")
    _edit_weights(folder, lambda w: w.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(ModelFormatError, match=r"missing tensor model\.layers\.1\.mlp\.up_proj\.weight \(expected shape \(160, 64\)\)"):
        load_checkpoint(folder)


def test_misshaped_tensor_is_named_with_both_shapes(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")

    def edit(w: dict[str, np.ndarray]) -> None:
        w["model.layers.2.self_attn.k_proj.weight"] = np.zeros((48, 64), np.float32)

    _edit_weights(folder, edit)
    with pytest.raises(ModelFormatError) as info:
        load_checkpoint(folder)
    msg = str(info.value)
    assert "tensor model.layers.2.self_attn.k_proj.weight has shape (48, 64), expected (32, 64)" in msg
    assert str(folder) in msg
    assert "q_proj" not in msg  # only the wrong one is reported


def test_unexpected_tensor_is_reported(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")

    def edit(w: dict[str, np.ndarray]) -> None:
        w["model.layers.0.self_attn.q_norm.weight"] = np.ones(16, np.float32)

    _edit_weights(folder, edit)
    with pytest.raises(ModelFormatError, match=r"unexpected tensor model\.layers\.0\.self_attn\.q_norm\.weight with shape \(16,\)"):
        load_checkpoint(folder)


def test_rotary_inv_freq_and_a_tied_lm_head_copy_are_accepted(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")

    def edit(w: dict[str, np.ndarray]) -> None:
        w["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.ones(8, np.float32)
        w["lm_head.weight"] = w["model.embed_tokens.weight"].copy()

    _edit_weights(folder, edit)
    ckpt = load_checkpoint(folder)
    assert "lm_head.weight" not in build_params(ckpt, "f32", "f32")


def test_kv_heads_changed_in_config_names_every_mismatch(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")
    _edit_config(folder, num_key_value_heads=4)
    with pytest.raises(ModelFormatError) as info:
        load_checkpoint(folder)
    msg = str(info.value)
    for i in range(LAYERS):
        for proj in ("k_proj", "v_proj"):
            assert f"tensor model.layers.{i}.self_attn.{proj}.weight has shape (32, 64), expected (64, 64)" in msg


def test_many_problems_are_summarised(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")
    _edit_config(folder, num_hidden_layers=10)  # 7 layers x 9 tensors missing
    with pytest.raises(ModelFormatError, match=r"\.\.\. and 51 more") as info:
        load_checkpoint(folder)
    assert "missing tensor model.layers.3.input_layernorm.weight (expected shape (64,))" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"num_attention_heads": 8}, r"head_dim \(16\) x num_attention_heads \(8\) must equal hidden_size \(64\)"),
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"hidden_act": "gelu_pytorch_tanh"}, "hidden_act 'gelu_pytorch_tanh' is not supported"),
    ],
)
def test_wrong_config_is_a_config_error(llama_dir: Path, tmp_path: Path, changes: dict[str, object], pattern: str) -> None:
    folder = _copy(llama_dir, tmp_path / "m")
    _edit_config(folder, **changes)
    with pytest.raises(ConfigError, match=pattern):
        load_checkpoint(folder)


def test_unreadable_or_missing_files(llama_dir: Path, tmp_path: Path) -> None:
    folder = _copy(llama_dir, tmp_path / "m")
    (folder / "config.json").write_text("{oops")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ModelFormatError, match="no config.json"):
        load_checkpoint(folder)

    folder = _copy(llama_dir, tmp_path / "n")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelFormatError, match="no tokenizer.json or tokenizer.model"):
        load_checkpoint(folder)

    with pytest.raises(ModelFormatError, match="no such file or folder"):
        load_checkpoint(tmp_path / "nothing-here")
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04 not gguf")
    with pytest.raises(ModelFormatError, match="not a GGUF file"):
        load_checkpoint(tmp_path / "x.gguf")


def test_gguf_of_another_architecture(tmp_path: Path) -> None:
    path = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ConfigError, match="GGUF architecture 'gpt2' is not supported"):
        load_checkpoint(path)


# ------------------------------------------------------------ build_params


def _qkv_rows(weights: dict[str, np.ndarray], layer: int) -> np.ndarray:
    p = f"model.layers.{layer}.self_attn."
    return np.concatenate([weights[p + "q_proj.weight"], weights[p + "k_proj.weight"], weights[p + "v_proj.weight"]])


def _logical(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Undoes row interleaving of stored q4/q8 arrays: element ``[b, c, r]`` is row ``b * R + r``, column ``c``."""
    out = {}
    for name, a in params.items():
        if a.ndim == 3:
            b, c, r = a.shape
            a = a.transpose(0, 2, 1).reshape(b * r, c)
        out[name] = a
    return out


def _check_param_shapes(params: dict[str, np.ndarray], linear: str, embed: str) -> None:
    qkv = (HEADS + 2 * KV) * HEAD_DIM
    want: dict[str, tuple[tuple[int, ...], str]] = {}
    for prefix, fmt, out_f, in_f in [("embed_tokens", embed, VOCAB, HIDDEN)] + [
        (f"layers.{i}.{name}", linear, out_f, in_f)
        for i in range(LAYERS)
        for name, out_f, in_f in [
            ("self_attn.qkv_proj", qkv, HIDDEN), ("self_attn.o_proj", HIDDEN, HEADS * HEAD_DIM),
            ("mlp.gate_up_proj", 2 * FFN, HIDDEN), ("mlp.down_proj", HIDDEN, FFN),
        ]
    ]:
        want.update({f"{prefix}.{k}": v for k, v in format_param_shapes(fmt, out_f, in_f).items()})
    for i in range(LAYERS):
        want[f"layers.{i}.input_layernorm.weight"] = ((HIDDEN,), "float32")
        want[f"layers.{i}.post_attention_layernorm.weight"] = ((HIDDEN,), "float32")
    want["norm.weight"] = ((HIDDEN,), "float32")
    assert {k: (v.shape, str(v.dtype)) for k, v in params.items()} == want


def test_build_params_f32_from_hf_fuses_projections(llama_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    params = build_params(load_checkpoint(llama_dir), "f32", "f32", progress=lambda i, n: calls.append((i, n)))
    assert calls == [(i + 1, LAYERS) for i in range(LAYERS)]
    _check_param_shapes(params, "f32", "f32")
    hf = load_file(str(llama_dir / "model.safetensors"))
    np.testing.assert_array_equal(params["embed_tokens.weight"], hf["model.embed_tokens.weight"])
    np.testing.assert_array_equal(params["norm.weight"], hf["model.norm.weight"])
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        np.testing.assert_array_equal(params[f"layers.{i}.self_attn.qkv_proj.weight"], _qkv_rows(hf, i))
        np.testing.assert_array_equal(
            params[f"layers.{i}.mlp.gate_up_proj.weight"],
            np.concatenate([hf[p + "mlp.gate_proj.weight"], hf[p + "mlp.up_proj.weight"]]),
        )
        np.testing.assert_array_equal(params[f"layers.{i}.self_attn.o_proj.weight"], hf[p + "self_attn.o_proj.weight"])
        np.testing.assert_array_equal(params[f"layers.{i}.mlp.down_proj.weight"], hf[p + "mlp.down_proj.weight"])
        np.testing.assert_array_equal(params[f"layers.{i}.input_layernorm.weight"], hf[p + "input_layernorm.weight"])


def test_gguf_q_k_are_unpermuted_back_to_hf_rows(gguf_f32: Path, llama_dir: Path) -> None:
    """Same seed, two formats: the GGUF's permuted Q/K must come back as the HF rows."""
    hf = load_file(str(llama_dir / "model.safetensors"))
    stored = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(str(gguf_f32)).tensors}
    # Not vacuous: the file really holds Q/K in another row order.
    assert not np.array_equal(stored["blk.0.attn_q.weight"], hf["model.layers.0.self_attn.q_proj.weight"])
    assert not np.array_equal(stored["blk.0.attn_k.weight"], hf["model.layers.0.self_attn.k_proj.weight"])

    from_gguf = build_params(load_checkpoint(gguf_f32), "f32", "f32")
    from_hf = build_params(load_checkpoint(llama_dir), "f32", "f32")
    _check_param_shapes(from_gguf, "f32", "f32")
    for i in range(LAYERS):
        np.testing.assert_array_equal(from_gguf[f"layers.{i}.self_attn.qkv_proj.weight"], _qkv_rows(hf, i))
    assert from_gguf.keys() == from_hf.keys()
    for name in from_hf:
        np.testing.assert_array_equal(from_gguf[name], from_hf[name], err_msg=name)


def _unpermute_by_index(stored: np.ndarray, n_head: int) -> np.ndarray:
    """Inverts the converter's permutation using the permutation itself, applied to row indices."""
    rows = stored.shape[0]
    source_row = fx._permute_qk(np.arange(rows)[:, None], n_head).ravel()  # stored row j = original row source_row[j]
    out = np.empty_like(stored)
    out[source_row] = stored
    return out


def test_build_params_q4_from_q4_1_gguf_is_lossless(gguf_q4_1: Path) -> None:
    reader = gguf.GGUFReader(str(gguf_q4_1))
    ref = {t.name: gguf_dequantize(np.asarray(t.data), t.tensor_type) for t in reader.tensors}
    assert {t.tensor_type.name for t in reader.tensors if t.name.startswith("blk.0.attn_q")} == {"Q4_1"}

    params = _logical(build_params(load_checkpoint(gguf_q4_1), "q4", "q8"))
    _check_param_shapes(params, "q4", "q8")

    def deq(prefix: str, fmt: str) -> np.ndarray:
        return dequantize({k.rsplit(".", 1)[1]: v for k, v in params.items() if k.rsplit(".", 1)[0] == prefix}, fmt)

    np.testing.assert_array_equal(deq("embed_tokens", "q8"), ref["token_embd.weight"])  # Q8_0 kept as is
    np.testing.assert_array_equal(params["norm.weight"], ref["output_norm.weight"])
    for i in range(LAYERS):
        b = f"blk.{i}."
        qkv = np.concatenate([
            _unpermute_by_index(ref[b + "attn_q.weight"], HEADS),
            _unpermute_by_index(ref[b + "attn_k.weight"], KV),
            ref[b + "attn_v.weight"],
        ])
        np.testing.assert_array_equal(deq(f"layers.{i}.self_attn.qkv_proj", "q4"), qkv)
        np.testing.assert_array_equal(deq(f"layers.{i}.self_attn.o_proj", "q4"), ref[b + "attn_output.weight"])
        np.testing.assert_array_equal(
            deq(f"layers.{i}.mlp.gate_up_proj", "q4"), np.concatenate([ref[b + "ffn_gate.weight"], ref[b + "ffn_up.weight"]])
        )
        np.testing.assert_array_equal(deq(f"layers.{i}.mlp.down_proj", "q4"), ref[b + "ffn_down.weight"])
        np.testing.assert_array_equal(params[f"layers.{i}.input_layernorm.weight"], ref[b + "attn_norm.weight"])


def test_q4_1_gguf_is_close_to_the_float_weights(gguf_q4_1: Path) -> None:
    # The lossless path above is not vacuous: it lands within 4-bit error of the real weights.
    params = _logical(build_params(load_checkpoint(gguf_q4_1), "q4", "q8"))
    want = make_llama_state(seed=SEED, vocab_size=VOCAB)
    got = dequantize({k: params[f"layers.1.self_attn.qkv_proj.{k}"] for k in ("qweight", "scale", "minv")}, "q4")
    err = np.abs(got - _qkv_rows(want, 1))
    assert err.max() < 0.08 and err.mean() < 0.02


def test_build_params_requantizes_when_formats_differ(gguf_q4_1: Path) -> None:
    params = build_params(load_checkpoint(gguf_q4_1), "f32", "f32")
    _check_param_shapes(params, "f32", "f32")
    reader = gguf.GGUFReader(str(gguf_q4_1))
    ref = {t.name: gguf_dequantize(np.asarray(t.data), t.tensor_type) for t in reader.tensors}
    np.testing.assert_array_equal(params["layers.0.mlp.down_proj.weight"], ref["blk.0.ffn_down.weight"])


def test_expected_tensors_matches_the_fixture_names() -> None:
    cfg = MobileLLMConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV, share_embedding=False,
    )
    state = make_llama_state(seed=0, vocab_size=VOCAB, include_lm_head=True)
    assert expected_tensors(cfg) == {k: v.shape for k, v in state.items()}


@pytest.mark.parametrize(("linear", "embed"), [("q4", "q8"), ("q8", "q8"), ("f16", "f16")])
def test_build_params_quantizes_hf_weights_row_group_wise(llama_dir: Path, linear: str, embed: str) -> None:
    from agent_sdk.quantization.formats import quantize

    params = _logical(build_params(load_checkpoint(llama_dir), linear, embed))
    _check_param_shapes(params, linear, embed)
    hf = load_file(str(llama_dir / "model.safetensors"))

    def deq(prefix: str, fmt: str) -> np.ndarray:
        return dequantize({k.rsplit(".", 1)[1]: v for k, v in params.items() if k.rsplit(".", 1)[0] == prefix}, fmt)

    # Groups run along a row, so quantizing q, k, v apart equals quantizing their concatenation.
    for i in range(LAYERS):
        want = dequantize(quantize(_qkv_rows(hf, i), linear), linear)
        np.testing.assert_array_equal(deq(f"layers.{i}.self_attn.qkv_proj", linear), want)
    embed_want = dequantize(quantize(hf["model.embed_tokens.weight"], embed), embed)
    np.testing.assert_array_equal(deq("embed_tokens", embed), embed_want)
    assert np.abs(embed_want - hf["model.embed_tokens.weight"]).max() < 0.01
