"""The Qwen3 architecture in TVM Relax ``nn``: the shared Llama-style decoder with q/k norms.

Everything but the config lives in :mod:`agent_sdk.models.mobilellm.mobilellm_model`;
:class:`~agent_sdk.models.mobilellm.mobilellm_model.Attention` splits the fused
``(b, s, nq + 2 nkv, d)`` projection, applies ``self_attn.q_norm`` /
``self_attn.k_norm`` to each query and key head and concatenates again before
TVM's paged KV cache applies RoPE, as Qwen3 normalizes before rotating.
"""

from __future__ import annotations

from agent_sdk.errors import ConfigError
from agent_sdk.models.mobilellm.mobilellm_model import MobileLLMForCausalLM, export_spec
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config
from agent_sdk.quantization.formats import QuantConfig

__all__ = ["Qwen3ForCausalLM", "export_spec"]


class Qwen3ForCausalLM(MobileLLMForCausalLM):
    """A Qwen3 model with the runtime's entry points (``embed``, ``prefill``, ``decode`` …).

    Args:
        cfg: Hyper-parameters; must have ``qk_norm`` set.
        quant: Storage format of the weights.

    Raises:
        ConfigError: A config without q/k norms or with attention biases.
    """

    def __init__(self, cfg: Qwen3Config, quant: QuantConfig) -> None:
        if not cfg.qk_norm or cfg.attention_bias or cfg.layer_sharing:
            raise ConfigError("a Qwen3 model has q/k norms, no attention biases and no layer sharing")
        super().__init__(cfg, quant)
