"""Qwen2 / Qwen3 loaders: tiny HF folders and GGUF files in the published layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen2.qwen2_loader import build_params
from agent_sdk.models.qwen2.qwen2_loader import load_checkpoint as load_qwen2
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config
from agent_sdk.models.qwen3.qwen3_loader import load_checkpoint as load_qwen3
from tests.fixtures.checkpoints import write_qwen_checkpoint, write_qwen_gguf

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_qwen_checkpoint(tmp_path_factory.mktemp("q") / "qwen2", family="qwen2", seed=1)


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_qwen_checkpoint(tmp_path_factory.mktemp("q") / "qwen3", family="qwen3", seed=2, head_dim=32)


def _rewrite(src: Path, dst: Path, change: dict[str, np.ndarray | None]) -> Path:
    """A copy of ``src`` with tensors replaced (or dropped for None)."""
    import shutil

    shutil.copytree(src, dst)
    state = load_file(str(src / "model.safetensors"))
    for name, arr in change.items():
        if arr is None:
            del state[name]
        else:
            state[name] = arr
    save_file(state, str(dst / "model.safetensors"))
    return dst


def test_qwen2_folder_reads_config_tokenizer_and_biases(qwen2_dir: Path) -> None:
    ckpt = load_qwen2(qwen2_dir)
    cfg = ckpt.config
    assert isinstance(cfg, Qwen2Config) and cfg.attention_bias and not cfg.qk_norm
    assert (cfg.rope_theta, cfg.rms_norm_eps, cfg.head_dim, cfg.share_embedding) == (1e6, 1e-6, 16, True)
    assert ckpt.tensors["model.layers.2.self_attn.v_proj.bias"].shape == (32,)
    assert ckpt.tokenizer_meta["eos_token_ids"] == [2, 0]  # <|im_end|>, <|endoftext|> from generation_config
    assert ckpt.tokenizer_meta["add_bos"] is False and "<|im_start|>" in ckpt.tokenizer_meta["chat_template"]


def test_qwen3_folder_reads_an_independent_head_width(qwen3_dir: Path) -> None:
    cfg = load_qwen3(qwen3_dir).config
    assert isinstance(cfg, Qwen3Config) and cfg.qk_norm and not cfg.attention_bias
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim) == (64, 4, 32)


def test_each_family_refuses_the_other(qwen2_dir: Path, qwen3_dir: Path) -> None:
    with pytest.raises(ConfigError, match="'qwen2' is not 'qwen3'"):
        load_qwen3(qwen2_dir)
    with pytest.raises(ConfigError, match="'qwen3' is not 'qwen2'"):
        load_qwen2(qwen3_dir)


def test_missing_bias_and_misshaped_weight_are_named_together(qwen2_dir: Path, tmp_path: Path) -> None:
    bad = _rewrite(qwen2_dir, tmp_path / "bad", {
        "model.layers.1.self_attn.k_proj.bias": None,
        "model.layers.0.mlp.up_proj.weight": np.zeros((7, 64), np.float32),
    })
    with pytest.raises(ModelFormatError) as info:
        load_qwen2(bad)
    msg = str(info.value)
    assert "missing tensor model.layers.1.self_attn.k_proj.bias (expected shape (32,))" in msg
    assert "model.layers.0.mlp.up_proj.weight has shape (7, 64)" in msg


def test_qk_norm_of_the_wrong_width_is_named(qwen3_dir: Path, tmp_path: Path) -> None:
    bad = _rewrite(qwen3_dir, tmp_path / "bad", {"model.layers.2.self_attn.k_norm.weight": np.ones(16, np.float32)})
    with pytest.raises(ModelFormatError, match=r"self_attn.k_norm.weight has shape \(16,\), expected \(32,\)"):
        load_qwen3(bad)


def test_a_bias_qwen3_does_not_have_is_unexpected(qwen3_dir: Path, tmp_path: Path) -> None:
    bad = _rewrite(qwen3_dir, tmp_path / "bad", {"model.layers.0.self_attn.q_proj.bias": np.zeros(128, np.float32)})
    with pytest.raises(ModelFormatError, match="unexpected tensor model.layers.0.self_attn.q_proj.bias"):
        load_qwen3(bad)


def test_sliding_window_folder_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = write_qwen_checkpoint(tmp_path / "sw", family="qwen2", config_overrides={"use_sliding_window": True})
    with pytest.raises(ConfigError, match=r"config.json: use_sliding_window is True"):
        load_qwen2(path)
    path = write_qwen_checkpoint(tmp_path / "sw3", family="qwen3", config_overrides={"use_sliding_window": "yes"})
    with pytest.raises(ConfigError, match="use_sliding_window is 'yes'; expected true or false"):
        load_qwen3(path)


@pytest.mark.parametrize(("family", "head_dim"), [("qwen2", None), ("qwen3", 32)])
def test_f32_gguf_holds_the_hf_weights_unpermuted(family: str, head_dim: int | None, tmp_path: Path) -> None:
    """llama.cpp does not permute Qwen's Q/K rows: the GGUF tensors equal the HF ones row for row."""
    hf = write_qwen_checkpoint(tmp_path / "hf", family=family, seed=5, head_dim=head_dim)
    gg = write_qwen_gguf(tmp_path / "m.gguf", family=family, qtype="F32", seed=5, head_dim=head_dim)
    a = load_qwen2(hf) if family == "qwen2" else load_qwen3(hf)
    b = load_qwen2(gg) if family == "qwen2" else load_qwen3(gg)
    assert (b.source_format, type(b.config)) == ("gguf", type(a.config))
    for field in ("vocab_size", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
                  "share_embedding", "attention_bias", "qk_norm"):
        assert getattr(a.config, field) == getattr(b.config, field), field
    for field in ("rms_norm_eps", "rope_theta"):  # GGUF stores them as float32
        assert getattr(b.config, field) == pytest.approx(getattr(a.config, field), rel=1e-7), field
    assert set(a.tensors) == set(b.tensors)
    for name, src in a.tensors.items():
        np.testing.assert_array_equal(b.tensors[name].as_float(), src.as_float(), err_msg=name)


def test_gguf_of_another_family_is_refused(tmp_path: Path) -> None:
    gg = write_qwen_gguf(tmp_path / "m.gguf", family="qwen2", qtype="F32")
    with pytest.raises(ConfigError, match="GGUF architecture 'qwen2' is not 'qwen3'"):
        load_qwen3(gg)


def test_params_fuse_the_biases_in_q_k_v_order(qwen2_dir: Path) -> None:
    ckpt = load_qwen2(qwen2_dir)
    params = build_params(ckpt, "f32", "f32")
    t = ckpt.tensors
    p = "model.layers.1.self_attn."
    want = np.concatenate([t[p + f"{x}_proj.bias"].as_float() for x in "qkv"])
    np.testing.assert_array_equal(params["layers.1.self_attn.qkv_bias"], want)
    assert params["layers.1.self_attn.qkv_bias"].dtype == np.float32
    assert "layers.0.self_attn.q_norm.weight" not in params


def test_params_carry_the_qk_norms(qwen3_dir: Path) -> None:
    ckpt = load_qwen3(qwen3_dir)
    params = build_params(ckpt, "q8", "q8")
    np.testing.assert_array_equal(
        params["layers.2.self_attn.k_norm.weight"], ckpt.tensors["model.layers.2.self_attn.k_norm.weight"].as_float()
    )
    assert "layers.0.self_attn.qkv_bias" not in params
