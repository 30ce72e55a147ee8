"""Low-rank updates kept beside the stored weights (an unmerged LoRA adapter).

A tuned model's update ``W + s B A`` cannot always be merged into the stored
weight: requantizing the sum to q4 rounds most of a small update away (the
base already lies on the q4 grid; docs/tuning.md). Kept apart, the update
costs two thin float32 matmuls per projection, ``y = x W^T + (x A^T) B'^T``
with ``B' = s B``, and the base weights stay exactly the file's.

Adapters are given per Hugging Face projection (``model.layers.3.self_attn.q_proj``),
as PEFT names them; the compiled models fuse q/k/v and gate/up into one
projection each, so the factors of fused parts are stacked: ``A`` rows
concatenated, ``B'`` block-diagonal (each part's output rows read only its
own rank's columns). Every family shares these module names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = ["FUSED_PROJECTIONS", "LowRankUpdate", "attach_low_rank", "fuse_low_rank", "low_rank_params"]

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


def fuse_low_rank(
    updates: Mapping[str, LowRankUpdate], weight_shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, LowRankUpdate]:
    """Stacks per-projection updates into the compiled model's fused projections.

    Args:
        updates: Checkpoint projection (``model.layers.0.self_attn.q_proj``) →
            ``(A, B')``. Projections without an update get zero columns.
        weight_shapes: Canonical tensor name → shape (for the ``(out, in)`` of
            every part of a fused projection).

    Returns:
        Compiled module (``layers.0.self_attn.qkv_proj``) → ``(A (R, in), B' (out, R))``
        float32, ``R`` the sum of its parts' ranks.

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
    out: dict[str, LowRankUpdate] = {}
    for module, given in by_module.items():
        layer = module.split(".")[1]
        parts = FUSED_PROJECTIONS[module.split(".", 2)[2]]
        shapes = [weight_shapes[f"model.layers.{layer}.{p}.weight"] for p in parts]
        total_rank = sum(given[p][0].shape[0] for p in parts if p in given)
        n_out, n_in = sum(s[0] for s in shapes), shapes[0][1]
        a_all = np.zeros((total_rank, n_in), np.float32)  # (R, in)
        b_all = np.zeros((n_out, total_rank), np.float32)  # (out, R), block-diagonal
        row = col = 0
        for p, (rows, _) in zip(parts, shapes):
            if p in given:
                a, b = given[p]
                r = a.shape[0]
                a_all[col:col + r] = a
                b_all[row:row + rows, col:col + r] = b
                col += r
            row += rows
        out[module] = (a_all, b_all)
    return out


def _module(net: Any, path: str) -> Any:
    node = net
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def attach_low_rank(net: Any, fused: Mapping[str, LowRankUpdate]) -> None:
    """Gives each compiled projection named in ``fused`` its low-rank parameters (before export).

    Raises:
        ModelFormatError: A module path the model does not have.
    """
    for path, (a, _b) in fused.items():
        try:
            layer = _module(net, path)
        except (AttributeError, IndexError) as exc:
            raise ModelFormatError(f"low-rank update for {path}: the model has no such projection") from exc
        layer.add_low_rank(int(a.shape[0]))


def low_rank_params(fused: Mapping[str, LowRankUpdate]) -> dict[str, np.ndarray]:
    """The parameters :func:`attach_low_rank` created, by name (``layers.0.self_attn.qkv_proj.lora_a``)."""
    out: dict[str, np.ndarray] = {}
    for path, (a, b) in fused.items():
        out[f"{path}.lora_a"] = np.ascontiguousarray(a, np.float32)
        out[f"{path}.lora_b"] = np.ascontiguousarray(b, np.float32)
    return out
