"""HTTP: the request handler, :class:`ChatServer` and :func:`make_server`.

Only the standard library's ``http.server`` is used, made strict where a
request could be read two ways or hold a thread: a body's length comes from
exactly one ``Content-Length`` of plain digits (never with a
``Transfer-Encoding``), a body an endpoint does not read closes the
connection rather than being read as the next request, a request must
arrive whole within ``ServerConfig.timeout`` (else 408), connections are
capped at ``ServerConfig.max_connections``, and whatever a client sent is
escaped before it reaches the log.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent_sdk.constrain.grammar import GrammarError
from agent_sdk.errors import AgentSDKError, ContextOverflowError, UserError
from agent_sdk.runtime.engine import Engine
from agent_sdk.server.config import ServerConfig
from agent_sdk.server.errors import APIError
from agent_sdk.server.schemas import grammar_problem
from agent_sdk.server.service import ChatService

if TYPE_CHECKING:
    from agent_sdk.mcp import MCPToolset

__all__ = ["ChatServer", "escape_log", "make_server", "request_body_length"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (http.server decodes request lines as Latin-1)
_DIGITS = re.compile(r"[0-9]{1,18}")  # not int(): it also takes "+2", "0_2", " 2" and non-ASCII digits
_DRAIN_FACTOR = 16  # a body up to this many times the limit is read and dropped, so the client sees the 413


def escape_log(text: str) -> str:
    """``text`` with control characters as ``\\xNN``: a request line cannot move the cursor or recolour a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def request_body_length(headers: Message) -> int:
    """The length of a request's body from its framing headers.

    Raises:
        APIError: 400 for anything a proxy in front could read differently
            (several ``Content-Length`` s, one that is not plain digits, one
            together with ``Transfer-Encoding``); 411 for ``Transfer-Encoding``
            (chunked bodies are not supported).
    """
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if codings and lengths:
        raise APIError(400, "a request must not have both Transfer-Encoding and Content-Length", code="invalid_request")
    if codings:
        raise APIError(411, "Transfer-Encoding (chunked bodies) is not supported; send the body with a Content-Length",
                       code="length_required")
    if len(lengths) > 1:
        raise APIError(400, "a request must have at most one Content-Length", code="invalid_request")
    if not lengths:
        return 0
    value = lengths[0].strip(" \t")
    if not _DIGITS.fullmatch(value):
        raise APIError(400, f"Content-Length must be decimal digits; got {value[:40]!r}", code="invalid_request")
    return int(value)


class _DeadlineReader(io.RawIOBase):
    """Reads a socket against one deadline per request, not per read: a client trickling a
    byte at a time (slowloris) cannot hold its connection past ``timeout``."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__()
        self.sock = sock
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.received = 0  # bytes of the current request
        self.timed_out = False

    def start(self) -> None:
        """A new request (or the wait for one) begins."""
        self.deadline = time.monotonic() + self.timeout
        self.received = 0
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("timed out")
            self.sock.settimeout(left)
            n = self.sock.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise
        finally:
            self.sock.settimeout(self.timeout)  # writes keep the plain per-write timeout
        self.received += n
        return n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agent-sdk"
    server: ChatServer

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        timeout = self.server.service.config.timeout
        self.connection.settimeout(timeout)  # a stalled client cannot hold a thread
        self._reader = _DeadlineReader(self.connection, timeout)
        self.rfile.close()  # only the file object; the socket stays open
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.start()
        self._responded = False
        self._body_read = True
        self.requestline, self.command, self.request_version = "", "", "HTTP/1.1"  # none left from the last request
        super().handle_one_request()
        if self._reader.timed_out and self._reader.received and not self._responded:
            # http.server drops a request that stalls while its head arrives without a word; say why.
            self.close_connection = True
            self.requestline = self.requestline or "(incomplete request line)"
            self._send_json(408, _timeout_error(self._reader.timeout).body())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        service = self.server.service
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self._body_read = False
        try:
            self._body_length = request_body_length(self.headers)
            self._body_read = self._body_length == 0
            allowed, action = self._route(service, path, method)
            methods = [allowed, "HEAD", "OPTIONS"] if allowed == "GET" else [allowed, "OPTIONS"]
            if method == "OPTIONS":
                self._send_json(204, None, allow=methods)
            elif method not in methods:
                err = APIError(405, f"use {allowed} here", code="method_not_allowed")
                self._send_json(err.status, err.body(), allow=methods)
            else:
                action()
        except APIError as exc:
            self._send_json(exc.status, exc.body())
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away, or stopped reading
        except Exception as exc:  # noqa: BLE001  (one bad request must not take the server down)
            err = self._failure(exc)
            self._send_json(err.status, err.body())

    def _route(self, service: ChatService, path: str, method: str) -> tuple[str, Callable[[], None]]:
        """The method a path takes and what answers it.

        Raises:
            APIError: 404 for a path that is not an endpoint.
        """
        if path in ("/health", "/v1/health"):
            return "GET", lambda: self._send_json(200, service.health())
        if path == "/v1/models":
            return "GET", lambda: self._send_json(200, service.models())
        if path.startswith("/v1/models/"):
            name = path[len("/v1/models/"):]

            def card() -> None:
                if name != service.config.model_id:
                    raise APIError(404, f"no model {name!r}", code="model_not_found")
                self._send_json(200, service.model_card())

            return "GET", card
        if path in ("/v1/chat/completions", "/chat/completions"):
            return "POST", lambda: self._chat(service)
        raise APIError(404, f"no such endpoint: {method} {path}", code="not_found")

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
        length = self._body_length
        timeout = self.server.service.config.timeout
        if length > limit:
            if length <= _DRAIN_FACTOR * limit:  # read it, so the client sees the answer instead of a reset
                remaining = length
                try:
                    while remaining > 0:
                        got = self.rfile.read(min(remaining, 1 << 16))
                        if not got:
                            break
                        remaining -= len(got)
                except TimeoutError:
                    pass
            raise APIError(413, f"the body is {length} bytes; the limit is {limit}", code="body_too_large")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise _timeout_error(timeout) from None
        self._body_read = len(body) == length
        if len(body) < length:
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

    def send_response(self, code: int, message: str | None = None) -> None:
        self._responded = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # a status line even for a request line it could not read
        super().send_response(code, message)

    def _send_json(self, status: int, obj: dict[str, Any] | None, *, allow: list[str] | None = None) -> None:
        if not self._body_read:
            self.close_connection = True  # the unread body would be taken for the next request
        data = json.dumps(obj).encode() if obj is not None else b""
        try:
            self.send_response(status)
            if obj is not None:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", ", ".join(allow))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, huge headers) as JSON too."""
        self.close_connection = True
        self._body_read = False
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


def _timeout_error(timeout: float) -> APIError:
    return APIError(408, f"the request did not arrive within {timeout:g} s", code="request_timeout")


class ChatServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection (at most ``max_connections``), one engine behind a lock.

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
        self._slots = threading.BoundedSemaphore(service.config.max_connections)
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

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # every connection holds a thread: refuse more
            err = APIError(503, "too many connections; retry later", type="server_error", code="server_busy")
            data = json.dumps(err.body()).encode()
            head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
            try:
                request.settimeout(1.0)
                request.sendall(head + data)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServerConfig | None = None,
    log: Callable[[str], None] | None = None,
    mcp: MCPToolset | None = None,
) -> ChatServer:
    """An OpenAI-compatible server for ``engine`` (call ``serve_forever()`` on it).

    Args:
        engine: The engine to serve.
        host: Address to bind; the default serves this machine only.
        port: Port; 0 picks a free one.
        config: Limits and defaults.
        log: Called with one line per request.
        mcp: Tools the server runs itself for requests that send none
            (:class:`~agent_sdk.server.service.ChatService`); the caller closes them.

    Raises:
        AgentSDKError: The address cannot be bound (in use, not local, no permission).
    """
    service = ChatService(engine, config, mcp=mcp)
    try:
        return ChatServer(service, host, port, log=log)
    except OSError as exc:
        raise AgentSDKError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
