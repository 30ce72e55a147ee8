"""The Qwen2 family (Qwen2.5, Hammer2.1, xLAM-2 small models): config, model and loader."""

from agent_sdk.models.qwen2.qwen2_config import Qwen2Config

__all__ = ["Qwen2Config"]
