"""The event database: one chain and contract per file, no duplicates, rollback, an auditor-readable schema, and
queries that read one index in its order (no temporary sort)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering._utils.storerows import RowBuilder, row_of_event
from metering.audit.events import EVENT_TYPES, ActivationGranted, InvoiceAnchored, decode_log, topic0
from metering.audit.store import SCHEMA_VERSION, Store, StoredBlock, default_store_path
from metering.errors import StoreError

from ._builders import CONTRACT, CUSTOMER, ident
from .conftest import Driver
from .test_events import every_event, raw_logs

OTHER_CONTRACT = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def granted_log(block: int, index: int, name: str) -> tuple[dict[str, Any], ActivationGranted]:
    """A raw log of ActivationGranted as a node returns it, with its decoded event."""

    data = b"".join(v.to_bytes(32, "big") for v in (1, 1_000, 1_100, 0))
    raw = {
        "address": CONTRACT.lower(),
        "blockNumber": hex(block),
        "blockHash": "0x" + ident(f"block{block}").hex(),
        "transactionHash": "0x" + ident(f"tx{block}").hex(),
        "logIndex": hex(index),
        "topics": [
            "0x" + topic0("ActivationGranted").hex(),
            "0x" + ident(name).hex(),
            "0x" + bytes.fromhex(CUSTOMER[2:]).rjust(32, b"\0").hex(),
            "0x" + (7).to_bytes(32, "big").hex(),
        ],
        "data": "0x" + data.hex(),
    }
    event = decode_log(raw)
    assert isinstance(event, ActivationGranted)
    return raw, event


def test_a_new_store_records_its_chain_contract_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "db.sqlite"
    with Store(path, chain_id=5, contract=CONTRACT.lower()) as store:
        assert (store.chain_id, store.contract) == (5, CONTRACT)
        assert store.last_block is None
    with sqlite3.connect(path) as db:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert meta == {"schema_version": str(SCHEMA_VERSION), "chain_id": "5", "contract": CONTRACT}


def test_a_store_refuses_another_chain_or_contract(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Store(path, chain_id=5, contract=CONTRACT).close()
    with pytest.raises(StoreError, match="chain 5, not chain 6"):
        Store(path, chain_id=6, contract=CONTRACT)
    with pytest.raises(StoreError, match="not 0xe7f1725E"):
        Store(path, chain_id=5, contract=OTHER_CONTRACT)
    with Store(path) as reopened:  # an auditor opens it for what it holds
        assert (reopened.chain_id, reopened.contract) == (5, CONTRACT)


def test_a_store_refuses_files_it_cannot_read(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a metering event database"):
        Store(junk, chain_id=1, contract=CONTRACT)
    with pytest.raises(StoreError, match="index the contract first"):
        Store(tmp_path / "missing.sqlite")
    old = tmp_path / "old.sqlite"
    Store(old, chain_id=1, contract=CONTRACT).close()
    with sqlite3.connect(old) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 0"):
        Store(old, chain_id=1, contract=CONTRACT)


def test_the_default_path_is_per_chain_and_contract_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platformdirs.user_data_dir", lambda app: f"/data/{app}")
    assert default_store_path(31337, CONTRACT.lower()) == Path(f"/data/metering/31337-{CONTRACT}.sqlite")


def rows(logs: list[tuple[dict[str, Any], Any]]) -> list[tuple[Any, ...]]:
    """The rows the indexer stores for these raw logs."""
    builder = RowBuilder()
    built = [builder.row(raw) for raw, _ in logs]
    assert all(row is not None for row in built)
    return [row for row in built if row is not None]


def test_ingesting_a_range_twice_stores_each_event_once(tmp_path: Path) -> None:
    logs = [granted_log(10, 0, "a"), granted_log(10, 1, "b"), granted_log(12, 0, "c")]
    blocks = [StoredBlock(10, ident("block10"), None), StoredBlock(12, ident("block12"), 99)]
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=CONTRACT) as store:
        assert store.append_rows(rows(logs), blocks, 12) == 3
        assert store.append_rows(rows(logs)[::-1], blocks, 12) == 0
        assert store.append_events([event for _, event in logs], blocks, 12) == 0  # the same rows
        assert store.event_count() == 3
        assert store.last_block == 12
        assert store.block(12) == StoredBlock(12, ident("block12"), 99)
        assert [e for e in store.events()] == [event for _, event in logs]
        assert store.events(customer=CUSTOMER.lower(), timeframe=1, from_block=11) == [logs[2][1]]
        assert store.customers(1) == [CUSTOMER]


def test_rows_go_in_by_the_hundred_and_one_by_one_with_the_same_counts_and_rows(tmp_path: Path) -> None:
    """A range is inserted 100 rows to a statement, the rest row by row: across a statement's edge, rows already
    stored are skipped and counted out, and the table holds exactly what one row at a time gives."""
    logs = [granted_log(10 + i // 60, i % 60, f"i{i}") for i in range(237)]
    built = rows(logs)
    last = built[-1][1]
    tip = [StoredBlock(last, ident("tip"), 7)]
    with Store(tmp_path / "many.sqlite", chain_id=1, contract=CONTRACT) as store:
        assert store.append_rows(built[:150], tip, last) == 150
        assert store.append_rows(built, tip, last) == 87  # 150 stored: one statement of 100 skips all, one half
        assert store.append_rows(built[::-1], tip, last) == 0
        assert store.events() == [event for _, event in logs]
    with Store(tmp_path / "single.sqlite", chain_id=1, contract=CONTRACT) as store:
        for row in built:
            assert store.append_rows([row], tip, last) == 1
    tables = []
    for name in ("many", "single"):
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as db:
            tables.append(db.execute("SELECT * FROM events ORDER BY position").fetchall())
    assert len(tables[0]) == 237 and tables[0] == tables[1]


def test_blobs_and_nulls_bind_through_adapters_that_return_them_unchanged(tmp_path: Path) -> None:
    """The store registers identity adapters for exactly ``bytes`` and ``None`` (binding them skips two failed
    attribute lookups); what is stored is what any sqlite3 program stores, and subclasses are not matched."""
    import metering.audit.stores.sqlite  # noqa: F401 - registers the adapters

    assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)](b"\x00\x01") == b"\x00\x01"
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None

    class Hex(bytes):
        pass

    with sqlite3.connect(tmp_path / "plain.sqlite") as db:
        db.execute("CREATE TABLE t (a, b, c)")
        db.execute("INSERT INTO t VALUES (?, ?, ?)", (b"\x00\xff", None, Hex(b"\x01")))
        assert db.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t").fetchone() == (
            b"\x00\xff", "blob", None, "null", b"\x01", "blob")


def test_a_new_store_has_16_kib_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    logs = [granted_log(10, 0, "a")]
    with Store(tmp_path / "new.sqlite", chain_id=1, contract=CONTRACT):
        pass
    with sqlite3.connect(tmp_path / "new.sqlite") as db:
        assert db.execute("PRAGMA page_size").fetchone() == (16_384,)
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:  # a file written with SQLite's default pages, as before
        db.execute("PRAGMA page_size=4096")
        db.execute("PRAGMA journal_mode=WAL")
    with Store(old, chain_id=1, contract=CONTRACT) as store:
        assert store.append_rows(rows(logs), [StoredBlock(10, ident("block10"), 1)], 10) == 1
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (4_096,)
    with Store(old) as store:
        assert store.events() == [logs[0][1]]


def test_the_write_ahead_log_is_checkpointed_by_a_thread_and_the_rest_at_close(tmp_path: Path) -> None:
    """The writing connection never checkpoints by itself; a thread does after each commit, so the committed pages
    reach the database file while the writer goes on, and closing copies the rest and stops the thread."""
    import threading

    path = tmp_path / "db.sqlite"
    logs = [granted_log(10 + i // 50, i % 50, f"i{i}") for i in range(500)]
    built = rows(logs)
    with Store(path, chain_id=1, contract=CONTRACT) as store:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        assert [t.name for t in threading.enumerate()].count("metering-checkpoint") == 1
        before = path.stat().st_size  # the schema's pages: the range is in the log only, until a checkpoint
        store.append_rows(built, [StoredBlock(built[-1][1], ident("tip"), 1)], built[-1][1])
        deadline = time.monotonic() + 10
        while path.stat().st_size < before + 500 * 300 and time.monotonic() < deadline:
            time.sleep(0.01)  # the thread copies the range into the file (nothing here checkpoints)
        assert path.stat().st_size >= before + 500 * 300
    assert "metering-checkpoint" not in [t.name for t in threading.enumerate()]
    assert not path.with_name("db.sqlite-wal").exists()  # the last connection closed: the log was copied
    with Store(path) as store:
        assert store.event_count() == 500


def test_rollback_forgets_events_and_hashes_above_the_fork(tmp_path: Path) -> None:
    logs = [granted_log(10, 0, "a"), granted_log(12, 0, "b")]
    blocks = [StoredBlock(10, ident("block10"), None), StoredBlock(12, ident("block12"), 5)]
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=CONTRACT) as store:
        store.set_first_block(3)
        store.set_first_block(9)  # the first call wins: a resumed indexer cannot move the start
        store.append_rows(rows(logs), blocks, 12)
        assert store.customers(1) == [CUSTOMER]
        assert store.rollback_after(11) == 1
        assert store.customers(1) == [CUSTOMER]  # still a decision at block 10
        assert (store.last_block, store.block_numbers(), store.event_count()) == (11, [10], 1)
        assert store.rollback_after(None) == 1
        assert store.customers(1) == []  # its only decision is gone
        assert (store.last_block, store.first_block, store.event_count()) == (None, 3, 0)


def test_a_grants_fields_are_typed_columns_next_to_its_raw_log(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    raw, _ = granted_log(10, 3, "a")
    with Store(path, chain_id=1, contract=CONTRACT) as store:
        store.append_rows(rows([(raw, _)]), [StoredBlock(10, ident("block10"), 1)], 10)
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT position, block_number, log_index, hex(tx_hash), event, timeframe, customer, hex(instance_id), "
            "instance_type, started_at, lease_end, stopped_at, overage, fields, topics, data FROM events"
        ).fetchone()
    (position, block, log_index, tx_hash, event, timeframe, customer, instance, kind, started, lease_end, stopped,
     overage, fields, topics, data) = row
    assert (position, block, log_index) == ((10 << 24) + 3, 10, 3)
    assert (event, timeframe, customer, kind, started, lease_end, stopped, overage) == (
        "ActivationGranted", 1, CUSTOMER, 7, 1_000, 1_100, None, 0
    )
    assert (tx_hash.lower(), instance.lower()) == (ident("tx10").hex(), ident("a").hex())
    assert json.loads(fields) == {}  # every field of a grant is a column of its own
    # the log as the node gave it
    assert (topics, data) == (b"".join(bytes.fromhex(t[2:]) for t in raw["topics"]), bytes.fromhex(raw["data"][2:]))


def test_fields_without_a_column_are_json_with_integers_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    anchored = InvoiceAnchored(block_number=10, block_hash=ident("block10"), tx_hash=ident("tx10"), log_index=0,
                               customer=CUSTOMER, timeframe=4, invoice_hash=ident("invoice"), total=2**200 + 1)
    with Store(path, chain_id=1, contract=CONTRACT) as store:
        store.append_events([anchored], [StoredBlock(10, ident("block10"), 1)], 10)
        assert store.events() == [anchored]
    with sqlite3.connect(path) as db:
        customer, timeframe, fields = db.execute("SELECT customer, timeframe, fields FROM events").fetchone()
    assert (customer, timeframe) == (CUSTOMER, 4)
    assert json.loads(fields) == {"invoice_hash": "0x" + ident("invoice").hex(), "total": str(2**200 + 1)}


def test_reads_use_the_index_in_its_order_without_a_temporary_sort(tmp_path: Path) -> None:
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=CONTRACT) as store:
        db = store._db

        def plan(query: str, params: list[Any]) -> str:
            return " | ".join(str(r[3]) for r in db.execute(f"EXPLAIN QUERY PLAN {query}", params))

        every = plan(*_billing_query(store, None))
        one = plan(*_billing_query(store, CUSTOMER))
        for found in (every, one):
            assert "USING COVERING INDEX events_by_customer" in found, found
            assert "TEMP B-TREE" not in found, found
        stream = plan("SELECT * FROM events WHERE timeframe = ? AND customer = ? ORDER BY position DESC LIMIT 50",
                      [1, CUSTOMER])
        assert "events_by_customer" in stream and "TEMP B-TREE" not in stream, stream
        assert "TEMP B-TREE" not in plan("SELECT * FROM events ORDER BY position DESC LIMIT 50", [])
        setup = plan("SELECT * FROM events WHERE timeframe = ? AND event IN (?, ?)",
                     [1, "TimeframeCreated", "RulesSet"])
        assert "events_by_name" in setup, setup


def _billing_query(store: Store, customer: str | None) -> tuple[str, list[Any]]:
    """The query :meth:`Store.billing_rows` runs, captured through SQLite's trace callback."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    try:
        list(store.billing_rows(1, ["ActivationGranted", "ActivationDenied"], customer=customer))
    finally:
        store._db.set_trace_callback(None)
    statement = seen[-1]
    # The trace shows the statement with its parameters bound; EXPLAIN it as it ran.
    return statement, []


def test_every_event_is_stored_and_read_back_as_the_reference_decoder_gives_it(
    driver: Driver, meter: Contract, w3: Web3, tmp_path: Path
) -> None:
    logs = raw_logs(w3, meter.address, every_event(driver))
    reference = [decode_log(raw) for raw in logs]
    assert {type(e) for e in reference} == set(EVENT_TYPES.values())
    built = rows([(raw, None) for raw in logs])
    # An event's row, with its raw topics and data, is the same whether built from the log or from the event.
    assert [row_of_event(event) for event in reference if event is not None] == built
    last = max(row[1] for row in built)
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=meter.address) as store:
        store.append_rows(built, [StoredBlock(last, ident("tip"), None)], last)
        assert store.events() == reference  # built from the stored fields, not decoded again
        assert store.events(newest_first=True, limit=3, offset=1) == reference[::-1][1:4]
