"""The Qwen2 architecture in TVM Relax ``nn``: the shared Llama-style decoder with q/k/v biases.

Everything but the config lives in :mod:`agent_sdk.models.mobilellm.mobilellm_model`;
:class:`~agent_sdk.models.mobilellm.mobilellm_model.Attention` adds the fused
q/k/v bias (``self_attn.qkv_bias``, float32) when ``cfg.attention_bias`` is set.
"""

from __future__ import annotations

from agent_sdk.errors import ConfigError
from agent_sdk.models.mobilellm.mobilellm_model import MobileLLMForCausalLM, export_spec
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.quantization.formats import QuantConfig

__all__ = ["Qwen2ForCausalLM", "export_spec"]


class Qwen2ForCausalLM(MobileLLMForCausalLM):
    """A Qwen2 model with the runtime's entry points (``embed``, ``prefill``, ``decode`` …).

    Args:
        cfg: Hyper-parameters; must have ``attention_bias`` set.
        quant: Storage format of the weights.

    Raises:
        ConfigError: A config without q/k/v biases or with q/k norms.
    """

    def __init__(self, cfg: Qwen2Config, quant: QuantConfig) -> None:
        if not cfg.attention_bias or cfg.qk_norm or cfg.layer_sharing:
            raise ConfigError("a Qwen2 model has q/k/v biases, no q/k norms and no layer sharing")
        super().__init__(cfg, quant)
