"""The provider's payouts: what every settlement paid, per currency and token, from the ``Settled`` events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metering.settlement.amounts import TokenAmount
from metering.settlement.reads import SettlementReads
from metering.settlement.types import SettledEvent

__all__ = ["Payout", "payouts"]


@dataclass(frozen=True)
class Payout:
    """One settlement as the provider sees it: the invoice total paid for (customer, timeframe)."""

    event: SettledEvent
    paid: TokenAmount | None  # None: released unpaid (timeframe in another currency than the escrow)


def payouts(
    client: SettlementReads, *, from_block: int = 0, timeframe: int | None = None, customer: str | None = None
) -> list[Payout]:
    """Every payout since ``from_block`` (of one timeframe or customer if given), in chain order."""
    return list(_payouts(client, client.settled_events(from_block=from_block, timeframe=timeframe,
                                                        customer=customer)))


def _payouts(client: SettlementReads, events: Iterable[SettledEvent]) -> Iterable[Payout]:
    for event in events:
        paid = client.currency_token(event.currency).amount(event.tokens) if event.token is not None else None
        yield Payout(event, paid)


def totals(items: Iterable[Payout]) -> dict[str, TokenAmount]:
    """The sum paid per currency (each currency has one token)."""
    sums: dict[str, TokenAmount] = {}
    for p in items:
        if p.paid is None:
            continue
        before = sums.get(p.event.currency)
        sums[p.event.currency] = TokenAmount((before.units if before else 0) + p.paid.units, p.paid.token)
    return sums
