"""Qwen2 / Qwen3 presets against the published parameter counts, and their config.json checks."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from agent_sdk.errors import ConfigError
from agent_sdk.models.presets import PRESETS
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen2.qwen2_loader import expected_tensors
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config
from agent_sdk.models.registry import architecture_for

pytestmark = pytest.mark.unit

# Exact totals, the tied embedding counted once. The model cards round them: Qwen2.5-0.5B "0.49B"
# (non-embedding "0.36B"), Qwen2.5-1.5B "1.54B" ("1.31B"), Qwen3-0.6B "0.6B" ("0.44B"), Qwen3-1.7B
# "1.7B" ("1.4B"); Hammer2.1-0.5b and xLAM-2-1b-fc-r are fine-tunes of the 0.5B / 1.5B shapes.
_PUBLISHED = {
    "qwen2.5-0.5b": 494_032_768,
    "hammer2.1-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "xlam-2-1b": 1_543_714_304,
    "qwen3-0.6b": 596_049_920,
    "qwen3-1.7b": 1_720_574_976,
}
_NON_EMBEDDING_BILLIONS = {
    "qwen2.5-0.5b": 0.36, "qwen2.5-1.5b": 1.31, "qwen3-0.6b": 0.44, "qwen3-1.7b": 1.4,
}

# config.json of Qwen/Qwen2.5-0.5B-Instruct and Qwen/Qwen3-0.6B as published (all keys).
QWEN25_05B_JSON: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2",
    "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}
QWEN3_06B_JSON: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
    "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
    "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000,
    "sliding_window": None, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}


@pytest.mark.parametrize(("name", "count"), sorted(_PUBLISHED.items()))
def test_presets_match_the_published_parameter_counts(name: str, count: int) -> None:
    cfg = PRESETS[name].config
    assert cfg.parameter_count() == count
    assert sum(math.prod(shape) for shape in expected_tensors(cfg).values()) == count


@pytest.mark.parametrize(("name", "billions"), sorted(_NON_EMBEDDING_BILLIONS.items()))
def test_non_embedding_counts_round_to_the_model_cards(name: str, billions: float) -> None:
    cfg = PRESETS[name].config
    non_embedding = cfg.parameter_count() - cfg.vocab_size * cfg.hidden_size
    assert round(non_embedding / 1e9, 2 if billions < 1.35 else 1) == billions


def test_qwen3_head_width_is_independent_of_hidden_size() -> None:
    cfg = PRESETS["qwen3-0.6b"].config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim) == (1024, 16, 128)
    assert expected_tensors(cfg)["model.layers.0.self_attn.q_proj.weight"] == (2048, 1024)
    assert expected_tensors(cfg)["model.layers.0.self_attn.q_norm.weight"] == (128,)
    assert "model.layers.0.self_attn.q_proj.bias" not in expected_tensors(cfg)


def test_qwen2_has_qkv_biases_and_no_output_bias() -> None:
    shapes = expected_tensors(PRESETS["qwen2.5-0.5b"].config)
    assert shapes["model.layers.23.self_attn.q_proj.bias"] == (896,)
    assert shapes["model.layers.23.self_attn.k_proj.bias"] == (128,)
    assert "model.layers.0.self_attn.o_proj.bias" not in shapes
    assert "lm_head.weight" not in shapes  # tied


def test_published_configs_read_as_the_presets() -> None:
    assert Qwen2Config.from_hf(QWEN25_05B_JSON) == PRESETS["qwen2.5-0.5b"].config
    assert Qwen3Config.from_hf(QWEN3_06B_JSON) == PRESETS["qwen3-0.6b"].config


@pytest.mark.parametrize("name", sorted(_PUBLISHED))
def test_round_trip_through_a_manifest(name: str) -> None:
    cfg = PRESETS[name].config
    assert type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_registry_wires_both_families() -> None:
    assert architecture_for("qwen2").config_cls is Qwen2Config
    assert architecture_for("qwen3").config_cls is Qwen3Config
    for family in ("qwen2", "qwen3"):
        spec = architecture_for(family)
        assert callable(spec.resolve("loader")) and callable(spec.resolve("param_builder"))


@pytest.mark.parametrize(
    ("base", "change", "field"),
    [
        (QWEN25_05B_JSON, {"use_sliding_window": True}, "use_sliding_window"),
        (QWEN3_06B_JSON, {"use_sliding_window": True, "sliding_window": 4096}, "use_sliding_window"),
        (QWEN25_05B_JSON, {"rope_scaling": {"type": "yarn", "factor": 4.0}}, "rope_scaling"),
        (QWEN3_06B_JSON, {"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope_scaling"),
        (QWEN3_06B_JSON, {"attention_bias": True}, "attention_bias"),
        (QWEN3_06B_JSON, {"layer_types": ["full_attention", "sliding_attention"]}, "layer_types"),
        (QWEN25_05B_JSON, {"hidden_act": "gelu"}, "hidden_act"),
        (QWEN25_05B_JSON, {"model_type": "qwen3"}, "model_type"),
        (QWEN3_06B_JSON, {"head_dim": 127}, "head_dim"),
    ],
)
def test_unsupported_configs_name_the_field(base: dict[str, Any], change: dict[str, Any], field: str) -> None:
    cls = Qwen2Config if base is QWEN25_05B_JSON else Qwen3Config
    with pytest.raises(ConfigError, match=field):
        cls.from_hf({**base, **change})


def test_llama_config_still_ties_head_dim_to_hidden_size() -> None:
    """Qwen3's independent head width does not loosen the Llama check."""
    from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig

    with pytest.raises(ConfigError, match="must equal hidden_size"):
        MobileLLMConfig(vocab_size=10, hidden_size=64, intermediate_size=8, num_hidden_layers=1,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    assert Qwen3Config(vocab_size=10, hidden_size=64, intermediate_size=8, num_hidden_layers=1,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32).head_dim == 32
