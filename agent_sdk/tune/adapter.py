"""LoRA adapters as PEFT writes them: ``adapter_model.safetensors`` and ``adapter_config.json``.

A folder saved here loads with ``peft.PeftModel.from_pretrained`` on the
Hugging Face base model, and a PEFT LoRA folder on the same projections loads
here. Tensor names are PEFT's: the module path under
``LlamaForCausalLM`` with the ``base_model.model.`` prefix and no adapter name,
``base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`` ``(r, in)``
and ``...lora_B.weight`` ``(out, r)``. Our own extra information (what the
adapter was trained for) goes into the safetensors header's metadata, where
PEFT does not look, so the config stays one PEFT's ``LoraConfig`` accepts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from agent_sdk.errors import ModelFormatError, UserError
from agent_sdk.models.low_rank import int8_rows
from agent_sdk.models.peft_adapter import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    PEFT_PREFIX,
    adapter_layers,
    read_adapter_config,
)
from agent_sdk.quantization.formats import FACTOR_DTYPES
from agent_sdk.tune.torch_model import LORA_TARGETS, LoraLinear, TorchLlama, apply_lora, lora_layers, lora_modules

__all__ = [
    "ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "PEFT_PREFIX", "load_adapter", "low_rank_factors", "peft_config",
    "round_adapter", "save_adapter",
]

# The safetensors metadata key holding ``save_adapter(extra=...)`` as JSON.
_EXTRA_KEY = "agent_sdk"


def _adapter_config(model: TorchLlama) -> tuple[int, float, float, list[str]]:
    """``(r, alpha, dropout, targets)`` shared by every adapter of ``model``."""
    mods = lora_modules(model)
    if not mods:
        raise UserError("the model has no LoRA adapters to save (apply_lora first)")
    settings = {(m.rank, m.alpha, _dropout_p(m)) for m in mods.values()}
    if len(settings) > 1:
        raise UserError(f"adapters with different rank/alpha/dropout cannot be saved as one PEFT config: {settings}")
    r, alpha, dropout = settings.pop()
    present = {name.rsplit(".", 1)[1] for name in mods}
    targets = [t for t in LORA_TARGETS if t in present]
    return r, alpha, dropout, targets


def low_rank_factors(model: TorchLlama) -> dict[str, tuple[Any, Any]]:
    """Each adapter as the compiler keeps it beside the weights: projection → ``(A, scaling * B)`` float32 arrays.

    The scale is folded into ``B`` in float64 and rounded once, so the
    compiled update is ``x A^T (s B)^T`` (``compile_model(low_rank=...)``).
    """
    out: dict[str, tuple[Any, Any]] = {}
    for name, m in lora_modules(model).items():
        a = m.lora_A.weight.detach().float().numpy().copy()  # (r, in)
        b = (m.lora_B.weight.detach().double() * m.scaling).float().numpy()  # (out, r)
        out[name] = (a, b)
    return out


def round_adapter(model: TorchLlama, dtype: str) -> None:
    """Rounds every adapter, in place, to what a bundle storing its factors in ``dtype`` computes.

    ``A`` is rounded to ``dtype``, and ``B`` so that ``scaling * B`` (what
    :func:`low_rank_factors` gives the compiler) is a ``dtype`` value: the
    training model, the saved adapter and the compiled bundle then hold the
    same update (bit for bit when the scaling is a power of two, else to
    within float32's rounding of ``B = (scaling * B) / scaling``). ``float32``
    changes nothing. ``int8`` rounds each row of ``A`` and of ``scaling * B``
    to 255 levels of its largest value (:func:`~agent_sdk.models.low_rank.int8_rows`,
    the rule the compiler stores them with; the levels times the scale in
    float32, so the bundle's product differs by float32's rounding only).
    Nothing changes when an adapter cannot be rounded.

    Raises:
        UserError: A factor that is not finite, or too large for ``dtype`` (keep the factors in float32).
    """
    if dtype not in FACTOR_DTYPES:
        raise UserError(f"low-rank factors are stored as float16, int8 or float32; got {dtype!r}")
    if dtype == "float32":
        return
    limit = float(torch.finfo(torch.float16).max) if dtype == "float16" else math.inf
    modules = lora_modules(model)
    with torch.no_grad():
        for name, m in modules.items():  # every adapter checked before any is changed
            a, scaled_b = m.lora_A.weight, m.lora_B.weight.double() * m.scaling
            if not (torch.isfinite(a).all() and torch.isfinite(scaled_b).all()
                    and torch.isfinite(scaled_b.float()).all()):
                raise UserError(f"the adapter of {name} holds values that are not finite")
            if a.abs().max() > limit or scaled_b.abs().max() > limit:
                raise UserError(f"the adapter of {name} holds values too large for float16: keep the factors in "
                                "float32 (--low-rank-dtype float32; with --steps at the steps reached, the tune "
                                "command compiles again without training)")
        for m in modules.values():
            scaled_b = m.lora_B.weight.double() * m.scaling
            if dtype == "int8":
                m.lora_A.weight.copy_(_int8_values(m.lora_A.weight.float()))
                m.lora_B.weight.copy_((_int8_values(scaled_b.float()).double() / m.scaling).float())
            else:
                m.lora_A.weight.copy_(m.lora_A.weight.half().float())
                m.lora_B.weight.copy_((scaled_b.half().double() / m.scaling).float())


def _int8_values(m: torch.Tensor) -> torch.Tensor:
    """The float32 values int8 storage of ``m``'s rows stands for (``q * scale``, as the bundle computes them)."""
    q, scale = int8_rows(m.detach().numpy())
    return torch.from_numpy(q.astype(np.float32) * scale[:, None])


def _dropout_p(m: LoraLinear) -> float:
    return float(m.dropout.p) if isinstance(m.dropout, torch.nn.Dropout) else 0.0


def peft_config(model: TorchLlama, *, base_model: str) -> dict[str, Any]:
    """The ``adapter_config.json`` content for ``model``'s adapters.

    Args:
        model: A model with adapters (:func:`~agent_sdk.tune.torch_model.apply_lora`).
        base_model: ``base_model_name_or_path``: a Hugging Face id or path of the base weights.
    """
    r, alpha, dropout, targets = _adapter_config(model)
    adapted = lora_layers(model)
    layers = None if len(adapted) == len(model.model.layers) else adapted
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "revision": None,
        "inference_mode": True,
        "r": r,
        "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha,
        "lora_dropout": dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "layers_to_transform": layers,
        "layers_pattern": None if layers is None else "layers",
        "rank_pattern": {},
        "alpha_pattern": {},
    }


def save_adapter(model: TorchLlama, folder: Path | str, *, base_model: str, extra: dict[str, Any] | None = None) -> Path:
    """Writes the adapters of ``model`` as a PEFT LoRA folder.

    Each tensor is stored in float16 when all its values are float16 values
    (``A`` after :func:`round_adapter`), else in float32: either way the file
    holds the values exactly.

    Args:
        model: A model with adapters.
        folder: Created if needed; ``adapter_model.safetensors`` and
            ``adapter_config.json`` are overwritten.
        base_model: ``base_model_name_or_path`` in the config.
        extra: JSON-serialisable information stored in the safetensors
            metadata (read back by :func:`load_adapter`).

    Returns:
        The folder.

    Raises:
        UserError: The model has no adapters, or ``extra`` is not JSON.
    """
    folder = Path(folder)
    config = peft_config(model, base_model=base_model)
    tensors: dict[str, torch.Tensor] = {}
    for path, m in lora_modules(model).items():
        tensors[f"{PEFT_PREFIX}{path}.lora_A.weight"] = m.lora_A.weight.detach().contiguous()  # (r, in)
        tensors[f"{PEFT_PREFIX}{path}.lora_B.weight"] = m.lora_B.weight.detach().contiguous()  # (out, r)
    # a tensor rounded to float16 (round_adapter: every A; B only where s B / s stays a float16 value, which tiny
    # values of B below float16's normal range do not) is stored in it: the same values in half the bytes
    tensors = {name: t.half() if torch.equal(t.half().float(), t) else t for name, t in tensors.items()}
    metadata = {"format": "pt"}
    if extra is not None:
        try:
            metadata[_EXTRA_KEY] = json.dumps(extra, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise UserError(f"extra adapter information is not JSON-serialisable: {exc}") from exc
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / ADAPTER_WEIGHTS), metadata=metadata)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def load_adapter(model: TorchLlama, folder: Path | str) -> dict[str, Any]:
    """Loads a PEFT LoRA folder into ``model``.

    A model without adapters gets them first (rank, alpha, dropout, targets and
    ``layers_to_transform`` from the config); a model with adapters must have the same ones.

    Args:
        model: The base model the adapter was trained on.
        folder: Holds ``adapter_config.json`` and ``adapter_model.safetensors``.

    Returns:
        The ``extra`` dict given to :func:`save_adapter` (empty if none).

    Raises:
        ModelFormatError: Unreadable files, an unsupported config, or tensors
            that are missing, unexpected or mis-shaped (all listed at once).
        UserError: The model's adapters differ from the file's.
    """
    folder = Path(folder)
    config = read_adapter_config(folder / ADAPTER_CONFIG)
    r, alpha, targets = int(config["r"]), float(config["lora_alpha"]), list(config["target_modules"])
    dropout = float(config.get("lora_dropout") or 0.0)
    n_blocks = len(model.model.layers)
    layers = adapter_layers(config)
    if layers is not None and any(i >= n_blocks for i in layers):
        raise ModelFormatError(f"{folder}: layers_to_transform {layers} names blocks this model does not have "
                               f"({n_blocks} blocks)")
    if not lora_modules(model):
        apply_lora(model, rank=r, alpha=alpha, dropout=dropout, targets=targets, layers=layers)
    else:
        have_r, have_alpha, _, have_targets = _adapter_config(model)
        have_layers = lora_layers(model)
        want_layers = list(range(n_blocks)) if layers is None else layers
        if (have_r, have_alpha, sorted(have_targets), have_layers) != (r, alpha, sorted(targets), want_layers):
            raise UserError(
                f"{folder}: adapter r={r}, alpha={alpha}, targets {sorted(targets)}, blocks {want_layers} do not "
                f"match the model's r={have_r}, alpha={have_alpha}, targets {sorted(have_targets)}, blocks "
                f"{have_layers}"
            )
    weights_path = folder / ADAPTER_WEIGHTS
    try:
        with safe_open(str(weights_path), framework="pt") as fp:
            tensors = {name: fp.get_tensor(name) for name in fp.keys()}  # noqa: SIM118 (safe_open is no dict)
            metadata = fp.metadata() or {}
    except (OSError, SafetensorError) as exc:
        raise ModelFormatError(f"{weights_path}: cannot read the adapter weights: {exc}") from exc

    expected: dict[str, tuple[torch.nn.Parameter | torch.Tensor, tuple[int, ...]]] = {}
    for path, m in lora_modules(model).items():
        for part in ("lora_A", "lora_B"):
            param = getattr(m, part).weight
            expected[f"{PEFT_PREFIX}{path}.{part}.weight"] = (param, tuple(param.shape))
    problems = [f"missing tensor {n} (expected shape {shape})" for n, (_, shape) in expected.items()
                if n not in tensors]
    for name, t in tensors.items():
        if name not in expected:
            problems.append(f"unexpected tensor {name} with shape {tuple(t.shape)}")
        elif tuple(t.shape) != expected[name][1]:
            problems.append(f"tensor {name} has shape {tuple(t.shape)}, expected {expected[name][1]}")
        elif not t.dtype.is_floating_point:
            problems.append(f"tensor {name} has dtype {t.dtype}, expected a float type")
    if problems:
        shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise ModelFormatError(f"{weights_path}: adapter does not match the model:\n  " + "\n  ".join(shown))
    with torch.no_grad():
        for name, (param, _) in expected.items():
            param.copy_(tensors[name].float())
    try:
        extra = json.loads(metadata[_EXTRA_KEY]) if _EXTRA_KEY in metadata else {}
    except ValueError as exc:
        raise ModelFormatError(f"{weights_path}: metadata {_EXTRA_KEY!r} is not JSON: {exc}") from exc
    return extra if isinstance(extra, dict) else {"value": extra}
