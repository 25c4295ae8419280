"""LTX, the file format Litestream replicates: codec, checksums and compaction."""

from litestream_core.ltx.checksum import (
    DatabaseChecksum,
    checksum_database_file,
    crc64,
    database_checksum,
    page_checksum,
)
from litestream_core.ltx.compactor import compact
from litestream_core.ltx.decoder import Decoder, decode_file, verify_file
from litestream_core.ltx.encoder import Encoder, encode_file
from litestream_core.ltx.header import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    TRAILER_SIZE,
    Header,
    Trailer,
    format_filename,
    is_valid_page_size,
    lock_pgno,
    parse_filename,
)
from litestream_core.ltx.index import PageIndexElem, read_page, read_page_index

__all__ = [
    "CHECKSUM_FLAG",
    "HEADER_FLAG_NO_CHECKSUM",
    "HEADER_SIZE",
    "TRAILER_SIZE",
    "DatabaseChecksum",
    "Decoder",
    "Encoder",
    "Header",
    "PageIndexElem",
    "Trailer",
    "checksum_database_file",
    "compact",
    "crc64",
    "database_checksum",
    "decode_file",
    "encode_file",
    "format_filename",
    "is_valid_page_size",
    "lock_pgno",
    "page_checksum",
    "parse_filename",
    "read_page",
    "read_page_index",
    "verify_file",
]
