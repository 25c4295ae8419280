"""OSSReplicaClient: LTX files in an Alibaba Cloud OSS bucket, through its S3 API.

OSS answers the S3 API (signature V4, ``x-amz-meta-*`` as the object's user metadata),
so the S3 backend's client does the work: Go's OSS layout is its S3 layout
(``<path>/<level as %04x>/<min>-<max>.ltx``) and Go's OSS client keeps the header time
in the same ``litestream-timestamp`` metadata, in the same RFC 3339 text. What differs
is the configuration (``litestream_oss.settings``) and the name in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from litestream_s3.client import S3ReplicaClient
from litestream_s3.errors import Where

from litestream_core.client import ReplicaURL
from litestream_oss.settings import settings_from


class _OSSWhere(Where):
    scheme = "oss"


class OSSReplicaClient(S3ReplicaClient):
    """A replica in an OSS bucket; see the module docstring."""

    type: ClassVar[str] = "oss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._where = _OSSWhere(self.settings.bucket, self.settings.credential_source)

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> OSSReplicaClient:
        return cls(settings_from(url, options))

    def __repr__(self) -> str:
        return f"OSSReplicaClient(oss://{self.settings.bucket}/{self.settings.path})"
