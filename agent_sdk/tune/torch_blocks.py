"""The layers every family's training model is built from, in float32 PyTorch, base weights frozen.

Each mirrors a block of the compiled TVM models: RMSNorm (with Gemma's
``1 + w`` as an offset), projections with optional biases, rotate-half RoPE,
grouped-query attention with the per-layer options the families differ in
(q/k/v biases, per-head q/k RMSNorm before RoPE, the score scale, the RoPE
base, a sliding window) and a gated MLP (SwiGLU or GeGLU). The family files
(:mod:`.torch_llama`, :mod:`.torch_gemma3`) put them together into decoder
blocks; :mod:`.torch_model` into the whole model.

Shapes use ``b`` batch, ``s`` new tokens, ``p`` prefix tokens (keys already
computed), ``h`` hidden size, ``nq``/``nkv`` query/key-value heads, ``g``
query heads per key-value head, ``d`` head width, ``f`` MLP width, ``r`` LoRA rank.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent_sdk.models.gemma3.gemma3_config import Gemma3Config
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig

__all__ = [
    "MLP",
    "Attention",
    "AttentionSpec",
    "FamilySpec",
    "LayerKV",
    "Linear",
    "LoraLinear",
    "ModelConfig",
    "RMSNorm",
    "RopeTables",
    "frozen",
    "rope_tables",
]

ModelConfig = MobileLLMConfig | Gemma3Config
"""A configuration :class:`~agent_sdk.tune.torch_model.TorchLlama` can be built from (Qwen configs subclass MobileLLM's)."""

LayerKV = tuple[torch.Tensor, torch.Tensor]
"""One block run's keys and values after RoPE, each ``(b, nkv, p, d)``."""

RopeTables = Mapping[float, tuple[torch.Tensor, torch.Tensor]]
"""RoPE base → ``(cos, sin)`` ``(s, d)`` at the positions of one forward call."""

# kaiming_uniform_'s negative slope PEFT (and nn.Linear) use: A ~ U(-1/sqrt(in), 1/sqrt(in)).
_KAIMING_A = math.sqrt(5)


def frozen(array: np.ndarray) -> nn.Parameter:
    """A float32 copy of ``array`` as a parameter without gradient."""
    tensor = torch.from_numpy(np.array(array, dtype=np.float32, order="C", copy=True))
    return nn.Parameter(tensor, requires_grad=False)


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * (offset + weight)`` over the last axis.

    ``weight`` is the checkpoint's tensor as stored; Gemma computes with
    ``1 + w`` (``offset=1``), the others with ``w`` (``offset=0``).
    """

    def __init__(self, weight: np.ndarray, eps: float, *, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = frozen(weight)
        self.eps = eps
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight if self.offset == 0.0 else self.offset + self.weight
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * scale


class Linear(nn.Module):
    """``x @ weight.T + bias`` with a frozen ``(out, in)`` weight and an optional frozen ``(out,)`` bias."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        super().__init__()
        self.weight = frozen(weight)
        self.bias = None if bias is None else frozen(bias)

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class LoraLinear(nn.Module):
    """A frozen projection plus a low-rank update: ``x W^T + b + (alpha / r) * dropout(x) A^T B^T``.

    Attributes:
        weight: The frozen base weight ``(out, in)`` (the same tensor as the wrapped layer's).
        bias: The frozen base bias ``(out,)`` or None (the wrapped layer's; PEFT's ``bias="none"``
            leaves it untrained).
        lora_A: ``(r, in)``, PEFT's ``lora_A``.
        lora_B: ``(out, r)``, PEFT's ``lora_B``; zeros at first, so the update starts at 0.
        rank: ``r``.
        alpha: ``lora_alpha``.
        scaling: ``alpha / r``.
    """

    def __init__(self, base: Linear, *, rank: int, alpha: float, dropout: float, generator: torch.Generator) -> None:
        super().__init__()
        self.weight = base.weight
        self.bias = base.bias
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.lora_A.weight, a=_KAIMING_A, generator=generator)
            nn.init.zeros_(self.lora_B.weight)

    def delta(self) -> torch.Tensor:
        """The update ``scaling * B @ A`` ``(out, in)``, computed in float64 for merging."""
        b, a = self.lora_B.weight.detach().double(), self.lora_A.weight.detach().double()
        return self.scaling * (b @ a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def rope_tables(positions: torch.Tensor, d: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``(s, d)`` for rotate-half RoPE; angles in float64 so long positions keep float32 precision."""
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    angles = positions.double()[:, None] * inv_freq[None, :]  # (s, d/2)
    angles = torch.cat([angles, angles], dim=-1)  # (s, d)
    return angles.cos().float(), angles.sin().float()


def _rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates pairs ``(i, i + d/2)`` of ``x`` ``(b, n, s, d)`` by the position's angles."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (b, n, s, d)
    return x * cos + rotated * sin


def _visible(s: int, p: int, window: int | None, device: torch.device) -> torch.Tensor:
    """Which keys ``(s, p + s)`` each new query sees: query ``i`` sits at position ``p + i``.

    Causal, and with a window ``w`` only the last ``w`` keys up to and
    including the query's own (``q - k < w``, as the compiled model's
    sliding-window layers and Hugging Face's Gemma 3).
    """
    q = torch.arange(p, p + s, device=device)[:, None]  # (s, 1)
    k = torch.arange(p + s, device=device)[None, :]  # (1, p + s)
    visible = k <= q
    if window is not None:
        visible &= q - k < window
    return visible  # (s, p + s)


@dataclass(frozen=True)
class AttentionSpec:
    """How one layer's attention computes, beyond its weights.

    Attributes:
        heads: Query heads ``nq``.
        kv_heads: Key/value heads ``nkv``.
        head_dim: Width of one head ``d``.
        scale: Factor on the scores before the softmax.
        rope_theta: RoPE base.
        window: Keys a query sees, itself included (a sliding-window layer), or None: all before it.
        bias: The q/k/v projections have biases (Qwen2).
        qk_norm: Per-head RMSNorm on q and k before RoPE (Qwen3, Gemma 3).
        norm_eps: The q/k norms' epsilon.
        norm_offset: The q/k norms' weight offset (Gemma's ``1 + w``).
    """

    heads: int
    kv_heads: int
    head_dim: int
    scale: float
    rope_theta: float
    window: int | None = None
    bias: bool = False
    qk_norm: bool = False
    norm_eps: float = 1e-6
    norm_offset: float = 0.0


class Attention(nn.Module):
    """Causal grouped-query self-attention with separate q/k/v projections (Hugging Face's ``self_attn``)."""

    def __init__(self, spec: AttentionSpec, w: Mapping[str, np.ndarray], prefix: str) -> None:
        super().__init__()
        self.spec = spec
        self.nq, self.nkv, self.d = spec.heads, spec.kv_heads, spec.head_dim

        def proj(name: str, bias: bool) -> Linear:
            return Linear(w[prefix + name + ".weight"], w[prefix + name + ".bias"] if bias else None)

        # registered in LoRA's initialisation order: q, k, v, o
        self.q_proj = proj("q_proj", spec.bias)
        self.k_proj = proj("k_proj", spec.bias)
        self.v_proj = proj("v_proj", spec.bias)
        self.o_proj = proj("o_proj", False)
        self.q_norm: RMSNorm | None = None
        self.k_norm: RMSNorm | None = None
        if spec.qk_norm:
            self.q_norm = RMSNorm(w[prefix + "q_norm.weight"], spec.norm_eps, offset=spec.norm_offset)
            self.k_norm = RMSNorm(w[prefix + "k_norm.weight"], spec.norm_eps, offset=spec.norm_offset)

    def forward(
        self, x: torch.Tensor, rope: RopeTables, past: LayerKV | None, want_kv: bool = True
    ) -> tuple[torch.Tensor, LayerKV | None]:
        """Attention output ``(b, s, h)`` and, if ``want_kv``, the keys/values of ``past`` plus these tokens."""
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.nq, self.d)  # (b, s, nq, d)
        k = self.k_proj(x).view(b, s, self.nkv, self.d)  # (b, s, nkv, d)
        v = self.v_proj(x).view(b, s, self.nkv, self.d).transpose(1, 2)  # (b, nkv, s, d)
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)  # each head on its own, before RoPE
        cos, sin = rope[self.spec.rope_theta]
        q = _rotate_half(q.transpose(1, 2), cos, sin)  # (b, nq, s, d)
        k = _rotate_half(k.transpose(1, 2), cos, sin)  # (b, nkv, s, d)
        kv: LayerKV | None
        if past is not None and past[0].shape[0] == 1 and b > 1:
            # A prefix shared by every row: its keys are read in place, never copied per row
            # (a copy per row and layer was most of a training step's time and memory).
            out = self._shared_prefix_attention(q, k, v, past)  # (b, nq, s, d)
            kv = (torch.cat([past[0].expand(b, -1, -1, -1), k], dim=2),
                  torch.cat([past[1].expand(b, -1, -1, -1), v], dim=2)) if want_kv else None
        else:
            p = 0
            if past is not None:
                p = past[0].shape[2]
                k = torch.cat([past[0].expand(b, -1, -1, -1), k], dim=2)  # (b, nkv, p + s, d)
                v = torch.cat([past[1].expand(b, -1, -1, -1), v], dim=2)  # (b, nkv, p + s, d)
            plain_causal = p == 0 and self.spec.window is None
            mask = None if plain_causal else _visible(s, p, self.spec.window, x.device)  # (s, p + s)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=plain_causal,
                                                 scale=self.spec.scale, enable_gqa=True)  # (b, nq, s, d)
            kv = (k, v) if want_kv else None
        out = out.transpose(1, 2).reshape(b, s, self.nq * self.d)  # (b, s, nq d)
        return self.o_proj(out), kv

    def _shared_prefix_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: LayerKV) -> torch.Tensor:
        """Softmax over the shared prefix's keys ``(1, nkv, p, d)`` and the row's own causal keys, jointly.

        A sliding-window layer reads only the prefix keys some new query can
        see (the last ``window - 1``), a view of the prefix, not a copy.
        """
        b, _, s, d = q.shape
        g = self.nq // self.nkv
        window = self.spec.window
        p = past[0].shape[2]
        lo = 0 if window is None else max(0, p - window + 1)  # first prefix key any new query sees
        pk, pv = past[0][0, :, lo:], past[1][0, :, lo:]  # (nkv, p - lo, d)
        n = p - lo
        visible = _visible(s, p, window, q.device).repeat(g, 1)  # (g s, p + s): rows as qg's, query heads by group
        qg = q.reshape(b, self.nkv, g * s, d)  # (b, nkv, g s, d): query heads grouped under their KV head
        # prefix scores: every row's queries against one copy of the prefix keys
        qf = qg.transpose(0, 1).reshape(self.nkv, b * g * s, d)  # (nkv, b g s, d)
        sp = torch.bmm(qf, pk.transpose(1, 2)).view(self.nkv, b, g * s, n).transpose(0, 1)  # (b, nkv, g s, n)
        if window is not None:
            sp = sp.masked_fill(~visible[:, lo:p], -math.inf)
        sn = qg @ k.transpose(-1, -2)  # (b, nkv, g s, s)
        sn = sn.masked_fill(~visible[:, p:], -math.inf)
        probs = torch.softmax(torch.cat([sp, sn], dim=-1) * self.spec.scale, dim=-1)  # (b, nkv, g s, n + s)
        pp, pn = probs[..., :n], probs[..., n:]
        op = torch.bmm(pp.transpose(0, 1).reshape(self.nkv, b * g * s, n), pv)  # (nkv, b g s, d)
        out = op.view(self.nkv, b, g * s, d).transpose(0, 1) + pn @ v  # (b, nkv, g s, d)
        return out.reshape(b, self.nq, s, d)


class MLP(nn.Module):
    """Gated MLP: ``down(act(gate(x)) * up(x))``; SwiGLU with ``silu``, GeGLU with tanh GELU."""

    def __init__(
        self, w: Mapping[str, np.ndarray], prefix: str, *,
        activation: Callable[[torch.Tensor], torch.Tensor] = F.silu,
    ) -> None:
        super().__init__()
        self.gate_proj = Linear(w[prefix + "gate_proj.weight"])
        self.up_proj = Linear(w[prefix + "up_proj.weight"])
        self.down_proj = Linear(w[prefix + "down_proj.weight"])
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.activation(self.gate_proj(x)) * self.up_proj(x))  # (b, s, f) -> (b, s, h)


@dataclass(frozen=True)
class FamilySpec:
    """What the training model needs to know about one architecture family.

    Attributes:
        config_cls: The family's config dataclass (the exact class the loader returns).
        implemented_fields: Config fields the torch model computes; any other
            field must keep its default, so an option added later fails loudly
            instead of being ignored.
        check_tensors: The family loader's check of tensor names and shapes
            ``(cfg, name → shape, source)``; raises with every problem at once.
        build_layer: Decoder block ``i`` from the config and canonical tensors;
            a module with ``self_attn`` and ``mlp`` children, called as
            ``layer(x, rope, past, want_kv) -> (x, kv)``.
        embed_scale: Factor on the embedding's rows (Gemma: ``sqrt(hidden)``).
        norm_offset: The final norm's weight offset (Gemma's ``1 + w``).
    """

    config_cls: type
    implemented_fields: frozenset[str]
    check_tensors: Callable[[Any, Mapping[str, tuple[int, ...]], str], None]
    build_layer: Callable[[Any, Mapping[str, np.ndarray], int], nn.Module]
    embed_scale: Callable[[Any], float] = lambda _cfg: 1.0
    norm_offset: float = 0.0
