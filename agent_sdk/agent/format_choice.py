"""Which call format a local model gets when none is given: the one its vocabulary was trained on."""

from __future__ import annotations

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.functiongemma_format import CONTROL_TOKENS, FUNCTIONGEMMA
from agent_sdk.agent.qwen_format import QWEN
from agent_sdk.runtime.tokenizer import Tokenizer

__all__ = ["native_call_format"]

_QWEN_TAGS = ("<tool_call>", "</tool_call>")


def native_call_format(tokenizer: Tokenizer) -> CallFormat:
    """:data:`FUNCTIONGEMMA` when the vocabulary holds FunctionGemma's control tokens, :data:`QWEN` when it
    holds ``<tool_call>`` and ``</tool_call>`` as single tokens (Qwen2.5, Qwen3, Hammer, xLAM), else
    :data:`HERMES` (the same syntax, tags spelled as text)."""
    if all(tokenizer.token_id(tag) is not None for tag in CONTROL_TOKENS):
        return FUNCTIONGEMMA
    if all(tokenizer.token_id(tag) is not None for tag in _QWEN_TAGS):
        return QWEN
    return HERMES
