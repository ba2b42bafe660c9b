"""What a customer decides for itself: which agents may bill it, and a spending cap per timeframe.

Money is in micro-units (millionths of the minor unit): a cap of 10 (cents) is 10,000,000 micro-units.
"""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason, InstanceStatus
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import EUR, HARD, NO_SEAT, USD, Harness, UsageView, rid

LEASE = 100
CENT = 1_000_000
#: 2 cents per activation and 1 cent per 100 seconds (10,000 micro-units a second); up to 5 running.
CAPPED = Rules(price_per_activation=2 * CENT, price_per_time_unit=10_000, max_concurrent=5)


# ---------------------------------------------------------------------------------------------- agent approvals


def test_a_customer_that_approved_no_agent_accepts_every_holder_of_the_agent_role(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    c = customers[0]
    assert h.account(c).restricted is False
    assert [h.fn.mayBill(c.address, a.address).call() for a in (h.agent, h.agent2, h.outsider)] == [True, True, False]
    for agent in (h.agent, h.agent2):
        assert h.activate(c, HARD, rid(1), LEASE, sender=agent)[0] == (True, DenialReason.NONE)


def test_approving_an_agent_restricts_the_customer_to_its_approved_agents(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    receipt = h.approve(c, h.agent)
    assert [(e.name, e.args) for e in h.events(receipt)] == [
        ("AgentApproved", {"customer": c.address, "agent": h.agent.address}),
        ("AgentRestrictionSet", {"customer": c.address, "restricted": True}),
    ]
    assert h.account(c).restricted is True
    assert h.fn.agentApproved(c.address, h.agent.address).call() is True
    assert h.fn.agentApproved(c.address, h.agent2.address).call() is False
    assert h.fn.mayBill(c.address, h.agent2.address).call() is False
    assert h.activate(c, HARD, rid(1), LEASE)[0] == (True, DenialReason.NONE)

    decision, receipt = h.activate(c, HARD, rid(1), LEASE, sender=h.agent2)
    assert decision == (False, DenialReason.AGENT_NOT_APPROVED)
    denied = h.iid(rid(1), h.agent2)
    assert h.only_event(receipt, "ActivationDenied") == {
        "instanceId": denied, "customer": c.address, "instanceType": HARD, "timeframe": tf.id,
        "reason": DenialReason.AGENT_NOT_APPROVED,
    }
    record = h.instance(denied)
    assert (record.status, record.reason, record.seat) == (
        InstanceStatus.DENIED, DenialReason.AGENT_NOT_APPROVED, NO_SEAT,
    )
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 1)
    # Another customer's choice does not apply to this one.
    assert h.activate(customers[1], HARD, rid(2), LEASE, sender=h.agent2)[0] == (True, DenialReason.NONE)
    # A second approval adds the agent and does not announce the restriction again.
    assert h.names(h.approve(c, h.agent2)) == ["AgentApproved"]
    assert h.activate(c, HARD, rid(3), LEASE, sender=h.agent2)[0] == (True, DenialReason.NONE)


def test_an_agent_the_customer_does_not_approve_is_denied_its_renewals_but_may_still_deactivate(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), LEASE, at=t0, sender=h.agent2)
    theirs = h.iid(rid(1), h.agent2)
    h.approve(c, h.agent, at=t0 + 1)  # agent2 is not approved
    result, receipt = h.renew(theirs, LEASE, at=t0 + 10, sender=h.agent2)
    assert result == (False, DenialReason.AGENT_NOT_APPROVED, 0)
    assert h.only_event(receipt, "LeaseRenewalDenied") == {
        "instanceId": theirs, "customer": c.address, "instanceType": HARD, "timeframe": tf.id,
        "reason": DenialReason.AGENT_NOT_APPROVED,
    }
    assert h.instance(theirs).lease_end == t0 + LEASE  # the lease runs to its end as granted
    h.deactivate(theirs, at=t0 + 20, sender=h.agent2)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 20, 0)


def test_revoking_every_approved_agent_stops_all_billing_of_the_customer(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    t0 = tf.start + 10
    h.approve(c, h.agent, at=t0)
    h.activate(c, HARD, rid(1), LEASE, at=t0 + 1)
    receipt = h.revoke(c, h.agent, at=t0 + 2)
    assert h.only_event(receipt, "AgentRevoked") == {"customer": c.address, "agent": h.agent.address}
    assert h.account(c).restricted is True  # the restriction stays on
    assert h.fn.agentApproved(c.address, h.agent.address).call() is False
    for agent in (h.agent, h.agent2):
        assert h.fn.mayBill(c.address, agent.address).call() is False
        assert h.activate(c, HARD, rid(2), LEASE, sender=agent)[0] == (False, DenialReason.AGENT_NOT_APPROVED)
    assert h.renew(h.iid(rid(1)), LEASE)[0] == (False, DenialReason.AGENT_NOT_APPROVED, 0)
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, LEASE, 1)  # the running lease runs out as granted


def test_lifting_the_restriction_accepts_every_agent_again_and_setting_it_without_approvals_accepts_none(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe()
    c = customers[0]
    receipt = h.restrict(c, True)
    assert h.only_event(receipt, "AgentRestrictionSet") == {"customer": c.address, "restricted": True}
    assert h.activate(c, HARD, rid(1), LEASE)[0] == (False, DenialReason.AGENT_NOT_APPROVED)
    receipt = h.restrict(c, False)
    assert h.only_event(receipt, "AgentRestrictionSet") == {"customer": c.address, "restricted": False}
    assert h.activate(c, HARD, rid(1, 2), LEASE)[0] == (True, DenialReason.NONE)
    assert h.activate(c, HARD, rid(1), LEASE, sender=h.agent2)[0] == (True, DenialReason.NONE)


# ---------------------------------------------------------------------------------------------- spending caps


def test_set_spending_cap_is_announced_and_shown_in_the_account(h: Harness, customers: Any) -> None:
    c = customers[0]
    h.enroll(c)
    receipt = h.set_cap(c, 10)
    assert h.only_event(receipt, "SpendingCapSet") == {"customer": c.address, "cap": 10, "currency": EUR}
    assert h.account(c).spending_cap == 10
    assert h.only_event(h.set_cap(c, 0), "SpendingCapSet")["cap"] == 0


def test_an_activation_that_would_cross_the_cap_is_denied_spending_cap_reached_and_one_that_meets_it_is_granted(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: CAPPED})
    c = customers[0]
    h.set_cap(c, 10)  # 10 cents
    t = tf.start + 10
    assert h.activate(c, HARD, rid(1), 300, at=t)[0] == (True, DenialReason.NONE)
    assert h.spent(c, tf.id) == 2 * CENT + 300 * 10_000 == 5 * CENT  # the fee and the whole lease, committed now

    decision, receipt = h.activate(c, HARD, rid(2), 301, at=t)  # 5 cents + 1 second's 10,000 micro-units too many
    assert decision == (False, DenialReason.SPENDING_CAP_REACHED)
    assert h.only_event(receipt, "ActivationDenied")["reason"] == DenialReason.SPENDING_CAP_REACHED
    assert h.instance(h.iid(rid(2))).reason == DenialReason.SPENDING_CAP_REACHED
    assert h.spent(c, tf.id) == 5 * CENT
    assert h.usage(c, tf.id, HARD) == UsageView(1, 0, 300, 1)  # nothing counted, no seat taken

    assert h.activate(c, HARD, rid(3), 300, at=t)[0] == (True, DenialReason.NONE)  # exactly the cap
    assert h.spent(c, tf.id) == 10 * CENT == h.account(c).spent
    assert h.activate(c, HARD, rid(4), 1, at=t)[0] == (False, DenialReason.SPENDING_CAP_REACHED)
    assert h.account(c).spent_timeframe == tf.id


def test_a_renewal_that_would_cross_the_cap_is_denied_and_the_lease_keeps_its_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: CAPPED})
    c = customers[0]
    h.set_cap(c, 10)
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), 300, at=t0)  # 5 cents; the lease ends at t0 + 300
    iid = h.iid(rid(1))
    result, receipt = h.renew(iid, 701, at=t0 + 100)  # to t0 + 801: 501 more seconds, 5.01 cents
    assert result == (False, DenialReason.SPENDING_CAP_REACHED, 0)
    assert h.only_event(receipt, "LeaseRenewalDenied")["reason"] == DenialReason.SPENDING_CAP_REACHED
    assert (h.instance(iid).lease_end, h.spent(c, tf.id)) == (t0 + 300, 5 * CENT)
    assert h.renew(iid, 700, at=t0 + 100)[0] == (True, DenialReason.NONE, t0 + 800)  # exactly the cap
    assert h.spent(c, tf.id) == 10 * CENT


def test_stopping_early_gives_back_the_unspent_seconds_but_not_the_activation_fee(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: CAPPED})
    c = customers[0]
    h.set_cap(c, 10)
    t0 = tf.start + 10
    h.activate_many([(c, HARD, rid(1), 300), (c, HARD, rid(2), 300)], at=t0)
    assert h.spent(c, tf.id) == 10 * CENT
    h.deactivate(h.iid(rid(1)), at=t0 + 100)  # 200 seconds unspent
    assert h.spent(c, tf.id) == 10 * CENT - 200 * 10_000
    h.close(h.iid(rid(2)), at=t0 + 150)  # the provider's close gives back too: 150 seconds
    assert h.spent(c, tf.id) == 2 * (2 * CENT) + (100 + 150) * 10_000 == 6_500_000
    # What was given back may be committed again.
    assert h.activate(c, HARD, rid(3), 150, at=t0 + 151)[0] == (True, DenialReason.NONE)
    assert h.spent(c, tf.id) == 10 * CENT


def test_an_expiry_gives_nothing_back_because_the_whole_lease_ran(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: CAPPED})
    c = customers[0]
    t0 = tf.start + 10
    h.activate(c, HARD, rid(1), LEASE, at=t0)
    committed = h.spent(c, tf.id)
    assert h.deactivate(h.iid(rid(1)), at=t0 + LEASE)["logs"]  # at the expiry: closed as expired
    assert h.spent(c, tf.id) == committed == 2 * CENT + LEASE * 10_000


def test_the_cap_counts_micro_units_so_a_one_cent_cap_allows_25_activations_at_0_0004_usd(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: Rules(price_per_activation=40_000)}, currency=USD)
    c = customers[0]
    h.set_cap(c, 1, currency=b"USD")
    decisions, _ = h.activate_many([(c, HARD, rid(s), LEASE) for s in range(26)])
    assert decisions == [(True, DenialReason.NONE)] * 25 + [(False, DenialReason.SPENDING_CAP_REACHED)]
    assert h.spent(c, tf.id) == 25 * 40_000 == 1 * CENT


def test_included_activations_and_seconds_cost_nothing_under_the_cap(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    included = Rules(
        price_per_activation=2 * CENT, price_per_time_unit=10_000, included_activations=1, included_seconds=100
    )
    tf = setup_timeframe(rules={HARD: included})
    c = customers[0]
    h.set_cap(c, 3)
    t = tf.start + 10
    assert h.activate(c, HARD, rid(1), 100, at=t)[0] == (True, DenialReason.NONE)
    assert h.spent(c, tf.id) == 0
    assert h.activate(c, HARD, rid(2), 50, at=t)[0] == (True, DenialReason.NONE)
    assert h.spent(c, tf.id) == 2 * CENT + 50 * 10_000  # the second activation's fee, the 50 seconds beyond 100
    assert h.activate(c, HARD, rid(3), 51, at=t)[0] == (False, DenialReason.SPENDING_CAP_REACHED)


def test_time_is_committed_as_the_ceiling_of_a_types_total_seconds_at_0_12_eur_an_hour(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    """3,333.33... micro-units a second: 1 s commits 3,334, and 3 s in all commit 10,000, not 3,334 + 6,667."""
    hourly = Rules(price_per_time_unit=12_000_000, time_unit_seconds=3600)
    tf = setup_timeframe(rules={HARD: hourly}, length=10_000)
    c = customers[0]
    t = tf.start + 10
    h.activate(c, HARD, rid(1), 1, at=t)
    assert h.spent(c, tf.id) == 3334
    h.activate(c, HARD, rid(2), 2, at=t)
    assert h.spent(c, tf.id) == 10_000
    h.activate(c, HARD, rid(3), 3600 - 3, at=t)
    assert h.spent(c, tf.id) == 12_000_000  # one hour: exactly 0.12 EUR
    h.deactivate(h.iid(rid(3)), at=t + 1)  # 3,596 seconds given back: 4 seconds in all
    assert h.spent(c, tf.id) == 13_334


def test_a_cap_applies_from_the_next_decision_and_zero_removes_it(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: CAPPED})
    c = customers[0]
    t = tf.start + 10
    h.activate(c, HARD, rid(1), 300, at=t)  # 5 cents, no cap yet
    h.set_cap(c, 4, at=t + 1)  # below what is committed: the running lease stays, nothing new fits
    assert h.activate(c, HARD, rid(2), 1, at=t + 2)[0] == (False, DenialReason.SPENDING_CAP_REACHED)
    assert h.renew(h.iid(rid(1)), 400, at=t + 3)[0] == (False, DenialReason.SPENDING_CAP_REACHED, 0)
    h.set_cap(c, 0, at=t + 4)
    assert h.activate(c, HARD, rid(3), 1, at=t + 5)[0] == (True, DenialReason.NONE)
    assert h.spent(c, tf.id) == 5 * CENT + 2 * CENT + 10_000


def test_spending_is_counted_per_timeframe_and_the_cap_applies_afresh_in_the_next(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(rules={HARD: CAPPED}, length=500, enter=False)
    second = setup_timeframe(start=first.end + 100, rules={HARD: CAPPED}, length=500, enter=False)
    c = customers[0]
    h.set_cap(c, 10)
    assert h.activate(c, HARD, rid(1), 300, at=first.start)[0] == (True, DenialReason.NONE)
    assert h.activate(c, HARD, rid(2), 300, at=first.start)[0] == (True, DenialReason.NONE)
    assert h.activate(c, HARD, rid(3), 1, at=first.start)[0] == (False, DenialReason.SPENDING_CAP_REACHED)
    assert h.activate(c, HARD, rid(3, 2), 300, at=second.start)[0] == (True, DenialReason.NONE)
    assert (h.spent(c, first.id), h.spent(c, second.id)) == (0, 5 * CENT)  # only the latest timeframe is kept
    assert (h.account(c).spent_timeframe, h.account(c).spent) == (second.id, 5 * CENT)
