"""The durable outbox: notifications waiting for (or done with) delivery, in the event store itself.

Why in the event store: a notification is derived from stored events, so it is written in the same database and the
same transaction as the watcher's cursor. Either both land or neither does: a crash never loses a notification whose
events were passed over, and a restart that evaluates the same events again writes the same ids, which the primary
key ignores (nothing twice in the outbox). Delivery is at least once per sink: a crash after a sink accepted a
notification and before the outbox recorded it sends it again with the same ``webhook-id``, which Standard Webhooks
receivers dedupe on.

The tables are a schema step of the store (version 5 in :mod:`metering.audit.stores.migrations`), the same on
SQLite and PostgreSQL, and every statement here is SQL both engines read.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from metering.audit.store import Store

__all__ = ["Backoff", "Outbox", "OutboxItem", "Queued"]

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class Queued:
    """A notification to write: its chain-derived ``id``, the sinks it goes to, and the body they get."""

    id: str
    type: str
    block_number: int
    payload: str
    sinks: tuple[str, ...]


@dataclass(frozen=True)
class OutboxItem:
    """One (notification, sink) row due for delivery."""

    id: str
    sink: str
    type: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class Backoff:
    """When to try again: ``base * 2**(attempts - 1)`` seconds, at most ``cap``, with full jitter from half of it
    (so endpoints that come back are not hit by every waiting notification at once); ``dead`` after ``attempts``.

    The defaults retry for about a day (5 s, 10 s, ... capped at an hour, 30 attempts), like Stripe's days of
    retries: a receiver down for a weekend should fix itself and replay the dead rows (``metering watch --retry-dead``).
    """

    base: float = 5.0
    cap: float = 3600.0
    attempts: int = 30

    def delay_ms(self, attempts: int) -> int:
        full = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return int(1000 * random.uniform(full / 2, full))


class Outbox:
    """The outbox tables of ``store`` (``outbox``: one row per (notification, sink), ``payload`` the exact JSON body
    sent, which signatures cover; ``state`` pending, delivered or dead; times in unix milliseconds)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def cursor(self, watcher: str) -> int | None:
        rows = self.store.query("SELECT position FROM watch_cursor WHERE watcher = ?", (watcher,))
        return int(rows[0][0]) if rows else None

    def marked(self, mark: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM watch_marks WHERE mark = ?", (mark,)))

    def enqueue(
        self, watcher: str, queued: Iterable[Queued], position: int, *, now_ms: int, marks: Sequence[str] = ()
    ) -> int:
        """Write ``queued`` (ids already there are ignored), the ``marks`` and the watcher's cursor ``position``,
        in one transaction. Returns how many (notification, sink) rows were new."""
        rows = [(q.id, sink, q.type, q.block_number, q.payload, now_ms, PENDING) for q in queued for sink in q.sinks]
        with self.store.writing() as db:
            new = db.run_many(
                "INSERT INTO outbox (id, sink, type, block_number, payload, next_attempt, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, sink) DO NOTHING",
                rows,
            )  # an id already there changes nothing, so it is not counted
            db.run_many("INSERT INTO watch_marks (mark) VALUES (?) ON CONFLICT (mark) DO NOTHING",
                        [(m,) for m in marks])
            db.run(
                "INSERT INTO watch_cursor (watcher, position) VALUES (?, ?) "
                "ON CONFLICT (watcher) DO UPDATE SET position = excluded.position",
                (watcher, position),
            )
        return max(int(new), 0)

    def due(self, now_ms: int, limit: int = 200) -> list[OutboxItem]:
        """Pending rows whose next attempt has come, oldest first (by chain block, then id)."""
        rows = self.store.query(
            "SELECT id, sink, type, payload, attempts FROM outbox WHERE state = ? AND next_attempt <= ? "
            "ORDER BY block_number, id, sink LIMIT ?",
            (PENDING, now_ms, limit),
        )
        return [OutboxItem(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def delivered(self, item: OutboxItem, now_ms: int) -> None:
        with self.store.writing() as db:
            db.run(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, delivered_at = ?, last_error = NULL "
                "WHERE id = ? AND sink = ?",
                (DELIVERED, now_ms, item.id, item.sink),
            )

    def failed(self, item: OutboxItem, error: str, now_ms: int, backoff: Backoff) -> bool:
        """Record a failed attempt and schedule the next; returns whether the row is now dead (out of attempts)."""
        attempts = item.attempts + 1
        dead = attempts >= backoff.attempts
        with self.store.writing() as db:
            db.run(
                "UPDATE outbox SET state = ?, attempts = ?, next_attempt = ?, last_error = ? WHERE id = ? AND sink = ?",
                (DEAD if dead else PENDING, attempts, now_ms + backoff.delay_ms(attempts), error[:500], item.id,
                 item.sink),
            )
        return dead

    def retry_dead(self, now_ms: int) -> int:
        """Give every dead row a new round of attempts (after a receiver was fixed); returns how many."""
        with self.store.writing() as db:
            return db.run(
                "UPDATE outbox SET state = ?, attempts = 0, next_attempt = ? WHERE state = ?", (PENDING, now_ms, DEAD)
            )

    def counts(self) -> dict[str, int]:
        """Rows per state (pending, delivered, dead), zeros included."""
        found = {str(s): int(n) for s, n in self.store.query("SELECT state, COUNT(*) FROM outbox GROUP BY state")}
        return {state: found.get(state, 0) for state in (PENDING, DELIVERED, DEAD)}
