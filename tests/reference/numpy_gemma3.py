"""Independent float64 numpy reference forward pass for Gemma 3 text checkpoints.

Written from Hugging Face's ``Gemma3ForCausalLM`` semantics (nothing from
``agent_sdk`` is imported):

* embeddings scaled by ``sqrt(hidden_size)``;
* ``Gemma3RMSNorm``: ``x / sqrt(mean(x^2) + eps) * (1 + w)``;
* per layer: ``input_layernorm`` → q/k/v projections → ``q_norm``/``k_norm``
  per head → rotate-half RoPE (base ``rope_local_base_freq`` on
  ``sliding_attention`` layers, ``rope_theta`` on ``full_attention`` ones) →
  causal GQA scaled by ``query_pre_attn_scalar ** -0.5``, local layers seeing
  the last ``sliding_window`` keys (``q - k < sliding_window``) →
  ``o_proj`` → ``post_attention_layernorm`` → residual; then
  ``pre_feedforward_layernorm`` → ``down(gelu_tanh(gate) * up)`` →
  ``post_feedforward_layernorm`` → residual;
* final norm, tied output head, no logit soft-capping.

:func:`gguf_forward` reads a GGUF ``gemma3`` file with the ``gguf`` package's
own dequantization and undoes llama.cpp's ``+ 1`` on norm weights, so a
loader's bookkeeping (names, norm shift, RoPE layout) is checked against it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["gguf_forward", "gguf_state", "hf_forward", "layer_types", "load_hf_state"]


def load_hf_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``config.json`` and the safetensors weights (float64) of a Hugging Face folder."""
    from safetensors.numpy import load_file

    cfg = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    state = load_file(str(Path(path) / "model.safetensors"))
    return cfg, {k: v.astype(np.float64) for k, v in state.items()}


def layer_types(cfg: Mapping[str, Any]) -> list[str]:
    """``layer_types``, or HF's rule from ``sliding_window_pattern`` (default 6) for older configs."""
    if cfg.get("layer_types"):
        return list(cfg["layer_types"])
    pattern = int(cfg.get("sliding_window_pattern", 6))
    return ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(cfg["num_hidden_layers"])]


def _norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _rope(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """Rotate-half RoPE of ``x`` ``(n, heads, d)`` at ``positions`` ``(n,)``."""
    d = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,)
    ang = positions[:, None].astype(np.float64) * inv[None, :]  # (n, d/2)
    cos = np.concatenate([np.cos(ang), np.cos(ang)], axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], axis=-1)[:, None, :]
    half = d // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def hf_forward(cfg: Mapping[str, Any], w: Mapping[str, np.ndarray], ids: list[int], *, last: int = 0) -> np.ndarray:
    """Logits ``(len(ids), vocab)`` of a Gemma 3 text model, float64.

    Args:
        cfg: The ``config.json`` (``gemma3_text``).
        w: Hugging Face tensor name → weights (norms as stored: ``w``, not ``1 + w``).
        ids: Token ids.
        last: If positive, only the logits of the last ``last`` positions ``(last, vocab)``.
    """
    h = int(cfg["hidden_size"])
    nq = int(cfg["num_attention_heads"])
    nkv = int(cfg.get("num_key_value_heads", nq))
    d = int(cfg.get("head_dim", 256))
    eps = float(cfg.get("rms_norm_eps", 1e-6))
    window = int(cfg["sliding_window"])
    scale = float(cfg.get("query_pre_attn_scalar", d)) ** -0.5
    kinds = layer_types(cfg)
    n = len(ids)
    pos = np.arange(n)
    x = w["model.embed_tokens.weight"][np.asarray(ids)] * math.sqrt(h)  # (n, h)
    qi, ki = np.arange(n)[:, None], np.arange(n)[None, :]
    for i, kind in enumerate(kinds):
        p = f"model.layers.{i}."
        local = kind == "sliding_attention"
        theta = float(cfg.get("rope_local_base_freq", 10000.0)) if local else float(cfg.get("rope_theta", 1e6))
        a = _norm(x, w[p + "input_layernorm.weight"], eps)
        q = (a @ w[p + "self_attn.q_proj.weight"].T).reshape(n, nq, d)
        k = (a @ w[p + "self_attn.k_proj.weight"].T).reshape(n, nkv, d)
        v = (a @ w[p + "self_attn.v_proj.weight"].T).reshape(n, nkv, d)
        q = _rope(_norm(q, w[p + "self_attn.q_norm.weight"], eps), pos, theta)
        k = _rope(_norm(k, w[p + "self_attn.k_norm.weight"], eps), pos, theta)
        allowed = ki <= qi
        if local:
            allowed &= qi - ki < window
        out = np.empty((n, nq, d))
        for head in range(nq):
            kv = head // (nq // nkv)
            s = (q[:, head] @ k[:, kv].T) * scale  # (n, n)
            s = np.where(allowed, s, -np.inf)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out[:, head] = (s / s.sum(axis=-1, keepdims=True)) @ v[:, kv]
        o = out.reshape(n, nq * d) @ w[p + "self_attn.o_proj.weight"].T
        x = x + _norm(o, w[p + "post_attention_layernorm.weight"], eps)
        m = _norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        m = (_gelu_tanh(m @ w[p + "mlp.gate_proj.weight"].T) * (m @ w[p + "mlp.up_proj.weight"].T)) @ w[
            p + "mlp.down_proj.weight"
        ].T
        x = x + _norm(m, w[p + "post_feedforward_layernorm.weight"], eps)
    x = _norm(x[-last:] if last > 0 else x, w["model.norm.weight"], eps)
    return x @ w["model.embed_tokens.weight"].T


_GGUF_LAYER = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "post_ffw_norm": "post_feedforward_layernorm",
}


def gguf_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A GGUF ``gemma3`` file as an HF-style config and float64 weights (``gguf``'s dequantization, norms minus 1)."""
    import gguf

    reader = gguf.GGUFReader(str(path))

    def meta(key: str, default: Any = None) -> Any:
        field = reader.get_field(key)
        return default if field is None else field.contents()

    layers = int(meta("gemma3.block_count"))
    pattern = int(meta("gemma3.attention.sliding_window_pattern", 6))
    cfg = {
        "hidden_size": int(meta("gemma3.embedding_length")),
        "num_attention_heads": int(meta("gemma3.attention.head_count")),
        "num_key_value_heads": int(meta("gemma3.attention.head_count_kv")),
        "head_dim": int(meta("gemma3.attention.key_length")),
        "num_hidden_layers": layers,
        "rms_norm_eps": float(meta("gemma3.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(meta("gemma3.rope.freq_base")),
        "rope_local_base_freq": 10000.0,
        "sliding_window": int(meta("gemma3.attention.sliding_window")),
        "sliding_window_pattern": pattern,
        "query_pre_attn_scalar": int(meta("gemma3.attention.key_length")),
    }
    w: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        values = values.reshape([int(s) for s in reversed(list(t.shape))])
        parts = t.name.split(".")
        if t.name == "token_embd.weight":
            name = "model.embed_tokens.weight"
        elif t.name == "output_norm.weight":
            name = "model.norm.weight"
        else:
            name = f"model.layers.{parts[1]}.{_GGUF_LAYER[parts[2]]}.weight"
        if name.endswith("norm.weight"):
            values = values - 1.0  # llama.cpp's converter stores Gemma's 1 + w
        w[name] = values
    return cfg, w


def gguf_forward(path: Path, ids: list[int], *, last: int = 0) -> np.ndarray:
    """Logits of a GGUF ``gemma3`` file, float64 (``last`` as in :func:`hf_forward`)."""
    cfg, w = gguf_state(path)
    return hf_forward(cfg, w, ids, last=last)
