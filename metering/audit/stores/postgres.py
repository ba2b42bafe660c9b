"""The event database on a PostgreSQL server: one history shared by indexers, web views and auditors on many machines.

Why PostgreSQL: it is what a platform team already runs for shared state, it serves many readers at once, and its
advisory locks make several indexers safe. The tables are those of SQLite (:mod:`.migrations`), so the same rows
give the same invoices byte for byte; customers and event names sort bytewise (``COLLATE "C"``) as in SQLite.

* **Writes** hold ``pg_advisory_xact_lock`` (keyed by the schema) for their transaction: one range at a time,
  whichever machine writes it, and a killed writer's lock ends with its connection. A range's events go in with
  one binary ``COPY``.
* **Reads** run in autocommit, each query one snapshot; long scans (all invoices of a timeframe) stream from a
  second connection in chunks, so memory does not grow with the history and other queries can run meanwhile.
* psycopg is imported only when a PostgreSQL store is opened: SQLite users need not install it
  (``pip install "metering[pg]"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from typing import TYPE_CHECKING, Any

from metering._utils.storerows import COLUMNS
from metering.audit.stores.base import Store
from metering.audit.stores.location import Location
from metering.errors import MissingDependencyError, StoreError

if TYPE_CHECKING:
    import psycopg

__all__ = ["LOCK_CLASS", "PostgresStore"]

#: The first key of the store's advisory lock ("mete" in ASCII); the second is the hash of the schema's name, so
#: histories in different schemas of one database do not wait for each other.
LOCK_CLASS = 0x6D657465
_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))"
#: Rows per round trip of a streamed scan: large enough to amortise the network, small against 150 MB.
_STREAM_ROWS = 5_000
#: The binary COPY types of an event row, in :data:`~metering._utils.storerows.COLUMNS` order.
_COPY_TYPES = (
    "int8", "int8", "int4", "bytea", "bytea", "text", "int8", "text", "bytea", "int4", "int8", "int8", "int8",
    "int2", "text", "bytea", "bytea",
)
_OVERAGE = COLUMNS.index("overage")
_names = count()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError(
            'a PostgreSQL event database needs psycopg: pip install "metering[pg]"'
        ) from exc
    return psycopg


def _sql(query: str) -> str:
    """Our queries use ``?``; psycopg's placeholder is ``%s`` (no query of ours holds a literal ``%``)."""
    return query.replace("?", "%s")


class PostgresStore(Store):
    """:class:`~metering.audit.stores.base.Store` on a PostgreSQL server."""

    dialect = "postgres"
    _STREAMS = True

    def json_text(self, column: str, key: str) -> str:
        super().json_text(column, key)  # the same check of the key
        return f"(({column})::jsonb ->> '{key}')"

    def _connect(self, location: Location, *, create: bool) -> None:
        pg = _psycopg()
        self._readers: list[psycopg.Connection[Any]] = []
        try:
            self._db: psycopg.Connection[Any] = pg.connect(location.target, autocommit=True)
        except pg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(
                f"cannot connect to the event database {location.shown} ({detail}): check the URL, that the "
                "server runs and that the database exists (createdb NAME)"
            ) from exc
        self._error: type[Exception] = pg.Error
        # COPY's set_types picks the dumper registered last for an OID: for bytea that is psycopg.dbapi20's
        # pure-Python one (it also accepts Binary objects). Ours are bytes: the C dumper for bytes is 20% faster
        # per range written.
        adapters = self._db.adapters
        adapters.register_dumper(bytes, adapters.get_dumper(bytes, pg.adapt.PyFormat.BINARY))

    def close(self) -> None:
        for reader in getattr(self, "_readers", []):
            reader.close()
        if hasattr(self, "_db"):
            self._db.close()

    def _table_exists(self, name: str) -> bool:
        return self._fetch("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0] is True

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._db.execute(_sql(sql), params).fetchall()
            return rows
        except self._error as exc:
            raise StoreError(f"{self.path} refused a query ({str(exc).strip()})") from exc

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._db.execute(_sql(sql), params).rowcount)

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        with self._db.cursor() as cursor:
            cursor.executemany(_sql(sql), rows)
            return int(cursor.rowcount)

    def _write(self) -> AbstractContextManager[None]:
        return self._transaction()

    def _batch(self) -> AbstractContextManager[None]:
        return self._pipeline()

    @contextmanager
    def _pipeline(self) -> Iterator[None]:
        with self._db.pipeline():
            yield

    def _run_script(self, statements: Sequence[str]) -> None:
        if statements:  # without parameters, several statements go in one simple query
            self._db.execute(";\n".join(statements))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._snapshots:
            raise StoreError("a store does not write inside a snapshot (a read transaction)")
        with self._db.transaction():
            self._db.execute(_LOCK, (LOCK_CLASS,))
            yield

    def _insert_events(self, rows: Iterable[tuple[Any, ...]], new: bool) -> int:
        """One binary ``COPY``: straight into ``events`` when every row is new (the cursor was checked under the
        lock), else into a temporary table and on with ``ON CONFLICT DO NOTHING``. Rows go to the server every
        32 KiB as they are written (psycopg's buffer), so it inserts them while an indexer decodes the next."""
        # Committed without waiting for the server to write its log: a range lost in a server crash is lost with
        # its cursor (the same transaction, and the log keeps commits in order), so the indexer reads it again, as
        # SQLite's synchronous=NORMAL loses one after a power cut. Only this transaction: the watcher's outbox and
        # everything else commit as the server is configured. bench/postgres.py I3 (median of 11,
        # alternating): 160 against 164 ms.
        self._db.execute("SET LOCAL synchronous_commit = off")
        target = "events"
        if not new:
            self._db.execute("CREATE TEMPORARY TABLE IF NOT EXISTS incoming (LIKE events) ON COMMIT DELETE ROWS")
            target = "incoming"
        written = 0
        with self._db.cursor() as cursor:
            with cursor.copy(f"COPY {target} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    overage = row[_OVERAGE]
                    if overage is None:
                        copy.write_row(row)
                    else:
                        copy.write_row((*row[:_OVERAGE], int(overage), *row[_OVERAGE + 1:]))
                    written += 1
            if new:
                return written
            cursor.execute("INSERT INTO events SELECT * FROM incoming ON CONFLICT (position) DO NOTHING")
            return int(cursor.rowcount)

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        if self._snapshots:  # inside a snapshot: a server-side cursor of its transaction, on this connection
            cursor = self._db.cursor(name=f"metering_scan_{next(_names)}")
            cursor.itersize = _STREAM_ROWS
            return self._close_after(cursor.execute(_sql(sql), params), None)
        reader = self._readers.pop() if self._readers else self._reader()
        # binary: hashes and ids come as bytes without hex parsing, integers without text parsing
        return self._close_after(reader.cursor().stream(_sql(sql), params, binary=True, size=_STREAM_ROWS), reader)

    def _reader(self) -> psycopg.Connection[Any]:
        return _psycopg().connect(self.url, autocommit=True)  # type: ignore[no-any-return]

    def _close_after(
        self, rows: Iterator[tuple[Any, ...]] | Any, reader: psycopg.Connection[Any] | None
    ) -> Iterator[tuple[Any, ...]]:
        """Yield the rows, then hand the reader connection back (a scan abandoned midway closes it instead)."""
        finished = False
        try:
            yield from rows
            finished = True
        finally:
            if reader is not None:
                if finished and not reader.closed:
                    self._readers.append(reader)
                else:
                    reader.close()
            elif hasattr(rows, "close"):
                rows.close()

    def _begin_snapshot(self) -> None:
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _end_snapshot(self) -> None:
        self._db.execute("COMMIT")
