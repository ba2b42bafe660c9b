"""What the invoice pass works out once and reuses gives what working it out each time gives.

The pass remembers the rules hash of each (timeframe, type, rules), the checksum of each address and how rules are
read back from the store, and builds each type's pricing (and the lines of a charge without usage, shared by every
idle customer) once per pass. Each line must still be exactly what its rules say, computed here the plain way: the
hash with eth_abi and keccak, the amounts with exact fractions; statements (with committed seconds) included.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.audit.events import RulesSet
from metering.audit.invoice import Charge, Invoice, compute_invoices, invoice_hash, to_canonical_json
from metering.audit.store import Store, StoredBlock
from metering.contract import LimitMode
from metering.errors import InvoiceError
from metering.money import PRICE_SCALE
from metering.types import RULES_ABI, Rules, rules_hash

from ._builders import CONTRACT, CUSTOMER, OTHER, History, digest
from .test_invoice_property import TF, op_strategy, rules_strategy, simulate


def plain_hash(timeframe: int, kind: int, rules: Rules) -> bytes:
    """The contract's ``keccak256(abi.encode(timeframe, instanceType, rules))``, computed afresh."""
    return keccak(encode(["uint16", "uint16", RULES_ABI], [timeframe, kind, rules.as_tuple()]))


def plain_amount(billable: int, price: int, per: int) -> int:
    return math.floor(Fraction(billable * price, per) / PRICE_SCALE)


def assert_priced_by_its_rules(invoice: Invoice, rules: dict[int, Rules]) -> None:
    """Every line of ``invoice`` as :class:`~metering.audit.invoice.Line` defines it from the rules alone."""
    assert [(line.instance_type, line.charge) for line in invoice.lines] == [
        (kind, charge) for kind in sorted(rules) for charge in Charge
    ]
    for line in invoice.lines:
        r = rules[line.instance_type]
        included, price, per = {
            Charge.ACTIVATIONS: (r.included_activations, r.price_per_activation, 1),
            Charge.CONTINUATIONS: (0, r.price_per_continuation, 1),
            Charge.SECONDS: (r.included_seconds, r.price_per_time_unit, r.time_unit_seconds),
        }[line.charge]
        assert line.rules_hash == plain_hash(TF.id, line.instance_type, r)
        assert (line.included, line.unit_price, line.per) == (included, price, per)
        assert line.billable == max(0, line.quantity - included)
        assert line.amount == plain_amount(line.billable, price, per)
        assert line.committed_amount == plain_amount(max(0, line.quantity + line.committed - included), price, per) \
            - line.amount
        if line.charge != Charge.SECONDS:
            assert line.committed == 0
    assert invoice.total == sum(line.amount for line in invoice.lines)
    assert invoice.committed_total == sum(line.committed_amount for line in invoice.lines)


@settings(max_examples=80, deadline=None)
@given(
    rules1=rules_strategy,
    rules2=rules_strategy,
    ops=st.lists(op_strategy, max_size=40),
    statement=st.booleans(),
)
def test_every_line_of_every_customer_is_what_its_rules_say(
    rules1: Rules, rules2: Rules, ops: list[tuple[str, int, int, int]], statement: bool
) -> None:
    rules = {1: rules1, 2: rules2}
    history, _model, now = simulate(rules, ops)
    as_of = min(now, TF.end) if statement else None
    idle = "0x0000000000000000000000000000000000000001"  # listed, never billed: every line is an idle line
    invoices = compute_invoices(TF, rules, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                                to_block=10**6, as_of=as_of, customers=[CUSTOMER, OTHER, idle])
    for invoice in invoices.values():
        assert_priced_by_its_rules(invoice, rules)
    assert all(line.quantity == line.committed == 0 for line in invoices[idle].lines)


def test_customers_without_usage_share_lines_and_still_get_their_own_documents() -> None:
    rules = {
        1: Rules(price_per_activation=1_000_000, included_activations=1, price_per_time_unit=7, included_seconds=5),
        2: Rules(price_per_continuation=30),
    }
    history = History(timeframe=TF.id)
    history.grant("a", 1, TF.start, TF.start + 100)
    history.grant("b", 1, TF.start + 1, TF.start + 200)
    quiet = ["0x" + f"{n:040x}" for n in (1, 2)]
    invoices = compute_invoices(TF, rules, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                                to_block=10**6, customers=quiet)
    first, second = (invoices[c] for c in quiet)
    assert first.lines == second.lines and first.total == 0
    assert to_canonical_json(first) != to_canonical_json(second)  # the customer differs, so the document does
    for invoice in invoices.values():
        assert_priced_by_its_rules(invoice, rules)
    billed = invoices[CUSTOMER]
    assert billed.line(1, Charge.ACTIVATIONS).amount == 1  # two starts, one included: one euro cent
    assert billed.line(2, Charge.CONTINUATIONS) == first.line(2, Charge.CONTINUATIONS)  # an idle charge


@settings(max_examples=60, deadline=None)
@given(rules=rules_strategy, timeframe=st.integers(0, 2**16 - 1), kind=st.integers(0, 2**16 - 1))
def test_the_remembered_rules_hash_is_the_contracts_hash_computed_afresh(
    rules: Rules, timeframe: int, kind: int
) -> None:
    expected = plain_hash(timeframe, kind, rules)
    assert rules_hash(timeframe, kind, rules) == expected
    assert rules_hash(timeframe, kind, Rules(**vars(rules))) == expected  # an equal copy, from the cache
    if kind + 1 < 2**16:
        assert rules_hash(timeframe, kind + 1, rules) == plain_hash(timeframe, kind + 1, rules) != expected


def test_rules_are_read_back_from_the_store_as_they_were_set(tmp_path: Path) -> None:
    where = {"block_hash": digest("block-1"), "tx_hash": digest("tx-1"), "block_number": 1}
    set_ = [
        RulesSet(**where, log_index=n, timeframe=TF.id, instance_type=kind, rules_hash=plain_hash(TF.id, kind, r),
                 rules=r)
        for n, (kind, r) in enumerate([
            (1, Rules(price_per_activation=5, max_concurrent=3, mode=LimitMode.SOFT, max_lease_seconds=60)),
            (2, Rules(price_per_time_unit=2**48 - 1, time_unit_seconds=3_600, included_seconds=2**32 - 1)),
        ])
    ]
    with Store(tmp_path / "events.sqlite", chain_id=1, contract=CONTRACT) as store:
        store.append_events(set_, [StoredBlock(1, digest("block-1"), None)], 1)
        for _ in range(2):  # the second read uses what the first worked out
            assert store.events(names=["RulesSet"]) == set_


def test_the_contract_address_is_checksummed_and_a_wrong_one_is_named() -> None:
    history = History(timeframe=TF.id)
    history.grant("a", 1, TF.start, TF.start + 100)
    rules = {1: Rules(price_per_time_unit=1)}
    for given_as in (CONTRACT.lower(), CONTRACT):
        invoice = compute_invoices(TF, rules, history.events, chain_id=1, contract=given_as, from_block=0,
                                   to_block=10**6)[CUSTOMER]
        assert invoice.evidence.contract == CONTRACT
    assert invoice_hash(invoice) == keccak(to_canonical_json(invoice))
    for wrong in ("0x1234", ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]):
        with pytest.raises(InvoiceError, match=r"contract .* is not an address"):
            compute_invoices(TF, rules, history.events, chain_id=1, contract=wrong,  # type: ignore[arg-type]
                             from_block=0, to_block=10**6)
