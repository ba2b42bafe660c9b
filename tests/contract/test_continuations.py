"""Continuations: a lease that ran to its timeframe's end, renewed once the next timeframe (which starts exactly at
that end) is active, continues under the same instance id, as a fresh decision under the new rules, billed from the
new timeframe's start. A continuation is not an activation and costs ``pricePerContinuation``.
"""

from __future__ import annotations

from typing import Any

import pytest

from metering.contract import DenialReason, InstanceStatus, LimitMode
from metering.types import Rules

from .conftest import HARD_RULES, SetupTimeframe, Tf
from .helpers import HARD, NO_SEAT, SOFT, Harness, UsageView, rid

CENT = 1_000_000
#: The next timeframe's rules: one running at a time, one activation, a continuation price of a cent.
NEXT = Rules(
    price_per_activation=5 * CENT,
    price_per_continuation=CENT,
    price_per_time_unit=10_000,
    max_concurrent=1,
    max_activations=1,
)


def _two_timeframes(
    h: Harness, setup_timeframe: SetupTimeframe, next_rules: dict[int, Rules] | None = None, gap: int = 0
) -> tuple[Tf, Tf]:
    first = setup_timeframe(length=500, enter=False)
    second = setup_timeframe(
        start=first.end + gap, length=500, rules={HARD: NEXT} if next_rules is None else next_rules, enter=False
    )
    h.chain.mine(first.start)
    return first, second


def _run_to_the_end(h: Harness, customer: Any, tf: Tf, seat: int = 1, itype: int = HARD, left: int = 30) -> bytes:
    """Grant an instance ``left`` seconds before ``tf`` ends with a longer lease: it is capped at the end."""
    assert h.activate(customer, itype, rid(seat), 1000, at=tf.end - left)[0] == (True, DenialReason.NONE)
    iid = h.iid(rid(seat))
    assert h.instance(iid).lease_end == tf.end
    return iid


def test_a_lease_that_ran_to_the_end_continues_in_the_next_timeframe_billed_from_its_start(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first, second = _two_timeframes(h, setup_timeframe)
    c = customers[0]
    iid = _run_to_the_end(h, c, first)
    at = second.start + 20  # renewed 20 seconds into the next timeframe: those 20 seconds are billed too
    result, receipt = h.renew(iid, 60, at=at)
    assert result == (True, DenialReason.NONE, at + 60)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "LeaseContinued"]
    assert events[0].args == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": first.id,
        "leaseEnd": first.end,
    }
    assert events[1].args == {
        "instanceId": iid,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": second.id,
        "startedAt": second.start,
        "leaseEnd": at + 60,
        "overage": False,
    }
    record = h.instance(iid)
    assert (record.status, record.timeframe, record.lease_end, record.seat) == (
        InstanceStatus.OPEN, second.id, at + 60, 0,
    )
    assert h.usage(c, first.id, HARD) == UsageView(1, 0, 30, 0)
    assert h.usage(c, second.id, HARD) == UsageView(0, 0, 80, 1)  # not an activation; no second unbilled
    # From now on it is an instance of the second timeframe: it renews and stops there.
    assert h.renew(iid, 100, at=at + 10)[0] == (True, DenialReason.NONE, at + 110)
    receipt = h.deactivate(iid, at=at + 50)
    assert h.only_event(receipt, "InstanceDeactivated")["timeframe"] == second.id
    assert h.usage(c, second.id, HARD) == UsageView(0, 0, 70, 0)


def test_a_continuation_at_the_first_second_of_the_next_timeframe_leaves_no_gap(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first, second = _two_timeframes(h, setup_timeframe)
    c = customers[0]
    iid = _run_to_the_end(h, c, first)
    result, receipt = h.renew(iid, 60, at=first.end)
    assert result == (True, DenialReason.NONE, second.start + 60)
    continued = h.events(receipt, "LeaseContinued")[0].args
    assert (continued["startedAt"], continued["leaseEnd"]) == (first.end, first.end + 60)


def test_a_continuation_is_not_an_activation_and_costs_the_continuation_price(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    rules = {HARD: Rules(price_per_activation=5 * CENT, price_per_continuation=CENT, price_per_time_unit=10_000,
                         max_activations=1)}
    first, second = _two_timeframes(h, setup_timeframe, rules)
    c = customers[0]
    iid = _run_to_the_end(h, c, first)
    # The only activation the next timeframe allows is used up first.
    assert h.activate(c, HARD, rid(2), 100, at=second.start)[0] == (True, DenialReason.NONE)
    assert h.spent(c, second.id) == 5 * CENT + 100 * 10_000
    assert h.renew(iid, 100, at=second.start + 10)[0] == (True, DenialReason.NONE, second.start + 110)
    assert h.usage(c, second.id, HARD) == UsageView(1, 0, 100 + 110, 0)
    assert h.spent(c, second.id) == 5 * CENT + CENT + (100 + 110) * 10_000


@pytest.mark.parametrize("why", ["hard_concurrency", "suspended", "spending_cap", "agent_revoked", "no_rules"])
def test_a_continuation_is_denied_lease_renewal_denied_under_the_next_timeframes_rules(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, why: str
) -> None:
    first, second = _two_timeframes(h, setup_timeframe, {} if why == "no_rules" else None)
    c = customers[0]
    iid = _run_to_the_end(h, c, first)
    if why == "hard_concurrency":  # the one seat of the next timeframe is taken
        assert h.activate(c, HARD, rid(2), 100, at=second.start)[0] == (True, DenialReason.NONE)
    elif why == "suspended":
        h.suspend(c, at=second.start)
    elif why == "spending_cap":  # a cent for the continuation, then 1 second too many at 10,000 micro-units
        h.set_cap(c, 2, at=second.start)
    elif why == "agent_revoked":
        h.approve(c, h.agent2, at=second.start)
    reason = {
        "hard_concurrency": DenialReason.CONCURRENCY_LIMIT_REACHED,
        "suspended": DenialReason.CUSTOMER_SUSPENDED,
        "spending_cap": DenialReason.SPENDING_CAP_REACHED,
        "agent_revoked": DenialReason.AGENT_NOT_APPROVED,
        "no_rules": DenialReason.NO_RULES_FOR_TYPE,
    }[why]
    before = h.usage(c, second.id, HARD)
    result, receipt = h.renew(iid, 101, at=second.start + 1)
    assert result == (False, reason, 0)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "LeaseRenewalDenied"]
    assert events[1].args == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": second.id, "reason": reason,
    }
    record = h.instance(iid)
    assert (record.status, record.timeframe, record.lease_end) == (InstanceStatus.CLOSED, first.id, first.end)
    assert h.usage(c, second.id, HARD) == before
    assert h.usage(c, first.id, HARD) == UsageView(1, 0, 30, 0)


def test_a_continuation_within_the_cap_is_granted_when_it_meets_the_cap_exactly(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first, second = _two_timeframes(h, setup_timeframe)
    c = customers[0]
    iid = _run_to_the_end(h, c, first)
    h.set_cap(c, 2, at=second.start)
    # A cent for the continuation and a cent for 100 seconds (from the timeframe's start, not from now).
    assert h.renew(iid, 99, at=second.start + 1)[0] == (True, DenialReason.NONE, second.start + 100)
    assert h.spent(c, second.id) == 2 * CENT


def test_a_soft_continuation_while_all_seats_are_live_is_overage_and_holds_no_seat(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    soft_one = Rules(max_concurrent=1, mode=LimitMode.SOFT)
    first, second = _two_timeframes(h, setup_timeframe, {SOFT: soft_one})
    c = customers[0]
    iid = _run_to_the_end(h, c, first, itype=SOFT)
    assert h.activate(c, SOFT, rid(2), 100, at=second.start)[0] == (True, DenialReason.NONE)
    result, receipt = h.renew(iid, 50, at=second.start + 1)
    assert result == (True, DenialReason.NONE, second.start + 51)
    assert h.events(receipt, "LeaseContinued")[0].args["overage"] is True
    assert h.instance(iid).seat == NO_SEAT
    # Overage continuations are not overage activations: they are not activations at all.
    assert h.usage(c, second.id, SOFT) == UsageView(1, 0, 100 + 51, 1)


def test_no_continuation_when_the_next_timeframe_does_not_start_exactly_at_the_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first, second = _two_timeframes(h, setup_timeframe, {HARD: HARD_RULES}, gap=10)
    c = customers[0]
    in_gap = _run_to_the_end(h, c, first, seat=1)
    later = _run_to_the_end(h, c, first, seat=2)
    result, receipt = h.renew(in_gap, 60, at=first.end + 5)
    assert result == (False, DenialReason.NO_ACTIVE_TIMEFRAME, 0)
    assert h.events(receipt)[1].args["timeframe"] == 0
    result, receipt = h.renew(later, 60, at=second.start)
    assert result == (False, DenialReason.LEASE_EXPIRED, 0)
    assert [(e.name, e.args["timeframe"]) for e in h.events(receipt)] == [
        ("LeaseExpired", first.id), ("LeaseRenewalDenied", second.id),
    ]
    assert h.usage(c, second.id, HARD) == UsageView(0, 0, 0, 0)


def test_no_continuation_when_no_timeframe_follows(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe(length=500)
    c = customers[0]
    iid = _run_to_the_end(h, c, tf, left=40)
    result, receipt = h.renew(iid, 60, at=tf.end + 5)
    assert result == (False, DenialReason.NO_ACTIVE_TIMEFRAME, 0)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "LeaseRenewalDenied"]
    assert events[0].args["leaseEnd"] == tf.end
    assert events[1].args == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": 0,
        "reason": DenialReason.NO_ACTIVE_TIMEFRAME,
    }
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 40, 0)


def test_no_continuation_into_a_timeframe_that_is_not_the_next_one(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(length=500, enter=False)
    second = setup_timeframe(start=first.end, length=50, enter=False)
    third = setup_timeframe(start=second.end, length=500, enter=False)
    h.chain.mine(first.start)
    iid = _run_to_the_end(h, customers[0], first)
    result, receipt = h.renew(iid, 60, at=third.start)
    assert result == (False, DenialReason.LEASE_EXPIRED, 0)
    assert h.events(receipt)[1].args["timeframe"] == third.id


def test_a_lease_that_expired_before_its_timeframes_end_does_not_continue(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first, second = _two_timeframes(h, setup_timeframe)
    c = customers[0]
    h.activate(c, HARD, rid(1), 20, at=first.end - 30)  # ends 10 seconds before the timeframe does
    result, receipt = h.renew(h.iid(rid(1)), 60, at=second.start)
    assert result == (False, DenialReason.LEASE_EXPIRED, 0)
    assert [(e.name, e.args["timeframe"]) for e in h.events(receipt)] == [
        ("LeaseExpired", first.id), ("LeaseRenewalDenied", second.id),
    ]
    assert h.usage(c, second.id, HARD) == UsageView(0, 0, 0, 0)
