"""Configuration of the MobileLLM family (and Llama-architecture look-alikes).

MobileLLM (Liu et al., 2024) is a deep-and-thin Llama: RMSNorm, RoPE, SwiGLU,
grouped-query attention, the input embedding shared with the output head, and
optionally *immediate block-wise weight sharing*: each decoder block runs twice
in a row with the same weights. SmolLM2 has the same block structure without
layer sharing, so it uses this config too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from agent_sdk.errors import ConfigError

__all__ = ["MobileLLMConfig"]


@dataclass(frozen=True)
class MobileLLMConfig:
    """Hyper-parameters of one model.

    Attributes:
        vocab_size: Tokens in the vocabulary.
        hidden_size: Width of the residual stream.
        intermediate_size: Width of the SwiGLU hidden layer.
        num_hidden_layers: Distinct decoder blocks (weights stored once each).
        num_attention_heads: Query heads.
        num_key_value_heads: Key/value heads (grouped-query attention).
        head_dim: Width of one head.
        rms_norm_eps: RMSNorm epsilon.
        rope_theta: RoPE base.
        context_window: Maximum sequence length.
        share_embedding: Output head reuses the input embedding.
        layer_sharing: Each block runs twice in a row.
        bos_token_id: Beginning-of-sequence token.
        eos_token_id: End-of-sequence token(s).
        model_type: ``mobilellm`` or ``llama`` (subclasses: their own family).
        attention_bias: The q/k/v projections have biases (Qwen2); the output
            projection never does.
        qk_norm: Per-head RMSNorm (weight of width ``head_dim``) on q and k,
            before RoPE (Qwen3).
    """

    # Families whose head width is its own hyper-parameter (Qwen3) set this;
    # for Llama-style checkpoints ``head_dim * heads != hidden`` means a broken config.
    HEAD_DIM_INDEPENDENT: ClassVar[bool] = False

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int = 0
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    context_window: int = 2048
    share_embedding: bool = True
    layer_sharing: bool = False
    bos_token_id: int | None = 1
    eos_token_id: tuple[int, ...] = (2,)
    model_type: str = "mobilellm"
    attention_bias: bool = False
    qk_norm: bool = False

    def __post_init__(self) -> None:
        if self.head_dim == 0:
            object.__setattr__(self, "head_dim", self.hidden_size // max(self.num_attention_heads, 1))
        problems = []
        for field in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                      "num_attention_heads", "num_key_value_heads", "context_window"):
            if int(getattr(self, field)) <= 0:
                problems.append(f"{field} must be positive, got {getattr(self, field)}")
        if not problems:
            if self.num_attention_heads % self.num_key_value_heads:
                problems.append(
                    f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                    f"num_key_value_heads ({self.num_key_value_heads})"
                )
            if not self.HEAD_DIM_INDEPENDENT and self.head_dim * self.num_attention_heads != self.hidden_size:
                problems.append(
                    f"head_dim ({self.head_dim}) x num_attention_heads ({self.num_attention_heads}) "
                    f"must equal hidden_size ({self.hidden_size})"
                )
            if self.head_dim % 2:
                problems.append(f"head_dim must be even for RoPE, got {self.head_dim}")
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))

    @property
    def num_layer_runs(self) -> int:
        """Decoder block executions per token (twice the blocks with layer sharing)."""
        return self.num_hidden_layers * (2 if self.layer_sharing else 1)

    def parameter_count(self) -> int:
        """Exact number of parameters; the shared embedding is counted once."""
        h, f, d = self.hidden_size, self.intermediate_size, self.head_dim
        attn = h * d * self.num_attention_heads * 2 + h * d * self.num_key_value_heads * 2
        if self.attention_bias:
            attn += d * (self.num_attention_heads + 2 * self.num_key_value_heads)
        if self.qk_norm:
            attn += 2 * d
        per_layer = attn + 3 * h * f + 2 * h
        head = 0 if self.share_embedding else self.vocab_size * h
        return self.vocab_size * h + self.num_hidden_layers * per_layer + h + head

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["eos_token_id"] = list(self.eos_token_id)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MobileLLMConfig":
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "eos_token_id" in kwargs:
            kwargs["eos_token_id"] = tuple(kwargs["eos_token_id"])
        return cls(**kwargs)

    @classmethod
    def from_hf(cls, cfg: dict[str, Any]) -> "MobileLLMConfig":
        """Reads a Hugging Face ``config.json`` of model_type ``mobilellm`` or ``llama``.

        Args:
            cfg: The parsed config.

        Raises:
            ConfigError: If a required key is missing, the model type is not
                supported, or the values are inconsistent.
        """
        model_type = cfg.get("model_type")
        if model_type not in ("mobilellm", "llama"):
            raise ConfigError(f"config.json model_type {model_type!r} is not supported (expected 'mobilellm' or 'llama')")
        if cfg.get("attention_bias") or cfg.get("mlp_bias"):
            raise ConfigError("attention_bias / mlp_bias are not supported by this architecture")
        return cls(**cls.hf_fields(cfg))

    @staticmethod
    def hf_fields(cfg: dict[str, Any]) -> dict[str, Any]:
        """The fields every Llama-style ``config.json`` spells alike, as constructor arguments.

        Family configs (Qwen2, Qwen3) call this and add their own options.

        Raises:
            ConfigError: A required key is missing, or an activation or RoPE
                scaling this code does not implement.
        """
        required = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"]
        missing = [k for k in required if k not in cfg]
        if missing:
            raise ConfigError(f"config.json is missing {', '.join(missing)}")
        if cfg.get("hidden_act", "silu") != "silu":
            raise ConfigError(f"hidden_act {cfg['hidden_act']!r} is not supported (only 'silu')")
        # transformers >= 5 keeps RoPE settings in rope_parameters; older ones in rope_theta/rope_scaling.
        rope = cfg.get("rope_parameters") or {}
        scaling = cfg.get("rope_scaling") or (rope if "rope_type" in rope else None)
        if scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
            raise ConfigError(f"rope_scaling {scaling!r} is not supported (only the default RoPE)")
        rope_theta = float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        eos = cfg.get("eos_token_id", 2)
        eos_t = tuple(eos) if isinstance(eos, list) else ((eos,) if eos is not None else ())
        # transformers' LlamaConfig defaults tie_word_embeddings to False: an absent key means untied.
        share = bool(cfg.get("share_embedding", False)) or bool(cfg.get("tie_word_embeddings", False))
        heads = int(cfg["num_attention_heads"])
        return {
            "vocab_size": int(cfg["vocab_size"]),
            "hidden_size": int(cfg["hidden_size"]),
            "intermediate_size": int(cfg["intermediate_size"]),
            "num_hidden_layers": int(cfg["num_hidden_layers"]),
            "num_attention_heads": heads,
            "num_key_value_heads": int(cfg.get("num_key_value_heads") or heads),
            "head_dim": int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads),
            "rms_norm_eps": float(cfg.get("rms_norm_eps", 1e-5)),
            "rope_theta": rope_theta,
            "context_window": int(cfg.get("max_position_embeddings", 2048)),
            "share_embedding": share,
            "layer_sharing": bool(cfg.get("layer_sharing", False)),
            "bos_token_id": cfg.get("bos_token_id", 1),
            "eos_token_id": eos_t,
            "model_type": str(cfg["model_type"]),
        }
