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

__all__ = ["ARCHITECTURES", "ArchitectureSpec", "architecture_for", "checkpoint_model_type", "gguf_model_type"]


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
    arch = _gguf_architecture(path)
    return arch if arch in ARCHITECTURES else default


# Byte sizes of GGUF's scalar metadata types (value type id -> size); 8 is a string, 9 an array.
_GGUF_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_HEADER_KEYS = 64  # writers put general.architecture first; a few keys in is plenty


def _gguf_architecture(path: Path) -> str | None:
    """Reads ``general.architecture`` from a GGUF header without ``gguf.GGUFReader`` (which parses
    every metadata array: ~20 s for Gemma's 262k-token vocabulary)."""
    import struct

    try:
        with open(path, "rb") as fp:
            if fp.read(4) != b"GGUF":
                return None
            version = struct.unpack("<I", fp.read(4))[0]
            count_fmt = "<I" if version == 1 else "<Q"
            fp.read(struct.calcsize(count_fmt))  # tensor count
            n_kv = struct.unpack(count_fmt, fp.read(struct.calcsize(count_fmt)))[0]

            def string() -> bytes:
                return fp.read(struct.unpack(count_fmt, fp.read(struct.calcsize(count_fmt)))[0])

            for _ in range(min(n_kv, _GGUF_HEADER_KEYS)):
                key = string()
                vtype = struct.unpack("<I", fp.read(4))[0]
                if vtype == 8:
                    value = string()
                    if key == b"general.architecture":
                        return value.decode("utf-8")
                elif vtype in _GGUF_SCALAR_SIZES:
                    fp.read(_GGUF_SCALAR_SIZES[vtype])
                else:
                    return None  # an array before the architecture: not a layout writers produce
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


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
