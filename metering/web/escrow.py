"""The customer page's prepaid escrow: balance, what granted usage holds, what is withdrawable, and settlements.

Read from the Settlement contract when the app was given one (``metering serve --settlement``); nothing otherwise.
A node that does not answer leaves the card out rather than failing the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from metering.errors import MeteringError

__all__ = ["EscrowCard", "SettlementRow", "escrow_card"]


@dataclass(frozen=True)
class SettlementRow:
    """One settled timeframe of the customer, with the amount and payment as text (currency and token)."""

    timeframe: int
    amount: str
    paid: str
    tx_hash: str
    invoice_hash: str | None


@dataclass(frozen=True)
class EscrowCard:
    """``prepaid`` False: the customer never deposited (postpaid); the amounts are then empty."""

    settlement: str
    prepaid: bool
    balance: str
    committed: str
    available: str
    settlements: tuple[SettlementRow, ...]


def escrow_card(w3: Web3 | None, settlement: str | None, customer: str) -> EscrowCard | None:
    """The card of ``customer``, or None without a Settlement contract or a node."""
    if w3 is None or not settlement:
        return None
    from metering.money import format_minor
    from metering.settlement import SettlementClient

    try:
        client = SettlementClient(w3, settlement, None)
        e = client.escrow(customer)
        rows = tuple(
            SettlementRow(
                ev.timeframe, f"{format_minor(ev.amount, ev.currency)} {ev.currency}",
                str(client.currency_token(ev.currency).amount(ev.tokens)) if ev.token else "released unpaid",
                ev.tx_hash, "0x" + ev.invoice_hash.hex() if ev.invoice_hash else None,
            )
            for ev in client.settled_events(customer=customer)
        )
        if e.token is None:
            return EscrowCard(client.address, False, "", "", "", rows)
        return EscrowCard(client.address, True, str(e.amount(e.balance)), str(e.amount(e.committed)),
                          str(e.amount(e.available)), rows)
    except (MeteringError, OSError, ValueError):  # no node at the moment, or not a Settlement: leave it out
        return None
