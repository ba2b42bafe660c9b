"""Contract v3 (issue 15) against a real node: a revoke always takes effect, the customer stops an instance billed
to it, leases are bounded, a boundary lease stays continuable whatever a third party calls, and caps carry their
currency. The Foundry suites (test/attacks/AttacksV3.t.sol, the invariants) cover the same rules at more depth; these
check them through web3, as the Python library sees them.
"""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason, InstanceStatus
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import EUR, HARD, USD, Harness, rid

GRACE = 15 * 60
BOUNDED = Rules(price_per_time_unit=10_000, max_concurrent=1, max_lease_seconds=300)


def test_a_revoke_without_any_approval_stops_the_agents_starts_and_renewals(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: Rules()})
    c = customers[0]
    assert h.activate(c, HARD, rid(1), 600, at=tf.start + 1)[0] == (True, DenialReason.NONE)
    h.revoke(c, h.agent.address, at=tf.start + 2)
    assert h.fn.mayBill(c.address, h.agent.address).call() is False
    assert h.fn.agentRevoked(c.address, h.agent.address).call() is True
    assert h.account(c).revoked_any is True and h.account(c).restricted is False
    assert h.renew(h.iid(rid(1)), 600, at=tf.start + 3)[0][:2] == (False, DenialReason.AGENT_NOT_APPROVED)
    assert h.activate(c, HARD, rid(2), 600, at=tf.start + 4)[0] == (False, DenialReason.AGENT_NOT_APPROVED)
    assert h.activate(c, HARD, rid(1), 600, at=tf.start + 5, sender=h.agent2)[0] == (True, DenialReason.NONE)


def test_the_customer_stops_an_instance_billed_to_it_and_nobody_else_can(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(rules={HARD: BOUNDED})
    c, other = customers[0], customers[1]
    h.activate(c, HARD, rid(1), 10**9, at=tf.start + 1)
    mine = h.iid(rid(1))
    assert h.instance(mine).lease_end == tf.start + 1 + 300  # maxLeaseSeconds bounds the grant
    h.assert_reverts(h.fn.stopInstance(mine), other, "MeteringNotInstanceCustomer", mine, other.address,
                     at=tf.start + 10)
    receipt = h.stop(c, mine, at=tf.start + 11)
    assert h.only_event(receipt, "InstanceStoppedByCustomer") == {
        "instanceId": mine, "customer": c.address, "instanceType": HARD, "timeframe": tf.id,
        "stoppedAt": tf.start + 11,
    }
    assert h.instance(mine).status == InstanceStatus.CLOSED
    assert h.usage(c, tf.id, HARD).leased_seconds == 10
    assert h.spent(c, tf.id) == 10 * 10_000


def test_a_third_party_cannot_close_a_boundary_lease_in_its_grace_and_the_holder_continues_it(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    first = setup_timeframe(length=500, rules={HARD: Rules(max_activations=1)}, enter=False)
    second = setup_timeframe(start=first.end, length=500, rules={HARD: Rules(max_activations=1)}, enter=False)
    h.chain.mine(first.start)
    c = customers[0]
    h.activate(c, HARD, rid(1), 500, at=first.start + 1)
    iid = h.iid(rid(1))
    assert h.expire([iid], at=second.start)[0] == 0  # skipped: still continuable
    assert h.activate(c, HARD, rid(2), 60, at=second.start + 1)[0] == (True, DenialReason.NONE)  # the quota's one
    granted, receipt = h.renew(iid, 60, at=second.start + 30)
    assert granted[:2] == (True, DenialReason.NONE)
    assert h.events(receipt, "LeaseContinued")[0].args["startedAt"] == second.start  # no seat limit: from the start
    assert h.expire([iid], at=second.start + 30 + 60 + GRACE)[0] == 1  # an ordinary lease once it ran out


def test_a_cap_in_another_currency_is_refused_naming_both(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    setup_timeframe(rules={HARD: Rules()})
    c = customers[0]
    h.assert_reverts(h.fn.setSpendingCap(50, USD), c, "MeteringCapCurrencyMismatch", USD, EUR)
    h.set_cap(c, 50)
    assert (h.account(c).spending_cap, h.account(c).cap_currency) == (50, EUR)


def test_a_new_customer_starts_with_the_providers_default_cap(h: Harness, customers: Any) -> None:
    h.send(h.fn.setDefaultCustomerCap(300, EUR), h.admin)
    assert h.fn.defaultCustomerCap().call() == [300, EUR]
    h.enroll(customers[3])
    account = h.account(customers[3])
    assert (account.spending_cap, account.cap_currency) == (300, EUR)
