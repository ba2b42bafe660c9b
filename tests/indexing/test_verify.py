"""verify_invoice: passes an honest invoice, and lists every difference of a tampered one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.errors import VerificationError
from metering.indexer import Indexer
from metering.invoice import Invoice, invoice_from_store, invoice_hash, to_dict, to_json
from metering.store import Store
from metering.types import Rules, Timeframe
from metering.verify import AnchorStatus, Difference, verify_invoice

from .conftest import Driver

DB = Rules(price_per_activation=500, price_per_second=3, included_seconds=60)
CACHE = Rules(price_per_activation=20, price_per_second=1)


def ended_timeframe(driver: Driver) -> Timeframe:
    c0, c1 = driver.customers[:2]
    tf = driver.timeframe({1: DB, 2: CACHE}, length=1_000)
    driver.activate(c0, 1, "db", 300, at=tf.start + 10)
    driver.renew("db", 300, at=tf.start + 200)
    driver.activate(c0, 2, "cache", 100, at=tf.start + 300)
    driver.deactivate("cache", at=tf.start + 350)
    driver.activate(c1, 1, "other", 100, at=tf.start + 400)
    driver.chain.mine(tf.end + 1)
    return tf


@pytest.fixture
def honest(driver: Driver, w3: Web3, meter: Contract, store: Store) -> Invoice:
    tf = ended_timeframe(driver)
    Indexer(w3, meter.address, store).sync()
    invoice = invoice_from_store(store, driver.customers[0], tf.id)
    assert invoice.final
    assert invoice.line(1).seconds == 490
    return invoice


def wheres(differences: tuple[Difference, ...]) -> set[str]:
    return {d.where for d in differences}


def test_an_honest_anchored_invoice_passes(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                           honest: Invoice, tmp_path: Path) -> None:
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    path = tmp_path / "invoice.json"
    path.write_bytes(to_json(honest))
    for given in (honest, path, str(path), path.read_bytes()):
        report = verify_invoice(w3, meter.address, store, given)
        assert report.ok, report.differences
        assert report.anchor is AnchorStatus.MATCHES
        assert report.anchored_hash == report.invoice_hash == report.recomputed_hash == invoice_hash(honest)


def test_changed_seconds_and_total_are_each_reported(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                                     honest: Invoice, tmp_path: Path) -> None:
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    line = honest.line(1)
    forged = dataclasses.replace(
        honest,
        lines=(dataclasses.replace(line, seconds=line.seconds - 100), *honest.lines[1:]),
        total=honest.total - 300,
    )
    path = tmp_path / "forged.json"
    path.write_bytes(to_json(forged))  # a consistent file: its hash field matches the forged content
    report = verify_invoice(w3, meter.address, store, path)
    assert not report.ok
    assert report.anchor is AnchorStatus.DIFFERS
    assert wheres(report.differences) == {
        "lines[type=1].seconds",
        "total",
        "usage[type=1].seconds (on-chain counter)",
        "hash",
        "anchor.hash",
    }
    by_where = {d.where: d for d in report.differences}
    assert (by_where["lines[type=1].seconds"].expected, by_where["lines[type=1].seconds"].found) == (490, 390)
    assert by_where["usage[type=1].seconds (on-chain counter)"].expected == 490
    assert by_where["total"].found == honest.total - 300
    assert report.recomputed == honest


def test_a_hash_that_differs_from_the_anchor_is_reported(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                                         honest: Invoice) -> None:
    cheaper = dataclasses.replace(honest, total=honest.total - 1)
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(cheaper), cheaper.total)
    report = verify_invoice(w3, meter.address, store, honest)
    assert report.anchor is AnchorStatus.DIFFERS
    assert report.differences == (
        Difference("anchor.hash", "0x" + invoice_hash(cheaper).hex(), "0x" + invoice_hash(honest).hex()),
    )


def test_a_corrected_anchor_is_the_one_compared(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                                honest: Invoice) -> None:
    wrong = dataclasses.replace(honest, total=honest.total + 1)
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(wrong), wrong.total)
    driver.correct(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    assert verify_invoice(w3, meter.address, store, honest).anchor is AnchorStatus.MATCHES


def test_a_missing_anchor_is_reported_apart_from_a_wrong_one(w3: Web3, meter: Contract, store: Store,
                                                             honest: Invoice) -> None:
    report = verify_invoice(w3, meter.address, store, honest)
    assert report.anchor is AnchorStatus.NOT_ANCHORED
    assert report.anchored_hash is None
    assert report.ok
    strict = verify_invoice(w3, meter.address, store, honest, require_anchor=True)
    assert not strict.ok
    assert strict.differences == (Difference("anchor", "anchored", "not anchored"),)


def test_a_file_edited_after_it_was_issued_shows_a_stale_hash_field(w3: Web3, meter: Contract, store: Store,
                                                                    honest: Invoice, tmp_path: Path) -> None:
    document = json.loads(to_json(honest))
    document["lines"][1]["price_per_activation"] = 1
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document, indent=2))
    report = verify_invoice(w3, meter.address, store, path)
    assert "hash field (of the file's content)" in wheres(report.differences)
    assert "lines[type=2].price_per_activation" in wheres(report.differences)


def test_dropped_evidence_is_listed(w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    dropped = honest.evidence.events[1]
    kept = honest.evidence.events[:1] + honest.evidence.events[2:]
    thinner = dataclasses.replace(honest, evidence=dataclasses.replace(honest.evidence, events=kept))
    report = verify_invoice(w3, meter.address, store, thinner)
    assert f"evidence.events[log=0x{dropped.tx_hash.hex()}#{dropped.log_index}]" in wheres(report.differences)


def test_an_invoice_for_another_chain_or_contract_differs(w3: Web3, meter: Contract, store: Store,
                                                           honest: Invoice) -> None:
    elsewhere = dataclasses.replace(honest, evidence=dataclasses.replace(honest.evidence, chain_id=1))
    report = verify_invoice(w3, meter.address, store, to_json(elsewhere))
    assert Difference("evidence.chain_id", 31337, 1) in report.differences


def test_verification_that_cannot_run_says_why(w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    with pytest.raises(VerificationError, match="malformed"):
        verify_invoice(w3, meter.address, store, b'{"total": 1.5}')
    with pytest.raises(VerificationError, match="cannot read"):
        verify_invoice(w3, meter.address, store, "/nonexistent/invoice.json")
    future = dataclasses.replace(honest, evidence=dataclasses.replace(honest.evidence, to_block=10**6))
    with pytest.raises(VerificationError, match="only blocks up to"):
        verify_invoice(w3, meter.address, store, future)
    document = to_dict(honest)
    document["timeframe"]["id"] = 99
    with pytest.raises(VerificationError, match="timeframe 99"):
        verify_invoice(w3, meter.address, store, json.dumps(document).encode())
