"""A final invoice against its settlement on chain: the ``Settled`` event's amount must be the invoice's total."""

from __future__ import annotations

from dataclasses import dataclass

from metering.audit.invoice import Invoice, invoice_hash
from metering.settlement.reads import SettlementReads
from metering.settlement.types import SettledEvent

__all__ = ["SettlementCheck", "check_settlement"]


@dataclass(frozen=True)
class SettlementCheck:
    """What was compared: ``event`` is None when (customer, timeframe) is not settled (no difference then)."""

    event: SettledEvent | None
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences


def check_settlement(invoice: Invoice, client: SettlementReads, *, from_block: int = 0) -> SettlementCheck:
    """Compares a final invoice with the settlement of its (customer, timeframe), if there is one: amount and
    currency must match, and the invoice hash the event carries (when one was anchored) must be this invoice's."""
    events = client.settled_events(from_block=from_block, customer=invoice.customer,
                                   timeframe=invoice.timeframe.id)
    if not events:
        return SettlementCheck(None, ())
    event = events[0]
    diffs: list[str] = []
    if not invoice.final:
        diffs.append("settlement: the document is a running statement; only a final invoice is settled")
    if event.currency != invoice.currency:
        diffs.append(f"settlement.currency: the event says {event.currency}, the invoice {invoice.currency}")
    if event.amount != invoice.total:
        diffs.append(
            f"settlement.amount: the contract settled {event.amount} minor units (tx {event.tx_hash}), "
            f"the invoice totals {invoice.total}"
        )
    if event.invoice_hash is not None and event.invoice_hash != invoice_hash(invoice):
        diffs.append(
            f"settlement.invoice_hash: the event carries 0x{event.invoice_hash.hex()}, "
            f"this invoice hashes to 0x{invoice_hash(invoice).hex()}"
        )
    return SettlementCheck(event, tuple(diffs))
