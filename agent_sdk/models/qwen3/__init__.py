"""The Qwen3 family (Qwen3-0.6B/1.7B): config, model and loader."""

from agent_sdk.models.qwen3.qwen3_config import Qwen3Config

__all__ = ["Qwen3Config"]
