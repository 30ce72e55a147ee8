"""Configuration of the Qwen3 family (dense models: Qwen3-0.6B, Qwen3-1.7B …).

Qwen3 is the Llama block without biases plus a per-head RMSNorm on queries
and keys (one weight of width ``head_dim`` shared by every head, applied
before RoPE). Its head width is a hyper-parameter of its own: Qwen3-0.6B has
hidden size 1024 and 16 query heads of 128 (2048 wide). It runs on the shared
Llama-style decoder of :mod:`agent_sdk.models.mobilellm` with ``qk_norm`` on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agent_sdk.errors import ConfigError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.qwen2.qwen2_config import check_full_attention

__all__ = ["Qwen3Config"]

# transformers' Qwen3Config defaults for keys a config.json may leave out (head_dim is 128, not hidden / heads).
_HF_DEFAULTS: dict[str, Any] = {
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 32768, "head_dim": 128,
}


@dataclass(frozen=True)
class Qwen3Config(MobileLLMConfig):
    """Hyper-parameters of one Qwen3 model (see :class:`MobileLLMConfig` for the fields).

    The defaults that differ from the Llama ones: ``rope_theta`` 1e6,
    ``rms_norm_eps`` 1e-6, ``qk_norm`` on, ``model_type`` ``qwen3``.
    """

    HEAD_DIM_INDEPENDENT: ClassVar[bool] = True

    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    model_type: str = "qwen3"
    qk_norm: bool = True

    @classmethod
    def from_hf(cls, cfg: dict[str, Any]) -> Qwen3Config:
        """Reads a Hugging Face ``config.json`` of model_type ``qwen3``.

        Args:
            cfg: The parsed config.

        Raises:
            ConfigError: Another model type, a missing key, sliding-window
                attention, attention biases, a RoPE scaling other than the
                default, or inconsistent values; the message names the field.
        """
        if cfg.get("model_type") != "qwen3":
            raise ConfigError(f"config.json model_type {cfg.get('model_type')!r} is not 'qwen3'")
        check_full_attention(cfg)
        if cfg.get("attention_bias"):
            # transformers' Qwen3 puts a bias on o_proj too, which the shared attention does not have.
            raise ConfigError("attention_bias is true: Qwen3 attention biases are not supported")
        return cls(**cls.hf_fields({**_HF_DEFAULTS, **cfg}), qk_norm=True)
