"""Object names in a storage listing, read as LTX files the way Go reads them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestream_core.ltx.header import parse_filename


def ltx_range(name: str, seek: int = 0) -> tuple[int, int] | None:
    """The TXID range a file name holds, or None for a name to skip.

    Names that are not LTX file names are skipped, as Go skips them, and so are files
    whose min TXID precedes ``seek``.
    """
    try:
        min_txid, max_txid = parse_filename(name)
    except ValueError:
        return None
    return None if min_txid < seek else (min_txid, max_txid)


def next_page(pages: Iterator[Any]) -> list[Any] | None:
    """The next page of an SDK's paged listing as a list, or None after the last.

    Fetching a page is the blocking part, so backends call this in a worker thread.
    """
    page = next(pages, None)
    return None if page is None else list(page)
