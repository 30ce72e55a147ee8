"""Load MobileLLM-family checkpoints: Hugging Face folders and GGUF files.

Both formats are mapped to Hugging Face tensor names ("canonical" names),
checked name by name and shape by shape against the config, then converted
to the parameters of :class:`MobileLLMForCausalLM` in the requested storage
format. GGUF blocks are repacked into our layouts as
:data:`agent_sdk.quantization.formats.GGUF_REPACK` says (Q4_0/Q4_1/Q8_0/Q5_0
without requantizing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import AgentSDKError, ConfigError, ModelFormatError
from agent_sdk.models.checkpoint_io import (
    open_checkpoint,
    raise_tensor_problems,
    read_gguf,
    read_hf_weights,
    tensor_shape_problems,
)
from agent_sdk.models.gguf_source import TensorSource, layer_sources, module_params
from agent_sdk.models.gguf_tokenizer import gguf_tokenizer
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.quantization import formats as qf

__all__ = ["Checkpoint", "build_params", "check_tensors", "expected_tensors", "gguf_tokenizer", "load_checkpoint"]

# Tensors some exporters add that carry no weights of ours.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


@dataclass
class Checkpoint:
    """A checkpoint read into memory, not yet converted.

    Attributes:
        config: The model's hyper-parameters.
        tensors: Canonical (Hugging Face) name → tensor.
        tokenizer_files: File name → bytes to copy into a bundle
            (``tokenizer.json`` or ``tokenizer.model``).
        tokenizer_meta: BOS/EOS ids, ``add_bos``, ``chat_template``.
        source: Where it was read from.
        source_format: ``hf`` or ``gguf``.
        weight_types: Storage type name → count, for ``info``.
    """

    config: MobileLLMConfig
    tensors: dict[str, TensorSource]
    tokenizer_files: dict[str, bytes]
    tokenizer_meta: dict[str, Any]
    source: Path
    source_format: str
    weight_types: dict[str, int] = field(default_factory=dict)

    def replace_tensor(self, name: str, array: np.ndarray) -> None:
        """Replaces one tensor with float values of the same shape (a tuned model's merged weight).

        Raises:
            ModelFormatError: No such tensor, or another shape, or values that are not finite.
        """
        if name not in self.tensors:
            raise ModelFormatError(f"{self.source}: no tensor {name} to replace")
        arr = np.asarray(array, dtype=np.float32)
        if tuple(arr.shape) != tuple(self.tensors[name].shape):
            raise ModelFormatError(f"replacement for {name} has shape {tuple(arr.shape)}, "
                                   f"expected {tuple(self.tensors[name].shape)}")
        if not np.isfinite(arr).all():
            raise ModelFormatError(f"replacement for {name} holds NaN or infinite values")
        self.tensors[name] = TensorSource(tuple(arr.shape), array=arr)


def expected_tensors(cfg: MobileLLMConfig) -> dict[str, tuple[int, ...]]:
    """Canonical tensor name → shape that a checkpoint for ``cfg`` must hold."""
    h, f, d = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg.vocab_size, h)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        out.update({
            p + "input_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (nq * d, h),
            p + "self_attn.k_proj.weight": (nkv * d, h),
            p + "self_attn.v_proj.weight": (nkv * d, h),
            p + "self_attn.o_proj.weight": (h, nq * d),
            p + "post_attention_layernorm.weight": (h,),
            p + "mlp.gate_proj.weight": (f, h),
            p + "mlp.up_proj.weight": (f, h),
            p + "mlp.down_proj.weight": (h, f),
        })
    out["model.norm.weight"] = (h,)
    if not cfg.share_embedding:
        out["lm_head.weight"] = (cfg.vocab_size, h)
    return out


def check_tensors(cfg: MobileLLMConfig, shapes: Mapping[str, tuple[int, ...]], source: Path | str) -> None:
    """Every expected tensor is there with its shape, and nothing else; before any is converted."""
    raise_tensor_problems(tensor_shape_problems(expected_tensors(cfg), shapes, ignored=lambda n: ignored_tensor(cfg, n)), source)


def ignored_tensor(cfg: MobileLLMConfig, name: str) -> bool:
    """Whether an unexpected tensor carries no weights of ours (exporters' extras, a tied head's copy)."""
    return name.endswith(_IGNORED_SUFFIXES) or (cfg.share_embedding and name == "lm_head.weight")


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


def _read_json_object(path: Path, invalid: type[AgentSDKError] = ModelFormatError) -> dict[str, Any]:
    """A JSON file that must hold an object; ``invalid`` is raised for text that is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read: {exc}") from exc
    except ValueError as exc:  # not UTF-8
        raise invalid(f"{path}: invalid JSON: {exc}") from exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise invalid(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object, found a JSON {type(data).__name__}")
    return data


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


# Hugging Face config keys and the JSON types from_hf converts them from.
_HF_POSITIVE_INTS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "max_position_embeddings")
_HF_FLOATS = ("rms_norm_eps", "rope_theta")
_HF_BOOLS = ("tie_word_embeddings", "share_embedding", "layer_sharing", "attention_bias", "mlp_bias")
_HF_OBJECTS = ("rope_scaling", "rope_parameters")


def _check_hf_config_types(raw: dict[str, Any], path: Path) -> None:
    """Every value ``from_hf`` converts has the JSON type it expects; all problems at once."""
    problems = []
    for k in _HF_POSITIVE_INTS:
        if raw.get(k) is not None and not (_is_int(raw[k]) and raw[k] > 0):
            problems.append(f"{k} is {raw[k]!r}; expected a positive integer")
    if raw.get("head_dim") is not None and not (_is_int(raw["head_dim"]) and raw["head_dim"] >= 0):
        problems.append(f"head_dim is {raw['head_dim']!r}; expected a positive integer")
    for k in _HF_FLOATS:
        if raw.get(k) is not None and not (isinstance(raw[k], (int, float)) and not isinstance(raw[k], bool)):
            problems.append(f"{k} is {raw[k]!r}; expected a number")
    for k in _HF_BOOLS:
        if raw.get(k) is not None and not isinstance(raw[k], bool):
            problems.append(f"{k} is {raw[k]!r}; expected true or false")
    for k in _HF_OBJECTS:
        if raw.get(k) is not None and not isinstance(raw[k], dict):
            problems.append(f"{k} is {raw[k]!r}; expected an object")
    if isinstance(raw.get("rope_parameters"), dict) and raw["rope_parameters"].get("rope_theta") is not None:
        theta = raw["rope_parameters"]["rope_theta"]
        if not (isinstance(theta, (int, float)) and not isinstance(theta, bool)):
            problems.append(f"rope_parameters.rope_theta is {theta!r}; expected a number")
    if raw.get("bos_token_id") is not None and not _is_int(raw["bos_token_id"]):
        problems.append(f"bos_token_id is {raw['bos_token_id']!r}; expected an integer")
    eos = raw.get("eos_token_id")
    if eos is not None and not (_is_int(eos) or (isinstance(eos, list) and all(_is_int(e) for e in eos))):
        problems.append(f"eos_token_id is {eos!r}; expected an integer or a list of integers")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def _load_hf(folder: Path) -> Checkpoint:
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise ModelFormatError(f"{folder}: no config.json; not a Hugging Face model folder")
    raw_cfg = _read_json_object(cfg_path, invalid=ConfigError)
    _check_hf_config_types(raw_cfg, cfg_path)
    try:
        cfg = MobileLLMConfig.from_hf(raw_cfg)
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
    _check_tokenizer_file(folder, files)
    meta = _hf_tokenizer_meta(folder, cfg, files)
    return Checkpoint(cfg, tensors, files, meta, folder, "hf", dtypes)


def _check_tokenizer_file(folder: Path, files: dict[str, bytes]) -> None:
    """Loads the tokenizer as the runtime will, so that a broken one fails here, not after compiling."""
    name, data = next(iter(files.items()))
    try:
        if name == "tokenizer.json":
            from tokenizers import Tokenizer

            Tokenizer.from_str(data.decode("utf-8"))
        else:
            import sentencepiece as spm

            spm.SentencePieceProcessor(model_proto=data)
    except Exception as exc:  # the libraries raise plain Exception/RuntimeError on bad files
        raise ModelFormatError(f"{folder / name}: not a loadable tokenizer: {exc}") from exc


def _hf_tokenizer_meta(folder: Path, cfg: MobileLLMConfig, files: dict[str, bytes]) -> dict[str, Any]:
    tcfg_path, gen_path = folder / "tokenizer_config.json", folder / "generation_config.json"
    tcfg = _read_json_object(tcfg_path) if tcfg_path.exists() else {}
    gen = _read_json_object(gen_path) if gen_path.exists() else {}
    template = tcfg.get("chat_template")
    if isinstance(template, list):  # named templates: take the default
        named = [t for t in template if isinstance(t, dict) and isinstance(t.get("template"), str)]
        if len(named) != len(template):
            raise ModelFormatError(f"{tcfg_path}: chat_template is a list whose items are not {{name, template}} objects")
        template = next((t["template"] for t in named if t.get("name") == "default"), None)
    if template is not None and not isinstance(template, str):
        raise ModelFormatError(f"{tcfg_path}: chat_template is a {type(template).__name__}, not a string")
    if template is None and (folder / "chat_template.jinja").exists():
        try:
            template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"{folder / 'chat_template.jinja'}: cannot read: {exc}") from exc
    eos = gen.get("eos_token_id", list(cfg.eos_token_id))
    eos_ids = eos if isinstance(eos, list) else [eos]
    bos = gen.get("bos_token_id", cfg.bos_token_id)
    if not all(e is None or _is_int(e) for e in eos_ids) or not (bos is None or _is_int(bos)):
        raise ModelFormatError(f"{gen_path}: eos_token_id {eos!r} / bos_token_id {bos!r} are not token ids")
    add_bos = tcfg.get("add_bos_token", "tokenizer.model" in files)
    if add_bos is not None and not isinstance(add_bos, bool):
        raise ModelFormatError(f"{tcfg_path}: add_bos_token is {add_bos!r}; expected true or false")
    return {
        "bos_token_id": None if bos is None else int(bos),
        "eos_token_ids": [int(e) for e in eos_ids if e is not None],
        "add_bos": bool(add_bos),
        "chat_template": template,
        "eos_token": _token_str(tcfg.get("eos_token")),
        "bos_token": _token_str(tcfg.get("bos_token")),
    }


def _token_str(tok: Any) -> str | None:
    if isinstance(tok, dict):
        tok = tok.get("content")
    return tok if isinstance(tok, str) else None


# ------------------------------------------------------------------------ GGUF

_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
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


def _unpermute_rows(raw: np.ndarray, n_head: int) -> np.ndarray:
    """Undoes llama.cpp's Q/K row permutation (interleaved → rotate-half RoPE).

    Works on float rows and on rows of quantized blocks alike: only whole
    rows move.
    """
    rows = raw.shape[0]
    half = rows // n_head // 2
    return np.ascontiguousarray(raw.reshape(n_head, half, 2, -1).swapaxes(1, 2).reshape(rows, -1))


_REQUIRED: Any = object()


def _gguf_value(md: dict[str, Any], key: str, kind: type, path: Path, default: Any = _REQUIRED) -> Any:
    """A metadata value of type ``kind`` (int, float, bool or str), or ``default`` when absent."""
    if key not in md:
        if default is _REQUIRED:
            raise ModelFormatError(f"{path}: GGUF metadata {key} is missing")
        return default
    v = md[key]
    if kind is int:
        ok = _is_int(v)
    elif kind is float:
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    else:
        ok = isinstance(v, kind)
    if not ok:
        raise ModelFormatError(f"{path}: GGUF metadata {key} is {v!r}; expected {kind.__name__}")
    return kind(v)


def _load_gguf(path: Path) -> Checkpoint:
    gf = read_gguf(path)
    md = gf.metadata
    arch = md.get("general.architecture")
    if arch not in ("llama", "mobilellm"):
        raise ConfigError(f"{path}: GGUF architecture {arch!r} is not supported (expected 'llama')")

    def num(k: str, kind: type = int, default: Any = _REQUIRED) -> Any:
        return _gguf_value(md, f"{arch}.{k}", kind, path, default)

    tokens = md.get("tokenizer.ggml.tokens")
    vocab = num("vocab_size", default=len(tokens) if isinstance(tokens, list) else 0)
    heads = num("attention.head_count")
    hidden = num("embedding_length")
    try:
        cfg = MobileLLMConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=num("feed_forward_length"),
            num_hidden_layers=num("block_count"),
            num_attention_heads=heads,
            num_key_value_heads=num("attention.head_count_kv", default=heads),
            head_dim=num("rope.dimension_count", default=hidden // heads if heads > 0 else 0),
            rms_norm_eps=num("attention.layer_norm_rms_epsilon", float, 1e-5),
            rope_theta=num("rope.freq_base", float, 10000.0),
            context_window=num("context_length", default=2048),
            share_embedding="output.weight" not in gf.tensors,
            layer_sharing=num("layer_sharing", bool, False),
            bos_token_id=_gguf_value(md, "tokenizer.ggml.bos_token_id", int, path, None),
            eos_token_id=(_gguf_value(md, "tokenizer.ggml.eos_token_id", int, path, 2),),
            model_type="llama" if arch == "llama" else "mobilellm",
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
        canon = canon_names[t.name]
        raw = np.asarray(t.data)
        if raw.ndim == 1 or len(t.shape) == 1:
            src = TensorSource(t.shape, array=qf.dequantize_gguf(raw, t.ggml_type, 1, t.shape[-1]).reshape(t.shape))
        else:
            raw2 = raw.reshape(t.shape[0], -1)
            if canon.endswith("q_proj.weight"):
                raw2 = _unpermute_rows(raw2, cfg.num_attention_heads)
            elif canon.endswith("k_proj.weight"):
                raw2 = _unpermute_rows(raw2, cfg.num_key_value_heads)
            if t.ggml_type in (qf.GGML_F32, qf.GGML_F16):
                src = TensorSource(t.shape, array=qf.dequantize_gguf(raw2, t.ggml_type, *t.shape))
            else:
                src = TensorSource(t.shape, ggml_type=t.ggml_type, raw=raw2)
        tensors[canon] = src
    tok_json, meta = gguf_tokenizer(gf, path)
    return Checkpoint(cfg, tensors, {"tokenizer.json": tok_json}, meta, path, "gguf", types)


# ------------------------------------------------------------- to parameters


def build_params(
    ckpt: Checkpoint,
    linear_fmt: str,
    embed_fmt: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    layouts: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Converts a checkpoint to the named parameters of the TVM model.

    Args:
        ckpt: The loaded checkpoint.
        linear_fmt: Format of the projections.
        embed_fmt: Format of the embedding / output head.
        progress: Called with (done, total) after each layer.
        layouts: Per-module formats overriding ``linear_fmt`` / ``embed_fmt``, by parameter prefix
            (:attr:`agent_sdk.quantization.formats.QuantConfig.layouts`).

    Returns:
        Parameter name (as :meth:`nn.Module.named_parameters` spells it) → array,
        q4/q8 weights row-interleaved for the kernels (:func:`formats.pack_rows`).
    """
    cfg, t = ckpt.config, ckpt.tensors
    out: dict[str, np.ndarray] = {}

    def put(prefix: str, names: list[str]) -> None:
        out.update(module_params(t, prefix, names, qf.module_format(prefix, linear_fmt, embed_fmt, layouts or {})))

    put("embed_tokens", ["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p, q = f"model.layers.{i}.", f"layers.{i}."
        out[q + "input_layernorm.weight"] = t[p + "input_layernorm.weight"].as_float()
        out[q + "post_attention_layernorm.weight"] = t[p + "post_attention_layernorm.weight"].as_float()
        for module, names in layer_sources(i).items():
            put(q + module, names)
        if progress:
            progress(i + 1, cfg.num_hidden_layers)
    out["norm.weight"] = t["model.norm.weight"].as_float()
    if not cfg.share_embedding:
        put("lm_head", ["lm_head.weight"])
    return out
