"""The one place where an architecture is wired in: model_type → spec."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_sdk.errors import ConfigError
from agent_sdk.models.gemma3.gemma3_config import Gemma3Config
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config

__all__ = ["ArchitectureSpec", "ARCHITECTURES", "architecture_for", "checkpoint_model_type", "gguf_model_type"]


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to configure, build and load one architecture.

    Attributes:
        name: Architecture name.
        config_cls: Its config dataclass.
        model_factory: ``"module:attr"`` of the TVM model class (imported only
            when compiling, so the runtime never needs the compiler).
        export_spec: ``"module:attr"`` of the function giving its export spec.
        loader: ``"module:attr"`` of its checkpoint loader.
        param_builder: ``"module:attr"`` of its checkpoint → parameters function.
    """

    name: str
    config_cls: type
    model_factory: str
    export_spec: str
    loader: str
    param_builder: str

    def resolve(self, attr: str) -> Callable[..., Any]:
        """Imports one of the ``module:attr`` references."""
        import importlib

        module, _, name = getattr(self, attr).partition(":")
        return getattr(importlib.import_module(module), name)


_MOBILELLM = ArchitectureSpec(
    name="mobilellm",
    config_cls=MobileLLMConfig,
    model_factory="agent_sdk.models.mobilellm.mobilellm_model:MobileLLMForCausalLM",
    export_spec="agent_sdk.models.mobilellm.mobilellm_model:export_spec",
    loader="agent_sdk.models.mobilellm.mobilellm_loader:load_checkpoint",
    param_builder="agent_sdk.models.mobilellm.mobilellm_loader:build_params",
)

# Qwen2 / Qwen3 run the shared Llama-style decoder with their options (q/k/v biases; q/k norms).
_QWEN2 = ArchitectureSpec(
    name="qwen2",
    config_cls=Qwen2Config,
    model_factory="agent_sdk.models.qwen2.qwen2_model:Qwen2ForCausalLM",
    export_spec="agent_sdk.models.qwen2.qwen2_model:export_spec",
    loader="agent_sdk.models.qwen2.qwen2_loader:load_checkpoint",
    param_builder="agent_sdk.models.qwen2.qwen2_loader:build_params",
)
_QWEN3 = ArchitectureSpec(
    name="qwen3",
    config_cls=Qwen3Config,
    model_factory="agent_sdk.models.qwen3.qwen3_model:Qwen3ForCausalLM",
    export_spec="agent_sdk.models.qwen3.qwen3_model:export_spec",
    loader="agent_sdk.models.qwen3.qwen3_loader:load_checkpoint",
    param_builder="agent_sdk.models.qwen3.qwen3_loader:build_params",
)

# Llama-architecture checkpoints (SmolLM2) are MobileLLM without layer sharing.
ARCHITECTURES: dict[str, ArchitectureSpec] = {"mobilellm": _MOBILELLM, "llama": _MOBILELLM}
ARCHITECTURES["qwen2"] = _QWEN2
ARCHITECTURES["qwen3"] = _QWEN3


# Gemma 3 text models; GGUF files name the architecture "gemma3", HF text-only configs "gemma3_text".
_GEMMA3 = ArchitectureSpec(
    name="gemma3",
    config_cls=Gemma3Config,
    model_factory="agent_sdk.models.gemma3.gemma3_model:Gemma3ForCausalLM",
    export_spec="agent_sdk.models.gemma3.gemma3_model:export_spec",
    loader="agent_sdk.models.gemma3.gemma3_loader:load_checkpoint",
    param_builder="agent_sdk.models.gemma3.gemma3_loader:build_params",
)
ARCHITECTURES["gemma3"] = _GEMMA3
ARCHITECTURES["gemma3_text"] = _GEMMA3


def architecture_for(model_type: str) -> ArchitectureSpec:
    """Returns the spec for a ``model_type``.

    Raises:
        ConfigError: If no architecture handles it.
    """
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise ConfigError(
            f"model_type {model_type!r} is not supported; supported: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def gguf_model_type(path: Path, default: str = "llama") -> str:
    """The ``general.architecture`` of a GGUF file when a family handles it (``llama``, ``gemma3`` ...).

    ``default`` when the file cannot be read or names another architecture: that
    loader then reports what is wrong with the file.
    """
    try:
        import gguf

        field = gguf.GGUFReader(str(path)).get_field("general.architecture")
        arch = str(field.contents()) if field is not None else default
    except Exception:  # not GGUF, truncated, unreadable: the loader says which
        return default
    return arch if arch in ARCHITECTURES else default


def checkpoint_model_type(path: Path) -> str:
    """The ``model_type`` of a Hugging Face folder (its ``config.json``) or a GGUF file (:func:`gguf_model_type`).

    ``mobilellm`` for a folder whose config cannot be read: its loader then says why.
    """
    if path.is_dir():
        try:
            return str(json.loads((path / "config.json").read_text()).get("model_type"))
        except (OSError, ValueError):
            return "mobilellm"
    return gguf_model_type(path)
