"""Low-rank updates kept beside the stored weights (an unmerged LoRA adapter).

A tuned model's update ``W + s B A`` cannot always be merged into the stored
weight: requantizing the sum to q4 rounds most of a small update away (the
base already lies on the q4 grid; docs/tuning.md). Kept apart, the update
costs two thin float32 matmuls per projection, ``y = x W^T + (x A^T) B'^T``
with ``B' = s B``, and the base weights stay exactly the file's.

Adapters are given per Hugging Face projection (``model.layers.3.self_attn.q_proj``),
as PEFT names them; the compiled models fuse q/k/v and gate/up into one
projection each, so the parts' factors are gathered: ``A`` side by side,
``B'`` stacked along the outputs, each part's output rows reading only its
own rank's slice of ``x A^T`` (the kernel in
:mod:`agent_sdk.quantization.low_rank_kernel`). Every family shares these
module names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = [
    "FUSED_PROJECTIONS", "INT8_LEVELS", "FusedLowRank", "LowRankUpdate", "attach_low_rank", "fuse_low_rank",
    "int8_rows", "low_rank_params",
]

LowRankUpdate = tuple[np.ndarray, np.ndarray]
"""``(A (r, in), B' (out, r))`` of one projection, with the adapter's scale already in ``B'``."""

FUSED_PROJECTIONS: dict[str, tuple[str, ...]] = {
    "self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "self_attn.o_proj": ("self_attn.o_proj",),
    "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj"),
    "mlp.down_proj": ("mlp.down_proj",),
}
"""Compiled module (under ``layers.N.``) → the checkpoint projections it holds, in row order."""

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")

INT8_LEVELS = 127
"""An int8 factor row stores ``round(row / scale)`` with ``scale = max |row| / 127`` (symmetric, -128 unused)."""

_INT8_SCALE = {"lora_at": "lora_as", "lora_bt": "lora_bs"}
"""The scale parameter of each int8 factor."""


@dataclass(frozen=True)
class FusedLowRank:
    """One compiled projection's update in the kernel's compact layout (:mod:`agent_sdk.quantization.low_rank_kernel`).

    Attributes:
        at: ``A`` transposed, the parts' factors side by side: ``(in, P r)`` float32.
        bt: ``B'`` transposed: ``(r, out)`` float32; output rows of part ``p`` read ``low[p r : p r + r]``.
        parts: Output rows of each part, in order.
    """

    at: np.ndarray
    bt: np.ndarray
    parts: tuple[int, ...]

    @property
    def rank(self) -> int:
        """``r``, each part's rank (smaller ones zero-padded)."""
        return int(self.bt.shape[0])


def fuse_low_rank(
    updates: Mapping[str, LowRankUpdate], weight_shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, FusedLowRank]:
    """Gathers per-projection updates into the compiled model's fused projections.

    Args:
        updates: Checkpoint projection (``model.layers.0.self_attn.q_proj``) →
            ``(A, B')``. Parts of a fused projection without an update get zeros.
        weight_shapes: Canonical tensor name → shape (for the ``(out, in)`` of
            every part of a fused projection).

    Returns:
        Compiled module (``layers.0.self_attn.qkv_proj``) → its update.

    Raises:
        ModelFormatError: An update for a projection the model does not have,
            or factors whose shapes do not fit it.
    """
    by_module: dict[str, dict[str, LowRankUpdate]] = {}
    problems = []
    part_of = {part: fused for fused, parts in FUSED_PROJECTIONS.items() for part in parts}
    for name, (a, b) in updates.items():
        m = _LAYER.match(name)
        if not m or m.group(2) not in part_of or f"{name}.weight" not in weight_shapes:
            problems.append(f"{name}: no such projection in the model")
            continue
        out_f, in_f = weight_shapes[f"{name}.weight"]
        rank = a.shape[0] if a.ndim == 2 else -1
        if a.shape != (rank, in_f) or b.shape != (out_f, rank) or rank < 1:
            problems.append(f"{name}: factors {a.shape} and {b.shape} do not fit a ({out_f}, {in_f}) weight")
            continue
        by_module.setdefault(f"layers.{m.group(1)}.{part_of[m.group(2)]}", {})[m.group(2)] = (a, b)
    if problems:
        raise ModelFormatError("low-rank update does not match the model: " + "; ".join(problems[:10]))
    out: dict[str, FusedLowRank] = {}
    for module, given in by_module.items():
        layer = module.split(".")[1]
        names = FUSED_PROJECTIONS[module.split(".", 2)[2]]
        rows = tuple(int(weight_shapes[f"model.layers.{layer}.{p}.weight"][0]) for p in names)
        n_in = int(weight_shapes[f"model.layers.{layer}.{names[0]}.weight"][1])
        rank = max(a.shape[0] for a, _ in given.values())
        at = np.zeros((n_in, len(names) * rank), np.float32)  # (in, P r)
        bt = np.zeros((rank, sum(rows)), np.float32)  # (r, out)
        start = 0
        for i, (p, n_rows) in enumerate(zip(names, rows)):
            if p in given:
                a, b = given[p]
                r = a.shape[0]
                at[:, i * rank:i * rank + r] = a.T
                bt[:r, start:start + n_rows] = b.T
            start += n_rows
        out[module] = FusedLowRank(np.ascontiguousarray(at), np.ascontiguousarray(bt), rows)
    return out


def _module(net: Any, path: str) -> Any:
    node = net
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def attach_low_rank(net: Any, fused: Mapping[str, FusedLowRank], *, dtype: str = "float32") -> None:
    """Gives each compiled projection named in ``fused`` its low-rank parameters (before export).

    Args:
        net: The model, before export.
        fused: :func:`fuse_low_rank`'s updates.
        dtype: How the factors are stored (:data:`~agent_sdk.quantization.formats.FACTOR_DTYPES`).

    Raises:
        ModelFormatError: A module path the model does not have.
    """
    for path, update in fused.items():
        try:
            layer = _module(net, path)
        except (AttributeError, IndexError) as exc:
            raise ModelFormatError(f"low-rank update for {path}: the model has no such projection") from exc
        layer.add_low_rank(update.rank, update.parts, dtype=dtype)


def low_rank_params(fused: Mapping[str, FusedLowRank], *, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The parameters :func:`attach_low_rank` created, by name (``layers.0.self_attn.qkv_proj.lora_at``).

    Args:
        fused: :func:`fuse_low_rank`'s updates.
        dtype: The storage :func:`attach_low_rank` was given (float16 rounds each factor to nearest; int8 stores
            :func:`int8_rows` of each factor's rows, their scales as ``lora_as`` and ``lora_bs``).

    Raises:
        ModelFormatError: A factor that is not finite, or too large for float16.
    """
    out: dict[str, np.ndarray] = {}
    for path, update in fused.items():
        for suffix, factor in (("lora_at", update.at), ("lora_bt", update.bt)):
            if not np.isfinite(factor).all():
                raise ModelFormatError(f"low-rank factor {path}.{suffix} holds values that are not finite")
            if dtype == "int8":  # columns here are rows of A and of B: one scale each
                q, scale = int8_rows(factor.T)
                out[f"{path}.{suffix}"] = np.ascontiguousarray(q.T)
                out[f"{path}.{_INT8_SCALE[suffix]}"] = scale
                continue
            peak = float(np.abs(factor).max(initial=0.0))
            if peak > float(np.finfo(dtype).max):  # only float16's bound can be passed by finite float32 factors
                raise ModelFormatError(f"low-rank factor {path}.{suffix} holds {peak:g}, which {dtype} cannot store: "
                                       "keep the factors in float32")
            out[f"{path}.{suffix}"] = factor.astype(dtype)
    return out


def int8_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``m`` as int8 levels and a float32 scale: ``row ~ q * scale``, ``scale = max |row| / 127``.

    The rule the int8 low-rank storage uses (:data:`INT8_LEVELS`). A row whose
    largest value is so small that ``max / 127`` rounds to zero in float32
    (all zeros, or subnormals under ~1e-43) is stored as zeros with scale 1.
    ``agent-sdk tune`` rounds its adapter with the same rule
    (:func:`agent_sdk.tune.adapter.round_adapter`), so rounding the rounded values again gives them back.

    Args:
        m: ``(rows, cols)`` finite values.

    Returns:
        ``(q, scale)``: ``(rows, cols)`` int8 and ``(rows,)`` float32.
    """
    m32 = np.asarray(m, np.float32)
    scale = (np.abs(m32).max(axis=1, initial=0.0) / np.float32(INT8_LEVELS)).astype(np.float32)
    empty = scale == 0  # nothing a level could hold
    scale[empty] = 1.0
    q = np.clip(np.rint(m32 / scale[:, None]), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
    q[empty] = 0
    return q, scale
