"""The event database's schema as a list of versioned steps, the same steps for SQLite and PostgreSQL.

Why explicit steps: a database outlives the program that wrote it, and several programs (indexers, web views,
auditors) may read one PostgreSQL history at once. A database records its ``schema_version`` in ``meta``; a
program opens only a database at exactly its own :data:`SCHEMA_VERSION`. An older one is refused with the command
that upgrades it (``metering db migrate URL``), which applies the missing steps in one transaction (under an
advisory lock on PostgreSQL, so two migrators cannot interleave); a newer one is refused with "upgrade metering".
Versions before :data:`BASELINE` stored hex text and have no upgrade path: they are indexed again.

Adding a table is one small step: append a :class:`Migration` with its ``CREATE TABLE`` for each dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BASELINE", "MIGRATIONS", "SCHEMA_VERSION", "Dialect", "Migration", "pending"]

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class Migration:
    """One schema step: the version it brings a database to, why, and its statements per dialect."""

    version: int
    why: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


# Version 3 is the baseline: every table a history needs. Types differ only where the engines do: SQLite's INTEGER
# is 64-bit and BLOB is bytes; PostgreSQL's BIGINT and BYTEA. Text that is sorted (customers, event names) sorts
# bytewise on PostgreSQL too (COLLATE "C"), as SQLite sorts it: invoices list customers in the same order.
_V3_SQLITE = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE cursor (id INTEGER PRIMARY KEY CHECK (id = 1), last_block INTEGER NOT NULL)",
    "CREATE TABLE blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL, timestamp INTEGER)",
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY, block_number INTEGER NOT NULL, log_index INTEGER NOT NULL,
        block_hash BLOB NOT NULL, tx_hash BLOB NOT NULL, event TEXT NOT NULL, timeframe INTEGER, customer TEXT,
        instance_id BLOB, instance_type INTEGER, started_at INTEGER, lease_end INTEGER, stopped_at INTEGER,
        overage INTEGER, fields TEXT NOT NULL, topics BLOB NOT NULL, data BLOB NOT NULL)""",
    """CREATE INDEX events_by_customer ON events (timeframe, customer, position, event, tx_hash, instance_id,
        instance_type, started_at, lease_end, stopped_at, overage)""",
    "CREATE INDEX events_by_name ON events (event, timeframe)",
    """CREATE TABLE customers (timeframe INTEGER NOT NULL, customer TEXT NOT NULL,
        PRIMARY KEY (timeframe, customer)) WITHOUT ROWID""",
)
_V3_POSTGRES = (
    "CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE cursor (id INTEGER PRIMARY KEY CHECK (id = 1), last_block BIGINT NOT NULL)",
    "CREATE TABLE blocks (number BIGINT PRIMARY KEY, hash TEXT NOT NULL, timestamp BIGINT)",
    """CREATE TABLE events (
        position BIGINT PRIMARY KEY, block_number BIGINT NOT NULL, log_index INTEGER NOT NULL,
        block_hash BYTEA NOT NULL, tx_hash BYTEA NOT NULL, event TEXT COLLATE "C" NOT NULL, timeframe BIGINT,
        customer TEXT COLLATE "C", instance_id BYTEA, instance_type INTEGER, started_at BIGINT, lease_end BIGINT,
        stopped_at BIGINT, overage SMALLINT, fields TEXT NOT NULL, topics BYTEA NOT NULL, data BYTEA NOT NULL)""",
    # INCLUDE: an invoice reads the index alone (an index-only scan), in (timeframe, customer, position) order.
    """CREATE INDEX events_by_customer ON events (timeframe, customer, position) INCLUDE (event, tx_hash,
        instance_id, instance_type, started_at, lease_end, stopped_at, overage)""",
    "CREATE INDEX events_by_name ON events (event, timeframe)",
    """CREATE TABLE customers (timeframe BIGINT NOT NULL, customer TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (timeframe, customer))""",
)

#: Version 4: which indexer wrote each range. Several indexers may sync one history; each range is written by
#: exactly one of them (the cursor is compared and moved under the store's write lock), and this log says which, so
#: an operator (and the race test) can see that no range was written twice and none was skipped.
_V4_RANGES = "CREATE TABLE ranges (first_block {int} PRIMARY KEY, last_block {int} NOT NULL, writer TEXT NOT NULL, " \
    "written_at {int} NOT NULL)"

#: Version 5: the watch's outbox (issue 17, :mod:`metering.watch.outbox`). A notification is derived from stored
#: events, so it lives in the same database and is written in the same transaction as the watcher's cursor: a crash
#: never loses one whose events were passed over. ``watch_cursor``: per watcher, the last event position evaluated;
#: ``watch_marks``: conditions that fire once; ``outbox``: one row per (notification, sink), times in unix ms. Ids
#: and sinks sort bytewise on PostgreSQL too (COLLATE "C"), so delivery order is the same on both engines.
_V5_OUTBOX = (
    "CREATE TABLE watch_cursor (watcher TEXT{c} PRIMARY KEY, position {int} NOT NULL)",
    "CREATE TABLE watch_marks (mark TEXT{c} PRIMARY KEY)",
    """CREATE TABLE outbox (id TEXT{c} NOT NULL, sink TEXT{c} NOT NULL, type TEXT NOT NULL,
        block_number {int} NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt {int} NOT NULL, state TEXT NOT NULL, delivered_at {int}, last_error TEXT,
        PRIMARY KEY (id, sink))""",
    "CREATE INDEX outbox_due ON outbox (state, next_attempt)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(3, "the baseline: events, blocks, cursor, customers and the covering index of invoices",
              _V3_SQLITE, _V3_POSTGRES),
    Migration(4, "ranges: which indexer wrote each block range",
              (_V4_RANGES.format(int="INTEGER"),), (_V4_RANGES.format(int="BIGINT"),)),
    Migration(5, "the watch outbox: notifications, their delivery state, and each watcher's cursor",
              tuple(s.format(int="INTEGER", c="") for s in _V5_OUTBOX),
              tuple(s.format(int="BIGINT", c=' COLLATE "C"') for s in _V5_OUTBOX)),
)

#: The first version a database can be upgraded from (older files stored hex text: index them again).
BASELINE = MIGRATIONS[0].version
#: The version this program reads and writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def pending(version: int) -> tuple[Migration, ...]:
    """The steps that bring a database at ``version`` to :data:`SCHEMA_VERSION`, in order."""
    return tuple(m for m in MIGRATIONS if m.version > version)
