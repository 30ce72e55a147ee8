"""The Llama-style families of the training model: Llama, MobileLLM, Qwen2 and Qwen3.

They share :mod:`agent_sdk.models.mobilellm.mobilellm_model`'s decoder, and
so this block: pre-norm, ``x + attn(norm(x))`` then ``x + mlp(norm(x))``,
grouped-query attention scaled by ``head_dim ** -0.5`` with rotate-half RoPE
over the whole head, SwiGLU. The options are the compiled model's: MobileLLM's
layer sharing (every block runs twice in a row; :mod:`.torch_model` runs it),
Qwen2's biases on the q, k and v projections (``attention_bias``), Qwen3's
per-head RMSNorm on q and k before RoPE (``qk_norm``) with a head width of its
own.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from agent_sdk.models.mobilellm import mobilellm_loader
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.qwen2 import qwen2_loader
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen3 import qwen3_loader
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config
from agent_sdk.tune.torch_blocks import MLP, Attention, AttentionSpec, FamilySpec, LayerKV, RMSNorm, RopeTables

__all__ = ["LLAMA", "QWEN2", "QWEN3", "DecoderLayer"]

# The MobileLLMConfig fields a Llama/MobileLLM model implements. A field added later (a RoPE
# scaling, a sliding window) fails loudly unless it keeps its default, instead of being ignored.
_LLAMA_FIELDS = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "context_window", "share_embedding",
    "layer_sharing", "bos_token_id", "eos_token_id", "model_type",
})
# Qwen has no layer sharing (the compiled Qwen models reject it); each adds its own attention option.
_QWEN2_FIELDS = (_LLAMA_FIELDS - {"layer_sharing"}) | {"attention_bias"}
_QWEN3_FIELDS = (_LLAMA_FIELDS - {"layer_sharing"}) | {"qk_norm"}


class DecoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: MobileLLMConfig, w: Mapping[str, np.ndarray], index: int) -> None:
        super().__init__()
        p = f"model.layers.{index}."
        spec = AttentionSpec(
            heads=cfg.num_attention_heads, kv_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
            scale=cfg.head_dim**-0.5, rope_theta=cfg.rope_theta, bias=cfg.attention_bias, qk_norm=cfg.qk_norm,
            norm_eps=cfg.rms_norm_eps,
        )
        self.input_layernorm = RMSNorm(w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
        self.self_attn = Attention(spec, w, p + "self_attn.")
        self.post_attention_layernorm = RMSNorm(w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        self.mlp = MLP(w, p + "mlp.")

    def forward(
        self, x: torch.Tensor, rope: RopeTables, past: LayerKV | None, want_kv: bool = True
    ) -> tuple[torch.Tensor, LayerKV | None]:
        attn, kv = self.self_attn(self.input_layernorm(x), rope, past, want_kv)
        x = x + attn  # (b, s, h)
        return x + self.mlp(self.post_attention_layernorm(x)), kv  # (b, s, h)


LLAMA = FamilySpec(
    config_cls=MobileLLMConfig,
    implemented_fields=_LLAMA_FIELDS,
    check_tensors=mobilellm_loader.check_tensors,
    build_layer=DecoderLayer,
)
"""Llama (SmolLM2) and MobileLLM."""

QWEN2 = FamilySpec(
    config_cls=Qwen2Config,
    implemented_fields=_QWEN2_FIELDS,
    check_tensors=qwen2_loader.check_tensors,
    build_layer=DecoderLayer,
)
"""Qwen2 (Qwen2.5, Hammer2.1, xLAM-2): q/k/v biases."""

QWEN3 = FamilySpec(
    config_cls=Qwen3Config,
    implemented_fields=_QWEN3_FIELDS,
    check_tensors=qwen3_loader.check_tensors,
    build_layer=DecoderLayer,
)
"""Qwen3: per-head q/k RMSNorm before RoPE, a free head width."""
