"""The Settlement contract's typed reads, written once for web3's :class:`~metering.settlement.SettlementClient` and
the CLI's lean reader (:class:`~metering.settlement.lean.LeanSettlement`, no web3).

Why: ``customer balance``, ``provider payouts``, ``verify --settlement`` and ``invoice --settlement`` only read, and
a read command answers without importing web3 (issue 20); the parsing of an escrow, a currency's token and the
``Settled`` events must still exist once. A class implements three calls (:meth:`SettlementReads._view` on the
Settlement contract, :meth:`SettlementReads._token_view` on an ERC-20, :meth:`SettlementReads._logs` for
``eth_getLogs``) and inherits every typed read, as :class:`~metering._utils.reads.MeterReads` does for the Meter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from eth_typing import ChecksumAddress

from metering._utils.logdecode import EventDecoder
from metering.chain import checksum
from metering.contract import currency_from_bytes, currency_to_bytes
from metering.errors import ConfigError
from metering.settlement.amounts import CurrencyToken
from metering.settlement.artifacts import settlement_abi
from metering.settlement.types import Escrow, SettledEvent

__all__ = ["SettlementReads", "settled_decoder"]


@cache
def settled_decoder() -> EventDecoder:
    """The Settlement ABI's event decoder (built once): raw or web3-formatted logs, one decoding path."""
    return EventDecoder(settlement_abi())


def _topic(value: int | str) -> str:
    """An indexed argument as its topic: an address or an integer, left-padded to 32 bytes."""
    number = int(value, 16) if isinstance(value, str) else value
    return "0x" + number.to_bytes(32, "big").hex()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hash(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


class SettlementReads:
    """The typed reads of the Settlement contract at :attr:`address` (see the module)."""

    address: ChecksumAddress
    _tokens: dict[str, CurrencyToken]

    def _view(self, function: str, *args: Any) -> Any:
        """The decoded outputs of the Settlement view ``function(*args)``; a revert as the decoded error."""
        raise NotImplementedError

    def _token_view(self, token: ChecksumAddress, function: str) -> Any:
        """The decoded output of the argument-less ERC-20 view ``function`` (``symbol``, ``decimals``) of ``token``."""
        raise NotImplementedError

    def _logs(self, query: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        """The logs ``eth_getLogs(query)`` returns (raw JSON-RPC or web3-formatted)."""
        raise NotImplementedError

    @property
    def meter(self) -> ChecksumAddress:
        return checksum(self._view("meter"))

    @property
    def payee(self) -> ChecksumAddress:
        return checksum(self._view("payee"))

    def currency_token(self, currency: str) -> CurrencyToken:
        """The token the provider named for ``currency``.

        :raises ConfigError: none was named.
        """
        code = currency_from_bytes(currency_to_bytes(currency))
        if code not in self._tokens:
            token, units = self._view("currencyToken", currency_to_bytes(code))
            if int(units) == 0:
                raise ConfigError(
                    f"the provider has named no token for {code} in settlement {self.address}: "
                    "ask it to run `metering settlement token`"
                )
            address = checksum(token)
            self._tokens[code] = CurrencyToken(
                code, address, str(self._token_view(address, "symbol")), int(self._token_view(address, "decimals")),
                int(units),
            )
        return self._tokens[code]

    def escrow(self, customer: str) -> Escrow:
        who = checksum(customer, what="customer")
        v = self._view("escrow", who)
        currency = bytes(v[0])
        token = self.currency_token(currency_from_bytes(currency)) if any(currency) else None
        return Escrow(who, token, int(v[3]), int(v[4]), int(v[5]), int(v[6]))

    def amount_due(self, customer: str, timeframe: int) -> tuple[int, int]:
        """(minor units owed by the counters now, micro-units settling releases) of (customer, timeframe)."""
        amount, commitment = self._view("amountDue", checksum(customer, what="customer"), timeframe)
        return int(amount), int(commitment)

    def settlement(self, customer: str, timeframe: int) -> tuple[bool, int]:
        settled, amount = self._view("settlement", checksum(customer, what="customer"), timeframe)
        return bool(settled), int(amount)

    def settled_events(
        self, *, from_block: int = 0, customer: str | None = None, timeframe: int | None = None
    ) -> list[SettledEvent]:
        """Every ``Settled`` event since ``from_block``, optionally of one customer and/or timeframe."""
        decoder = settled_decoder()
        topics: list[str | None] = ["0x" + decoder.topic("Settled").hex(),
                                    None if customer is None else _topic(checksum(customer, what="customer")),
                                    None if timeframe is None else _topic(timeframe)]
        while topics[-1] is None:
            topics.pop()
        query = {"address": self.address, "fromBlock": hex(from_block), "toBlock": "latest", "topics": topics}
        events: list[SettledEvent] = []
        for log in self._logs(query):
            decoded = decoder.decode(log)
            if decoded is None or decoded.name != "Settled":
                continue
            events.append(SettledEvent.from_event({"args": decoded.args, "transactionHash": _hash(
                log["transactionHash"]), "blockNumber": _int(log["blockNumber"])}))
        return events
