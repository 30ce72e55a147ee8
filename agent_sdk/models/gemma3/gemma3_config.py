"""Configuration of the Gemma 3 family (text models: Gemma 3 270M/1B, FunctionGemma 270M).

Gemma 3 differs from the Llama block in: the embedding scaled by ``sqrt(hidden)``;
RMSNorm computing ``x * (1 + w)`` (the loader folds the 1 into the weights);
RMSNorm on each query and key head before RoPE; norms before *and* after
attention and the MLP; a GeGLU MLP with tanh GELU; attention scaled by
``query_pre_attn_scalar ** -0.5``; and local layers that attend over a sliding
window with their own RoPE base, interleaved with global layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agent_sdk.errors import ConfigError

__all__ = ["FULL_ATTENTION", "SLIDING_ATTENTION", "Gemma3Config", "default_layer_types"]

SLIDING_ATTENTION = "sliding_attention"
FULL_ATTENTION = "full_attention"
# Gemma 3 configs without ``layer_types``: every 6th layer is global (HF's sliding_window_pattern).
DEFAULT_SLIDING_WINDOW_PATTERN = 6
DEFAULT_LOCAL_ROPE_THETA = 10000.0  # HF's rope_local_base_freq; llama.cpp hard-codes it for gemma3
_HF_MODEL_TYPES = ("gemma3_text", "gemma3")
_GELU_TANH = ("gelu_pytorch_tanh", "gelu_tanh")


def default_layer_types(num_layers: int, pattern: int = DEFAULT_SLIDING_WINDOW_PATTERN) -> tuple[str, ...]:
    """Layer kinds of a config that gives only ``sliding_window_pattern``: layer ``i`` is global when ``(i + 1) % pattern == 0``."""
    return tuple(FULL_ATTENTION if (i + 1) % pattern == 0 else SLIDING_ATTENTION for i in range(num_layers))


@dataclass(frozen=True)
class Gemma3Config:
    """Hyper-parameters of one Gemma 3 text model.

    Attributes:
        vocab_size: Tokens in the vocabulary.
        hidden_size: Width of the residual stream.
        intermediate_size: Width of the GeGLU hidden layer.
        num_hidden_layers: Decoder blocks.
        num_attention_heads: Query heads.
        num_key_value_heads: Key/value heads (grouped-query attention).
        head_dim: Width of one head (independent of ``hidden_size``).
        rms_norm_eps: RMSNorm epsilon.
        rope_theta: RoPE base of the global layers.
        rope_local_theta: RoPE base of the sliding-window layers.
        sliding_window: Keys a local layer's query sees, itself included.
        layer_types: ``sliding_attention`` or ``full_attention`` per layer.
        query_pre_attn_scalar: Attention scores are scaled by its ``-0.5`` power.
        context_window: Maximum sequence length.
        share_embedding: Output head reuses the input embedding (always, in Gemma 3).
        bos_token_id: Beginning-of-sequence token.
        eos_token_id: End-of-sequence token(s).
        model_type: ``gemma3_text`` or ``gemma3``.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int = 256
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    rope_local_theta: float = DEFAULT_LOCAL_ROPE_THETA
    sliding_window: int = 512
    layer_types: tuple[str, ...] = ()
    query_pre_attn_scalar: float = 256.0
    context_window: int = 32768
    share_embedding: bool = True
    bos_token_id: int | None = 2
    eos_token_id: tuple[int, ...] = (1,)
    model_type: str = "gemma3_text"

    def __post_init__(self) -> None:
        if not self.layer_types and self.num_hidden_layers > 0:
            object.__setattr__(self, "layer_types", default_layer_types(self.num_hidden_layers))
        object.__setattr__(self, "layer_types", tuple(self.layer_types))
        problems = []
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "head_dim", "sliding_window", "context_window"):
            if int(getattr(self, name)) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("rope_theta", "rope_local_theta", "query_pre_attn_scalar", "rms_norm_eps"):
            if not float(getattr(self, name)) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if not problems:
            if self.num_attention_heads % self.num_key_value_heads:
                problems.append(
                    f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                    f"num_key_value_heads ({self.num_key_value_heads})"
                )
            if self.head_dim % 2:
                problems.append(f"head_dim must be even for RoPE, got {self.head_dim}")
            if len(self.layer_types) != self.num_hidden_layers:
                problems.append(f"layer_types has {len(self.layer_types)} entries for {self.num_hidden_layers} layers")
            bad = sorted({t for t in self.layer_types if t not in (SLIDING_ATTENTION, FULL_ATTENTION)})
            if bad:
                problems.append(f"layer_types {bad} are not {SLIDING_ATTENTION!r} or {FULL_ATTENTION!r}")
            if not self.share_embedding:
                problems.append("Gemma 3 ties the output head to the embedding; share_embedding must be true")
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))

    @property
    def num_layer_runs(self) -> int:
        """Decoder block executions per token (KV-cache layers)."""
        return self.num_hidden_layers

    @property
    def layer_sharing(self) -> bool:
        """Gemma 3 has no block-wise weight sharing (read by code written for any family)."""
        return False

    def is_sliding(self, layer: int) -> bool:
        """Whether ``layer`` attends over the sliding window (a local layer)."""
        return self.layer_types[layer] == SLIDING_ATTENTION

    def parameter_count(self) -> int:
        """Exact number of parameters; the tied embedding is counted once."""
        h, f, d = self.hidden_size, self.intermediate_size, self.head_dim
        attn = h * d * (2 * self.num_attention_heads + 2 * self.num_key_value_heads) + 2 * d  # q, k, v, o; q/k norms
        per_layer = attn + 3 * h * f + 4 * h  # GeGLU; four block norms
        return self.vocab_size * h + self.num_hidden_layers * per_layer + h

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["eos_token_id"] = list(self.eos_token_id)
        out["layer_types"] = list(self.layer_types)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gemma3Config:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("eos_token_id", "layer_types"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def from_hf(cls, cfg: dict[str, Any]) -> Gemma3Config:
        """Reads a Hugging Face ``config.json`` of model_type ``gemma3_text`` (or a ``gemma3`` with ``text_config``).

        Args:
            cfg: The parsed config.

        Raises:
            ConfigError: A required key is missing, a feature is not supported
                (logit soft-capping, RoPE scaling, bidirectional attention,
                another activation), or the values are inconsistent.
        """
        model_type = cfg.get("model_type")
        if model_type not in _HF_MODEL_TYPES:
            raise ConfigError(f"config.json model_type {model_type!r} is not supported (expected 'gemma3_text')")
        text = cfg.get("text_config") if model_type == "gemma3" else cfg
        if not isinstance(text, dict):
            raise ConfigError("config.json of model_type 'gemma3' has no text_config object")
        required = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"]
        missing = [k for k in required if k not in text]
        if missing:
            raise ConfigError(f"config.json is missing {', '.join(missing)}")
        problems = []
        act = text.get("hidden_activation", text.get("hidden_act", "gelu_pytorch_tanh"))
        if act not in _GELU_TANH:
            problems.append(f"hidden_activation {act!r} is not supported (only tanh GELU)")
        for key in ("final_logit_softcapping", "attn_logit_softcapping"):
            if text.get(key) is not None:
                problems.append(f"{key} {text[key]!r} is not supported (Gemma 3 has none)")
        if text.get("attention_bias"):
            problems.append("attention_bias is not supported")
        if text.get("use_bidirectional_attention"):
            problems.append("use_bidirectional_attention (EmbeddingGemma) is not supported")
        full, local = _rope_thetas(text, problems)
        if problems:
            raise ConfigError("; ".join(problems))
        heads = int(text["num_attention_heads"])
        layers = int(text["num_hidden_layers"])
        types = text.get("layer_types")
        if types is None:
            types = default_layer_types(layers, int(text.get("sliding_window_pattern") or DEFAULT_SLIDING_WINDOW_PATTERN))
        eos = cfg.get("eos_token_id", text.get("eos_token_id", 1))
        eos_t = tuple(eos) if isinstance(eos, list) else ((eos,) if eos is not None else ())
        head_dim = int(text.get("head_dim") or 256)
        return cls(
            vocab_size=int(text["vocab_size"]),
            hidden_size=int(text["hidden_size"]),
            intermediate_size=int(text["intermediate_size"]),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=int(text.get("num_key_value_heads") or heads),
            head_dim=head_dim,
            rms_norm_eps=float(text.get("rms_norm_eps", 1e-6)),
            rope_theta=full,
            rope_local_theta=local,
            sliding_window=int(text.get("sliding_window") or 4096),
            layer_types=tuple(types),
            query_pre_attn_scalar=float(text.get("query_pre_attn_scalar") or head_dim),
            context_window=int(text.get("max_position_embeddings", 32768)),
            share_embedding=bool(text.get("tie_word_embeddings", True)),
            bos_token_id=cfg.get("bos_token_id", text.get("bos_token_id", 2)),
            eos_token_id=eos_t,
            model_type="gemma3_text",
        )


def _rope_thetas(text: dict[str, Any], problems: list[str]) -> tuple[float, float]:
    """``(global, local)`` RoPE bases from either transformers 4 keys or transformers 5's ``rope_parameters``."""
    params = text.get("rope_parameters")
    if isinstance(params, dict) and FULL_ATTENTION in params:
        full_p, local_p = params.get(FULL_ATTENTION) or {}, params.get(SLIDING_ATTENTION) or {}
        for kind, p in ((FULL_ATTENTION, full_p), (SLIDING_ATTENTION, local_p)):
            if p.get("rope_type", "default") != "default":
                problems.append(f"rope_parameters.{kind} {p!r} is not supported (only the default RoPE)")
        return (float(full_p.get("rope_theta", 1_000_000.0)),
                float(local_p.get("rope_theta", DEFAULT_LOCAL_ROPE_THETA)))
    scaling = text.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        problems.append(f"rope_scaling {scaling!r} is not supported (only the default RoPE)")
    return float(text.get("rope_theta", 1_000_000.0)), float(text.get("rope_local_base_freq", DEFAULT_LOCAL_ROPE_THETA))
