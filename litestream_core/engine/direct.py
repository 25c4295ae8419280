"""The direct path: one commit synced and uploaded in one worker-thread hand-off.

The usual way a commit reaches the replica crosses the event loop several times: the
monitor wakes on the loop, the WAL is copied to an L0 file on a database thread, the
loop wakes the replica's upload task, the upload runs on another thread, the loop
advances the position, and a database thread removes the uploaded local file. Each
crossing waits for a thread or the loop to be scheduled, which on a busy machine is
most of the lag and much of the CPU of a small commit.

When a database has a single replica whose backend stores a file with a local write
(``DirectWriter``: the file backend) and that replica would upload each sync's file
at once anyway (its sync interval is no longer than the monitor interval, as with
the defaults and any low-latency setting), the monitor's thread does it all: sync,
upload the file it just wrote (from memory), remove the local copy; the loop is told
afterwards, to advance the position and publish the events. The order stays that of
the usual path: the L0 file is fsynced locally (file and directory) before the
upload starts, the upload is fsynced before the position moves, and the local file
is removed only after that.

Only the common case takes this path: a healthy replica (no failure pending, its
position known, its identity recorded and recently checked, its lease held and not
due for renewal) and a sync that wrote exactly the next file. Everything else (a
backlog, a snapshot, a failure, a second replica) leaves the file to the replica's
own upload pass, which the monitor then wakes as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestream_core.client import LTXFileInfo
from litestream_core.engine.dbtypes import Pos
from litestream_core.ltx import HEADER_SIZE, TRAILER_SIZE, Header, Trailer

if TYPE_CHECKING:
    from litestream_core.engine.lease import Lease
    from litestream_core.engine.streams import DirectWriter

log = logging.getLogger("litestream.replica")


def continues(pos: Pos, info: LTXFileInfo, header: Header) -> bool:
    """Whether a local file is the next link after the remote position ``pos``."""
    if info.min_txid != pos.txid + 1:
        return False
    if header.is_snapshot or pos.txid == 0 or pos.post_apply_checksum == 0:
        return True
    return header.no_checksum or header.pre_apply_checksum == pos.post_apply_checksum


@dataclass
class DirectUpload:
    """A claim on a replica's next upload, held (with the replica's pass lock) for one
    sync; ``upload`` runs on the monitor's worker thread."""

    writer: DirectWriter
    pos: Pos
    """The replica's position when the claim was made (it cannot move meanwhile)."""
    lease: Lease | None = None
    uploaded: Pos | None = None
    """The replica's new position once ``upload`` stored a file."""
    stored: LTXFileInfo | None = None

    def upload(self, info: LTXFileInfo, data: bytes) -> bool:
        """Store ``data``, the local file ``info`` a sync has just written and fsynced,
        if it continues the replica; False leaves it to the replica's own pass (which
        also retries and reports a failure here)."""
        header = Header.decode(data[:HEADER_SIZE])
        if not continues(self.pos, info, header):
            return False
        try:
            if self.lease is not None:
                self.lease.check()
            self.stored = self.writer.write_ltx_file_now(0, info.min_txid, info.max_txid, data)
        except Exception as exc:  # the replica's pass retries it and reports
            log.debug("direct upload failed; the replica's pass retries it",
                      extra={"file": info.name, "error": str(exc)})  # fmt: skip
            return False
        trailer = Trailer.decode(data[-TRAILER_SIZE:])
        self.uploaded = Pos(info.max_txid, trailer.post_apply_checksum)
        return True
