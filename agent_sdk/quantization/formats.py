"""Weight storage formats, in numpy: quantize, dequantize and repack.

Every format quantizes along the input (reduction) dimension in groups of
``GROUP = 32`` values, the block size of GGUF's Q4_0/Q4_1/Q8_0, so GGUF blocks
repack into our layouts without touching a single value.

Layouts of a weight ``w`` of shape ``(out, in)``:

* ``f32``: ``weight`` float32 ``(out, in)``.
* ``f16``: ``weight`` float16 ``(out, in)``.
* ``q8``: ``qweight`` int8 ``(out, in)``, ``scale`` float16 ``(out, in/32)``;
  ``w = q * scale``.
* ``q4``: ``qweight`` uint32 ``(out, in/8)`` holding eight 4-bit values each,
  value ``k`` of a row in word ``k // 8`` at bit ``4 * (k % 8)``; ``scale`` and
  ``minv`` float16 ``(out, in/32)``; ``w = q * scale + minv``. GGUF Q4_0
  (``(q - 8) * d``) becomes ``scale = d, minv = -8 d``, exact in float16.
* ``q8k``: ``qweight`` int8 ``(out, in)``, ``scale`` float16 ``(out, in/32)`` and
  ``sub`` int8 ``(out, in/16)``; ``w = q * sub * scale`` (9 bits per weight).
  GGUF Q6_K (``d * sc * (q - 32)``, an int8 ``sc`` per 16 values, a float16
  ``d`` per 256) becomes ``q - 32``, ``sub = sc``, ``scale = d``: exact, the
  product of an int8 and a float16 being exact in float32.
* ``q4k`` and ``q5k``: GGUF Q4_K and Q5_K as stored: ``q4``'s (``q5``'s)
  ``qweight`` (and ``qhigh``), ``scale`` and ``minv`` float16 ``(out, in/256)``
  (the super-block's ``d`` and ``dmin``), ``sub`` and ``submin`` uint8
  ``(out, in/32)`` (each group's 6-bit scale and minimum);
  ``w = q * (sub * scale) - submin * minv`` (4.625 / 5.625 bits per weight).
  The kernels multiply the two levels in float32, where the products of a
  float16 and a 6-bit integer are exact.
* ``q5``: ``q4``'s arrays holding the low four bits of 5-bit values, plus
  ``qhigh`` uint32 ``(out, in/32)``: the fifth bits of the group's 32 values,
  value ``k = 8 w + j`` (nibble ``j`` of word ``w``) at bit ``4 j + 4 + w`` for
  ``j < 7`` and at bit ``w`` for ``j = 7`` (:data:`Q5_HIGH_BIT`: one shift per
  word brings the eight bits of its values to just above their nibbles, see
  ``kernels._column_q5``); ``w = q * scale + minv`` with ``q`` in 0..31 (6 bits
  per weight).
  GGUF Q5_0 (``(q - 16) * d``) becomes ``scale = d, minv = -16 d``: exact.

GGUF types map onto these layouts as follows (:data:`GGUF_REPACK`; the
measurements on real files are in ``docs/models.md``, "GGUF formats"):

* Q8_0 → q8, Q4_0 and Q4_1 → q4, Q5_0 and Q5_1 → q5: exact, the file's own
  values. Some are exact in a second layout too (:data:`GGUF_EXACT`): Q5_0 in
  q8 (``q - 16`` as int8, ``scale = d``), and every 4-bit type in q5 (the
  fifth bits zero).
* Q4_K → q4k and Q5_K → q5k: exact. In q4 (q5) their ``scale = d * sc`` and
  ``minv = -dmin * m`` round to float16 (the product of a float16 and a 6-bit
  integer needs up to 17 significant bits): on Gemma 3 270M Q4_K_M 93% of the
  scales and 92% of the mins round, moving weights by at most 5.8e-4 (1.1% of
  the group's Q4_K step; 7.2e-4 relative RMS).
* Q6_K → q8k: exact (in q8 it would be requantized, at most half a q8 step
  (``max|w| / 254``) per group: a 32-value group's two int8 sub-scales rarely
  share the divisor an int8 value would need).
  A lossless q8 form exists only where both 16-value scales share a large
  enough divisor: 2.7% of the groups of Gemma 3 270M. On that file the weights move by
  at most 2.8e-3 (0.39% of the largest weight; 0.57% relative RMS).

Each is dequantized exactly as the file stores it by :mod:`.gguf_blocks`.

This module imports numpy only, so the runtime and tests can use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from agent_sdk.errors import ConfigError, ModelFormatError
from agent_sdk.quantization import gguf_blocks as gb

__all__ = [
    "FACTOR_DTYPES",
    "FORMATS",
    "GGML_REPACKABLE",
    "GGML_TYPE_NAMES",
    "GGUF_EXACT",
    "GGUF_REPACK",
    "GROUP",
    "KV_DTYPES",
    "K_GROUP",
    "Q5_HIGH_BIT",
    "QUANT_NAMES",
    "SUB_GROUP",
    "QuantConfig",
    "dequantize",
    "dequantize_gguf",
    "format_param_shapes",
    "gguf_block_to_format",
    "gguf_tensor_problem",
    "gguf_to_format",
    "interleave_rows",
    "module_format",
    "pack_rows",
    "quantize",
    "stored_param_shapes",
    "unpack_rows",
]

GROUP = 32
K_GROUP = 256
"""Values per float16 scale and minimum in ``q4k`` / ``q5k`` (GGUF's K-quant super-blocks)."""
SUB_GROUP = 16
"""Values per int8 sub-scale in ``q8k`` (GGUF Q6_K's sub-blocks)."""
FORMATS = ("f32", "f16", "q8k", "q8", "q5", "q5k", "q4", "q4k")
QUANT_NAMES = ("q4", "q4a8", "q4a16", "q5", "q8", "f16", "f32")
"""Names of the :class:`QuantConfig` presets (``--quant``)."""
KV_DTYPES = {"f32": "float32", "f16": "float16"}
"""KV-cache storage (``--kv-dtype``) -> TVM dtype; attention arithmetic is float32 either way."""

FACTOR_DTYPES = ("float32", "float16", "int8")
"""How a low-rank update kept beside the weights stores its factors (``--low-rank-dtype``; int8 with a float32
scale per row of each factor, :func:`agent_sdk.models.low_rank.int8_rows`); the kernel computes in float32 either
way (:mod:`agent_sdk.quantization.low_rank_kernel`)."""

# GGML type ids and block sizes (bytes per 32 values) of the types we import.
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1, GGML_Q8_0 = 0, 1, 2, 3, 8
_GGML_BLOCK_BYTES = {GGML_Q4_0: 18, GGML_Q4_1: 20, GGML_Q8_0: 34}
GGML_Q5_0, GGML_Q5_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K = (
    gb.GGML_Q5_0, gb.GGML_Q5_1, gb.GGML_Q4_K, gb.GGML_Q5_K, gb.GGML_Q6_K,
)
GGML_TYPE_NAMES = {
    GGML_F32: "F32",
    GGML_F16: "F16",
    GGML_Q4_0: "Q4_0",
    GGML_Q4_1: "Q4_1",
    GGML_Q8_0: "Q8_0",
    GGML_Q5_0: "Q5_0",
    GGML_Q5_1: "Q5_1",
    GGML_Q4_K: "Q4_K",
    GGML_Q5_K: "Q5_K",
    GGML_Q6_K: "Q6_K",
}
"""The GGML types we read, id → name."""
GGUF_REPACK: dict[int, tuple[str, str]] = {
    GGML_Q8_0: ("q8", "exact"),
    GGML_Q4_0: ("q4", "exact"),
    GGML_Q4_1: ("q4", "exact"),
    GGML_Q5_0: ("q5", "exact"),
    GGML_Q4_K: ("q4k", "exact"),
    GGML_Q5_1: ("q5", "exact"),
    GGML_Q5_K: ("q5k", "exact"),
    GGML_Q6_K: ("q8k", "exact"),
}
"""Block type id → (our format :func:`gguf_block_to_format` gives, how faithfully)."""
GGUF_EXACT: dict[int, tuple[str, ...]] = {
    GGML_F32: ("f32",),
    GGML_F16: ("f16", "f32"),
    GGML_Q8_0: ("q8", "q8k"),
    GGML_Q4_0: ("q4", "q5", "q8", "q8k"),
    GGML_Q4_1: ("q4", "q5"),
    GGML_Q4_K: ("q4k", "q5k"),
    GGML_Q5_0: ("q5", "q8", "q8k"),
    GGML_Q5_1: ("q5",),
    GGML_Q5_K: ("q5k",),
    GGML_Q6_K: ("q8k",),
}
"""Block type id → the layouts that hold its values as the file has them, smallest first.
:func:`gguf_to_format` converts to these without requantizing (and Q4_K / Q5_K to q4 / q5 with their scales
and mins rounded to float16)."""
GGML_REPACKABLE = frozenset(GGUF_REPACK)
"""GGML types :func:`gguf_block_to_format` repacks into one of our layouts."""


@dataclass(frozen=True)
class QuantConfig:
    """Which format each kind of weight is stored in.

    Attributes:
        name: The user-facing name (``q4``, ``q8``, ``f32``, ``f16``).
        linear: Format of the attention and MLP projections.
        embed: Format of the token embedding (also the output head when shared).
        act: Activations entering the linear layers: ``f32``, ``int8`` or
            ``int16`` (rounded per group of 32 for integer dot products; q4 weights, and
            with ``int16`` the q8 output head too, :attr:`head_act`).
        kv: Storage of the KV cache, a key of :data:`KV_DTYPES`. With ``f16``
            the attention's queries and output are float16 too (TVM's cache
            holds all of them in one dtype); kernels compute in float32.
        layouts: Per-module exceptions, ``(module, format)`` pairs by the
            module's parameter prefix (``layers.3.mlp.down_proj``,
            ``embed_tokens``): a GGUF file compiled with ``--quant auto`` keeps
            each tensor in the layout that holds its values
            (:mod:`agent_sdk.compiler.quant_choice`).
    """

    name: str
    linear: str
    embed: str
    act: str = "f32"
    kv: str = "f32"
    layouts: tuple[tuple[str, str], ...] = ()

    @property
    def head_act(self) -> str:
        """Activations entering the output head: ``int16`` in ``q4a16`` (its q8 head sums int16 pairs too), else
        ``f32`` (``q4a8`` keeps a float head: int8 rounding would show in every logit)."""
        return "int16" if self.act == "int16" else "f32"

    def fmt_for(self, module: str) -> str:
        """The storage format of one module's weight, by its parameter prefix.

        Args:
            module: ``embed_tokens``, ``lm_head`` or a projection such as ``layers.0.self_attn.qkv_proj``.
        """
        return module_format(module, self.linear, self.embed, dict(self.layouts))

    @property
    def kv_dtype(self) -> str:
        """The TVM dtype of the KV cache (``float32`` or ``float16``)."""
        return KV_DTYPES[self.kv]

    @staticmethod
    def from_name(name: str, kv: str | None = None) -> QuantConfig:
        """Returns the preset for a ``--quant`` name.

        Args:
            name: One of :data:`QUANT_NAMES`.
            kv: KV-cache storage (``f32`` or ``f16``); default: the preset's.

        Raises:
            ConfigError: If the name or the KV dtype is unknown.
        """
        if kv is not None and kv not in KV_DTYPES:
            raise ConfigError(f"unknown KV-cache dtype {kv!r}; choose one of {', '.join(KV_DTYPES)}")
        presets = {
            # The embedding doubles as the output head, whose precision shows in
            # every logit: keep it at 8 bits, as llama.cpp's Q4 files do.
            "q4": QuantConfig("q4", linear="q4", embed="q8"),
            # q4 weights with int8 activations (llama.cpp's Q4_1 x Q8_1): faster,
            # but the activations are rounded, so logits move by ~1%.
            "q4a8": QuantConfig("q4a8", linear="q4", embed="q8", act="int8"),
            # q4 weights with int16 activations: steps 256 times finer than int8 (SmolLM2's logits within 0.007 of q4's),
            # pairs of products summed by vpdpwssd / vpmaddwd.
            "q4a16": QuantConfig("q4a16", linear="q4", embed="q8", act="int16"),
            # 5-bit projections: the layout of GGUF's Q5_0 / Q5_1 / Q5_K, between q4 and q8 in size and error.
            "q5": QuantConfig("q5", linear="q5", embed="q8"),
            "q8": QuantConfig("q8", linear="q8", embed="q8"),
            "f16": QuantConfig("f16", linear="f16", embed="f16"),
            "f32": QuantConfig("f32", linear="f32", embed="f32"),
        }
        if name not in presets:
            raise ConfigError(f"unknown quantization {name!r}; choose one of {', '.join(presets)}")
        preset = presets[name]
        return preset if kv is None else dataclasses.replace(preset, kv=kv)


def module_format(module: str, linear: str, embed: str, layouts: Mapping[str, str]) -> str:
    """A module's storage format: its entry in ``layouts``, else ``embed`` for the embedding and head, else ``linear``.

    Args:
        module: Parameter prefix (``embed_tokens``, ``lm_head``, ``layers.0.self_attn.qkv_proj``).
        linear: Format of the projections.
        embed: Format of the embedding and output head.
        layouts: Per-module exceptions (:attr:`QuantConfig.layouts`).
    """
    return layouts.get(module) or (embed if module in ("embed_tokens", "lm_head") else linear)


def format_param_shapes(fmt: str, out_features: int, in_features: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Returns ``{suffix: (shape, dtype)}`` of the arrays a weight is stored as.

    Args:
        fmt: Storage format.
        out_features: Rows of the weight.
        in_features: Columns of the weight (the reduction dimension).
    """
    if fmt in ("q4k", "q5k") and in_features % K_GROUP:
        raise ConfigError(f"{fmt} needs the input dimension to be a multiple of {K_GROUP}, got {in_features}")
    if fmt in ("q8k", "q8", "q5", "q4") and in_features % GROUP:
        raise ConfigError(f"{fmt} needs the input dimension to be a multiple of {GROUP}, got {in_features}")
    groups = in_features // GROUP
    if fmt == "f32":
        return {"weight": ((out_features, in_features), "float32")}
    if fmt == "f16":
        return {"weight": ((out_features, in_features), "float16")}
    if fmt == "q8":
        return {"qweight": ((out_features, in_features), "int8"), "scale": ((out_features, groups), "float16")}
    if fmt == "q8k":
        return {
            "qweight": ((out_features, in_features), "int8"),
            "scale": ((out_features, groups), "float16"),
            "sub": ((out_features, in_features // SUB_GROUP), "int8"),
        }
    if fmt in ("q4", "q5", "q4k", "q5k"):
        k_quant = fmt.endswith("k")
        scales = in_features // K_GROUP if k_quant else groups  # K layouts: float16 scales per super-block
        shapes = {
            "qweight": ((out_features, in_features // 8), "uint32"),
            "scale": ((out_features, scales), "float16"),
            "minv": ((out_features, scales), "float16"),
        }
        if fmt in ("q5", "q5k"):
            shapes["qhigh"] = ((out_features, groups), "uint32")
        if k_quant:
            shapes["sub"] = ((out_features, groups), "uint8")
            shapes["submin"] = ((out_features, groups), "uint8")
        return shapes
    raise ConfigError(f"unknown weight format {fmt!r}")


def quantize(w: np.ndarray, fmt: str) -> dict[str, np.ndarray]:
    """Stores a float weight ``(out, in)`` in a format.

    Args:
        w: The weight, any float dtype.
        fmt: Target format.

    Returns:
        The arrays of the layout, keyed by suffix (``weight`` or ``qweight``,
        ``scale``, ``minv``).
    """
    w = np.asarray(w, dtype=np.float32)
    out_f, in_f = w.shape
    format_param_shapes(fmt, out_f, in_f)  # validates divisibility
    if fmt == "f32":
        return {"weight": np.ascontiguousarray(w)}
    if fmt == "f16":
        return {"weight": w.astype(np.float16)}
    g = w.reshape(out_f, in_f // GROUP, GROUP)  # (out, groups, 32)
    if fmt == "q8":
        amax = np.abs(g).max(axis=-1)
        scale = (amax / 127.0).astype(np.float16)
        s32 = scale.astype(np.float32)
        safe = np.where(s32 == 0, 1.0, s32)[..., None]
        q = np.clip(np.rint(g / safe), -127, 127).astype(np.int8)
        return {"qweight": q.reshape(out_f, in_f), "scale": scale}
    if fmt == "q8k":
        h = g.reshape(out_f, in_f // SUB_GROUP, SUB_GROUP)
        step = np.abs(h).max(axis=-1) / 127.0  # (out, subs): each sub-block's own q8 step
        scale = (step.reshape(out_f, -1, GROUP // SUB_GROUP).max(axis=-1) / 127.0).astype(np.float16)
        d = np.repeat(scale.astype(np.float32), GROUP // SUB_GROUP, axis=-1)
        # rounded up, so that no value of the sub-block exceeds 127 steps; at most d above its own step
        sub = np.where(d > 0, np.clip(np.ceil(step / np.where(d > 0, d, 1.0)), 1, 127), 0).astype(np.int8)
        s = sub.astype(np.float32) * d
        q = np.clip(np.rint(h / np.where(s == 0, 1.0, s)[..., None]), -127, 127).astype(np.int8)
        return {"qweight": q.reshape(out_f, in_f), "scale": scale, "sub": sub}
    if fmt in ("q4", "q5"):
        top = 15 if fmt == "q4" else 31
        lo = g.min(axis=-1)
        hi = g.max(axis=-1)
        scale = ((hi - lo) / float(top)).astype(np.float16)
        minv = lo.astype(np.float16)
        s32 = scale.astype(np.float32)
        safe = np.where(s32 == 0, 1.0, s32)[..., None]
        q = np.clip(np.rint((g - minv.astype(np.float32)[..., None]) / safe), 0, top).astype(np.uint32)
        return _in_order(_pack_low_bits(q.reshape(out_f, in_f), fmt) | {"scale": scale, "minv": minv}, fmt)
    if fmt in ("q4k", "q5k"):
        return _quantize_k(g, fmt)
    raise ConfigError(f"unknown weight format {fmt!r}")


def _quantize_k(g: np.ndarray, fmt: str) -> dict[str, np.ndarray]:
    """q4k / q5k of float groups ``(out, groups, 32)``, as GGUF's K-quants are made (a minimum of at most 0)."""
    out_f = g.shape[0]
    top = 15 if fmt == "q4k" else 31
    per = K_GROUP // GROUP
    lo = np.minimum(g.min(axis=-1), 0.0)  # (out, groups); the stored minimum is subtracted: -dmin * m <= 0
    step = (g.max(axis=-1) - lo) / top
    d = (step.reshape(out_f, -1, per).max(axis=-1) / 63).astype(np.float16)  # (out, supers)
    dmin = ((-lo).reshape(out_f, -1, per).max(axis=-1) / 63).astype(np.float16)
    d32, dmin32 = (np.repeat(a.astype(np.float32), per, axis=-1) for a in (d, dmin))
    sub = np.where(d32 > 0, np.clip(np.ceil(step / np.where(d32 > 0, d32, 1)), 0, 63), 0).astype(np.uint8)
    submin = np.where(dmin32 > 0, np.clip(np.rint(-lo / np.where(dmin32 > 0, dmin32, 1)), 0, 63), 0).astype(np.uint8)
    s = sub.astype(np.float32) * d32
    m = submin.astype(np.float32) * dmin32
    q = np.clip(np.rint((g + m[..., None]) / np.where(s == 0, 1, s)[..., None]), 0, top).astype(np.uint32)
    low = _pack_low_bits(q.reshape(out_f, -1), "q4" if fmt == "q4k" else "q5")
    return _in_order(low | {"scale": d, "minv": dmin, "sub": sub, "submin": submin}, fmt)


def dequantize(arrays: dict[str, np.ndarray], fmt: str) -> np.ndarray:
    """Inverse of :func:`quantize`: the float32 weight a layout stands for."""
    if fmt in ("f32", "f16"):
        return arrays["weight"].astype(np.float32)
    if fmt == "q8":
        q = arrays["qweight"].astype(np.float32)
        out_f, in_f = q.shape
        s = arrays["scale"].astype(np.float32)
        return (q.reshape(out_f, -1, GROUP) * s[..., None]).reshape(out_f, in_f)
    if fmt == "q8k":
        q = arrays["qweight"].astype(np.float32)
        out_f, in_f = q.shape
        s = arrays["sub"].astype(np.float32) * np.repeat(arrays["scale"].astype(np.float32), GROUP // SUB_GROUP, -1)
        return (q.reshape(out_f, -1, SUB_GROUP) * s[..., None]).reshape(out_f, in_f)
    if fmt in ("q4", "q5"):
        q = _unpack_nibbles(arrays["qweight"]).astype(np.float32)
        out_f, in_f = q.shape
        if fmt == "q5":
            q += 16 * _unpack_bits(arrays["qhigh"]).astype(np.float32)
        s = arrays["scale"].astype(np.float32)[..., None]
        m = arrays["minv"].astype(np.float32)[..., None]
        return (q.reshape(out_f, -1, GROUP) * s + m).reshape(out_f, in_f)
    if fmt in ("q4k", "q5k"):
        q = _unpack_nibbles(arrays["qweight"]).astype(np.float32)
        out_f, in_f = q.shape
        if fmt == "q5k":
            q += 16 * _unpack_bits(arrays["qhigh"]).astype(np.float32)
        per = K_GROUP // GROUP
        s = arrays["sub"].astype(np.float32) * np.repeat(arrays["scale"].astype(np.float32), per, -1)
        m = arrays["submin"].astype(np.float32) * np.repeat(arrays["minv"].astype(np.float32), per, -1)
        return (q.reshape(out_f, -1, GROUP) * s[..., None] - m[..., None]).reshape(out_f, in_f)
    raise ConfigError(f"unknown weight format {fmt!r}")


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """Packs ``(out, in)`` values in 0..15 into uint32 ``(out, in/8)``."""
    out_f, in_f = q.shape
    q = q.astype(np.uint32).reshape(out_f, in_f // 8, 8)
    shifts = (np.arange(8, dtype=np.uint32) * 4)[None, None, :]
    return np.bitwise_or.reduce(q << shifts, axis=-1).astype(np.uint32)


Q5_HIGH_BIT = np.array([4 * (k % 8) + 4 + k // 8 if k % 8 < 7 else k // 8 for k in range(GROUP)], np.uint32)
"""Bit of a q5 ``qhigh`` word holding the fifth bit of value ``k`` of its group (a permutation of 0..31)."""
def _in_order(arrays: dict[str, np.ndarray], fmt: str) -> dict[str, np.ndarray]:
    """The arrays in the order of :func:`format_param_shapes` (the kernels' argument order)."""
    return {k: arrays[k] for k in format_param_shapes(fmt, 1, K_GROUP)}


def _pack_low_bits(q: np.ndarray, fmt: str) -> dict[str, np.ndarray]:
    """The q4 (``qweight``) or q5 (``qweight``, ``qhigh``) integer arrays of values ``q`` ``(out, in)``."""
    if fmt == "q4":
        return {"qweight": _pack_nibbles(q)}
    q = q.astype(np.uint32)
    out_f, in_f = q.shape
    bits = (q >> 4).reshape(out_f, in_f // GROUP, GROUP) << Q5_HIGH_BIT
    return {"qweight": _pack_nibbles(q & 0xF), "qhigh": np.bitwise_or.reduce(bits, axis=-1).astype(np.uint32)}


def _unpack_bits(packed: np.ndarray) -> np.ndarray:
    """q5's ``qhigh`` ``(out, groups)`` → the fifth bits ``(out, groups * 32)`` as uint8."""
    out_f, groups = packed.shape
    return ((packed[..., None] >> Q5_HIGH_BIT) & 1).reshape(out_f, groups * GROUP).astype(np.uint8)


def _unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    out_f, words = packed.shape
    shifts = (np.arange(8, dtype=np.uint32) * 4)[None, None, :]
    return ((packed[..., None] >> shifts) & 0xF).reshape(out_f, words * 8).astype(np.uint8)


def _gguf_blocks(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> np.ndarray:
    """Views GGUF block bytes as ``(rows, cols/32, block_bytes)`` uint8."""
    nbytes = _GGML_BLOCK_BYTES[ggml_type]
    need = rows * (cols // GROUP) * nbytes
    flat = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    if flat.size != need:
        raise ModelFormatError(
            f"{GGML_TYPE_NAMES[ggml_type]} tensor of shape ({rows}, {cols}) should have {need} bytes, found {flat.size}"
        )
    return flat.reshape(rows, cols // GROUP, nbytes)


_GGML_OTHER_NAMES = {
    9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
    20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
    29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4", 40: "NVFP4", 41: "Q1_0",
}
"""Names of GGML types we do not read, for error messages."""


def _type_name(ggml_type: int) -> str:
    return GGML_TYPE_NAMES.get(ggml_type) or f"{ggml_type} ({_GGML_OTHER_NAMES.get(ggml_type, 'unknown')})"


def gguf_tensor_problem(ggml_type: int, shape: tuple[int, ...]) -> str | None:
    """Says why a GGUF tensor cannot be read, or None if it can.

    Args:
        ggml_type: GGML type id.
        shape: The tensor's shape, values per row last.

    Returns:
        A phrase to follow the tensor's name (``has GGML type Q2_K (10); ...``), or None.
    """
    if ggml_type not in GGML_TYPE_NAMES:
        return f"has GGML type {_type_name(ggml_type)}; supported: {', '.join(GGML_TYPE_NAMES.values())}"
    per_block = gb.BLOCK_SHAPES[ggml_type][0] if ggml_type in gb.BLOCK_SHAPES else (
        GROUP if ggml_type in _GGML_BLOCK_BYTES else 1
    )
    if shape and shape[-1] % per_block:
        return (
            f"({GGML_TYPE_NAMES[ggml_type]}) has rows of {shape[-1]} values, not a multiple of "
            f"its {per_block}-value blocks"
        )
    return None


def gguf_block_to_format(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> tuple[str, dict[str, np.ndarray]]:
    """Repacks GGUF blocks into our closest layout (see :data:`GGUF_REPACK`).

    Every type is repacked losslessly (:data:`GGUF_REPACK`).

    Args:
        raw: The tensor's bytes as stored in the file.
        ggml_type: GGML type id.
        rows: Output features (GGUF's second dimension).
        cols: Input features (GGUF's first dimension, contiguous).

    Returns:
        ``(format, arrays)``.

    Raises:
        ModelFormatError: If the type cannot be repacked, the rows are not whole
            blocks, the byte count does not match, a K-quant's float16 scales are not
            finite, or Q5_0/Q5_1 scales and minimums overflow float16 (``-16 d``).
    """
    if ggml_type not in GGUF_REPACK:
        raise ModelFormatError(f"GGML type {_type_name(ggml_type)} cannot be repacked")
    if ggml_type in gb.BLOCK_SHAPES:
        return _repack_new(raw, ggml_type, rows, cols)
    if cols % GROUP:
        raise ModelFormatError(f"{GGML_TYPE_NAMES[ggml_type]} tensor width {cols} is not a multiple of {GROUP}")
    b = _gguf_blocks(raw, ggml_type, rows, cols)  # (rows, groups, block_bytes)
    groups = cols // GROUP
    if ggml_type == GGML_Q8_0:
        d = b[..., 0:2].copy().view(np.float16).reshape(rows, groups)
        q = b[..., 2:34].copy().view(np.int8).reshape(rows, cols)
        return "q8", {"qweight": q, "scale": d}
    d = b[..., 0:2].copy().view(np.float16).reshape(rows, groups)
    if ggml_type == GGML_Q4_1:
        m = b[..., 2:4].copy().view(np.float16).reshape(rows, groups)
        qs = b[..., 4:20]
    else:
        m = (d.astype(np.float32) * -8.0).astype(np.float16)
        qs = b[..., 2:18]
    # A block stores value j (< 16) in the low nibble of byte j and value
    # j + 16 in the high nibble of byte j.
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (rows, groups, 32)
    return "q4", {"qweight": _pack_nibbles(q.reshape(rows, cols)), "scale": d, "minv": m}


def _repack_new(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> tuple[str, dict[str, np.ndarray]]:
    """:func:`gguf_block_to_format` for Q5_0, Q5_1 and the K-quants."""
    dec = gb.decode(raw, ggml_type, rows, cols)
    if ggml_type == GGML_Q6_K:
        d, sc = gb.q6_k_scales(raw, rows, cols)  # float16 (rows, cols/256), int8 (rows, cols/16)
        scale = np.repeat(d, gb.QK_K // GROUP, axis=-1)  # d for each 32-value group
        return "q8k", {"qweight": dec.q.astype(np.int8), "scale": scale, "sub": sc}
    if ggml_type in (GGML_Q4_K, GGML_Q5_K):
        d, dmin, sc, mn = gb.k_scales(raw, ggml_type, rows, cols)
        fmt = "q4k" if ggml_type == GGML_Q4_K else "q5k"
        low = _pack_low_bits(dec.q, "q4" if fmt == "q4k" else "q5")
        return fmt, _in_order(low | {"scale": d, "minv": dmin, "sub": sc, "submin": mn}, fmt)
    if ggml_type == GGML_Q5_0:
        # d is the file's float16 and -16 d is exact in float16 (an exponent step) unless it overflows.
        q, scale32, min32 = (dec.q.astype(np.int16) + 16).astype(np.uint8), dec.scale, -16.0 * dec.scale
    else:
        assert dec.offset is not None
        q, scale32, min32 = dec.q, dec.scale, dec.offset
    return "q5", _with_float16_scales(q, scale32, min32, "q5", ggml_type, rows, cols)


def _with_float16_scales(
    q: np.ndarray, scale32: np.ndarray, min32: np.ndarray, fmt: str, ggml_type: int, rows: int, cols: int
) -> dict[str, np.ndarray]:
    """q4 / q5 arrays of values ``q`` with per-group float32 scales and minimums rounded to float16."""
    with np.errstate(over="ignore"):
        scale, minv = scale32.astype(np.float16), min32.astype(np.float16)
    if not (np.isfinite(scale).all() and np.isfinite(minv).all()):
        raise ModelFormatError(
            f"{GGML_TYPE_NAMES[ggml_type]} tensor of shape ({rows}, {cols}) has scales or mins beyond float16"
        )
    return _in_order(_pack_low_bits(q, fmt) | {"scale": scale, "minv": minv}, fmt)


def _as_int8(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A Q8_0 / Q4_0 / Q5_0 tensor (``(q - offset) * d``) as int8 ``q - offset`` and its float16 ``d`` per 32."""
    if ggml_type == GGML_Q5_0:  # straight from the blocks: q5's minimum -16 d may overflow float16
        dec = gb.decode(raw, ggml_type, rows, cols)
        return dec.q.astype(np.int8), dec.scale.astype(np.float16)
    _, arrays = gguf_block_to_format(raw, ggml_type, rows, cols)
    if ggml_type == GGML_Q4_0:
        return (_unpack_nibbles(arrays["qweight"]).astype(np.int16) - 8).astype(np.int8), arrays["scale"]
    return arrays["qweight"], arrays["scale"]


_INT8_EXACT = (GGML_Q8_0, GGML_Q4_0, GGML_Q5_0)
"""GGUF types whose values are int8 times a float16 scale per 32: exact in q8 and q8k (see :func:`_as_int8`)."""


def gguf_to_format(raw: np.ndarray, ggml_type: int, rows: int, cols: int, fmt: str) -> dict[str, np.ndarray]:
    """A GGUF tensor in layout ``fmt``: without requantizing where :data:`GGUF_EXACT` allows, else requantized.

    Args:
        raw: The tensor's bytes as stored in the file.
        ggml_type: GGML type id.
        rows: Output features.
        cols: Input features.
        fmt: One of :data:`FORMATS`.

    Raises:
        ModelFormatError: As :func:`gguf_block_to_format` and :func:`dequantize_gguf`.
    """
    if fmt in ("q8", "q8k") and ggml_type in _INT8_EXACT:
        q, d = _as_int8(raw, ggml_type, rows, cols)
        arrays = {"qweight": q, "scale": d}
        return arrays if fmt == "q8" else arrays | {"sub": np.ones((rows, cols // SUB_GROUP), np.int8)}
    if ggml_type in GGUF_REPACK:
        native, arrays = gguf_block_to_format(raw, ggml_type, rows, cols)
        if native == fmt:
            return arrays
        if (native, fmt) in (("q4", "q5"), ("q4k", "q5k")):  # the same values with their fifth bits zero
            return _in_order(arrays | {"qhigh": np.zeros((rows, cols // GROUP), np.uint32)}, fmt)
        if native in ("q4k", "q5k") and fmt in ("q4", "q5") and not (native == "q5k" and fmt == "q4"):
            # one float16 scale and minimum per group: their products with the 6-bit integers rounded
            dec = gb.decode(raw, ggml_type, rows, cols)
            assert dec.offset is not None
            return _with_float16_scales(dec.q, dec.scale, dec.offset, fmt, ggml_type, rows, cols)
    return quantize(dequantize_gguf(raw, ggml_type, rows, cols), fmt)


def dequantize_gguf(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> np.ndarray:
    """Dequantizes a GGUF tensor of a supported type to float32 ``(rows, cols)``, as the file stores it.

    Raises:
        ModelFormatError: If the type is not supported or the bytes do not match the shape.
    """
    if ggml_type == GGML_F32:
        return np.ascontiguousarray(raw).view(np.float32).reshape(rows, cols)
    if ggml_type == GGML_F16:
        return np.ascontiguousarray(raw).view(np.float16).reshape(rows, cols).astype(np.float32)
    if ggml_type in gb.BLOCK_SHAPES:
        return gb.dequantize(raw, ggml_type, rows, cols)
    if ggml_type in _GGML_BLOCK_BYTES:
        fmt, arrays = gguf_block_to_format(raw, ggml_type, rows, cols)
        return dequantize(arrays, fmt)
    raise ModelFormatError(
        f"GGML type {_type_name(ggml_type)} is not supported; supported: {', '.join(GGML_TYPE_NAMES.values())}"
    )


_INTERLEAVED = ("q4", "q5", "q8", "q8k", "q4k", "q5k")


def interleave_rows(out_features: int) -> int:
    """Rows interleaved per block in stored q4/q8 weights (16, or fewer when N is odd-sized)."""
    for r in (16, 8, 4, 2):
        if out_features % r == 0:
            return r
    return 1


def stored_param_shapes(fmt: str, out_features: int, in_features: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shapes of the arrays as stored in a bundle (q4/q5/q8 row-interleaved, see :func:`pack_rows`)."""
    shapes = format_param_shapes(fmt, out_features, in_features)
    if fmt not in _INTERLEAVED:
        return shapes
    r = interleave_rows(out_features)
    return {k: ((out_features // r, shape[1], r), dtype) for k, (shape, dtype) in shapes.items()}


def pack_rows(arrays: dict[str, np.ndarray], fmt: str) -> dict[str, np.ndarray]:
    """Interleaves rows of q4/q5/q8 arrays for the kernels: ``(N, C) -> (N/R, C, R)``.

    Element ``[b, c, r]`` is row ``b * R + r``, column ``c``: a vector load
    along ``r`` reads the same column of R consecutive output rows.
    """
    if fmt not in _INTERLEAVED:
        return arrays
    n = next(iter(arrays.values())).shape[0]
    r = interleave_rows(n)
    return {k: np.ascontiguousarray(a.reshape(n // r, r, a.shape[1]).transpose(0, 2, 1)) for k, a in arrays.items()}


def unpack_rows(arrays: dict[str, np.ndarray], fmt: str) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_rows`."""
    if fmt not in _INTERLEAVED:
        return arrays
    out = {}
    for k, a in arrays.items():
        b, c, r = a.shape
        out[k] = np.ascontiguousarray(a.transpose(0, 2, 1).reshape(b * r, c))
    return out
