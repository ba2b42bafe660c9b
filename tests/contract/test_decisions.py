"""Activation decisions: every denial reason, hard and soft limits, exact boundary seconds, idempotency, batches."""

from __future__ import annotations

from typing import Any

import pytest

from metering.contract import DenialReason, InstanceStatus, LimitMode
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import HARD, NO_SEAT, SOFT, UNCONFIGURED, ZERO_ADDRESS, Harness, UsageView, rid

LEASE = 100
#: Two seats and no other limit, so that only concurrency decides (and marks overage).
SEATS_ONLY = {HARD: Rules(max_concurrent=2), SOFT: Rules(max_concurrent=2, mode=LimitMode.SOFT)}


def _assert_denied(
    h: Harness, decision: tuple[bool, int], receipt: Any, request: int, customer: Any, itype: int, tf: int,
    reason: DenialReason,
) -> None:
    """The request was denied for ``reason``, without reverting, and the denial is recorded under its id."""
    iid = h.iid(request)
    assert receipt["status"] == 1
    assert decision == (False, reason)
    assert h.only_event(receipt, "ActivationDenied") == {
        "instanceId": iid,
        "customer": customer.address,
        "instanceType": itype,
        "timeframe": tf,
        "reason": reason,
    }
    record = h.instance(iid)
    assert (record.customer, record.status, record.reason) == (customer.address, InstanceStatus.DENIED, reason)
    assert (record.timeframe, record.instance_type, record.lease_end, record.seat) == (tf, itype, 0, NO_SEAT)


def _assert_granted(
    h: Harness, decision: tuple[bool, int], receipt: Any, request: int, customer: Any, itype: int, tf: int,
    started: int, lease_end: int, overage: bool = False,
) -> None:
    iid = h.iid(request)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationGranted") == {
        "instanceId": iid,
        "customer": customer.address,
        "instanceType": itype,
        "timeframe": tf,
        "startedAt": started,
        "leaseEnd": lease_end,
        "overage": overage,
    }
    record = h.instance(iid)
    assert (record.customer, record.status, record.lease_end) == (customer.address, InstanceStatus.OPEN, lease_end)
    assert (record.timeframe, record.instance_type, record.reason) == (tf, itype, DenialReason.NONE)


# ---------------------------------------------------------------------------------------------- grants


def test_activation_is_granted_and_counted_when_within_limits(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    t = tf.start + 5
    decision, receipt = h.activate(customers[0], HARD, rid(1), LEASE, at=t)
    _assert_granted(h, decision, receipt, rid(1), customers[0], HARD, tf.id, t, t + LEASE)
    assert h.instance(h.iid(rid(1))).seat == 0  # the first concurrency seat
    assert h.usage(customers[0], tf.id, HARD) == UsageView(1, 0, LEASE, 1)
    assert h.usage(customers[0], tf.id, SOFT) == UsageView(0, 0, 0, 0)
    assert h.usage(customers[1], tf.id, HARD) == UsageView(0, 0, 0, 0)


# ---------------------------------------------------------------------------------------------- denials


@pytest.mark.parametrize("when", ["no_timeframe_exists", "before_first", "in_gap", "after_last"])
def test_activation_is_denied_no_active_timeframe_when_outside_every_timeframe(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, when: str
) -> None:
    at = h.chain.now() + 1
    if when != "no_timeframe_exists":
        s = h.chain.now() + 100
        first = setup_timeframe(start=s, length=50, enter=False)
        setup_timeframe(start=s + 80, length=50, enter=False)
        at = {"before_first": first.start - 1, "in_gap": s + 50, "after_last": s + 130}[when]
    decision, receipt = h.activate(customers[0], HARD, rid(1), LEASE, at=at)
    _assert_denied(h, decision, receipt, rid(1), customers[0], HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)
    for tf in (1, 2):
        assert h.usage(customers[0], tf, HARD) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_no_rules_when_the_type_has_no_rules_in_the_timeframe(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    decision, receipt = h.activate(customers[0], UNCONFIGURED, rid(1), LEASE)
    _assert_denied(h, decision, receipt, rid(1), customers[0], UNCONFIGURED, tf.id, DenialReason.NO_RULES_FOR_TYPE)
    assert h.usage(customers[0], tf.id, UNCONFIGURED) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_when_the_customer_is_not_enrolled(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(enroll=1)
    decision, receipt = h.activate(customers[1], HARD, rid(1), LEASE)
    _assert_denied(h, decision, receipt, rid(1), customers[1], HARD, tf.id, DenialReason.CUSTOMER_NOT_ENROLLED)
    assert h.usage(customers[1], tf.id, HARD) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_while_the_customer_is_suspended_and_granted_after_reinstatement(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    assert h.only_event(h.suspend(customers[0]), "CustomerSuspended") == {"customer": customers[0].address}
    assert h.fn.customerStatus(customers[0].address).call() == 2
    assert h.fn.mayBill(customers[0].address, h.agent.address).call() is False
    decision, receipt = h.activate(customers[0], SOFT, rid(1), LEASE)
    _assert_denied(h, decision, receipt, rid(1), customers[0], SOFT, tf.id, DenialReason.CUSTOMER_SUSPENDED)
    # Soft mode does not soften a suspension.
    assert h.usage(customers[0], tf.id, SOFT) == UsageView(0, 0, 0, 0)

    receipt = h.send(h.fn.enrollCustomer(customers[0].address), h.admin)
    assert h.only_event(receipt, "CustomerEnrolled") == {"customer": customers[0].address}
    decision, _ = h.activate(customers[0], SOFT, rid(2), LEASE)
    assert decision == (True, DenialReason.NONE)


def test_enroll_and_suspend_do_nothing_when_the_status_does_not_change(h: Harness, customers: Any) -> None:
    c = customers[0].address
    h.assert_reverts(h.fn.suspendCustomer(c), h.admin, "MeteringInvalidCustomer", c)  # never enrolled
    h.assert_reverts(h.fn.enrollCustomer(ZERO_ADDRESS), h.admin, "MeteringInvalidCustomer", ZERO_ADDRESS)
    h.enroll(customers[0])
    assert h.events(h.send(h.fn.enrollCustomer(c), h.admin)) == []
    h.suspend(customers[0])
    assert h.events(h.suspend(customers[0])) == []
    assert h.fn.customerStatus(c).call() == 2


def test_activation_is_denied_when_concurrency_is_full_in_hard_mode(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # HARD: maxConcurrent 2, maxActivations 3
    c = customers[0]
    for seat in (1, 2):
        assert h.activate(c, HARD, rid(seat), LEASE)[0] == (True, DenialReason.NONE)
    decision, receipt = h.activate(c, HARD, rid(3), LEASE)
    _assert_denied(h, decision, receipt, rid(3), c, HARD, tf.id, DenialReason.CONCURRENCY_LIMIT_REACHED)
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 2 * LEASE, 2)
    # The limit is per customer: another customer is not affected.
    assert h.activate(customers[1], HARD, rid(4), LEASE)[0] == (True, DenialReason.NONE)


def test_activation_is_denied_when_the_activation_quota_is_used_up_in_hard_mode(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t = tf.start
    for seat in (1, 2, 3):
        t += 10
        assert h.activate(c, HARD, rid(seat), LEASE, at=t)[0] == (True, DenialReason.NONE)
        h.deactivate(h.iid(rid(seat)), at=t + 5)
    decision, receipt = h.activate(c, HARD, rid(4), LEASE)
    _assert_denied(h, decision, receipt, rid(4), c, HARD, tf.id, DenialReason.ACTIVATION_QUOTA_REACHED)
    assert h.usage(c, tf.id, HARD) == UsageView(3, 0, 15, 0)


def test_concurrency_is_reported_first_when_both_limits_are_reached(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    both = Rules(price_per_activation=1, price_per_time_unit=1, max_concurrent=1, max_activations=1)
    tf = setup_timeframe(rules={HARD: both})
    c = customers[0]
    assert h.activate(c, HARD, rid(1), LEASE)[0] == (True, DenialReason.NONE)
    decision, receipt = h.activate(c, HARD, rid(2), LEASE)
    _assert_denied(h, decision, receipt, rid(2), c, HARD, tf.id, DenialReason.CONCURRENCY_LIMIT_REACHED)


def test_activation_beyond_a_soft_limit_is_granted_as_overage_and_counted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # SOFT: maxConcurrent 2, maxActivations 3
    c = customers[0]
    t = tf.start
    for i in range(5):
        t += 1
        decision, receipt = h.activate(c, SOFT, rid(i), LEASE, at=t)
        # concurrency (2) is exceeded from the third
        _assert_granted(h, decision, receipt, rid(i), c, SOFT, tf.id, t, t + LEASE, overage=i >= 2)
    assert h.usage(c, tf.id, SOFT) == UsageView(5, 3, 5 * LEASE, 2)


def test_soft_overage_granted_while_all_seats_are_live_holds_no_seat(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={SOFT: SEATS_ONLY[SOFT]})
    c = customers[0]
    t = tf.start + 1
    h.activate_many([(c, SOFT, rid(1), LEASE), (c, SOFT, rid(2), LEASE), (c, SOFT, rid(3), 500)], at=t)
    assert [h.instance(h.iid(rid(s))).seat for s in (1, 2, 3)] == [0, 1, NO_SEAT]
    assert h.usage(c, tf.id, SOFT).running == 2
    # When a seat frees up, the next grant takes it and is no overage, although the overage instance still runs.
    h.deactivate(h.iid(rid(1)), at=t + 10)
    assert h.usage(c, tf.id, SOFT).running == 1
    decision, receipt = h.activate(c, SOFT, rid(4), LEASE, at=t + 11)
    _assert_granted(h, decision, receipt, rid(4), c, SOFT, tf.id, t + 11, t + 11 + LEASE, overage=False)
    assert h.instance(h.iid(rid(4))).seat == 0
    assert h.usage(c, tf.id, SOFT) == UsageView(4, 1, 10 + LEASE + 500 + LEASE, 2)


def test_soft_quota_overage_is_marked_once_concurrency_is_free_again(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t = tf.start
    flags = []
    for i in range(4):
        t += 10
        _, receipt = h.activate(c, SOFT, rid(i), LEASE, at=t)
        flags.append(h.only_event(receipt, "ActivationGranted")["overage"])
        h.deactivate(h.iid(rid(i)), at=t + 1)
    assert flags == [False, False, False, True]  # the fourth activation exceeds maxActivations = 3
    assert h.usage(c, tf.id, SOFT) == UsageView(4, 1, 4, 0)


# ---------------------------------------------------------------------------------------------- expired leases


@pytest.mark.parametrize("itype", [HARD, SOFT], ids=["hard", "soft"])
def test_expired_leases_free_their_seats_at_once_although_nobody_closed_them(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, itype: int
) -> None:
    tf = setup_timeframe(rules=SEATS_ONLY)
    c = customers[0]
    t0 = tf.start + 10
    h.activate_many([(c, itype, rid(1), 10), (c, itype, rid(2), 20)], at=t0)
    # One second before the first expiry both seats are live: hard denies, soft grants as overage.
    decision, receipt = h.activate(c, itype, rid(3), LEASE, at=t0 + 9)
    if itype == HARD:
        assert decision == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    else:
        assert h.only_event(receipt, "ActivationGranted")["overage"] is True
    assert h.usage(c, tf.id, itype).running == 2
    # At the expiry second the seat is free: no expireLeases, no LeaseExpired, no overage.
    decision, receipt = h.activate(c, itype, rid(4), LEASE, at=t0 + 10)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationGranted")["overage"] is False
    assert h.instance(h.iid(rid(4))).seat == 0
    assert h.instance(h.iid(rid(1))).status == InstanceStatus.OPEN  # never closed: it simply ran out
    h.chain.mine(t0 + 20)
    assert h.usage(c, tf.id, itype).running == 1  # only the new lease is live


# ---------------------------------------------------------------------------------------------- boundaries


def test_activation_one_second_before_the_start_is_denied_and_at_the_start_is_granted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(enter=False)
    c = customers[0]
    decision, receipt = h.activate(c, HARD, rid(1), LEASE, at=tf.start - 1)
    _assert_denied(h, decision, receipt, rid(1), c, HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)
    decision, receipt = h.activate(c, HARD, rid(2), LEASE, at=tf.start)
    _assert_granted(h, decision, receipt, rid(2), c, HARD, tf.id, tf.start, tf.start + LEASE)


def test_activation_in_the_last_second_gets_a_one_second_lease_capped_at_the_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    decision, receipt = h.activate(c, HARD, rid(1), LEASE, at=tf.end - 1)
    _assert_granted(h, decision, receipt, rid(1), c, HARD, tf.id, tf.end - 1, tf.end)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 1, 1)


def test_activation_at_the_end_is_denied_when_no_timeframe_follows(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    decision, receipt = h.activate(customers[0], HARD, rid(1), LEASE, at=tf.end)
    _assert_denied(h, decision, receipt, rid(1), customers[0], HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)


def test_activation_at_the_end_falls_in_the_next_timeframe_when_it_is_adjacent(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(enter=False)
    second = setup_timeframe(start=first.end, length=500, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    decision, receipt = h.activate(c, HARD, rid(1), LEASE, at=first.end)
    _assert_granted(h, decision, receipt, rid(1), c, HARD, second.id, first.end, first.end + LEASE)
    assert h.usage(c, first.id, HARD) == UsageView(0, 0, 0, 0)
    assert h.usage(c, second.id, HARD) == UsageView(1, 0, LEASE, 1)


def test_a_lease_longer_than_the_timeframe_is_capped_at_its_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(length=1000)
    t = tf.start + 10
    decision, receipt = h.activate(customers[0], HARD, rid(1), 2**32 - 1, at=t)
    _assert_granted(h, decision, receipt, rid(1), customers[0], HARD, tf.id, t, tf.end)
    assert h.usage(customers[0], tf.id, HARD).leased_seconds == tf.end - t


# ---------------------------------------------------------------------------------------------- input errors


def test_activation_reverts_on_a_zero_lease_or_the_zero_customer(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    iid = h.iid(rid(1))
    h.assert_reverts(
        h.fn.requestActivation(customers[0].address, HARD, rid(1), 0), h.agent, "MeteringZeroLease", iid
    )
    h.assert_reverts(
        h.fn.requestActivation(ZERO_ADDRESS, HARD, rid(1), LEASE), h.agent, "MeteringInvalidCustomer", ZERO_ADDRESS
    )
    batch = [(customers[0].address, HARD, rid(2), LEASE), (customers[0].address, HARD, rid(1), 0)]
    h.assert_reverts(h.fn.requestActivations(batch), h.agent, "MeteringZeroLease", iid)
    assert h.instance(h.iid(rid(2))).status == InstanceStatus.UNKNOWN  # the whole batch reverted
    assert h.seat(2).generation == 0


# ---------------------------------------------------------------------------------------------- idempotency


def test_same_request_id_twice_grants_once_and_replays_the_first_decision(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    iid = h.iid(rid(1))
    assert h.activate(c, HARD, rid(1), LEASE, at=tf.start + 1)[0] == (True, DenialReason.NONE)
    before = h.usage(c, tf.id, HARD)
    committed = h.spent(c, tf.id)
    assert committed == (LEASE - 60) * 2  # HARD_RULES: the first activation and 60 seconds are included
    # v3: a replay must repeat the lease length too (checked through the record's 5-bit lease tag).
    h.assert_reverts(h.fn.requestActivation(c.address, HARD, rid(1), 5 * LEASE), h.agent,
                     "MeteringReplayLeaseMismatch", iid, 5 * LEASE, at=tf.start + 2)
    decision, receipt = h.activate(c, HARD, rid(1), LEASE, at=tf.start + 2)  # the same request: a replay
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationReplayed") == {
        "instanceId": iid,
        "customer": c.address,
        "status": InstanceStatus.OPEN,
        "reason": DenialReason.NONE,
    }
    assert h.usage(c, tf.id, HARD) == before == UsageView(1, 0, LEASE, 1)
    assert h.spent(c, tf.id) == committed
    assert h.instance(iid).lease_end == tf.start + 1 + LEASE  # the lease was not restarted

    # A replay after the instance stopped still reports the grant, with the current status.
    h.deactivate(iid)
    decision, receipt = h.activate(c, HARD, rid(1), LEASE)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationReplayed")["status"] == InstanceStatus.CLOSED


def test_a_denied_request_stays_denied_when_retried_even_after_the_limit_frees_up(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    h.activate(c, HARD, rid(1), LEASE)
    h.activate(c, HARD, rid(2), LEASE)
    assert h.activate(c, HARD, rid(3), LEASE)[0] == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    h.deactivate(h.iid(rid(1)))  # a seat is free now
    before = h.usage(c, tf.id, HARD)
    decision, receipt = h.activate(c, HARD, rid(3), LEASE)
    assert decision == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    assert h.only_event(receipt, "ActivationReplayed") == {
        "instanceId": h.iid(rid(3)),
        "customer": c.address,
        "status": InstanceStatus.DENIED,
        "reason": DenialReason.CONCURRENCY_LIMIT_REACHED,
    }
    assert h.usage(c, tf.id, HARD) == before
    # The next generation of the same seat is a new request, decided on the current counters.
    assert h.activate(c, HARD, rid(3, 2), LEASE)[0] == (True, DenialReason.NONE)


@pytest.mark.parametrize("change", ["customer", "type"])
def test_a_replay_with_another_customer_or_type_reverts_request_mismatch(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, change: str
) -> None:
    setup_timeframe()
    c = customers[0]
    other_customer, other_type = (customers[1], HARD) if change == "customer" else (c, SOFT)
    h.activate(c, HARD, rid(1), LEASE)
    fn = h.fn.requestActivation(other_customer.address, other_type, rid(1), LEASE)
    h.assert_reverts(fn, h.agent, "MeteringRequestMismatch", h.iid(rid(1)), c.address, HARD)
    # Denied requests are recorded with their customer and type too.
    h.activate(c, UNCONFIGURED, rid(2), LEASE)
    fn = h.fn.requestActivation(other_customer.address, UNCONFIGURED if change == "customer" else HARD, rid(2), LEASE)
    h.assert_reverts(fn, h.agent, "MeteringRequestMismatch", h.iid(rid(2)), c.address, UNCONFIGURED)


def test_a_duplicate_request_id_inside_one_batch_replays_the_first_entry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    decisions, receipt = h.activate_many([(c, HARD, rid(1), LEASE), (c, HARD, rid(1), LEASE)])
    assert decisions == [(True, DenialReason.NONE), (True, DenialReason.NONE)]
    assert h.names(receipt) == ["ActivationGranted", "ActivationReplayed"]
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 1)


# ---------------------------------------------------------------------------------------------- batches


def test_batch_decides_in_order_against_counters_updated_by_earlier_entries_in_hard_mode(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # maxConcurrent 2
    c = customers[0]
    requests = [rid(s) for s in range(4)]
    t = tf.start + 3
    decisions, receipt = h.activate_many([(c, HARD, r, LEASE) for r in requests], at=t)
    limit = DenialReason.CONCURRENCY_LIMIT_REACHED
    assert decisions == [(True, 0), (True, 0), (False, limit), (False, limit)]
    events = h.events(receipt)
    assert [e.name for e in events] == ["ActivationGranted"] * 2 + ["ActivationDenied"] * 2
    assert [e.args["instanceId"] for e in events] == [h.iid(r) for r in requests]
    assert [e.log_index for e in events] == sorted(e.log_index for e in events)
    assert events[0].args["leaseEnd"] == t + LEASE
    assert [e.args["reason"] for e in events[2:]] == [limit, limit]
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 2 * LEASE, 2)


def test_batch_in_soft_mode_grants_all_and_marks_the_overage(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    decisions, receipt = h.activate_many([(c, SOFT, rid(s), LEASE) for s in range(4)])
    assert decisions == [(True, 0)] * 4
    assert [e.args["overage"] for e in h.events(receipt, "ActivationGranted")] == [False, False, True, True]
    assert h.usage(c, tf.id, SOFT) == UsageView(4, 2, 4 * LEASE, 2)


def test_batch_mixes_customers_types_and_reasons(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe(enroll=2)
    requests = [
        (customers[0], HARD, rid(0), LEASE),
        (customers[2], HARD, rid(1), LEASE),  # not enrolled
        (customers[1], UNCONFIGURED, rid(2), LEASE),
        (customers[1], SOFT, rid(3), 30),
    ]
    decisions, receipt = h.activate_many(requests)
    assert decisions == [
        (True, 0),
        (False, DenialReason.CUSTOMER_NOT_ENROLLED),
        (False, DenialReason.NO_RULES_FOR_TYPE),
        (True, 0),
    ]
    assert h.names(receipt) == ["ActivationGranted", "ActivationDenied", "ActivationDenied", "ActivationGranted"]
    assert h.usage(customers[0], tf.id, HARD) == UsageView(1, 0, LEASE, 1)
    assert h.usage(customers[1], tf.id, SOFT) == UsageView(1, 0, 30, 1)


def test_batch_above_max_batch_reverts_and_max_batch_is_accepted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    assert h.fn.MAX_BATCH().call() == 256
    many = [(customers[0].address, SOFT, rid(s), LEASE) for s in range(257)]
    h.assert_reverts(h.fn.requestActivations(many), h.agent, "MeteringBatchTooLarge", 257, 256)
    decisions, _ = h.activate_many(many[:256])
    assert len(decisions) == 256 and all(granted for granted, _ in decisions)
    assert h.usage(customers[0], tf.id, SOFT) == UsageView(256, 254, 256 * LEASE, 2)


def test_empty_batch_decides_nothing(h: Harness, setup_timeframe: SetupTimeframe) -> None:
    setup_timeframe()
    decisions, receipt = h.activate_many([])
    assert decisions == []
    assert h.events(receipt) == []
