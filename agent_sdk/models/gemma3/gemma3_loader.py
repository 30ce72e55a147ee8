"""Load Gemma 3 text checkpoints: Hugging Face folders (``gemma3_text``) and GGUF files (``gemma3``).

Both are mapped to Hugging Face tensor names, checked name by name and shape
by shape, then converted to the parameters of :class:`Gemma3ForCausalLM`.

RMSNorm weights: Hugging Face stores ``w`` and computes ``x * (1 + w)``;
llama.cpp's converter (``Gemma3Model``, ``norm_shift = 1``) stores ``w + 1``
in GGUF. Canonical tensors hold Hugging Face's ``w`` (the GGUF loader subtracts
the 1 back), and :func:`build_params` adds the 1 so the model's norms are plain
RMSNorms. GGUF Q/K rows are not permuted for Gemma (llama.cpp rotates them
NeoX-style, which is rotate-half).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.models.checkpoint_io import (
    GGUFFile,
    open_checkpoint,
    raise_tensor_problems,
    read_gguf,
    read_hf_weights,
    tensor_shape_problems,
)
from agent_sdk.models.gemma3.gemma3_config import DEFAULT_LOCAL_ROPE_THETA, Gemma3Config, default_layer_types
from agent_sdk.models.gguf_source import TensorSource, layer_sources, module_params
from agent_sdk.models.gguf_tokenizer import gguf_tokenizer
from agent_sdk.models.mobilellm import mobilellm_loader as llama_io
from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint
from agent_sdk.quantization import formats as qf

__all__ = ["GGUF_ARCHITECTURE", "build_params", "check_tensors", "expected_tensors", "load_checkpoint"]

GGUF_ARCHITECTURE = "gemma3"
_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
_QK_NORMS = ("self_attn.q_norm", "self_attn.k_norm")
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def expected_tensors(cfg: Gemma3Config) -> dict[str, tuple[int, ...]]:
    """Canonical tensor name → shape that a checkpoint for ``cfg`` must hold."""
    h, f, d = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg.vocab_size, h)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        out.update({p + f"{n}.weight": (h,) for n in _NORMS})
        out.update({p + f"{n}.weight": (d,) for n in _QK_NORMS})
        out.update({
            p + "self_attn.q_proj.weight": (nq * d, h),
            p + "self_attn.k_proj.weight": (nkv * d, h),
            p + "self_attn.v_proj.weight": (nkv * d, h),
            p + "self_attn.o_proj.weight": (h, nq * d),
            p + "mlp.gate_proj.weight": (f, h),
            p + "mlp.up_proj.weight": (f, h),
            p + "mlp.down_proj.weight": (h, f),
        })
    out["model.norm.weight"] = (h,)
    return out


def check_tensors(cfg: Gemma3Config, shapes: Mapping[str, tuple[int, ...]], source: Path | str) -> None:
    """Every expected tensor is there with its shape, and nothing else; all problems at once."""
    problems = tensor_shape_problems(
        expected_tensors(cfg), shapes, ignored=lambda n: n.endswith(_IGNORED_SUFFIXES) or n == "lm_head.weight"
    )
    raise_tensor_problems(problems, source)


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Reads a Hugging Face folder or a GGUF file.

    Args:
        path: A folder with ``config.json`` or a ``.gguf`` file.

    Raises:
        ModelFormatError: Unreadable files, missing or mis-shaped tensors.
        ConfigError: An unsupported or inconsistent configuration.
    """
    return open_checkpoint(path, hf=_load_hf, gguf=_load_gguf)


# ---------------------------------------------------------------- Hugging Face


def _load_hf(folder: Path) -> Checkpoint:
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise ModelFormatError(f"{folder}: no config.json; not a Hugging Face model folder")
    raw_cfg = llama_io._read_json_object(cfg_path, invalid=ConfigError)
    llama_io._check_hf_config_types(raw_cfg, cfg_path)
    if raw_cfg.get("model_type") == "gemma3":
        raise ConfigError(f"{cfg_path}: multimodal Gemma 3 checkpoints (model_type 'gemma3') are not supported; "
                          "use a text-only one (model_type 'gemma3_text', e.g. Gemma 3 270M/1B)")
    try:
        cfg = Gemma3Config.from_hf(raw_cfg)
    except ConfigError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from exc
    weights = read_hf_weights(folder)
    tensors = {k: TensorSource(tuple(v.shape), array=v) for k, v in weights.items()}
    check_tensors(cfg, {k: t.shape for k, t in tensors.items()}, folder)
    dtypes: dict[str, int] = {}
    for v in weights.values():
        dtypes[str(v.dtype)] = dtypes.get(str(v.dtype), 0) + 1
    files: dict[str, bytes] = {}
    if (folder / "tokenizer.json").exists():
        files["tokenizer.json"] = (folder / "tokenizer.json").read_bytes()
    elif (folder / "tokenizer.model").exists():
        files["tokenizer.model"] = (folder / "tokenizer.model").read_bytes()
    else:
        raise ModelFormatError(f"{folder}: no tokenizer.json or tokenizer.model")
    llama_io._check_tokenizer_file(folder, files)
    meta = llama_io._hf_tokenizer_meta(folder, cfg, files)  # type: ignore[arg-type]
    return Checkpoint(cfg, tensors, files, meta, folder, "hf", dtypes)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ GGUF

_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
}
_GGUF_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def _gguf_name(name: str) -> str:
    if name in _GGUF_GLOBAL_NAMES:
        return _GGUF_GLOBAL_NAMES[name]
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in _GGUF_LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_GGUF_LAYER_NAMES[parts[2]]}"
    return name  # reported as unexpected by the check


def _is_norm(canon: str) -> bool:
    return canon.endswith("norm.weight")


def _gguf_config(gf: GGUFFile, path: Path) -> Gemma3Config:
    md = gf.metadata
    arch = GGUF_ARCHITECTURE

    def num(k: str, kind: type = int, default: Any = llama_io._REQUIRED) -> Any:
        return llama_io._gguf_value(md, f"{arch}.{k}", kind, path, default)

    scaling = llama_io._gguf_value(md, f"{arch}.rope.scaling.type", str, path, "none")
    factor = num("rope.scaling.factor", float, 1.0)
    if scaling not in ("none", "linear") or (scaling == "linear" and factor != 1.0):
        raise ConfigError(f"{path}: GGUF RoPE scaling {scaling!r} (factor {factor}) is not supported")
    tokens = md.get("tokenizer.ggml.tokens")
    layers = num("block_count")
    head_dim = num("attention.key_length", default=256)
    if num("attention.value_length", default=head_dim) != head_dim:
        raise ConfigError(f"{path}: key_length {head_dim} != value_length; not a Gemma 3 model")
    pattern = num("attention.sliding_window_pattern", default=None)
    try:
        return Gemma3Config(
            vocab_size=num("vocab_size", default=len(tokens) if isinstance(tokens, list) else 0),
            hidden_size=num("embedding_length"),
            intermediate_size=num("feed_forward_length"),
            num_hidden_layers=layers,
            num_attention_heads=num("attention.head_count"),
            num_key_value_heads=num("attention.head_count_kv"),
            head_dim=head_dim,
            rms_norm_eps=num("attention.layer_norm_rms_epsilon", float, 1e-6),
            rope_theta=num("rope.freq_base", float, 1_000_000.0),
            rope_local_theta=DEFAULT_LOCAL_ROPE_THETA,  # llama.cpp's gemma3 hparams hard-code it too
            sliding_window=num("attention.sliding_window", default=512),
            layer_types=default_layer_types(layers) if pattern is None else default_layer_types(layers, pattern),
            # llama.cpp: 1/sqrt(key_length) for every Gemma 3 size but 27B, whose scalar HF gives as hidden/heads.
            query_pre_attn_scalar=float(head_dim),
            context_window=num("context_length", default=32768),
            share_embedding=True,
            bos_token_id=llama_io._gguf_value(md, "tokenizer.ggml.bos_token_id", int, path, None),
            eos_token_id=(llama_io._gguf_value(md, "tokenizer.ggml.eos_token_id", int, path, 1),),
            model_type="gemma3_text",
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _load_gguf(path: Path) -> Checkpoint:
    gf = read_gguf(path)
    arch = gf.metadata.get("general.architecture")
    if arch != GGUF_ARCHITECTURE:
        raise ConfigError(f"{path}: GGUF architecture {arch!r} is not {GGUF_ARCHITECTURE!r}")
    cfg = _gguf_config(gf, path)
    canon_names: dict[str, str] = {}
    types: dict[str, int] = {}
    problems = []
    for t in gf.tensors.values():
        canon = _gguf_name(t.name)
        if canon in canon_names.values():
            problems.append(f"tensor {t.name} is a second {canon}")
        canon_names[t.name] = canon
        tname = qf.GGML_TYPE_NAMES.get(t.ggml_type, f"type{t.ggml_type}")
        types[tname] = types.get(tname, 0) + 1
        if t.ggml_type not in qf.GGML_TYPE_NAMES:
            problems.append(f"tensor {t.name} has GGML type {t.ggml_type}; supported: "
                            f"{', '.join(qf.GGML_TYPE_NAMES.values())}")
    if problems:
        raise ModelFormatError(f"{path}: " + "; ".join(problems))
    check_tensors(cfg, {canon_names[t.name]: t.shape for t in gf.tensors.values()}, path)
    tensors: dict[str, TensorSource] = {}
    for t in gf.tensors.values():
        canon = canon_names[t.name]
        raw = np.asarray(t.data)
        if len(t.shape) == 1:
            values = qf.dequantize_gguf(raw, t.ggml_type, 1, t.shape[0]).reshape(t.shape)
            if _is_norm(canon):
                values = values - np.float32(1.0)  # GGUF stores Gemma's 1 + w; canonical is HF's w
            tensors[canon] = TensorSource(t.shape, array=values)
            continue
        raw2 = raw.reshape(t.shape[0], -1)
        if t.ggml_type in (qf.GGML_F32, qf.GGML_F16):
            tensors[canon] = TensorSource(t.shape, array=qf.dequantize_gguf(raw2, t.ggml_type, *t.shape))
        else:
            tensors[canon] = TensorSource(t.shape, ggml_type=t.ggml_type, raw=raw2)
    tok_files, meta = _gguf_tokenizer(gf, path)
    return Checkpoint(cfg, tensors, tok_files, meta, path, "gguf", types)  # type: ignore[arg-type]


def _gguf_tokenizer(gf: GGUFFile, path: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The tokenizer files and metadata of a GGUF file (Gemma's SentencePiece ``llama`` vocabulary, or BPE)."""
    tok_json, meta = gguf_tokenizer(gf, path)
    return {"tokenizer.json": tok_json}, meta


# ------------------------------------------------------------- to parameters


def build_params(
    ckpt: Checkpoint,
    linear_fmt: str,
    embed_fmt: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    layouts: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Converts a checkpoint to the named parameters of :class:`Gemma3ForCausalLM`.

    Args:
        ckpt: The loaded checkpoint.
        linear_fmt: Format of the projections.
        embed_fmt: Format of the embedding (also the output head).
        progress: Called with (done, total) after each layer.
        layouts: Per-module formats overriding ``linear_fmt`` / ``embed_fmt``, by parameter prefix
            (:attr:`agent_sdk.quantization.formats.QuantConfig.layouts`).

    Returns:
        Parameter name → array; norms with Gemma's ``+ 1`` folded in.
    """
    cfg, t = ckpt.config, ckpt.tensors
    assert isinstance(cfg, Gemma3Config)
    out: dict[str, np.ndarray] = {}

    def put(prefix: str, names: list[str]) -> None:
        out.update(module_params(t, prefix, names, qf.module_format(prefix, linear_fmt, embed_fmt, layouts or {})))

    def norm(name: str) -> np.ndarray:
        return (t[name].as_float() + np.float32(1.0)).astype(np.float32)  # Gemma: x * (1 + w)

    put("embed_tokens", ["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p, q = f"model.layers.{i}.", f"layers.{i}."
        for n in (*_NORMS, *_QK_NORMS):
            out[q + f"{n}.weight"] = norm(p + f"{n}.weight")
        for module, names in layer_sources(i).items():
            put(q + module, names)
        if progress:
            progress(i + 1, cfg.num_hidden_layers)
    out["norm.weight"] = norm("model.norm.weight")
    return out
