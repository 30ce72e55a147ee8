"""The MobileLLM family: config, TVM model and checkpoint loader."""

from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig

__all__ = ["MobileLLMConfig"]
