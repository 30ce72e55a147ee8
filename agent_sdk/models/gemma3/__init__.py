"""The Gemma 3 text family: Gemma 3 270M/1B, FunctionGemma 270M."""

from agent_sdk.models.gemma3.gemma3_config import Gemma3Config

__all__ = ["Gemma3Config"]
