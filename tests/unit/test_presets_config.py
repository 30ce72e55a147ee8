"""Model presets against the published parameter counts, and MobileLLMConfig's checks."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agent_sdk.errors import ConfigError, UnknownModelError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.presets import PRESETS, get_preset

pytestmark = pytest.mark.unit

# The MobileLLM paper / model card table (layers, heads, kv heads, dim, params).
# The paper truncates to the digit shown: 345,355,200 parameters is "345.3M".
_PAPER_MILLIONS = {"mobilellm-125m": 124.6, "mobilellm-350m": 345.3, "mobilellm-600m": 603.1}
_PAPER_BILLIONS = {"mobilellm-1b": 1.01, "mobilellm-1.5b": 1.51}
_PAPER_SHAPES = {
    "mobilellm-125m": (30, 9, 3, 576),
    "mobilellm-350m": (32, 15, 5, 960),
    "mobilellm-600m": (40, 18, 6, 1152),
    "mobilellm-1b": (54, 20, 5, 1280),
    "mobilellm-1.5b": (54, 25, 5, 1600),
}


@pytest.mark.parametrize(("name", "millions"), sorted(_PAPER_MILLIONS.items()))
def test_mobilellm_presets_match_the_paper_in_millions(name: str, millions: float) -> None:
    n = PRESETS[name].config.parameter_count()
    assert math.floor(n / 1e5) / 10 == millions, n


@pytest.mark.parametrize(("name", "billions"), sorted(_PAPER_BILLIONS.items()))
def test_mobilellm_presets_match_the_paper_in_billions(name: str, billions: float) -> None:
    n = PRESETS[name].config.parameter_count()
    assert abs(n / 1e9 - billions) < 0.005, n


@pytest.mark.parametrize(("name", "shape"), sorted(_PAPER_SHAPES.items()))
def test_mobilellm_preset_shapes(name: str, shape: tuple[int, int, int, int]) -> None:
    cfg = PRESETS[name].config
    got = (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size)
    assert got == shape
    assert (cfg.vocab_size, cfg.head_dim, cfg.share_embedding, cfg.model_type) == (32000, 64, True, "mobilellm")


@pytest.mark.parametrize("base", sorted(_PAPER_SHAPES))
def test_layer_share_variants_add_no_parameters_and_double_the_runs(base: str) -> None:
    plain, shared = PRESETS[base].config, PRESETS[base + "-ls"].config
    assert not plain.layer_sharing and shared.layer_sharing
    assert shared.parameter_count() == plain.parameter_count()
    assert plain.num_layer_runs == plain.num_hidden_layers
    assert shared.num_layer_runs == 2 * shared.num_hidden_layers == 2 * plain.num_layer_runs
    assert PRESETS[base + "-ls"].hub_id.endswith("-layer-share")


def test_smollm2_135m_has_the_real_parameter_count() -> None:
    assert PRESETS["smollm2-135m"].config.parameter_count() == 134_515_008


def _family_expected_tensors(cfg: Any) -> dict[str, tuple[int, ...]]:
    """The tensors the loader of ``cfg``'s family (found through the registry) expects."""
    import importlib

    from agent_sdk.models.registry import architecture_for

    loader_module = architecture_for(cfg.model_type).loader.partition(":")[0]
    family_expected: Any = importlib.import_module(loader_module).expected_tensors
    return family_expected(cfg)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("share", [True, False])
def test_parameter_count_equals_the_sum_of_tensor_sizes(name: str, share: bool) -> None:
    preset = PRESETS[name].config
    try:
        cfg = type(preset).from_dict({**preset.to_dict(), "share_embedding": share})
    except ConfigError:
        assert not share and preset.share_embedding  # a family that only ties its head (Gemma 3)
        return
    assert cfg.parameter_count() == sum(math.prod(s) for s in _family_expected_tensors(cfg).values())


def test_get_preset_is_case_insensitive_and_lists_presets_when_unknown() -> None:
    assert get_preset("SmolLM2-135M") is PRESETS["smollm2-135m"]
    with pytest.raises(UnknownModelError, match="smollm2-135m") as info:
        get_preset("gpt-5")
    assert "gpt-5" in str(info.value)


# ------------------------------------------------------------- validation


def _cfg(**kw: object) -> MobileLLMConfig:
    base: dict[str, object] = {
        "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2,
    }
    base.update(kw)
    return MobileLLMConfig(**base)  # type: ignore[arg-type]


def test_valid_config_derives_head_dim() -> None:
    assert _cfg().head_dim == 16


def test_heads_not_divisible_by_kv_heads() -> None:
    with pytest.raises(ConfigError, match=r"num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)"):
        _cfg(num_key_value_heads=3)


def test_odd_head_dim() -> None:
    with pytest.raises(ConfigError, match="head_dim must be even"):
        _cfg(hidden_size=60)  # 60 / 4 = 15


def test_head_dim_times_heads_must_equal_hidden() -> None:
    with pytest.raises(ConfigError, match=r"head_dim \(8\) x num_attention_heads \(4\) must equal hidden_size \(64\)"):
        _cfg(head_dim=8)


def test_several_problems_are_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        _cfg(hidden_size=60, num_key_value_heads=3)
    msg = str(info.value)
    assert "multiple of num_key_value_heads" in msg and "head_dim must be even" in msg


@pytest.mark.parametrize(
    "field", ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "context_window"],
)
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_sizes(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{field} must be positive, got {value}"):
        _cfg(**{field: value})


def test_all_non_positive_sizes_are_listed() -> None:
    with pytest.raises(ConfigError) as info:
        _cfg(vocab_size=0, intermediate_size=-1, num_hidden_layers=0)
    msg = str(info.value)
    for field in ("vocab_size", "intermediate_size", "num_hidden_layers"):
        assert f"{field} must be positive" in msg


# ---------------------------------------------------------------- from_hf

_MOBILELLM_125M_JSON = {
    # facebook/MobileLLM-125M config.json (fields that matter).
    "architectures": ["MobileLLMForCausalLM"], "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 576, "intermediate_size": 1536, "layer_sharing": False,
    "max_position_embeddings": 2048, "mlp_bias": False, "model_type": "mobilellm", "num_attention_heads": 9,
    "num_hidden_layers": 30, "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_scaling": None,
    "rope_theta": 10000.0, "share_embedding": True, "tie_word_embeddings": False, "vocab_size": 32000,
}

_SMOLLM2_135M_JSON = {
    # HuggingFaceTB/SmolLM2-135M-Instruct config.json (fields that matter).
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
    "head_dim": 64, "hidden_act": "silu", "hidden_size": 576, "intermediate_size": 1536,
    "max_position_embeddings": 8192, "mlp_bias": False, "model_type": "llama", "num_attention_heads": 9,
    "num_hidden_layers": 30, "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_scaling": None,
    "rope_theta": 100000, "tie_word_embeddings": True, "vocab_size": 49152,
}


def test_from_hf_mobilellm_equals_the_preset() -> None:
    assert MobileLLMConfig.from_hf(_MOBILELLM_125M_JSON) == PRESETS["mobilellm-125m"].config
    ls = MobileLLMConfig.from_hf({**_MOBILELLM_125M_JSON, "layer_sharing": True})
    assert ls == PRESETS["mobilellm-125m-ls"].config


def test_from_hf_mobilellm_share_embedding_wins_over_tie_word_embeddings() -> None:
    # MobileLLM ships share_embedding: true with tie_word_embeddings: false.
    assert MobileLLMConfig.from_hf(_MOBILELLM_125M_JSON).share_embedding is True
    untied = MobileLLMConfig.from_hf({**_MOBILELLM_125M_JSON, "share_embedding": False})
    assert untied.share_embedding is False
    assert untied.parameter_count() == PRESETS["mobilellm-125m"].config.parameter_count() + 32000 * 576


def test_from_hf_llama_equals_the_smollm2_preset() -> None:
    cfg = MobileLLMConfig.from_hf(_SMOLLM2_135M_JSON)
    assert cfg == PRESETS["smollm2-135m"].config
    assert cfg.parameter_count() == 134_515_008


def test_from_hf_llama_tie_word_embeddings() -> None:
    assert MobileLLMConfig.from_hf({**_SMOLLM2_135M_JSON, "tie_word_embeddings": False}).share_embedding is False
    assert MobileLLMConfig.from_hf(_SMOLLM2_135M_JSON).share_embedding is True


def test_from_hf_llama_without_tie_key_follows_transformers_default() -> None:
    cfg = {k: v for k, v in _SMOLLM2_135M_JSON.items() if k != "tie_word_embeddings"}
    assert MobileLLMConfig.from_hf(cfg).share_embedding is False


def test_from_hf_eos_list_and_kv_default() -> None:
    cfg = {k: v for k, v in _SMOLLM2_135M_JSON.items() if k not in ("num_key_value_heads", "head_dim")}
    out = MobileLLMConfig.from_hf({**cfg, "eos_token_id": [2, 0]})
    assert out.eos_token_id == (2, 0)
    assert out.num_key_value_heads == out.num_attention_heads == 9
    assert out.head_dim == 64


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"model_type": None}, "model_type None is not supported"),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu' is not supported"),
        ({"attention_bias": True}, "attention_bias / mlp_bias are not supported"),
        ({"mlp_bias": True}, "attention_bias / mlp_bias are not supported"),
        ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "rope_scaling .* is not supported"),
        ({"num_attention_heads": 8}, r"head_dim \(64\) x num_attention_heads \(8\)"),
    ],
)
def test_from_hf_rejects(change: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        MobileLLMConfig.from_hf({**_SMOLLM2_135M_JSON, **change})


def test_from_hf_lists_every_missing_key() -> None:
    cfg = {k: v for k, v in _SMOLLM2_135M_JSON.items() if k not in ("vocab_size", "intermediate_size")}
    with pytest.raises(ConfigError, match="missing vocab_size, intermediate_size"):
        MobileLLMConfig.from_hf(cfg)


_ROPE_PARAMETERS_BUG = (
    "BUG: from_hf ignores transformers 5's rope_parameters (where rope_theta and the RoPE type now live), "
    "so the RoPE base silently falls back to 10000 and scaled RoPE is not rejected"
)


def test_from_hf_reads_rope_theta_from_rope_parameters() -> None:
    cfg = {k: v for k, v in _SMOLLM2_135M_JSON.items() if k not in ("rope_theta", "rope_scaling")}
    cfg["rope_parameters"] = {"rope_theta": 100000.0, "rope_type": "default"}
    assert MobileLLMConfig.from_hf(cfg).rope_theta == 100000.0


def test_from_hf_rejects_scaled_rope_parameters() -> None:
    cfg = {k: v for k, v in _SMOLLM2_135M_JSON.items() if k != "rope_scaling"}
    cfg["rope_parameters"] = {"rope_theta": 100000.0, "rope_type": "llama3", "factor": 8.0}
    with pytest.raises(ConfigError, match="not supported"):
        MobileLLMConfig.from_hf(cfg)


def test_default_rope_scaling_is_accepted() -> None:
    cfg = MobileLLMConfig.from_hf({**_SMOLLM2_135M_JSON, "rope_scaling": {"rope_type": "default"}})
    assert cfg == PRESETS["smollm2-135m"].config


# ---------------------------------------------------------- dict round trip


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_to_dict_from_dict_round_trip(name: str) -> None:
    import json

    cfg = PRESETS[name].config
    data = json.loads(json.dumps(cfg.to_dict()))  # through JSON, as a bundle manifest stores it
    assert type(cfg).from_dict(data) == cfg


def test_from_dict_ignores_unknown_keys() -> None:
    cfg = _cfg(eos_token_id=(2, 7))
    assert MobileLLMConfig.from_dict({**cfg.to_dict(), "some_future_key": 1}) == cfg
