"""Pages remembered until the indexed chain moves: the same URL at the same head is the same page.

Why: a page is a function of the event store (and of the node's state at the store's head), and the store changes
only when the indexer stores a new range. Under load, 8 clients asking for the heavy customer's charts would each
recompute the same 10,000 events; with this, the first request after a block pays and the others read it back.
Keyed by the URL and the head marker (cursor block, newest event position); bounded to ``size`` pages in memory,
least recently used out first; only 200 answers are kept.

With several worker processes, ``directory`` (made by the parent) shares the rendered pages between them, so a page
is computed once per head by whichever worker is asked first, not once per worker. Files are written to a temporary
name and renamed (a reader never sees half a page), and files of older heads are removed as new ones are written.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

__all__ = ["PageCache"]


class PageCache:
    def __init__(self, head: Callable[[], Hashable], size: int = 256, directory: Path | None = None) -> None:
        self._head = head
        self._size = size
        self._directory = directory
        self._pages: OrderedDict[Hashable, Response] = OrderedDict()
        self._lock = threading.Lock()
        self._shared_head: str | None = None
        self.hits = self.misses = self.shared_hits = 0

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def _file(self, marker: str, key: Hashable) -> Path | None:
        if self._directory is None:
            return None
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        return self._directory / f"{marker}-{digest}.html"

    def _share(self, marker: str, path: Path, body: bytes) -> None:
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temporary.write_bytes(body)
            os.replace(temporary, path)
            if self._shared_head != marker:  # a new head: the pages of older heads will never be asked for again
                self._shared_head = marker
                for old in path.parent.glob("*.html"):
                    if not old.name.startswith(f"{marker}-"):
                        old.unlink(missing_ok=True)
        except OSError:  # a full or vanished directory only costs the sharing, never the page
            temporary.unlink(missing_ok=True)

    def __call__(self, endpoint: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """``endpoint`` answered from the cache while the head has not moved."""

        def cached(request: Request) -> Response:
            head = self._head()
            marker = "_".join(map(str, head)) if isinstance(head, tuple) else str(head)
            key = (request.url.path, request.url.query, head)
            with self._lock:
                found = self._pages.get(key)
                if found is not None:
                    self._pages.move_to_end(key)
                    self.hits += 1
                    return found
            shared = self._file(marker, key)
            if shared is not None:
                try:
                    found = HTMLResponse(shared.read_bytes())
                except OSError:
                    found = None
                else:
                    with self._lock:
                        self.shared_hits += 1
            if found is None:
                with self._lock:
                    self.misses += 1
                found = endpoint(request)
                if found.status_code != 200:
                    return found
                if shared is not None:
                    self._share(marker, shared, bytes(found.body))
            with self._lock:
                self._pages[key] = found
                while len(self._pages) > self._size:
                    self._pages.popitem(last=False)
            return found

        return cached
