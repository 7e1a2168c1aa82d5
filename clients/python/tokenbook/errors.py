"""The error the node's API answers with.

Promise: every non-2xx answer of the node (and every refused WebSocket upgrade) surfaces as
:class:`ApiError` carrying the HTTP status and the JSON body's stable ``code`` and ``message``
(docs/api.md: "Every error is JSON"); an answer that is not that JSON keeps its status with code
``"http_<status>"`` and the body's text as the message.
"""

from __future__ import annotations

import json


class ApiError(Exception):
    """A refusal by the node: ``status`` (HTTP), ``code`` (stable), ``message`` (for people)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_body(cls, status: int, body) -> "ApiError":
        """The error of an answer with this status and body (bytes or text)."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
            return cls(status, str(parsed["code"]), str(parsed["message"]))
        except (ValueError, KeyError, TypeError):
            return cls(status, f"http_{status}", body or "")
