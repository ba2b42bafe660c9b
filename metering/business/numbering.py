"""Gap-free invoice numbers per seller and series, in a small SQLite file, never reused.

Tax law in most of Europe wants invoice numbers that run without gaps and never repeat; a clerk notices both. The
rule has two adversaries: two billing runs at once (a cron job and a person) that could take the same number, and a
crash between taking a number and recording what it was for, which would leave a gap or hand the number out twice.
So the number and the document it belongs to are written in one ``BEGIN IMMEDIATE`` transaction (one writer at a
time; a crash rolls back both), the next number is one more than the largest issued, and triggers refuse any
``UPDATE`` or ``DELETE`` of an issued number, so not even a careless script can free one for reuse.

Issuing is idempotent per document: asking again for the number of the same canonical invoice (same ``document``
key) returns the number and issue date it already has, so re-rendering a PDF never consumes a number.

>>> store = NumberStore(Path("invoice-numbers.sqlite"))              # doctest: +SKIP
>>> store.issue("FR40123456824", "INV", "invoice:0x12ab...", date(2026, 12, 7)).text  # doctest: +SKIP
'INV-000001'
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from metering.errors import NumberingError

__all__ = ["IssuedNumber", "NumberStore", "format_number"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (
    seller     TEXT    NOT NULL,
    series     TEXT    NOT NULL,
    number     INTEGER NOT NULL CHECK (number >= 1),
    document   TEXT    NOT NULL,
    issue_date TEXT    NOT NULL,
    PRIMARY KEY (seller, series, number),
    UNIQUE (seller, series, document)
);
CREATE TABLE IF NOT EXISTS documents (
    seller  TEXT    NOT NULL,
    series  TEXT    NOT NULL,
    number  INTEGER NOT NULL,
    content TEXT    NOT NULL,
    PRIMARY KEY (seller, series, number),
    FOREIGN KEY (seller, series, number) REFERENCES issued (seller, series, number)
);
CREATE TRIGGER IF NOT EXISTS documents_never_deleted BEFORE DELETE ON documents
BEGIN SELECT RAISE(ABORT, 'an issued document is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS documents_never_changed BEFORE UPDATE ON documents
BEGIN SELECT RAISE(ABORT, 'an issued document is never changed'); END;
CREATE TRIGGER IF NOT EXISTS issued_never_deleted BEFORE DELETE ON issued
BEGIN SELECT RAISE(ABORT, 'an issued invoice number is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS issued_never_changed BEFORE UPDATE ON issued
BEGIN SELECT RAISE(ABORT, 'an issued invoice number is never changed'); END;
"""
#: How long a writer waits for another's transaction (they last milliseconds) before giving up with a message.
BUSY_TIMEOUT_SECONDS = 30.0
#: The longest note kept with a reserved number.
MAX_NOTE = 200


def format_number(series: str, number: int) -> str:
    """The number as printed: ``INV-000042`` (six digits keep a million numbers in sorting order)."""
    return f"{series}-{number:06d}"


@dataclass(frozen=True)
class IssuedNumber:
    """A number given to a document: which seller and series, the integer, what it was for, and when."""

    seller: str
    series: str
    number: int
    document: str
    issue_date: date

    @property
    def text(self) -> str:
        return format_number(self.series, self.number)


class NumberStore:
    """The numbers file. Each call opens its own short transaction, so processes may share the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._connection() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise NumberingError(f"cannot open the invoice numbers file {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA synchronous = FULL")  # a committed number survives a power cut
            yield db
        except sqlite3.IntegrityError as exc:
            raise NumberingError(f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise NumberingError(f"the invoice numbers file {self.path} cannot be used: {exc}") from exc
        finally:
            db.close()

    def next_number(self, seller: str, series: str) -> int:
        """The number the next document of ``series`` will get (nothing is reserved)."""
        with self._connection() as db:
            return _next(db, seller, series)

    def find(self, seller: str, series: str, document: str) -> IssuedNumber | None:
        """The number ``document`` was issued under, if any."""
        with self._connection() as db:
            return _find(db, seller, series, document)

    def issue(self, seller: str, series: str, document: str, issue_date: date) -> IssuedNumber:
        """The number of ``document``: the one it already has, else the next one, recorded with ``issue_date``
        in the same transaction that chose it."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no other process reads the same maximum
            try:
                existing = _find(db, seller, series, document)
                if existing is not None:
                    db.execute("COMMIT")
                    return existing
                number = _next(db, seller, series)
                db.execute(
                    "INSERT INTO issued (seller, series, number, document, issue_date) VALUES (?, ?, ?, ?, ?)",
                    (seller, series, number, document, issue_date.isoformat()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return IssuedNumber(seller, series, number, document, issue_date)

    def reserve(self, seller: str, series: str, issue_date: date, note: str = "") -> IssuedNumber:
        """Take the next number for a document made elsewhere (a manual invoice): recorded, never reused.

        :raises NumberingError: a note longer than :data:`MAX_NOTE` characters (it is kept with the number forever).
        """
        if len(note) > MAX_NOTE:
            raise NumberingError(f"a reservation note is at most {MAX_NOTE} characters, got {len(note)}")
        return self.issue(seller, series, f"manual:{uuid.uuid4()}:{note}", issue_date)

    def record(self, number: IssuedNumber, content: str) -> None:
        """Keep the document as issued under ``number`` (the first record stays: an issued document is never
        edited, it is credited)."""
        with self._connection() as db:
            db.execute(
                "INSERT OR IGNORE INTO documents (seller, series, number, content) VALUES (?, ?, ?, ?)",
                (number.seller, number.series, number.number, content),
            )

    def document_of(self, seller: str, text: str) -> str | None:
        """The document recorded under the printed number ``text`` (``INV-000042``), if any."""
        series, _, digits = text.rpartition("-")
        if not series or not digits.isdigit():
            return None
        with self._connection() as db:
            row = db.execute(
                "SELECT content FROM documents WHERE seller = ? AND series = ? AND number = ?",
                (seller, series, int(digits)),
            ).fetchone()
        return None if row is None else str(row[0])

    def issued(self, seller: str, series: str) -> list[IssuedNumber]:
        """Every number of ``series``, in order."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT number, document, issue_date FROM issued WHERE seller = ? AND series = ? ORDER BY number",
                (seller, series),
            ).fetchall()
        return [IssuedNumber(seller, series, n, doc, date.fromisoformat(day)) for n, doc, day in rows]


def _next(db: sqlite3.Connection, seller: str, series: str) -> int:
    row = db.execute("SELECT MAX(number) FROM issued WHERE seller = ? AND series = ?", (seller, series)).fetchone()
    return 1 if row[0] is None else int(row[0]) + 1


def _find(db: sqlite3.Connection, seller: str, series: str, document: str) -> IssuedNumber | None:
    row = db.execute(
        "SELECT number, issue_date FROM issued WHERE seller = ? AND series = ? AND document = ?",
        (seller, series, document),
    ).fetchone()
    if row is None:
        return None
    return IssuedNumber(seller, series, int(row[0]), document, date.fromisoformat(row[1]))
