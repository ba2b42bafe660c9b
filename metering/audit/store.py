"""The indexed events of one Meter contract, in one SQLite file an auditor can open with any SQLite tool.

Why SQLite: it ships with Python, needs no server, and the file is the evidence: every event is stored with its
block, block hash, transaction hash and log index, its raw topics and data (so anyone can decode it again) and its
decoded fields, both as typed columns for what queries and invoices read and as JSON for everything (integers as
decimal strings, so amounts beyond 2**53 stay exact); :mod:`metering._utils.storerows` defines the row. Reads build
events from the stored fields and never decode a log again. A row's id is its place in the chain
(``block_number << 24 | log_index``), so re-ingesting a range is harmless and chain order is the table's order.
Block hashes are kept for every block that holds an event and for the end of every indexed range, so the indexer can
tell when the chain reorganised under it.

One file holds one contract on one chain; opening it for another raises :class:`StoreError` instead of mixing
bills. The schema::

    meta(key PRIMARY KEY, value)          -- schema_version, chain_id, contract, first_block
    cursor(id = 1, last_block)            -- the last block whose logs are all stored
    blocks(number PRIMARY KEY, hash, timestamp)
    events(position PRIMARY KEY, block_number, log_index, block_hash, tx_hash, event,
           timeframe, customer, instance_id, instance_type, started_at, lease_end, stopped_at, overage,
           fields, topics, data)
    index events_by_customer(timeframe, customer, position, <what an invoice reads>)
    index events_by_name(event, timeframe)
    customers(timeframe, customer)        -- who had a decision in each timeframe, kept with the events

Hashes, ids and the raw log in ``events`` are blobs (``SELECT hex(tx_hash)`` shows them); ``fields`` is JSON.

**Invoices read one index, in its order.** ``events_by_customer`` holds, for each event, every column an invoice
needs, ordered by timeframe, customer and chain position: all invoices of a timeframe are one forward scan of it
(one customer after the other, each in chain order, with nothing sorted and nothing held beyond the current
customer), and one customer's invoice is one range of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from metering._utils.storerows import COLUMNS, LOG_INDEX_BITS, READ_COLUMNS, event_from_row, row_of_event
from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    LeaseContinued,
    MeterEvent,
    TimeframeCreated,
)
from metering.errors import MissingDependencyError, StoreError
from metering.types import Timeframe

__all__ = ["BILLING_COLUMNS", "SCHEMA_VERSION", "Store", "StoredBlock", "default_store_path"]

#: Bumped whenever the tables change; a file with another version is refused rather than misread.
SCHEMA_VERSION = 3  # 3: typed columns, blob hashes, position ids, the covering index for invoices

#: What :meth:`Store.billing_rows` gives per event, in this order: all of it is in ``events_by_customer`` (the block
#: number and log index are the two parts of the position).
BILLING_COLUMNS = (
    "customer", "event", "block_number", "log_index", "tx_hash", "instance_id", "instance_type", "started_at",
    "lease_end", "stopped_at", "overage",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    number    INTEGER PRIMARY KEY,
    hash      TEXT NOT NULL,
    timestamp INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    position      INTEGER PRIMARY KEY,
    block_number  INTEGER NOT NULL,
    log_index     INTEGER NOT NULL,
    block_hash    BLOB NOT NULL,
    tx_hash       BLOB NOT NULL,
    event         TEXT NOT NULL,
    timeframe     INTEGER,
    customer      TEXT,
    instance_id   BLOB,
    instance_type INTEGER,
    started_at    INTEGER,
    lease_end     INTEGER,
    stopped_at    INTEGER,
    overage       INTEGER,
    fields        TEXT NOT NULL,
    topics        BLOB NOT NULL,
    data          BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_customer ON events (
    timeframe, customer, position, event, tx_hash, instance_id, instance_type, started_at, lease_end, stopped_at,
    overage
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (event, timeframe);
CREATE TABLE IF NOT EXISTS customers (
    timeframe INTEGER NOT NULL,
    customer  TEXT NOT NULL,
    PRIMARY KEY (timeframe, customer)
) WITHOUT ROWID;
"""

#: Connection settings for a write-once, append-mostly index that a web view may read while it grows:
#: * ``journal_mode=WAL``: readers never block the indexer nor it them; a commit appends to one file.
#: * ``synchronous=NORMAL``: in WAL mode a commit is not fsynced (checkpoints are). A power cut can lose the last
#:   ranges but never corrupts the file, and a lost range is harmless: the cursor moves in the same transaction as
#:   its events, so the indexer reads those blocks again.
#: * ``temp_store=MEMORY``: the few sorts the planner still needs (listing small filtered sets) never touch disk.
#: * ``cache_size=-16384``: 16 MiB of page cache (8x the default) keeps the upper levels of the covering index
#:   cached while a range's rows are inserted, yet stays small against the 150 MB an invoice run may take.
#: * ``mmap_size`` stays 0: mapped pages would count into the reader's resident memory and grow with the file.
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-16384",
)

_READ = ", ".join(READ_COLUMNS)
_INSERT_EVENT = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
_DECISIONS = (ActivationGranted.name, ActivationDenied.name, LeaseContinued.name)
_LAST_INDEX = (1 << LOG_INDEX_BITS) - 1
_EVENT, _TIMEFRAME, _CUSTOMER = (COLUMNS.index(c) for c in ("event", "timeframe", "customer"))
_BILLING_SELECT = ", ".join(
    {"block_number": f"position >> {LOG_INDEX_BITS}", "log_index": f"position & {_LAST_INDEX}"}.get(c, c)
    for c in BILLING_COLUMNS
)


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith(("0x", "0X")) else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _first_position(block: int) -> int:
    return block << LOG_INDEX_BITS


def _last_position(block: int) -> int:
    return block << LOG_INDEX_BITS | _LAST_INDEX


def default_store_path(chain_id: int, contract: str) -> Path:
    """Where the events of ``contract`` on ``chain_id`` are kept unless told otherwise:
    ``<user data dir>/metering/<chain_id>-<checksummed address>.sqlite`` (the directory is not created here).

    The user data dir comes from platformdirs, part of the ``cli`` extra: library users name their database.
    """
    try:
        import platformdirs
    except ImportError as exc:
        raise MissingDependencyError(
            'the default event database location needs platformdirs: pip install "metering[cli]", or give a path'
        ) from exc
    return Path(platformdirs.user_data_dir("metering")) / f"{chain_id}-{to_checksum_address(contract)}.sqlite"


@dataclass(frozen=True)
class StoredBlock:
    """A block the store knows the hash of; ``timestamp`` is known for the ends of indexed ranges."""

    number: int
    hash: bytes
    timestamp: int | None


class Store:
    """The event database of one contract on one chain.

    >>> store = Store("meter.sqlite", chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
    ... # doctest: +SKIP

    Pass ``chain_id`` and ``contract`` to create a database, or to check that an existing one is for them; leave
    them out to open an existing database for what it holds (an auditor reading a file they were given).
    """

    def __init__(self, path: str | Path, *, chain_id: int | None = None, contract: str | None = None) -> None:
        self.path = Path(path)
        if (chain_id is None) != (contract is None):
            raise StoreError("give both chain_id and contract to create or check a store, or neither to open one")
        if contract is not None and not is_address(contract):
            raise StoreError(f"{contract!r} is not a contract address")
        if chain_id is None and not self.path.is_file():
            raise StoreError(f"no event database at {self.path}: index the contract first (it creates the file)")
        if chain_id is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            for pragma in _PRAGMAS:
                self._db.execute(pragma)
            meta = self._read_meta()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path} is not a metering event database ({exc})") from exc
        if meta:
            self._check_meta(meta, chain_id, contract)
        elif chain_id is None or contract is None:
            self._db.close()
            raise StoreError(f"{self.path} holds no metering events: index the contract first")
        else:
            self._create(chain_id, to_checksum_address(contract))
            meta = self._read_meta()
        self.chain_id = int(meta["chain_id"])
        self.contract = meta["contract"]

    # ------------------------------------------------------------------ opening

    def _read_meta(self) -> dict[str, str]:
        exists = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if not exists:
            return {}
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def _check_meta(self, meta: Mapping[str, str], chain_id: int | None, contract: str | None) -> None:
        version = meta.get("schema_version")
        if version != str(SCHEMA_VERSION):
            self._db.close()
            raise StoreError(
                f"{self.path} has schema version {version}, this metering reads {SCHEMA_VERSION}: "
                "index into a new file (or delete this one and index again)"
            )
        if chain_id is not None and int(meta["chain_id"]) != chain_id:
            self._db.close()
            raise StoreError(
                f"{self.path} holds events of chain {meta['chain_id']}, not chain {chain_id}: use another database file"
            )
        if contract is not None and meta["contract"].lower() != contract.lower():
            self._db.close()
            raise StoreError(
                f"{self.path} holds events of contract {meta['contract']}, not {to_checksum_address(contract)}: "
                "use another database file"
            )

    def _create(self, chain_id: int, contract: str) -> None:
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("chain_id", str(chain_id)), ("contract", contract)],
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ progress

    @property
    def first_block(self) -> int | None:
        """The first block this database indexes from (set by the first sync)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'first_block'").fetchone()
        return int(row[0]) if row else None

    def set_first_block(self, number: int) -> None:
        """Record where indexing starts; only the first call counts, so a resumed indexer cannot move it."""
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('first_block', ?)", (str(number),))

    @property
    def last_block(self) -> int | None:
        """The cursor: every log up to this block is stored. ``None`` before the first range."""
        row = self._db.execute("SELECT last_block FROM cursor WHERE id = 1").fetchone()
        return int(row[0]) if row else None

    def block(self, number: int) -> StoredBlock | None:
        row = self._db.execute("SELECT number, hash, timestamp FROM blocks WHERE number = ?", (number,)).fetchone()
        return _stored_block(row) if row else None

    def append_rows(self, rows: Sequence[tuple[Any, ...]], blocks: Iterable[StoredBlock], last_block: int) -> int:
        """Store the rows of one block range (in the format of :mod:`metering._utils.storerows`) with its block
        hashes and move the cursor to ``last_block``, all in one transaction (a crash leaves the range either fully
        stored or not at all). Rows already stored are skipped. Returns how many events were new.
        """
        ordered = sorted(rows, key=_row_position)  # appends at the end of the table's B-tree, page after page
        with self._transaction():
            self._db.executemany(
                "INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?) ON CONFLICT (number) DO UPDATE SET "
                "hash = excluded.hash, timestamp = COALESCE(excluded.timestamp, blocks.timestamp)",
                [(b.number, _hex(b.hash), b.timestamp) for b in blocks],
            )
            inserted = self._db.executemany(_INSERT_EVENT, ordered).rowcount
            self._db.executemany(
                "INSERT OR IGNORE INTO customers (timeframe, customer) VALUES (?, ?)",
                sorted({(row[_TIMEFRAME], row[_CUSTOMER]) for row in ordered if row[_EVENT] in _DECISIONS}),
            )
            self._db.execute(
                "INSERT INTO cursor (id, last_block) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_block = excluded.last_block",
                (last_block,),
            )
        return max(inserted, 0)

    def append_events(self, events: Iterable[MeterEvent], blocks: Iterable[StoredBlock], last_block: int) -> int:
        """:meth:`append_rows` for decoded events (their raw topics and data are encoded from their fields): for
        tests and tools that hold events rather than logs."""
        return self.append_rows([row_of_event(event) for event in events], blocks, last_block)

    def block_numbers(self) -> list[int]:
        """Every stored block number, ascending."""
        return [int(row[0]) for row in self._db.execute("SELECT number FROM blocks ORDER BY number")]

    def rollback_after(self, number: int | None) -> int:
        """Forget every event and block hash above block ``number`` and move the cursor back to it (a reorg
        replaced those blocks); ``None`` forgets every block, so indexing starts again at :attr:`first_block`.
        Returns how many events were dropped."""
        floor = -1 if number is None else number
        above = _last_position(floor)
        marks = ", ".join("?" for _ in _DECISIONS)
        with self._transaction():
            touched = self._db.execute(
                f"SELECT DISTINCT timeframe, customer FROM events WHERE position > ? AND event IN ({marks})",
                (above, *_DECISIONS),
            ).fetchall()
            dropped = self._db.execute("DELETE FROM events WHERE position > ?", (above,)).rowcount
            self._db.executemany(  # a customer whose only decisions were dropped is no longer listed
                "DELETE FROM customers WHERE timeframe = ?1 AND customer = ?2 AND NOT EXISTS ("
                " SELECT 1 FROM events INDEXED BY events_by_customer"
                f" WHERE timeframe = ?1 AND customer = ?2 AND event IN ({marks}))",
                [(timeframe, customer, *_DECISIONS) for timeframe, customer in touched],
            )
            self._db.execute("DELETE FROM blocks WHERE number > ?", (floor,))
            if number is None:
                self._db.execute("DELETE FROM cursor")
            else:
                self._db.execute("UPDATE cursor SET last_block = ? WHERE last_block > ?", (number, number))
        return dropped

    # ------------------------------------------------------------------ reading

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
        where, params = self._where(timeframe, customer, names, from_block, to_block, instance_type)
        query = (
            f"SELECT {_READ} FROM events {where} "
            f"ORDER BY position {'DESC' if newest_first else ''}"
        )
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [event_from_row(*row) for row in self._db.execute(query, params)]

    def count_events(
        self,
        *,
        timeframe: int | None = None,
        customer: str | None = None,
        names: Iterable[str] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> int:
        """How many stored events match the filters (as :meth:`events` takes them)."""
        where, params = self._where(timeframe, customer, names, from_block, to_block, None)
        return int(self._db.execute(f"SELECT COUNT(*) FROM events {where}", params).fetchone()[0])

    @staticmethod
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
            clauses.append(f"event IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if from_block is not None:
            clauses.append("position >= ?")
            params.append(_first_position(max(from_block, 0)))
        if to_block is not None:
            clauses.append("position <= ?")
            params.append(_last_position(to_block) if to_block >= 0 else -1)
        if instance_type is not None:
            clauses.append("instance_type = ?")
            params.append(instance_type)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params

    def billing_rows(
        self, timeframe: int, names: Sequence[str] | None, *, customer: str | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """The events ``names`` (all with ``None``) of ``timeframe`` as :data:`BILLING_COLUMNS` tuples, one customer
        after the other (by address) and each customer's in chain order: one forward pass over
        ``events_by_customer``, streamed (nothing is sorted or held here, and no table row is read). Only
        ``customer``'s with ``customer``."""
        query = (
            f"SELECT {_BILLING_SELECT} FROM events INDEXED BY events_by_customer "
            f"WHERE timeframe = ? AND customer {'= ?' if customer is not None else 'IS NOT NULL'}"
        )
        params: list[Any] = [timeframe]
        if customer is not None:
            params.append(to_checksum_address(customer))
        if names is not None:
            query += f" AND event IN ({', '.join('?' for _ in names)})"
            params += names
        return self._db.execute(query + " ORDER BY customer, position", params)

    def event_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def timeframes(self) -> list[Timeframe]:
        """Every timeframe created on the contract, by id."""
        found = [e for e in self.events(names=[TimeframeCreated.name]) if isinstance(e, TimeframeCreated)]
        return sorted((e.as_timeframe() for e in found), key=lambda t: t.id)

    def customers(self, timeframe: int) -> list[str]:
        """Customers with a decision in ``timeframe`` (an activation granted or denied, a lease continued into it),
        sorted by address: kept in their own small table as events are stored and dropped, so listing them does not
        read the events."""
        rows = self._db.execute("SELECT customer FROM customers WHERE timeframe = ? ORDER BY customer", (timeframe,))
        return [str(row[0]) for row in rows]

    def remember_block(self, block: StoredBlock) -> bool:
        """Keep a block's hash and timestamp learnt outside indexing (e.g. a timeframe's boundary block), so later
        look-ups need no node; only for blocks the cursor has passed (their hash then also guards against reorgs).
        Returns whether it was kept."""
        last = self.last_block
        if last is None or block.number > last:
            return False
        self._db.execute(
            "INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?) ON CONFLICT (number) DO UPDATE SET "
            "timestamp = COALESCE(excluded.timestamp, blocks.timestamp) WHERE blocks.hash = excluded.hash",
            (block.number, _hex(block.hash), block.timestamp),
        )
        return True

    # ------------------------------------------------------------------ extensions

    # Features that keep their own rows beside the events (the watch outbox, :mod:`metering.watch.outbox`) add their
    # tables here, so their writes share this file and its transactions. A second backend mirrors these three calls;
    # the features' SQL is kept portable (TEXT, INTEGER/BIGINT, ``ON CONFLICT DO NOTHING``, ``?`` placeholders).

    def ensure_tables(self, ddl: str) -> None:
        """Create a feature's tables (``CREATE TABLE IF NOT EXISTS`` statements separated by ``;``) if missing."""
        with self._transaction():
            for statement in ddl.split(";"):
                if statement.strip():
                    self._db.execute(statement)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a feature's read (its own tables, or the events through their indexes)."""
        return [tuple(row) for row in self._db.execute(sql, params)]

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction for a feature's statements: all of them land, or none (a crash in between)."""
        with self._transaction():
            yield self._db.cursor()


def _stored_block(row: tuple[Any, ...]) -> StoredBlock:
    return StoredBlock(number=int(row[0]), hash=bytes.fromhex(str(row[1])[2:]), timestamp=row[2])


def _row_position(row: tuple[Any, ...]) -> int:
    return int(row[0])
