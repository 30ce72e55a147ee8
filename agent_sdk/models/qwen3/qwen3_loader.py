"""Load Qwen3 checkpoints (Hugging Face folders, ``qwen3`` GGUF files).

Qwen3's tensors are Llama's plus ``self_attn.q_norm.weight`` and
``self_attn.k_norm.weight`` per layer (GGUF ``blk.N.attn_q_norm.weight`` /
``attn_k_norm.weight``); the Qwen loader in :mod:`agent_sdk.models.qwen2.qwen2_loader`
reads both families.
"""

from __future__ import annotations

from pathlib import Path

from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint
from agent_sdk.models.qwen2.qwen2_loader import build_params, check_tensors, expected_tensors, load_qwen_checkpoint
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config

__all__ = ["build_params", "check_tensors", "expected_tensors", "load_checkpoint"]


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Reads a Qwen3 Hugging Face folder or a ``qwen3`` GGUF file.

    Raises:
        ModelFormatError: Unreadable files, missing or mis-shaped tensors.
        ConfigError: An unsupported or inconsistent configuration.
    """
    return load_qwen_checkpoint(path, config_cls=Qwen3Config, gguf_arch="qwen3")
