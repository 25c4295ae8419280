"""A bounded page cache shared by every state of one replica database.

Keys name a page inside an immutable LTX file, so an entry never goes stale: a newer
state maps the page to another file instead, and nothing has to be invalidated when
new files arrive. The bound is in bytes, like Go's (10 MB by default).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

DEFAULT_CACHE_SIZE = 10 * 1024 * 1024


class PageCache:
    def __init__(self, capacity: int = DEFAULT_CACHE_SIZE) -> None:
        self.capacity = max(0, capacity)
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: Hashable, page: bytes) -> None:
        if len(page) > self.capacity:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._pages[key] = page
            self._size += len(page)
            while self._size > self.capacity:
                _, evicted = self._pages.popitem(last=False)
                self._size -= len(evicted)

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size(self) -> int:
        return self._size
