"""Qwen2.5 / Qwen3's call format: Hermes ``<tool_call>`` blocks whose tags are single tokens.

Qwen writes calls exactly as :data:`~agent_sdk.agent.call_format.HERMES` does, but
its ``tokenizer.json`` holds ``<tool_call>`` and ``</tool_call>`` as added tokens,
which llguidance treats as special tokens: a grammar that spells the tags as
text refuses the one token Qwen was trained to emit and forces the tag in byte
pieces. :data:`QWEN` names the tokens in the grammar (llguidance's ``<token>``
syntax) and keeps the spelled-out text as an alternative. Use it only with a
vocabulary that has both tokens (llguidance refuses a grammar naming a token
the tokenizer lacks): ``Agent(..., call_format=QWEN)`` or ``LocalBackend(...,
call_format=QWEN)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_sdk.agent.call_format import MAX_PARALLEL_CALLS, HermesFormat
from agent_sdk.errors import AgentSDKError

__all__ = ["QWEN", "QwenFormat"]

# The block rule HermesFormat writes (tags as JSON-quoted text), and Qwen's: each tag its token or its text.
_HERMES_BLOCK = 'block: "<tool_call>\\n" call "\\n</tool_call>"'
_QWEN_BLOCK = 'block: (<tool_call> | "<tool_call>") "\\n" call "\\n" (</tool_call> | "</tool_call>")'


@dataclass(frozen=True)
class QwenFormat(HermesFormat):
    """Hermes blocks, with ``<tool_call>`` / ``</tool_call>`` matched as Qwen's single tokens."""

    name: str = "qwen"

    def grammar(self, tools: Sequence[dict[str, Any]], *, choice: str = "required", parallel: bool = False,
                max_calls: int = MAX_PARALLEL_CALLS) -> str:
        """The Hermes grammar (see :meth:`CallFormat.grammar`) with the tags as tokens or text.

        Raises:
            UserError: No tools, or ``choice`` names an unknown tool.
            AgentSDKError: The Hermes grammar no longer has the block rule this
                format rewrites (a bug in the SDK).
        """
        lark = super().grammar(tools, choice=choice, parallel=parallel, max_calls=max_calls)
        lines = lark.split("\n")
        if _HERMES_BLOCK not in lines:
            raise AgentSDKError(f"QwenFormat: the Hermes grammar has no line {_HERMES_BLOCK!r} to rewrite")
        return "\n".join(_QWEN_BLOCK if line == _HERMES_BLOCK else line for line in lines)


QWEN = QwenFormat()
