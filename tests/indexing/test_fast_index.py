"""The fast backfill stores what the reference path stores, byte for byte: the struct decoder against
:class:`RowBuilder` on every event and on malformed logs, and a backfill read ahead by worker processes against one
read in a thread and decoded by the reference builder, on SQLite and PostgreSQL, with a reorg in the middle."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering._utils.storerows import COLUMNS, RowBuilder
from metering._utils.wordrows import FastRowBuilder
from metering.audit import indexer as indexer_module
from metering.audit.events import ActivationGranted
from metering.audit.indexer import Indexer
from metering.audit.store import Store
from metering.errors import IndexingError

from ._builders import ident
from .conftest import Driver
from .test_events import every_event, raw_logs
from .test_indexer import SEARCH, assert_invoices_match_counters, busy_timeframe


def outcome(build: Callable[[Mapping[str, Any]], Any], log: Mapping[str, Any]) -> Any:
    """The row, or the error (its type and message) the builder gives for ``log``."""
    try:
        return build(log)
    except Exception as exc:  # compared, not swallowed: both builders must fail alike
        return (type(exc), str(exc))


def mutations(log: dict[str, Any]) -> list[dict[str, Any]]:
    """Malformed variants of a raw log: each byte that is padding in some type (and its neighbours) set in every
    topic and data word, and the hex and position fields broken in the ways nodes and proxies break them."""
    out: list[dict[str, Any]] = []
    topics, data = log["topics"], log["data"][2:]
    for byte in (0, 7, 11, 12, 23, 24, 30, 31):
        for t in range(1, len(topics)):
            word = bytearray.fromhex(topics[t][2:])
            word[byte] ^= 0xFF
            out.append({**log, "topics": [*topics[:t], "0x" + word.hex(), *topics[t + 1:]]})
        for w in range(len(data) // 64):
            body = bytearray.fromhex(data)
            body[32 * w + byte] ^= 0xFF
            out.append({**log, "data": "0x" + body.hex()})
    out += [
        {**log, "data": log["data"].upper().replace("0X", "0x")},
        {**log, "data": "0X" + data},
        {**log, "data": data},
        {**log, "data": log["data"][:-2]},
        {**log, "data": log["data"][:-64]},
        {**log, "data": log["data"] + "00" * 32},
        {**log, "data": "0x"},
        {**log, "data": None},
        {**log, "data": log["data"][:-1] + "g"},
        {**log, "topics": [t.upper().replace("0X", "0x") for t in topics]},
        {**log, "topics": [*topics[:-1], topics[-1][:-2]]},
        {**log, "topics": [*topics[:-1], "0X" + topics[-1][2:]]},
        {**log, "topics": [*topics[:-1], topics[-1][2:] + "00"]},
        {**log, "topics": [*topics[:-1], ""]},
        {**log, "topics": [*topics[:-1], "0x" + " ".join(topics[-1][k:k + 2] for k in range(2, 66, 2))]},
        {**log, "data": "0x" + " ".join(data[k:k + 2] for k in range(0, len(data), 2))},
        {**log, "topics": topics[:-1]},
        {**log, "logIndex": hex(1 << 24)},
        {**log, "blockNumber": 12},
        {**log, "blockHash": "0xzz"},
    ]
    return out


def test_the_fast_builder_gives_the_reference_row_for_every_event_and_every_malformed_log(
    driver: Driver, meter: Contract, w3: Web3
) -> None:
    logs = raw_logs(w3, meter.address, every_event(driver))
    fast, reference = FastRowBuilder(), RowBuilder()
    # Every event without dynamic data takes the fast path (RulesSet's rules are a tuple: eth_abi decodes them).
    assert {layout.name for layout in fast._layouts.values()} | {"RulesSet"} == {
        outcome(reference.row, log)[5] for log in logs
    }
    for log in logs:
        assert outcome(fast.row, log) == outcome(reference.row, log)
        for variant in mutations(log):
            assert outcome(fast.row, variant) == outcome(reference.row, variant), variant


def test_the_fast_builder_s_blobs_are_bytearrays_stored_as_blobs(driver: Driver, meter: Contract, w3: Web3,
                                                                   tmp_path: Path) -> None:
    # sqlite3 binds a bytearray as a blob without the adapter lookup a bytes value costs (the reason they are
    # bytearrays); they must still be stored as blobs and read back as the same bytes.
    logs = raw_logs(w3, meter.address, every_event(driver))
    fast = FastRowBuilder()
    rows = [row for row in map(fast.row, logs) if row is not None and row[5] != "RulesSet"]
    blobs = ("block_hash", "tx_hash", "instance_id", "topics", "data")
    assert rows and all(type(row[COLUMNS.index(name)]) is bytearray for row in rows for name in blobs
                        if row[COLUMNS.index(name)] is not None)
    db = sqlite3.connect(tmp_path / "blobs.sqlite")
    db.execute(f"CREATE TABLE t ({', '.join(blobs)})")
    db.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in blobs)})",
                   [tuple(row[COLUMNS.index(name)] for name in blobs) for row in rows])
    types = {t for (t,) in db.execute(f"SELECT {' || '.join(f'typeof({name})' for name in blobs)} FROM t")}
    assert types <= {"blob" * 5, "blob" * 2 + "null" + "blob" * 2}
    stored = db.execute(f"SELECT {', '.join(blobs)} FROM t").fetchall()
    assert stored == [tuple(None if v is None else bytes(v) for v in (row[COLUMNS.index(n)] for n in blobs))
                      for row in rows]


def table(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in store._fetch(sql)]


def contents(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a sync writes, except who wrote which range and when."""
    return {
        "events": table(store, f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position"),
        "blocks": table(store, "SELECT number, hash, timestamp FROM blocks ORDER BY number"),
        "customers": table(store, "SELECT timeframe, customer FROM customers ORDER BY timeframe, customer"),
        "cursor": table(store, "SELECT last_block FROM cursor"),
        "ranges": table(store, "SELECT first_block, last_block FROM ranges ORDER BY first_block"),
    }


def reference_indexer(w3: Web3, meter: Contract, store: Store, **options: Any) -> Indexer:
    """The path before worker processes: ranges read ahead in a thread, decoded here by the reference builder."""
    indexer = Indexer(w3, meter.address, store, read_ahead="thread", **options)
    indexer._rows = RowBuilder()
    return indexer


def test_a_backfill_read_ahead_by_worker_processes_stores_what_the_reference_path_stores(
    driver: Driver, w3: Web3, meter: Contract, store: Store, new_store_url: Callable[[], str]
) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    fast = Indexer(w3, meter.address, store, start_block=start, max_range=1, read_ahead="process")
    assert fast._uses_processes(w3.eth.block_number - start + 1)
    result = fast.sync()
    assert result.events == store.event_count() > 15
    with Store(new_store_url(), chain_id=31337, contract=meter.address) as once:
        reference_indexer(w3, meter, once, start_block=start, max_range=1).sync()
        assert contents(store) == contents(once)
    assert_invoices_match_counters(driver, store, tf)


def test_a_reorg_during_a_backfill_in_worker_processes_is_found_and_indexed_again(
    driver: Driver, w3: Web3, meter: Contract, store: Store, new_store_url: Callable[[], str]
) -> None:
    c0, c1 = driver.customers[:2]
    start = w3.eth.block_number + 1
    tf = driver.timeframe({3: SEARCH})
    fork = driver.chain.snapshot()
    for i in range(12):
        driver.activate(c0, 3, f"old-{i}", 50, at=tf.start + 10 + i)
    replaced: list[int] = []

    def reorganise(done: int, total: int) -> None:
        if done >= 8 and not replaced:  # old-0.. are stored, the next two ranges are being read: replace the chain
            driver.chain.revert(fork)
            for i in range(14):
                driver.activate(c1, 3, f"new-{i}", 50, at=tf.start + 30 + i)
            replaced.append(done)

    indexer = Indexer(w3, meter.address, store, start_block=start, max_range=1, read_ahead="process")
    first = indexer.sync(progress=reorganise)
    second = indexer.sync()
    assert replaced and first.reorgs + second.reorgs >= 1
    assert first.dropped_events + second.dropped_events >= 3
    granted = {e.instance_id for e in store.events() if isinstance(e, ActivationGranted)}
    assert granted == {ident(f"new-{i}") for i in range(14)}
    assert store.last_block == w3.eth.block_number
    with Store(new_store_url(), chain_id=31337, contract=meter.address) as once:
        reference_indexer(w3, meter, once, start_block=start).sync()
        assert contents(store)["events"] == contents(once)["events"]
    assert_invoices_match_counters(driver, store, tf)


def test_a_sync_of_one_range_or_in_a_thread_forks_nothing(w3: Web3, meter: Contract, store: Store) -> None:
    def forks(mode: Any, blocks: int) -> bool:
        return Indexer(w3, meter.address, store, max_range=10, read_ahead=mode)._uses_processes(blocks)

    assert not forks("process", 10)  # one range: nothing to overlap
    assert forks("process", 11) and forks("process", 1_000)
    assert not forks("thread", 1_000)
    with pytest.raises(ValueError, match="read_ahead"):
        forks("fork", 10)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_answers_parsed_by_the_decoding_thread_store_what_the_reader_parsing_them_stores(
    driver: Driver, w3: Web3, meter: Contract, store: Store, new_store_url: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch, mode: str,
) -> None:
    # Every answer left unparsed by the reader (as a large one is): the rows are those of the reference path.
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    monkeypatch.setattr(indexer_module, "_PARSED_WHERE_READ", 0)
    deferred = Indexer(w3, meter.address, store, start_block=start, max_range=3, read_ahead=mode)
    seen: list[bool] = []
    get_logs = deferred._get_logs

    def watched(first: int, last: int) -> Any:
        logs = get_logs(first, last)
        seen.append(isinstance(logs, indexer_module._Unparsed))
        return logs

    monkeypatch.setattr(deferred, "_get_logs", watched)
    deferred.sync()
    assert mode == "process" or (seen and all(seen))
    with Store(new_store_url(), chain_id=31337, contract=meter.address) as once:
        reference_indexer(w3, meter, once, start_block=start, max_range=3).sync()
        assert contents(store)["events"] == contents(once)["events"]
    assert_invoices_match_counters(driver, store, tf)


def test_an_error_in_an_unparsed_answer_is_judged_as_the_reader_would_judge_it(
    w3: Web3, meter: Contract, store: Store
) -> None:
    indexer = Indexer(w3, meter.address, store)
    params = [{"fromBlock": "0x5", "toBlock": "0x9"}]

    def parsed(answer: dict[str, Any]) -> Any:
        unparsed = indexer_module._Unparsed(json.dumps(answer).encode(), "eth_getLogs", params, True)
        tip = indexer_module._Header(9, b"\x01" * 32, 1)
        return indexer._parsed(indexer_module._Fetched(5, 9, tip, unparsed, None)).logs

    assert parsed({"jsonrpc": "2.0", "id": 1, "result": []}) == []
    with pytest.raises(indexer_module._RangeRefusedError):
        parsed({"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "query returned more than 10000"}})
    with pytest.raises(IndexingError, match="keeps no history at block 5"):
        parsed({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "missing trie node"}})
    with pytest.raises(IndexingError, match="not a list of logs"):
        parsed({"jsonrpc": "2.0", "id": 1, "result": {"logs": []}})
