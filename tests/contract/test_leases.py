"""Leases: renewal (extension, cap, continuation into the next timeframe), deactivation and expiry, to the second."""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason, InstanceStatus, LimitMode
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import HARD, SOFT, Harness, UsageView, request_id, successor_of

LEASE = 100
RID = request_id("lease")


def _grant(h: Harness, customer: Any, at: int, lease: int = LEASE, rid: bytes = RID, itype: int = HARD) -> None:
    decision, _ = h.activate(customer, itype, rid, lease, at=at)
    assert decision == (True, DenialReason.NONE)


# ---------------------------------------------------------------------------------------------- renew


def test_renew_extends_the_lease_from_now_and_counts_the_extension(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    result, receipt = h.renew(RID, 100, at=t0 + 60)
    assert result == (True, DenialReason.NONE, RID, t0 + 160)
    assert h.only_event(receipt, "LeaseRenewed") == {
        "instanceId": RID,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "leaseEnd": t0 + 160,
    }
    assert h.instance(RID).lease_end == t0 + 160
    assert h.usage(c, tf.id, HARD) == UsageView(1, 1, 0, 160)


def test_renew_never_shortens_a_lease(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    result, receipt = h.renew(RID, 5, at=t0 + 10)  # now + 5 is before the current expiry t0 + 100
    assert result == (True, DenialReason.NONE, RID, t0 + LEASE)
    assert h.only_event(receipt, "LeaseRenewed")["leaseEnd"] == t0 + LEASE
    assert h.usage(c, tf.id, HARD) == UsageView(1, 1, 0, LEASE)


def test_renew_is_capped_at_the_timeframe_end(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe(length=1000)
    c = customers[0]
    t0 = tf.end - 150
    _grant(h, c, t0)
    result, receipt = h.renew(RID, 500, at=t0 + 50)
    assert result == (True, DenialReason.NONE, RID, tf.end)
    assert h.only_event(receipt, "LeaseRenewed")["leaseEnd"] == tf.end
    assert h.usage(c, tf.id, HARD).leased_seconds == 150


def test_renew_one_second_before_expiry_extends_and_at_expiry_is_denied_lease_expired(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    assert h.renew(RID, 50, at=t0 + LEASE - 1)[0] == (True, DenialReason.NONE, RID, t0 + LEASE + 49)
    end = t0 + LEASE + 49
    result, receipt = h.renew(RID, 50, at=end)
    assert result == (False, DenialReason.LEASE_EXPIRED, RID, 0)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "LeaseRenewalDenied"]
    assert events[0].args == {
        "instanceId": RID, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": end,
    }
    assert events[1].args == {
        "instanceId": RID, "customer": c.address, "instanceType": HARD, "timeframe": tf.id,
        "reason": DenialReason.LEASE_EXPIRED,
    }
    assert h.instance(RID).status == InstanceStatus.CLOSED
    assert h.instance(RID).lease_end == end
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, LEASE + 49)  # billed up to the lease end only
    h.assert_reverts(
        h.fn.renewLease(RID, 50), h.agent, "MeteringInstanceNotOpen", RID, InstanceStatus.CLOSED
    )


def test_renew_of_a_lease_expired_long_ago_bills_only_up_to_its_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    result, _ = h.renew(RID, 50, at=t0 + 500)
    assert result == (False, DenialReason.LEASE_EXPIRED, RID, 0)
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, LEASE)


def test_renew_is_denied_for_a_suspended_customer_and_the_lease_keeps_its_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    h.suspend(c, at=t0 + 20)
    result, receipt = h.renew(RID, 100, at=t0 + 30)
    # NatSpec of renewLease: leaseEnd is "0 when denied".
    assert result == (False, DenialReason.CUSTOMER_SUSPENDED, RID, 0)
    assert h.only_event(receipt, "LeaseRenewalDenied") == {
        "instanceId": RID,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "reason": DenialReason.CUSTOMER_SUSPENDED,
    }
    assert h.instance(RID).status == InstanceStatus.OPEN
    assert h.instance(RID).lease_end == t0 + LEASE  # the running lease runs out as granted
    assert h.usage(c, tf.id, HARD) == UsageView(1, 1, 0, LEASE)
    # The running lease can still be stopped early, and is billed to that second.
    h.deactivate(RID, at=t0 + 40)
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, 40)


def test_renew_reverts_on_a_zero_lease_and_on_ids_that_are_not_running(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    c = customers[0]
    _grant(h, c, h.chain.now() + 1)
    h.assert_reverts(h.fn.renewLease(RID, 0), h.agent, "MeteringZeroLease", RID)
    unknown = request_id("unknown")
    h.assert_reverts(h.fn.renewLease(unknown, 10), h.agent, "MeteringInstanceNotOpen", unknown, InstanceStatus.UNKNOWN)
    denied = request_id("denied")
    assert h.activate(customers[3], HARD, denied, LEASE)[0][0] is False
    h.assert_reverts(h.fn.renewLease(denied, 10), h.agent, "MeteringInstanceNotOpen", denied, InstanceStatus.DENIED)


# ---------------------------------------------------------------------------------------------- continuation


def test_successor_of_is_keccak_of_the_abi_encoded_id(h: Harness) -> None:
    for label in ("a", "b"):
        assert h.fn.successorOf(request_id(label)).call() == successor_of(request_id(label))
    assert h.fn.successorOf(b"\x00" * 32).call() == successor_of(b"\x00" * 32)


def test_renew_of_a_lease_that_ran_to_the_end_continues_under_the_next_timeframe_rules(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(length=500, enter=False)
    next_rules = Rules(price_per_activation=9, price_per_second=9, max_concurrent=1, mode=LimitMode.HARD)
    second = setup_timeframe(start=first.end, length=500, rules={HARD: next_rules}, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    _grant(h, c, first.end - 30, lease=200)  # capped: runs to the end of the first timeframe
    assert h.instance(RID).lease_end == first.end

    result, receipt = h.renew(RID, 60, at=first.end)
    succ = successor_of(RID)
    assert result == (True, DenialReason.NONE, succ, first.end + 60)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "ActivationGranted"]
    assert events[0].args == {
        "instanceId": RID, "customer": c.address, "instanceType": HARD, "timeframe": first.id, "leaseEnd": first.end,
    }
    assert events[1].args == {
        "instanceId": succ,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": second.id,
        "startedAt": first.end,
        "leaseEnd": first.end + 60,
        "overage": False,
    }
    assert h.instance(RID).status == InstanceStatus.CLOSED
    assert h.instance(succ).status == InstanceStatus.OPEN and h.instance(succ).timeframe == second.id
    assert h.usage(c, first.id, HARD) == UsageView(0, 1, 0, 30)
    assert h.usage(c, second.id, HARD) == UsageView(1, 1, 0, 60)
    # The successor is a normal instance: it renews under its own id.
    assert h.renew(succ, 100, at=first.end + 10)[0] == (True, DenialReason.NONE, succ, first.end + 110)


def test_continuation_is_denied_when_the_next_timeframe_rules_say_so(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(length=500, enter=False)
    one_at_a_time = Rules(price_per_activation=1, price_per_second=1, max_concurrent=1, mode=LimitMode.HARD)
    second = setup_timeframe(start=first.end, length=500, rules={HARD: one_at_a_time}, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    a, b = request_id("a"), request_id("b")
    _grant(h, c, first.end - 20, rid=a)
    _grant(h, c, first.end - 10, rid=b)
    assert h.renew(a, 60, at=first.end)[0] == (True, DenialReason.NONE, successor_of(a), first.end + 60)
    result, receipt = h.renew(b, 60, at=first.end + 1)
    assert result == (False, DenialReason.CONCURRENCY_LIMIT_REACHED, successor_of(b), 0)
    assert [e.name for e in h.events(receipt)] == ["LeaseExpired", "ActivationDenied"]
    assert h.events(receipt, "ActivationDenied")[0].args["timeframe"] == second.id
    assert h.instance(successor_of(b)).status == InstanceStatus.DENIED
    assert h.instance(b).status == InstanceStatus.CLOSED
    assert h.usage(c, first.id, HARD) == UsageView(0, 2, 0, 30)
    assert h.usage(c, second.id, HARD) == UsageView(1, 1, 0, 60)


def test_continuation_is_denied_no_active_timeframe_when_no_timeframe_follows(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(length=500)
    c = customers[0]
    _grant(h, c, tf.end - 40)
    result, receipt = h.renew(RID, 60, at=tf.end + 5)
    succ = successor_of(RID)
    assert result == (False, DenialReason.NO_ACTIVE_TIMEFRAME, succ, 0)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "ActivationDenied"]
    assert events[0].args["leaseEnd"] == tf.end
    assert events[1].args == {
        "requestId": succ,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": 0,
        "reason": DenialReason.NO_ACTIVE_TIMEFRAME,
    }
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, 40)


def test_continuation_of_a_suspended_customer_is_denied_customer_suspended(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(length=500, enter=False)
    setup_timeframe(start=first.end, length=500, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    _grant(h, c, first.end - 40)
    h.suspend(c, at=first.end - 30)
    result, receipt = h.renew(RID, 60, at=first.end)
    assert result == (False, DenialReason.CUSTOMER_SUSPENDED, successor_of(RID), 0)
    assert [e.name for e in h.events(receipt)] == ["LeaseExpired", "ActivationDenied"]


# ---------------------------------------------------------------------------------------------- deactivate


def test_deactivate_bills_the_seconds_from_start_to_stop(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    h.renew(RID, 200, at=t0 + 50)  # lease now ends at t0 + 250
    receipt = h.deactivate(RID, at=t0 + 73)
    assert h.only_event(receipt, "InstanceDeactivated") == {
        "instanceId": RID,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "stoppedAt": t0 + 73,
    }
    record = h.instance(RID)
    assert (record.status, record.lease_end) == (InstanceStatus.CLOSED, t0 + 73)
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, 73)


def test_deactivate_reverts_when_the_instance_is_not_open(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe(enroll=1)
    c = customers[0]
    _grant(h, c, h.chain.now() + 1)
    h.deactivate(RID)
    h.assert_reverts(h.fn.deactivate(RID), h.agent, "MeteringInstanceNotOpen", RID, InstanceStatus.CLOSED)
    unknown = request_id("unknown")
    h.assert_reverts(h.fn.deactivate(unknown), h.agent, "MeteringInstanceNotOpen", unknown, InstanceStatus.UNKNOWN)
    denied = request_id("denied")
    h.activate(customers[1], HARD, denied, LEASE)  # not enrolled
    h.assert_reverts(h.fn.deactivate(denied), h.agent, "MeteringInstanceNotOpen", denied, InstanceStatus.DENIED)


def test_deactivate_one_second_before_expiry_is_a_deactivation(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    receipt = h.deactivate(RID, at=t0 + LEASE - 1)
    assert h.only_event(receipt, "InstanceDeactivated")["stoppedAt"] == t0 + LEASE - 1
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, LEASE - 1)


def test_deactivate_at_expiry_closes_the_instance_as_expired(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    receipt = h.deactivate(RID, at=t0 + LEASE)
    assert h.only_event(receipt, "LeaseExpired") == {
        "instanceId": RID, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": t0 + LEASE,
    }
    assert h.instance(RID).status == InstanceStatus.CLOSED
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, LEASE)


def test_deactivate_after_the_timeframe_ended_bills_up_to_the_capped_lease(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(length=300)
    c = customers[0]
    _grant(h, c, tf.end - 50, lease=1000)
    receipt = h.deactivate(RID, at=tf.end + 100)
    assert h.only_event(receipt, "LeaseExpired")["leaseEnd"] == tf.end
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, 50)


# ---------------------------------------------------------------------------------------------- expire


def test_expire_leases_by_anyone_closes_only_expired_leases_and_bills_up_to_their_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    short, long_, soft, denied = (request_id(x) for x in ("short", "long", "soft", "denied"))
    _grant(h, c, t0, lease=50, rid=short)
    _grant(h, c, t0, lease=500, rid=long_)
    _grant(h, c, t0, lease=60, rid=soft, itype=SOFT)
    h.activate(customers[3], HARD, denied, LEASE)
    unknown = request_id("unknown")

    # One second before the first expiry nothing is due.
    closed, receipt = h.expire([short, long_, soft], at=t0 + 49)
    assert (closed, h.events(receipt)) == (0, [])

    # Much later than the expiries: billing still stops at each lease end.
    ids = [short, long_, unknown, denied, soft, short]
    closed, receipt = h.expire(ids, at=t0 + 200, sender=h.outsider)
    assert closed == 2
    events = h.events(receipt)
    assert [(e.name, e.args["instanceId"], e.args["leaseEnd"]) for e in events] == [
        ("LeaseExpired", short, t0 + 50),
        ("LeaseExpired", soft, t0 + 60),
    ]
    assert events[1].args["instanceType"] == SOFT and events[1].args["timeframe"] == tf.id
    assert h.usage(c, tf.id, HARD) == UsageView(1, 2, 0, 550)  # the long lease still runs
    assert h.usage(c, tf.id, SOFT) == UsageView(0, 1, 0, 60)
    assert h.instance(short).status == InstanceStatus.CLOSED
    assert h.instance(long_).status == InstanceStatus.OPEN
    assert h.instance(denied).status == InstanceStatus.DENIED
    assert h.instance(unknown).status == InstanceStatus.UNKNOWN


def test_expire_leases_closes_a_lease_exactly_at_its_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0)
    assert h.expire([RID], at=t0 + LEASE - 1)[0] == 0
    closed, receipt = h.expire([RID], at=t0 + LEASE)
    assert closed == 1
    assert h.only_event(receipt, "LeaseExpired") == {
        "instanceId": RID, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": t0 + LEASE,
    }
    assert h.usage(c, tf.id, HARD) == UsageView(0, 1, 0, LEASE)
    assert h.expire([RID])[0] == 0  # already closed: skipped


def test_expired_but_unclosed_leases_still_count_as_active_until_closed(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # HARD maxConcurrent 2
    c = customers[0]
    t0 = tf.start + 10
    _grant(h, c, t0, lease=10, rid=request_id("a"))
    _grant(h, c, t0, lease=10, rid=request_id("b"))
    assert h.activate(c, HARD, request_id("c"), LEASE, at=t0 + 20)[0] == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)
    h.expire([request_id("a")], at=t0 + 21)
    assert h.activate(c, HARD, request_id("d"), LEASE, at=t0 + 22)[0] == (True, DenialReason.NONE)
    assert h.usage(c, tf.id, HARD) == UsageView(2, 3, 0, 10 + 10 + LEASE)


def test_expire_leases_reverts_above_max_batch(h: Harness) -> None:
    ids = [request_id(str(i)) for i in range(257)]
    h.assert_reverts(h.fn.expireLeases(ids), h.outsider, "MeteringBatchTooLarge", 257, 256)
    assert h.expire([])[0] == 0

