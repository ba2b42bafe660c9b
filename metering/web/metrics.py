"""``/metrics`` of ``metering serve`` in Prometheus' text format, computed from the event store at scrape time.

Why at scrape time rather than counters kept in memory: ``serve`` runs several worker processes, and each would
count only what it saw. The store is the one truth all workers share, so every worker answers the same numbers and
no multiprocess directory is needed. Labels are bounded by the contract: event names (19), denial reasons (9),
outbox states (3); never an instance, customer or transaction.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from metering.audit.store import Store

__all__ = ["StoreCollector", "metrics_endpoint"]

_DENIALS = ("ActivationDenied", "LeaseRenewalDenied", "ActivationReplayed")


class StoreCollector:
    """A prometheus-client collector over the store at ``db`` (a SQLite path or a PostgreSQL URL); ``head()`` gives
    the node's head block (or None)."""

    def __init__(self, db: str | Path, head: Callable[[], int | None]) -> None:
        self.db = db
        self.head = head
        # Counts up to a position, extended by the events after it on the next scrape: a full count of a million
        # events takes seconds, the events of one block milliseconds. A reorg (the newest position went back)
        # counts again from the start.
        self._position = -1
        self._by_event: Counter[str] = Counter()
        self._denials: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _counts(self) -> tuple[int | None, dict[str, int], dict[str, int], list[tuple[Any, ...]]]:
        marks = ", ".join("?" for _ in _DENIALS)
        with self._lock, Store(self.db) as store:
            last = store.last_block
            newest = store.query("SELECT MAX(position) FROM events")[0][0]
            newest = -1 if newest is None else int(newest)
            if newest < self._position:
                self._position, self._by_event, self._denials = -1, Counter(), Counter()
            if newest > self._position:
                after = (self._position,)
                for name, count in store.query(
                        "SELECT event, COUNT(*) FROM events WHERE position > ? GROUP BY event", after):
                    self._by_event[str(name)] += int(count)
                reason_of = store.json_text("fields", "reason")
                for reason, count in store.query(
                        f"SELECT {reason_of}, COUNT(*) FROM events "
                        f"WHERE position > ? AND event IN ({marks}) AND {reason_of} IS NOT NULL "
                        "GROUP BY 1", (*after, *_DENIALS)):
                    self._denials[str(reason).lower()] += int(count)
                self._position = newest
            outbox = store.query("SELECT state, COUNT(*) FROM outbox GROUP BY state")
            return last, dict(self._by_event), dict(self._denials), outbox

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        last, by_event, denials, states = self._counts()
        indexed = GaugeMetricFamily("metering_indexed_block", "The last block whose events are all indexed.")
        indexed.add_metric([], -1 if last is None else last)
        yield indexed
        head = self.head()
        if head is not None:
            lag = GaugeMetricFamily("metering_indexer_head_lag_blocks",
                                    "Blocks between the node's head and the indexed block.")
            lag.add_metric([], max(0, head - (last if last is not None else -1)))
            yield lag
        events = CounterMetricFamily("metering_events", "Indexed contract events, by event name.", labels=["event"])
        for name, count in sorted(by_event.items()):
            events.add_metric([name], count)
        yield events
        denied = CounterMetricFamily("metering_denials", "Indexed denials, by reason.", labels=["reason"])
        for reason, count in sorted(denials.items()):
            denied.add_metric([reason], count)
        yield denied
        queue = GaugeMetricFamily("metering_outbox_notifications", "Watch outbox rows by state.", labels=["state"])
        found = {str(s): int(n) for s, n in states}
        for state in ("pending", "delivered", "dead"):
            queue.add_metric([state], found.get(state, 0))
        yield queue


def metrics_endpoint(db: str | Path, head: Callable[[], int | None]) -> Callable[..., Any]:
    """An ASGI app answering the store's metrics (``prometheus_client.make_asgi_app`` over its own registry)."""
    from prometheus_client import CollectorRegistry, make_asgi_app

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db, head))
    return make_asgi_app(registry=registry)
