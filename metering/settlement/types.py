"""The Settlement contract's records as Python values: a customer's escrow and a ``Settled`` event (no web3 here:
the CLI's lean reads build them too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress

from metering.chain import checksum
from metering.contract import currency_from_bytes
from metering.errors import ConfigError
from metering.settlement.amounts import CurrencyToken, TokenAmount

__all__ = ["Escrow", "SettledEvent"]


@dataclass(frozen=True)
class Escrow:
    """A customer's escrow: ``committed`` is held for granted, unsettled usage; ``available`` is withdrawable."""

    customer: ChecksumAddress
    token: CurrencyToken | None
    balance: int
    committed: int
    available: int
    since: int

    @property
    def prepaid(self) -> bool:
        return self.token is not None

    def amount(self, units: int) -> TokenAmount:
        if self.token is None:
            raise ConfigError(f"customer {self.customer} has no escrow: it never deposited (postpaid)")
        return self.token.amount(units)


@dataclass(frozen=True)
class SettledEvent:
    """One ``Settled`` event: (customer, timeframe) paid ``amount`` minor units of ``currency`` as ``tokens`` units
    of ``token`` to ``payee`` (``token`` is None when the timeframe's currency was not the escrow's: released
    unpaid)."""

    customer: ChecksumAddress
    timeframe: int
    currency: str
    amount: int
    token: ChecksumAddress | None
    tokens: int
    payee: ChecksumAddress
    invoice_hash: bytes | None
    released_micro: int
    settled_by: ChecksumAddress
    tx_hash: str
    block_number: int

    @classmethod
    def from_event(cls, event: Any) -> SettledEvent:
        a = event["args"]
        token = str(a["token"])
        return cls(
            customer=checksum(a["customer"]), timeframe=int(a["timeframe"]),
            currency=currency_from_bytes(bytes(a["currency"])), amount=int(a["amount"]),
            token=None if int(token, 16) == 0 else checksum(token), tokens=int(a["tokens"]),
            payee=checksum(a["payee"]), invoice_hash=bytes(a["invoiceHash"]) if any(a["invoiceHash"]) else None,
            released_micro=int(a["released"]), settled_by=checksum(a["settledBy"]),
            tx_hash="0x" + bytes(event["transactionHash"]).hex(), block_number=int(event["blockNumber"]),
        )
