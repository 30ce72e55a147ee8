"""The one error the server answers with: an HTTP status and an OpenAI-style error body."""

from __future__ import annotations

from typing import Any

__all__ = ["APIError"]


class APIError(Exception):
    """A request the server refuses, as an HTTP status and an OpenAI-style error body.

    Args:
        status: HTTP status code.
        message: What is wrong, for the client's user.
        type: OpenAI error type (``invalid_request_error``, ``server_error``).
        code: A short machine-readable code.
        param: The request field at fault, if one is.
    """

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", code: str = "invalid_value",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "code", "param"}}``."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}
