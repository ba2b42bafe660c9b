"""``/metrics`` of ``metering serve`` in Prometheus' text format, computed from the event store at scrape time.

Why at scrape time rather than counters kept in memory: ``serve`` runs several worker processes, and each would
count only what it saw. The store is the one truth all workers share, so every worker answers the same numbers and
no multiprocess directory is needed. Labels are bounded by the contract: event names (19), denial reasons (9),
outbox states (3); never an instance, customer or transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from metering.audit.store import Store

__all__ = ["StoreCollector", "metrics_endpoint"]

_DENIALS = ("ActivationDenied", "LeaseRenewalDenied", "ActivationReplayed")


class StoreCollector:
    """A prometheus-client collector over the store at ``db``; ``head()`` gives the node's head block (or None)."""

    def __init__(self, db: Path, head: Callable[[], int | None]) -> None:
        self.db = db
        self.head = head
        self._counted: tuple[Any, ...] | None = None  # (store head, counts): recounted only when the store moved
        self._lock = threading.Lock()

    def _counts(self) -> tuple[int | None, list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        with Store(self.db) as store:
            marker = store.query("SELECT (SELECT last_block FROM cursor WHERE id = 1), (SELECT MAX(position) FROM "
                                 "events), (SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox')")[0]
            outbox = store.query("SELECT state, COUNT(*) FROM outbox GROUP BY state") if marker[2] else []
            with self._lock:
                if self._counted is not None and self._counted[0] == marker:
                    return (self._counted[1], self._counted[2], self._counted[3], outbox)
            last = store.last_block
            by_event = store.query("SELECT event, COUNT(*) FROM events INDEXED BY events_by_name GROUP BY event")
            marks = ", ".join("?" for _ in _DENIALS)
            denials = store.query(
                "SELECT json_extract(fields, '$.reason'), COUNT(*) FROM events INDEXED BY events_by_name "
                f"WHERE event IN ({marks}) AND json_extract(fields, '$.reason') IS NOT NULL GROUP BY 1", _DENIALS)
        with self._lock:
            self._counted = (marker, last, by_event, denials)
        return (last, by_event, denials, outbox)

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
        for name, count in by_event:
            events.add_metric([str(name)], int(count))
        yield events
        denied = CounterMetricFamily("metering_denials", "Indexed denials, by reason.", labels=["reason"])
        for reason, count in denials:
            denied.add_metric([str(reason).lower()], int(count))
        yield denied
        queue = GaugeMetricFamily("metering_outbox_notifications", "Watch outbox rows by state.", labels=["state"])
        found = {str(s): int(n) for s, n in states}
        for state in ("pending", "delivered", "dead"):
            queue.add_metric([state], found.get(state, 0))
        yield queue


def metrics_endpoint(db: Path, head: Callable[[], int | None]) -> Callable[..., Any]:
    """An ASGI app answering the store's metrics (``prometheus_client.make_asgi_app`` over its own registry)."""
    from prometheus_client import CollectorRegistry, make_asgi_app

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db, head))
    return make_asgi_app(registry=registry)
