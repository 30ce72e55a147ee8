"""agent_sdk: on-device LLM agents and function calling for Raspberry Pi-class CPUs.

The public API is small; heavy parts (the TVM compiler, the runtime) load
only when first used, so ``import agent_sdk`` is cheap and works without
optional extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_sdk.errors import (
    AgentSDKError,
    BundleError,
    CompileError,
    ConfigError,
    ContextOverflowError,
    EngineError,
    ModelFormatError,
    TargetError,
    ToolError,
    UnknownModelError,
    UserError,
)

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "CallPolicy",
    "tool",
    "Tool",
    "ToolRegistry",
    "Engine",
    "SamplingParams",
    "compile_model",
    "AgentSDKError",
    "BundleError",
    "CompileError",
    "ConfigError",
    "ContextOverflowError",
    "EngineError",
    "ModelFormatError",
    "TargetError",
    "ToolError",
    "UnknownModelError",
    "UserError",
]

_LAZY = {
    "Agent": ("agent_sdk.agent.agent", "Agent"),
    "CallPolicy": ("agent_sdk.agent.policy", "CallPolicy"),
    "tool": ("agent_sdk.tools", "tool"),
    "Tool": ("agent_sdk.tools", "Tool"),
    "ToolRegistry": ("agent_sdk.tools", "ToolRegistry"),
    "Engine": ("agent_sdk.runtime.engine", "Engine"),
    "SamplingParams": ("agent_sdk.runtime.sampler", "SamplingParams"),
    "compile_model": ("agent_sdk.compiler", "compile_model"),
}

if TYPE_CHECKING:
    from agent_sdk.agent.agent import Agent
    from agent_sdk.agent.policy import CallPolicy
    from agent_sdk.tools import Tool, ToolRegistry, tool
    from agent_sdk.compiler import compile_model
    from agent_sdk.runtime.engine import Engine
    from agent_sdk.runtime.sampler import SamplingParams


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agent_sdk' has no attribute {name!r}")
