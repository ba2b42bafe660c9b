"""The event database's interface and everything its backends share: the queries, the checks, the write protocol.

Why one class with small backend hooks: the indexer, billing, the web view and the CLI use one API, and the same
history must give the same invoices byte for byte on SQLite and PostgreSQL. So every query is written once here
(in SQL both engines read, with ``?`` placeholders); a backend supplies only what differs: how it connects,
runs a statement, locks for writing, bulk-inserts events (100-row ``INSERT``s vs a streamed ``COPY``), streams a
long result and takes a read snapshot.

**Several writers.** Each range is stored with :meth:`Store.append_rows` in one transaction that holds the
store's write lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's ``pg_advisory_xact_lock``) and first checks that the
range continues the stored cursor (and, when given, the stored hash of its parent block). Two indexers racing for
the same range both read it from their nodes, but exactly one stores it: the other gets :class:`RangeTakenError`
and continues from the new cursor. A writer killed mid-range leaves nothing: its transaction never commits, and
the lock dies with its connection. The ``ranges`` table records which writer stored each range.

**Readers.** Every query is one statement, so it sees one consistent state. :meth:`Store.snapshot` makes several
queries see the same one (a web page, a report).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from eth_utils.address import is_address, to_checksum_address

from metering._utils.storerows import COLUMNS, LOG_INDEX_BITS, READ_COLUMNS, event_from_row, row_of_event
from metering.audit.events import ActivationDenied, ActivationGranted, LeaseContinued, MeterEvent, TimeframeCreated
from metering.audit.stores.location import Location, parse_location
from metering.audit.stores.migrations import BASELINE, SCHEMA_VERSION, Dialect, Migration, pending
from metering.errors import RangeTakenError, StoreError
from metering.types import Timeframe

__all__ = ["BILLING_COLUMNS", "Store", "StoreWriter", "StoredBlock"]

#: What :meth:`Store.billing_rows` gives per event, in this order: all of it is in ``events_by_customer`` (the block
#: number and log index are the two parts of the position).
BILLING_COLUMNS = (
    "customer", "event", "block_number", "log_index", "tx_hash", "instance_id", "instance_type", "started_at",
    "lease_end", "stopped_at", "overage",
)

_READ = ", ".join(READ_COLUMNS)
_DECISIONS = (ActivationGranted.name, ActivationDenied.name, LeaseContinued.name)
_LAST_INDEX = (1 << LOG_INDEX_BITS) - 1
_EVENT, _TIMEFRAME, _CUSTOMER = (COLUMNS.index(c) for c in ("event", "timeframe", "customer"))
_BILLING_SELECT = ", ".join(
    {"block_number": f"position >> {LOG_INDEX_BITS}", "log_index": f"position & {_LAST_INDEX}"}.get(c, c)
    for c in BILLING_COLUMNS
)
_MARKS = ", ".join("?" for _ in _DECISIONS)
#: The largest OFFSET a query is given: a page number from a URL may be any integer, and both engines refuse an
#: OFFSET beyond 64 bits (a page that far is empty anyway).
_MAX_OFFSET = 1 << 62


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith(("0x", "0X")) else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def first_position(block: int) -> int:
    return block << LOG_INDEX_BITS


def last_position(block: int) -> int:
    return block << LOG_INDEX_BITS | _LAST_INDEX


def default_writer() -> str:
    """Who writes, as the ``ranges`` table records it: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class StoredBlock:
    """A block the store knows the hash of; ``timestamp`` is known for the ends of indexed ranges."""

    number: int
    hash: bytes
    timestamp: int | None


class StoreWriter:
    """What :meth:`Store.writing` hands a feature: statements in its transaction, each returning its row count."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._store._run(sql, params)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """One statement per row; the total row count (0 for no rows)."""
        return max(self._store._run_many(sql, rows), 0) if rows else 0


@dataclass(frozen=True)
class StoredRange:
    """One range as stored: its blocks, which writer stored it, and when (unix seconds)."""

    first_block: int
    last_block: int
    writer: str
    written_at: int


class Store:
    """The event database of one contract on one chain, on SQLite or PostgreSQL.

    >>> store = Store("meter.sqlite", chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
    ... # doctest: +SKIP
    >>> store = Store("postgresql://metering@db.internal/meter")  # doctest: +SKIP

    ``location`` is a file path, ``sqlite:///path`` or ``postgresql://...``; ``Store(...)`` opens the backend it
    names. Pass ``chain_id`` and ``contract`` to create a database, or to check that an existing one is for them;
    leave them out to open an existing database for what it holds (an auditor reading a file they were given).
    ``upgrade=True`` applies pending schema migrations (what ``metering db migrate`` does); otherwise a database of
    an older schema is refused with that command.
    """

    #: The SQL dialect of the backend, for :mod:`.migrations`.
    dialect: ClassVar[Dialect]

    chain_id: int
    contract: str
    #: What opens this database again (a file path or the URL as given, password included: never print it).
    url: str
    #: Where it is, for messages: the file, or the URL without its password.
    path: Path | str

    def __new__(
        cls, location: str | os.PathLike[str], *, chain_id: int | None = None, contract: str | None = None,
        upgrade: bool = False,
    ) -> Store:
        if cls is Store:
            parsed = parse_location(location)
            if parsed.backend == "postgres":
                from metering.audit.stores.postgres import PostgresStore

                return super().__new__(PostgresStore)
            from metering.audit.stores.sqlite import SqliteStore

            return super().__new__(SqliteStore)
        return super().__new__(cls)

    def __init__(
        self, location: str | os.PathLike[str], *, chain_id: int | None = None, contract: str | None = None,
        upgrade: bool = False,
    ) -> None:
        if (chain_id is None) != (contract is None):
            raise StoreError("give both chain_id and contract to create or check a store, or neither to open one")
        if contract is not None and not is_address(contract):
            raise StoreError(f"{contract!r} is not a contract address")
        parsed = parse_location(location)
        self.url = parsed.target
        self.path = parsed.shown
        self.writer = default_writer()
        #: The schema version this store was upgraded from when it was opened (``upgrade=True``), else ``None``.
        self.upgraded_from: int | None = None
        self._snapshots = 0
        self._connect(parsed, create=chain_id is not None)
        try:
            meta = self._read_meta()
            if meta:
                self._check_meta(meta, chain_id, contract, upgrade=upgrade)
            elif chain_id is None or contract is None:
                raise StoreError(f"{self.path} holds no metering events: index the contract first")
            else:
                self._create(chain_id, to_checksum_address(contract))
                meta = self._read_meta()
        except BaseException:
            self.close()
            raise
        self.chain_id = int(meta["chain_id"])
        self.contract = meta["contract"]

    # ------------------------------------------------------------------ what a backend supplies
    # Store(...) always builds a backend (SqliteStore or PostgresStore), which overrides each of these.

    #: ``FROM`` clause of the invoice scan (SQLite is told which index to read; PostgreSQL's planner picks it).
    _BY_CUSTOMER: ClassVar[str] = "events"
    #: Whether a range's rows are written as they come (the server inserts them while the next are decoded) rather
    #: than sorted first: PostgreSQL's ``COPY`` streams; SQLite writes in this process and appends sorted rows.
    _STREAMS: ClassVar[bool] = False

    def _connect(self, location: Location, *, create: bool) -> None:
        """Open the connection (creating the file or checking the server); raise :class:`StoreError` if it cannot."""
        raise NotImplementedError

    def _table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query (``?`` placeholders)."""
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; its row count."""
        raise NotImplementedError

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run a statement once per row; the total row count."""
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[None]:
        """A transaction holding the store's write lock (one writer at a time, across processes and machines)."""
        raise NotImplementedError

    def _insert_events(self, rows: Iterable[tuple[Any, ...]], new: bool) -> int:
        """Insert event rows (sorted by position unless :attr:`_STREAMS`) in the current write transaction, skipping
        stored ones; ``new``: every row is above the cursor, so none is stored yet. Returns how many were
        inserted."""
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of a long query, streamed with bounded memory, from one consistent state."""
        raise NotImplementedError

    def _batch(self) -> AbstractContextManager[None]:
        """Statements run inside are sent without waiting for each one's result (their row counts are not read):
        a pipeline on PostgreSQL, where each round trip is a wait for the server; nothing on SQLite."""
        return nullcontext()

    def _run_script(self, statements: Sequence[str]) -> None:
        """Statements without parameters, in order, in the current transaction (PostgreSQL: in one round trip)."""
        for statement in statements:
            self._run(statement)

    def _begin_snapshot(self) -> None:
        raise NotImplementedError

    def _end_snapshot(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def _read_meta(self) -> dict[str, str]:
        if not self._table_exists("meta"):
            return {}
        return {str(k): str(v) for k, v in self._fetch("SELECT key, value FROM meta")}

    def _check_meta(
        self, meta: Mapping[str, str], chain_id: int | None, contract: str | None, *, upgrade: bool
    ) -> None:
        version = int(meta.get("schema_version") or 0)
        if version != SCHEMA_VERSION:
            if BASELINE <= version < SCHEMA_VERSION and upgrade:
                self._migrate(version)
                self.upgraded_from = version
            elif BASELINE <= version < SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, this metering reads {SCHEMA_VERSION}: upgrade it "
                    f"with `metering db migrate {self.path}` (every reader must then run this version)"
                )
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this metering's {SCHEMA_VERSION}: "
                    "upgrade metering"
                )
            else:
                raise StoreError(
                    f"{self.path} has schema version {version}, this metering reads {SCHEMA_VERSION} and upgrades "
                    f"from {BASELINE} on: index into a new database (or delete this one and index again)"
                )
        if chain_id is not None and int(meta["chain_id"]) != chain_id:
            raise StoreError(
                f"{self.path} holds events of chain {meta['chain_id']}, not chain {chain_id}: use another database"
            )
        if contract is not None and meta["contract"].lower() != contract.lower():
            raise StoreError(
                f"{self.path} holds events of contract {meta['contract']}, not {to_checksum_address(contract)}: "
                "use another database"
            )

    def _apply(self, steps: Iterable[Migration]) -> None:
        self._run_script([statement for step in steps for statement in step.statements(self.dialect)])

    def _create(self, chain_id: int, contract: str) -> None:
        with self._write():
            if self._table_exists("meta"):  # another process created it first
                return
            self._apply(pending(BASELINE - 1))
            self._run_many(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("chain_id", str(chain_id)), ("contract", contract)],
            )

    def _migrate(self, version: int) -> None:
        with self._write():
            current = int(self._fetch("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])
            if current >= SCHEMA_VERSION:  # another migrator ran first
                return
            self._apply(pending(current))
            self._run("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            if current < 4 <= SCHEMA_VERSION:  # the ranges stored so far: one range, writer unknown
                last = self.last_block
                if last is not None:
                    first = self.first_block
                    self._run(
                        "INSERT INTO ranges (first_block, last_block, writer, written_at) VALUES (?, ?, ?, ?)",
                        (first if first is not None else 0, last, "before schema 4", int(time.time())),
                    )

    @property
    def schema_version(self) -> int:
        return int(self._fetch("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])

    # ------------------------------------------------------------------ progress

    @property
    def first_block(self) -> int | None:
        """The first block this database indexes from (set by the first sync)."""
        rows = self._fetch("SELECT value FROM meta WHERE key = 'first_block'")
        return int(rows[0][0]) if rows else None

    def set_first_block(self, number: int) -> None:
        """Record where indexing starts; only the first call counts, so a resumed indexer cannot move it."""
        if self._snapshots:
            return
        self._run("INSERT INTO meta (key, value) VALUES ('first_block', ?) ON CONFLICT (key) DO NOTHING",
                  (str(number),))

    @property
    def last_block(self) -> int | None:
        """The cursor: every log up to this block is stored. ``None`` before the first range."""
        rows = self._fetch("SELECT last_block FROM cursor WHERE id = 1")
        return int(rows[0][0]) if rows else None

    def block(self, number: int) -> StoredBlock | None:
        rows = self._fetch("SELECT number, hash, timestamp FROM blocks WHERE number = ?", (number,))
        return _stored_block(rows[0]) if rows else None

    def append_rows(
        self,
        rows: Iterable[tuple[Any, ...]],
        blocks: Iterable[StoredBlock] | Callable[[], Iterable[StoredBlock]],
        last_block: int,
        *,
        first_block: int | None = None,
        parent_hash: bytes | None = None,
    ) -> int:
        """Store the rows of one block range (in the format of :mod:`metering._utils.storerows`) with its block
        hashes and move the cursor to ``last_block``, all in one transaction under the write lock (a crash leaves
        the range either fully stored or not at all). Rows already stored are skipped. Returns how many events
        were new.

        An indexer passes ``first_block`` (and ``parent_hash``, the hash of block ``first_block - 1`` its read was
        checked against): the range is stored only if it continues the stored cursor (and chain), else
        :class:`RangeTakenError` says that another writer got there first. Its rows may then be an iterator that
        decodes them as they are written, and ``blocks`` a function called once they all are: on a store whose
        server does the writing (:attr:`_STREAMS`, PostgreSQL), the server inserts the first rows while the next
        ones are decoded. An error raised by the iterator rolls the range back and propagates.
        """
        stream = self._STREAMS and first_block is not None
        if not stream:  # sorted: appends at the end of the table's B-tree, page after page
            rows = sorted(rows, key=_row_position)
        with self._write():
            cursor = self.last_block
            if first_block is not None:
                self._check_continues(cursor, first_block, parent_hash)
            # the first block of the range, as the ranges table records it
            start = cursor + 1 if cursor is not None else first_block if first_block is not None else self.first_block
            decisions: set[tuple[Any, Any]] = set()
            passing = iter(rows)
            head = next(passing, None)
            inserted = 0
            if head is not None:
                # A streamed range continues the cursor (checked above), so each of its rows is new; its rows are
                # checked to lie in it as they pass.
                new = stream or cursor is None or int(head[0]) > last_position(cursor)
                above = first_position(first_block) if stream and first_block is not None else None
                inserted = self._insert_events(_noting(chain((head,), passing), decisions, above), new)
            stamped = [(b.number, _hex(b.hash), b.timestamp) for b in (blocks() if callable(blocks) else blocks)]
            if start is None:
                start = min([last_block, *(b[0] for b in stamped)])
            with self._batch():  # statements whose results are not read: one round trip on PostgreSQL
                self._run_many(
                    "INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?) ON CONFLICT (number) DO UPDATE "
                    "SET hash = excluded.hash, timestamp = COALESCE(excluded.timestamp, blocks.timestamp)",
                    stamped,
                )
                self._run_many(
                    "INSERT INTO customers (timeframe, customer) VALUES (?, ?) ON CONFLICT (timeframe, customer) "
                    "DO NOTHING",
                    sorted(decisions),
                )
                self._run(
                    "INSERT INTO cursor (id, last_block) VALUES (1, ?) "
                    "ON CONFLICT (id) DO UPDATE SET last_block = excluded.last_block",
                    (last_block,),
                )
                if cursor is None or last_block > cursor:
                    self._run(
                        "INSERT INTO ranges (first_block, last_block, writer, written_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (first_block) DO UPDATE SET last_block = excluded.last_block, "
                        "writer = excluded.writer, written_at = excluded.written_at",
                        (start, last_block, self.writer, int(time.time())),
                    )
        return max(inserted, 0)

    def _check_continues(self, cursor: int | None, first_block: int, parent_hash: bytes | None) -> None:
        expected = cursor + 1 if cursor is not None else self.first_block
        if expected is not None and expected != first_block:
            raise RangeTakenError(
                f"blocks {first_block}.. do not continue {self.path}, which is indexed up to block {cursor}: "
                "another indexer stored them first; continue from its cursor"
            )
        if parent_hash is not None and cursor is not None:
            stored = self.block(first_block - 1)
            if stored is not None and stored.hash != parent_hash:
                raise RangeTakenError(
                    f"block {first_block - 1} in {self.path} is not the parent this range was read on: another "
                    "indexer stored a reorganised chain; read the range again"
                )

    def append_events(self, events: Iterable[MeterEvent], blocks: Iterable[StoredBlock], last_block: int) -> int:
        """:meth:`append_rows` for decoded events (their raw topics and data are encoded from their fields): for
        tests and tools that hold events rather than logs."""
        return self.append_rows([row_of_event(event) for event in events], blocks, last_block)

    def block_numbers(self) -> list[int]:
        """Every stored block number, ascending."""
        return [int(row[0]) for row in self._fetch("SELECT number FROM blocks ORDER BY number")]

    def ranges(self) -> list[StoredRange]:
        """The stored ranges in block order, with the writer of each."""
        rows = self._fetch("SELECT first_block, last_block, writer, written_at FROM ranges ORDER BY first_block")
        return [StoredRange(int(a), int(b), str(w), int(t)) for a, b, w, t in rows]

    def rollback_after(self, number: int | None) -> int:
        """Forget every event and block hash above block ``number`` and move the cursor back to it (a reorg
        replaced those blocks); ``None`` forgets every block, so indexing starts again at :attr:`first_block`.
        Returns how many events were dropped."""
        floor = -1 if number is None else number
        above = last_position(floor)
        with self._write():
            touched = self._fetch(
                f"SELECT DISTINCT timeframe, customer FROM events WHERE position > ? AND event IN ({_MARKS})",
                (above, *_DECISIONS),
            )
            dropped = self._run("DELETE FROM events WHERE position > ?", (above,))
            self._run_many(  # a customer whose only decisions were dropped is no longer listed
                "DELETE FROM customers WHERE timeframe = ? AND customer = ? AND NOT EXISTS ("
                f" SELECT 1 FROM {self._BY_CUSTOMER}"
                f" WHERE timeframe = ? AND customer = ? AND event IN ({_MARKS}))",
                [(timeframe, customer, timeframe, customer, *_DECISIONS) for timeframe, customer in touched],
            )
            self._run("DELETE FROM blocks WHERE number > ?", (floor,))
            self._run("DELETE FROM ranges WHERE first_block > ?", (floor,))
            self._run("UPDATE ranges SET last_block = ? WHERE last_block > ?", (floor, floor))
            if number is None:
                self._run("DELETE FROM cursor")
            else:
                self._run("UPDATE cursor SET last_block = ? WHERE last_block > ?", (number, number))
        return dropped

    # ------------------------------------------------------------------ reading

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """Every read inside sees one state of the database, whatever writers commit meanwhile (a web page, a
        report that reads several times). Nested snapshots share the outer one. Nothing is written inside one
        (:meth:`remember_block` keeps nothing)."""
        if self._snapshots == 0:
            self._begin_snapshot()
        self._snapshots += 1
        try:
            yield self
        finally:
            self._snapshots -= 1
            if self._snapshots == 0:
                self._end_snapshot()

    def events(
        self,
        *,
        timeframe: int | None = None,
        customer: str | None = None,
        names: Iterable[str] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        instance_type: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[MeterEvent]:
        """Stored events in chain order (or newest first), filtered by whichever arguments are given; ``limit`` and
        ``offset`` page through them (the web view's event stream). Events are built from their stored fields."""
        where, params = _where(timeframe, customer, names, from_block, to_block, instance_type)
        query = f"SELECT {_READ} FROM events {where} ORDER BY position {'DESC' if newest_first else ''}"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, min(max(0, offset), _MAX_OFFSET)]
        return [event_from_row(*row) for row in self._fetch(query, params)]

    def count_events(
        self,
        *,
        timeframe: int | None = None,
        customer: str | None = None,
        names: Iterable[str] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        at_most: int | None = None,
    ) -> int:
        """How many stored events match the filters (as :meth:`events` takes them), counting no further than
        ``at_most``: a page that only needs "is there a next page" then reads a bounded number of index entries,
        not every event of the history (COUNT(*) over 10M events takes seconds on PostgreSQL)."""
        where, params = _where(timeframe, customer, names, from_block, to_block, None)
        if at_most is None:
            return int(self._fetch(f"SELECT COUNT(*) FROM events {where}", params)[0][0])
        return int(self._fetch(f"SELECT COUNT(*) FROM (SELECT 1 FROM events {where} LIMIT ?) AS capped",
                               [*params, min(max(0, at_most), _MAX_OFFSET)])[0][0])

    def billing_rows(
        self, timeframe: int, names: Sequence[str] | None, *, customer: str | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """The events ``names`` (all with ``None``) of ``timeframe`` as :data:`BILLING_COLUMNS` tuples, one customer
        after the other (by address) and each customer's in chain order: one forward pass over
        ``events_by_customer``, streamed (nothing is sorted or held here, and no table row is read). Only
        ``customer``'s with ``customer``."""
        query = (
            f"SELECT {_BILLING_SELECT} FROM {self._BY_CUSTOMER} "
            f"WHERE timeframe = ? AND customer {'= ?' if customer is not None else 'IS NOT NULL'}"
        )
        params: list[Any] = [timeframe]
        if customer is not None:
            params.append(to_checksum_address(customer))
        if names is not None:
            query += f" AND event IN ({', '.join('?' for _ in names)})"
            params += names
        return self._stream(query + " ORDER BY customer, position", params)

    def event_rows(self) -> Iterator[tuple[Any, ...]]:
        """Every stored event as a full row (:data:`~metering._utils.storerows.COLUMNS`), in chain order, streamed:
        what :mod:`.copy` moves to another database."""
        return self._stream(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position", ())

    def stored_blocks(self) -> Iterator[StoredBlock]:
        """Every stored block, ascending, streamed."""
        return (_stored_block(row) for row in self._stream("SELECT number, hash, timestamp FROM blocks "
                                                            "ORDER BY number", ()))

    def event_count(self) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM events")[0][0])

    def timeframes(self) -> list[Timeframe]:
        """Every timeframe created on the contract, by id."""
        found = [e for e in self.events(names=[TimeframeCreated.name]) if isinstance(e, TimeframeCreated)]
        return sorted((e.as_timeframe() for e in found), key=lambda t: t.id)

    def customers(self, timeframe: int, *, limit: int | None = None, offset: int = 0) -> list[str]:
        """Customers with a decision in ``timeframe`` (an activation granted or denied, a lease continued into it),
        sorted by address: kept in their own small table as events are stored and dropped, so listing them does not
        read the events. ``limit`` and ``offset`` page through them (a web page lists a few of 100,000)."""
        query = "SELECT customer FROM customers WHERE timeframe = ? ORDER BY customer"
        params: list[Any] = [timeframe]
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [max(0, limit), min(max(0, offset), _MAX_OFFSET)]
        return [str(row[0]) for row in self._fetch(query, params)]

    def customer_count(self, timeframe: int) -> int:
        """How many customers :meth:`customers` lists for ``timeframe`` (one index range, no event read)."""
        return int(self._fetch("SELECT COUNT(*) FROM customers WHERE timeframe = ?", (timeframe,))[0][0])

    def remember_block(self, block: StoredBlock) -> bool:
        """Keep a block's hash and timestamp learnt outside indexing (e.g. a timeframe's boundary block), so later
        look-ups need no node; only for blocks the cursor has passed (their hash then also guards against reorgs),
        and not inside a :meth:`snapshot`. Returns whether it was kept."""
        last = self.last_block
        if self._snapshots or last is None or block.number > last:
            return False
        self._run(
            "INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?) ON CONFLICT (number) DO UPDATE SET "
            "timestamp = COALESCE(excluded.timestamp, blocks.timestamp) WHERE blocks.hash = excluded.hash",
            (block.number, _hex(block.hash), block.timestamp),
        )
        return True

    # ------------------------------------------------------------------ features' own rows
    # Features that keep rows beside the events (the watch outbox, :mod:`metering.watch.outbox`) get their tables
    # from a :mod:`.migrations` step, and read and write them here: in this database and its transactions, so their
    # rows and the events they were derived from can never disagree after a crash.

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a feature's read (``?`` placeholders; SQL both engines read, or built with :meth:`scan` and
        :meth:`json_text` where they differ)."""
        return self._fetch(sql, params)

    @contextmanager
    def writing(self) -> Iterator[StoreWriter]:
        """One write transaction under the store's write lock for a feature's statements: all of them land, or none
        (a crash in between)."""
        if self._snapshots:
            raise StoreError("nothing is written inside a snapshot: write before or after it")
        with self._write():
            yield StoreWriter(self)

    def scan(self, index: str) -> str:
        """The ``FROM`` clause that reads the events through ``index`` (``events_by_customer``, ``events_by_name``):
        SQLite is told which index to read (its planner sometimes picks the wrong one on a big table);
        PostgreSQL's planner chooses from its statistics, so it is just ``events``."""
        return "events"

    def json_text(self, column: str, key: str) -> str:
        """A SQL expression for the text of the top-level ``key`` of the JSON held in ``column`` (``NULL`` when
        absent): SQLite's ``json_extract``, PostgreSQL's ``->>``. ``key`` is ours, never user input."""
        if not key.isidentifier():
            raise StoreError(f"{key!r} is not a JSON key a query may name")
        return f"json_extract({column}, '$.{key}')"

    # ------------------------------------------------------------------ copying

    def copy_into(self, target: Store, *, batch: int = 50_000) -> int:
        """Copy this history (events, blocks, customers, ranges, start and cursor, and the watch's outbox and cursors)
        into the empty ``target``, in one transaction there (an interrupted copy leaves it empty), streaming with
        bounded memory. Returns the events copied.

        :raises StoreError: ``target`` is for another chain or contract, or already holds events.
        """
        if (target.chain_id, target.contract.lower()) != (self.chain_id, self.contract.lower()):
            raise StoreError(f"{target.path} is for another chain or contract than {self.path}")
        copied = 0
        with self.snapshot(), target._write():
            if target.last_block is not None or target.event_count():
                raise StoreError(f"{target.path} already holds events: copy into a new, empty database")
            first = self.first_block
            if first is not None:
                target._run("INSERT INTO meta (key, value) VALUES ('first_block', ?)", (str(first),))
            pending_blocks: list[tuple[Any, ...]] = []
            for block in self.stored_blocks():
                pending_blocks.append((block.number, _hex(block.hash), block.timestamp))
                if len(pending_blocks) >= batch:
                    target._run_many("INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?)", pending_blocks)
                    pending_blocks = []
            target._run_many("INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?)", pending_blocks)
            chunk: list[tuple[Any, ...]] = []
            for row in self.event_rows():
                chunk.append(row)
                if len(chunk) >= batch:
                    copied += target._insert_events(chunk, True)
                    chunk = []
            if chunk:
                copied += target._insert_events(chunk, True)
            target._run_many("INSERT INTO customers (timeframe, customer) VALUES (?, ?)",
                             self._fetch("SELECT timeframe, customer FROM customers ORDER BY timeframe, customer"))
            target._run_many("INSERT INTO ranges (first_block, last_block, writer, written_at) VALUES (?, ?, ?, ?)",
                             [(r.first_block, r.last_block, r.writer, r.written_at) for r in self.ranges()])
            last = self.last_block
            if last is not None:
                target._run("INSERT INTO cursor (id, last_block) VALUES (1, ?)", (last,))
            for table, columns in _WATCH_TABLES:  # a watch resumes on the copy where it stopped, nothing lost
                rows: list[tuple[Any, ...]] = []
                for row in self._stream(f"SELECT {columns} FROM {table} ORDER BY {columns.split(',')[0]}", ()):
                    rows.append(row)
                    if len(rows) >= batch:
                        target._run_many(_insert(table, columns), rows)
                        rows = []
                target._run_many(_insert(table, columns), rows)
        return copied


#: The watch's tables (schema version 5) and their columns: copied with the history.
_WATCH_TABLES = (
    ("watch_cursor", "watcher, position"),
    ("watch_marks", "mark"),
    ("outbox", "id, sink, type, block_number, payload, attempts, next_attempt, state, delivered_at, last_error"),
)


def _insert(table: str, columns: str) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in columns.split(','))})"


def _where(
    timeframe: int | None,
    customer: str | None,
    names: Iterable[str] | None,
    from_block: int | None,
    to_block: int | None,
    instance_type: int | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if timeframe is not None:
        clauses.append("timeframe = ?")
        params.append(timeframe)
    if customer is not None:
        clauses.append("customer = ?")
        params.append(to_checksum_address(customer))
    if names is not None:
        wanted = list(names)
        clauses.append(f"event IN ({', '.join('?' for _ in wanted)})" if wanted else "1 = 0")
        params.extend(wanted)
    if from_block is not None:
        clauses.append("position >= ?")
        params.append(first_position(max(from_block, 0)))
    if to_block is not None:
        clauses.append("position <= ?")
        params.append(last_position(to_block) if to_block >= 0 else -1)
    if instance_type is not None:
        clauses.append("instance_type = ?")
        params.append(instance_type)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _stored_block(row: Sequence[Any]) -> StoredBlock:
    return StoredBlock(number=int(row[0]), hash=bytes.fromhex(str(row[1])[2:]), timestamp=row[2])


def _row_position(row: tuple[Any, ...]) -> int:
    return int(row[0])


def _noting(
    rows: Iterator[tuple[Any, ...]], decisions: set[tuple[Any, Any]], above: int | None
) -> Iterator[tuple[Any, ...]]:
    """``rows`` as they pass into the store, noting the (timeframe, customer) of each decision; ``above``: the
    first position of a streamed range, which no row may precede."""
    for row in rows:
        if row[_EVENT] in _DECISIONS:
            decisions.add((row[_TIMEFRAME], row[_CUSTOMER]))
        if above is not None and row[0] < above:
            raise StoreError(f"a row at position {row[0]} lies before the range it was given with")
        yield row
