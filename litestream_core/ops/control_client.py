"""The runtime commands' side of the control socket: one HTTP request over a Unix socket.

The standard library's ``http.client`` speaks HTTP/1.1 over any connected socket;
only the connection is ours. It keeps ``litestream sync`` and friends quick to start
(an async HTTP stack costs more to import than the request takes).
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from litestream_core.errors import LitestreamError


class ControlError(LitestreamError):
    """The daemon could not be reached or refused the request (Go's wording)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class ControlClient:
    """Requests to the daemon listening on ``socket_path``; ``command`` names errors."""

    def __init__(self, socket_path: str, *, timeout: float | None, command: str) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.command = command

    def get(self, endpoint: str) -> dict[str, Any]:
        return self._request("GET", endpoint, None)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", endpoint, json.dumps(body).encode())

    def _request(self, method: str, endpoint: str, body: bytes | None) -> dict[str, Any]:
        conn = _UnixConnection(self.socket_path, self.timeout)
        url = f"http://localhost{endpoint}"
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, endpoint, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise ControlError(
                f'failed to connect to control socket: {method.title()} "{url}": '
                f"no answer within {self.timeout:g}s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = (
                f"connect: {exc.strerror.lower()}"
                if isinstance(exc, OSError) and exc.strerror
                else exc
            )
            raise ControlError(
                f'failed to connect to control socket: {method.title()} "{url}": '
                f"dial unix {self.socket_path}: {reason}"
            ) from None
        finally:
            conn.close()
        if response.status != 200:
            raise ControlError(f"{self.command} failed: {_error_text(data)}")
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise ControlError(f"failed to parse response: {exc}") from None
        if not isinstance(parsed, dict):
            raise ControlError("failed to parse response: not a JSON object")
        return parsed


def _error_text(data: bytes) -> str:
    """The ``error`` of a JSON error body, else the body itself (as Go's commands do)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("error"):
        return str(parsed["error"])
    return data.decode(errors="replace").strip()
