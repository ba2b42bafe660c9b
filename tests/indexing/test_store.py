"""The event database: one chain and contract per file, no duplicates, rollback, an auditor-readable schema."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from metering.audit.events import ActivationGranted, decode_log, topic0
from metering.audit.store import SCHEMA_VERSION, Store, StoredBlock, default_store_path
from metering.errors import StoreError

from ._builders import CONTRACT, CUSTOMER, ident

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


def test_ingesting_a_range_twice_stores_each_event_once(tmp_path: Path) -> None:
    logs = [granted_log(10, 0, "a"), granted_log(10, 1, "b"), granted_log(12, 0, "c")]
    blocks = [StoredBlock(10, ident("block10"), None), StoredBlock(12, ident("block12"), 99)]
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=CONTRACT) as store:
        assert store.append_range(logs, blocks, 12) == 3
        assert store.append_range(logs, blocks, 12) == 0
        assert store.event_count() == 3
        assert store.last_block == 12
        assert store.block(12) == StoredBlock(12, ident("block12"), 99)
        assert [e for e in store.events()] == [event for _, event in logs]
        assert store.events(customer=CUSTOMER.lower(), timeframe=1, from_block=11) == [logs[2][1]]
        assert store.customers(1) == [CUSTOMER]


def test_rollback_forgets_events_and_hashes_above_the_fork(tmp_path: Path) -> None:
    logs = [granted_log(10, 0, "a"), granted_log(12, 0, "b")]
    blocks = [StoredBlock(10, ident("block10"), None), StoredBlock(12, ident("block12"), 5)]
    with Store(tmp_path / "db.sqlite", chain_id=1, contract=CONTRACT) as store:
        store.set_first_block(3)
        store.set_first_block(9)  # the first call wins: a resumed indexer cannot move the start
        store.append_range(logs, blocks, 12)
        assert store.rollback_after(11) == 1
        assert (store.last_block, store.block_numbers(), store.event_count()) == (11, [10], 1)
        assert store.rollback_after(None) == 1
        assert (store.last_block, store.first_block, store.event_count()) == (None, 3, 0)


def test_decoded_fields_are_readable_json_with_integers_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with Store(path, chain_id=1, contract=CONTRACT) as store:
        store.append_range([granted_log(10, 0, "a")], [StoredBlock(10, ident("block10"), 1)], 10)
    with sqlite3.connect(path) as db:
        event, customer, fields = db.execute("SELECT event, customer, fields FROM events").fetchone()
    assert (event, customer) == ("ActivationGranted", CUSTOMER)
    assert json.loads(fields)["lease_end"] == "1100"
    assert json.loads(fields)["instance_id"] == "0x" + ident("a").hex()
