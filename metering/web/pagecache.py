"""Pages remembered until the indexed chain moves: the same URL at the same head is the same page.

Why: a page is a function of the event store (and of the node's state at the store's head), and the store changes
only when the indexer stores a new range. Under load, 8 clients asking for the heavy customer's charts would each
recompute the same 10,000 events; with this, the first request after a block pays and the others read it back, in
each worker process. Keyed by the URL and the head marker (cursor block, newest event position); bounded to
``size`` pages, least recently used out first; only 200 answers are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["PageCache"]


class PageCache:
    def __init__(self, head: Callable[[], Hashable], size: int = 256) -> None:
        self._head = head
        self._size = size
        self._pages: OrderedDict[Hashable, Response] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __call__(self, endpoint: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """``endpoint`` answered from the cache while the head has not moved."""

        def cached(request: Request) -> Response:
            key = (request.url.path, request.url.query, self._head())
            with self._lock:
                found = self._pages.get(key)
                if found is not None:
                    self._pages.move_to_end(key)
                    self.hits += 1
                    return found
                self.misses += 1
            response = endpoint(request)
            if response.status_code == 200 and self._size:
                with self._lock:
                    self._pages[key] = response
                    while len(self._pages) > self._size:
                        self._pages.popitem(last=False)
            return response

        return cached
