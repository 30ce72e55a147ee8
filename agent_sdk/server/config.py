"""The server's limits and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from agent_sdk.agent.policy import DEFAULT_POLICY, CallPolicy

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Limits and defaults of the server.

    Attributes:
        model_id: The model's name in ``/v1/models`` and in replies (any
            ``model`` a request names is served by this one model).
        max_body_bytes: Largest request body accepted.
        max_tokens_limit: Most tokens a request may ask for (default: the
            context window).
        default_max_tokens: ``max_tokens`` when a request sets none (capped by
            the room left in the context window).
        default_temperature: Temperature when a request sets none (greedy,
            like ``agent-sdk run``: small models ramble when sampled).
        policy: How calls are decided, decoded and refined, as the agent
            does it (:class:`~agent_sdk.agent.policy.CallPolicy`; each
            request's ``tool_choice`` and ``parallel_tool_calls`` override
            its own).
        max_queue: Requests that may wait for the engine; more get HTTP 503.
        max_connections: Connections served at once (each holds a thread);
            more are answered 503 and closed.
        timeout: Seconds a client has to send a whole request (request
            line, headers and body; an idle keep-alive connection waits as
            long for its next one), and that one stalled write may wait. A
            request still arriving when it runs out gets 408 and the
            connection is closed.
    """

    model_id: str = "default"
    max_body_bytes: int = 1 << 20
    max_tokens_limit: int | None = None
    default_max_tokens: int = 512
    default_temperature: float = 0.0
    policy: CallPolicy = DEFAULT_POLICY
    max_queue: int = 8
    max_connections: int = 64
    timeout: float = 60.0
