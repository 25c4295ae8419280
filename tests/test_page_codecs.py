"""Page codecs through the compressor hook: the header names the codec, readers follow it."""

from __future__ import annotations

import io

import pytest

from litestream_core.compression import CodecUnavailableError
from litestream_core.errors import LTXFormatError
from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    Header,
    compact,
    decode_file,
    encode_file,
)
from litestream_core.ltx.header import HEADER_FLAG_PAGE_CODEC
from litestream_core.plugins import get_plugin_manager, page_codecs

# A codec plugin as a third party writes it: stored pages, reversed (so a reader that
# ignored the header's codec would get the wrong bytes, not the right ones by luck).
REVERSED = """
from litestream_core import hookimpl


class Reversed:
    name = "reversed"

    def compress(self, data):
        return bytes(data)[::-1]

    def decompress(self, data, max_size=None):
        return bytes(data)[::-1]


@hookimpl
def litestream_register_compressors(register):
    register("reversed", Reversed())
"""

PAGE = 512


def header(min_txid: int, max_txid: int, commit: int = 4) -> Header:
    return Header(page_size=PAGE, commit=commit, min_txid=min_txid, max_txid=max_txid,
                  timestamp=min_txid, flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip


def pages(fill: int, pgnos: range) -> list[tuple[int, bytes]]:
    return [(p, bytes([fill, p]) * (PAGE // 2)) for p in pgnos]


@pytest.fixture
def codecs(site):
    site("litestream-reversed", {"reversed": REVERSED})
    return page_codecs(get_plugin_manager(only={"reversed"}), "reversed")


def test_lz4_headers_stay_gos_bytes():
    raw = header(1, 1).encode()
    assert raw[80:HEADER_SIZE] == bytes(20)  # reserved, as Go writes it
    assert Header.decode(raw).codec == ""


def test_codec_name_round_trips_and_is_validated():
    named = header(1, 1).with_codec("reversed")
    assert named.flags & HEADER_FLAG_PAGE_CODEC
    assert Header.decode(named.encode()) == named
    assert named.with_codec("lz4") == header(1, 1)
    for bad in (header(1, 1).with_(flags=HEADER_FLAG_PAGE_CODEC), named.with_(codec="Bad Name")):
        with pytest.raises(LTXFormatError):
            bad.validate()


def test_readers_use_the_codec_each_file_names(codecs):
    plain = encode_file(header(1, 1), pages(1, range(1, 5)), 0)
    mine = encode_file(header(2, 2), pages(2, range(2, 4)), 0, codecs.write)
    assert Header.decode(mine).codec == "reversed"
    assert decode_file(mine, codecs)[1] == pages(2, range(2, 4))
    with pytest.raises(CodecUnavailableError, match="'reversed' is not installed"):
        decode_file(mine)
    # Compaction reads both and writes the codec it is told to.
    out = io.BytesIO()
    merged = compact([io.BytesIO(plain), io.BytesIO(mine)], out, codecs.writing("lz4"))
    assert merged.codec == "" and Header.decode(out.getvalue()).codec == ""
    expected = [pages(1, range(1, 2))[0], *pages(2, range(2, 4)), pages(1, range(4, 5))[0]]
    assert decode_file(out.getvalue())[1] == expected
