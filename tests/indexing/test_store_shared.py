"""One history shared by several programs, on both backends: indexers racing for the same ranges, one killed in the
middle of a range, readers that see one state, schema migrations, and copying a history between backends.

The adversary is ordinary operations: two indexers deployed for availability, a pod killed mid-write, a web view
reading while a range commits, a database left at an older schema, a copy that silently loses rows.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from _postgres import PostgresServer
from web3 import Web3
from web3.contract import Contract

from metering.audit.blocktime import NodeClock
from metering.audit.indexer import Indexer
from metering.audit.store import SCHEMA_VERSION, Store, StoredBlock
from metering.audit.stores.copy import compare_invoices, copy_history
from metering.audit.stores.location import parse_location
from metering.chain.node import LocalNode
from metering.errors import IndexingError, RangeTakenError, StoreError

from ._builders import CONTRACT, CUSTOMER, ident
from .conftest import Driver
from .test_indexer import DB, FlakyProvider, assert_invoices_match_counters, busy_timeframe
from .test_store import granted_log, rows

ROOT = Path(__file__).resolve().parents[2]


def assert_ranges_tile(store: Store, start: int) -> None:
    """The stored ranges cover start..cursor exactly once: none overlaps another and none is missing."""
    ranges = store.ranges()
    assert ranges and ranges[0].first_block == start
    for before, after in pairwise(ranges):
        assert after.first_block == before.last_block + 1
    assert ranges[-1].last_block == store.last_block


def reference(w3: Web3, meter: Contract, url: str, start: int) -> Store:
    store = Store(url, chain_id=31337, contract=meter.address)
    Indexer(w3, meter.address, store, start_block=start).sync()
    return store


# ---------------------------------------------------------------------------------------------- several indexers


def test_an_indexer_that_lost_the_race_for_a_range_skips_to_the_winners_cursor(
    driver: Driver, node: LocalNode, w3: Web3, meter: Contract, store_url: str, new_store_url: Callable[[], str]
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    winner_store = Store(store_url, chain_id=31337, contract=meter.address)
    winner_store.writer = "winner"
    winner = Indexer(w3, meter.address, winner_store, start_block=start, max_range=3)

    def the_other_indexer_runs(call: int) -> None:
        if call == 1:  # while the loser reads its first range, the winner reads and stores everything
            winner.sync()

    provider = FlakyProvider(node.rpc_url)
    provider.on_get_logs = the_other_indexer_runs
    with Store(store_url, chain_id=31337, contract=meter.address) as loser_store, winner_store:
        loser_store.writer = "loser"
        result = Indexer(Web3(provider), meter.address, loser_store, start_block=start, max_range=3).sync()
        assert result.taken == 1 and (result.blocks, result.events) == (0, 0)
        assert {r.writer for r in loser_store.ranges()} == {"winner"}
        assert_ranges_tile(loser_store, start)
        with reference(w3, meter, new_store_url(), start) as once:
            assert loser_store.events() == once.events()
        assert_invoices_match_counters(driver, loser_store, tf)


def test_two_indexers_racing_store_every_range_exactly_once(
    driver: Driver, w3: Web3, meter: Contract, store_url: str, new_store_url: Callable[[], str]
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    stores = [Store(store_url, chain_id=31337, contract=meter.address) for _ in range(2)]
    results = []
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def run(store: Store, name: str) -> None:
        store.writer = name
        try:
            go.wait()
            results.append(Indexer(w3, meter.address, store, start_block=start, max_range=1).sync())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, n)) for s, n in zip(stores, "AB", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    with stores[0] as store, stores[1]:
        assert_ranges_tile(store, start)
        assert sum(r.events for r in results) == store.event_count()  # no event counted by both
        assert {r.writer for r in store.ranges()} <= {"A", "B"}
        with reference(w3, meter, new_store_url(), start) as once:
            assert store.events() == once.events()
        assert_invoices_match_counters(driver, store, tf)


_KILLED_MID_RANGE = textwrap.dedent("""
    import sys, time
    from web3 import Web3
    from metering.audit.indexer import Indexer
    from metering.audit.store import Store

    url, rpc, contract, start = sys.argv[1:5]
    store = Store(url, chain_id=31337, contract=contract)
    store.writer = "killed"
    backend = type(store)
    insert = backend._insert_events
    calls = []

    def insert_then_hang(self, rows, new):
        inserted = insert(self, rows, new)
        calls.append(1)
        if len(calls) == 2:  # the second range is written but not committed, the write lock held
            print("mid-range", flush=True)
            time.sleep(600)
        return inserted

    backend._insert_events = insert_then_hang
    Indexer(Web3(Web3.HTTPProvider(rpc)), contract, store, start_block=int(start), max_range=3).sync()
""")


def test_an_indexer_killed_mid_range_leaves_no_trace_and_another_one_takes_over(
    driver: Driver, node: LocalNode, w3: Web3, meter: Contract, store_url: str, new_store_url: Callable[[], str]
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    Store(store_url, chain_id=31337, contract=meter.address).close()
    victim = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_RANGE, store_url, node.rpc_url, meter.address, str(start)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert victim.stdout is not None
        line = victim.stdout.readline()  # waits for the victim to be inside its second range's transaction
        assert line.strip() == "mid-range", victim.stderr.read() if victim.stderr else ""
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait(30)
    with Store(store_url, chain_id=31337, contract=meter.address) as store:
        committed = store.ranges()
        assert [r.writer for r in committed] == ["killed"]  # its first range only: the second never committed
        store.writer = "survivor"
        Indexer(w3, meter.address, store, max_range=3).sync()  # the lock died with the victim: no wait
        assert_ranges_tile(store, start)
        assert {r.writer for r in store.ranges()} == {"killed", "survivor"}
        with reference(w3, meter, new_store_url(), start) as once:
            assert store.events() == once.events()
        assert_invoices_match_counters(driver, store, tf)


def test_a_range_that_does_not_continue_the_cursor_or_its_chain_is_refused(store_url: str) -> None:
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    with Store(store_url, chain_id=1, contract=contract) as store:
        store.set_first_block(10)
        with pytest.raises(RangeTakenError, match="do not continue"):
            store.append_rows([], [StoredBlock(20, b"\1" * 32, 5)], 20, first_block=11)
        store.append_rows([], [StoredBlock(20, b"\1" * 32, 5)], 20, first_block=10)
        with pytest.raises(RangeTakenError, match="do not continue"):  # the same range again: already stored
            store.append_rows([], [StoredBlock(20, b"\1" * 32, 5)], 20, first_block=10)
        with pytest.raises(RangeTakenError, match="not the parent"):  # read on a chain that was replaced since
            store.append_rows([], [StoredBlock(30, b"\3" * 32, 6)], 30, first_block=21, parent_hash=b"\2" * 32)
        store.append_rows([], [StoredBlock(30, b"\3" * 32, 6)], 30, first_block=21, parent_hash=b"\1" * 32)
        assert store.last_block == 30
        assert [(r.first_block, r.last_block) for r in store.ranges()] == [(10, 20), (21, 30)]
        store.rollback_after(25)
        assert [(r.first_block, r.last_block) for r in store.ranges()] == [(10, 20), (21, 25)]


def test_a_range_whose_rows_fail_while_written_is_rolled_back_and_a_taken_one_is_never_decoded(
    store_url: str,
) -> None:
    """An indexer hands a range over as rows decoded while they are written (PostgreSQL's COPY inserts the first
    while the next are decoded) and its block hashes as a function called once they are: a decoding error in the
    middle leaves nothing of the range behind, and a range another writer took is refused before any row is
    decoded (the adversary: a node answering a malformed log, another indexer getting there first)."""
    logs = [granted_log(12 + i // 3, i % 3, f"r{i}") for i in range(9)]
    built = rows(logs)
    seen: list[str] = []

    def failing() -> Iterator[tuple[Any, ...]]:
        for at, row in enumerate(built):
            seen.append("row")
            if at == 6:
                raise IndexingError("the node returned a Meter log that does not decode (test)")
            yield row

    def counted() -> Iterator[tuple[Any, ...]]:
        for row in built:
            seen.append("row")
            yield row

    def blocks() -> list[StoredBlock]:
        seen.append("blocks")
        return [StoredBlock(n, ident(f"block{n}"), 9 if n == 14 else None) for n in (12, 13, 14)]

    with Store(store_url, chain_id=1, contract=CONTRACT) as store:
        store.set_first_block(10)
        with pytest.raises(IndexingError, match="does not decode"):
            store.append_rows(failing(), blocks, 14, first_block=10)
        assert (store.last_block, store.event_count(), store.block_numbers(), store.customers(1)) == (None, 0, [], [])
        assert seen == ["row"] * 7  # the block hashes were never asked for
        seen.clear()
        assert store.append_rows(iter(built), blocks, 14, first_block=10) == 9
        assert seen == ["blocks"]
        assert store.events() == [event for _, event in logs]
        assert (store.last_block, store.block_numbers(), store.customers(1)) == (14, [12, 13, 14], [CUSTOMER])
        seen.clear()
        with pytest.raises(RangeTakenError):
            store.append_rows(counted(), blocks, 14, first_block=10)
        # Streamed (PostgreSQL): refused under the lock before a row is decoded; SQLite sorts the rows first.
        assert seen == ([] if store.dialect == "postgres" else ["row"] * 9)
        if store.dialect == "postgres":  # a streamed row is checked to lie in its range as it passes
            with pytest.raises(StoreError, match="lies before the range"):
                store.append_rows(iter(built[:1]), blocks, 20, first_block=15)
            assert (store.last_block, store.event_count()) == (14, 9)


# ---------------------------------------------------------------------------------------------- readers


def test_a_snapshot_reads_one_state_while_an_indexer_commits(
    driver: Driver, w3: Web3, meter: Contract, store_url: str
) -> None:
    start = w3.eth.block_number + 1
    busy_timeframe(driver)
    middle = (start + w3.eth.block_number) // 2
    with (
        Store(store_url, chain_id=31337, contract=meter.address) as writer,
        Store(store_url, chain_id=31337, contract=meter.address) as reader,
    ):
        indexer = Indexer(w3, meter.address, writer, start_block=start)
        indexer.sync(to_block=middle)
        with reader.snapshot():
            seen = (reader.last_block, reader.event_count())
            indexer.sync()
            assert (reader.last_block, reader.event_count()) == seen
            assert not reader.remember_block(StoredBlock(start, b"\0" * 32, 1))  # nothing is written inside one
        assert (reader.last_block, reader.event_count()) == (writer.last_block, writer.event_count())
        assert reader.event_count() > seen[1]


# ---------------------------------------------------------------------------------------------- migrations


_AFTER_3 = ("ranges", "watch_cursor", "watch_marks", "outbox")  # the tables of versions 4 and 5


def downgrade_to_3(url: str) -> None:
    """Make the database what schema version 3 wrote: no ranges table, no watch outbox."""
    location = parse_location(url)
    if location.backend == "sqlite":
        with sqlite3.connect(location.target) as db:
            for table in _AFTER_3:
                db.execute(f"DROP TABLE {table}")
            db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for table in _AFTER_3:
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def set_version(url: str, version: int) -> None:
    location = parse_location(url)
    if location.backend == "sqlite":
        with sqlite3.connect(location.target) as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(version),))


def test_an_older_database_is_refused_naming_the_command_that_upgrades_it(
    driver: Driver, w3: Web3, meter: Contract, store_url: str
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    with Store(store_url, chain_id=31337, contract=meter.address) as store:
        Indexer(w3, meter.address, store, start_block=start).sync()
        before = store.events()
    downgrade_to_3(store_url)
    with pytest.raises(StoreError, match=f"schema version 3, this metering reads {SCHEMA_VERSION}: upgrade it "
                                         "with `metering db migrate"):
        Store(store_url)
    with Store(store_url, upgrade=True) as upgraded:
        assert (upgraded.upgraded_from, upgraded.schema_version) == (3, SCHEMA_VERSION)
        assert [(r.first_block, r.last_block) for r in upgraded.ranges()] == [(start, upgraded.last_block)]
        assert upgraded.events() == before
        Indexer(w3, meter.address, upgraded).sync()  # and it is indexed on
        assert_invoices_match_counters(driver, upgraded, tf)
    with Store(store_url, upgrade=True) as again:  # a second migrate is a no-op
        assert again.upgraded_from is None


@pytest.mark.parametrize(("version", "message"), [
    (2, "upgrades from 3 on: index into a new database"),
    (99, f"newer than this metering's {SCHEMA_VERSION}: upgrade metering"),
])
def test_a_database_of_an_unknown_schema_is_refused(store_url: str, version: int, message: str) -> None:
    Store(store_url, chain_id=1, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3").close()
    set_version(store_url, version)
    with pytest.raises(StoreError, match=message):
        Store(store_url, upgrade=True)


# ---------------------------------------------------------------------------------------------- copying


def test_a_copied_history_gives_the_same_invoices_on_the_other_backend(
    driver: Driver, w3: Web3, meter: Contract, store_url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    driver.chain.mine(tf.end + 10)  # one final invoice per customer, and one running statement below
    driver.timeframe({1: DB}, enroll=[])
    with Store(store_url, chain_id=31337, contract=meter.address) as store:
        Indexer(w3, meter.address, store, start_block=start, max_range=5).sync()
    other = str(tmp_path / "copy.sqlite") if store_url.startswith("postgresql") else postgres.new_url()
    origin, copied, count = copy_history(store_url, other)
    with origin, copied:
        assert count == origin.event_count() == copied.event_count() > 20
        assert copied.ranges() == origin.ranges()
        assert copied.block_numbers() == origin.block_numbers()
        assert (copied.first_block, copied.last_block) == (origin.first_block, origin.last_block)
        check = compare_invoices(origin, copied, NodeClock(w3))
        assert check.identical and check.timeframes == 2 and check.invoices >= 2, check
        with pytest.raises(StoreError, match="already holds events"):
            origin.copy_into(copied)
        copied.rollback_after(start + 3)  # a copy that lost rows is caught
        assert not compare_invoices(origin, copied, NodeClock(w3)).identical


# ---------------------------------------------------------------------------------------------- locations


def test_locations_name_their_backend_and_never_show_a_password() -> None:
    assert parse_location("sqlite:///var/db/events.sqlite").target == "/var/db/events.sqlite"
    assert parse_location("events.sqlite").backend == "sqlite"
    pg = parse_location("postgresql://meter:s3cret@db.internal:5433/history")
    assert (pg.backend, pg.shown) == ("postgres", "postgresql://meter:***@db.internal:5433/history")
    assert "s3cret" not in pg.shown and "s3cret" in pg.target
    with pytest.raises(StoreError, match="mysql:// is not a database"):
        parse_location("mysql://db/x")
    with pytest.raises(StoreError, match="names no file"):
        parse_location("sqlite://")


def test_an_unreachable_postgresql_server_is_one_clear_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match=r"cannot connect to the event database postgresql://u:\*\*\*@127.0.0.1:9/x"
                       ) as caught:
        Store("postgresql://u:hunter2@127.0.0.1:9/x?connect_timeout=2")
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------------------------------------- the list API


def test_invoices_for_timeframe_is_a_sequence_that_holds_no_invoice(
    driver: Driver, w3: Web3, meter: Contract, store: Store
) -> None:
    from metering.audit.billing import invoices_for_timeframe, iter_invoices
    from metering.audit.invoice import to_canonical_json

    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    Indexer(w3, meter.address, store, start_block=start).sync()
    clock = NodeClock(w3, store)
    streamed = [to_canonical_json(i) for i in iter_invoices(store, tf.id, clock)]
    invoices = invoices_for_timeframe(store, tf.id, clock)
    assert [to_canonical_json(i) for i in invoices] == streamed == [to_canonical_json(i) for i in invoices]
    assert len(invoices) == len(streamed) == len(store.customers(tf.id)) == 2
    assert to_canonical_json(invoices[-1]) == streamed[-1]
    assert [to_canonical_json(i) for i in invoices[::-1]] == streamed[::-1]
    assert not invoices[5:]
    with pytest.raises(IndexError):
        invoices[2]


def test_only_a_range_s_transaction_commits_without_waiting_for_the_server_s_log(postgres: PostgresServer) -> None:
    # Adversary: a server crash right after a range's commit. That transaction is asynchronous (synchronous_commit
    # off): lost, it is lost with the cursor it moved (the log keeps commits in order), and the range is read again.
    # Bound: only it; the session and every other write commit as the server is configured.
    logs = [granted_log(10, 0, "a"), granted_log(10, 1, "b")]
    with Store(postgres.new_url(), chain_id=1, contract=CONTRACT) as store:
        during: list[str] = []
        insert = store._insert_events

        def watched(written: Any, new: bool) -> int:
            count = insert(written, new)
            during.append(store._fetch("SHOW synchronous_commit")[0][0])
            return count

        store._insert_events = watched  # type: ignore[method-assign]
        assert store.append_rows(rows(logs), [StoredBlock(10, ident("block10"), 1)], 10, first_block=10) == 2
        assert during == ["off"]
        assert store._fetch("SHOW synchronous_commit")[0][0] == "on"
        store.set_first_block(5)  # a write outside a range
        assert store._fetch("SHOW synchronous_commit")[0][0] == "on"
        assert store.last_block == 10 and store.event_count() == 2
