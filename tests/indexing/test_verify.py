"""verify_invoice against anvil: an honest final invoice passes, also after late expiries; every hole of issue 9 is
closed (a statement anchored or given as final, another block range, evidence missing, extra, duplicated or
reordered, an anchor mismatch), each failing with the field named."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.audit.billing import final_invoice, statement
from metering.audit.blocktime import NodeClock
from metering.audit.indexer import Indexer
from metering.audit.invoice import Charge, EvidenceEvent, Invoice, invoice_hash, to_dict, to_json
from metering.audit.store import Store
from metering.audit.verify import AnchorStatus, Difference, verify_invoice
from metering.errors import InvoiceError, VerificationError
from metering.types import Rules, Timeframe

from .conftest import Driver

CENT = 1_000_000
DB = Rules(price_per_activation=500 * CENT, price_per_time_unit=3 * CENT, included_seconds=60)
CACHE = Rules(price_per_activation=20 * CENT, price_per_time_unit=12 * CENT, time_unit_seconds=3_600)


@dataclasses.dataclass(frozen=True)
class Ended:
    timeframe: Timeframe
    created_block: int
    mid_block: int  # a block in the middle of the timeframe


def ended_timeframe(driver: Driver) -> Ended:
    c0, c1 = driver.customers[:2]
    created = driver.w3.eth.block_number + 1
    tf = driver.timeframe({1: DB, 2: CACHE}, length=1_000)
    driver.activate(c0, 1, "db", 300, at=tf.start + 10)
    driver.renew("db", 300, at=tf.start + 200)  # runs to +500, closed by nobody
    driver.activate(c0, 2, "cache", 100, at=tf.start + 300)
    mid = driver.w3.eth.block_number
    driver.deactivate("cache", at=tf.start + 350)
    driver.activate(c1, 1, "other", 100, at=tf.start + 400)
    driver.chain.mine(tf.end + 1)
    return Ended(tf, created, mid)


@pytest.fixture
def ended(driver: Driver) -> Ended:
    return ended_timeframe(driver)


@pytest.fixture
def honest(driver: Driver, w3: Web3, meter: Contract, store: Store, ended: Ended) -> Invoice:
    Indexer(w3, meter.address, store).sync()
    invoice = final_invoice(store, driver.customers[0], ended.timeframe.id, NodeClock(w3, store))
    assert invoice.final
    assert invoice.line(1).quantity == 490
    assert invoice.evidence.from_block == ended.created_block
    return invoice


def wheres(differences: tuple[Difference, ...]) -> set[str]:
    return {d.where for d in differences}


def with_events(invoice: Invoice, events: tuple[EvidenceEvent, ...]) -> Invoice:
    return dataclasses.replace(invoice, evidence=dataclasses.replace(invoice.evidence, events=events))


# ---------------------------------------------------------------------------------------------------- honest


def test_an_honest_anchored_invoice_passes(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                           honest: Invoice, tmp_path: Path) -> None:
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    path = tmp_path / "invoice.json"
    path.write_bytes(to_json(honest))
    for given in (honest, path, str(path), path.read_bytes()):
        report = verify_invoice(w3, meter.address, store, given, require_anchor=True)
        assert report.ok, report.differences
        assert report.anchor is AnchorStatus.MATCHES
        assert report.anchored_hash == report.invoice_hash == report.recomputed_hash == invoice_hash(honest)


def test_the_final_invoice_ends_at_the_first_block_at_or_after_the_timeframe_end(
    w3: Web3, honest: Invoice, ended: Ended
) -> None:
    to_block = honest.evidence.to_block
    assert w3.eth.get_block(to_block)["timestamp"] >= ended.timeframe.end > w3.eth.get_block(to_block - 1)["timestamp"]
    assert honest.as_of == ended.timeframe.end


def test_late_expiries_change_neither_the_final_invoice_nor_its_verification(
    driver: Driver, w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended, tmp_path: Path
) -> None:
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    driver.chain.advance(500)
    driver.expire(["db", "other"])  # a third party closes the expired leases long after the end
    driver.chain.advance(500)
    auditor = Store(tmp_path / "auditor.sqlite", chain_id=w3.eth.chain_id, contract=meter.address)
    Indexer(w3, meter.address, auditor).sync()
    later = final_invoice(auditor, honest.customer, ended.timeframe.id, NodeClock(w3, auditor))
    assert to_json(later) == to_json(honest)
    for copy in (honest, later):
        report = verify_invoice(w3, meter.address, auditor, copy, require_anchor=True)
        assert report.ok, report.differences


def test_a_statement_at_a_past_block_verifies_and_bills_only_the_seconds_run(
    driver: Driver, w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended
) -> None:
    clock = NodeClock(w3, store)
    as_of = int(w3.eth.get_block(ended.mid_block)["timestamp"])
    early = statement(store, honest.customer, ended.timeframe.id, clock, as_of=as_of)
    assert (early.final, early.as_of, early.evidence.to_block) == (False, as_of, ended.mid_block)
    # db: granted at +10, renewed to +500; at +300 it has run 290 s, and 200 s are committed
    assert (early.line(1).quantity, early.line(1).committed) == (290, 200)
    assert early.line(2, Charge.ACTIVATIONS).quantity == 1
    report = verify_invoice(w3, meter.address, store, early)
    assert report.ok, report.differences


# ---------------------------------------------------------------------------------------------------- the holes


def test_an_anchored_statement_fails_verification_naming_final(
    driver: Driver, w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended
) -> None:
    as_of = int(w3.eth.get_block(ended.mid_block)["timestamp"])
    early = statement(store, honest.customer, ended.timeframe.id, NodeClock(w3, store), as_of=as_of)
    driver.anchor(early.customer, early.timeframe.id, invoice_hash(early), early.total)  # by mistake, not via the CLI
    report = verify_invoice(w3, meter.address, store, early, require_anchor=True)
    assert not report.ok
    assert "final (only a final invoice can be anchored)" in wheres(report.differences)
    plain = verify_invoice(w3, meter.address, store, early)
    assert plain.anchor is AnchorStatus.MATCHES
    assert wheres(plain.differences) == {"final (an anchored invoice must be final)"}
    # and the real final invoice shows the anchor is wrong
    assert wheres(verify_invoice(w3, meter.address, store, honest).differences) == {"anchor.hash"}


def test_a_statement_given_as_final_fails_naming_the_fields(
    w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended
) -> None:
    as_of = int(w3.eth.get_block(ended.mid_block)["timestamp"])
    early = statement(store, honest.customer, ended.timeframe.id, NodeClock(w3, store), as_of=as_of)
    claimed = dataclasses.replace(early, final=True)
    report = verify_invoice(w3, meter.address, store, claimed)
    assert {"as_of", "evidence.to_block", "hash"} <= wheres(report.differences)
    strict = verify_invoice(w3, meter.address, store, early, require_final=True)
    assert "final (only a final invoice can be anchored)" in wheres(strict.differences)


def test_a_final_invoice_before_the_timeframe_ended_fails_naming_final(
    driver: Driver, w3: Web3, meter: Contract, store: Store
) -> None:
    tf = driver.timeframe({1: DB}, length=1_000)
    driver.activate(driver.customers[0], 1, "db", 300, at=tf.start + 10)
    Indexer(w3, meter.address, store).sync()
    now = statement(store, driver.customers[0], tf.id, NodeClock(w3, store), as_of=driver.chain.now())
    claimed = dataclasses.replace(now, final=True, as_of=tf.end)
    report = verify_invoice(w3, meter.address, store, claimed)
    assert Difference("final", False, True) in report.differences


@pytest.mark.parametrize(("field", "delta"), [("from_block", 3), ("from_block", -1), ("to_block", 1),
                                             ("to_block", -1)])
def test_any_other_block_range_fails_naming_the_field(
    w3: Web3, meter: Contract, store: Store, honest: Invoice, field: str, delta: int
) -> None:
    moved = dataclasses.replace(
        honest, evidence=dataclasses.replace(honest.evidence, **{field: getattr(honest.evidence, field) + delta})
    )
    report = verify_invoice(w3, meter.address, store, moved)
    assert f"evidence.{field}" in wheres(report.differences)


def test_removed_evidence_is_listed(w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    dropped = honest.evidence.events[1]
    thinner = with_events(honest, honest.evidence.events[:1] + honest.evidence.events[2:])
    report = verify_invoice(w3, meter.address, store, thinner)
    assert f"evidence.events[log=0x{dropped.tx_hash.hex()}#{dropped.log_index}]" in wheres(report.differences)
    assert Difference(f"evidence.events[log=0x{dropped.tx_hash.hex()}#{dropped.log_index}]", "present",
                      "missing") in report.differences


def test_extra_evidence_is_listed(driver: Driver, w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    theirs = final_invoice(store, driver.customers[1], honest.timeframe.id, NodeClock(w3, store))
    extra = theirs.evidence.events[0]
    padded = with_events(honest, tuple(sorted((*honest.evidence.events, extra), key=lambda e: e.position)))
    report = verify_invoice(w3, meter.address, store, padded)
    assert Difference(f"evidence.events[log=0x{extra.tx_hash.hex()}#{extra.log_index}]", "absent",
                      "present") in report.differences


def test_duplicated_evidence_is_listed(w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    twice = honest.evidence.events[0]
    doubled = with_events(honest, (twice, *honest.evidence.events))
    report = verify_invoice(w3, meter.address, store, doubled)
    assert Difference(f"evidence.events[log=0x{twice.tx_hash.hex()}#{twice.log_index}] (duplicated)", 1,
                      2) in report.differences


def test_reordered_evidence_is_listed(w3: Web3, meter: Contract, store: Store, honest: Invoice) -> None:
    reordered = with_events(honest, tuple(reversed(honest.evidence.events)))
    report = verify_invoice(w3, meter.address, store, reordered)
    assert wheres(report.differences) == {"evidence.events (order)", "hash"}


def test_a_hash_that_differs_from_the_anchor_is_reported(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                                         honest: Invoice) -> None:
    cheaper = dataclasses.replace(honest, total=honest.total - 1)
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(cheaper), cheaper.total)
    report = verify_invoice(w3, meter.address, store, honest)
    assert report.anchor is AnchorStatus.DIFFERS
    assert report.differences == (
        Difference("anchor.hash", "0x" + invoice_hash(cheaper).hex(), "0x" + invoice_hash(honest).hex()),
    )


# ---------------------------------------------------------------------------------------------------- numbers


def test_changed_seconds_and_total_are_each_reported(driver: Driver, w3: Web3, meter: Contract, store: Store,
                                                     honest: Invoice, tmp_path: Path) -> None:
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)
    index = honest.lines.index(honest.line(1))
    line = honest.lines[index]
    forged = dataclasses.replace(
        honest,
        lines=(*honest.lines[:index], dataclasses.replace(line, quantity=line.quantity - 100),
               *honest.lines[index + 1:]),
        total=honest.total - 300,
    )
    path = tmp_path / "forged.json"
    path.write_bytes(to_json(forged))  # a consistent file: its hash field matches the forged content
    report = verify_invoice(w3, meter.address, store, path)
    assert not report.ok
    assert report.anchor is AnchorStatus.DIFFERS
    assert wheres(report.differences) == {
        "lines[line=1#seconds].quantity",
        "total",
        "usage[type=1].seconds (on-chain counter)",
        "hash",
        "anchor.hash",
    }
    by_where = {d.where: d for d in report.differences}
    assert (by_where["lines[line=1#seconds].quantity"].expected, by_where["lines[line=1#seconds].quantity"].found) == (
        490, 390)
    assert by_where["usage[type=1].seconds (on-chain counter)"].expected == 490
    assert report.recomputed == honest


def test_a_rules_hash_other_than_the_chains_is_reported(w3: Web3, meter: Contract, store: Store,
                                                        honest: Invoice) -> None:
    first = honest.lines[0]
    forged = dataclasses.replace(honest, lines=(dataclasses.replace(first, rules_hash=b"\x01" * 32),
                                                *honest.lines[1:]))
    report = verify_invoice(w3, meter.address, store, forged)
    assert {"lines[line=1#activations].rules_hash", "lines[line=1#activations].rules_hash (on chain)"} <= wheres(
        report.differences)


def test_a_missing_anchor_is_reported_apart_from_a_wrong_one(w3: Web3, meter: Contract, store: Store,
                                                             honest: Invoice) -> None:
    report = verify_invoice(w3, meter.address, store, honest)
    assert report.anchor is AnchorStatus.NOT_ANCHORED
    assert report.anchored_hash is None
    assert report.ok
    strict = verify_invoice(w3, meter.address, store, honest, require_anchor=True)
    assert strict.differences == (Difference("anchor", "anchored", "not anchored"),)


def test_a_file_edited_after_it_was_issued_shows_a_stale_hash_field(w3: Web3, meter: Contract, store: Store,
                                                                    honest: Invoice, tmp_path: Path) -> None:
    document = json.loads(to_json(honest))
    document["lines"][3]["unit_price"] = "0.01"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document, indent=2))
    report = verify_invoice(w3, meter.address, store, path)
    assert "hash field (of the file's content)" in wheres(report.differences)
    assert "lines[line=2#activations].unit_price" in wheres(report.differences)


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
    future = dataclasses.replace(honest, final=False, as_of=honest.as_of + 10**6)
    with pytest.raises(VerificationError, match="cannot see the future"):
        verify_invoice(w3, meter.address, store, future)
    document = to_dict(honest)
    document["timeframe"]["id"] = 99
    with pytest.raises(VerificationError, match="timeframe 99"):
        verify_invoice(w3, meter.address, store, json.dumps(document).encode())


# ---------------------------------------------------------------------------------------------------- statement edges


def test_a_correct_statement_verifies_and_reports_the_anchored_final_invoice(
    driver: Driver, w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended
) -> None:
    """Once the final invoice is anchored, a customer checking an earlier running statement must not be told it is
    NOT verified: the statement is correct, the anchor belongs to another document. The flags still refuse it."""
    as_of = int(w3.eth.get_block(ended.mid_block)["timestamp"])
    early = statement(store, honest.customer, ended.timeframe.id, NodeClock(w3, store), as_of=as_of)
    driver.anchor(honest.customer, honest.timeframe.id, invoice_hash(honest), honest.total)

    report = verify_invoice(w3, meter.address, store, early)

    assert report.ok, report.differences
    assert report.anchor is AnchorStatus.FINAL_ANCHORED and report.anchored_hash == invoice_hash(honest)
    for strict in ({"require_anchor": True}, {"require_final": True}):
        refused = verify_invoice(w3, meter.address, store, early, **strict)
        assert {"final (only a final invoice can be anchored)", "anchor.hash"} <= wheres(refused.differences)
    assert verify_invoice(w3, meter.address, store, honest, require_anchor=True).ok


def test_a_statement_as_of_the_end_or_later_is_the_final_invoice(
    w3: Web3, meter: Contract, store: Store, honest: Invoice, ended: Ended
) -> None:
    """Billing stops at the timeframe's end: every point at or after it is the same bill, so it is one document
    (the final invoice, one hash), not a statement per second."""
    clock = NodeClock(w3, store)
    end = ended.timeframe.end
    latest = int(w3.eth.get_block("latest")["timestamp"])
    assert latest > end
    for as_of in (end, end + 1, latest):
        at = statement(store, honest.customer, ended.timeframe.id, clock, as_of=as_of)
        assert at.final and to_json(at) == to_json(honest)
    before = statement(store, honest.customer, ended.timeframe.id, clock, as_of=end - 1)
    assert not before.final and before.as_of == end - 1


def test_a_statement_as_of_an_end_the_chain_has_not_reached_is_refused_naming_the_final_invoice(
    driver: Driver, w3: Web3, meter: Contract, store: Store
) -> None:
    tf = driver.timeframe({1: DB}, length=100_000)
    driver.activate(driver.customers[0], 1, "db", 300, at=tf.start + 10)
    Indexer(w3, meter.address, store).sync()
    with pytest.raises(InvoiceError, match=r"at or after the end of timeframe .*cannot see the future.*--final"):
        statement(store, driver.customers[0], tf.id, NodeClock(w3, store), as_of=tf.end)
