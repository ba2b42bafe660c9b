"""The watch as a long-running loop: index (optionally), evaluate, deliver, sleep; in the foreground or a thread.

One loop per event database: two deliverers over the same outbox would both send a due row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from metering.audit.store import Store
from metering.watch.config import WatchConfig
from metering.watch.outbox import Backoff
from metering.watch.watcher import Deliverer, Watcher

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["WatchLoop"]

log = logging.getLogger("metering.watch")


class WatchLoop:
    """Runs ``config`` over the database at ``db`` every ``interval`` seconds until :meth:`stop`.

    ``index``: also sync the indexer each pass (``metering watch``; ``metering serve`` has its own sync).
    """

    def __init__(
        self,
        config: WatchConfig,
        db: str | Path,
        *,
        w3: Web3 | None = None,
        index: bool = False,
        interval: float = 1.0,
        start_block: int | None = None,
        backoff: Backoff | None = None,
        on_result: Callable[[str, str, bool], None] | None = None,
        batch: int = 2_000,
    ) -> None:
        self.config = config
        self.db = db
        self.w3 = w3
        self.index = index
        self.interval = interval
        self.start_block = start_block
        self.backoff = backoff or Backoff()
        self.on_result = on_result
        self.batch = batch
        self.passes = 0
        self.last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, int]:
        """One pass: returns (new outbox rows, deliveries made)."""
        if self.index and self.w3 is not None:
            from metering.audit.indexer import Indexer

            with Store(self.db) as store:
                Indexer(self.w3, store.contract, store).sync()
        with Store(self.db) as store:
            watcher = Watcher(store, self.config.rules, name=self.config.name,
                              confirmations=self.config.confirmations, w3=self.w3, start_block=self.start_block,
                              batch=self.batch)
            queued = watcher.drain()
            report = Deliverer(watcher.outbox, self.config.sinks, backoff=self.backoff,
                               on_result=self.on_result).deliver_due()
        self.passes += 1
        return queued, report.delivered

    def run_forever(self) -> None:
        """Passes until :meth:`stop` (or Ctrl-C); a failed pass (node away) is logged and tried again."""
        while not self._stop.is_set():
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = exc
                log.warning("watch pass failed: %s", exc)
            self._stop.wait(self.interval)

    def start(self) -> WatchLoop:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="metering-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
