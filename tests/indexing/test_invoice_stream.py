"""Invoices streamed from the event database's index equal :func:`compute_invoices` over the same events, and come
out one customer at a time (memory holds one customer's events, not the timeframe's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.audit.invoice import compute_invoices, invoices_from_rows, to_canonical_json
from metering.audit.store import Store, StoredBlock
from metering.errors import InvoiceError
from metering.types import Rules

from ._builders import CONTRACT, CUSTOMER, OTHER, History, digest
from .test_invoice_property import TF, op_strategy, rules_strategy, simulate

BILLING_AND_DENIALS = ["ActivationGranted", "LeaseContinued", "LeaseRenewed", "InstanceDeactivated",
                       "InstanceClosedByProvider", "ActivationDenied"]


def stored(url: str, history: History) -> Store:
    store = Store(url, chain_id=1, contract=CONTRACT)
    last = max([e.block_number for e in history.events], default=1)
    store.append_events(history.events, [StoredBlock(last, digest(f"block{last}"), None)], last)
    return store


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rules1=rules_strategy,
    rules2=rules_strategy,
    ops=st.lists(op_strategy, max_size=50),
    cut=st.floats(0, 1),
    statement=st.booleans(),
)
def test_streamed_invoices_are_the_bytes_compute_invoices_gives(
    new_store_url: Callable[[], str], rules1: Rules, rules2: Rules, ops: list[tuple[str, int, int, int]],
    cut: float, statement: bool,
) -> None:
    rules = {1: rules1, 2: rules2}
    history, _model, now = simulate(rules, ops)
    history.grant("next", 1, TF.end + 5, TF.end + 50, timeframe=TF.id + 1)  # another timeframe: not counted
    to_block = 10 + int(cut * (history.block - 10))  # a statement reads up to some block, a final invoice all
    as_of = min(now, TF.end) if statement else None
    with stored(new_store_url(), history) as store:
        expected = compute_invoices(TF, rules, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                                    to_block=to_block, as_of=as_of, customers=store.customers(TF.id))
        streamed = list(invoices_from_rows(TF, rules, store.billing_rows(TF.id, BILLING_AND_DENIALS), chain_id=1,
                                           contract=CONTRACT, from_block=0, to_block=to_block, as_of=as_of))
    assert [i.customer for i in streamed] == list(expected)
    assert [to_canonical_json(i) for i in streamed] == [to_canonical_json(i) for i in expected.values()]


def test_a_customer_with_only_denials_gets_an_empty_invoice_and_one_with_nothing_none(
    new_store_url: Callable[[], str],
) -> None:
    history = History(timeframe=TF.id)
    history.deny("d", 1)
    history.grant("g", 1, TF.start, TF.start + 10, customer=OTHER)
    history.deny_renewal("g", 1)  # not a decision of its own
    with stored(new_store_url(), history) as store:
        rows = store.billing_rows(TF.id, BILLING_AND_DENIALS)
        streamed = list(invoices_from_rows(TF, {1: Rules()}, rows, chain_id=1, contract=CONTRACT, from_block=0,
                                           to_block=100))
    assert sorted(i.customer for i in streamed) == sorted([CUSTOMER, OTHER])
    denied = next(i for i in streamed if i.customer == CUSTOMER)
    assert denied.evidence.events == () and denied.total == 0


def test_each_invoice_is_yielded_as_soon_as_its_customers_rows_end() -> None:
    consumed: list[str] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        for n, customer in enumerate(sorted(["0x" + f"{c:040x}" for c in (1, 2, 3)])):
            for k in range(3):
                consumed.append(customer)
                block = 10 * n + k + 1
                yield (customer, "ActivationGranted", block, 0, digest(f"tx{block}"), digest(f"i{block}"), 1,
                       TF.start, TF.start + 5, None, 0)

    stream = invoices_from_rows(TF, {1: Rules()}, rows(), chain_id=1, contract=CONTRACT, from_block=0, to_block=99)
    first = next(stream)
    assert len(first.evidence.events) == 3
    assert len(consumed) == 4  # the first customer's rows and the next customer's first row, nothing more
    assert len(list(stream)) == 2


def test_rows_out_of_customer_order_are_refused() -> None:
    rows = [(OTHER, "ActivationDenied", 1, 0, b"", b"", 1, None, None, None, None),
            (CUSTOMER, "ActivationDenied", 2, 0, b"", b"", 1, None, None, None, None),
            (OTHER, "ActivationDenied", 3, 0, b"", b"", 1, None, None, None, None)]
    with pytest.raises(InvoiceError, match="grouped by customer"):
        list(invoices_from_rows(TF, {1: Rules()}, rows, chain_id=1, contract=CONTRACT, from_block=0, to_block=9))


def test_the_evidence_the_pass_makes_is_the_value_the_constructor_makes() -> None:
    from dataclasses import FrozenInstanceError

    from metering.audit.invoice import EvidenceEvent

    history = History(timeframe=TF.id)
    grant = history.grant("a", 1, TF.start, TF.start + 60)
    invoice = compute_invoices(TF, {1: Rules()}, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                               to_block=99)[CUSTOMER]
    (made,) = invoice.evidence.events
    built = EvidenceEvent(grant.block_number, 0, grant.tx_hash, "ActivationGranted", grant.instance_id, 1)
    assert (made, hash(made), repr(made)) == (built, hash(built), repr(built))
    with pytest.raises(FrozenInstanceError):
        made.block_number = 8  # type: ignore[misc]


def test_the_pass_keeps_evidence_as_values_that_read_as_the_tuple_of_its_events() -> None:
    from dataclasses import replace

    from metering.audit.invoice import EvidenceEvent, EvidenceEvents, from_json, to_dict, to_json

    history = History(timeframe=TF.id)
    grants = [history.grant(f"g{k}", 1, TF.start + k, TF.start + 60) for k in range(3)]
    history.deactivate("g1", 1, TF.start + 30)
    invoice = compute_invoices(TF, {1: Rules()}, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                               to_block=99)[CUSTOMER]
    events = invoice.evidence.events
    assert isinstance(events, EvidenceEvents)
    built = tuple(EvidenceEvent(g.block_number, 0, g.tx_hash, "ActivationGranted", g.instance_id, 1) for g in grants)
    assert tuple(events)[:3] == built and events[:3] == built and events[1] == built[1] and events[-1] == events[3]
    assert events[3].event == "InstanceDeactivated" and len(events) == 4
    as_tuple = tuple(events)
    assert events == as_tuple and as_tuple == events and hash(events) == hash(as_tuple)
    assert events != as_tuple[:3] and events != list(as_tuple)
    # the same invoice with its evidence as a plain tuple: equal, the same hash, the same bytes
    plain = replace(invoice, evidence=replace(invoice.evidence, events=as_tuple))
    assert plain == invoice and hash(plain) == hash(invoice)
    assert to_dict(plain) == to_dict(invoice) and to_json(plain) == to_json(invoice)
    assert from_json(to_json(invoice)) == invoice  # read back (as a tuple of events), equal to the pass's


def test_the_invoice_the_pass_makes_is_the_value_its_constructors_make() -> None:
    from dataclasses import fields, replace

    history = History(timeframe=TF.id)
    history.grant("a", 1, TF.start, TF.start + 60)
    history.grant("b", 2, TF.start, TF.start + 90, overage=True)
    invoice = compute_invoices(TF, {1: Rules(), 2: Rules(price_per_time_unit=10**12)}, history.events, chain_id=1,
                               contract=CONTRACT, from_block=0, to_block=99, as_of=TF.start + 30)[CUSTOMER]
    rebuilt = replace(invoice, lines=tuple(replace(line) for line in invoice.lines),
                      evidence=replace(invoice.evidence))  # through each dataclass's own __init__
    for made, built in ((invoice, rebuilt), (invoice.evidence, rebuilt.evidence),
                        *zip(invoice.lines, rebuilt.lines, strict=True)):
        assert (made, hash(made), repr(made)) == (built, hash(built), repr(built))
        assert [getattr(made, f.name) for f in fields(made)] == [getattr(built, f.name) for f in fields(built)]
    assert invoice.committed_total > 0 and invoice.line(2).overage == 0 and invoice.version == rebuilt.version
