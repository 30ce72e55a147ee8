"""Independent float64 numpy reference forward pass for Llama-family checkpoints.

Written from the model math only (nothing from ``agent_sdk`` is imported), so
it can serve as ground truth for the SDK's loaders and compiled models:

* :func:`load_hf_state` reads a Hugging Face folder (``model.safetensors`` or a
  ``pytorch_model.bin`` in the PyTorch zip format, parsed with a restricted
  unpickler that never imports anything).
* :func:`hf_forward` runs Llama / MobileLLM (rotate-half RoPE, GQA, SwiGLU,
  RMSNorm, MobileLLM immediate block-wise layer sharing, shared embedding);
  :func:`hf_hidden_states` is the same pass stopped before the output head.
* :func:`gguf_forward` runs a GGUF ``llama`` file directly on its *permuted*
  Q/K weights with interleaved (adjacent-pair, llama.cpp "NORM") RoPE, i.e.
  without undoing the converter's permutation.  Agreement between the two
  therefore checks the permutation / RoPE-convention bookkeeping of a loader.

Qwen options, from transformers' ``modeling_qwen2`` / ``modeling_qwen3`` and
llama.cpp's graphs: Qwen2 adds biases to the q, k and v projections (never to
o); Qwen3 applies an RMSNorm over each query and key head's ``head_dim``
values (one weight shared by the heads) after the projection and before RoPE,
and its head width need not be ``hidden / heads``.  GGUF ``qwen2``/``qwen3``
files are rotated NEOX-style (rotate-half) on their stored rows.
"""

from __future__ import annotations

import collections
import json
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["gguf_forward", "hf_forward", "hf_hidden_states", "load_hf_state", "load_torch_zip"]

# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #

_TORCH_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "DoubleStorage": "<f8",
}


class _StorageType:
    """Local stand-in for a ``torch.*Storage`` class referenced by the pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _TORCH_STORAGE_DTYPES[name]


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _rebuild_tensor_v2(
    storage: np.ndarray,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    """Local replacement of ``torch._utils._rebuild_tensor_v2`` producing numpy arrays."""
    del requires_grad, backward_hooks, metadata
    if len(size) == 0:
        return np.array(storage[storage_offset])
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.array(view)


class _RestrictedTorchUnpickler(pickle.Unpickler):
    """Unpickler for ``data.pkl`` that only resolves torch tensor-rebuild names.

    ``find_class`` never imports: it maps the handful of allowed names to local
    stand-ins and rejects everything else.
    """

    def __init__(self, data: bytes, load_storage: Callable[[str, str, int], np.ndarray]) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _TORCH_STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
        return self._load_storage(str(key), storage_type.dtype, int(numel))


def load_torch_zip(path: Path) -> dict[str, np.ndarray]:
    """Read a ``torch.save`` zip checkpoint of tensors into float/numpy arrays.

    Args:
        path: ``pytorch_model.bin`` written in the zip format.

    Returns:
        Name -> array (bfloat16 storages are widened to float32).

    Raises:
        pickle.UnpicklingError: If the pickle references anything but tensors.
    """
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl_name = next(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
        prefix = pkl_name[: -len("data.pkl")]
        cache: dict[str, np.ndarray] = {}

        def load_storage(key: str, dtype: str, numel: int) -> np.ndarray:
            if key not in cache:
                raw = zf.read(f"{prefix}data/{key}")
                if dtype == "bfloat16":
                    arr = _bf16_to_f32(np.frombuffer(raw, dtype="<u2", count=numel))
                else:
                    arr = np.frombuffer(raw, dtype=dtype, count=numel)
                cache[key] = arr
            return cache[key]

        obj = _RestrictedTorchUnpickler(zf.read(pkl_name), load_storage).load()
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"top-level object is {type(obj).__name__}, not a dict")
    return dict(obj)


def load_hf_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load ``config.json`` and the weights of a Hugging Face model folder.

    Args:
        path: Folder with ``config.json`` and ``model.safetensors`` or
            ``pytorch_model.bin``.

    Returns:
        ``(config, weights)`` with weights as float64 arrays.

    Raises:
        FileNotFoundError: If no supported weight file is present.
    """
    path = Path(path)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if (path / "model.safetensors").exists():
        from safetensors.numpy import load_file

        raw = load_file(str(path / "model.safetensors"))
    elif (path / "pytorch_model.bin").exists():
        raw = load_torch_zip(path / "pytorch_model.bin")
    else:
        raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {path}")
    return config, {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}


# --------------------------------------------------------------------------- #
# Math
# --------------------------------------------------------------------------- #


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _inv_freq(rot_dim: int, theta: float) -> np.ndarray:
    return 1.0 / theta ** (np.arange(0, rot_dim, 2, dtype=np.float64) / rot_dim)


def _rope_rotate_half(x: np.ndarray, theta: float) -> np.ndarray:
    """HF Llama RoPE: pairs ``(i, i + d/2)``. ``x`` is ``(heads, seq, head_dim)``."""
    d = x.shape[-1]
    angles = np.arange(x.shape[1], dtype=np.float64)[:, None] * _inv_freq(d, theta)[None, :]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)
    rotated = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], axis=-1)
    return x * cos + rotated * sin


def _rope_interleaved(x: np.ndarray, theta: float, rot_dim: int) -> np.ndarray:
    """llama.cpp "NORM" RoPE: adjacent pairs ``(2i, 2i + 1)`` over the first ``rot_dim`` dims."""
    angles = np.arange(x.shape[1], dtype=np.float64)[:, None] * _inv_freq(rot_dim, theta)[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    out = x.copy()
    x0 = x[..., 0:rot_dim:2]
    x1 = x[..., 1:rot_dim:2]
    out[..., 0:rot_dim:2] = x0 * cos - x1 * sin
    out[..., 1:rot_dim:2] = x0 * sin + x1 * cos
    return out


def _attention(
    x: np.ndarray,
    wq: np.ndarray,
    wk: np.ndarray,
    wv: np.ndarray,
    wo: np.ndarray,
    n_head: int,
    n_kv: int,
    head_dim: int,
    rope: Callable[[np.ndarray], np.ndarray],
    biases: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    qk_norms: tuple[np.ndarray, np.ndarray, float] | None = None,
) -> np.ndarray:
    """Causal grouped-query self-attention; weights are ``(out, in)``.

    ``biases`` are added to the q, k, v projections (Qwen2); ``qk_norms``
    ``(q_weight, k_weight, eps)`` RMS-normalize every q and k head before RoPE (Qwen3).
    """
    seq = x.shape[0]
    bq, bk, bv = biases if biases is not None else (0.0, 0.0, 0.0)
    q = (x @ wq.T + bq).reshape(seq, n_head, head_dim).transpose(1, 0, 2)
    k = (x @ wk.T + bk).reshape(seq, n_kv, head_dim).transpose(1, 0, 2)
    v = (x @ wv.T + bv).reshape(seq, n_kv, head_dim).transpose(1, 0, 2)
    if qk_norms is not None:
        q, k = _rms_norm(q, qk_norms[0], qk_norms[2]), _rms_norm(k, qk_norms[1], qk_norms[2])
    q, k = rope(q), rope(k)
    group = n_head // n_kv
    k = np.repeat(k, group, axis=0)
    v = np.repeat(v, group, axis=0)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim)
    scores = np.where(np.tril(np.ones((seq, seq), dtype=bool)), scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = (probs @ v).transpose(1, 0, 2).reshape(seq, n_head * head_dim)
    return out @ wo.T


def _swiglu(x: np.ndarray, gate: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    return (_silu(x @ gate.T) * (x @ up.T)) @ down.T


def hf_hidden_states(
    config: Mapping[str, Any], weights: Mapping[str, np.ndarray], token_ids: list[int], *, middle_layer: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states of a HF Llama / MobileLLM / Qwen2 / Qwen3 model in float64.

    Args:
        config: Parsed ``config.json``.
        weights: HF-named weights (as returned by :func:`load_hf_state`).
        token_ids: Prompt token ids (positions start at 0).
        middle_layer: Decoder layers (each with its repeats, under layer
            sharing) run before the ``middle`` state is taken.

    Returns:
        ``(final, middle)``, each ``(len(token_ids), hidden_size)``: the
        final RMSNorm's output, and the residual stream after
        ``middle_layer`` layers (not normalized).
    """
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    hidden = int(config["hidden_size"])
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    model_type = config.get("model_type")
    # transformers' Qwen3Config defaults head_dim to 128, the others to hidden / heads.
    head_dim = int(config.get("head_dim") or (128 if model_type == "qwen3" else hidden // n_head))
    eps = float(config.get("rms_norm_eps", 1e-6))
    theta = float(config.get("rope_theta", 10000.0))
    repeats = 2 if config.get("layer_sharing", False) else 1
    qkv_bias = model_type == "qwen2" or (model_type != "qwen3" and bool(config.get("attention_bias")))
    qk_norm = model_type == "qwen3"

    def rope(t: np.ndarray) -> np.ndarray:
        return _rope_rotate_half(t, theta)

    x = w["model.embed_tokens.weight"][np.asarray(token_ids, dtype=np.int64)]
    middle = x
    for layer in range(int(config["num_hidden_layers"])):
        if layer == middle_layer:
            middle = x
        p = f"model.layers.{layer}."
        biases = tuple(w[p + f"self_attn.{n}_proj.bias"] for n in "qkv") if qkv_bias else None
        norms = (w[p + "self_attn.q_norm.weight"], w[p + "self_attn.k_norm.weight"], eps) if qk_norm else None
        for _ in range(repeats):
            h = _rms_norm(x, w[p + "input_layernorm.weight"], eps)
            x = x + _attention(
                h,
                w[p + "self_attn.q_proj.weight"],
                w[p + "self_attn.k_proj.weight"],
                w[p + "self_attn.v_proj.weight"],
                w[p + "self_attn.o_proj.weight"],
                n_head,
                n_kv,
                head_dim,
                rope,
                biases,  # type: ignore[arg-type]
                norms,
            )
            h = _rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            x = x + _swiglu(
                h, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"]
            )
    if middle_layer >= int(config["num_hidden_layers"]):
        middle = x
    return _rms_norm(x, w["model.norm.weight"], eps), middle


def hf_forward(
    config: Mapping[str, Any], weights: Mapping[str, np.ndarray], token_ids: list[int]
) -> np.ndarray:
    """Full-sequence forward pass of a HF Llama / MobileLLM / Qwen2 / Qwen3 model in float64.

    Args:
        config: Parsed ``config.json``.
        weights: HF-named weights (as returned by :func:`load_hf_state`).
        token_ids: Prompt token ids (positions start at 0).

    Returns:
        Logits of shape ``(len(token_ids), vocab_size)``, float64.
    """
    x, _ = hf_hidden_states(config, weights, token_ids)
    w = weights
    shared = bool(config.get("share_embedding", False)) or bool(config.get("tie_word_embeddings", False))
    head = w["model.embed_tokens.weight"] if shared or "lm_head.weight" not in w else w["lm_head.weight"]
    return x @ np.asarray(head, dtype=np.float64).T


def _gguf_scalar(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.get_field(key)
    if field is None:
        if default is None:
            raise KeyError(f"GGUF metadata {key!r} missing")
        return default
    return field.contents()


def gguf_forward(path: Path, token_ids: list[int]) -> np.ndarray:
    """Forward pass of a GGUF ``llama``, ``qwen2`` or ``qwen3`` file on its stored weights.

    Every tensor is dequantized with ``gguf.quants.dequantize``; Q/K are used
    as stored, with interleaved adjacent-pair RoPE (llama.cpp ``NORM`` mode)
    for ``llama`` and rotate-half RoPE (``NEOX``) for Qwen, as llama.cpp does;
    ``blk.N.attn_{q,k,v}.bias`` and ``attn_{q,k}_norm.weight`` are applied when
    the file has them.

    Args:
        path: GGUF file with ``general.architecture`` ``llama``, ``qwen2`` or ``qwen3``.
        token_ids: Prompt token ids.

    Returns:
        Logits of shape ``(len(token_ids), vocab_size)``, float64.

    Raises:
        ValueError: If the architecture is none of these.
    """
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = _gguf_scalar(reader, "general.architecture")
    if arch not in ("llama", "qwen2", "qwen3"):
        raise ValueError(f"expected a llama, qwen2 or qwen3 GGUF, got {arch!r}")
    n_layer = int(_gguf_scalar(reader, f"{arch}.block_count"))
    hidden = int(_gguf_scalar(reader, f"{arch}.embedding_length"))
    n_head = int(_gguf_scalar(reader, f"{arch}.attention.head_count"))
    n_kv = int(_gguf_scalar(reader, f"{arch}.attention.head_count_kv", n_head))
    head_dim = int(_gguf_scalar(reader, f"{arch}.attention.key_length", hidden // n_head))
    rot_dim = int(_gguf_scalar(reader, f"{arch}.rope.dimension_count", head_dim))
    eps = float(_gguf_scalar(reader, f"{arch}.attention.layer_norm_rms_epsilon"))
    theta = float(_gguf_scalar(reader, f"{arch}.rope.freq_base", 10000.0))

    w: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        w[t.name] = np.asarray(arr, dtype=np.float64).reshape(shape)

    def rope(t: np.ndarray) -> np.ndarray:
        if arch == "llama":
            return _rope_interleaved(t, theta, rot_dim)
        return _rope_rotate_half(t, theta)

    x = w["token_embd.weight"][np.asarray(token_ids, dtype=np.int64)]
    for layer in range(n_layer):
        p = f"blk.{layer}."
        biases = tuple(w[p + f"attn_{n}.bias"] for n in "qkv") if p + "attn_q.bias" in w else None
        norms = (w[p + "attn_q_norm.weight"], w[p + "attn_k_norm.weight"], eps) if p + "attn_q_norm.weight" in w else None
        h = _rms_norm(x, w[p + "attn_norm.weight"], eps)
        x = x + _attention(
            h,
            w[p + "attn_q.weight"],
            w[p + "attn_k.weight"],
            w[p + "attn_v.weight"],
            w[p + "attn_output.weight"],
            n_head,
            n_kv,
            head_dim,
            rope,
            biases,  # type: ignore[arg-type]
            norms,
        )
        h = _rms_norm(x, w[p + "ffn_norm.weight"], eps)
        x = x + _swiglu(h, w[p + "ffn_gate.weight"], w[p + "ffn_up.weight"], w[p + "ffn_down.weight"])
    x = _rms_norm(x, w["output_norm.weight"], eps)
    head = w.get("output.weight", w["token_embd.weight"])
    return x @ head.T
