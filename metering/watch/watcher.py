"""Turn confirmed events into outbox rows, and outbox rows into deliveries.

:class:`Watcher` reads the events after its cursor up to the confirmed block (the store's cursor minus
``confirmations``), runs every rule over them, and writes the notifications and the new cursor in one transaction.

**Reorgs: we wait, we never retract.** A notification is only derived from blocks ``confirmations`` deep, so a
reorganisation shallower than that replaces blocks the watch has not looked at yet: the indexer drops their events
and reads the new chain, and the watch then sees only what the new chain holds. A reorg deeper than
``confirmations`` can leave a sent notification about an event that no longer exists; pick the depth of your chain's
finality (2 on a dev chain, 64 for Ethereum's finalised head).

:class:`Deliverer` sends due rows to their sinks one by one in chain order. A failed attempt is retried with
exponential backoff; when a sink fails, its other rows wait for the next pass instead of failing in a burst.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metering._utils.storerows import LOG_INDEX_BITS, READ_COLUMNS, event_from_row
from metering.audit.store import Store
from metering.errors import DeliveryError, WatchConfigError
from metering.watch.context import WatchContext
from metering.watch.outbox import Backoff, Outbox, Queued
from metering.watch.rules import Notification, Rule
from metering.watch.sinks import Sink

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["Deliverer", "DeliveryReport", "Watcher"]

log = logging.getLogger("metering.watch")

#: Events evaluated per transaction: bounds memory and the time a crash can cost, whatever the store's size.
BATCH = 2_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class Watcher:
    """Evaluates ``rules`` over ``store``'s confirmed events into its outbox, under the cursor ``name``.

    ``start_block``: where a new cursor starts (``None``: the confirmed head at the first pass, so a new watch does
    not replay a year of history; 0: everything)."""

    def __init__(
        self,
        store: Store,
        rules: tuple[Rule, ...],
        *,
        name: str,
        confirmations: int = 2,
        w3: Web3 | None = None,
        start_block: int | None = None,
        batch: int = BATCH,
    ) -> None:
        if confirmations < 0 or batch < 1:
            raise WatchConfigError("confirmations must be >= 0 and batch >= 1")
        self.store = store
        self.outbox = Outbox(store)
        self.rules = rules
        self.name = name
        self.confirmations = confirmations
        self.w3 = w3
        self.start_block = start_block
        self.batch = batch

    def confirmed_block(self) -> int | None:
        last = self.store.last_block
        if last is None or last - self.confirmations < 0:
            return None
        return last - self.confirmations

    def step(self) -> int:
        """One batch (at most ``batch`` events) and the time-driven rules; returns how many outbox rows were new.
        Call until it returns 0 and :meth:`caught_up`, or in a loop."""
        confirmed = self.confirmed_block()
        if confirmed is None:
            return 0
        ceiling = ((confirmed + 1) << LOG_INDEX_BITS) - 1
        cursor = self.outbox.cursor(self.name)
        if cursor is None:
            first = confirmed + 1 if self.start_block is None else self.start_block
            cursor = (first << LOG_INDEX_BITS) - 1
        rows = self.store.query(
            f"SELECT position, {', '.join(READ_COLUMNS)} FROM events WHERE position > ? AND position <= ? "
            "ORDER BY position LIMIT ?",
            (cursor, ceiling, self.batch),
        )
        events = [event_from_row(*row[1:]) for row in rows]
        done = len(rows) < self.batch
        position = ceiling if done else int(rows[-1][0])
        ctx = WatchContext(self.store, self.outbox, confirmed, self.w3)
        found: list[tuple[Rule, Notification]] = []
        for rule in self.rules:
            found += [(rule, n) for n in rule.on_events(events, ctx)]
            if done and ceiling > cursor:  # time-driven rules: once per new confirmed block (time moves with blocks)
                found += [(rule, n) for n in rule.on_tick(ctx)]
        queued = [Queued(n.id, n.type, n.block_number, n.body(), rule.sinks) for rule, n in found]
        return self.outbox.enqueue(self.name, queued, max(position, cursor), now_ms=_now_ms(), marks=ctx.marks)

    def caught_up(self) -> bool:
        confirmed = self.confirmed_block()
        cursor = self.outbox.cursor(self.name)
        return confirmed is None or (cursor is not None and cursor >= ((confirmed + 1) << LOG_INDEX_BITS) - 1)

    def drain(self) -> int:
        """Steps until caught up with the confirmed block; returns the new outbox rows."""
        total = self.step()
        while not self.caught_up():
            total += self.step()
        return total


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    failed: int
    dead: int


class Deliverer:
    """Sends the outbox's due rows to ``sinks`` (by name), retrying with ``backoff``."""

    def __init__(
        self,
        outbox: Outbox,
        sinks: Mapping[str, Sink],
        *,
        backoff: Backoff | None = None,
        on_result: Callable[[str, str, bool], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.sinks = sinks
        self.backoff = backoff or Backoff()
        self.on_result = on_result  # (sink, type, ok): for metrics

    def deliver_due(self, limit: int = 200) -> DeliveryReport:
        delivered = failed = dead = 0
        down: set[str] = set()
        for item in self.outbox.due(_now_ms(), limit):
            if item.sink in down:
                continue  # that sink just failed: its rows wait for the next pass
            sink = self.sinks.get(item.sink)
            try:
                if sink is None:
                    raise DeliveryError(f"no sink named {item.sink!r} in the rules file any more")
                sink.deliver(item.id, item.payload)
            except DeliveryError as exc:
                failed += 1
                down.add(item.sink)
                if self.outbox.failed(item, str(exc), _now_ms(), self.backoff):
                    dead += 1
                    log.error("giving up on %s to %s: %s", item.id, item.sink, exc)
                else:
                    log.warning("delivery of %s to %s failed (attempt %d): %s", item.id, item.sink,
                                item.attempts + 1, exc)
                if self.on_result:
                    self.on_result(item.sink, item.type, False)
                continue
            self.outbox.delivered(item, _now_ms())
            delivered += 1
            if self.on_result:
                self.on_result(item.sink, item.type, True)
        return DeliveryReport(delivered, failed, dead)
