"""The indexed events of one Meter contract, in one SQLite file an auditor can open with any SQLite tool.

Why SQLite: it ships with Python, needs no server, and the file is the evidence: every event is stored with its
block, block hash, transaction hash and log index, its raw topics and data (so anyone can decode it again) and its
decoded fields as JSON (integers as decimal strings, so amounts beyond 2**53 stay exact). ``UNIQUE(tx_hash,
log_index)`` makes re-ingesting a range harmless. Block hashes are kept for every block that holds an event and for
the end of every indexed range, so the indexer can tell when the chain reorganised under it.

One file holds one contract on one chain; opening it for another raises :class:`StoreError` instead of mixing
bills. The schema::

    meta(key PRIMARY KEY, value)          -- schema_version, chain_id, contract, first_block
    cursor(id = 1, last_block)            -- the last block whose logs are all stored
    blocks(number PRIMARY KEY, hash, timestamp)
    events(id, block_number, block_hash, tx_hash, log_index, event, timeframe, customer, instance_id,
           fields, topics, data, UNIQUE(tx_hash, log_index))
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    LeaseContinued,
    MeterEvent,
    TimeframeCreated,
    decode_log,
    event_to_dict,
)
from metering.errors import MissingDependencyError, StoreError
from metering.types import Timeframe

__all__ = ["SCHEMA_VERSION", "Store", "StoredBlock", "default_store_path"]

#: Bumped whenever the tables change; a file with another version is refused rather than misread.
SCHEMA_VERSION = 2  # 2: Meter v2 events (namespaced instance ids, RulesSet with a Rules tuple)

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
    id           INTEGER PRIMARY KEY,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    tx_hash      TEXT NOT NULL,
    log_index    INTEGER NOT NULL,
    event        TEXT NOT NULL,
    timeframe    INTEGER,
    customer     TEXT,
    instance_id  TEXT,
    fields       TEXT NOT NULL,
    topics       TEXT NOT NULL,
    data         TEXT NOT NULL,
    UNIQUE (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS events_by_position ON events (block_number, log_index);
CREATE INDEX IF NOT EXISTS events_by_timeframe ON events (timeframe, customer);
"""


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith(("0x", "0X")) else "0x" + value.lower()
    return "0x" + bytes(value).hex()


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
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
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

    def append_range(
        self,
        logs: Sequence[tuple[Mapping[str, Any], MeterEvent]],
        blocks: Iterable[StoredBlock],
        last_block: int,
    ) -> int:
        """Store the decoded logs of one block range with its block hashes and move the cursor to ``last_block``,
        all in one transaction (a crash leaves the range either fully stored or not at all).

        Each entry pairs the raw log with its decoded event. Returns how many events were new.
        """
        rows = [_event_row(raw, event) for raw, event in logs]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?) ON CONFLICT (number) DO UPDATE SET "
                "hash = excluded.hash, timestamp = COALESCE(excluded.timestamp, blocks.timestamp)",
                [(b.number, _hex(b.hash), b.timestamp) for b in blocks],
            )
            inserted = self._db.executemany(
                "INSERT OR IGNORE INTO events (block_number, block_hash, tx_hash, log_index, event, timeframe, "
                "customer, instance_id, fields, topics, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            ).rowcount
            self._db.execute(
                "INSERT INTO cursor (id, last_block) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_block = excluded.last_block",
                (last_block,),
            )
        return max(inserted, 0)

    def block_numbers(self) -> list[int]:
        """Every stored block number, ascending."""
        return [int(row[0]) for row in self._db.execute("SELECT number FROM blocks ORDER BY number")]

    def rollback_after(self, number: int | None) -> int:
        """Forget every event and block hash above block ``number`` and move the cursor back to it (a reorg
        replaced those blocks); ``None`` forgets every block, so indexing starts again at :attr:`first_block`.
        Returns how many events were dropped."""
        floor = -1 if number is None else number
        with self._transaction():
            dropped = self._db.execute("DELETE FROM events WHERE block_number > ?", (floor,)).rowcount
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
        ``offset`` page through them (the web view's event stream)."""
        where, params = self._where(timeframe, customer, names, from_block, to_block)
        order = "DESC" if newest_first else ""
        query = (
            "SELECT block_number, block_hash, tx_hash, log_index, topics, data FROM events "
            f"{where} ORDER BY block_number {order}, log_index {order}"
        )
        if limit is not None and instance_type is None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        out: list[MeterEvent] = []
        skipped = 0
        for number, block_hash, tx_hash, log_index, topics, data in self._db.execute(query, params):
            event = decode_log(
                {
                    "blockNumber": number,
                    "blockHash": block_hash,
                    "transactionHash": tx_hash,
                    "logIndex": log_index,
                    "topics": json.loads(topics),
                    "data": data,
                }
            )
            if event is None:  # pragma: no cover - only decodable logs are ever stored
                raise StoreError(f"{self.path}: stored log {tx_hash}#{log_index} no longer decodes")
            if instance_type is not None:
                if getattr(event, "instance_type", None) != instance_type:
                    continue
                if limit is not None:
                    if skipped < offset:
                        skipped += 1
                        continue
                    if len(out) >= limit:
                        break
            out.append(event)
        return out

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
        where, params = self._where(timeframe, customer, names, from_block, to_block)
        return int(self._db.execute(f"SELECT COUNT(*) FROM events {where}", params).fetchone()[0])

    @staticmethod
    def _where(
        timeframe: int | None,
        customer: str | None,
        names: Iterable[str] | None,
        from_block: int | None,
        to_block: int | None,
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
            clauses.append("block_number >= ?")
            params.append(from_block)
        if to_block is not None:
            clauses.append("block_number <= ?")
            params.append(to_block)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params

    def event_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def timeframes(self) -> list[Timeframe]:
        """Every timeframe created on the contract, by id."""
        found = [e for e in self.events(names=[TimeframeCreated.name]) if isinstance(e, TimeframeCreated)]
        return sorted((e.as_timeframe() for e in found), key=lambda t: t.id)

    def customers(self, timeframe: int) -> list[str]:
        """Customers with a decision in ``timeframe`` (an activation granted or denied, a lease continued into it),
        sorted by address."""
        rows = self._db.execute(
            "SELECT DISTINCT customer FROM events WHERE timeframe = ? AND event IN (?, ?, ?) ORDER BY customer",
            (timeframe, ActivationGranted.name, ActivationDenied.name, LeaseContinued.name),
        )
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


def _stored_block(row: tuple[Any, ...]) -> StoredBlock:
    return StoredBlock(number=int(row[0]), hash=bytes.fromhex(str(row[1])[2:]), timestamp=row[2])


def _event_row(raw: Mapping[str, Any], event: MeterEvent) -> tuple[Any, ...]:
    instance = getattr(event, "instance_id", None)
    return (
        event.block_number,
        _hex(event.block_hash),
        _hex(event.tx_hash),
        event.log_index,
        event.name,
        getattr(event, "timeframe", None),
        getattr(event, "customer", None),
        _hex(instance) if instance is not None else None,
        json.dumps(event_to_dict(event), sort_keys=True, separators=(",", ":")),
        json.dumps([_hex(t) for t in raw["topics"]]),
        _hex(raw["data"]),
    )
