"""GGUF Q5_0, Q5_1 and K-quant (Q4_K, Q5_K, Q6_K) blocks, decoded in numpy.

This module says what a GGUF file stores; :mod:`.formats` maps it onto our
layouts. Every type decodes to integer values ``q`` and, per sub-block of
``sub`` values, a float32 ``scale`` and (for types with a minimum) ``offset``:
``w = q * scale + offset``. The scale and offset are the float32 products the
reference computes (``d * sc``, ``-dmin * m``), so :func:`dequantize` equals
``gguf.quants.dequantize`` bit for bit (tested on random blocks and on every
tensor of Gemma 3 270M Q4_K_M).

Block layouts (little-endian; ``d``, ``dmin``, ``m`` float16):

* Q5_0, 32 values in 22 bytes: ``d``, ``qh`` (uint32: bit ``j`` is the fifth
  bit of value ``j``), ``qs[16]`` (value ``j`` in the low nibble of byte ``j``,
  value ``j + 16`` in the high nibble); ``w = d * (q - 16)``.
* Q5_1, 32 values in 24 bytes: ``d``, ``m``, ``qh``, ``qs[16]``; ``w = d * q + m``.
* Q4_K, 256 values in 144 bytes: ``d``, ``dmin``, 12 bytes holding eight 6-bit
  scales ``sc`` and eight 6-bit mins ``mn`` (one per 32 values), ``qs[128]``:
  32-byte chunk ``c`` holds sub-block ``2c`` in its low nibbles and ``2c + 1``
  in its high nibbles; ``w = d * sc * q - dmin * mn``.
* Q5_K, 256 values in 176 bytes: as Q4_K with ``qh[32]`` before ``qs``: bit
  ``j`` of ``qh[i]`` is the fifth bit of value ``i`` of sub-block ``j``.
* Q6_K, 256 values in 210 bytes: ``ql[128]``, ``qh[64]``, 16 int8 scales (one
  per 16 values), ``d`` last. Each half (128 values) has 64 ``ql`` bytes (low
  nibbles: values 0-63, high nibbles: 64-127) and 32 ``qh`` bytes (bits
  ``2k, 2k + 1`` of byte ``i``: the top two bits of value ``32k + i``);
  ``w = d * scale * (q - 32)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = [
    "BLOCK_SHAPES",
    "GGML_Q4_K",
    "GGML_Q5_0",
    "GGML_Q5_1",
    "GGML_Q5_K",
    "GGML_Q6_K",
    "QK_K",
    "Decoded",
    "decode",
    "dequantize",
    "k_scales",
    "q6_k_scales",
]

GGML_Q5_0, GGML_Q5_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K = 6, 7, 12, 13, 14
QK_K = 256
"""Values in a K-quant super-block."""
_K_SCALE_BYTES = 12
BLOCK_SHAPES: dict[int, tuple[int, int]] = {
    GGML_Q5_0: (32, 22),
    GGML_Q5_1: (32, 24),
    GGML_Q4_K: (QK_K, 144),
    GGML_Q5_K: (QK_K, 176),
    GGML_Q6_K: (QK_K, 210),
}
"""GGML type id → (values per block, bytes per block)."""
_NAMES = {GGML_Q5_0: "Q5_0", GGML_Q5_1: "Q5_1", GGML_Q4_K: "Q4_K", GGML_Q5_K: "Q5_K", GGML_Q6_K: "Q6_K"}


@dataclass(frozen=True)
class Decoded:
    """A tensor's blocks decoded: ``w = q * scale + offset`` per sub-block.

    Attributes:
        q: Integer values ``(rows, cols)``: int8 (Q5_0 ``q - 16``, Q6_K ``q - 32``)
            or uint8 (Q5_1, Q4_K, Q5_K).
        scale: float32 ``(rows, cols / sub)``.
        offset: float32 ``(rows, cols / sub)``, or None for symmetric types.
        sub: Values sharing one scale (16 for Q6_K, else 32).
    """

    q: np.ndarray
    scale: np.ndarray
    offset: np.ndarray | None
    sub: int


def _blocks(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> np.ndarray:
    """Views a tensor's bytes as ``(rows * cols / values_per_block, block_bytes)`` uint8."""
    if ggml_type not in BLOCK_SHAPES:
        raise ModelFormatError(f"GGML type {ggml_type} is not a Q5_0/Q5_1/K-quant type")
    name = _NAMES[ggml_type]
    per_block, nbytes = BLOCK_SHAPES[ggml_type]
    if cols % per_block:
        raise ModelFormatError(
            f"{name} tensor of shape ({rows}, {cols}): its rows of {cols} values are not a multiple "
            f"of its {per_block}-value blocks"
        )
    need = rows * (cols // per_block) * nbytes
    flat = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    if flat.size != need:
        raise ModelFormatError(f"{name} tensor of shape ({rows}, {cols}) should have {need} bytes, found {flat.size}")
    return flat.reshape(-1, nbytes)


def _f16(b: np.ndarray, start: int) -> np.ndarray:
    """The float16 at bytes ``start:start + 2`` of every block, as float32 ``(n, 1)``."""
    return b[:, start : start + 2].copy().view(np.float16).astype(np.float32)


def _fifth_bits(qh: np.ndarray) -> np.ndarray:
    """Q5_0/Q5_1 ``qh`` bytes ``(n, 4)`` → bit ``j`` of the little-endian word, ``(n, 32)`` uint8."""
    return np.unpackbits(qh, axis=-1, bitorder="little")


def _nibbles_32(qs: np.ndarray) -> np.ndarray:
    """16 bytes per block → 32 values: low nibbles first, then high nibbles."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _k_scales(sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 12 packed scale bytes of Q4_K/Q5_K → eight 6-bit scales and eight 6-bit mins, ``(n, 8)`` each.

    Sub-blocks 0-3 keep their scale and min in the low six bits of bytes 0-3
    and 4-7; sub-blocks 4-7 take their low four bits from bytes 8-11 (scale in
    the low nibble, min in the high one) and their top two bits from the top
    two bits of bytes 0-3 (scale) and 4-7 (min).
    """
    lo_sc, lo_mn, extra = sb[:, 0:4], sb[:, 4:8], sb[:, 8:12]
    sc = np.concatenate([lo_sc & 0x3F, (extra & 0x0F) | ((lo_sc >> 6) << 4)], axis=-1)
    mn = np.concatenate([lo_mn & 0x3F, (extra >> 4) | ((lo_mn >> 6) << 4)], axis=-1)
    return sc, mn


def decode(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> Decoded:
    """Decodes a Q5_0/Q5_1/Q4_K/Q5_K/Q6_K tensor into values and per-sub-block scales.

    Args:
        raw: The tensor's bytes as stored in the file (any shape, rows contiguous).
        ggml_type: GGML type id.
        rows: Rows of the tensor (GGUF's last dimension).
        cols: Values per row (GGUF's first dimension, contiguous).

    Returns:
        The decoded tensor.

    Raises:
        ModelFormatError: If the type is not one of these, the rows are not whole
            blocks, or the byte count does not match the shape.
    """
    b = _blocks(raw, ggml_type, rows, cols)  # (n_blocks, block_bytes)
    n = b.shape[0]
    if ggml_type in (GGML_Q5_0, GGML_Q5_1):
        d = _f16(b, 0)
        head = 2 if ggml_type == GGML_Q5_0 else 4
        hi = _fifth_bits(b[:, head : head + 4])
        q = _nibbles_32(b[:, head + 4 : head + 20]) | (hi << 4)  # (n, 32) in 0..31
        if ggml_type == GGML_Q5_0:
            return Decoded((q.astype(np.int8) - 16).reshape(rows, cols), d.reshape(rows, -1), None, 32)
        return Decoded(q.reshape(rows, cols), d.reshape(rows, -1), _f16(b, 2).reshape(rows, -1), 32)
    if ggml_type in (GGML_Q4_K, GGML_Q5_K):
        d, dmin = _f16(b, 0), _f16(b, 2)
        sc, mn = _k_scales(b[:, 4 : 4 + _K_SCALE_BYTES])
        qs_at = 4 + _K_SCALE_BYTES + (QK_K // 8 if ggml_type == GGML_Q5_K else 0)
        chunks = b[:, qs_at : qs_at + QK_K // 2].reshape(n, 4, 1, 32)  # (n, chunk, 1, byte)
        q = np.concatenate([chunks & 0x0F, chunks >> 4], axis=2).reshape(n, 8, 32)  # (n, sub, value)
        if ggml_type == GGML_Q5_K:
            qh = b[:, 4 + _K_SCALE_BYTES : qs_at]  # (n, 32): bit j → sub-block j
            bits = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1  # (n, sub, value)
            q = q | (bits << 4)
        scale = d * sc.astype(np.float32)  # (n, 8), float32 products as the reference
        offset = -(dmin * mn.astype(np.float32))
        return Decoded(q.reshape(rows, cols), scale.reshape(rows, -1), offset.reshape(rows, -1), 32)
    # Q6_K
    ql = b[:, 0 : QK_K // 2].reshape(n, 2, 1, 64)  # (n, half, 1, byte)
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2).reshape(n, 2, 4, 32)  # (n, half, quarter, value)
    qh = b[:, QK_K // 2 : QK_K // 2 + QK_K // 4].reshape(n, 2, 1, 32)  # (n, half, 1, byte)
    high = (qh >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 0x03  # (n, half, quarter, value)
    q = (low | (high << 4)).astype(np.int8) - 32
    sc_at = QK_K // 2 + QK_K // 4
    scales = b[:, sc_at : sc_at + QK_K // 16].copy().view(np.int8).astype(np.float32)  # (n, 16)
    scale = _f16(b, sc_at + QK_K // 16) * scales
    return Decoded(q.reshape(rows, cols), scale.reshape(rows, -1), None, 16)


def dequantize(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> np.ndarray:
    """Dequantizes a Q5_0/Q5_1/K-quant tensor to float32 ``(rows, cols)``, as ``gguf.quants.dequantize``.

    Raises:
        ModelFormatError: As :func:`decode`.
    """
    dec = decode(raw, ggml_type, rows, cols)
    q = dec.q.astype(np.float32).reshape(rows, -1, dec.sub)  # (rows, subs, sub)
    w = q * dec.scale[..., None]
    if dec.offset is not None:
        w = w + dec.offset[..., None]
    return w.reshape(rows, cols)


def q6_k_scales(raw: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A Q6_K tensor's two scale levels as stored: float16 ``d`` ``(rows, cols / 256)``, int8 ``sc`` ``(rows, cols / 16)``.

    :func:`decode`'s ``scale`` is their float32 product; our ``q8k`` layout keeps them apart.

    Raises:
        ModelFormatError: As :func:`decode`, or a ``d`` that is inf or NaN.
    """
    b = _blocks(raw, GGML_Q6_K, rows, cols)
    sc_at = QK_K // 2 + QK_K // 4
    sc = b[:, sc_at : sc_at + QK_K // 16].copy().view(np.int8).reshape(rows, -1)
    d = b[:, sc_at + QK_K // 16 : sc_at + QK_K // 16 + 2].copy().view(np.float16).reshape(rows, -1)
    _check_finite("Q6_K", rows, cols, d)
    return d, sc


def _check_finite(name: str, rows: int, cols: int, *scales: np.ndarray) -> None:
    """A corrupt file's inf / NaN scales are a load error, not NaN logits at run time."""
    if not all(np.isfinite(s).all() for s in scales):
        raise ModelFormatError(f"{name} tensor of shape ({rows}, {cols}) has scales that are not finite numbers")


def k_scales(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """A Q4_K / Q5_K tensor's scales as stored: float16 ``d``, ``dmin`` ``(rows, cols / 256)``, 6-bit ``sc``, ``m``
    as uint8 ``(rows, cols / 32)``; :func:`decode`'s ``scale`` is ``d * sc`` and its ``offset`` ``-dmin * m``.

    Raises:
        ModelFormatError: As :func:`decode`, for another type, or a ``d`` / ``dmin`` that is inf or NaN.
    """
    if ggml_type not in (GGML_Q4_K, GGML_Q5_K):
        raise ModelFormatError(f"GGML type {ggml_type} is not Q4_K or Q5_K")
    b = _blocks(raw, ggml_type, rows, cols)
    sc, mn = _k_scales(b[:, 4 : 4 + _K_SCALE_BYTES])
    d = b[:, 0:2].copy().view(np.float16).reshape(rows, -1)
    dmin = b[:, 2:4].copy().view(np.float16).reshape(rows, -1)
    _check_finite(_NAMES[ggml_type], rows, cols, d, dmin)
    return d, dmin, sc.reshape(rows, -1).astype(np.uint8), mn.reshape(rows, -1).astype(np.uint8)
