"""Block numbers and block times: which block a point in time falls in, found by bisection.

Why: a final invoice ends at a block fixed by the chain (the first block at or after its timeframe's end), and a
statement "as of" a time covers the blocks up to that time. Both need block timestamps the event database does not
hold (it keeps them only for the ends of indexed ranges), so they are fetched from the node, a few per look-up:
block timestamps never decrease with the block number, so bisection needs about log2(blocks) headers. Every
timestamp fetched is cached, and remembered in the event database when it is given one.

>>> clock = NodeClock(w3, store)                                   # doctest: +SKIP
>>> first_block_at_or_after(clock, timeframe.end, low=created_at)  # doctest: +SKIP
1234
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from metering.errors import InvoiceError, RpcUnavailableError

if TYPE_CHECKING:
    from web3 import Web3

    from metering.audit.store import Store
    from metering.chain.lean import LeanNode

__all__ = ["BlockClock", "NodeClock", "first_block_at_or_after", "last_block_at_or_before"]


class BlockClock(Protocol):
    """Where block times come from: the latest block number, and the timestamp of any block up to it."""

    def head(self) -> int:
        """The number of the latest block."""
        ...

    def timestamp(self, number: int) -> int:
        """The timestamp of block ``number`` (0 <= number <= head)."""
        ...


class NodeClock:
    """Block times from a node, cached; remembered in ``store`` (when given) for blocks it has indexed."""

    def __init__(self, w3: Web3 | LeanNode, store: Store | None = None) -> None:
        self._w3 = w3
        self._store = store
        self._times: dict[int, int] = {}

    def head(self) -> int:
        from metering.chain.lean import LeanNode

        if isinstance(self._w3, LeanNode):
            return self._w3.block_number()  # retried, then RpcUnavailableError
        try:
            return int(self._w3.eth.block_number)
        except OSError as exc:
            raise RpcUnavailableError(f"the node did not answer eth_blockNumber ({exc}): check --rpc-url") from exc

    def timestamp(self, number: int) -> int:
        known = self._times.get(number)
        if known is not None:
            return known
        if self._store is not None:
            stored = self._store.block(number)
            if stored is not None and stored.timestamp is not None:
                self._times[number] = stored.timestamp
                return stored.timestamp
        from metering.chain.lean import LeanNode, NodeRefusedError

        if isinstance(self._w3, LeanNode):
            try:
                raw = self._w3.block(number)
            except NodeRefusedError as exc:  # a pruned node refusing old blocks
                raise InvoiceError(f"the node cannot serve block {number} ({exc.rpc_message})") from exc
            if raw is None:
                raise InvoiceError(f"the node cannot serve block {number} (Block with id: '{number}' not found.)")
            timestamp = int(raw["timestamp"], 16)
            self._remember(number, bytes.fromhex(str(raw["hash"])[2:]), timestamp)
            return timestamp
        try:
            block = self._w3.eth.get_block(number)
        except OSError as exc:
            raise RpcUnavailableError(f"the node did not answer for block {number} ({exc}): check --rpc-url") from exc
        except Exception as exc:  # BlockNotFound, or a pruned node refusing old blocks
            raise InvoiceError(f"the node cannot serve block {number} ({exc})") from exc
        timestamp = int(block["timestamp"])
        self._remember(number, bytes(block["hash"]), timestamp)
        return timestamp

    def _remember(self, number: int, block_hash: bytes, timestamp: int) -> None:
        self._times[number] = timestamp
        if self._store is not None:
            from metering.audit.store import StoredBlock

            self._store.remember_block(StoredBlock(number, block_hash, timestamp))


def first_block_at_or_after(clock: BlockClock, timestamp: int, *, low: int = 0) -> int | None:
    """The first block whose timestamp is at least ``timestamp``, searching from block ``low``; ``None`` when the
    chain has not reached that time yet."""
    high = clock.head()
    if high < low or clock.timestamp(high) < timestamp:
        return None
    if clock.timestamp(low) >= timestamp:
        return low
    # Invariant: timestamp(low) < timestamp <= timestamp(high).
    while high - low > 1:
        mid = (low + high) // 2
        if clock.timestamp(mid) >= timestamp:
            high = mid
        else:
            low = mid
    return high


def last_block_at_or_before(clock: BlockClock, timestamp: int, *, low: int = 0) -> int | None:
    """The last block whose timestamp is at most ``timestamp``, searching from block ``low``; ``None`` when even
    block ``low`` is later."""
    head = clock.head()
    if head < low or clock.timestamp(low) > timestamp:
        return None
    if clock.timestamp(head) <= timestamp:
        return head
    high = head
    # Invariant: timestamp(low) <= timestamp < timestamp(high).
    while high - low > 1:
        mid = (low + high) // 2
        if clock.timestamp(mid) <= timestamp:
            low = mid
        else:
            high = mid
    return low
