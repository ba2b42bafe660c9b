"""Invoice numbers: gap-free per seller and series, never shared, never reused, across processes and crashes.

The adversaries are a second billing run at the same moment (two processes), a crash between choosing a number and
recording it, and a script that deletes or edits a row to "free" a number.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from metering.business.numbering import NumberStore, format_number
from metering.errors import NumberingError

DAY = date(2026, 12, 7)
SELLER = "FR40123456824"

_WORKER = """
import sys, time
from datetime import date
from pathlib import Path
from metering.business.numbering import NumberStore
path, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = NumberStore(path)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for k in range(count):
    issued = store.issue("FR40123456824", "INV", f"{name}:{k}", date(2026, 12, 7))
    print(issued.number, flush=True)
"""

_CRASH = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO issued (seller, series, number, document, issue_date) VALUES "
           "('FR40123456824', 'INV', 2, 'crashed', '2026-12-07')")
os._exit(9)  # the process dies before COMMIT, as in a power cut or a kill -9
"""


def test_numbers_run_from_one_per_series_and_seller_and_a_document_keeps_its_number(tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "n.sqlite")

    first = store.issue(SELLER, "INV", "invoice:a", DAY)
    second = store.issue(SELLER, "INV", "invoice:b", DAY)
    again = store.issue(SELLER, "INV", "invoice:a", date(2027, 1, 1))
    credit = store.issue(SELLER, "CN", "credit:INV-000001", DAY)
    other_seller = store.issue("DE123456789", "INV", "invoice:a", DAY)

    assert (first.text, second.text, credit.text, other_seller.text) == ("INV-000001", "INV-000002", "CN-000001",
                                                                          "INV-000001")
    assert again == first and again.issue_date == DAY  # re-rendering keeps the number and the date of issue
    assert store.next_number(SELLER, "INV") == 3
    assert [n.number for n in store.issued(SELLER, "INV")] == [1, 2]


def test_two_processes_issuing_at_once_never_share_or_skip_a_number(tmp_path: Path) -> None:
    path, go, count = tmp_path / "n.sqlite", tmp_path / "go", 60
    NumberStore(path)
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(path), name, str(count), str(go)],
                         stdout=subprocess.PIPE, text=True)
        for name in ("cron", "person")
    ]
    assert [worker.stdout.readline() for worker in workers if worker.stdout] == ["ready\n", "ready\n"]
    go.touch()  # both start issuing at the same moment
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0]
    taken = [[int(n) for n in out.split()] for out in outputs]
    assert all(len(numbers) == count for numbers in taken)
    assert sorted(taken[0] + taken[1]) == list(range(1, 2 * count + 1))  # no number shared, none skipped
    assert all(numbers == sorted(numbers) for numbers in taken)
    assert [n.number for n in NumberStore(path).issued(SELLER, "INV")] == list(range(1, 2 * count + 1))


def test_a_crash_before_commit_leaves_no_gap_and_no_half_issued_number(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    store = NumberStore(path)
    store.issue(SELLER, "INV", "invoice:a", DAY)

    crashed = subprocess.run([sys.executable, "-c", _CRASH, str(path)], check=False)

    assert crashed.returncode == 9
    assert store.next_number(SELLER, "INV") == 2
    assert store.issue(SELLER, "INV", "invoice:b", DAY).text == "INV-000002"


@pytest.mark.parametrize("statement", [
    "DELETE FROM issued WHERE number = 2",
    "UPDATE issued SET document = 'other' WHERE number = 2",
    "UPDATE issued SET number = 9 WHERE number = 2",
])
def test_an_issued_number_cannot_be_deleted_or_changed_to_free_it(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "n.sqlite"
    store = NumberStore(path)
    for name in "abc":
        store.issue(SELLER, "INV", f"invoice:{name}", DAY)

    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="never"):
        db.execute(statement)
    db.close()

    assert store.issue(SELLER, "INV", "invoice:d", DAY).text == "INV-000004"


def test_a_reserved_number_is_taken_for_good(tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "n.sqlite")

    reserved = store.reserve(SELLER, "INV", DAY, "manual invoice for a setup fee")

    assert reserved.text == format_number("INV", 1) == "INV-000001"
    assert store.issue(SELLER, "INV", "invoice:a", DAY).number == 2


def test_a_numbers_file_that_is_not_sqlite_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    path.write_text("not a database, just text that is long enough to be read as a header " * 10)

    with pytest.raises(NumberingError, match=str(path)):
        NumberStore(path)


def test_a_reservation_note_is_bounded(tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "n.sqlite")

    with pytest.raises(NumberingError, match="at most 200"):
        store.reserve(SELLER, "INV", DAY, "x" * 201)

    assert store.next_number(SELLER, "INV") == 1
