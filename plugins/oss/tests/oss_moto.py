"""moto's S3 server, also answering Alibaba's OSS dialect, for the Go binary's OSS client.

OSS serves one store through two APIs: its own (``OSS4-HMAC-SHA256`` signatures,
``x-oss-meta-*`` user metadata) and the S3-compatible one (``AWS4-HMAC-SHA256``,
``x-amz-meta-*``), with the same objects and metadata behind both. moto speaks only the
second, and picks the AWS service to serve from the request's signature, so this front
sends requests signed the OSS way to moto's S3 backend and renames the metadata headers
both ways. Everything else (the requests, the storage, the XML answers) is moto's.

Run as ``python oss_moto.py PORT``; it serves on 127.0.0.1 until terminated.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

_OSS_META = "HTTP_X_OSS_META_"
_AMZ_META = "HTTP_X_AMZ_META_"


class _Dispatcher(DomainDispatcherApplication):
    def infer_service_region_host(self, environ: dict[str, Any], path: str) -> str | None:
        if environ.get("HTTP_AUTHORIZATION", "").startswith("OSS"):
            return "s3.us-east-1.amazonaws.com"
        return super().infer_service_region_host(environ, path)


def oss_front(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for name in [k for k in environ if k.startswith(_OSS_META)]:
            environ[_AMZ_META + name[len(_OSS_META) :]] = environ.pop(name)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            meta = [
                ("x-oss-meta-" + name[len("x-amz-meta-") :], value)
                for name, value in headers
                if name.lower().startswith("x-amz-meta-")
            ]
            return start_response(status, headers + meta, exc_info)

        return app(environ, start)

    return serve


if __name__ == "__main__":
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        oss_front(_Dispatcher(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
