"""The exception hierarchy of agent_sdk.

Every error the SDK raises on purpose derives from :class:`AgentSDKError`, so a
caller can catch one type. Subclasses say who is at fault: the user of the SDK
(:class:`UserError` and its children), a model file (:class:`ModelFormatError`),
the compiler, or the runtime.
"""

from __future__ import annotations

__all__ = [
    "AgentSDKError",
    "UserError",
    "ConfigError",
    "ModelFormatError",
    "UnknownModelError",
    "CompileError",
    "TargetError",
    "EngineError",
    "BundleError",
    "ContextOverflowError",
    "ToolError",
    "ToolDefinitionError",
    "ToolArgumentError",
    "ToolSchemaWarning",
    "ToolNameWarning",
    "TunedToolWarning",
    "MCPConnectionError",
]


class AgentSDKError(Exception):
    """Root of every error raised by agent_sdk."""


class UserError(AgentSDKError):
    """A mistake in how the SDK was called (bad option, bad path, bad value)."""


class ConfigError(UserError):
    """A model configuration is invalid or inconsistent."""


class UnknownModelError(UserError):
    """A model name is neither a preset, a path nor a bundle."""


class ModelFormatError(AgentSDKError):
    """A model file is malformed: a missing or mis-shaped tensor, bad metadata."""


class CompileError(AgentSDKError):
    """Compiling a model to a library failed."""


class TargetError(CompileError, UserError):
    """A compilation target is unknown or unsupported by the installed TVM."""


class EngineError(AgentSDKError):
    """The runtime failed to load or run a compiled model."""


class BundleError(EngineError):
    """A compiled bundle is incomplete, corrupted or does not match its manifest."""


class ContextOverflowError(EngineError):
    """A request does not fit in the model's context window."""


class ToolError(AgentSDKError):
    """A tool definition or tool registry rule was violated."""


class ToolDefinitionError(ToolError, UserError):
    """A tool is defined wrongly: missing type hints or docs, an unsupported type, a duplicate name.

    Attributes:
        problems: Every problem found, one sentence each (the message lists them too).
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ToolArgumentError(ToolError):
    """Arguments for a tool call do not match the tool's schema.

    The message is written to be sent back to the model, which can then correct its call.

    Attributes:
        problems: Every problem found, one per argument path (the message lists them too).
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ToolSchemaWarning(UserWarning):
    """A tool's schema was repaired, or the tool was left out of a call grammar (the message says which and why)."""


class ToolNameWarning(UserWarning):
    """A tool from an MCP server is offered under another name than its own (a clash, or a name we cannot use)."""


class TunedToolWarning(UserWarning):
    """A tool a tuned bundle learned has changed since the tune; it is listed in full (the message names it).

    Its description or schema differs from the one trained on, so the model's training may no longer fit it.
    """


class MCPConnectionError(AgentSDKError):
    """MCP servers could not be used: one would not start, died, timed out or broke the protocol.

    Raised when connecting; a failure during a tool call is a tool error the model sees instead.

    Attributes:
        problems: One sentence per failed server, naming it (the message lists them too).
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems
