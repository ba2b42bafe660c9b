"""compute_invoice against bills worked out by hand: quotas, overage, leases, renewals, denials, replays."""

from __future__ import annotations

import pytest

from metering.contract import LimitMode
from metering.errors import InvoiceError
from metering.invoice import Invoice, compute_invoice
from metering.types import Rules, Timeframe, rules_hash

from ._builders import CONTRACT, CUSTOMER, OTHER, History, ident

TF = Timeframe(id=1, start=1_000, end=5_000, currency="EUR")
DB = Rules(price_per_activation=100, price_per_second=2, included_activations=1, included_seconds=50)
CACHE = Rules(price_per_activation=7, price_per_second=1, max_activations=1, mode=LimitMode.SOFT)


def bill(history: History, rules: dict[int, Rules] | None = None, *, as_of: int = 5_000, **kw: int) -> Invoice:
    return compute_invoice(
        CUSTOMER,
        TF,
        rules if rules is not None else {1: DB},
        history.events,
        chain_id=31337,
        contract=CONTRACT,
        from_block=kw.get("from_block", 0),
        to_block=kw.get("to_block", 1_000),
        as_of=as_of,
    )


def test_included_activations_and_seconds_are_not_billed() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.deactivate("a", 1, 1_030)
    h.grant("b", 1, 1_200, 1_300)
    h.deactivate("b", 1, 1_240)
    line = bill(h).line(1)
    assert (line.activations, line.included_activations, line.billable_activations) == (2, 1, 1)
    assert line.activation_amount == 100
    assert (line.seconds, line.included_seconds, line.billable_seconds) == (70, 50, 20)
    assert line.seconds_amount == 40
    assert line.total == 140


def test_usage_within_the_quotas_costs_nothing() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.deactivate("a", 1, 1_050)
    invoice = bill(h)
    assert invoice.line(1).billable_activations == 0
    assert invoice.line(1).billable_seconds == 0
    assert invoice.total == 0


def test_overage_activations_are_counted_and_shown_apart() -> None:
    h = History()
    h.grant("a", 2, 1_000, 1_010)
    h.grant("b", 2, 1_000, 1_010, overage=True)
    h.grant("c", 2, 1_001, 1_011, overage=True)
    invoice = bill(h, {2: CACHE})
    line = invoice.line(2)
    assert line.activations == 3
    assert line.overage_activations == 2
    assert invoice.overage_activations == 2
    assert line.activation_amount == 3 * 7
    assert line.seconds == 30
    assert invoice.total == 21 + 30


def test_every_type_with_rules_gets_a_line_even_without_usage() -> None:
    invoice = bill(History(), {1: DB, 2: CACHE})
    assert [line.instance_type for line in invoice.lines] == [1, 2]
    for line in invoice.lines:
        assert (line.activations, line.seconds, line.total) == (0, 0, 0)
    assert invoice.line(2).rules_hash == rules_hash(1, 2, CACHE)
    assert invoice.total == 0
    assert invoice.evidence.events == ()


def test_an_instance_nobody_closed_is_billed_to_its_lease_end() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_600)
    assert bill(h).line(1).seconds == 600


def test_an_expired_lease_is_billed_to_its_lease_end_not_to_when_it_was_closed() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_600)
    h.expire("a", 1, 1_600)
    assert bill(h).line(1).seconds == 600


def test_renewals_extend_billing_to_the_last_lease_end() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_180)
    h.renew("a", 1, 1_300)
    assert bill(h).line(1).seconds == 300


def test_deactivation_stops_billing_before_the_renewed_lease_end() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_300)
    h.deactivate("a", 1, 1_250)
    line = bill(h).line(1)
    assert line.seconds == 250
    assert line.seconds_amount == (250 - 50) * 2


def test_a_denial_counts_nothing() -> None:
    h = History()
    h.deny("a", 1)
    h.deny_renewal("b", 1)
    invoice = bill(h)
    assert invoice.line(1).activations == 0
    assert invoice.total == 0
    assert invoice.evidence.events == ()


def test_a_replayed_request_counts_nothing() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.replay("a")
    h.replay("a")
    invoice = bill(h)
    assert invoice.line(1).activations == 1
    assert [e.event for e in invoice.evidence.events] == ["ActivationGranted"]


def test_other_customers_timeframes_and_blocks_outside_the_range_are_ignored() -> None:
    h = History()
    h.grant("mine", 1, 1_000, 1_100)
    h.grant("theirs", 1, 1_000, 1_100, customer=OTHER)
    h.grant("next-period", 1, 5_000, 5_100, timeframe=2)
    late = h.grant("late", 1, 2_000, 2_100)
    invoice = bill(h, to_block=late.block_number - 1)
    assert invoice.line(1).activations == 1
    assert [e.instance_id for e in invoice.evidence.events] == [ident("mine")]


def test_evidence_lists_every_counted_event_in_chain_order() -> None:
    h = History()
    granted = h.grant("a", 1, 1_000, 1_100)
    renewed = h.renew("a", 1, 1_200)
    stopped = h.deactivate("a", 1, 1_150)
    invoice = bill(h)
    assert [(e.tx_hash, e.log_index, e.event) for e in invoice.evidence.events] == [
        (granted.tx_hash, 0, "ActivationGranted"),
        (renewed.tx_hash, 0, "LeaseRenewed"),
        (stopped.tx_hash, 0, "InstanceDeactivated"),
    ]
    assert invoice.evidence.chain_id == 31337
    assert invoice.evidence.contract == CONTRACT


def test_events_given_out_of_order_give_the_same_invoice() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_200)
    h.deactivate("a", 1, 1_150)
    in_order = bill(h)
    h.events.reverse()
    assert bill(h) == in_order


def test_an_invoice_is_final_once_its_last_block_reaches_the_timeframe_end() -> None:
    assert bill(History(), as_of=TF.end - 1).final is False
    assert bill(History(), as_of=TF.end).final is True


def test_usage_of_a_type_without_rules_is_an_error() -> None:
    h = History()
    h.grant("a", 9, 1_000, 1_100)
    with pytest.raises(InvoiceError, match="no rules for that type"):
        bill(h)


def test_a_renewal_without_its_grant_asks_to_index_from_earlier() -> None:
    h = History()
    h.renew("a", 1, 1_200)
    with pytest.raises(InvoiceError, match="index from the block"):
        bill(h)


def test_customer_and_contract_are_checksummed() -> None:
    invoice = compute_invoice(
        CUSTOMER.lower(), TF, {1: DB}, [], chain_id=1, contract=CONTRACT.lower(), from_block=0, to_block=1, as_of=0
    )
    assert invoice.customer == CUSTOMER
    assert invoice.evidence.contract == CONTRACT
