"""HTTP: the request handler, :class:`ChatServer` and :func:`make_server`.

Only the standard library's ``http.server`` is used.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agent_sdk.constrain.grammar import GrammarError
from agent_sdk.errors import AgentSDKError, ContextOverflowError, UserError
from agent_sdk.runtime.engine import Engine
from agent_sdk.server.config import ServerConfig
from agent_sdk.server.errors import APIError
from agent_sdk.server.schemas import grammar_problem
from agent_sdk.server.service import ChatService

__all__ = ["ChatServer", "escape_log", "make_server"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (http.server decodes request lines as Latin-1)


def escape_log(text: str) -> str:
    """``text`` with control characters as ``\\xNN``: a request line cannot move the cursor or recolour a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agent-sdk"
    server: ChatServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.service.config.timeout)  # a stalled client cannot hold a thread

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        service = self.server.service
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self._consumed = False
        try:
            if path in ("/health", "/v1/health"):
                self._allow(method, "GET")
                self._send_json(200, service.health())
            elif path == "/v1/models":
                self._allow(method, "GET")
                self._send_json(200, service.models())
            elif path.startswith("/v1/models/"):
                self._allow(method, "GET")
                if path[len("/v1/models/"):] != service.config.model_id:
                    raise APIError(404, f"no model {path[len('/v1/models/'):]!r}", code="model_not_found")
                self._send_json(200, service.model_card())
            elif path in ("/v1/chat/completions", "/chat/completions"):
                self._allow(method, "POST")
                self._chat(service)
            else:
                raise APIError(404, f"no such endpoint: {method} {path}", code="not_found")
        except APIError as exc:
            if not self._consumed and self.headers.get("Content-Length", "0").strip() not in ("", "0"):
                self.close_connection = True  # the unread body would be taken for the next request
            self._send_json(exc.status, exc.body())
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away
        except Exception as exc:  # noqa: BLE001  (one bad request must not take the server down)
            err = self._failure(exc)
            self._send_json(err.status, err.body())

    def _allow(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise APIError(405, f"use {allowed} here", code="method_not_allowed")

    def _failure(self, exc: Exception) -> APIError:
        """An unexpected exception as the error the client gets: internals go to the log, not to the client."""
        if isinstance(exc, ContextOverflowError):
            return APIError(400, str(exc), code="context_length_exceeded", param="messages")
        if isinstance(exc, GrammarError):
            return APIError(400, f"the grammar engine cannot constrain this request: {grammar_problem(exc)}")
        if isinstance(exc, UserError):
            return APIError(400, str(exc))
        self.log_error("internal error: %s: %s", type(exc).__name__, exc)
        return APIError(500, "internal error (the server's log has the details)", type="server_error",
                        code="internal_error")

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise APIError(411, "send the body with a Content-Length", code="length_required")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise APIError(400, "bad Content-Length", code="invalid_request")
        if length > limit:
            self.close_connection = True
            if length <= 16 * limit:  # read it, so the client sees the answer instead of a reset
                remaining = length
                while remaining > 0:
                    got = self.rfile.read(min(remaining, 1 << 16))
                    if not got:
                        break
                    remaining -= len(got)
            raise APIError(413, f"the body is {length} bytes; the limit is {limit}", code="body_too_large")
        body = self.rfile.read(length)
        self._consumed = True
        if len(body) < length:
            self.close_connection = True
            raise APIError(400, "the body ended early", code="invalid_request")
        return body

    def _chat(self, service: ChatService) -> None:
        req = service.parse(self._read_body(service.config.max_body_bytes))
        with service.engine_slot():
            if not req.stream:
                self._send_json(200, service.complete(req))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")  # the stream ends when the connection does
            self.end_headers()
            self.close_connection = True
            chunks = service.stream(req)
            try:
                for chunk in chunks:
                    self._event(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                return  # the client went away; closing the generator stops the decoding
            except Exception as exc:  # noqa: BLE001  (the status line is sent: report in the stream)
                self._event(self._failure(exc).body())
            finally:
                chunks.close()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    def _event(self, obj: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, huge headers) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        kind = "server_error" if code >= 500 else "invalid_request_error"
        slug = phrase.lower().replace(" ", "_").replace("-", "_")
        self._send_json(code, APIError(code, message or phrase, type=kind, code=slug).body())

    def log_message(self, format: str, *args: Any) -> None:
        log = self.server.log
        if log is not None:
            log(escape_log(f"{self.address_string()} {format % args}"))


class ChatServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, one engine behind a lock.

    Args:
        service: The request logic.
        host: Address to bind (loopback by default).
        port: Port; 0 picks a free one (see :attr:`port`).
        log: Called with one line per request (None: quiet).
    """

    daemon_threads = True

    def __init__(
        self, service: ChatService, host: str = "127.0.0.1", port: int = 8000, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.service = service
        self.log = log
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The base URL for OpenAI clients (``…/v1``)."""
        host = str(self.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"


def make_server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServerConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> ChatServer:
    """An OpenAI-compatible server for ``engine`` (call ``serve_forever()`` on it).

    Args:
        engine: The engine to serve.
        host: Address to bind; the default serves this machine only.
        port: Port; 0 picks a free one.
        config: Limits and defaults.
        log: Called with one line per request.

    Raises:
        AgentSDKError: The address cannot be bound (in use, not local, no permission).
    """
    service = ChatService(engine, config)
    try:
        return ChatServer(service, host, port, log=log)
    except OSError as exc:
        raise AgentSDKError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
