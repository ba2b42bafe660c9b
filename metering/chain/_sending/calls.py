"""What the sender sends (:class:`Call`) and what comes back (:class:`SentTransaction`), and a signed transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress

from metering.errors import RpcUnavailableError, TransactionFailedError

__all__ = ["Call", "RawLog", "SendOutcome", "SentTransaction", "Signed", "hex_of"]

#: A log as the node returned it in a receipt: JSON-RPC hex strings (``topics``, ``data``, ``blockNumber``...).
RawLog = Mapping[str, Any]


@dataclass(frozen=True)
class Call:
    """A transaction to send: ``data`` to contract ``to`` (``None`` deploys ``data`` as init code).

    ``gas`` is a known gas limit: no estimate is made (the fast path; also for pipelines, where later calls depend
    on earlier ones). A call that would revert is then mined and fails, and its error is decoded by re-simulating
    it. Without ``gas`` the call is estimated first, with ``min_gas`` as a floor for the estimate, for calls whose
    cost depends on the block they land in (an estimate is made against the latest block; a renewal mined after its
    timeframe ended continues the lease and costs more). Unused gas is not charged, so a generous limit costs
    nothing. ``label`` names the call in error messages.
    """

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None
    min_gas: int = 0
    label: str = "transaction"


@dataclass(frozen=True)
class SentTransaction:
    """A mined, successful transaction: its hash, where it landed, what it cost, and its logs (as the node sent
    them: JSON-RPC hex strings; :mod:`metering._utils.logdecode` decodes them)."""

    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[RawLog, ...] = field(repr=False)
    contract_address: ChecksumAddress | None = None


#: The outcome of one call of :meth:`TransactionSender.send_all`: what it sent, or why it did not succeed.
SendOutcome = SentTransaction | TransactionFailedError | RpcUnavailableError


@dataclass(frozen=True)
class Signed:
    """A call signed at ``nonce``: the bytes to broadcast (again, never re-signed once they may have gone out)."""

    call: Call
    nonce: int
    gas: int
    fees: dict[str, int]
    raw: bytes
    tx_hash: str

    @property
    def raw_hex(self) -> str:
        return "0x" + self.raw.hex()


def hex_of(value: bytes) -> str:
    """``0x``-prefixed hex of ``value``, as JSON-RPC wants it."""
    return "0x" + bytes(value).hex()
