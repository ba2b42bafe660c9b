"""Copy the Meter contract's events from a node into the :class:`~metering.audit.store.Store`, safely and resumably.

Why it is built this way:

* **Ranges that adapt.** Public nodes cap ``eth_getLogs`` (Infura: "query returned more than 10000 results",
  Alchemy: a 2K-block range or 10K logs, QuickNode: 5 to 10,000 blocks). One huge call fails; one call per block is
  slow. The indexer halves the range whenever the node refuses or times out and doubles it again after a few
  successes, so it settles just under whatever cap the node has. It starts at an eighth of ``max_range`` and doubles
  after every range until the node first refuses one (a slow start, as TCP's): the first range is read before
  anything else can happen, every later one while the ones before are stored, so a small first range starts that
  overlap sooner, and three doublings get to full ranges.
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
precompiled decoder keyed by ``topics[0]``, one ``struct`` unpack per usage event (:mod:`metering._utils.wordrows`,
checked byte for byte against :mod:`metering._utils.storerows`): no ``eth_abi`` for fixed-size events, no
intermediate objects, and 100-row ``INSERT`` statements (SQLite) or one binary ``COPY`` (PostgreSQL) in one
transaction per range. The next two ranges are read while one is stored (:data:`ReadAhead`), under a short GIL switch
interval and with the program's older objects frozen for the collector (:mod:`metering._utils.runtime`); on
PostgreSQL a range's rows are decoded as the ``COPY`` sends them, so the server inserts the first ones while the next
are decoded.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from eth_utils.address import is_address, to_checksum_address

from metering._utils.lean_http import LeanHttpError, LeanRpc, lean_rpc_for, parse
from metering._utils.runtime import sync_runtime
from metering._utils.wordrows import FastRowBuilder
from metering.audit.events import EVENT_TYPES, topic0
from metering.audit.store import Store, StoredBlock
from metering.chain.lean import LeanNode
from metering.errors import EventDecodeError, IndexingError, RangeTakenError, RpcUnavailableError

if TYPE_CHECKING:  # the CLI's reads index through a LeanNode, without importing web3
    from web3 import Web3

__all__ = ["DEFAULT_MAX_RANGE", "IndexResult", "Indexer", "Progress", "ReadAhead", "find_deployment_block"]

#: Blocks per ``eth_getLogs`` call at most: under the tightest common paid-plan cap (Alchemy's 2,000).
DEFAULT_MAX_RANGE = 2_000
#: The first range of an indexer is ``max_range`` over this (then it doubles): see "Ranges that adapt" above.
_SLOW_START = 8

#: ``progress(done_blocks, total_blocks)``, called after each stored range (and once at the start).
Progress = Callable[[int, int], None]

#: How the next ranges are read while one is stored: ``"thread"`` (the default): two ranges ahead
#: (:data:`_THREAD_DEPTH`), read in a thread of this process and decoded here; ``"process"``: two ranges ahead,
#: each read *and decoded* by one of two forked worker processes, so that this process only writes (Linux, a node
#: reached over the lean transport; else a thread). Processes pay only with idle cores: on the shared 2-core bench
#: machine (load average 9) they made a backfill slower than the thread (``bench/indexing.py`` measures both, row
#: I2p), so they are opt-in.
ReadAhead = Literal["thread", "process"]
#: Worker processes of ``"process"`` read-ahead (and ranges in flight): the node, the two workers and the writer
#: share the cores, and each worker reads and decodes a range in about the time the writer stores one.
_WORKERS = 2
#: Ranges in flight with the reader thread. With one, the thread read the next range and then waited for this
#: loop to take it before reading the one after, so that read began only once the range before was stored, and
#: with the thread's answers waiting for the GIL while a range is decoded, it could outlast the store it overlapped:
#: the loop waited for it. With two, the thread always has the one after next to read. ``bench/indexing.py`` I2
#: (median of 11, alternating): 184 against 191 ms.
_THREAD_DEPTH = 2

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
    """A range as read from the node: its bounds, its tip header, and its raw logs (or, read by a worker process,
    its rows and block hashes, decoded there)."""

    first: int
    last: int
    tip: _Header
    logs: Sequence[Mapping[str, Any]] | _Unparsed
    parent: bytes | None  # the hash of block first - 1 the range was checked to continue (None: not checked)
    #: the hash of block first - 1 on the chain when the range was read, for a range read before its predecessor
    #: was: it is checked against that predecessor's tip when the range is stored
    seen_parent: bytes | None = None
    decoded: tuple[list[tuple[Any, ...]], dict[int, bytes]] | None = None


#: Answers up to this many bytes are parsed by the thread that read them (an error, a refusal, a range with few logs:
#: what decides the reader's next step); larger ones by the thread that decodes them (:meth:`Indexer._parsed`).
_PARSED_WHERE_READ = 64 * 1024


@dataclass(frozen=True)
class _Unparsed:
    """A JSON-RPC answer as the node sent it, with what its parse needs to judge an error."""

    payload: bytes
    method: str
    params: list[Any]
    refusable: bool


def _logs_list(result: Any) -> list[Mapping[str, Any]]:
    if not isinstance(result, list):
        raise IndexingError(f"eth_getLogs answered {type(result).__name__}, not a list of logs")
    return result


def _discard(future: Future[_Fetched]) -> tuple[int, int]:
    """Wait for a read-ahead that is no longer wanted (a range read across a reorg is read again anyway); the
    ``eth_getLogs`` calls it made and how many of them the node refused, for :class:`IndexResult`'s counts."""
    try:
        future.result()
    except _RangeRefusedError:
        return 1, 1
    except Exception:  # the chain moved under it (or the node failed): the next read will say
        return 0, 0
    return 1, 0


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
        read_ahead: ReadAhead = "thread",
    ) -> None:
        if not is_address(address):
            raise IndexingError(f"{address!r} is not a contract address")
        if confirmations < 0 or max_range < 1 or grow_after < 1:
            raise ValueError("confirmations must be >= 0, max_range and grow_after >= 1")
        if read_ahead not in ("thread", "process"):
            raise ValueError(f"read_ahead must be thread or process, not {read_ahead!r}")
        self.read_ahead = read_ahead
        self._parent = 0  # the process whose workers read ahead (see _worker_start)
        self._w3 = w3
        self.address = to_checksum_address(address)
        if store.contract.lower() != self.address.lower():
            raise IndexingError(
                f"the event database {store.path} is for contract {store.contract}, not {self.address}"
            )
        self.store = store
        self.confirmations = confirmations
        self.max_range = max_range
        self.range = max(1, max_range // _SLOW_START)
        self._grow_after = grow_after
        self._slow_start = True  # the range doubles after every success until the node first refuses one
        self._start_block = start_block if start_block is not None else 0
        self._topics = [["0x" + topic0(name).hex() for name in EVENT_TYPES]]
        self._rows = FastRowBuilder()
        # Every call over a kept-alive connection, parsed by orjson, where the provider is a plain HTTPProvider: one
        # connection for the reader thread (logs and the headers that check them), one for this thread. A range
        # costs four calls; through web3's session and checks their CPU alone was a tenth of a range's time.
        # A LeanNode (the CLI's reads) gives its connection, and a second one for the reader thread.
        self._lean: LeanRpc | None = _own_connection(w3)
        self._lean_main: LeanRpc | None = w3.connection if isinstance(w3, LeanNode) else _own_connection(w3)

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
        # While one range is stored, the next ones are read from the node: in a thread (then decoded here) or in
        # worker processes that also decode them (:data:`ReadAhead`), so the node's work, the decoding and the
        # writes (SQLite's and PostgreSQL's run without the GIL) overlap. Every decision is taken in this loop, in
        # order, exactly as if the ranges were read one after the other. The interpreter runs with a short GIL switch
        # interval and the objects from before the sync frozen for the collector (:mod:`metering._utils.runtime`).
        with sync_runtime(), self._reader(target - next_block + 1) as (submit, depth):
            pending: deque[tuple[int, int, Future[_Fetched]]] = deque()
            read_tip: tuple[int, bytes] | None = None  # the tip of the range taken from ``pending`` last

            def fill() -> None:
                """Keep ``depth`` ranges in flight, each starting after the one before."""
                while len(pending) < depth:
                    if pending:
                        begin = pending[-1][1] + 1
                    elif read_tip is not None and read_tip[0] >= next_block:  # taken, not stored yet
                        begin = read_tip[0] + 1
                    else:
                        begin = next_block
                    if begin > target:
                        return
                    end = min(target, begin + self.range - 1)
                    if pending:  # its parent is still being read: checked against its tip when this one is stored
                        parent, later = None, True
                    elif read_tip is not None and read_tip[0] == begin - 1:
                        parent, later = read_tip[1], False
                    else:
                        parent, later = self._stored_hash(begin - 1), False
                    pending.append((begin, end, submit(begin, end, parent, later)))

            def drop() -> None:
                while pending:
                    requests, refused = _discard(pending.pop()[2])
                    counts["requests"] += requests
                    counts["refused"] += refused

            while next_block <= target:
                fill()
                first, end, future = pending.popleft()
                try:
                    fetched = self._parsed(future.result())
                except _RangeRefusedError:
                    drop()
                    counts["requests"] += 1
                    counts["refused"] += 1
                    if end == first:
                        raise IndexingError(
                            f"the node refuses eth_getLogs even for the single block {first}: "
                            "use another RPC endpoint"
                        ) from None
                    self.range = max(1, (end - first + 1) // 2)
                    self._slow_start = False
                    successes = 0
                    continue
                except _ChainMovedError:
                    fetched = None
                if fetched is not None:
                    counts["requests"] += 1
                    successes += 1
                    if (self._slow_start or successes >= self._grow_after) and self.range < self.max_range:
                        self.range = min(self.max_range, self.range * 2)
                        successes = 0
                    fetched = self._checked_parent(fetched, read_tip)
                if fetched is not None:
                    read_tip = (end, fetched.tip.hash)
                    fill()  # read ahead; this range's tip is stored before the next one is looked at
                    try:
                        new_events = self._store_range(fetched)
                    except _ChainMovedError:
                        fetched = None
                    except RangeTakenError:  # another indexer stored it first: go on from its cursor
                        drop()
                        read_tip = None
                        counts["taken"] += 1
                        next_block = self._next_block()
                        continue
                if fetched is None:  # the chain moved under this range: find the fork, then read on from there
                    drop()
                    read_tip = None
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

    # ------------------------------------------------------------------ reading ahead

    def _uses_processes(self, blocks: int) -> bool:
        """Worker processes where asked for, where they can work (Linux forks; a worker opens its own connection
        to the node from the URL of the lean transport) and where there is something to overlap (several
        ranges). Forking copies no other thread of this process: the caller that asks for processes runs none that
        a worker could need a lock of (the workers only make HTTP requests and decode)."""
        return (self.read_ahead == "process" and blocks > self.max_range and self._lean is not None
                and sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods())

    @contextmanager
    def _reader(self, blocks: int) -> Iterator[tuple[Callable[[int, int, bytes | None, bool], Future[_Fetched]], int]]:
        """``(submit, depth)``: ``submit(first, last, parent, later)`` reads a range ahead (see :meth:`_fetch`), and
        ``depth`` ranges are kept in flight. Worker processes are forked (never spawned: a fresh interpreter would
        import everything again) and get a copy of this indexer with connections of their own."""
        executor: Executor
        if self._uses_processes(blocks):
            self._parent = os.getpid()
            executor = ProcessPoolExecutor(_WORKERS, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_worker_start, initargs=(self,))
            depth, read = _WORKERS, _worker_read
        else:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metering-getlogs")
            depth, read = _THREAD_DEPTH, self._fetch

        def submit(first: int, last: int, parent: bytes | None, later: bool) -> Future[_Fetched]:
            return executor.submit(read, first, last, parent, later)

        try:
            yield submit, depth
        finally:
            # Every range the loop used has been waited for; workers still reading one it dropped finish it and
            # exit on their own (waiting here for processes to exit would only add their teardown to the sync).
            executor.shutdown(wait=not isinstance(executor, ProcessPoolExecutor), cancel_futures=True)

    def _checked_parent(self, fetched: _Fetched, read_tip: tuple[int, bytes] | None) -> _Fetched | None:
        """A range read before its predecessor was: ``None`` if it does not continue that predecessor (the chain
        moved between the two reads), else the range with its checked parent hash."""
        if fetched.parent is not None or fetched.seen_parent is None:
            return fetched
        first = fetched.first
        expected = read_tip[1] if read_tip is not None and read_tip[0] == first - 1 else self._stored_hash(first - 1)
        if expected != fetched.seen_parent:
            return None
        return replace(fetched, parent=expected)

    # ------------------------------------------------------------------ one range

    def _next_block(self) -> int:
        last = self.store.last_block
        first = self.store.first_block
        return last + 1 if last is not None else (first if first is not None else self._start_block)

    def _stored_hash(self, number: int) -> bytes | None:
        stored = self.store.block(number)
        return stored.hash if stored is not None else None

    def _fetch(self, first: int, last: int, parent: bytes | None, later: bool = False) -> _Fetched:
        """Read ``[first, last]`` from the node and check it was one chain while read: the tip before and after the
        logs, and (when known) that the range continues the stored chain, whose tip hash is ``parent``. ``later``:
        the parent is not known yet (the range before is still being read): its hash as read is kept in
        ``seen_parent`` and compared when the range is stored.

        Runs in the reader thread or a worker process: it makes requests and touches nothing else.
        """
        tip = self._header(last, self._lean)
        if tip is None:
            raise _ChainMovedError()
        seen: bytes | None = None
        if parent is not None or later:
            on_chain = self._header(first - 1, self._lean)
            if on_chain is None or (parent is not None and on_chain.hash != parent):
                raise _ChainMovedError()
            seen = on_chain.hash
        try:
            logs = self._get_logs(first, last)
        except _RangeRefusedError:
            # A node asked for blocks past its head says so in words that read like a refusal ("BlockOutOfRange"):
            # the chain got shorter since the tip was read, so it moved; a smaller range would not help.
            if int(self._call("eth_blockNumber", [], lean=self._lean), 16) < last:
                raise _ChainMovedError() from None
            raise
        after = self._header(last, self._lean)
        if after is None or after.hash != tip.hash:
            raise _ChainMovedError()
        return _Fetched(first, last, tip, logs, parent, seen)

    def _decode(self, fetched: _Fetched) -> tuple[list[tuple[Any, ...]], dict[int, bytes]]:
        """The rows of a range read by :meth:`_fetch`, checked (each log in the range, one hash per block), and the
        hash of each block that has events (and of the tip)."""
        hashes: dict[int, bytes] = {fetched.last: fetched.tip.hash}
        return list(self._rows_of(fetched, hashes)), hashes

    def _rows_of(self, fetched: _Fetched, hashes: dict[int, bytes]) -> Iterator[tuple[Any, ...]]:
        """:meth:`_decode`'s rows one by one, as a store writes them, noting each block's hash in ``hashes``."""
        first, last = fetched.first, fetched.last
        address = self.address.lower()
        row_of = self._rows.row
        assert not isinstance(fetched.logs, _Unparsed), "parsed by _parsed before it is decoded"
        for raw in fetched.logs:
            sender = raw.get("address")
            if (sender != address and str(sender or "").lower() != address) or raw.get("removed"):
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
            yield row

    def _store_range(self, fetched: _Fetched) -> int:
        """Store a range read by :meth:`_fetch`, its rows decoded as the store writes them (PostgreSQL inserts the
        first ones while the next are decoded) unless a worker decoded them; returns the new events."""
        first, last, tip = fetched.first, fetched.last, fetched.tip
        rows: Iterable[tuple[Any, ...]]
        if fetched.decoded is not None:
            rows, hashes = fetched.decoded
        else:
            hashes = {last: tip.hash}
            rows = self._rows_of(fetched, hashes)

        def blocks() -> list[StoredBlock]:  # every row decoded: each block's hash is known
            return [StoredBlock(n, h, tip.timestamp if n == last else None) for n, h in sorted(hashes.items())]

        return self.store.append_rows(rows, blocks, last, first_block=first, parent_hash=fetched.parent)

    def _get_logs(self, first: int, last: int) -> Sequence[Mapping[str, Any]] | _Unparsed:
        params = [{"address": self.address, "fromBlock": hex(first), "toBlock": hex(last), "topics": self._topics}]
        result = self._call("eth_getLogs", params, refusable=True, lean=self._lean, defer=True)
        return result if isinstance(result, _Unparsed) else _logs_list(result)

    def _parsed(self, fetched: _Fetched) -> _Fetched:
        """``fetched`` with its logs parsed, where the reader left them as the node's bytes: parsing holds the GIL
        for milliseconds per thousand logs, so it is done by the thread that decodes them, not the reader (whose
        parse made the writer wait for the GIL: ``bench/indexing.py`` I2 0.51 -> 0.53 and 0.44 -> 0.47 in two runs
        alternating with the parse in the reader). Raises what :meth:`_call` raises for an error answer."""
        if not isinstance(fetched.logs, _Unparsed):
            return fetched
        raw = fetched.logs
        return replace(fetched, logs=_logs_list(self._answer(parse(raw.payload), raw.method, raw.params,
                                                              raw.refusable)))

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

    def _call(self, method: str, params: list[Any], *, refusable: bool = False, lean: LeanRpc | None = None,
              defer: bool = False) -> Any:
        """A raw JSON-RPC call; raises our exceptions, or :class:`_RangeRefusedError` when a smaller range may work.
        ``lean`` is the calling thread's connection (default: the main thread's). ``defer``: an answer over the lean
        transport larger than :data:`_PARSED_WHERE_READ` comes back unparsed, as :class:`_Unparsed`, for
        :meth:`_answer` in the thread that uses it."""
        lean = lean if lean is not None else self._lean_main
        try:
            if lean is not None:
                payload = lean.request_body(method, params)
                if defer and len(payload) > _PARSED_WHERE_READ:
                    return _Unparsed(payload, method, params, refusable)
                response: Any = parse(payload)
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
        return self._answer(response, method, params, refusable)

    def _answer(self, response: Mapping[str, Any], method: str, params: list[Any], refusable: bool) -> Any:
        """The result of a JSON-RPC response, or the exception its error deserves (see :meth:`_call`)."""
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


def _own_connection(w3: Web3 | LeanNode) -> LeanRpc | None:
    """A kept-alive connection of the caller's own to ``w3``'s node (one per thread or process); None where only
    web3's provider can talk to it (a subclass, credentials in the URL...)."""
    return w3.new_connection() if isinstance(w3, LeanNode) else lean_rpc_for(w3)


#: The indexer a worker process reads for (its copy, made by fork, with connections of its own).
_WORKER: list[Indexer] = []
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker_start(indexer: Indexer) -> None:
    """Runs first in each forked worker: it dies with its parent (an indexer killed mid-range leaves no worker
    behind), and opens connections of its own (the parent's kept-alive sockets were inherited, not its to use)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != indexer._parent:  # the parent died before the line above: nothing to read for
        os._exit(0)
    indexer._lean = indexer._lean_main = _own_connection(indexer._w3)
    _WORKER.append(indexer)


def _worker_read(first: int, last: int, parent: bytes | None, later: bool) -> _Fetched:
    """Read and decode one range in a worker process; the rows travel back pickled (a few ms per 10,000)."""
    indexer = _WORKER[-1]
    fetched = indexer._parsed(indexer._fetch(first, last, parent, later))
    return replace(fetched, logs=(), decoded=indexer._decode(fetched))


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
