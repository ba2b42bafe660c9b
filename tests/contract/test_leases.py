"""Leases: renewal (extension, cap), deactivation, the provider's close and expiry, to the second.

Continuations into the next timeframe are in ``test_continuations.py``.
"""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason, InstanceStatus

from .conftest import SetupTimeframe
from .helpers import HARD, SOFT, Harness, UsageView, rid

LEASE = 100
RID = rid(1)


def _grant(h: Harness, customer: Any, at: int, lease: int = LEASE, request: int = RID, itype: int = HARD) -> bytes:
    decision, _ = h.activate(customer, itype, request, lease, at=at)
    assert decision == (True, DenialReason.NONE)
    return h.iid(request)


# ---------------------------------------------------------------------------------------------- renew


def test_renew_extends_the_lease_from_now_and_counts_the_extension(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    result, receipt = h.renew(iid, 100, at=t0 + 60)
    assert result == (True, DenialReason.NONE, t0 + 160)
    assert h.only_event(receipt, "LeaseRenewed") == {
        "instanceId": iid,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "leaseEnd": t0 + 160,
    }
    assert h.instance(iid).lease_end == t0 + 160
    assert h.seat(1).lease_end == t0 + 160
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 160, 1)


def test_renew_never_shortens_a_lease(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    result, receipt = h.renew(iid, 5, at=t0 + 10)  # now + 5 is before the current expiry t0 + 100
    assert result == (True, DenialReason.NONE, t0 + LEASE)
    assert h.only_event(receipt, "LeaseRenewed")["leaseEnd"] == t0 + LEASE
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 1)


def test_renew_is_capped_at_the_timeframe_end(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe(length=1000)
    c = customers[0]
    t0 = tf.end - 150
    iid = _grant(h, c, t0)
    result, receipt = h.renew(iid, 500, at=t0 + 50)
    assert result == (True, DenialReason.NONE, tf.end)
    assert h.only_event(receipt, "LeaseRenewed")["leaseEnd"] == tf.end
    assert h.usage(c, tf.id, HARD).leased_seconds == 150


def test_a_renewed_lease_keeps_its_concurrency_seat_until_the_new_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # HARD: maxConcurrent 2
    c = customers[0]
    t0 = tf.start + 10
    a = _grant(h, c, t0, request=rid(1))
    _grant(h, c, t0, request=rid(2))
    h.renew(a, 200, at=t0 + 50)  # a now ends at t0 + 250, b at t0 + 100
    assert h.activate(c, HARD, rid(3), LEASE, at=t0 + 100)[0] == (True, DenialReason.NONE)  # b's seat
    assert h.activate(c, HARD, rid(4), LEASE, at=t0 + 101)[0] == (False, DenialReason.CONCURRENCY_LIMIT_REACHED)


def test_renew_one_second_before_expiry_extends_and_at_expiry_is_denied_lease_expired(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    assert h.renew(iid, 50, at=t0 + LEASE - 1)[0] == (True, DenialReason.NONE, t0 + LEASE + 49)
    end = t0 + LEASE + 49
    result, receipt = h.renew(iid, 50, at=end)
    assert result == (False, DenialReason.LEASE_EXPIRED, 0)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "LeaseRenewalDenied"]
    assert events[0].args == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": end,
    }
    assert events[1].args == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": tf.id,
        "reason": DenialReason.LEASE_EXPIRED,
    }
    assert h.instance(iid).status == InstanceStatus.CLOSED
    assert h.instance(iid).lease_end == end
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE + 49, 0)  # billed up to the lease end only
    h.assert_reverts(h.fn.renewLease(iid, 50), h.agent, "MeteringInstanceNotOpen", iid, InstanceStatus.CLOSED)


def test_renew_of_a_lease_expired_long_ago_bills_only_up_to_its_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    result, _ = h.renew(iid, 50, at=t0 + 500)
    assert result == (False, DenialReason.LEASE_EXPIRED, 0)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 0)


def test_renew_is_denied_for_a_suspended_customer_and_the_lease_keeps_its_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    h.suspend(c, at=t0 + 20)
    result, receipt = h.renew(iid, 100, at=t0 + 30)
    # NatSpec of renewLease: leaseEnd is "0 when denied".
    assert result == (False, DenialReason.CUSTOMER_SUSPENDED, 0)
    assert h.only_event(receipt, "LeaseRenewalDenied") == {
        "instanceId": iid,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "reason": DenialReason.CUSTOMER_SUSPENDED,
    }
    assert h.instance(iid).status == InstanceStatus.OPEN
    assert h.instance(iid).lease_end == t0 + LEASE  # the running lease runs out as granted
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 1)
    # The running lease can still be stopped early, and is billed to that second.
    h.deactivate(iid, at=t0 + 40)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 40, 0)


def test_renew_reverts_on_a_zero_lease_and_on_ids_that_are_not_open(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    c = customers[0]
    iid = _grant(h, c, h.chain.now() + 1)
    h.assert_reverts(h.fn.renewLease(iid, 0), h.agent, "MeteringZeroLease", iid)
    unknown = h.iid(rid(7))
    h.assert_reverts(h.fn.renewLease(unknown, 10), h.agent, "MeteringInstanceNotOpen", unknown, InstanceStatus.UNKNOWN)
    assert h.activate(customers[3], HARD, rid(2), LEASE)[0][0] is False
    denied = h.iid(rid(2))
    h.assert_reverts(h.fn.renewLease(denied, 10), h.agent, "MeteringInstanceNotOpen", denied, InstanceStatus.DENIED)
    # A generation the seat moved past names nothing any more.
    assert h.activate(customers[3], HARD, rid(2, 2), LEASE)[0][0] is False
    h.assert_reverts(h.fn.renewLease(denied, 10), h.agent, "MeteringInstanceNotOpen", denied, InstanceStatus.UNKNOWN)


# ---------------------------------------------------------------------------------------------- deactivate


def test_deactivate_bills_the_seconds_from_start_to_stop_and_frees_the_seat(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    h.renew(iid, 200, at=t0 + 50)  # lease now ends at t0 + 250
    receipt = h.deactivate(iid, at=t0 + 73)
    assert h.only_event(receipt, "InstanceDeactivated") == {
        "instanceId": iid,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "stoppedAt": t0 + 73,
    }
    record = h.instance(iid)
    assert (record.status, record.lease_end) == (InstanceStatus.CLOSED, t0 + 73)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 73, 0)


def test_deactivate_reverts_when_the_instance_is_not_open(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe(enroll=1)
    c = customers[0]
    iid = _grant(h, c, h.chain.now() + 1)
    h.deactivate(iid)
    h.assert_reverts(h.fn.deactivate(iid), h.agent, "MeteringInstanceNotOpen", iid, InstanceStatus.CLOSED)
    unknown = h.iid(rid(7))
    h.assert_reverts(h.fn.deactivate(unknown), h.agent, "MeteringInstanceNotOpen", unknown, InstanceStatus.UNKNOWN)
    h.activate(customers[1], HARD, rid(2), LEASE)  # not enrolled
    denied = h.iid(rid(2))
    h.assert_reverts(h.fn.deactivate(denied), h.agent, "MeteringInstanceNotOpen", denied, InstanceStatus.DENIED)


def test_deactivate_one_second_before_expiry_is_a_deactivation(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    receipt = h.deactivate(iid, at=t0 + LEASE - 1)
    assert h.only_event(receipt, "InstanceDeactivated")["stoppedAt"] == t0 + LEASE - 1
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE - 1, 0)


def test_deactivate_at_expiry_closes_the_instance_as_expired(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    receipt = h.deactivate(iid, at=t0 + LEASE)
    assert h.only_event(receipt, "LeaseExpired") == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": t0 + LEASE,
    }
    assert h.instance(iid).status == InstanceStatus.CLOSED
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 0)


def test_deactivate_after_the_timeframe_ended_bills_up_to_the_capped_lease(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(length=300)
    c = customers[0]
    iid = _grant(h, c, tf.end - 50, lease=1000)
    receipt = h.deactivate(iid, at=tf.end + 100)
    assert h.only_event(receipt, "LeaseExpired")["leaseEnd"] == tf.end
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 50, 0)


# ---------------------------------------------------------------------------------------------- provider close


def test_provider_close_stops_billing_now_frees_the_seat_and_names_the_operator(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()  # HARD: maxConcurrent 2
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0, request=rid(1))
    _grant(h, c, t0, request=rid(2))
    receipt = h.close(iid, at=t0 + 30)
    assert h.only_event(receipt, "InstanceClosedByProvider") == {
        "instanceId": iid,
        "customer": c.address,
        "instanceType": HARD,
        "timeframe": tf.id,
        "stoppedAt": t0 + 30,
        "operator": h.admin.address,
    }
    assert (h.instance(iid).status, h.instance(iid).lease_end) == (InstanceStatus.CLOSED, t0 + 30)
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 30 + LEASE, 1)
    assert h.activate(c, HARD, rid(3), LEASE, at=t0 + 31)[0] == (True, DenialReason.NONE)  # the freed seat
    # Its agent can no longer stop or renew it, and moves the seat on with the next generation.
    h.assert_reverts(h.fn.deactivate(iid), h.agent, "MeteringInstanceNotOpen", iid, InstanceStatus.CLOSED)
    h.assert_reverts(h.fn.closeInstance(iid), h.admin, "MeteringInstanceNotOpen", iid, InstanceStatus.CLOSED)
    assert h.activate(customers[1], HARD, rid(1, 2), LEASE)[0] == (True, DenialReason.NONE)
    assert h.seat(1).generation == 2


def test_provider_close_of_an_expired_lease_closes_it_as_expired_at_its_lease_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    receipt = h.close(iid, at=t0 + LEASE)
    assert h.only_event(receipt, "LeaseExpired")["leaseEnd"] == t0 + LEASE
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 0)
    unknown = h.iid(rid(9))
    h.assert_reverts(h.fn.closeInstance(unknown), h.admin, "MeteringInstanceNotOpen", unknown, InstanceStatus.UNKNOWN)


# ---------------------------------------------------------------------------------------------- expire


def test_expire_leases_by_anyone_closes_only_expired_leases_and_bills_up_to_their_expiry(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    short = _grant(h, c, t0, lease=50, request=rid(1))
    long_ = _grant(h, c, t0, lease=500, request=rid(2))
    soft = _grant(h, c, t0, lease=60, request=rid(3), itype=SOFT)
    h.activate(customers[3], HARD, rid(4), LEASE)
    denied, unknown, others = h.iid(rid(4)), h.iid(rid(5)), h.iid(rid(1), h.agent2)

    # One second before the first expiry nothing is due.
    closed, receipt = h.expire([short, long_, soft], at=t0 + 49)
    assert (closed, h.events(receipt)) == (0, [])

    # Much later than the expiries: billing still stops at each lease end.
    ids = [short, long_, unknown, denied, others, soft, short]
    closed, receipt = h.expire(ids, at=t0 + 200, sender=h.outsider)
    assert closed == 2
    events = h.events(receipt)
    assert [(e.name, e.args["instanceId"], e.args["leaseEnd"]) for e in events] == [
        ("LeaseExpired", short, t0 + 50),
        ("LeaseExpired", soft, t0 + 60),
    ]
    assert events[1].args["instanceType"] == SOFT and events[1].args["timeframe"] == tf.id
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 550, 1)  # the long lease still runs
    assert h.usage(c, tf.id, SOFT) == UsageView(1, 0, 60, 0)
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
    iid = _grant(h, c, t0)
    assert h.expire([iid], at=t0 + LEASE - 1)[0] == 0
    closed, receipt = h.expire([iid], at=t0 + LEASE)
    assert closed == 1
    assert h.only_event(receipt, "LeaseExpired") == {
        "instanceId": iid, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": t0 + LEASE,
    }
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 0)
    assert h.expire([iid])[0] == 0  # already closed: skipped


def test_an_expiry_changes_no_counter(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    iid = _grant(h, c, t0)
    h.chain.mine(t0 + LEASE + 5)
    before = (h.usage(c, tf.id, HARD), h.account(c))
    h.expire([iid], at=t0 + LEASE + 6)
    assert (h.usage(c, tf.id, HARD), h.account(c)) == before


def test_expire_leases_reverts_above_max_batch(h: Harness) -> None:
    ids = [h.iid(rid(s)) for s in range(257)]
    h.assert_reverts(h.fn.expireLeases(ids), h.outsider, "MeteringBatchTooLarge", 257, 256)
    assert h.expire([])[0] == 0


def test_expire_leases_skips_an_id_that_no_agent_could_have_made(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    iid = _grant(h, customers[0], tf.start + 10)
    malformed = iid[:20] + b"\x01\x00\x00\x00" + iid[24:]
    closed, receipt = h.expire([malformed, iid], at=tf.start + 10 + LEASE)
    assert closed == 1
    assert h.only_event(receipt, "LeaseExpired")["instanceId"] == iid
