"""What a model is, without compiling it: architecture, parameter count, config.

Reads a preset's built-in config, a bundle's manifest or a checkpoint's
config (``agent-sdk info --model M``). Nothing here imports TVM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["model_info"]


def model_info(model: str) -> dict[str, Any]:
    """Describes a preset, checkpoint or bundle.

    A preset name is answered from its built-in config (no weights needed)
    unless a path of that name exists.

    Args:
        model: Preset name, checkpoint path (folder or ``.gguf``) or bundle folder.

    Returns:
        ``model`` (as given), ``source`` (``preset``, ``bundle`` or
        ``checkpoint``), ``architecture`` (``mobilellm``,
        ``mobilellm-layer-share`` or the config's ``model_type``),
        ``parameters`` (int) and ``config`` (the config as a dict).

    Raises:
        UnknownModelError: Nothing matches ``model``.
        BundleError: A bundle's manifest is unreadable.
        ModelFormatError: A bad checkpoint.
    """
    from agent_sdk.manifest import read_manifest
    from agent_sdk.models.presets import PRESETS, get_preset
    from agent_sdk.models.registry import architecture_for, checkpoint_model_type
    from agent_sdk.models.resolve import resolve_model

    if model.lower() in PRESETS and not Path(model).exists():
        cfg = get_preset(model).config
        source = "preset"
    else:
        ref = resolve_model(model)
        if ref.kind == "bundle":
            man = read_manifest(ref.path)
            cfg = architecture_for(str(man.get("architecture", "mobilellm"))).config_cls.from_dict(man["model"])
            source = "bundle"
        else:
            cfg = architecture_for(checkpoint_model_type(ref.path)).resolve("loader")(ref.path).config
            source = "checkpoint"
    if cfg.model_type == "mobilellm":
        architecture = "mobilellm-layer-share" if cfg.layer_sharing else "mobilellm"
    else:
        architecture = cfg.model_type
    return {
        "model": model,
        "source": source,
        "architecture": architecture,
        "parameters": cfg.parameter_count(),
        "config": cfg.to_dict(),
    }
