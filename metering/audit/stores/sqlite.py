"""The event database in one SQLite file an auditor can open with any SQLite tool: the default backend.

Why SQLite: it ships with Python, needs no server, and the file is the evidence: every event is stored with its
block, block hash, transaction hash and log index, its raw topics and data (so anyone can decode it again) and its
decoded fields, both as typed columns for what queries and invoices read and as JSON for everything (integers as
decimal strings, so amounts beyond 2**53 stay exact); :mod:`metering._utils.storerows` defines the row and
:mod:`.migrations` the tables. Hashes, ids and the raw log are blobs (``SELECT hex(tx_hash)`` shows them).

Several processes may use one file: ``BEGIN IMMEDIATE`` is its write lock (a second writer waits up to
``busy_timeout``), and WAL mode lets readers go on while a range is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

from metering._utils.storerows import COLUMNS
from metering.audit.stores.base import Store
from metering.audit.stores.checkpoints import Checkpointer
from metering.audit.stores.location import Location
from metering.errors import StoreError

__all__ = ["SqliteStore"]

#: Connection settings for a write-once, append-mostly index that a web view may read while it grows:
#: * ``page_size=16384`` (a new file only; an existing one keeps its size): an event row with its raw log is about
#:   700 bytes and the covering index's entries are wide, so 4 KiB pages split often. Writing 10,000 rows took
#:   0.047 s of CPU against 0.056 s, and the invoice scan is 4% faster (``bench/indexing.py`` S3, Q1-Q3).
#: * ``journal_mode=WAL``: readers never block the indexer nor it them; a commit appends to one file. The
#:   writing connection leaves checkpoints to a thread of their own (:mod:`.checkpoints`).
#: * ``synchronous=NORMAL``: in WAL mode a commit is not fsynced (checkpoints are). A power cut can lose the last
#:   ranges but never corrupts the file, and a lost range is harmless: the cursor moves in the same transaction as
#:   its events, so the indexer reads those blocks again.
#: * ``temp_store=MEMORY``: the few sorts the planner still needs (listing small filtered sets) never touch disk.
#: * ``cache_size=-16384``: 16 MiB of page cache (8x the default) keeps the upper levels of the covering index
#:   cached while a range's rows are inserted, yet stays small against the 150 MB an invoice run may take.
#: * ``busy_timeout=30000``: a second indexer waits for the first one's range (milliseconds) instead of failing.
#: * ``mmap_size`` stays 0: mapped pages would count into the reader's resident memory and grow with the file.
_PRAGMAS = (
    "PRAGMA page_size=16384",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-16384",
    "PRAGMA busy_timeout=30000",
)

#: sqlite3 binds a ``bytes`` or ``None`` parameter only after looking up an adapter for its type and then, finding
#: none, the ``__adapt__`` and ``__conform__`` attributes (two failed lookups per value): 0.28-0.38 us a value against
#: 0.06 us for an ``int``, and an event row has five blobs and a few NULLs. An adapter registered for exactly these
#: types is found by the first lookup and returns the value itself (``bytes(b) is b``, ``{}.get(None) is None``), so
#: every value binds as before, at 0.14-0.27 us. ``bench/indexing.py`` I2: 0.45 of the ceiling with them against
#: 0.43 without (median of 9, alternating). sqlite3's adapters are module-wide: these are set only where the
#: application registered none, and subclasses (``HexBytes``) are not matched (adapters match the exact type).
sqlite3.adapters.setdefault((bytes, sqlite3.PrepareProtocol), bytes)
sqlite3.adapters.setdefault((type(None), sqlite3.PrepareProtocol), {}.get)

_ROW = f"({', '.join('?' for _ in COLUMNS)})"
_INSERT_EVENT = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES {_ROW}"
#: Rows per ``INSERT`` of a range: ``executemany`` releases and takes back the GIL around every row, and while the
#: indexer's reader thread parses the next range each of those handovers waits for it; one statement of 100 rows
#: (1,700 parameters, far under SQLite's 32,766) hands over once per 100 rows, and binds through one statement.
#: ``bench/indexing.py`` row S3 (10,000 rows written alone, CPU): 0.069-0.074 s in three runs against 0.083 s one
#: row per statement; the same rows and counts (tests/indexing/test_store.py).
_ROWS_PER_INSERT = 100
_INSERT_EVENTS = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES {', '.join([_ROW] * _ROWS_PER_INSERT)}"


class SqliteStore(Store):
    """:class:`~metering.audit.stores.base.Store` in a SQLite file."""

    dialect = "sqlite"
    _BY_CUSTOMER: ClassVar[str] = "events INDEXED BY events_by_customer"

    def scan(self, index: str) -> str:
        if index not in ("events_by_customer", "events_by_name"):
            raise StoreError(f"{index!r} is not an index of the events")
        return f"events INDEXED BY {index}"

    def _connect(self, location: Location, *, create: bool) -> None:
        path = location.path
        self.path = path
        if not create and not path.is_file():
            raise StoreError(f"no event database at {path}: index the contract first (it creates the file)")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._checkpoints: Checkpointer | None = None  # started by the first write
        try:
            for pragma in _PRAGMAS:
                self._db.execute(pragma)
            self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{path} is not a metering event database ({exc})") from exc

    @property
    def file(self) -> Path:
        """The database file."""
        return Path(self.path)

    def close(self) -> None:
        checkpoints = getattr(self, "_checkpoints", None)
        if checkpoints is not None:
            self._checkpoints = None
            checkpoints.stop()
        if hasattr(self, "_db"):
            self._db.close()  # copies what the last checkpoint left into the file

    def _table_exists(self, name: str) -> bool:
        found = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        return found is not None

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} cannot be read ({exc}): is it a metering event database?") from exc

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._db.executemany(sql, rows).rowcount if rows else 0

    def _write(self) -> AbstractContextManager[None]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._snapshots:
            raise StoreError("a store does not write inside a snapshot (a read transaction)")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        if self._checkpoints is None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpoints = Checkpointer(self.file)
        self._checkpoints.committed()

    def _insert_events(self, rows: Iterable[tuple[Any, ...]], new: bool) -> int:
        listed = list(rows)
        whole = len(listed) - len(listed) % _ROWS_PER_INSERT
        values = list(chain.from_iterable(listed[:whole]))
        step = _ROWS_PER_INSERT * len(COLUMNS)
        inserted = sum(self._db.execute(_INSERT_EVENTS, values[at:at + step]).rowcount
                       for at in range(0, len(values), step))
        if whole < len(listed):
            inserted += self._db.executemany(_INSERT_EVENT, listed[whole:]).rowcount
        return inserted

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        return self._db.execute(sql, params)  # a cursor: rows are read from the file as they are iterated

    def _begin_snapshot(self) -> None:
        self._db.execute("BEGIN")
        self._db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # a WAL read transaction starts at its first read

    def _end_snapshot(self) -> None:
        self._db.execute("COMMIT")
