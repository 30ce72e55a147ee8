"""Gemma 3 config, presets and loader checks (no compiling)."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.models.gemma3.gemma3_config import FULL_ATTENTION, SLIDING_ATTENTION, Gemma3Config
from agent_sdk.models.gemma3.gemma3_loader import build_params, load_checkpoint
from agent_sdk.models.presets import get_preset
from agent_sdk.models.registry import architecture_for, gguf_model_type
from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint, write_gemma3_gguf


@pytest.mark.parametrize(
    "name,published",
    [("gemma3-270m", 268_098_176), ("functiongemma-270m", 268_098_176), ("gemma3-1b", 999_885_952)],
)
def test_preset_parameter_counts_match_the_published_totals(name: str, published: int) -> None:
    assert get_preset(name).config.parameter_count() == published


def test_both_model_types_are_registered() -> None:
    assert architecture_for("gemma3").name == architecture_for("gemma3_text").name == "gemma3"


def _hf(**changes: object) -> dict[str, object]:
    cfg: dict[str, object] = {
        "model_type": "gemma3_text", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 12, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32,
        "sliding_window": 8, "rope_theta": 1e6, "rope_local_base_freq": 1e4, "query_pre_attn_scalar": 32,
    }
    cfg.update(changes)
    return cfg


def test_layer_kinds_from_the_pattern_of_older_configs() -> None:
    cfg = Gemma3Config.from_hf(_hf(sliding_window_pattern=6))
    assert [i for i, t in enumerate(cfg.layer_types) if t == FULL_ATTENTION] == [5, 11]
    assert cfg.rope_local_theta == 1e4 and cfg.rope_theta == 1e6


def test_layer_kinds_from_layer_types() -> None:
    types = [SLIDING_ATTENTION, FULL_ATTENTION] * 6
    assert Gemma3Config.from_hf(_hf(layer_types=types)).layer_types == tuple(types)


def test_transformers5_rope_parameters() -> None:
    cfg = Gemma3Config.from_hf(_hf(rope_parameters={
        FULL_ATTENTION: {"rope_type": "default", "rope_theta": 2e6},
        SLIDING_ATTENTION: {"rope_type": "default", "rope_theta": 5e3},
    }))
    assert (cfg.rope_theta, cfg.rope_local_theta) == (2e6, 5e3)


def test_unsupported_features_are_all_listed() -> None:
    with pytest.raises(ConfigError) as err:
        Gemma3Config.from_hf(_hf(final_logit_softcapping=30.0, hidden_activation="silu",
                                 rope_scaling={"rope_type": "linear", "factor": 8.0}))
    for word in ("final_logit_softcapping", "hidden_activation", "rope_scaling"):
        assert word in str(err.value)


def test_config_round_trips_through_the_manifest_dict() -> None:
    cfg = get_preset("gemma3-270m").config
    assert Gemma3Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_hf_and_gguf_loaders_agree(tmp_path: Path) -> None:
    hf = write_gemma3_checkpoint(tmp_path / "hf")
    gg = write_gemma3_gguf(tmp_path / "tiny.gguf", hf)
    assert gguf_model_type(gg) == "gemma3"
    a, b = load_checkpoint(hf), load_checkpoint(gg)
    # GGUF keeps eps as float32; token ids come from the tokenizer metadata
    same = {"bos_token_id": 0, "eos_token_id": [], "rms_norm_eps": 0.0}
    assert a.config.to_dict() | same == b.config.to_dict() | same
    assert b.config.rms_norm_eps == pytest.approx(a.config.rms_norm_eps, rel=1e-6)
    pa, pb = build_params(a, "f32", "f32"), build_params(b, "f32", "f32")
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=0, atol=1e-6, err_msg=k)
    # norms carry Gemma's 1 + w
    w = a.tensors["model.layers.0.input_layernorm.weight"].as_float()
    np.testing.assert_array_equal(pa["layers.0.input_layernorm.weight"], w + 1)


def test_missing_and_misshaped_tensors_are_named(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    hf = write_gemma3_checkpoint(tmp_path / "hf")
    state = load_file(str(hf / "model.safetensors"))
    del state["model.layers.2.self_attn.k_norm.weight"]
    state["model.layers.0.self_attn.q_norm.weight"] = np.zeros(5, np.float32)
    save_file(state, str(hf / "model.safetensors"))
    with pytest.raises(ModelFormatError) as err:
        load_checkpoint(hf)
    assert "missing tensor model.layers.2.self_attn.k_norm.weight" in str(err.value)
    assert "model.layers.0.self_attn.q_norm.weight has shape (5,)" in str(err.value)


def test_unsupported_gguf_tensor_type_is_named(tmp_path: Path) -> None:
    hf = write_gemma3_checkpoint(tmp_path / "hf")
    src = gguf.GGUFReader(str(write_gemma3_gguf(tmp_path / "tiny.gguf", hf)))
    out = gguf.GGUFWriter(str(tmp_path / "bad.gguf"), "gemma3")
    for field in src.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        out.add_key_value(field.name, field.contents(), field.types[0], field.types[-1] if len(field.types) > 1 else None)
    for t in src.tensors:
        arr = np.asarray(t.data, dtype=np.float32).reshape([int(s) for s in reversed(list(t.shape))])
        if t.name == "blk.1.ffn_up.weight":
            iq4 = gguf.GGMLQuantizationType.IQ4_NL  # gguf cannot quantize it: zero blocks of its size
            block, nbytes = gguf.GGML_QUANT_SIZES[iq4]
            out.add_tensor(t.name, np.zeros((arr.shape[0], arr.shape[1] // block * nbytes), np.uint8), raw_dtype=iq4)
        else:
            out.add_tensor(t.name, arr)
    out.write_header_to_file()
    out.write_kv_data_to_file()
    out.write_tensors_to_file()
    out.close()
    with pytest.raises(ModelFormatError, match="blk.1.ffn_up.weight has GGML type"):
        load_checkpoint(tmp_path / "bad.gguf")
