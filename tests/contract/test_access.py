"""Access control: who may call what (roles, instance holders, customers), and the two-step admin transfer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_utils.crypto import keccak

from metering.contract import DenialReason, InstanceStatus, abi

from .conftest import HARD_RULES, SetupTimeframe
from .helpers import EUR, HARD, Harness, rid

ADMIN = b"\x00" * 32
MANAGER = "RULES_MANAGER_ROLE"
AGENT = "AGENT_ROLE"
SETTLEMENT = "SETTLEMENT_ROLE"  # no public getter (EIP-170): keccak256 of its name
RID = rid(1)
HASH = b"\x11" * 32

# (function, arguments built from (harness, some address), the role it needs)
CALLS: list[tuple[str, Callable[[Harness, str], list[Any]], str]] = [
    ("createTimeframe", lambda h, a: [h.chain.now() + 100, h.chain.now() + 200, EUR], MANAGER),
    ("setRules", lambda h, a: [1, HARD, HARD_RULES.as_tuple()], MANAGER),
    ("enrollCustomer", lambda h, a: [a], MANAGER),
    ("suspendCustomer", lambda h, a: [a], MANAGER),
    ("closeInstance", lambda h, a: [h.iid(RID)], MANAGER),
    ("anchorInvoice", lambda h, a: [a, 1, HASH, 100], MANAGER),
    ("correctInvoice", lambda h, a: [a, 1, HASH, 100], MANAGER),
    ("requestActivation", lambda h, a: [a, HARD, rid(2), 60], AGENT),
    ("requestActivations", lambda h, a: [[(a, HARD, rid(2), 60)]], AGENT),
    ("renewLease", lambda h, a: [h.iid(RID), 60], AGENT),
    ("grantRole", lambda h, a: [h.fn.AGENT_ROLE().call(), a], "DEFAULT_ADMIN_ROLE"),
    ("revokeRole", lambda h, a: [h.fn.AGENT_ROLE().call(), h.agent.address], "DEFAULT_ADMIN_ROLE"),
    ("beginDefaultAdminTransfer", lambda h, a: [a], "DEFAULT_ADMIN_ROLE"),
    ("cancelDefaultAdminTransfer", lambda h, a: [], "DEFAULT_ADMIN_ROLE"),
    ("changeDefaultAdminDelay", lambda h, a: [10], "DEFAULT_ADMIN_ROLE"),
    ("rollbackDefaultAdminDelay", lambda h, a: [], "DEFAULT_ADMIN_ROLE"),
    ("setDefaultCustomerCap", lambda h, a: [100, EUR], MANAGER),
    ("setPrepaid", lambda h, a: [a, 0, 100, EUR], SETTLEMENT),  # the settlement contract's hook (issue 16)
]
#: Functions only the agent that holds the instance may call.
HOLDER_ONLY = ["renewLease", "deactivate"]
#: The customer an instance is billed to (tested in test_customers.py).
INSTANCE_CUSTOMER_ONLY = ["stopInstance"]
#: Functions a customer calls for itself.
CUSTOMER_ONLY: list[tuple[str, Callable[[Harness], list[Any]]]] = [
    ("approveAgent", lambda h: [h.agent.address]),
    ("revokeAgent", lambda h: [h.agent.address]),
    ("setAgentRestriction", lambda h: [True]),
    ("setSpendingCap", lambda h: [100, EUR]),
]
#: Covered by dedicated tests below: the admin transfer's acceptance, renouncing, and the open expireLeases.
SPECIAL = ["acceptDefaultAdminTransfer", "renounceRole", "expireLeases"]


def _role(h: Harness, name: str) -> bytes:
    if name == SETTLEMENT:
        return keccak(text=name)
    return ADMIN if name == "DEFAULT_ADMIN_ROLE" else bytes(getattr(h.fn, name)().call())


def test_every_state_changing_function_has_an_access_test() -> None:
    """A function added to the ABI without a row here fails this test, so its access rule gets a test."""
    state_changing = {e["name"] for e in abi() if e["type"] == "function" and e["stateMutability"] == "nonpayable"}
    covered = (
        {c[0] for c in CALLS} | set(HOLDER_ONLY) | set(INSTANCE_CUSTOMER_ONLY) | {c[0] for c in CUSTOMER_ONLY}
        | set(SPECIAL)
    )
    assert state_changing == covered


@pytest.mark.parametrize(("function", "args", "role"), CALLS, ids=[c[0] for c in CALLS])
def test_state_changing_function_reverts_unauthorized_when_called_by_an_outsider(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, function: str, args: Any, role: str
) -> None:
    setup_timeframe()
    h.activate(customers[0], HARD, RID, 60)  # so that agent and provider calls would otherwise succeed
    outsider = h.outsider.address
    fn = getattr(h.fn, function)(*args(h, customers[0].address))
    h.assert_reverts(fn, h.outsider, "AccessControlUnauthorizedAccount", outsider, _role(h, role))


@pytest.mark.parametrize(
    ("function", "args", "who", "role"),
    [
        ("createTimeframe", CALLS[0][1], "agent", MANAGER),
        ("enrollCustomer", CALLS[2][1], "agent", MANAGER),
        ("closeInstance", CALLS[4][1], "agent", MANAGER),
        ("requestActivation", CALLS[7][1], "admin", AGENT),
        ("grantRole", CALLS[10][1], "agent", "DEFAULT_ADMIN_ROLE"),
    ],
    ids=["agent-creates-timeframe", "agent-enrolls", "agent-closes-instance", "manager-activates", "agent-grants-role"],
)
def test_roles_are_separate_so_each_role_holder_is_refused_the_others_functions(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, function: str, args: Any, who: str, role: str
) -> None:
    setup_timeframe()
    h.activate(customers[0], HARD, RID, 60)
    caller = getattr(h, who)
    fn = getattr(h.fn, function)(*args(h, customers[0].address))
    h.assert_reverts(fn, caller, "AccessControlUnauthorizedAccount", caller.address, _role(h, role))


# ---------------------------------------------------------------------------------------------- instance holders


@pytest.mark.parametrize("function", HOLDER_ONLY)
def test_renew_and_deactivate_revert_not_instance_holder_for_another_agent_or_an_outsider(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, function: str
) -> None:
    tf = setup_timeframe()
    c = customers[0]
    h.activate(c, HARD, RID, 60, at=tf.start + 1)
    mine = h.iid(RID)
    args = [mine, 60] if function == "renewLease" else [mine]
    fn = getattr(h.fn, function)(*args)
    h.assert_reverts(fn, h.agent2, "MeteringNotInstanceHolder", mine, h.agent2.address)
    if function == "deactivate":  # no role is needed to stop one's own instance, so an outsider meets this check
        h.assert_reverts(fn, h.outsider, "MeteringNotInstanceHolder", mine, h.outsider.address)
    # The other agent's own instance with the same request id is a different instance, and it holds that one.
    assert h.activate(c, HARD, RID, 60, at=tf.start + 5, sender=h.agent2)[0] == (True, DenialReason.NONE)
    h.deactivate(h.iid(RID, h.agent2), sender=h.agent2)
    assert h.instance(mine).status == InstanceStatus.OPEN
    assert h.instance(h.iid(RID, h.agent2)).status == InstanceStatus.CLOSED


def test_an_agent_whose_role_was_revoked_can_still_deactivate_but_not_renew_its_instance(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    h.activate(customers[0], HARD, RID, 100, at=tf.start + 1)
    agent_role = bytes(h.fn.AGENT_ROLE().call())
    h.send(h.fn.revokeRole(agent_role, h.agent.address), h.admin)
    h.assert_reverts(
        h.fn.renewLease(h.iid(RID), 60), h.agent, "AccessControlUnauthorizedAccount", h.agent.address, agent_role
    )
    receipt = h.deactivate(h.iid(RID), at=tf.start + 30)
    assert h.only_event(receipt, "InstanceDeactivated")["stoppedAt"] == tf.start + 30


def test_expire_leases_works_for_anyone(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    h.activate(customers[0], HARD, RID, 60, at=tf.start + 1)
    mine = h.iid(RID)
    for sender in (h.outsider, customers[5], h.agent2):
        assert h.expire([mine], sender=sender, at=tf.start + 30)[0] == 0
    closed, receipt = h.expire([mine], sender=customers[5], at=tf.start + 61)
    assert closed == 1
    assert h.only_event(receipt, "LeaseExpired")["instanceId"] == mine


# ---------------------------------------------------------------------------------------------- customers


@pytest.mark.parametrize(("function", "args"), CUSTOMER_ONLY, ids=[c[0] for c in CUSTOMER_ONLY])
def test_customer_functions_revert_not_customer_for_anyone_but_an_enrolled_or_suspended_customer(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, function: str, args: Any
) -> None:
    setup_timeframe(enroll=2)
    fn = getattr(h.fn, function)(*args(h))
    for caller in (h.outsider, h.agent, h.admin, customers[2]):  # customers[2] was never enrolled
        h.assert_reverts(fn, caller, "MeteringNotCustomer", caller.address)
    assert h.account(customers[2]).restricted is False
    assert h.fn.agentApproved(customers[2].address, h.agent.address).call() is False
    # The customer itself may, and so may a suspended one (it manages its account while suspended).
    h.send(fn, customers[0])
    h.suspend(customers[1])
    h.send(fn, customers[1])


# ---------------------------------------------------------------------------------------------- roles


def test_admin_grants_and_revokes_the_agent_role(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    setup_timeframe()
    agent_role = bytes(h.fn.AGENT_ROLE().call())
    newcomer = h.outsider
    receipt = h.send(h.fn.grantRole(agent_role, newcomer.address), h.admin)
    assert h.only_event(receipt, "RoleGranted") == {
        "role": agent_role, "account": newcomer.address, "sender": h.admin.address,
    }
    assert h.fn.mayBill(customers[0].address, newcomer.address).call() is True
    assert h.activate(customers[0], HARD, RID, 60, sender=newcomer)[0] == (True, DenialReason.NONE)
    h.send(h.fn.revokeRole(agent_role, newcomer.address), h.admin)
    assert h.fn.mayBill(customers[0].address, newcomer.address).call() is False
    h.assert_reverts(
        h.fn.requestActivation(customers[0].address, HARD, rid(2), 60),
        newcomer,
        "AccessControlUnauthorizedAccount",
        newcomer.address,
        agent_role,
    )


def test_a_role_can_be_renounced_only_by_its_holder(h: Harness) -> None:
    agent_role = bytes(h.fn.AGENT_ROLE().call())
    h.assert_reverts(h.fn.renounceRole(agent_role, h.agent.address), h.outsider, "AccessControlBadConfirmation")
    assert h.fn.hasRole(agent_role, h.agent.address).call() is True
    h.send(h.fn.renounceRole(agent_role, h.agent.address), h.agent)
    assert h.fn.hasRole(agent_role, h.agent.address).call() is False


def test_admin_role_cannot_be_granted_directly(h: Harness) -> None:
    h.assert_reverts(h.fn.grantRole(ADMIN, h.outsider.address), h.admin, "AccessControlEnforcedDefaultAdminRules")


def test_two_step_admin_transfer_hands_over_the_admin_role_after_the_delay(h: Harness, customers: Any) -> None:
    old, new = h.admin, customers[5]
    assert h.fn.defaultAdmin().call() == old.address
    assert h.fn.defaultAdminDelay().call() == 0
    t = h.chain.now() + 10
    receipt = h.send(h.fn.beginDefaultAdminTransfer(new.address), old, at=t)
    assert h.only_event(receipt, "DefaultAdminTransferScheduled") == {"newAdmin": new.address, "acceptSchedule": t}
    assert tuple(h.fn.pendingDefaultAdmin().call()) == (new.address, t)

    # Only the named account may accept, and only once the schedule has passed (strictly after it).
    h.assert_reverts(h.fn.acceptDefaultAdminTransfer(), new, "AccessControlEnforcedDefaultAdminDelay", t, at=t)
    h.assert_reverts(
        h.fn.acceptDefaultAdminTransfer(), h.outsider, "AccessControlInvalidDefaultAdmin", h.outsider.address, at=t + 1
    )
    receipt = h.send(h.fn.acceptDefaultAdminTransfer(), new, at=t + 1)
    assert [e.name for e in h.events(receipt)] == ["RoleRevoked", "RoleGranted"]
    assert h.events(receipt)[1].args == {"role": ADMIN, "account": new.address, "sender": new.address}
    assert h.fn.defaultAdmin().call() == new.address
    assert h.fn.hasRole(ADMIN, old.address).call() is False

    agent_role = bytes(h.fn.AGENT_ROLE().call())
    h.assert_reverts(
        h.fn.grantRole(agent_role, h.outsider.address), old, "AccessControlUnauthorizedAccount", old.address, ADMIN
    )
    h.send(h.fn.grantRole(agent_role, h.outsider.address), new)
    assert h.fn.hasRole(agent_role, h.outsider.address).call() is True
