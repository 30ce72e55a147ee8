"""The agent layer: call format, call policy and step, the agent loop over a backend, typed events."""

from agent_sdk.agent.agent import Agent
from agent_sdk.agent.auto import AutoRule
from agent_sdk.agent.backends import Backend, LocalBackend, StepRequest, StepResult
from agent_sdk.agent.call_format import HERMES, CallFormat, HermesFormat
from agent_sdk.agent.events import (
    AgentEvent,
    AgentResult,
    FinalAnswer,
    ModelOutputError,
    RunStats,
    TokenDelta,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
)
from agent_sdk.agent.parsing import ParsedCall, ParseResult, parse_calls
from agent_sdk.agent.policy import DEFAULT_POLICY, CallPolicy
from agent_sdk.agent.remote import OpenAIBackend
from agent_sdk.agent.step import CallStep, decode_calls

__all__ = [
    "DEFAULT_POLICY",
    "HERMES",
    "Agent",
    "AgentEvent",
    "AgentResult",
    "AutoRule",
    "Backend",
    "CallFormat",
    "CallPolicy",
    "CallStep",
    "FinalAnswer",
    "HermesFormat",
    "LocalBackend",
    "ModelOutputError",
    "OpenAIBackend",
    "ParseResult",
    "ParsedCall",
    "RunStats",
    "StepRequest",
    "StepResult",
    "TokenDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolResultEvent",
    "decode_calls",
    "parse_calls",
]
