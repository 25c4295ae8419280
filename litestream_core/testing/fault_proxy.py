"""A TCP proxy that injects network faults between a client and a real server.

Put it in front of any storage server on 127.0.0.1 and point the replica at
``proxy.port``; then switch faults on and off while the replicator runs:

* ``refuse()``: nothing listens (connection refused), open connections are dropped;
* ``drop()``: connections are accepted and closed at once, open ones are closed;
* ``reset(after=n)``: each response is cut by a TCP reset after ``n`` more bytes
  (a connection reset mid-body);
* ``stall()``: connections are accepted and held open, but nothing is forwarded or
  answered in either direction (a server or network that hangs);
* ``slow(rate)``: responses trickle at ``rate`` bytes per second;
* ``heal()``: forward normally again. Stalled connections stay stalled (their bytes
  are lost, as in a real partition): clients must give up on them by themselves.

Threads only, so it serves blocking and asyncio clients in the same test.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Self

from litestream_core.testing.servers import HOST, free_port

_CHUNK = 64 * 1024


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port``; see the module docstring."""

    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "pass"
        self.connections = 0
        """Connections accepted so far (a test can wait for the client's first)."""
        self._reset_after = 0
        self._rate = 0.0
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self._listen()

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:port``, for HTTP-based stores."""
        return f"http://{HOST}:{self.port}"

    # -- switching faults ----------------------------------------------------------------

    def heal(self) -> None:
        self._set("pass")
        self._listen()

    def refuse(self) -> None:
        self._set("refuse")
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            # A thread blocked in accept() keeps a closed socket listening; shutting it
            # down first wakes that thread and stops the listening for real.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._close_all()

    def drop(self) -> None:
        self._set("drop")
        self._listen()
        self._close_all()

    def reset(self, after: int = 0) -> None:
        self._reset_after = after
        self._set("reset")
        self._listen()

    def stall(self) -> None:
        self._set("stall")
        self._listen()

    def slow(self, rate: float) -> None:
        """Responses at ``rate`` bytes per second."""
        self._rate = rate
        self._set("slow")
        self._listen()

    def close(self) -> None:
        self._closed = True
        self.refuse()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode

    # -- plumbing --------------------------------------------------------------------------

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None or self._closed:
                return
        listener = self._bind()
        with self._lock:
            if self._listener is not None or self._closed:
                listener.close()
                return
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _bind(self) -> socket.socket:
        """A listening socket on our port. After ``refuse`` the port was free for
        anyone; whoever took it meanwhile (a short-lived connection) is waited out."""
        for attempt in range(50):
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((HOST, self.port))
                listener.listen(128)
                return listener
            except OSError as exc:
                listener.close()
                if exc.errno != errno.EADDRINUSE or attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse() or close()
            with self._lock:
                self.connections += 1
                mode = self.mode
                self._socks.add(client)
            if mode == "drop":
                self._forget(client)
                continue
            if mode == "stall":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._forget(client)  # the server itself is down: the client sees a close
                continue
            with self._lock:
                self._socks.add(upstream)
            budget = [self._reset_after]
            for src, dst, response in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=(src, dst, response, budget), daemon=True
                ).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, response: bool, budget: list[int]
    ) -> None:
        """Copy ``src`` to ``dst``, applying the current mode to each chunk."""
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                mode = self.mode
                if mode == "stall":
                    self._swallow(src)  # hold both ends open, answer nothing
                    return
                if mode == "drop":
                    break
                if mode == "reset" and response:
                    if len(data) >= budget[0]:
                        dst.sendall(data[: budget[0]])
                        _abort(dst)
                        _abort(src)
                        return
                    budget[0] -= len(data)
                if mode == "slow" and response:
                    self._trickle(dst, data)
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def _trickle(self, dst: socket.socket, data: bytes) -> None:
        step = max(1, int(self._rate / 10))
        for start in range(0, len(data), step):
            dst.sendall(data[start : start + step])
            time.sleep(step / max(self._rate, 1.0))

    def _swallow(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(_CHUNK):
                pass

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _close_all(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _abort(sock: socket.socket) -> None:
    """Close with a TCP reset (RST) instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
