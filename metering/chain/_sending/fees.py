"""Fees for the next transactions: EIP-1559 ``2 * base fee + tip``, or a legacy gas price without a base fee.

Reading fees costs a round trip, so fees read at block ``B`` serve every transaction until a receipt shows block
``B + fee_blocks`` (2x the base fee covers five full blocks of base-fee growth) or ``fee_ttl`` seconds have passed.

A receipt of our own EIP-1559 transaction also tells the base fee of its block, without a request: the node charged
``effectiveGasPrice = min(maxFeePerGas, base fee + tip)``, so below the cap the base fee is the price minus our tip.
Fees are then renewed from that block as if read there (:meth:`FeeCache.saw_receipt`), so a sequential sender whose
receipts keep coming never stops to read fees: one round trip per transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from metering.errors import RpcUnavailableError

__all__ = ["FeeCache"]

#: The tip asked of a node that does not answer ``eth_maxPriorityFeePerGas``: a common default of 1 gwei.
_DEFAULT_TIP = 10**9

Batch = Callable[[Sequence[tuple[str, Sequence[Any]]]], list[Mapping[str, Any]]]
Call = Callable[[str, list[Any]], Any]


class FeeCache:
    """The fee fields of the next transactions, and the highest block seen (which ages them).

    :param batch: one JSON-RPC batch request, retried on transient failures.
    :param call: one JSON-RPC request, retried on transient failures.
    """

    def __init__(self, batch: Batch, call: Call) -> None:
        self._batch = batch
        self._call = call
        self.head = -1  # the highest block number seen (in a receipt or a fee read)
        self._cached: tuple[float, int, dict[str, int]] | None = None  # (read at, block, fee fields)

    def saw_block(self, number: int) -> None:
        """A receipt showed block ``number``: fees read long enough before it are stale."""
        if number > self.head:
            self.head = number

    def saw_receipt(self, number: int, effective_price: int | None, fees: dict[str, int]) -> None:
        """A receipt of our transaction sent with ``fees`` was mined in block ``number`` at ``effective_price``:
        renew the cached fees from that block's base fee when it can be told exactly (EIP-1559 fees, the price below
        the cap) and the block is not older than the cache's."""
        self.saw_block(number)
        cached = self._cached
        if (
            cached is None
            or effective_price is None
            or "maxFeePerGas" not in fees
            or number < cached[1]
            or cached[2].get("maxPriorityFeePerGas") != fees["maxPriorityFeePerGas"]
            or effective_price >= fees["maxFeePerGas"]
        ):
            return
        tip = fees["maxPriorityFeePerGas"]
        base = effective_price - tip
        if base < 0:
            return
        self._cached = (time.monotonic(), number, {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip})

    def current(
        self, *, priority_fee: int | None, ttl: float, blocks: int, refresh: bool = False
    ) -> dict[str, int]:
        """The fee fields (``maxFeePerGas`` and ``maxPriorityFeePerGas``, or ``gasPrice``), read again when older
        than ``ttl`` seconds or ``blocks`` blocks, or with ``refresh`` (after a fee refusal). ``priority_fee``: the
        tip, or ``None`` to ask the node."""
        cached = self._cached
        now = time.monotonic()
        if (
            cached is not None
            and not refresh
            and now - cached[0] < ttl
            and self.head < cached[1] + blocks
        ):
            return cached[2]
        requests: list[tuple[str, Sequence[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        if priority_fee is None:
            requests.append(("eth_maxPriorityFeePerGas", []))
        answers = self._batch(requests)
        if "result" not in answers[0] or answers[0]["result"] is None:
            raise RpcUnavailableError(f"the node did not return its latest block: {answers[0].get('error')}")
        block = answers[0]["result"]
        number = int(block["number"], 16)
        self.saw_block(number)
        base = block.get("baseFeePerGas")
        fees: dict[str, int]
        if base is None:
            fees = {"gasPrice": int(self._call("eth_gasPrice", []), 16)}
        else:
            tip = priority_fee
            if tip is None:
                answer = answers[1]
                tip = int(answer["result"], 16) if answer.get("result") is not None else _DEFAULT_TIP
            fees = {"maxFeePerGas": 2 * int(base, 16) + tip, "maxPriorityFeePerGas": tip}
        self._cached = (now, number, fees)
        return fees
