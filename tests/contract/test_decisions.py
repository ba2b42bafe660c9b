"""Activation decisions: every denial reason, hard and soft limits, exact boundary seconds, idempotency, batches."""

from __future__ import annotations

from typing import Any

import pytest

from metering.contract import DenialReason, InstanceStatus
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import HARD, SOFT, UNCONFIGURED, ZERO_ADDRESS, Harness, UsageView, request_id

LEASE = 100


def _assert_denied(
    h: Harness, decision: tuple[bool, int], receipt: Any, rid: bytes, customer: Any, itype: int, tf: int,
    reason: DenialReason,
) -> None:
    """The request was denied for ``reason``, without reverting, and the denial is recorded under ``rid``."""
    assert receipt["status"] == 1
    assert decision == (False, reason)
    assert h.only_event(receipt, "ActivationDenied") == {
        "requestId": rid,
        "customer": customer.address,
        "instanceType": itype,
        "timeframe": tf,
        "reason": reason,
    }
    record = h.instance(rid)
    assert (record.customer, record.status, record.reason) == (customer.address, InstanceStatus.DENIED, reason)
    assert (record.timeframe, record.instance_type, record.lease_end) == (tf, itype, 0)


def _assert_granted(
    h: Harness, decision: tuple[bool, int], receipt: Any, rid: bytes, customer: Any, itype: int, tf: int,
    started: int, lease_end: int, overage: bool = False,
) -> None:
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationGranted") == {
        "instanceId": rid,
        "customer": customer.address,
        "instanceType": itype,
        "timeframe": tf,
        "startedAt": started,
        "leaseEnd": lease_end,
        "overage": overage,
    }
    record = h.instance(rid)
    assert (record.customer, record.status, record.lease_end) == (customer.address, InstanceStatus.OPEN, lease_end)
    assert (record.timeframe, record.instance_type, record.reason) == (tf, itype, DenialReason.NONE)


# ---------------------------------------------------------------------------------------------- grants


def test_activation_is_granted_and_counted_when_within_limits(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    t = tf.start + 5
    decision, receipt = h.activate(customers[0], HARD, request_id("a"), LEASE, at=t)
    _assert_granted(h, decision, receipt, request_id("a"), customers[0], HARD, tf.id, t, t + LEASE)
    assert h.usage(customers[0], tf.id, HARD) == UsageView(1, 1, 0, LEASE)
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
    rid = request_id(when)
    decision, receipt = h.activate(customers[0], HARD, rid, LEASE, at=at)
    _assert_denied(h, decision, receipt, rid, customers[0], HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)
    for tf in (1, 2):
        assert h.usage(customers[0], tf, HARD) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_no_rules_when_the_type_has_no_rules_in_the_timeframe(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    rid = request_id("x")
    decision, receipt = h.activate(customers[0], UNCONFIGURED, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, customers[0], UNCONFIGURED, tf.id, DenialReason.NO_RULES_FOR_TYPE)
    assert h.usage(customers[0], tf.id, UNCONFIGURED) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_when_the_customer_is_not_enrolled(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(enroll=1)
    rid = request_id("x")
    decision, receipt = h.activate(customers[1], HARD, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, customers[1], HARD, tf.id, DenialReason.CUSTOMER_NOT_ENROLLED)
    assert h.usage(customers[1], tf.id, HARD) == UsageView(0, 0, 0, 0)


def test_activation_is_denied_while_the_customer_is_suspended_and_granted_after_reinstatement(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    assert h.only_event(h.suspend(customers[0]), "CustomerSuspended") == {"customer": customers[0].address}
    assert h.fn.customerStatus(customers[0].address).call() == 2
    rid = request_id("x")
    decision, receipt = h.activate(customers[0], SOFT, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, customers[0], SOFT, tf.id, DenialReason.CUSTOMER_SUSPENDED)
    # Soft mode does not soften a suspension.
    assert h.usage(customers[0], tf.id, SOFT) == UsageView(0, 0, 0, 0)

    receipt = h.send(h.fn.enrollCustomer(customers[0].address), h.admin)
    assert h.only_event(receipt, "CustomerEnrolled") == {"customer": customers[0].address}
    decision, _ = h.activate(customers[0], SOFT, request_id("y"), LEASE)
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
    for label in ("a", "b"):
        assert h.activate(c, HARD, request_id(label), LEASE)[0] == (True, DenialReason.NONE)
    rid = request_id("c")
    decision, receipt = h.activate(c, HARD, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, c, HARD, tf.id, DenialReason.CONCURRENCY_LIMIT_REACHED)
    assert h.usage(c, tf.id, HARD) == UsageView(2, 2, 0, 2 * LEASE)
    # The limit is per customer: another customer is not affected.
    assert h.activate(customers[1], HARD, request_id("other"), LEASE)[0] == (True, DenialReason.NONE)


def test_activation_is_denied_when_the_activation_quota_is_used_up_in_hard_mode(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t = tf.start
    for label in ("a", "b", "c"):
        t += 10
        assert h.activate(c, HARD, request_id(label), LEASE, at=t)[0] == (True, DenialReason.NONE)
        h.deactivate(request_id(label), at=t + 5)
    rid = request_id("d")
    decision, receipt = h.activate(c, HARD, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, c, HARD, tf.id, DenialReason.ACTIVATION_QUOTA_REACHED)
    assert h.usage(c, tf.id, HARD) == UsageView(0, 3, 0, 15)


def test_concurrency_is_reported_first_when_both_limits_are_reached(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    both = Rules(price_per_activation=1, price_per_second=1, max_concurrent=1, max_activations=1)
    tf = setup_timeframe(rules={HARD: both})
    c = customers[0]
    assert h.activate(c, HARD, request_id("a"), LEASE)[0] == (True, DenialReason.NONE)
    rid = request_id("b")
    decision, receipt = h.activate(c, HARD, rid, LEASE)
    _assert_denied(h, decision, receipt, rid, c, HARD, tf.id, DenialReason.CONCURRENCY_LIMIT_REACHED)


def test_activation_beyond_a_soft_limit_is_granted_as_overage_and_counted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # SOFT: maxConcurrent 2, maxActivations 3
    c = customers[0]
    t = tf.start
    overage_flags = []
    for i in range(5):
        t += 1
        decision, receipt = h.activate(c, SOFT, request_id(f"s{i}"), LEASE, at=t)
        assert decision == (True, DenialReason.NONE)
        _assert_granted(h, decision, receipt, request_id(f"s{i}"), c, SOFT, tf.id, t, t + LEASE, overage=i >= 2)
        overage_flags.append(h.only_event(receipt, "ActivationGranted")["overage"])
    assert overage_flags == [False, False, True, True, True]  # concurrency (2) is exceeded from the third
    assert h.usage(c, tf.id, SOFT) == UsageView(5, 5, 3, 5 * LEASE)


def test_soft_quota_overage_is_marked_once_concurrency_is_free_again(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t = tf.start
    flags = []
    for i in range(4):
        t += 10
        _, receipt = h.activate(c, SOFT, request_id(f"q{i}"), LEASE, at=t)
        flags.append(h.only_event(receipt, "ActivationGranted")["overage"])
        h.deactivate(request_id(f"q{i}"), at=t + 1)
    assert flags == [False, False, False, True]  # the fourth activation exceeds maxActivations = 3
    assert h.usage(c, tf.id, SOFT) == UsageView(0, 4, 1, 4)


# ---------------------------------------------------------------------------------------------- boundaries


def test_activation_one_second_before_the_start_is_denied_and_at_the_start_is_granted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(enter=False)
    c = customers[0]
    decision, receipt = h.activate(c, HARD, request_id("early"), LEASE, at=tf.start - 1)
    _assert_denied(h, decision, receipt, request_id("early"), c, HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)
    decision, receipt = h.activate(c, HARD, request_id("first"), LEASE, at=tf.start)
    _assert_granted(h, decision, receipt, request_id("first"), c, HARD, tf.id, tf.start, tf.start + LEASE)


def test_activation_in_the_last_second_gets_a_one_second_lease_capped_at_the_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    decision, receipt = h.activate(c, HARD, request_id("last"), LEASE, at=tf.end - 1)
    _assert_granted(h, decision, receipt, request_id("last"), c, HARD, tf.id, tf.end - 1, tf.end)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 1, 0, 1)


def test_activation_at_the_end_is_denied_when_no_timeframe_follows(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    decision, receipt = h.activate(customers[0], HARD, request_id("late"), LEASE, at=tf.end)
    _assert_denied(h, decision, receipt, request_id("late"), customers[0], HARD, 0, DenialReason.NO_ACTIVE_TIMEFRAME)


def test_activation_at_the_end_falls_in_the_next_timeframe_when_it_is_adjacent(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(enter=False)
    second = setup_timeframe(start=first.end, length=500, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    decision, receipt = h.activate(c, HARD, request_id("next"), LEASE, at=first.end)
    _assert_granted(h, decision, receipt, request_id("next"), c, HARD, second.id, first.end, first.end + LEASE)
    assert h.usage(c, first.id, HARD) == UsageView(0, 0, 0, 0)
    assert h.usage(c, second.id, HARD) == UsageView(1, 1, 0, LEASE)


def test_a_lease_longer_than_the_timeframe_is_capped_at_its_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(length=1000)
    t = tf.start + 10
    decision, receipt = h.activate(customers[0], HARD, request_id("long"), 2**32 - 1, at=t)
    _assert_granted(h, decision, receipt, request_id("long"), customers[0], HARD, tf.id, t, tf.end)
    assert h.usage(customers[0], tf.id, HARD).leased_seconds == tf.end - t


# ---------------------------------------------------------------------------------------------- input errors


def test_activation_reverts_on_a_zero_lease_or_the_zero_customer(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    rid = request_id("zero")
    h.assert_reverts(
        h.fn.requestActivation(customers[0].address, HARD, rid, 0), h.agent, "MeteringZeroLease", rid
    )
    h.assert_reverts(
        h.fn.requestActivation(ZERO_ADDRESS, HARD, rid, LEASE), h.agent, "MeteringInvalidCustomer", ZERO_ADDRESS
    )
    batch = [(customers[0].address, HARD, request_id("ok"), LEASE), (customers[0].address, HARD, rid, 0)]
    h.assert_reverts(h.fn.requestActivations(batch), h.agent, "MeteringZeroLease", rid)
    assert h.instance(request_id("ok")).status == InstanceStatus.UNKNOWN  # the whole batch reverted


# ---------------------------------------------------------------------------------------------- idempotency


def test_same_request_id_twice_grants_once_and_replays_the_first_decision(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    rid = request_id("once")
    assert h.activate(c, HARD, rid, LEASE, at=tf.start + 1)[0] == (True, DenialReason.NONE)
    before = h.usage(c, tf.id, HARD)
    decision, receipt = h.activate(c, HARD, rid, LEASE, at=tf.start + 2)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationReplayed") == {
        "requestId": rid,
        "customer": c.address,
        "status": InstanceStatus.OPEN,
        "reason": DenialReason.NONE,
    }
    assert h.usage(c, tf.id, HARD) == before == UsageView(1, 1, 0, LEASE)
    assert h.instance(rid).lease_end == tf.start + 1 + LEASE  # the lease was not restarted

    # A replay after the instance stopped still reports the grant, with the current status.
    h.deactivate(rid)
    decision, receipt = h.activate(c, HARD, rid, LEASE)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationReplayed")["status"] == InstanceStatus.CLOSED


def test_a_denied_request_stays_denied_when_retried_even_after_the_limit_frees_up(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    h.activate(c, HARD, request_id("a"), LEASE)
    h.activate(c, HARD, request_id("b"), LEASE)
    rid = request_id("c")
    assert h.activate(c, HARD, rid, LEASE)[0] == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    h.deactivate(request_id("a"))  # a slot is free now
    before = h.usage(c, tf.id, HARD)
    decision, receipt = h.activate(c, HARD, rid, LEASE)
    assert decision == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    assert h.only_event(receipt, "ActivationReplayed") == {
        "requestId": rid,
        "customer": c.address,
        "status": InstanceStatus.DENIED,
        "reason": DenialReason.CONCURRENCY_LIMIT_REACHED,
    }
    assert h.usage(c, tf.id, HARD) == before
    # A fresh request id is decided on the current counters.
    assert h.activate(c, HARD, request_id("d"), LEASE)[0] == (True, DenialReason.NONE)


def test_a_request_id_reused_for_another_customer_reverts_with_a_conflict(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    rid = request_id("mine")
    h.activate(customers[0], HARD, rid, LEASE)
    fn = h.fn.requestActivation(customers[1].address, HARD, rid, LEASE)
    h.assert_reverts(fn, h.agent, "MeteringRequestIdConflict", rid, customers[0].address)
    # Denied ids are owned too.
    denied = request_id("denied")
    h.activate(customers[0], UNCONFIGURED, denied, LEASE)
    fn = h.fn.requestActivation(customers[1].address, HARD, denied, LEASE)
    h.assert_reverts(fn, h.agent, "MeteringRequestIdConflict", denied, customers[0].address)


def test_a_duplicate_request_id_inside_one_batch_replays_the_first_entry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    rid = request_id("dup")
    decisions, receipt = h.activate_many([(c, HARD, rid, LEASE), (c, HARD, rid, LEASE)])
    assert decisions == [(True, DenialReason.NONE), (True, DenialReason.NONE)]
    assert [e.name for e in h.events(receipt)] == ["ActivationGranted", "ActivationReplayed"]
    assert h.usage(c, tf.id, HARD) == UsageView(1, 1, 0, LEASE)


# ---------------------------------------------------------------------------------------------- batches


def test_batch_decides_in_order_against_counters_updated_by_earlier_entries_in_hard_mode(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # maxConcurrent 2
    c = customers[0]
    rids = [request_id(f"b{i}") for i in range(4)]
    t = tf.start + 3
    decisions, receipt = h.activate_many([(c, HARD, r, LEASE) for r in rids], at=t)
    limit = DenialReason.CONCURRENCY_LIMIT_REACHED
    assert decisions == [(True, 0), (True, 0), (False, limit), (False, limit)]
    events = h.events(receipt)
    assert [e.name for e in events] == ["ActivationGranted"] * 2 + ["ActivationDenied"] * 2
    assert [e.args.get("instanceId", e.args.get("requestId")) for e in events] == rids
    assert [e.log_index for e in events] == sorted(e.log_index for e in events)
    assert events[0].args["leaseEnd"] == t + LEASE
    assert [e.args["reason"] for e in events[2:]] == [limit, limit]
    assert h.usage(c, tf.id, HARD) == UsageView(2, 2, 0, 2 * LEASE)


def test_batch_in_soft_mode_grants_all_and_marks_the_overage(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    decisions, receipt = h.activate_many([(c, SOFT, request_id(f"s{i}"), LEASE) for i in range(4)])
    assert decisions == [(True, 0)] * 4
    assert [e.args["overage"] for e in h.events(receipt, "ActivationGranted")] == [False, False, True, True]
    assert h.usage(c, tf.id, SOFT) == UsageView(4, 4, 2, 4 * LEASE)


def test_batch_mixes_customers_types_and_reasons(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe(enroll=2)
    requests = [
        (customers[0], HARD, request_id("m0"), LEASE),
        (customers[2], HARD, request_id("m1"), LEASE),  # not enrolled
        (customers[1], UNCONFIGURED, request_id("m2"), LEASE),
        (customers[1], SOFT, request_id("m3"), 30),
    ]
    decisions, receipt = h.activate_many(requests)
    assert decisions == [
        (True, 0),
        (False, DenialReason.CUSTOMER_NOT_ENROLLED),
        (False, DenialReason.NO_RULES_FOR_TYPE),
        (True, 0),
    ]
    assert [e.name for e in h.events(receipt)] == [
        "ActivationGranted", "ActivationDenied", "ActivationDenied", "ActivationGranted",
    ]
    assert h.usage(customers[0], tf.id, HARD) == UsageView(1, 1, 0, LEASE)
    assert h.usage(customers[1], tf.id, SOFT) == UsageView(1, 1, 0, 30)


def test_batch_above_max_batch_reverts_and_max_batch_is_accepted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    assert h.fn.MAX_BATCH().call() == 256
    many = [(customers[0].address, SOFT, request_id(f"n{i}"), LEASE) for i in range(257)]
    h.assert_reverts(h.fn.requestActivations(many), h.agent, "MeteringBatchTooLarge", 257, 256)
    decisions, _ = h.activate_many([(customers[0], SOFT, r, s) for _, _, r, s in many[:256]])
    assert len(decisions) == 256 and all(granted for granted, _ in decisions)
    assert h.usage(customers[0], tf.id, SOFT) == UsageView(256, 256, 254, 256 * LEASE)


def test_empty_batch_decides_nothing(h: Harness, setup_timeframe: SetupTimeframe) -> None:
    setup_timeframe()
    decisions, receipt = h.activate_many([])
    assert decisions == []
    assert h.events(receipt) == []

