"""The agent loop: tools offered to the model, constrained calls, typed events."""

from agent_sdk.agent.agent import (
    Agent,
    AgentEvent,
    AgentResult,
    FinalAnswer,
    ModelOutputError,
    TokenDelta,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.agent.parsing import ParsedCall, ParseResult, parse_calls
from agent_sdk.agent.remote import OpenAIBackend

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentResult",
    "FinalAnswer",
    "ModelOutputError",
    "OpenAIBackend",
    "ParseResult",
    "ParsedCall",
    "TokenDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolResultEvent",
    "parse_calls",
]
