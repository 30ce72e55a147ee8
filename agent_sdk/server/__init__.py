"""An OpenAI-compatible local server: ``agent-sdk serve``.

Endpoints: ``POST /v1/chat/completions`` (messages with system, user,
assistant ``tool_calls`` and tool results; ``tools`` and ``tool_choice``;
``stream`` as server-sent events; ``response_format`` with a JSON schema or
``json_object``; ``max_tokens``, ``temperature``, ``top_p``, ``seed``,
``stop``), ``GET /v1/models`` and ``GET /health``.

Tool calls are decoded under the tools' grammar exactly as the agent decodes
them (:func:`agent_sdk.agent.step.decode_calls`), so every call the server
returns names a tool and its arguments validate; ``auto`` keeps a call only
when the model finds it likely, and not when the conversation already made
and answered it. The server never runs tools: it returns the calls, and the
client sends the results back as ``tool`` messages.

One engine serves every request, one at a time: a request waits (queued, at
most ``max_queue`` of them) while another one decodes, and a streamed reply
holds the engine until it ends. Requests are validated before they queue:
a malformed one, or one over a limit (body size, nesting, ``max_tokens``,
the context window), gets a 4xx ``{"error": {"message", "type", "code",
"param"}}``.

Only the standard library's ``http.server`` is used. It binds to the loopback
interface by default and has no authentication: put it behind a proxy that
has one before exposing it to a network.

Modules, one job each:

* :mod:`~agent_sdk.server.validation`: a request body → :class:`ChatRequest`
  (with :mod:`~agent_sdk.server.json_input` for strict, bounded JSON and
  :mod:`~agent_sdk.server.schemas` for the schemas it carries);
* :mod:`~agent_sdk.server.messages`: OpenAI messages → the template's messages;
* :mod:`~agent_sdk.server.service`: :class:`ChatService`, the engine, its
  queue and running a request;
* :mod:`~agent_sdk.server.http`: the handler, :class:`ChatServer`, :func:`make_server`;
* :mod:`~agent_sdk.server.config` and :mod:`~agent_sdk.server.errors`:
  :class:`ServerConfig` and :class:`APIError`.
"""

from agent_sdk.server.config import ServerConfig
from agent_sdk.server.errors import APIError
from agent_sdk.server.http import ChatServer, make_server
from agent_sdk.server.messages import chat_messages
from agent_sdk.server.service import ChatService
from agent_sdk.server.validation import ChatRequest

__all__ = ["APIError", "ChatRequest", "ChatServer", "ChatService", "ServerConfig", "chat_messages", "make_server"]
