"""A small HTTP storage server: the stand-in for the storage your backend talks to.

Replace it with your real server or its official emulator (MinIO, Azurite, an sshd...)
started the same way in ``conftest.py``. It keeps files under a directory:

- ``PUT /dir/name`` stores the body (its ``Content-Length`` bytes) atomically, with the
  ``X-Created-Ms`` header as the file's time; a short body stores nothing.
- ``GET /dir/name`` returns it, honouring ``Range: bytes=a-b``; ``GET /dir/`` lists the
  directory as JSON (``name``, ``size``, ``created_ms``), empty when it is missing.
- ``DELETE /dir/name`` removes a file, ``DELETE /dir/`` a whole tree.
- With a token, every request needs ``Authorization: Bearer <token>``.

Run as ``python storage_server.py PORT ROOT [TOKEN]``; serves 127.0.0.1 until stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else Path.cwd()
TOKEN = sys.argv[3] if len(sys.argv) > 3 else ""
CHUNK = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _target(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        target = (ROOT / path.lstrip("/")).resolve()
        if target != ROOT and ROOT not in target.parents:
            self._reply(400, b"path outside the root")
            return None
        if TOKEN and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, b"a valid token is required")
            return None
        return target

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        target = self._target()
        if target is None:
            return
        size = int(self.headers.get("Content-Length", "0"))
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with temp.open("wb") as out:
                left = size
                while left and (chunk := self.rfile.read(min(left, CHUNK))):
                    out.write(chunk)
                    left -= len(chunk)
            if left:  # the client went away: store nothing
                self.close_connection = True
                return
            created_ns = int(self.headers.get("X-Created-Ms", "0")) * 1_000_000
            os.utime(temp, ns=(created_ns, created_ns))
            if self.headers.get("If-None-Match") == "*":
                try:
                    os.link(temp, target)  # refuses an existing name, atomically
                except FileExistsError:
                    self._reply(412)
                    return
            else:
                os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        self._reply(201)

    def do_GET(self) -> None:
        target = self._target()
        if target is None:
            return
        if self.path.endswith("/"):
            entries = [
                {
                    "name": p.name,
                    "size": p.stat().st_size,
                    "created_ms": p.stat().st_mtime_ns // 1_000_000,
                }
                for p in (sorted(target.iterdir()) if target.is_dir() else [])
                if p.is_file() and not p.name.startswith(".")
            ]
            self._reply(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})
            return
        try:
            file = target.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            self._reply(404)
            return
        with file:
            size = os.fstat(file.fileno()).st_size
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            start, end, status = 0, size - 1, 200
            if ranged is not None:
                start, status = int(ranged[1]), 206
                end = min(int(ranged[2]) if ranged[2] else size - 1, size - 1)
                if start >= size:
                    self._reply(416, headers={"Content-Range": f"bytes */{size}"})
                    return
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            file.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := file.read(min(left, CHUNK))):
                self.wfile.write(chunk)
                left -= len(chunk)

    def do_DELETE(self) -> None:
        target = self._target()
        if target is None:
            return
        if self.path.endswith("/"):
            shutil.rmtree(target, ignore_errors=True)
            self._reply(204)
        elif target.is_file():
            target.unlink(missing_ok=True)
            self._reply(204)
        else:
            self._reply(404)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
