"""Agent seats and generations: a request id is ``seat << 8 | generation``, decided once, and names its agent."""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason, InstanceStatus
from metering.types import split_instance_id

from .conftest import SetupTimeframe
from .helpers import HARD, SOFT, UNCONFIGURED, Harness, SeatView, UsageView, rid

LEASE = 100
SEAT_MAX = 2**56 - 1  # seats are uint56


def test_a_new_request_takes_the_next_generation_of_a_seat_whose_instance_ended(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    assert h.seat(3) == SeatView(0, InstanceStatus.UNKNOWN, 0)
    assert h.activate(c, HARD, rid(3, 1), LEASE, at=t0)[0] == (True, DenialReason.NONE)
    assert h.seat(3) == SeatView(1, InstanceStatus.OPEN, t0 + LEASE)
    h.deactivate(h.iid(rid(3, 1)), at=t0 + 10)
    assert h.seat(3) == SeatView(1, InstanceStatus.CLOSED, t0 + 10)
    decision, receipt = h.activate(c, HARD, rid(3, 2), LEASE, at=t0 + 20)
    assert decision == (True, DenialReason.NONE)
    assert h.only_event(receipt, "ActivationGranted")["instanceId"] == h.iid(rid(3, 2))
    assert h.seat(3) == SeatView(2, InstanceStatus.OPEN, t0 + 20 + LEASE)
    # The seat holds one record: the superseded generation's history is in its events only.
    assert h.instance(h.iid(rid(3, 1))).status == InstanceStatus.UNKNOWN
    assert h.instance(h.iid(rid(3, 2))).status == InstanceStatus.OPEN
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 10 + LEASE, 1)


def test_a_superseded_generation_reverts_unexpected_generation_and_the_current_one_replays(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe(enroll=0)  # every request is denied, so each generation ends at once
    c = customers[0]
    for generation in (1, 2, 3):
        h.activate(c, HARD, rid(1, generation), LEASE)
    for stale in (1, 2):
        h.assert_reverts(
            h.fn.requestActivation(c.address, HARD, rid(1, stale), LEASE),
            h.agent, "MeteringUnexpectedGeneration", h.iid(rid(1, stale)), 3,
        )
    decision, receipt = h.activate(c, HARD, rid(1, 3), LEASE)
    assert decision == (False, DenialReason.CUSTOMER_NOT_ENROLLED)
    assert h.names(receipt) == ["ActivationReplayed"]


def test_a_skipped_generation_reverts_unexpected_generation(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    c = customers[0].address
    for generation in (0, 2):  # a fresh seat starts at generation 1; 0 is never a generation
        request = (1 << 8) | generation
        h.assert_reverts(
            h.fn.requestActivation(c, HARD, request, LEASE), h.agent, "MeteringUnexpectedGeneration",
            h.iid(request), 0,
        )
    h.activate(c, UNCONFIGURED, rid(1, 1), LEASE)
    h.assert_reverts(
        h.fn.requestActivation(c, HARD, rid(1, 3), LEASE), h.agent, "MeteringUnexpectedGeneration",
        h.iid(rid(1, 3)), 1,
    )
    assert h.seat(1).generation == 1


def test_a_new_request_on_a_seat_with_a_live_lease_reverts_seat_busy_until_the_lease_ends(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), LEASE, at=t0)
    occupant = h.iid(rid(1))
    next_request = h.fn.requestActivation(c.address, HARD, rid(1, 2), LEASE)
    h.assert_reverts(next_request, h.agent, "MeteringSeatBusy", occupant, t0 + LEASE, at=t0 + LEASE - 1)
    h.renew(occupant, 50, at=t0 + LEASE - 1)  # the lease now ends at t0 + 149
    h.assert_reverts(next_request, h.agent, "MeteringSeatBusy", occupant, t0 + 149, at=t0 + 148)
    # A busy seat fails a whole batch, like any revert.
    batch = [(c.address, HARD, rid(2), LEASE), (c.address, HARD, rid(1, 2), LEASE)]
    h.assert_reverts(h.fn.requestActivations(batch), h.agent, "MeteringSeatBusy", occupant, t0 + 149, at=t0 + 148)
    assert h.seat(2).generation == 0


def test_a_seat_whose_open_lease_expired_is_reused_and_its_old_occupant_expires_at_its_lease_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), LEASE, at=t0)
    old = h.iid(rid(1))
    decision, receipt = h.activate(c, HARD, rid(1, 2), LEASE, at=t0 + LEASE)  # exactly at the expiry
    assert decision == (True, DenialReason.NONE)
    events = h.events(receipt)
    assert [e.name for e in events] == ["LeaseExpired", "ActivationGranted"]
    assert events[0].args == {
        "instanceId": old, "customer": c.address, "instanceType": HARD, "timeframe": tf.id, "leaseEnd": t0 + LEASE,
    }
    assert events[1].args["instanceId"] == h.iid(rid(1, 2))
    assert events[1].args["startedAt"] == t0 + LEASE
    # The expiry counted nothing: the old lease's seconds were counted when it was granted.
    assert h.usage(c, tf.id, HARD) == UsageView(2, 0, 2 * LEASE, 1)


def test_a_seat_whose_open_lease_expired_also_moves_on_when_the_new_request_is_denied(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), LEASE, at=t0)
    decision, receipt = h.activate(c, UNCONFIGURED, rid(1, 2), LEASE, at=t0 + 500)
    assert decision == (False, DenialReason.NO_RULES_FOR_TYPE)
    assert h.names(receipt) == ["LeaseExpired", "ActivationDenied"]
    assert h.events(receipt)[0].args["leaseEnd"] == t0 + LEASE
    assert h.seat(1) == SeatView(2, InstanceStatus.DENIED, 0)


def test_generation_255_is_the_last_of_a_seat(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    setup_timeframe(enroll=0)
    c = customers[0]
    # 255 denied requests on one seat in one batch: a denial ends its generation at once.
    decisions, _ = h.activate_many([(c, HARD, rid(7, g), LEASE) for g in range(1, 256)])
    assert decisions == [(False, DenialReason.CUSTOMER_NOT_ENROLLED)] * 255
    assert h.seat(7).generation == 255
    for request in (rid(7, 1), 7 << 8):  # no generation follows 255 (and 0 is none)
        h.assert_reverts(
            h.fn.requestActivation(c.address, HARD, request, LEASE), h.agent, "MeteringUnexpectedGeneration",
            h.iid(request), 255,
        )
    assert h.names(h.activate(c, HARD, rid(7, 255), LEASE)[1]) == ["ActivationReplayed"]
    h.enroll(c)
    assert h.activate(c, HARD, rid(8, 1), LEASE)[0] == (True, DenialReason.NONE)  # the agent moves to another seat


def test_seats_belong_to_their_agent_so_the_same_request_id_is_two_instances(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, SOFT, rid(1), LEASE, at=t0)
    decision, receipt = h.activate(c, SOFT, rid(1), 2 * LEASE, at=t0 + 1, sender=h.agent2)
    assert decision == (True, DenialReason.NONE)  # not a replay of the first agent's request
    assert h.only_event(receipt, "ActivationGranted")["instanceId"] == h.iid(rid(1), h.agent2)
    assert h.iid(rid(1)) != h.iid(rid(1), h.agent2)
    assert h.seat(1).lease_end == t0 + LEASE
    assert h.seat(1, h.agent2).lease_end == t0 + 1 + 2 * LEASE
    assert h.usage(c, tf.id, SOFT) == UsageView(2, 0, 3 * LEASE, 2)


def test_instance_ids_are_the_agent_address_then_the_request_id(h: Harness) -> None:
    for request in (rid(0), rid(1, 2), rid(SEAT_MAX, 255)):
        iid = h.iid(request)
        assert h.fn.instanceIdOf(h.agent.address, request).call() == iid
        assert iid[:20] == bytes.fromhex(h.agent.address[2:]) and iid[20:24] == b"\0" * 4
        assert split_instance_id(iid) == (h.agent.address, request >> 8, request & 0xFF)


def test_the_highest_seat_index_is_usable(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    request = rid(SEAT_MAX, 1)
    assert h.activate(customers[0], HARD, request, LEASE)[0] == (True, DenialReason.NONE)
    assert h.seat(SEAT_MAX).generation == 1
    h.deactivate(h.iid(request))
    assert h.usage(customers[0], tf.id, HARD).running == 0


def test_the_instance_view_of_an_id_no_agent_could_have_made_is_unknown(h: Harness) -> None:
    malformed = h.iid(rid(1))[:20] + b"\x00\x00\x00\x01" + h.iid(rid(1))[24:]
    assert h.instance(malformed).status == InstanceStatus.UNKNOWN
