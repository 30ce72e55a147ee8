"""The Gemma 3 text architecture in TVM Relax ``nn``.

Shapes use ``b`` batch (always 1 here), ``s`` tokens in this call, ``h``
hidden size, ``nq``/``nkv`` query/key-value heads, ``d`` head width, ``f``
GeGLU width, ``v`` vocabulary.

Two things the paged KV cache cannot do for Gemma 3 are done here instead:

* **RoPE per layer kind.** TVM's cache rotates q and k with one base for every
  layer; Gemma 3's local layers use ``rope_local_theta`` (10 000) and its
  global layers ``rope_theta`` (1 000 000), and the rotation must follow the
  per-head q/k RMSNorm. The cache is built with ``RopeMode.NONE`` and
  :func:`_rope` rotates q and k at the positions the cache reports
  (``get_query_positions``) before they are handed over.
* **Sliding windows** are the cache's own per-layer ``mha_sliding`` kind
  (``layer_sliding_window_size``): local layers read only the last
  ``sliding_window`` keys from the pages. Within one forward call TVM's
  self-attention over the new tokens is not windowed (measured: a 12-token
  prefill with a window of 4 was off by up to 1.8 in the logits from the
  5th token on), so a call appends at most ``sliding_window`` tokens
  (:func:`max_forward_tokens`; the runtime chunks prefills by it). The cached
  keys of a local layer go through our own kernel
  (:func:`agent_sdk.models.cpu_attention.prefill_paged_sliding_kernel`): TVM's
  CPU one gave NaN or wrong rows depending on memory contents.

RMSNorm weights are stored with Gemma's ``+ 1`` already added (the loader does
it), so every norm here is a plain RMSNorm.
"""

from __future__ import annotations

import math
from typing import Any

from tvm import relax as rx
from tvm import te, tirx
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache, RopeMode, TIRPagedKVCache
from tvm.script import tirx as T
from tvm.target import Target

from agent_sdk.models import cpu_attention
from agent_sdk.models.fast_math import exp2
from agent_sdk.models.gemma3.gemma3_config import Gemma3Config
from agent_sdk.models.norm import RMSNorm
from agent_sdk.quantization.formats import QuantConfig
from agent_sdk.quantization.nn_modules import QEmbedding, QLinear

__all__ = ["HIDDEN_STATES_FUNCTION", "Gemma3ForCausalLM", "export_spec", "max_forward_tokens", "middle_layer"]

HIDDEN_STATES_FUNCTION = "prefill_hidden"
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def middle_layer(cfg: Gemma3Config) -> int:
    """Blocks before the middle hidden state of ``prefill_hidden``."""
    return cfg.num_hidden_layers // 2


def max_forward_tokens(cfg: Gemma3Config) -> int:
    """Most tokens one forward call may append and still honour the sliding window (see the module docstring)."""
    return cfg.sliding_window


def geglu_expr(gate: tirx.PrimExpr, up: tirx.PrimExpr) -> tirx.PrimExpr:
    """``gelu_tanh(gate) * up``.

    ``0.5 g (1 + tanh(y)) = g / (1 + e^(-2y))`` with ``y = sqrt(2/pi) (g + 0.044715 g^3)``;
    ``e^(-2y)`` comes from :func:`exp2` (vectorizes, unlike libm's ``tanh``), its
    exponent clamped to +-126 where the quotient is already ``g`` or 0 in float32.
    """
    y = T.float32(_SQRT_2_OVER_PI) * (gate + T.float32(_GELU_CUBIC) * gate * gate * gate)
    t = T.min(y * T.float32(-2.0 * math.log2(math.e)), T.float32(126.0))
    return gate * up / (T.float32(1.0) + exp2(t))


def _geglu(gate_up: te.Tensor) -> te.Tensor:
    """``(..., 2f)`` gate and up halves side by side -> ``(..., f)``."""
    *lead, two_f = gate_up.shape
    f = two_f // 2
    return te.compute(
        (*lead, f), lambda *idx: geglu_expr(gate_up[idx], gate_up[tuple(idx[:-1]) + (idx[-1] + f,)]), name="geglu"
    )


def _rope(theta: float):  # type: ignore[no-untyped-def]
    """A TE function rotating ``(b, s, n, d)`` by rotate-half RoPE at positions ``(s,)`` with base ``theta``.

    Frequencies ``pos / theta^(2i/d)`` as in HF's ``default`` RoPE.
    """

    def compute(x: te.Tensor, pos: te.Tensor) -> te.Tensor:
        d = int(x.shape[3])
        half = d // 2

        def angle(s: tirx.PrimExpr, i: tirx.PrimExpr) -> tirx.PrimExpr:
            inv_freq = T.exp(T.Cast("float32", i) * T.float32(-2.0 * math.log(theta) / d))
            return T.Cast("float32", pos[s]) * inv_freq

        def rotate(b: Any, s: Any, n: Any, i: Any) -> tirx.PrimExpr:
            a = angle(s, i % half)
            other = T.if_then_else(i < half, -x[b, s, n, i + half], x[b, s, n, i - half])
            return x[b, s, n, i] * T.cos(a) + other * T.sin(a)

        return te.compute(x.shape, rotate, name="rope")

    return compute


class Attention(nn.Module):
    """Grouped-query attention with q/k RMSNorm, per-layer RoPE base, and an optional sliding window."""

    def __init__(self, cfg: Gemma3Config, quant: QuantConfig, layer: int) -> None:
        self.nq, self.nkv, self.d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.kv_dtype = quant.kv_dtype
        self.theta = cfg.rope_local_theta if cfg.is_sliding(layer) else cfg.rope_theta
        self.scale = float(cfg.query_pre_attn_scalar) ** -0.5
        fmt = quant.fmt_for
        self.qkv_proj = QLinear(
            cfg.hidden_size, (self.nq + 2 * self.nkv) * self.d, fmt(f"layers.{layer}.self_attn.qkv_proj"), quant.act
        )
        self.o_proj = QLinear(self.nq * self.d, cfg.hidden_size, fmt(f"layers.{layer}.self_attn.o_proj"), quant.act)
        self.q_norm = RMSNorm(self.d, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(self.d, cfg.rms_norm_eps)

    def forward(self, x: nn.Tensor, kv: PagedKVCache, layer_id: int) -> nn.Tensor:
        b, s, _ = x.shape
        nq, nkv, d = self.nq, self.nkv, self.d
        qkv = op.reshape(self.qkv_proj(x), (b, s, nq + 2 * nkv, d))  # (b, s, nq + 2 nkv, d)
        q, k, v = op.split(qkv, [nq, nq + nkv], axis=2)  # (b, s, nq, d), (b, s, nkv, d), (b, s, nkv, d)
        pos = kv.get_query_positions(b * s)  # (s,) positions in the sequence
        rope = _rope(self.theta)
        q = op.tensor_expr_op(rope, "rope", [self.q_norm(q), pos])  # (b, s, nq, d)
        k = op.tensor_expr_op(rope, "rope", [self.k_norm(k), pos])  # (b, s, nkv, d)
        qkv = op.concat([q, k, v], dim=2)  # (b, s, nq + 2 nkv, d)
        if self.kv_dtype != "float32":
            qkv = qkv.astype(self.kv_dtype)  # TVM's cache takes q/k/v and returns the output in its dtype
        out = kv.attention_with_fused_qkv(layer_id, qkv, nq, sm_scale=self.scale)  # (b, s, nq, d)
        out = out.astype("float32") if self.kv_dtype != "float32" else out
        return self.o_proj(op.reshape(out, (b, s, nq * d)))  # (b, s, h)


class MLP(nn.Module):
    """GeGLU: ``down(gelu_tanh(gate(x)) * up(x))`` with gate and up fused."""

    def __init__(self, cfg: Gemma3Config, quant: QuantConfig, layer: int = 0) -> None:
        fmt = quant.fmt_for
        self.gate_up_proj = QLinear(
            cfg.hidden_size, 2 * cfg.intermediate_size, fmt(f"layers.{layer}.mlp.gate_up_proj"), quant.act
        )
        self.down_proj = QLinear(cfg.intermediate_size, cfg.hidden_size, fmt(f"layers.{layer}.mlp.down_proj"), quant.act)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        gate_up = self.gate_up_proj(x)  # (b, s, 2 f)
        return self.down_proj(op.tensor_expr_op(_geglu, "geglu", [gate_up]))  # (b, s, f) -> (b, s, h)


class DecoderLayer(nn.Module):
    """``x + post_norm(attn(pre_norm(x)))`` then ``x + post_norm(mlp(pre_norm(x)))``."""

    def __init__(self, cfg: Gemma3Config, quant: QuantConfig, layer: int) -> None:
        h, eps = cfg.hidden_size, cfg.rms_norm_eps
        self.input_layernorm = RMSNorm(h, eps)
        self.self_attn = Attention(cfg, quant, layer)
        self.post_attention_layernorm = RMSNorm(h, eps)
        self.pre_feedforward_layernorm = RMSNorm(h, eps)
        self.mlp = MLP(cfg, quant, layer)
        self.post_feedforward_layernorm = RMSNorm(h, eps)

    def forward(self, x: nn.Tensor, kv: PagedKVCache, layer_id: int) -> nn.Tensor:
        x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), kv, layer_id))  # (b, s, h)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))  # (b, s, h)


class Gemma3ForCausalLM(nn.Module):
    """The whole model, with the entry points the runtime calls.

    Args:
        cfg: Hyper-parameters.
        quant: Storage format of the weights.
    """

    def __init__(self, cfg: Gemma3Config, quant: QuantConfig) -> None:
        self.cfg = cfg
        self.quant = quant
        self.embed_tokens = QEmbedding(cfg.vocab_size, cfg.hidden_size, quant.fmt_for("embed_tokens"), quant.head_act)
        self.layers = nn.ModuleList([DecoderLayer(cfg, quant, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def _blocks(self, x: nn.Tensor, kv: PagedKVCache, start: int, stop: int) -> nn.Tensor:
        for i in range(start, stop):
            x = self.layers[i](x, kv, i)
        return x  # (b, s, h)

    def _body(self, x: nn.Tensor, kv: PagedKVCache) -> nn.Tensor:
        return self.norm(self._blocks(x, kv, 0, self.cfg.num_hidden_layers))  # (b, s, h)

    def embed(self, input_ids: nn.Tensor) -> nn.Tensor:
        """Token ids ``(s,)`` int32 → embeddings ``(1, s, h)``, scaled by ``sqrt(h)`` as Gemma does."""
        x = self.embed_tokens(input_ids) * math.sqrt(self.cfg.hidden_size)  # (s, h)
        return op.reshape(x, (1, input_ids.shape[0], self.cfg.hidden_size))  # (1, s, h)

    def prefill(self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache) -> tuple[nn.Tensor, PagedKVCache]:
        """Appends ``s`` tokens; returns the logits of the last one ``(1, 1, v)``."""
        x = self._body(input_embed, paged_kv_cache)  # (1, s, h)

        def last(t: te.Tensor) -> te.Tensor:
            return te.compute((1, 1, t.shape[2]), lambda i, j, k: t[i, t.shape[1] - 1, k], name="last_token")

        x = op.tensor_expr_op(last, "last_token", [x])  # (1, 1, h)
        return self.embed_tokens.lm_head(x), paged_kv_cache  # (1, 1, v)

    def prefill_all(self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache) -> tuple[nn.Tensor, PagedKVCache]:
        """Like :meth:`prefill` but returns logits at every position ``(1, s, v)``."""
        return self.embed_tokens.lm_head(self._body(input_embed, paged_kv_cache)), paged_kv_cache

    def prefill_rows(
        self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache, rows: nn.Tensor
    ) -> tuple[nn.Tensor, PagedKVCache]:
        """Like :meth:`prefill_all` but returns the logits at positions ``rows`` ``(k,)`` only: ``(1, k, v)``."""
        x = op.take(self._body(input_embed, paged_kv_cache), rows, axis=1)  # (1, k, h)
        return self.embed_tokens.lm_head(x), paged_kv_cache

    def prefill_hidden(
        self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache
    ) -> tuple[nn.Tensor, nn.Tensor, PagedKVCache]:
        """Returns ``(final, middle, kv)``: the final norm's output ``(1, s, h)`` and the residual stream after
        the first :func:`middle_layer` blocks ``(1, s, h)``, not normalized."""
        mid = middle_layer(self.cfg)
        middle = self._blocks(input_embed, paged_kv_cache, 0, mid)  # (1, s, h)
        final = self.norm(self._blocks(middle, paged_kv_cache, mid, self.cfg.num_hidden_layers))  # (1, s, h)
        return final, middle, paged_kv_cache

    def hidden_states_info(self) -> dict[str, Any]:
        """What :meth:`prefill_hidden` returns, for the bundle manifest."""
        return {
            "function": HIDDEN_STATES_FUNCTION,
            "outputs": ["final_norm", "middle"],
            "middle_layer": middle_layer(self.cfg),
            "num_hidden_layers": self.cfg.num_hidden_layers,
        }

    def decode(self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache) -> tuple[nn.Tensor, PagedKVCache]:
        """Appends one token ``(1, 1, h)``; returns its logits ``(1, 1, v)``."""
        return self.embed_tokens.lm_head(self._body(input_embed, paged_kv_cache)), paged_kv_cache

    def create_paged_kv_cache(
        self,
        max_batch_size: rx.Var,
        max_total_seq_len: rx.Var,
        prefill_chunk_size: rx.Var,
        page_size: rx.Var,
        support_sliding_window: rx.Var,
    ) -> PagedKVCache:
        """Creates the KV cache: local layers ``mha_sliding`` over ``sliding_window`` keys, RoPE left to the model.

        Global layers get our CPU attention kernels; sliding-window layers keep TVM's.
        """
        cfg = self.cfg
        kinds = ["mha_sliding" if cfg.is_sliding(i) else "mha" for i in range(cfg.num_hidden_layers)]
        with cpu_attention.installed():
            return TIRPagedKVCache(
                attn_kind=kinds,  # type: ignore[arg-type]
                max_batch_size=max_batch_size,
                max_total_seq_len=max_total_seq_len,
                prefill_chunk_size=prefill_chunk_size,
                page_size=page_size,
                support_sliding_window=support_sliding_window,
                layer_partition=rx.ShapeExpr([0, cfg.num_hidden_layers]),
                num_hidden_layers=cfg.num_hidden_layers,
                num_attention_heads=cfg.num_attention_heads,
                num_key_value_heads=cfg.num_key_value_heads,
                qk_head_dim=cfg.head_dim,
                v_head_dim=cfg.head_dim,
                mla_original_qk_head_dim=0,
                mla_original_v_head_dim=0,
                rope_mode=RopeMode.NONE,
                rope_scale=1,
                rope_theta=cfg.rope_theta,  # unused: RopeMode.NONE
                rope_scaling={},
                rope_ext_factors=rx.prim_value(0),
                rotary_dim=cfg.head_dim,
                enable_disaggregation=False,
                dtype=self.quant.kv_dtype,
                target=Target.current(),
                layer_sliding_window_size=cfg.sliding_window,
            )


def export_spec(model: Gemma3ForCausalLM) -> dict[str, Any]:
    """The functions to export and their argument specs (the same entry points as every family)."""
    h = model.cfg.hidden_size
    mode = {"param_mode": "packed", "effect_mode": "none"}
    kv = nn.spec.Object(object_type=PagedKVCache)
    seq = {"input_embed": nn.spec.Tensor([1, "seq_len", h], "float32"), "paged_kv_cache": kv, "$": mode}
    return {
        "embed": {"input_ids": nn.spec.Tensor(["seq_len"], "int32"), "$": mode},
        "prefill": dict(seq),
        "prefill_all": dict(seq),
        "prefill_rows": {**seq, "rows": nn.spec.Tensor(["num_rows"], "int32")},
        HIDDEN_STATES_FUNCTION: dict(seq),
        "decode": {"input_embed": nn.spec.Tensor([1, 1, h], "float32"), "paged_kv_cache": kv, "$": mode},
        "create_paged_kv_cache": {
            "max_batch_size": int,
            "max_total_seq_len": int,
            "prefill_chunk_size": int,
            "page_size": int,
            "support_sliding_window": int,
            "$": {"param_mode": "none", "effect_mode": "none"},
        },
    }
