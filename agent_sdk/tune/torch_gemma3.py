"""The Gemma 3 text family of the training model.

What :mod:`agent_sdk.models.gemma3.gemma3_model` compiles: the embedding
scaled by ``sqrt(hidden)``; every RMSNorm computing ``x * (1 + w)`` on the
checkpoint's ``w`` (the compiled model has the 1 folded into its weights);
norms before *and* after attention and the MLP (``input_layernorm`` →
attention → ``post_attention_layernorm``, ``pre_feedforward_layernorm`` → MLP
→ ``post_feedforward_layernorm``, each added to the residual); per-head q/k
RMSNorm before RoPE; scores scaled by ``query_pre_attn_scalar ** -0.5``; a
GeGLU MLP with tanh GELU; the tied output head. Local layers
(``sliding_attention``) use RoPE base ``rope_local_theta`` and see only the
last ``sliding_window`` keys up to and including their own; global layers
use ``rope_theta`` and see every key before them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent_sdk.models.gemma3 import gemma3_loader
from agent_sdk.models.gemma3.gemma3_config import Gemma3Config
from agent_sdk.tune.torch_blocks import MLP, Attention, AttentionSpec, FamilySpec, LayerKV, RMSNorm, RopeTables

__all__ = ["GEMMA3", "Gemma3DecoderLayer"]

NORM_OFFSET = 1.0
"""Gemma's RMSNorm multiplies by ``1 + w``."""

# Every Gemma3Config field is implemented; one added later must keep its default.
_GEMMA3_FIELDS = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_local_theta", "sliding_window",
    "layer_types", "query_pre_attn_scalar", "context_window", "share_embedding", "bos_token_id", "eos_token_id",
    "model_type",
})
_gelu_tanh = functools.partial(F.gelu, approximate="tanh")


def attention_spec(cfg: Gemma3Config, index: int) -> AttentionSpec:
    """Layer ``index``'s attention: local layers windowed with their own RoPE base, global ones full."""
    local = cfg.is_sliding(index)
    return AttentionSpec(
        heads=cfg.num_attention_heads, kv_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
        scale=float(cfg.query_pre_attn_scalar) ** -0.5,
        rope_theta=cfg.rope_local_theta if local else cfg.rope_theta,
        window=cfg.sliding_window if local else None,
        qk_norm=True, norm_eps=cfg.rms_norm_eps, norm_offset=NORM_OFFSET,
    )


class Gemma3DecoderLayer(nn.Module):
    """``x + post_norm(attn(pre_norm(x)))`` then ``x + post_norm(mlp(pre_norm(x)))``."""

    def __init__(self, cfg: Gemma3Config, w: Mapping[str, np.ndarray], index: int) -> None:
        super().__init__()
        p = f"model.layers.{index}."

        def norm(name: str) -> RMSNorm:
            return RMSNorm(w[p + name + ".weight"], cfg.rms_norm_eps, offset=NORM_OFFSET)

        self.input_layernorm = norm("input_layernorm")
        self.self_attn = Attention(attention_spec(cfg, index), w, p + "self_attn.")
        self.post_attention_layernorm = norm("post_attention_layernorm")
        self.pre_feedforward_layernorm = norm("pre_feedforward_layernorm")
        self.mlp = MLP(w, p + "mlp.", activation=_gelu_tanh)
        self.post_feedforward_layernorm = norm("post_feedforward_layernorm")

    def forward(
        self, x: torch.Tensor, rope: RopeTables, past: LayerKV | None, want_kv: bool = True
    ) -> tuple[torch.Tensor, LayerKV | None]:
        attn, kv = self.self_attn(self.input_layernorm(x), rope, past, want_kv)
        x = x + self.post_attention_layernorm(attn)  # (b, s, h)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x))), kv  # (b, s, h)


def _embed_scale(cfg: Gemma3Config) -> float:
    return math.sqrt(cfg.hidden_size)


GEMMA3 = FamilySpec(
    config_cls=Gemma3Config,
    implemented_fields=_GEMMA3_FIELDS,
    check_tensors=gemma3_loader.check_tensors,
    build_layer=Gemma3DecoderLayer,
    embed_scale=_embed_scale,
    norm_offset=NORM_OFFSET,
)
"""Gemma 3 text models (270M, 1B, FunctionGemma)."""
