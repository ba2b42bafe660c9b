"""Keep the web view's event database current: index new blocks in a background thread.

The same :class:`~metering.audit.indexer.Indexer` as ``metering index``, so the page sees what an auditor's own index
would: confirmations respected, reorganisations rolled back. A failed pass (node down for a moment) is logged and
tried again; the page keeps serving what is indexed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from web3 import Web3

from metering.audit.indexer import Indexer, find_deployment_block
from metering.audit.store import Store

__all__ = ["BackgroundSync"]

log = logging.getLogger("metering.web.sync")


class BackgroundSync:
    """Runs ``Indexer.sync`` every ``interval`` seconds on its own database connection until :meth:`stop`."""

    def __init__(
        self, w3: Web3, contract: str, db: str | Path, *, confirmations: int = 0, interval: float = 2.0
    ) -> None:
        self.w3 = w3
        self.contract = contract
        self.db = db
        self.confirmations = confirmations
        self.interval = interval
        self.passes = 0
        self.last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync_once(self) -> None:
        with Store(self.db, chain_id=int(self.w3.eth.chain_id), contract=self.contract) as store:
            start = None if store.first_block is not None else find_deployment_block(self.w3, self.contract)
            Indexer(self.w3, self.contract, store, confirmations=self.confirmations, start_block=start).sync()
        self.passes += 1

    def start(self) -> BackgroundSync:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metering-web-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
                self.last_error = None
            except Exception as exc:  # the node may be away for a moment: serve what is indexed, retry
                self.last_error = exc
                log.warning("background sync failed: %s", exc)
            self._stop.wait(self.interval)
