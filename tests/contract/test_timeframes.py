"""Timeframes and rules: creation in order, the active timeframe, and rules that freeze at the start."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractCustomError

from metering.contract import DenialReason, LimitMode
from metering.money import parse_price
from metering.types import Rules, rules_hash

from .conftest import HARD_RULES, SetupTimeframe
from .helpers import EUR, HARD, SOFT, UNCONFIGURED, USD, Harness, rid


def _view_error(h: Harness, fn: object, name: str, *args: object) -> None:
    with pytest.raises(ContractCustomError) as caught:
        fn.call()  # type: ignore[attr-defined]
    assert caught.value.data == h.error_data(name, *args)


def test_timeframes_get_ids_from_one_in_creation_order_and_keep_their_bounds(h: Harness) -> None:
    now = h.chain.now()
    assert h.fn.timeframeCount().call() == 0
    first = h.create_timeframe(now + 100, now + 200)
    second = h.create_timeframe(now + 200, now + 300)  # adjacent: starts where the first ends
    assert (first.id, second.id) == (1, 2)
    assert h.fn.timeframeCount().call() == 2
    assert h.fn.timeframe(1).call() == (now + 100, now + 200, EUR)
    assert h.fn.timeframe(2).call() == (now + 200, now + 300, EUR)


@pytest.mark.parametrize("length", [0, -1], ids=["empty", "reversed"])
def test_create_timeframe_reverts_when_it_does_not_end_after_it_starts(h: Harness, length: int) -> None:
    start = h.chain.now() + 100
    h.assert_reverts(
        h.fn.createTimeframe(start, start + length, EUR), h.admin, "MeteringInvalidTimeframe", start, start + length
    )


def test_create_timeframe_reverts_when_it_starts_now_or_earlier_but_not_one_second_later(h: Harness) -> None:
    t = h.chain.now() + 10
    h.assert_reverts(h.fn.createTimeframe(t, t + 50, EUR), h.admin, "MeteringTimeframeStartsInPast", t, t, at=t)
    h.assert_reverts(
        h.fn.createTimeframe(t - 5, t + 50, EUR), h.admin, "MeteringTimeframeStartsInPast", t - 5, t, at=t
    )
    tf = h.create_timeframe(t + 1, t + 50, at=t)
    assert tf.id == 1


def test_create_timeframe_reverts_when_it_overlaps_the_previous_one(h: Harness) -> None:
    now = h.chain.now()
    h.create_timeframe(now + 100, now + 200)
    h.assert_reverts(
        h.fn.createTimeframe(now + 199, now + 300, EUR), h.admin, "MeteringTimeframeOverlap", now + 199, now + 200
    )
    # Before the previous one is an overlap too: timeframes are created in order.
    h.assert_reverts(
        h.fn.createTimeframe(now + 50, now + 60, EUR), h.admin, "MeteringTimeframeOverlap", now + 50, now + 200
    )
    assert h.fn.timeframeCount().call() == 1


def test_unknown_timeframe_ids_revert_in_views_rules_and_anchors(h: Harness, setup_timeframe: SetupTimeframe) -> None:
    _view_error(h, h.fn.timeframe(0), "MeteringUnknownTimeframe", 0)
    _view_error(h, h.fn.timeframe(1), "MeteringUnknownTimeframe", 1)
    setup_timeframe(enter=False)
    assert h.fn.timeframe(1).call()[2] == EUR
    _view_error(h, h.fn.timeframe(2), "MeteringUnknownTimeframe", 2)
    h.assert_reverts(h.fn.setRules(2, HARD, HARD_RULES.as_tuple()), h.admin, "MeteringUnknownTimeframe", 2)
    h.assert_reverts(h.fn.setRules(0, HARD, HARD_RULES.as_tuple()), h.admin, "MeteringUnknownTimeframe", 0)
    customer = h.actors.customers[0].address
    h.assert_reverts(h.fn.anchorInvoice(customer, 7, b"\x01" * 32, 1), h.admin, "MeteringUnknownTimeframe", 7)


def test_active_timeframe_view_walks_past_several_ended_timeframes_and_gaps(
    h: Harness, setup_timeframe: SetupTimeframe
) -> None:
    s = h.chain.now() + 100
    one = setup_timeframe(start=s, length=10, enter=False)
    two = setup_timeframe(start=s + 10, length=10, enter=False)
    three = setup_timeframe(start=s + 30, length=10, enter=False)  # a gap [s+20, s+30) before it
    active = h.fn.activeTimeframe()

    h.chain.mine(s - 1)
    assert active.call() == 0  # before the first timeframe
    h.chain.mine(s)
    assert active.call() == one.id
    h.chain.mine(s + 35)  # jump past two ended timeframes and the gap at once
    assert active.call() == three.id

    # The first write after the jump moves the cursor past both ended timeframes and decides under the third.
    customer = h.actors.customers[0]
    decision, receipt = h.activate(customer, HARD, rid(1), 100, at=s + 36)
    assert decision == (True, DenialReason.NONE)
    granted = h.only_event(receipt, "ActivationGranted")
    assert (granted["timeframe"], granted["leaseEnd"]) == (three.id, three.end)
    assert two.id == 2

    h.chain.mine(s + 40)
    assert active.call() == 0  # after the last timeframe


def test_active_timeframe_is_zero_in_a_gap_between_timeframes(h: Harness, setup_timeframe: SetupTimeframe) -> None:
    s = h.chain.now() + 100
    setup_timeframe(start=s, length=10, enter=False)
    setup_timeframe(start=s + 20, length=10, enter=False)
    h.chain.mine(s + 9)
    assert h.fn.activeTimeframe().call() == 1
    h.chain.mine(s + 10)
    assert h.fn.activeTimeframe().call() == 0
    h.chain.mine(s + 19)
    assert h.fn.activeTimeframe().call() == 0
    h.chain.mine(s + 20)
    assert h.fn.activeTimeframe().call() == 2


def test_set_rules_works_the_second_before_start_and_reverts_rules_frozen_from_start(
    h: Harness, setup_timeframe: SetupTimeframe
) -> None:
    tf = setup_timeframe(rules={}, enter=False)
    rules = Rules(
        price_per_activation=7, price_per_continuation=5, price_per_time_unit=3, time_unit_seconds=60,
        max_concurrent=4, mode=LimitMode.SOFT,
    )
    returned, receipt = h.call_and_send(h.fn.setRules(tf.id, HARD, rules.as_tuple()), h.admin, at=tf.start - 1)
    expected_hash = rules_hash(tf.id, HARD, rules)
    assert returned == expected_hash
    event = h.only_event(receipt, "RulesSet")
    assert event == {
        "timeframe": tf.id,
        "instanceType": HARD,
        "rulesHash": expected_hash,
        "rules": (7, 5, 3, 60, 0, 0, 4, 0, LimitMode.SOFT, 0),
    }
    frozen = h.fn.setRules(tf.id, HARD, HARD_RULES.as_tuple())
    h.assert_reverts(frozen, h.admin, "MeteringRulesFrozen", tf.id, tf.start, at=tf.start)
    h.assert_reverts(frozen, h.admin, "MeteringRulesFrozen", tf.id, tf.start, at=tf.start + 500)
    # A type that had no rules is frozen too: it stays unconfigured.
    h.assert_reverts(
        h.fn.setRules(tf.id, SOFT, HARD_RULES.as_tuple()), h.admin, "MeteringRulesFrozen", tf.id, tf.start
    )
    assert tuple(h.fn.rules(tf.id, HARD).call()) == (rules.as_tuple(), True)
    assert h.fn.rulesHash(tf.id, HARD).call() == expected_hash
    assert tuple(h.fn.rules(tf.id, SOFT).call()) == ((0,) * 10, False)
    assert h.fn.rulesHash(tf.id, SOFT).call() == b"\x00" * 32


def test_rules_replaced_before_start_emit_the_new_hash_and_decide_activations(
    h: Harness, setup_timeframe: SetupTimeframe
) -> None:
    tf = setup_timeframe(rules={HARD: HARD_RULES}, enter=False)
    stricter = Rules(price_per_activation=100, price_per_time_unit=2, max_concurrent=1, mode=LimitMode.HARD)
    receipt = h.set_rules(tf.id, HARD, stricter, at=tf.start - 10)
    event = h.only_event(receipt, "RulesSet")
    assert event["rulesHash"] == rules_hash(tf.id, HARD, stricter) != rules_hash(tf.id, HARD, HARD_RULES)
    assert Rules.from_tuple(event["rules"]) == stricter
    assert h.fn.rulesHash(tf.id, HARD).call() == rules_hash(tf.id, HARD, stricter)

    customer = h.actors.customers[0]
    assert h.activate(customer, HARD, rid(1), 100, at=tf.start)[0] == (True, DenialReason.NONE)
    # HARD_RULES would allow a second one at once; the replacement does not.
    second, receipt = h.activate(customer, HARD, rid(2), 100)
    assert second == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    assert h.only_event(receipt, "ActivationDenied")["reason"] == DenialReason.CONCURRENCY_LIMIT_REACHED
    assert h.fn.rules(tf.id, UNCONFIGURED).call()[1] is False


# ---------------------------------------------------------------------------------------------- currencies and prices


@pytest.mark.parametrize(
    "raw",
    [b"eur", b"EURO", b"E1R", b"EU", b"", b"EUR\x00\x00\x00\x00X", b"EU\x00R"],
    ids=["lower-case", "four-letters", "digit", "two-letters", "empty", "trailing-byte", "inner-zero"],
)
def test_create_timeframe_reverts_invalid_currency_unless_three_upper_case_letters(h: Harness, raw: bytes) -> None:
    start = h.chain.now() + 100
    code = raw.ljust(8, b"\0")
    h.assert_reverts(h.fn.createTimeframe(start, start + 10, code), h.admin, "MeteringInvalidCurrency", code)
    assert h.fn.timeframeCount().call() == 0


def test_timeframes_keep_their_own_currency(h: Harness) -> None:
    now = h.chain.now()
    h.create_timeframe(now + 100, now + 200, currency=EUR)
    h.create_timeframe(now + 200, now + 300, currency=USD)
    h.create_timeframe(now + 300, now + 400, currency=b"JPY".ljust(8, b"\0"))
    assert [h.fn.timeframe(i).call()[2] for i in (1, 2, 3)] == [EUR, USD, b"JPY\0\0\0\0\0"]


def test_rules_hold_sub_cent_prices_in_micro_units(h: Harness, setup_timeframe: SetupTimeframe) -> None:
    """0.12 EUR per hour and 0.0004 USD per activation are exact integers of micro-units (1e-6 of a cent)."""
    assert h.fn.PRICE_SCALE().call() == 1_000_000
    eur_hourly = Rules(price_per_time_unit=parse_price("0.12", "EUR"), time_unit_seconds=3600)
    usd_per_activation = Rules(price_per_activation=parse_price("0.0004", "USD"))
    assert (eur_hourly.price_per_time_unit, usd_per_activation.price_per_activation) == (12_000_000, 40_000)
    eur = setup_timeframe(rules={HARD: eur_hourly}, enter=False)
    usd = setup_timeframe(start=eur.end, rules={HARD: usd_per_activation}, enter=False, currency=USD)
    assert h.fn.rules(eur.id, HARD).call() == [eur_hourly.as_tuple(), True]
    assert h.fn.rules(usd.id, HARD).call() == [usd_per_activation.as_tuple(), True]
    assert h.fn.rulesHash(usd.id, HARD).call() == rules_hash(usd.id, HARD, usd_per_activation)


def test_set_rules_reverts_invalid_rules_for_a_zero_time_unit_or_more_than_max_concurrent(
    h: Harness, setup_timeframe: SetupTimeframe
) -> None:
    tf = setup_timeframe(rules={}, enter=False)
    assert h.fn.MAX_CONCURRENT().call() == 99
    zero_unit = (0, 0, 1, 0, 0, 0, 2, 0, 0, 0)
    h.assert_reverts(h.fn.setRules(tf.id, HARD, zero_unit), h.admin, "MeteringInvalidRules", 0, 2, 99)
    too_many = (0, 0, 0, 1, 0, 0, 100, 0, 0, 0)
    h.assert_reverts(h.fn.setRules(tf.id, HARD, too_many), h.admin, "MeteringInvalidRules", 1, 100, 99)
    h.set_rules(tf.id, HARD, Rules(max_concurrent=99))  # the maximum itself is accepted
    assert h.fn.rules(tf.id, HARD).call()[0][6] == 99
