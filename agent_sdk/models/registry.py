"""The one place where an architecture is wired in: model_type → spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_sdk.errors import ConfigError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig

__all__ = ["ArchitectureSpec", "ARCHITECTURES", "architecture_for"]


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

# Llama-architecture checkpoints (SmolLM2) are MobileLLM without layer sharing.
ARCHITECTURES: dict[str, ArchitectureSpec] = {"mobilellm": _MOBILELLM, "llama": _MOBILELLM}


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
