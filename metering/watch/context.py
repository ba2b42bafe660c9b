"""What rules may ask while they evaluate: block times, rules, caps, counters, open leases, final invoices.

Everything is read at or below the confirmed block (the store's cursor minus the watch's confirmations), from the
event store, or from the contract at that block for the one number only the contract holds (what a customer has
committed against its cap). So a rule's answer depends on the chain up to that block and nothing else: evaluating
it again gives the same notifications.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metering._utils.storerows import LOG_INDEX_BITS
from metering.audit.events import ActivationGranted, SpendingCapSet
from metering.audit.store import Store
from metering.errors import WatchConfigError
from metering.types import Rules

if TYPE_CHECKING:
    from web3 import Web3

    from metering.watch.outbox import Outbox

__all__ = ["FinalInvoice", "OpenLease", "WatchContext"]


@dataclass(frozen=True)
class OpenLease:
    instance_id: str
    customer: str
    timeframe: int
    instance_type: int
    lease_end: int


@dataclass(frozen=True)
class FinalInvoice:
    customer: str
    timeframe: int
    total: int
    currency: str
    invoice_hash: str
    to_block: int
    end: int


class _ConfirmedClock:
    """Block times from the node, but never past the confirmed block (what the watch may rely on)."""

    def __init__(self, w3: Web3, store: Store, head: int) -> None:
        from metering.audit.blocktime import NodeClock

        self._clock = NodeClock(w3, store)
        self._head = head

    def head(self) -> int:
        return self._head

    def timestamp(self, number: int) -> int:
        return self._clock.timestamp(number)


class WatchContext:
    """Reads for one evaluation pass, up to ``confirmed_block``; ``w3`` is needed by the cap and invoice rules."""

    def __init__(self, store: Store, outbox: Outbox, confirmed_block: int, w3: Web3 | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.confirmed_block = confirmed_block
        self.w3 = w3
        self.marks: list[str] = []  # conditions that fired in this pass, written with its notifications
        self._times: dict[int, int | None] = {}
        self._rules: dict[int, dict[int, Rules]] = {}
        self._currencies: dict[int, str] = {}

    def _node(self, why: str) -> Web3:
        if self.w3 is None:
            raise WatchConfigError(f"the {why} rule reads the contract: run the watch with --rpc-url")
        return self.w3

    # ------------------------------------------------------------------ time

    def block_time(self, number: int) -> int | None:
        """The timestamp of the latest stored block at or before ``number`` (exact for range ends and, with a node,
        for any block); ``None`` when nothing is known."""
        if number not in self._times:
            found: int | None = None
            if self.w3 is not None:
                try:
                    found = int(self.w3.eth.get_block(number)["timestamp"])
                except Exception:  # a node away for a moment: fall back to what the store knows
                    found = None
            if found is None:
                rows = self.store.query(
                    "SELECT timestamp FROM blocks WHERE number <= ? AND timestamp IS NOT NULL "
                    "ORDER BY number DESC LIMIT 1", (number,))
                found = int(rows[0][0]) if rows else None
            self._times[number] = found
        return self._times[number]

    def now(self) -> int | None:
        """Chain time at the confirmed block."""
        return self.block_time(self.confirmed_block)

    # ------------------------------------------------------------------ rules, caps, counters

    def rules(self, timeframe: int) -> dict[int, Rules]:
        if timeframe not in self._rules:
            from metering.audit.billing import timeframe_setup
            from metering.errors import InvoiceError

            try:
                setup = timeframe_setup(self.store, timeframe)
            except InvoiceError:
                self._rules[timeframe] = {}
            else:
                self._rules[timeframe] = setup.rules
                self._currencies[timeframe] = setup.timeframe.currency
        return self._rules[timeframe]

    def currency(self, timeframe: int) -> str | None:
        self.rules(timeframe)
        return self._currencies.get(timeframe)

    def spending_cap(self, customer: str, block: int) -> int:
        """The customer's cap (minor units, 0 = none) as its last ``SpendingCapSet`` up to ``block`` set it."""
        rows = self.store.query(
            f"SELECT fields FROM {self.store.scan('events_by_name')} WHERE event = ? AND customer = ? "
            "AND position <= ? ORDER BY position DESC LIMIT 1",
            (SpendingCapSet.name, customer, (block << LOG_INDEX_BITS) | ((1 << LOG_INDEX_BITS) - 1)),
        )
        if not rows:
            return 0
        return int(json.loads(rows[0][0])["cap"])

    def spent(self, customer: str, timeframe: int, block: int) -> int:
        """What the contract says ``customer`` committed in ``timeframe`` (micro-units) after ``block``."""
        from metering.contract import abi

        w3 = self._node("cap")
        meter = w3.eth.contract(address=w3.to_checksum_address(self.store.contract), abi=abi())
        return int(meter.functions.spent(customer, timeframe).call(block_identifier=block))

    def activations(self, customer: str, timeframe: int, instance_type: int, block: int, log_index: int) -> int:
        """Grants of ``instance_type`` to ``customer`` in ``timeframe`` up to and including that log."""
        rows = self.store.query(
            f"SELECT COUNT(*) FROM {self.store.scan('events_by_customer')} WHERE timeframe = ? AND customer = ? "
            "AND position <= ? AND event = ? AND instance_type = ?",
            (timeframe, customer, (block << LOG_INDEX_BITS) | log_index, ActivationGranted.name, instance_type),
        )
        return int(rows[0][0])

    # ------------------------------------------------------------------ leases

    def open_leases(self, now: int, until: int) -> list[OpenLease]:
        """Leases whose latest end (grant, continuation or renewal) is in ``[now, until)`` and that no stop, expiry
        or provider close ended, in timeframes that contain ``now``.

        Two index reads, never a table scan: the candidates come from the covering ``events_by_customer`` index
        (which holds ``lease_end``) over the live timeframes only; each candidate is then looked up in its own
        customer's range of that index for a later renewal or a close."""
        live = [tf.id for tf in self.store.timeframes() if tf.start <= now < tf.end]
        ceiling = ((self.confirmed_block + 1) << LOG_INDEX_BITS) - 1
        latest: dict[bytes, tuple[int, str, int, int, int]] = {}
        for timeframe in live:
            for position, instance_id, customer, kind, ends in self.store.query(
                "SELECT position, instance_id, customer, instance_type, lease_end FROM "
                f"{self.store.scan('events_by_customer')} WHERE timeframe = ? AND customer IS NOT NULL "
                "AND position <= ? AND lease_end >= ? AND lease_end < ? "
                "AND event IN ('ActivationGranted', 'LeaseContinued', 'LeaseRenewed')",
                (timeframe, ceiling, now, until),
            ):
                found = latest.get(bytes(instance_id))
                if found is None or int(position) > found[0]:
                    latest[bytes(instance_id)] = (int(position), str(customer), timeframe, int(kind), int(ends))
        out = []
        for instance_id, (position, customer, timeframe, kind, ends) in latest.items():
            later = self.store.query(
                f"SELECT 1 FROM {self.store.scan('events_by_customer')} WHERE timeframe = ? AND customer = ? "
                "AND position > ? AND position <= ? AND instance_id = ? AND (event IN ('InstanceDeactivated', "
                "'InstanceClosedByProvider', 'LeaseExpired') OR (event IN ('LeaseRenewed', 'LeaseContinued') "
                "AND lease_end >= ?)) LIMIT 1",
                (timeframe, customer, position, ceiling, instance_id, until),
            )
            if not later:
                out.append(OpenLease("0x" + instance_id.hex(), customer, timeframe, kind, ends))
        return out

    # ------------------------------------------------------------------ invoices

    def final_invoices(self, rule: str) -> list[FinalInvoice]:
        """The final invoices of every timeframe that ended at or before the confirmed block and that ``rule`` has
        not announced yet (each timeframe is marked once all its invoices are queued)."""
        now = self.now()
        if now is None:
            return []
        ended = [tf for tf in self.store.timeframes() if tf.end <= now and not self.outbox.marked(f"{rule}:{tf.id}")]
        if not ended:
            return []
        from metering.audit.billing import final_coverage, iter_invoices, timeframe_setup
        from metering.audit.invoice import invoice_hash
        from metering.errors import InvoiceError

        clock = _ConfirmedClock(self._node("invoice_final"), self.store, self.confirmed_block)
        out: list[FinalInvoice] = []
        for tf in ended:
            try:
                coverage = final_coverage(self.store, timeframe_setup(self.store, tf.id), clock)
            except InvoiceError:
                continue  # the end block is not indexed yet: next pass
            if coverage is None:
                continue
            for invoice in iter_invoices(self.store, tf.id, clock):
                if invoice.final:
                    out.append(FinalInvoice(
                        invoice.customer, tf.id, invoice.total, tf.currency, "0x" + invoice_hash(invoice).hex(),
                        coverage.to_block, tf.end,
                    ))
            self.marks.append(f"{rule}:{tf.id}")
        return out
