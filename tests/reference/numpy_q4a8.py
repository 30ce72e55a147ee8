"""Exact numpy reference for the integer half of the ``q4a8`` and ``q4a16`` kernels, and inputs that stress it.

Written from the specification in ``agent_sdk/quantization/int8_kernels.py``
(nothing from ``agent_sdk`` is imported): per token and group of 32,

* ``amax = max |x|``, ``inv = qmax / amax``, a correctly rounded float32
  division (0 when ``amax`` is below 2^-120, int8, or 2^-112, int16, where it would overflow); ``qmax`` is
  127 for int8 activations, 32,767 for int16;
* ``q = rint(x * inv)``: a float32 multiply, then round half to even;
* ``sums[t, g, o] = sum_{k in g} w4[o, k] * q[t, k]`` in int64, ``w4`` the
  unsigned 4-bit weights.

Everything here is exact (IEEE float32 operations numpy performs one at a
time, integer sums), so a kernel that follows the specification must match
it bit for bit on every CPU.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "GROUP",
    "QMAX",
    "adversarial_activations",
    "adversarial_nibbles",
    "group_sums",
    "pack_nibbles",
    "quantize_activations",
    "stored_order",
]

GROUP = 32
INT8_MAX = 127
NIBBLE_MAX = 15
#: Below this group maximum the activations round to zero (``qmax / amax`` would overflow float32), per bits.
MIN_GROUP_MAX = {8: np.float32(2.0**-120), 16: np.float32(2.0**-112)}
INT16_MAX = 32767
QMAX = {8: INT8_MAX, 16: INT16_MAX}
#: Largest int32 a group sum can reach: 32 products of 15 x 127 (above int16's 32,767).
MAX_GROUP_SUM = GROUP * NIBBLE_MAX * INT8_MAX
#: With int16 activations: 32 x 15 x 32,767, below 2^24 (exact in float32 too).
MAX_GROUP_SUM16 = GROUP * NIBBLE_MAX * INT16_MAX


def quantize_activations(x: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounds ``x (n, K)`` float32 to int8 (``bits`` 16: int16) per group of 32, as specified.

    Returns:
        ``(q, d, inv)``: ``q (n, K)`` int8 / int16 in natural order, ``d (n, K/32)``
        float32 ``amax / qmax`` and ``inv (n, K/32)`` float32 ``qmax / amax``.
    """
    qmax = QMAX[bits]
    x = np.asarray(x, dtype=np.float32)
    n, k = x.shape
    g = x.reshape(n, k // GROUP, GROUP)
    amax = np.abs(g).max(axis=-1)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(amax >= MIN_GROUP_MAX[bits], np.float32(qmax) / amax, np.float32(0)).astype(np.float32)
    d = (amax / np.float32(qmax)).astype(np.float32)
    prod = (g * inv[..., None]).astype(np.float32)
    q = np.rint(prod)
    if np.abs(q).max(initial=0) > qmax:
        raise AssertionError(f"a rounded activation left the int{bits} range")
    return q.astype(np.int8 if bits == 8 else np.int16).reshape(n, k), d, inv


def stored_order(q: np.ndarray, bits: int = 8) -> np.ndarray:
    """``q (n, K)`` in the kernels' storage order: each chunk of 8 values evens first, then odds (int8), or as the
    pairs ``(0, 4), (1, 5), (2, 6), (3, 7)`` (int16)."""
    n, k = q.shape
    if bits == 16:
        return q.reshape(n, k // 8, 2, 4).transpose(0, 1, 3, 2).reshape(n, k)
    chunks = q.reshape(n, k // 8, 4, 2)  # (n, chunk, pair, even/odd)
    return chunks.transpose(0, 1, 3, 2).reshape(n, k)


def pack_nibbles(nibbles: np.ndarray) -> np.ndarray:
    """``(N, K)`` values 0..15 -> ``(N, K/8)`` uint32 words, value ``k`` at bit ``4 * (k % 8)``."""
    nib = np.asarray(nibbles, dtype=np.uint32)
    n, k = nib.shape
    parts = nib.reshape(n, k // 8, 8)
    return np.bitwise_or.reduce(parts << (4 * np.arange(8, dtype=np.uint32)), axis=-1).astype(np.uint32)


def group_sums(q: np.ndarray, nibbles: np.ndarray) -> np.ndarray:
    """Exact ``sums (n, K/32, N)`` of ``nibbles (N, K)`` times ``q (n, K)`` per group."""
    n, k = q.shape
    qg = q.astype(np.int64).reshape(n, k // GROUP, GROUP)
    wg = nibbles.astype(np.int64).reshape(nibbles.shape[0], k // GROUP, GROUP)
    return np.einsum("tgk,ogk->tgo", qg, wg)


def adversarial_activations(n_in: int, seed: int = 0, bits: int = 8) -> np.ndarray:
    """Activations that tell rounding modes, reciprocals and integer widths apart: ``(8, n_in)`` float32.

    Rows: 0 Gaussian with a group of zeros; 1 an outlier channel and a
    massive one (as real models have); 2 exact halves under ``inv == 1``
    (round half to even gives 0, 2, 2, -2 for 0.5, 1.5, 2.5, -2.5; away from
    zero would give 1, 2, 3, -3); 3 +-qmax everywhere, +qmax in the first group
    (every product at its largest, a group sum of 60,960 for int8: beyond int16); 4 values spread over 1e-30..1e30;
    5 halves under ``inv != 1`` (``x * inv`` lands on k + 1/2 only when exact);
    6 a Gaussian x 1e3; 7 one nonzero value per group, and a group of ~1e-37 (int8; ~2^-116 for int16)
    where ``qmax / max`` overflows float32.
    """
    if n_in % GROUP or n_in < 2 * GROUP:
        raise ValueError("n_in must be a multiple of 32, at least 64")
    qmax = QMAX[bits]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((8, n_in)) * 3).astype(np.float32)
    x[0, :GROUP] = 0
    x[1, 5] = 300.0
    x[1, GROUP + 7] = -1.0e4
    halves = (np.arange(n_in) % 254 - 127 + 0.5).astype(np.float32)
    halves[:: GROUP] = qmax  # a qmax in every group makes inv exactly 1
    x[2] = halves
    x[3] = np.where(rng.random(n_in) < 0.5, qmax, -qmax).astype(np.float32)
    x[3, :GROUP] = qmax
    x[4] = (np.sign(rng.standard_normal(n_in)) * 10.0 ** rng.uniform(-30, 30, n_in)).astype(np.float32)
    x[5] = (np.arange(n_in) % 64 - 32 + 0.5).astype(np.float32) / np.float32(3)
    x[6] *= 1e3
    x[7] = 0
    x[7, :: GROUP] = -2.5
    # a group where qmax / max overflows float32 (127 / max below ~3.7e-37, 32767 / max below ~9.6e-35)
    tiny = np.float32(1e-37) if bits == 8 else np.float32(2.0**-116)
    x[7, GROUP : 2 * GROUP] = tiny * rng.standard_normal(GROUP).astype(np.float32)
    return x


def adversarial_nibbles(n_out: int, n_in: int, seed: int = 0) -> np.ndarray:
    """4-bit weights ``(n_out, n_in)``: random, with a row of 15s (largest sums) and a row of 0s."""
    rng = np.random.default_rng(seed)
    nib = rng.integers(0, NIBBLE_MAX + 1, (n_out, n_in), dtype=np.uint8)
    nib[0] = NIBBLE_MAX
    nib[-1] = 0
    return nib
