"""Load Qwen2 / Qwen3 checkpoints: Hugging Face folders and GGUF files.

The tensors Qwen shares with Llama are checked, named and converted by
:mod:`agent_sdk.models.mobilellm.mobilellm_loader`; this module adds what is
Qwen's own: the q/k/v biases (Qwen2) and the per-head q/k RMSNorm weights
(Qwen3), the config classes, and the GGUF architecture keys (``qwen2.*``,
``qwen3.*``, ``blk.N.attn_{q,k,v}.bias``, ``blk.N.attn_{q,k}_norm.weight``).

llama.cpp's converter permutes Q/K rows only for Llama-architecture models
(its ``LlamaModel.permute``); Qwen2/Qwen3 GGUFs keep Hugging Face's row order
and llama.cpp rotates them with NEOX (rotate-half) RoPE, so no rows are moved
here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.models.checkpoint_io import (
    open_checkpoint,
    raise_tensor_problems,
    read_gguf,
    read_hf_weights,
    tensor_shape_problems,
)
from agent_sdk.models.gguf_source import TensorSource
from agent_sdk.models.gguf_tokenizer import gguf_tokenizer
from agent_sdk.models.mobilellm import mobilellm_loader as llama
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.quantization import formats as qf

__all__ = ["build_params", "check_tensors", "expected_tensors", "load_checkpoint", "load_qwen_checkpoint"]

# GGUF tensor suffix of a block → Hugging Face suffix, for the tensors Llama does not have.
_GGUF_QWEN_LAYER_NAMES = {
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
}
# Keys of config.json this loader reads beyond the Llama ones, and their JSON types.
_HF_QWEN_BOOLS = ("use_sliding_window",)


def _extra_tensors(cfg: MobileLLMConfig) -> dict[str, tuple[int, ...]]:
    """The tensors of ``cfg``'s options that a Llama checkpoint does not have: name → shape."""
    d, nq, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    out: dict[str, tuple[int, ...]] = {}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}.self_attn."
        if cfg.attention_bias:
            out.update({p + "q_proj.bias": (nq * d,), p + "k_proj.bias": (nkv * d,), p + "v_proj.bias": (nkv * d,)})
        if cfg.qk_norm:
            out.update({p + "q_norm.weight": (d,), p + "k_norm.weight": (d,)})
    return out


def expected_tensors(cfg: MobileLLMConfig) -> dict[str, tuple[int, ...]]:
    """Canonical (Hugging Face) tensor name → shape that a checkpoint for ``cfg`` must hold."""
    return {**llama.expected_tensors(cfg), **_extra_tensors(cfg)}


def check_tensors(cfg: MobileLLMConfig, shapes: Mapping[str, tuple[int, ...]], source: Path | str) -> None:
    """Every expected tensor is there with its shape, and nothing else; all problems at once.

    Raises:
        ModelFormatError: Missing, mis-shaped or unexpected tensors, each named.
    """
    problems = tensor_shape_problems(expected_tensors(cfg), shapes, ignored=lambda n: llama.ignored_tensor(cfg, n))
    raise_tensor_problems(problems, source)


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Reads a Qwen2 Hugging Face folder or a ``qwen2`` GGUF file.

    Raises:
        ModelFormatError: Unreadable files, missing or mis-shaped tensors.
        ConfigError: An unsupported or inconsistent configuration.
    """
    return load_qwen_checkpoint(path, config_cls=Qwen2Config, gguf_arch="qwen2")


def load_qwen_checkpoint(path: Path | str, *, config_cls: type[MobileLLMConfig], gguf_arch: str) -> Checkpoint:
    """Reads a Hugging Face folder or GGUF file of one Qwen family.

    Args:
        path: A folder with ``config.json`` or a ``.gguf`` file.
        config_cls: The family's config class (its ``from_hf`` checks ``model_type``).
        gguf_arch: The family's ``general.architecture`` in GGUF files.

    Raises:
        ModelFormatError: Unreadable files, missing or mis-shaped tensors.
        ConfigError: An unsupported or inconsistent configuration.
    """
    return open_checkpoint(
        path, hf=lambda folder: _load_hf(folder, config_cls), gguf=lambda file: _load_gguf(file, config_cls, gguf_arch)
    )


def _load_hf(folder: Path, config_cls: type[MobileLLMConfig]) -> Checkpoint:
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise ModelFormatError(f"{folder}: no config.json; not a Hugging Face model folder")
    raw_cfg = llama._read_json_object(cfg_path, invalid=ConfigError)
    llama._check_hf_config_types(raw_cfg, cfg_path)
    bad = [f"{k} is {raw_cfg[k]!r}; expected true or false" for k in _HF_QWEN_BOOLS
           if raw_cfg.get(k) is not None and not isinstance(raw_cfg[k], bool)]
    if bad:
        raise ConfigError(f"{cfg_path}: " + "; ".join(bad))
    try:
        cfg = config_cls.from_hf(raw_cfg)
    except ConfigError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from exc
    weights = read_hf_weights(folder)
    tensors = {k: TensorSource(tuple(v.shape), array=v) for k, v in weights.items()}
    check_tensors(cfg, {k: t.shape for k, t in tensors.items()}, folder)
    dtypes: dict[str, int] = {}
    for v in weights.values():
        dtypes[str(v.dtype)] = dtypes.get(str(v.dtype), 0) + 1
    if not (folder / "tokenizer.json").exists():
        raise ModelFormatError(f"{folder}: no tokenizer.json (Qwen ships a byte-level BPE tokenizer.json)")
    files = {"tokenizer.json": (folder / "tokenizer.json").read_bytes()}
    llama._check_tokenizer_file(folder, files)
    meta = llama._hf_tokenizer_meta(folder, cfg, files)
    return Checkpoint(cfg, tensors, files, meta, folder, "hf", dtypes)


def _gguf_name(name: str) -> str:
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in _GGUF_QWEN_LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_GGUF_QWEN_LAYER_NAMES[parts[2]]}"
    return llama._gguf_name(name)


def _load_gguf(path: Path, config_cls: type[MobileLLMConfig], arch: str) -> Checkpoint:
    gf = read_gguf(path)
    md = gf.metadata
    if md.get("general.architecture") != arch:
        raise ConfigError(
            f"{path}: GGUF architecture {md.get('general.architecture')!r} is not {arch!r}"
        )

    def num(k: str, kind: type = int, default: Any = llama._REQUIRED) -> Any:
        return llama._gguf_value(md, f"{arch}.{k}", kind, path, default)

    if num("attention.sliding_window", default=0):
        raise ConfigError(f"{path}: GGUF metadata {arch}.attention.sliding_window is set: "
                          "sliding-window attention is not supported")
    tokens = md.get("tokenizer.ggml.tokens")
    heads = num("attention.head_count")
    hidden = num("embedding_length")
    head_dim = num("attention.key_length", default=hidden // heads if heads > 0 else 0)
    if num("attention.value_length", default=head_dim) != head_dim:
        raise ConfigError(f"{path}: GGUF metadata {arch}.attention.value_length differs from key_length ({head_dim})")
    if num("rope.dimension_count", default=head_dim) != head_dim:
        raise ConfigError(f"{path}: GGUF metadata {arch}.rope.dimension_count is not the head width "
                          f"({head_dim}): partial RoPE is not supported")
    if md.get(f"{arch}.rope.scaling.type", "none") not in ("none",):
        raise ConfigError(f"{path}: GGUF metadata {arch}.rope.scaling.type "
                          f"{md[f'{arch}.rope.scaling.type']!r} is not supported (only the default RoPE)")
    eos = llama._gguf_value(md, "tokenizer.ggml.eos_token_id", int, path, None)
    try:
        cfg = config_cls(
            vocab_size=num("vocab_size", default=len(tokens) if isinstance(tokens, list) else 0),
            hidden_size=hidden,
            intermediate_size=num("feed_forward_length"),
            num_hidden_layers=num("block_count"),
            num_attention_heads=heads,
            num_key_value_heads=num("attention.head_count_kv", default=heads),
            head_dim=head_dim,
            rms_norm_eps=num("attention.layer_norm_rms_epsilon", float, 1e-6),
            rope_theta=num("rope.freq_base", float, 1_000_000.0),
            context_window=num("context_length", default=32768),
            share_embedding="output.weight" not in gf.tensors,
            bos_token_id=llama._gguf_value(md, "tokenizer.ggml.bos_token_id", int, path, None),
            eos_token_id=(eos,) if eos is not None else (),
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    # Names, types and shapes are all checked before any tensor is converted.
    canon_names: dict[str, str] = {}
    types: dict[str, int] = {}
    for t in gf.tensors.values():
        canon = _gguf_name(t.name)
        if canon in canon_names.values():
            raise ModelFormatError(f"{path}: tensor {t.name} is a second {canon}")
        canon_names[t.name] = canon
        tname = qf.GGML_TYPE_NAMES.get(t.ggml_type, f"type{t.ggml_type}")
        types[tname] = types.get(tname, 0) + 1
        problem = qf.gguf_tensor_problem(t.ggml_type, t.shape)
        if problem:
            raise ModelFormatError(f"{path}: tensor {t.name} {problem}")
    check_tensors(cfg, {canon_names[t.name]: t.shape for t in gf.tensors.values()}, path)
    tensors: dict[str, TensorSource] = {}
    for t in gf.tensors.values():
        raw = np.asarray(t.data)
        if raw.ndim == 1 or len(t.shape) == 1:
            arr = qf.dequantize_gguf(raw, t.ggml_type, 1, t.shape[-1]).reshape(t.shape)
            tensors[canon_names[t.name]] = TensorSource(t.shape, array=arr)
        elif t.ggml_type in (qf.GGML_F32, qf.GGML_F16):
            arr = qf.dequantize_gguf(raw.reshape(t.shape[0], -1), t.ggml_type, *t.shape)
            tensors[canon_names[t.name]] = TensorSource(t.shape, array=arr)
        else:  # Q/K rows stay as stored: Qwen GGUFs are not permuted (module docstring)
            tensors[canon_names[t.name]] = TensorSource(t.shape, ggml_type=t.ggml_type, raw=raw.reshape(t.shape[0], -1))
    tok_json, meta = gguf_tokenizer(gf, path)
    return Checkpoint(cfg, tensors, {"tokenizer.json": tok_json}, meta, path, "gguf", types)


def build_params(
    ckpt: Checkpoint,
    linear_fmt: str,
    embed_fmt: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    layouts: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Converts a checkpoint to the named parameters of the TVM model.

    The Llama tensors are converted by the shared builder; q/k/v biases become
    one fused float32 ``self_attn.qkv_bias`` per layer (q, then k, then v, as
    the fused projection's rows), q/k norms stay float32.

    Args:
        ckpt: The loaded checkpoint.
        linear_fmt: Format of the projections.
        embed_fmt: Format of the embedding / output head.
        progress: Called with (done, total) after each layer.
        layouts: Per-module formats (see the shared builder).

    Returns:
        Parameter name (as :meth:`nn.Module.named_parameters` spells it) → array.
    """
    cfg, t = ckpt.config, ckpt.tensors
    out = llama.build_params(ckpt, linear_fmt, embed_fmt, progress, layouts=layouts)
    for i in range(cfg.num_hidden_layers):
        p, q = f"model.layers.{i}.self_attn.", f"layers.{i}.self_attn."
        if cfg.attention_bias:
            biases = [t[p + f"{x}_proj.bias"].as_float() for x in "qkv"]
            out[q + "qkv_bias"] = np.ascontiguousarray(np.concatenate(biases))  # ((nq + 2 nkv) d,)
        if cfg.qk_norm:
            out[q + "q_norm.weight"] = np.ascontiguousarray(t[p + "q_norm.weight"].as_float())  # (d,)
            out[q + "k_norm.weight"] = np.ascontiguousarray(t[p + "k_norm.weight"].as_float())  # (d,)
    return out
