"""Configuration of the Qwen2 family (Qwen2.5-Instruct, Hammer2.1, xLAM-2 small models).

Qwen2 is the Llama block (RMSNorm, rotate-half RoPE, grouped-query attention,
SwiGLU) with biases on the q, k and v projections (none on the output
projection), RoPE base 1e6, RMSNorm epsilon 1e-6 and a 151,936-row
vocabulary; the small sizes tie the output head to the embedding. It runs on
the shared Llama-style decoder of :mod:`agent_sdk.models.mobilellm` with
``attention_bias`` on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_sdk.errors import ConfigError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig

__all__ = ["Qwen2Config", "check_full_attention"]

# transformers' Qwen2Config defaults for keys a config.json may leave out.
_HF_DEFAULTS: dict[str, Any] = {"rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 32768}


def check_full_attention(cfg: dict[str, Any]) -> None:
    """Rejects configs whose attention is not full causal attention in every layer.

    Raises:
        ConfigError: ``use_sliding_window`` is true, or ``layer_types`` names
            another attention than ``full_attention``; the message names the field.
    """
    if cfg.get("use_sliding_window") not in (None, False):
        raise ConfigError(
            f"use_sliding_window is {cfg['use_sliding_window']!r}: sliding-window attention is not supported "
            "(only full attention; published Qwen checkpoints set it false)"
        )
    layer_types = cfg.get("layer_types")
    if layer_types is not None:
        if not isinstance(layer_types, list):
            raise ConfigError(f"layer_types is {layer_types!r}; expected a list")
        other = sorted({str(t) for t in layer_types if t != "full_attention"})
        if other:
            raise ConfigError(f"layer_types holds {', '.join(other)}: only full_attention layers are supported")
    if cfg.get("mlp_bias"):
        raise ConfigError("mlp_bias is true: MLP biases are not supported")


@dataclass(frozen=True)
class Qwen2Config(MobileLLMConfig):
    """Hyper-parameters of one Qwen2 model (see :class:`MobileLLMConfig` for the fields).

    The defaults that differ from the Llama ones: ``rope_theta`` 1e6,
    ``rms_norm_eps`` 1e-6, ``attention_bias`` on, ``model_type`` ``qwen2``.
    """

    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    model_type: str = "qwen2"
    attention_bias: bool = True

    @classmethod
    def from_hf(cls, cfg: dict[str, Any]) -> Qwen2Config:
        """Reads a Hugging Face ``config.json`` of model_type ``qwen2``.

        Args:
            cfg: The parsed config.

        Raises:
            ConfigError: Another model type, a missing key, sliding-window
                attention, a RoPE scaling other than the default, or
                inconsistent values; the message names the field.
        """
        if cfg.get("model_type") != "qwen2":
            raise ConfigError(f"config.json model_type {cfg.get('model_type')!r} is not 'qwen2'")
        check_full_attention(cfg)
        # Qwen2 always has q/k/v biases (transformers hard-codes them); no key switches them off.
        return cls(**cls.hf_fields({**_HF_DEFAULTS, **cfg}), attention_bias=True)
