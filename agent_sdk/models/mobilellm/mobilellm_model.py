"""The MobileLLM architecture in TVM Relax ``nn``.

Shapes use ``b`` batch (always 1 here), ``s`` tokens in this call, ``h``
hidden size, ``nq``/``nkv`` query/key-value heads, ``d`` head width, ``v``
vocabulary. Attention runs through TVM's paged KV cache, which also applies
rotate-half RoPE to q and k (``RopeMode.NORMAL``).

With ``layer_sharing`` every block runs twice in a row; each run has its own
KV-cache layer (the second run attends over keys computed from the first
run's output), so the cache has ``2 * num_hidden_layers`` layers.

``prefill_hidden`` exposes hidden states for embeddings (tool retrieval with
the model itself): the final-norm output, and the residual stream after the
first :func:`middle_layer` blocks (middle layers often make better sentence
embeddings than the last one).
"""

from __future__ import annotations

from typing import Any

from tvm import relax as rx
from tvm import te
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache, RopeMode, TIRPagedKVCache
from tvm.target import Target

from agent_sdk.models import cpu_attention
from agent_sdk.models.fast_math import swiglu
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.norm import RMSNorm
from agent_sdk.quantization.formats import QuantConfig
from agent_sdk.quantization.nn_modules import QEmbedding, QLinear

__all__ = ["HIDDEN_STATES_FUNCTION", "MobileLLMForCausalLM", "export_spec", "middle_layer"]

HIDDEN_STATES_FUNCTION = "prefill_hidden"


def middle_layer(cfg: MobileLLMConfig) -> int:
    """Distinct blocks (both runs of each, with layer sharing) before the middle hidden state."""
    return cfg.num_hidden_layers // 2


class Attention(nn.Module):
    """Grouped-query self-attention with fused q/k/v projection.

    Options of the config: ``attention_bias`` adds a float32 bias to the fused
    q/k/v projection (Qwen2); ``qk_norm`` normalizes each query and key head
    with its own RMSNorm before the cache applies RoPE (Qwen3).
    """

    def __init__(self, cfg: MobileLLMConfig, quant: QuantConfig, layer: int = 0) -> None:
        self.nq, self.nkv, self.d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.kv_dtype = quant.kv_dtype
        fmt = quant.fmt_for
        self.qkv_proj = QLinear(
            cfg.hidden_size, (self.nq + 2 * self.nkv) * self.d, fmt(f"layers.{layer}.self_attn.qkv_proj"), quant.act
        )
        self.o_proj = QLinear(self.nq * self.d, cfg.hidden_size, fmt(f"layers.{layer}.self_attn.o_proj"), quant.act)
        # Biases stay float32 whatever the weights' format: they are tiny and set the head's offset.
        self.qkv_bias = nn.Parameter(((self.nq + 2 * self.nkv) * self.d,), "float32") if cfg.attention_bias else None
        self.q_norm = RMSNorm(self.d, cfg.rms_norm_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(self.d, cfg.rms_norm_eps) if cfg.qk_norm else None

    def forward(self, x: nn.Tensor, kv: PagedKVCache, layer_id: int) -> nn.Tensor:
        b, s, _ = x.shape
        qkv = self.qkv_proj(x)  # (b, s, (nq + 2 nkv) d)
        if self.qkv_bias is not None:
            qkv = qkv + self.qkv_bias  # (b, s, (nq + 2 nkv) d)
        qkv = op.reshape(qkv, (b, s, self.nq + 2 * self.nkv, self.d))  # (b, s, nq + 2 nkv, d)
        if self.q_norm is not None and self.k_norm is not None:
            # The cache rotates q and k itself, so the norms go on the split heads before it.
            q, k, v = op.split(qkv, [self.nq, self.nq + self.nkv], axis=2)  # (b, s, nq|nkv|nkv, d)
            qkv = op.concat([self.q_norm(q), self.k_norm(k), v], dim=2)  # (b, s, nq + 2 nkv, d)
        if self.kv_dtype != "float32":
            # TVM's cache takes q/k/v and returns the output in its own dtype
            qkv = qkv.astype(self.kv_dtype)
        out = kv.attention_with_fused_qkv(layer_id, qkv, self.nq, sm_scale=self.d**-0.5)  # (b, s, nq, d)
        out = out.astype("float32") if self.kv_dtype != "float32" else out
        out = op.reshape(out, (b, s, self.nq * self.d))  # (b, s, h)
        return self.o_proj(out)


class MLP(nn.Module):
    """SwiGLU: ``down(silu(gate(x)) * up(x))`` with gate and up fused."""

    def __init__(self, cfg: MobileLLMConfig, quant: QuantConfig, layer: int = 0) -> None:
        self.f = cfg.intermediate_size
        self.gate_up_proj = QLinear(cfg.hidden_size, 2 * self.f, quant.fmt_for(f"layers.{layer}.mlp.gate_up_proj"),
                                    quant.act)
        self.down_proj = QLinear(self.f, cfg.hidden_size, quant.fmt_for(f"layers.{layer}.mlp.down_proj"), quant.act)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        gate_up = self.gate_up_proj(x)  # (b, s, 2 f)
        # silu(gate) * up in one element-wise kernel with a vectorizable exp
        return self.down_proj(op.tensor_expr_op(swiglu, "swiglu", [gate_up]))  # (b, s, f) -> (b, s, h)


class DecoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: MobileLLMConfig, quant: QuantConfig, layer: int = 0) -> None:
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, quant, layer)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg, quant, layer)

    def forward(self, x: nn.Tensor, kv: PagedKVCache, layer_id: int) -> nn.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), kv, layer_id)
        return x + self.mlp(self.post_attention_layernorm(x))


class MobileLLMForCausalLM(nn.Module):
    """The whole model, with the entry points the runtime calls.

    Args:
        cfg: Hyper-parameters.
        quant: Storage format of the weights.
    """

    def __init__(self, cfg: MobileLLMConfig, quant: QuantConfig) -> None:
        self.cfg = cfg
        self.quant = quant
        self.embed_tokens = QEmbedding(cfg.vocab_size, cfg.hidden_size, quant.fmt_for("embed_tokens"), quant.head_act)
        self.layers = nn.ModuleList([DecoderLayer(cfg, quant, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = (
            None if cfg.share_embedding else QLinear(cfg.hidden_size, cfg.vocab_size, quant.fmt_for("lm_head"), quant.head_act)
        )

    def _blocks(self, x: nn.Tensor, kv: PagedKVCache, start: int, stop: int) -> nn.Tensor:
        """Runs decoder blocks ``start`` to ``stop - 1`` on the residual stream ``(b, s, h)``."""
        runs = 2 if self.cfg.layer_sharing else 1
        for i in range(start, stop):
            for r in range(runs):  # immediate block-wise weight sharing
                x = self.layers[i](x, kv, i * runs + r)
        return x  # (b, s, h)

    def _body(self, x: nn.Tensor, kv: PagedKVCache) -> nn.Tensor:
        return self.norm(self._blocks(x, kv, 0, self.cfg.num_hidden_layers))  # (b, s, h)

    def _logits(self, x: nn.Tensor) -> nn.Tensor:
        if self.lm_head is None:
            return self.embed_tokens.lm_head(x)  # (b, s, v)
        return self.lm_head(x)

    def embed(self, input_ids: nn.Tensor) -> nn.Tensor:
        """Token ids ``(s,)`` int32 → embeddings ``(1, s, h)``."""
        x = self.embed_tokens(input_ids)  # (s, h)
        return op.reshape(x, (1, input_ids.shape[0], self.cfg.hidden_size))  # (1, s, h)

    def prefill(self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache) -> tuple[nn.Tensor, PagedKVCache]:
        """Appends ``s`` tokens; returns the logits of the last one ``(1, 1, v)``."""
        x = self._body(input_embed, paged_kv_cache)  # (1, s, h)

        def last(t: te.Tensor) -> te.Tensor:
            return te.compute((1, 1, t.shape[2]), lambda i, j, k: t[i, t.shape[1] - 1, k], name="last_token")

        x = op.tensor_expr_op(last, "last_token", [x])  # (1, 1, h)
        return self._logits(x), paged_kv_cache

    def prefill_all(self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache) -> tuple[nn.Tensor, PagedKVCache]:
        """Like :meth:`prefill` but returns logits at every position ``(1, s, v)``."""
        x = self._body(input_embed, paged_kv_cache)
        return self._logits(x), paged_kv_cache

    def prefill_rows(
        self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache, rows: nn.Tensor
    ) -> tuple[nn.Tensor, PagedKVCache]:
        """Like :meth:`prefill_all` but returns the logits at positions ``rows`` ``(k,)`` only: ``(1, k, v)``."""
        x = op.take(self._body(input_embed, paged_kv_cache), rows, axis=1)  # (1, k, h)
        return self._logits(x), paged_kv_cache

    def prefill_hidden(
        self, input_embed: nn.Tensor, paged_kv_cache: PagedKVCache
    ) -> tuple[nn.Tensor, nn.Tensor, PagedKVCache]:
        """Like :meth:`prefill_all` but returns hidden states instead of logits.

        Returns:
            ``(final, middle, kv)``: the final norm's output ``(1, s, h)`` (what
            the output head reads) and the residual stream after the first
            :func:`middle_layer` blocks ``(1, s, h)``, not normalized.
        """
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
        x = self._body(input_embed, paged_kv_cache)
        return self._logits(x), paged_kv_cache

    def create_paged_kv_cache(
        self,
        max_batch_size: rx.Var,
        max_total_seq_len: rx.Var,
        prefill_chunk_size: rx.Var,
        page_size: rx.Var,
        support_sliding_window: rx.Var,
    ) -> PagedKVCache:
        """Creates the KV cache; sizes are chosen at run time (CPU attention: our kernels)."""
        with cpu_attention.installed():
            return self._paged_kv_cache(
                max_batch_size, max_total_seq_len, prefill_chunk_size, page_size, support_sliding_window
            )

    def _paged_kv_cache(
        self,
        max_batch_size: rx.Var,
        max_total_seq_len: rx.Var,
        prefill_chunk_size: rx.Var,
        page_size: rx.Var,
        support_sliding_window: rx.Var,
    ) -> PagedKVCache:
        cfg = self.cfg
        return TIRPagedKVCache(
            attn_kind="mha",
            max_batch_size=max_batch_size,
            max_total_seq_len=max_total_seq_len,
            prefill_chunk_size=prefill_chunk_size,
            page_size=page_size,
            support_sliding_window=support_sliding_window,
            layer_partition=rx.ShapeExpr([0, cfg.num_layer_runs]),
            num_hidden_layers=cfg.num_layer_runs,
            num_attention_heads=cfg.num_attention_heads,
            num_key_value_heads=cfg.num_key_value_heads,
            qk_head_dim=cfg.head_dim,
            v_head_dim=cfg.head_dim,
            mla_original_qk_head_dim=0,
            mla_original_v_head_dim=0,
            rope_mode=RopeMode.NORMAL,
            rope_scale=1,
            rope_theta=cfg.rope_theta,
            rope_scaling={},
            rope_ext_factors=rx.prim_value(0),
            rotary_dim=cfg.head_dim,
            enable_disaggregation=False,
            dtype=self.quant.kv_dtype,
            target=Target.current(),
        )


def export_spec(model: MobileLLMForCausalLM) -> dict[str, Any]:
    """The functions to export and their argument specs."""
    h = model.cfg.hidden_size
    mode = {"param_mode": "packed", "effect_mode": "none"}
    kv = nn.spec.Object(object_type=PagedKVCache)
    return {
        "embed": {"input_ids": nn.spec.Tensor(["seq_len"], "int32"), "$": mode},
        "prefill": {"input_embed": nn.spec.Tensor([1, "seq_len", h], "float32"), "paged_kv_cache": kv, "$": mode},
        "prefill_all": {"input_embed": nn.spec.Tensor([1, "seq_len", h], "float32"), "paged_kv_cache": kv, "$": mode},
        "prefill_rows": {
            "input_embed": nn.spec.Tensor([1, "seq_len", h], "float32"), "paged_kv_cache": kv,
            "rows": nn.spec.Tensor(["num_rows"], "int32"), "$": mode,
        },
        HIDDEN_STATES_FUNCTION: {
            "input_embed": nn.spec.Tensor([1, "seq_len", h], "float32"), "paged_kv_cache": kv, "$": mode,
        },
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
