"""compute_invoice against bills worked out by hand: quotas, overage, continuations, leases, renewals, stops,
denials, replays, statements, and prices finer than a cent rounded once per line."""

from __future__ import annotations

import pytest

from metering.audit.invoice import Charge, Invoice, compute_invoice, line_amount
from metering.contract import LimitMode
from metering.errors import InvoiceError
from metering.types import Rules, Timeframe, rules_hash

from ._builders import AGENT, CONTRACT, CUSTOMER, OTHER, History, ident

TF = Timeframe(id=1, start=1_000, end=5_000, currency="EUR")
CENT = 1_000_000  # micro-units per cent
# 1.00 EUR per start beyond the first, 0.02 EUR per second beyond 50 s.
DB = Rules(price_per_activation=100 * CENT, price_per_time_unit=2 * CENT, included_activations=1,
           included_seconds=50)
CACHE = Rules(price_per_activation=7 * CENT, price_per_time_unit=CENT, max_activations=1, mode=LimitMode.SOFT,
              price_per_continuation=3 * CENT)
A, C, S = Charge.ACTIVATIONS, Charge.CONTINUATIONS, Charge.SECONDS


def bill(history: History, rules: dict[int, Rules] | None = None, *, as_of: int | None = None,
         timeframe: Timeframe = TF, **kw: int) -> Invoice:
    return compute_invoice(
        CUSTOMER,
        timeframe,
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
    invoice = bill(h)
    starts, seconds = invoice.line(1, A), invoice.line(1, S)
    assert (starts.quantity, starts.included, starts.billable, starts.amount) == (2, 1, 1, 100)
    assert (seconds.quantity, seconds.included, seconds.billable, seconds.amount) == (70, 50, 20, 40)
    assert (seconds.unit_price, seconds.per) == (2 * CENT, 1)
    assert invoice.total == 140


def test_usage_within_the_quotas_costs_nothing() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.deactivate("a", 1, 1_050)
    invoice = bill(h)
    assert invoice.line(1, A).billable == invoice.line(1, S).billable == 0
    assert invoice.total == 0


def test_overage_activations_are_counted_and_shown_apart() -> None:
    h = History()
    h.grant("a", 2, 1_000, 1_010)
    h.grant("b", 2, 1_000, 1_010, overage=True)
    h.grant("c", 2, 1_001, 1_011, overage=True)
    invoice = bill(h, {2: CACHE})
    starts = invoice.line(2, A)
    assert (starts.quantity, starts.overage, starts.amount) == (3, 2, 3 * 7)
    assert invoice.line(2, S).quantity == 30
    assert invoice.total == 21 + 30


def test_a_continuation_is_priced_apart_not_as_an_activation_and_billed_from_the_timeframe_start() -> None:
    h = History()
    h.cont("carried", 2, 1_000, 1_300, overage=True)
    h.grant("new", 2, 1_100, 1_200)
    invoice = bill(h, {2: CACHE})
    assert (invoice.line(2, C).quantity, invoice.line(2, C).overage, invoice.line(2, C).amount) == (1, 1, 3)
    assert (invoice.line(2, A).quantity, invoice.line(2, A).overage) == (1, 0)
    assert invoice.line(2, S).quantity == 300 + 100
    assert invoice.total == 3 + 7 + 400


def test_every_type_with_rules_gets_its_three_lines_even_without_usage() -> None:
    invoice = bill(History(), {1: DB, 2: CACHE})
    assert [(line.instance_type, line.charge) for line in invoice.lines] == [
        (1, A), (1, C), (1, S), (2, A), (2, C), (2, S)]
    assert all((line.quantity, line.amount) == (0, 0) for line in invoice.lines)
    assert {line.rules_hash for line in invoice.lines if line.instance_type == 2} == {rules_hash(1, 2, CACHE)}
    assert invoice.total == 0
    assert invoice.evidence.events == ()


def test_an_instance_nobody_closed_is_billed_to_its_lease_end() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_600)
    assert bill(h).line(1).quantity == 600


def test_an_expiry_is_billed_to_the_lease_end_and_is_not_evidence() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_600)
    before = bill(h)
    h.expire("a", 1, 1_600)
    after = bill(h)
    assert after.line(1).quantity == 600
    assert after == before


def test_renewals_extend_billing_to_the_last_lease_end() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_180)
    h.renew("a", 1, 1_300)
    assert bill(h).line(1).quantity == 300


@pytest.mark.parametrize("stop", ["deactivate", "close"])
def test_a_stop_by_the_agent_or_the_provider_ends_billing_before_the_lease_end(stop: str) -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_300)
    getattr(h, stop)("a", 1, 1_250)
    seconds = bill(h).line(1)
    assert seconds.quantity == 250
    assert seconds.amount == (250 - 50) * 2


def test_a_denial_counts_nothing() -> None:
    h = History()
    h.deny("a", 1)
    h.deny_renewal("b", 1)
    invoice = bill(h)
    assert invoice.line(1, A).quantity == 0
    assert invoice.total == 0
    assert invoice.evidence.events == ()


def test_a_replayed_request_counts_nothing() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.replay("a")
    h.replay("a")
    invoice = bill(h)
    assert invoice.line(1, A).quantity == 1
    assert [e.event for e in invoice.evidence.events] == ["ActivationGranted"]


def test_other_customers_timeframes_and_blocks_outside_the_range_are_ignored() -> None:
    h = History()
    h.grant("mine", 1, 1_000, 1_100)
    h.grant("theirs", 1, 1_000, 1_100, customer=OTHER)
    h.grant("next-period", 1, 5_000, 5_100, timeframe=2)
    late = h.grant("late", 1, 2_000, 2_100)
    invoice = bill(h, to_block=late.block_number - 1)
    assert invoice.line(1, A).quantity == 1
    assert [e.instance_id for e in invoice.evidence.events] == [ident("mine")]


def test_evidence_lists_every_billing_event_in_chain_order_with_its_agent_and_type() -> None:
    h = History()
    granted = h.grant("a", 1, 1_000, 1_100)
    renewed = h.renew("a", 1, 1_200)
    stopped = h.deactivate("a", 1, 1_150)
    invoice = bill(h)
    assert [(e.tx_hash, e.log_index, e.event, e.instance_type) for e in invoice.evidence.events] == [
        (granted.tx_hash, 0, "ActivationGranted", 1),
        (renewed.tx_hash, 0, "LeaseRenewed", 1),
        (stopped.tx_hash, 0, "InstanceDeactivated", 1),
    ]
    assert {e.agent for e in invoice.evidence.events} == {AGENT}
    assert (invoice.evidence.chain_id, invoice.evidence.contract) == (31337, CONTRACT)


def test_events_given_out_of_order_give_the_same_invoice() -> None:
    h = History()
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_200)
    h.deactivate("a", 1, 1_150)
    in_order = bill(h)
    h.events.reverse()
    assert bill(h) == in_order


def test_a_final_invoice_bills_to_the_end_and_says_so() -> None:
    invoice = bill(History())
    assert (invoice.final, invoice.as_of, invoice.committed_total) == (True, TF.end, 0)


def test_a_statement_bills_seconds_up_to_its_time_and_shows_what_open_leases_commit() -> None:
    h = History()
    h.grant("open", 1, 1_000, 2_000)
    h.grant("stopped", 1, 1_100, 1_900)
    h.deactivate("stopped", 1, 1_200)
    h.grant("expired", 1, 1_300, 1_400)
    statement = bill(h, as_of=1_500)
    seconds = statement.line(1)
    assert statement.final is False
    assert statement.as_of == 1_500
    assert seconds.quantity == 500 + 100 + 100  # not the 1,000 s the open lease holds
    assert seconds.committed == 500
    assert statement.line(1, A).quantity == 3
    assert seconds.amount == (700 - 50) * 2
    assert seconds.committed_amount == 500 * 2
    assert statement.committed_total == 1_000
    assert bill(h).line(1).quantity == seconds.quantity + seconds.committed


def test_prices_finer_than_a_cent_are_exact_and_each_line_rounds_down_once() -> None:
    # 0.12 EUR per hour and 0.0004 EUR per activation, as a rules file writes them.
    rules = Rules(price_per_activation=40_000, price_per_time_unit=12 * CENT, time_unit_seconds=3_600)
    h = History()
    for i in range(37):
        h.grant(f"i{i}", 1, 1_000, 1_100)  # 37 x 100 s = 3,700 s
    invoice = bill(h, {1: rules})
    starts, seconds = invoice.line(1, A), invoice.line(1, S)
    assert starts.amount == 1  # 37 x 0.0004 = 0.0148 EUR: 1 cent, rounded down
    assert (seconds.quantity, seconds.per, seconds.amount) == (3_700, 3_600, 12)  # 0.12333... EUR: 12 cents
    assert invoice.total == 13


@pytest.mark.parametrize(
    ("currency", "minor_per_major", "amount"), [("JPY", 1, 1), ("EUR", 100, 123), ("BHD", 1_000, 1_234)]
)
def test_rounding_follows_the_currencys_iso_4217_decimals(currency: str, minor_per_major: int, amount: int) -> None:
    # 1.2345 per hour, for one hour: 1 JPY, 1.23 EUR, 1.234 BHD.
    rules = Rules(price_per_time_unit=12_345 * minor_per_major * 100, time_unit_seconds=3_600)
    h = History()
    h.grant("a", 1, 1_000, 4_600)
    invoice = bill(h, {1: rules}, timeframe=Timeframe(1, 1_000, 5_000, currency))
    assert invoice.line(1).amount == amount


def test_line_amount_is_exact_integer_arithmetic() -> None:
    assert line_amount(4_000, 12_000_000, 3_600) == 13  # 13.33 cents
    assert line_amount(3_600, 12_000_000, 3_600) == 12
    assert line_amount(10**30, 2**48 - 1, 1) == 10**30 * (2**48 - 1) // 10**6


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
        CUSTOMER.lower(), TF, {1: DB}, [], chain_id=1, contract=CONTRACT.lower(), from_block=0, to_block=1
    )
    assert invoice.customer == CUSTOMER
    assert invoice.evidence.contract == CONTRACT
