"""Copy the Meter contract's events from a node into the :class:`~metering.audit.store.Store`, safely and resumably.

Why it is built this way:

* **Ranges that adapt.** Public nodes cap ``eth_getLogs`` (Infura: "query returned more than 10000 results",
  Alchemy: a 2K-block range or 10K logs, QuickNode: 5 to 10,000 blocks). One huge call fails; one call per block is
  slow. The indexer starts at ``max_range`` blocks, halves the range whenever the node refuses or times out, and
  doubles it again after a few successes, so it settles just under whatever cap the node has.
* **Resumable.** Each range is stored with its block hashes and the cursor in one transaction; a new ``Indexer``
  on the same database continues after the last stored range.
* **Several at once.** Indexers on several machines may sync one (PostgreSQL) database: a range is stored only if
  it continues the stored cursor and chain, checked under the store's write lock, so exactly one indexer stores
  each range and the others skip to the new cursor (:class:`~metering.errors.RangeTakenError`).
* **Never a wrong count after a reorg.** Only blocks ``confirmations`` deep are read. At the start of each sync
  the stored tip's hash is compared with the chain; on a mismatch the fork point is found by bisecting the stored
  block hashes, the events above it are dropped and the blocks are read again. Each range is also checked to
  continue the stored chain (parent side) and not to have moved while it was read (tip side).

Logs are fetched with raw JSON-RPC calls (no web3 formatting; over a kept-alive connection and parsed by orjson for
a plain HTTP provider, :mod:`metering._utils.lean_http`) and turned straight into the store's rows by the
precompiled decoder keyed by ``topics[0]`` (:mod:`metering._utils.storerows`): no ``eth_abi`` for fixed-size events,
no intermediate objects, and one ``executemany`` in one transaction per range.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from metering._utils.lean_http import LeanHttpError, LeanRpc, lean_rpc_for
from metering._utils.storerows import RowBuilder
from metering.audit.events import EVENT_TYPES, topic0
from metering.audit.store import Store, StoredBlock
from metering.chain.lean import LeanNode
from metering.errors import EventDecodeError, IndexingError, RangeTakenError, RpcUnavailableError

if TYPE_CHECKING:  # the CLI's reads index through a LeanNode, without importing web3
    from web3 import Web3

__all__ = ["DEFAULT_MAX_RANGE", "IndexResult", "Indexer", "Progress", "find_deployment_block"]

#: Blocks per ``eth_getLogs`` call to start with: under the tightest common paid-plan cap (Alchemy's 2,000).
DEFAULT_MAX_RANGE = 2_000

#: ``progress(done_blocks, total_blocks)``, called after each stored range (and once at the start).
Progress = Callable[[int, int], None]

# What nodes say when a range is too big for them (lower case). A refusal halves the range; anything else is an error.
_REFUSALS = (
    "more than",
    "too large",
    "too many",
    "too big",
    "too wide",
    "limit",
    "exceed",
    "range",
    "response size",
    "timeout",
    "timed out",
)
#: What nodes that keep no old history say (geth, erigon, reth, nethermind, hosted RPCs; lower case).
_PRUNED = ("pruned", "missing trie node", "history", "not available", "ancient", "state unavailable")
_LIMIT_EXCEEDED = -32005  # EIP-1474 "limit exceeded"
_MAX_MOVES = 20  # reorgs under a running sync before giving up: the confirmation depth is too shallow


class _RangeRefusedError(Exception):
    """The node would not answer this range; a smaller one may work."""


class _ChainMovedError(Exception):
    """The chain changed under a range while it was read; read it again after checking for a reorg."""


@dataclass(frozen=True)
class IndexResult:
    """What one :meth:`Indexer.sync` did.

    ``to_block`` is the cursor afterwards: every event up to it is stored. ``dropped_events`` counts events forgotten
    because a reorg replaced their blocks (they are read again from the new chain if still there). ``taken`` counts
    ranges this indexer read but another indexer on the same database stored first (``blocks`` and ``events`` count
    only what this one stored).
    """

    from_block: int
    to_block: int | None
    head: int
    blocks: int
    events: int
    requests: int
    refused: int
    reorgs: int
    dropped_events: int
    seconds: float
    taken: int = 0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Header:
    number: int
    hash: bytes
    timestamp: int


@dataclass(frozen=True)
class _Fetched:
    """A range as read from the node: its bounds, its tip header, and its raw logs."""

    first: int
    last: int
    tip: _Header
    logs: Sequence[Mapping[str, Any]]
    parent: bytes | None  # the hash of block first - 1 the range was checked to continue (None: not checked)


def _discard(future: Future[_Fetched]) -> None:
    """Wait for a read-ahead that is no longer wanted (its result or error no longer matters)."""
    with suppress(Exception):  # a range read across a reorg is read again anyway
        future.result()


class Indexer:
    """Reads the logs of the Meter at ``address`` into ``store``.

    >>> indexer = Indexer(w3, meter_address, store, confirmations=12)   # doctest: +SKIP
    >>> indexer.sync(progress=lambda done, total: print(f"{done}/{total}"))  # doctest: +SKIP

    ``start_block`` is where a new database starts (use the deployment block, see :func:`find_deployment_block`);
    a database that already has a start keeps it. ``max_range`` caps the blocks per ``eth_getLogs`` call.
    """

    def __init__(
        self,
        w3: Web3 | LeanNode,
        address: str,
        store: Store,
        *,
        confirmations: int = 0,
        max_range: int = DEFAULT_MAX_RANGE,
        start_block: int | None = None,
        grow_after: int = 2,
    ) -> None:
        if not is_address(address):
            raise IndexingError(f"{address!r} is not a contract address")
        if confirmations < 0 or max_range < 1 or grow_after < 1:
            raise ValueError("confirmations must be >= 0, max_range and grow_after >= 1")
        self._w3 = w3
        self.address = to_checksum_address(address)
        if store.contract.lower() != self.address.lower():
            raise IndexingError(
                f"the event database {store.path} is for contract {store.contract}, not {self.address}"
            )
        self.store = store
        self.confirmations = confirmations
        self.max_range = max_range
        self.range = max_range
        self._grow_after = grow_after
        self._start_block = start_block if start_block is not None else 0
        self._topics = [["0x" + topic0(name).hex() for name in EVENT_TYPES]]
        self._rows = RowBuilder()
        # Every call over a kept-alive connection, parsed by orjson, where the provider is a plain HTTPProvider: one
        # connection for the reader thread (logs and the headers that check them), one for this thread. A range
        # costs four calls; through web3's session and checks their CPU alone was a tenth of a range's time.
        # A LeanNode (the CLI's reads) gives its connection, and a second one for the reader thread.
        if isinstance(w3, LeanNode):
            self._lean: LeanRpc | None = w3.new_connection()
            self._lean_main: LeanRpc | None = w3.connection
        else:
            self._lean = lean_rpc_for(w3)
            self._lean_main = lean_rpc_for(w3)

    # ------------------------------------------------------------------ public

    def sync(self, to_block: int | None = None, progress: Progress | None = None) -> IndexResult:
        """Index every block up to ``to_block`` (default: the head minus ``confirmations``, and never past it).

        Raises :class:`RpcUnavailableError` when the node cannot be reached and :class:`IndexingError` when it
        refuses even a one-block range.
        """
        began = time.monotonic()
        chain_id = int(self._call("eth_chainId", []), 16)
        if chain_id != self.store.chain_id:
            raise IndexingError(
                f"the node is chain {chain_id} but the event database {self.store.path} is for chain "
                f"{self.store.chain_id}: point --rpc-url at the right chain or use another database"
            )
        head = int(self._call("eth_blockNumber", []), 16)
        target = head - self.confirmations
        if to_block is not None:
            target = min(target, to_block)
        self.store.set_first_block(self._start_block)
        reorgs, dropped = self._rewind_if_reorganised()
        next_block = self._next_block()
        start = next_block
        counts = {"blocks": 0, "events": 0, "requests": 0, "refused": 0, "taken": 0}
        successes = moves = 0
        if progress:
            progress(0, max(0, target - start + 1))
        # While one range is decoded and stored, the next one is read from the node in a second thread: the node's
        # work (and SQLite's, which runs without the GIL) overlaps with ours. Every decision is taken in this loop,
        # in order, exactly as if the ranges were read one after the other.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metering-getlogs") as reader:
            pending: tuple[int, int, Future[_Fetched]] | None = None
            while next_block <= target:
                if pending is None:
                    end = min(target, next_block + self.range - 1)
                    pending = (next_block, end, reader.submit(self._fetch, next_block, end, self._stored_hash(
                        next_block - 1)))
                first, end, future = pending
                pending = None
                try:
                    fetched = future.result()
                except _RangeRefusedError:
                    counts["requests"] += 1
                    counts["refused"] += 1
                    if end == first:
                        raise IndexingError(
                            f"the node refuses eth_getLogs even for the single block {first}: "
                            "use another RPC endpoint"
                        ) from None
                    self.range = max(1, (end - first + 1) // 2)
                    successes = 0
                    continue
                except _ChainMovedError:
                    fetched = None
                if fetched is not None:
                    counts["requests"] += 1
                    successes += 1
                    if successes >= self._grow_after and self.range < self.max_range:
                        self.range = min(self.max_range, self.range * 2)
                        successes = 0
                    if end < target:  # read ahead; its parent is this range's tip, stored before it is looked at
                        ahead = min(target, end + self.range)
                        pending = (end + 1, ahead, reader.submit(self._fetch, end + 1, ahead, fetched.tip.hash))
                    try:
                        new_events = self._store_range(fetched)
                    except _ChainMovedError:
                        fetched = None
                        if pending is not None:
                            _discard(pending[2])
                            pending = None
                    except RangeTakenError:  # another indexer stored it first: go on from its cursor
                        if pending is not None:
                            _discard(pending[2])
                            pending = None
                        counts["taken"] += 1
                        next_block = self._next_block()
                        continue
                if fetched is None:  # the chain moved under this range: find the fork, then read on from there
                    moves += 1
                    if moves > _MAX_MOVES:
                        raise IndexingError(
                            f"the chain reorganised {moves} times during one sync: raise --confirmations"
                        ) from None
                    found, lost = self._rewind_if_reorganised(force=True)
                    reorgs += found
                    dropped += lost
                    # The new chain may be shorter than the old target.
                    target = min(target, int(self._call("eth_blockNumber", []), 16) - self.confirmations)
                    next_block = self._next_block()
                    start = min(start, next_block)
                    continue
                counts["events"] += new_events
                counts["blocks"] += end - first + 1
                next_block = end + 1
                if progress:
                    progress(next_block - start, target - start + 1)
        return IndexResult(
            from_block=start,
            to_block=self.store.last_block,
            head=head,
            reorgs=reorgs,
            dropped_events=dropped,
            seconds=time.monotonic() - began,
            **counts,
        )

    # ------------------------------------------------------------------ one range

    def _next_block(self) -> int:
        last = self.store.last_block
        first = self.store.first_block
        return last + 1 if last is not None else (first if first is not None else self._start_block)

    def _stored_hash(self, number: int) -> bytes | None:
        stored = self.store.block(number)
        return stored.hash if stored is not None else None

    def _fetch(self, first: int, last: int, parent: bytes | None) -> _Fetched:
        """Read ``[first, last]`` from the node and check it was one chain while read: the tip before and after the
        logs, and (when known) that the range continues the stored chain, whose tip hash is ``parent``.

        Runs in the reader thread: it makes requests and touches nothing else.
        """
        tip = self._header(last, self._lean)
        if tip is None:
            raise _ChainMovedError()
        if parent is not None:
            on_chain = self._header(first - 1, self._lean)
            if on_chain is None or on_chain.hash != parent:
                raise _ChainMovedError()
        logs = self._get_logs(first, last)
        after = self._header(last, self._lean)
        if after is None or after.hash != tip.hash:
            raise _ChainMovedError()
        return _Fetched(first, last, tip, logs, parent)

    def _store_range(self, fetched: _Fetched) -> int:
        """Decode a range read by :meth:`_fetch` into rows, check them and store them; returns the new events."""
        first, last, tip = fetched.first, fetched.last, fetched.tip
        rows: list[tuple[Any, ...]] = []
        hashes: dict[int, bytes] = {last: tip.hash}
        address = self.address.lower()
        row_of = self._rows.row
        for raw in fetched.logs:
            if str(raw.get("address", "")).lower() != address or raw.get("removed"):
                continue
            try:
                row = row_of(raw)
            except EventDecodeError as exc:
                raise IndexingError(f"the node returned a Meter log that does not decode ({exc})") from exc
            if row is None:
                continue
            number, block_hash = row[1], row[3]
            if not first <= number <= last:
                raise IndexingError(f"the node returned a log of block {number} for the range {first}-{last}")
            if hashes.setdefault(number, block_hash) != block_hash:
                raise _ChainMovedError()  # logs of one block from two different chains: it reorganised mid-call
            rows.append(row)
        blocks = [StoredBlock(n, h, tip.timestamp if n == last else None) for n, h in sorted(hashes.items())]
        return self.store.append_rows(rows, blocks, last, first_block=first, parent_hash=fetched.parent)

    def _get_logs(self, first: int, last: int) -> Sequence[Mapping[str, Any]]:
        params = [{"address": self.address, "fromBlock": hex(first), "toBlock": hex(last), "topics": self._topics}]
        result = self._call("eth_getLogs", params, refusable=True, lean=self._lean)
        if not isinstance(result, list):
            raise IndexingError(f"eth_getLogs answered {type(result).__name__}, not a list of logs")
        return result

    # ------------------------------------------------------------------ reorgs

    def _rewind_if_reorganised(self, *, force: bool = False) -> tuple[int, int]:
        """Compare the stored tip with the chain; after a reorg, drop what the new chain replaced.

        Returns (reorgs found, events dropped). The fork point is found by bisecting the stored block hashes:
        every stored block up to the fork matches the chain and none after it does.
        """
        last = self.store.last_block
        if last is None:
            return (0, 0)
        tip = self.store.block(last)
        if tip is not None and not force and self._matches(tip):
            return (0, 0)
        numbers = self.store.block_numbers()
        low, high = -1, len(numbers)  # numbers[:low+1] match the chain, numbers[high:] do not
        while high - low > 1:
            mid = (low + high) // 2
            stored = self.store.block(numbers[mid])
            if stored is not None and self._matches(stored):
                low = mid
            else:
                high = mid
        if low == len(numbers) - 1:
            return (0, 0)  # a forced check, but every stored block is still on the chain
        keep = numbers[low] if low >= 0 else None
        return (1, self.store.rollback_after(keep))

    def _matches(self, stored: StoredBlock) -> bool:
        header = self._header(stored.number)
        return header is not None and header.hash == stored.hash

    # ------------------------------------------------------------------ JSON-RPC

    def _header(self, number: int, lean: LeanRpc | None = None) -> _Header | None:
        """The header of block ``number``; ``lean``: the connection of the calling thread (default: this one's)."""
        if number < 0:
            return None
        block = self._call("eth_getBlockByNumber", [hex(number), False], lean=lean)
        if block is None:
            return None
        return _Header(int(block["number"], 16), bytes.fromhex(block["hash"][2:]), int(block["timestamp"], 16))

    def _call(self, method: str, params: list[Any], *, refusable: bool = False, lean: LeanRpc | None = None) -> Any:
        """A raw JSON-RPC call; raises our exceptions, or :class:`_RangeRefusedError` when a smaller range may work.
        ``lean`` is the calling thread's connection (default: the main thread's)."""
        lean = lean if lean is not None else self._lean_main
        try:
            if lean is not None:
                response: Any = lean.request(method, params)
            else:
                from web3.types import RPCEndpoint

                assert not isinstance(self._w3, LeanNode)  # a LeanNode always gives a lean connection
                response = self._w3.provider.make_request(RPCEndpoint(method), params)
        except Exception as exc:
            if refusable and _looks_refused(exc):
                raise _RangeRefusedError() from exc
            if isinstance(exc, OSError):
                raise RpcUnavailableError(
                    f"the node did not answer {method} ({type(exc).__name__}: {exc}): check --rpc-url / ETH_RPC_URL"
                ) from exc
            raise
        error = response.get("error")
        if error:
            message = str(error.get("message", error)) if isinstance(error, Mapping) else str(error)
            code = error.get("code") if isinstance(error, Mapping) else None
            if method == "eth_getLogs" and any(word in message.lower() for word in _PRUNED):
                first = int(params[0]["fromBlock"], 16)
                raise IndexingError(
                    f"the node keeps no history at block {first} ({message}): start later with --from-block N (the "
                    "contract's deployment block if the node serves it; Indexer(start_block=N) in Python), or use an "
                    "archive node"
                )
            if refusable and (code == _LIMIT_EXCEEDED or any(word in message.lower() for word in _REFUSALS)):
                raise _RangeRefusedError()
            raise IndexingError(f"the node refused {method}: {message}")
        return response.get("result")


def _looks_refused(exc: BaseException) -> bool:
    """Timeouts and HTTP errors of a big ``eth_getLogs`` (413, 5xx) may go away with a smaller range."""
    if isinstance(exc, TimeoutError | LeanHttpError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"Timeout", "ReadTimeout", "HTTPError"}:
        return True
    return any(word in str(exc).lower() for word in _REFUSALS)


def find_deployment_block(w3: Web3 | LeanNode, address: str) -> int:
    """The block in which the contract at ``address`` was deployed: the start for a new event database.

    Bisects ``eth_getCode`` over block numbers, so the node must serve historical state (an archive node or
    anvil); with a pruned node pass the deployment block yourself.
    """
    checksummed = to_checksum_address(address)
    if isinstance(w3, LeanNode):
        node = w3
        head = node.block_number()

        def code_at(block: int) -> bytes:
            return node.get_code(checksummed, block)
    else:
        web3 = w3
        head = int(web3.eth.block_number)

        def code_at(block: int) -> bytes:
            return bytes(web3.eth.get_code(checksummed, block))
    try:
        if not code_at(head):
            raise IndexingError(f"no contract at {checksummed} on this chain: check the address and --rpc-url")
        low, high = -1, head  # no code at low (or before genesis), code at high
        while high - low > 1:
            mid = (low + high) // 2
            if code_at(mid):
                high = mid
            else:
                low = mid
    except IndexingError:
        raise
    except Exception as exc:
        raise IndexingError(
            f"cannot find the deployment block of {checksummed} ({exc}): the node may not keep old state; "
            "give the start block with --from-block N (Indexer(start_block=N) in Python)"
        ) from exc
    return high
