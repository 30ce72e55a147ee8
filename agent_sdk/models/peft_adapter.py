"""PEFT LoRA adapter folders read without PyTorch: ``adapter_config.json`` + ``adapter_model.safetensors``.

An adapter trained anywhere (``agent-sdk tune``, or PEFT on a GPU) for a
supported base model compiles beside its weights (``agent-sdk compile MODEL
--adapter DIR``, :mod:`agent_sdk.models.low_rank`). Tensor names are PEFT's:
``base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`` ``(r, in)``
and ``...lora_B.weight`` ``(out, r)``; the update is ``(lora_alpha / r) B A``.
Only plain LoRA is accepted: configs that change the math (DoRA, rsLoRA,
fan-in-fan-out weights, per-module ranks) are refused by name. An adapter of some blocks only
(PEFT's ``layers_to_transform``) updates those blocks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk._safetensors import read_safetensors
from agent_sdk.errors import ModelFormatError
from agent_sdk.models.low_rank import FUSED_PROJECTIONS, LowRankUpdate

__all__ = [
    "ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "PEFT_PREFIX", "PROJECTIONS", "adapter_layers", "read_adapter_config",
    "read_peft_adapter",
]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."
"""What PEFT's ``PeftModel`` (``base_model``) and ``LoraModel`` (``model``) put before a module path."""
PROJECTIONS: tuple[str, ...] = tuple(p.split(".")[1] for parts in FUSED_PROJECTIONS.values() for p in parts)
"""Projection names an adapter may target: q/k/v/o and gate/up/down ``_proj``."""

# Config values this code implements; others (DoRA, rsLoRA, fan-in-fan-out weights) change the math.
_REQUIRED_VALUES: dict[str, Any] = {
    "peft_type": "LORA",
    "bias": "none",
    "fan_in_fan_out": False,
    "use_rslora": False,
    "use_dora": False,
}
_TENSOR = re.compile(r"^base_model\.model\.(model\.layers\.\d+\.(?:self_attn|mlp)\.(\w+))\.lora_([AB])\.weight$")


def read_adapter_config(path: Path) -> dict[str, Any]:
    """Reads and checks ``adapter_config.json``.

    Raises:
        ModelFormatError: Unreadable, not JSON, or a LoRA variant this code does not compute (all listed).
    """
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read the adapter config: {exc}") from exc
    except ValueError as exc:
        raise ModelFormatError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelFormatError(f"{path}: expected a JSON object")
    problems = []
    for key, want in _REQUIRED_VALUES.items():
        if config.get(key, want) != want:
            problems.append(f"{key} is {config.get(key)!r}; only {want!r} is supported")
    r, alpha = config.get("r"), config.get("lora_alpha")
    if not (isinstance(r, int) and not isinstance(r, bool) and r > 0):
        problems.append(f"r is {r!r}; expected a positive integer")
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool)):
        problems.append(f"lora_alpha is {alpha!r}; expected a number")
    targets = config.get("target_modules")
    if isinstance(targets, str) or not isinstance(targets, list) or not targets:
        problems.append(f"target_modules is {targets!r}; expected a list of projection names")
    else:
        problems += [f"target module {t!r} is not one of {', '.join(PROJECTIONS)}" for t in targets
                     if t not in PROJECTIONS]
    for key in ("rank_pattern", "alpha_pattern"):
        if config.get(key):
            problems.append(f"{key} is not supported (one rank and alpha for every projection)")
    if config.get("modules_to_save") is not None:
        problems.append("modules_to_save is not supported")
    problems += _layer_problems(config)
    if problems:
        raise ModelFormatError(f"{path}: unsupported LoRA adapter:\n  " + "\n  ".join(problems))
    return config


def _is_index(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _layer_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the config's block subset, read as PEFT reads it.

    ``layers_to_transform``: a block index or a list of them (None or ``[]``: every block); ``layers_pattern``: the
    decoder's ``layers`` (``""`` / ``[]`` / None: any, which for these models is the same), and only with blocks
    given, as PEFT requires; ``layer_replication`` (blocks repeated, so indices count another stack) is refused.
    """
    layers, pattern = config.get("layers_to_transform"), config.get("layers_pattern")
    problems = []
    if layers is not None and not (_is_index(layers) or (isinstance(layers, list)
                                                         and all(_is_index(i) for i in layers))):
        problems.append(f"layers_to_transform is {layers!r}; expected a block index or a list of them")
    if pattern not in (None, "", [], "layers", ["layers"]):
        problems.append(f"layers_pattern is {pattern!r}; only the decoder's 'layers' is supported")
    elif pattern and (layers is None or layers == []):
        problems.append("layers_pattern is given without layers_to_transform (PEFT refuses it too)")
    if config.get("layer_replication"):
        problems.append("layer_replication is not supported (its block indices count a repeated stack)")
    return problems


def adapter_layers(config: dict[str, Any]) -> list[int] | None:
    """The blocks a checked config adapts, ascending and each once (None: every block)."""
    layers = config.get("layers_to_transform")
    if layers is None or layers == []:
        return None
    return sorted({layers} if isinstance(layers, int) else set(layers))


def read_peft_adapter(folder: Path | str) -> tuple[dict[str, Any], dict[str, LowRankUpdate]]:
    """Reads a PEFT LoRA folder as low-rank updates for the compiler.

    Returns:
        ``(config, updates)``: the checked config, and projection
        (``model.layers.0.self_attn.q_proj``) → ``(A (r, in), (alpha / r) B (out, r))``
        float32 (the scale folded into ``B`` in float64, rounded once).

    Raises:
        ModelFormatError: Unreadable files, an unsupported config (block lists
            included), tensors with other names, ranks, dtypes, a projection the
            config does not target or a block outside its ``layers_to_transform``,
            or an ``A`` without its ``B`` (all listed at once).
    """
    folder = Path(folder)
    config = read_adapter_config(folder / ADAPTER_CONFIG)
    rank, scale = int(config["r"]), float(config["lora_alpha"]) / int(config["r"])
    layers = adapter_layers(config)
    weights_path = folder / ADAPTER_WEIGHTS
    if not weights_path.is_file():
        raise ModelFormatError(f"{weights_path}: no adapter weights")
    tensors = read_safetensors(weights_path)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    problems = []
    for name, t in tensors.items():
        m = _TENSOR.match(name)
        if not m:
            problems.append(f"unexpected tensor {name}")
            continue
        module, proj, part = m.groups()
        if proj not in config["target_modules"]:
            problems.append(f"{name}: {proj} is not among the config's target_modules")
        elif layers is not None and (block := int(module.split(".")[2])) not in layers:
            problems.append(f"{name}: block {block} is not among the config's layers_to_transform")
        elif t.ndim != 2 or not np.issubdtype(t.dtype, np.floating):
            problems.append(f"{name}: {t.dtype}{tuple(t.shape)} is not a float matrix")
        elif t.shape[0 if part == "A" else 1] != rank:
            problems.append(f"{name}: shape {tuple(t.shape)} does not have rank {rank}")
        else:
            pairs.setdefault(module, {})[part] = t
    for module, got in pairs.items():
        problems += [f"{PEFT_PREFIX}{module}.lora_{p}.weight is missing" for p in "AB" if p not in got]
    if not tensors:
        problems.append("no tensors")
    if problems:
        shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise ModelFormatError(f"{weights_path}: not a LoRA adapter this code reads:\n  " + "\n  ".join(shown))
    updates = {
        module: (np.ascontiguousarray(got["A"], np.float32),
                 (got["B"].astype(np.float64) * scale).astype(np.float32))
        for module, got in pairs.items()
    }
    return config, updates
