"""Access control: who may call what, and the two-step transfer of the admin role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from metering.contract import DenialReason

from .conftest import HARD_RULES, SetupTimeframe
from .helpers import EUR, HARD, Harness, request_id

ADMIN = b"\x00" * 32
MANAGER = "RULES_MANAGER_ROLE"
AGENT = "AGENT_ROLE"
RID = request_id("access")
HASH = b"\x11" * 32

# (function, arguments built from (harness, some address), the role it needs)
CALLS: list[tuple[str, Callable[[Harness, str], list[Any]], str]] = [
    ("createTimeframe", lambda h, a: [h.chain.now() + 100, h.chain.now() + 200, EUR], MANAGER),
    ("setRules", lambda h, a: [1, HARD, HARD_RULES.as_tuple()], MANAGER),
    ("enrollCustomer", lambda h, a: [a], MANAGER),
    ("suspendCustomer", lambda h, a: [a], MANAGER),
    ("anchorInvoice", lambda h, a: [a, 1, HASH, 100], MANAGER),
    ("correctInvoice", lambda h, a: [a, 1, HASH, 100], MANAGER),
    ("requestActivation", lambda h, a: [a, HARD, RID, 60], AGENT),
    ("requestActivations", lambda h, a: [[(a, HARD, RID, 60)]], AGENT),
    ("renewLease", lambda h, a: [RID, 60], AGENT),
    ("deactivate", lambda h, a: [RID], AGENT),
    ("grantRole", lambda h, a: [h.fn.AGENT_ROLE().call(), a], "DEFAULT_ADMIN_ROLE"),
    ("revokeRole", lambda h, a: [h.fn.AGENT_ROLE().call(), h.agent.address], "DEFAULT_ADMIN_ROLE"),
    ("beginDefaultAdminTransfer", lambda h, a: [a], "DEFAULT_ADMIN_ROLE"),
]


def _role(h: Harness, name: str) -> bytes:
    return ADMIN if name == "DEFAULT_ADMIN_ROLE" else bytes(getattr(h.fn, name)().call())


@pytest.mark.parametrize(("function", "args", "role"), CALLS, ids=[c[0] for c in CALLS])
def test_state_changing_function_reverts_unauthorized_when_called_by_an_outsider(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, function: str, args: Any, role: str
) -> None:
    setup_timeframe()
    h.activate(customers[0], HARD, RID, 60)  # so that agent calls would otherwise succeed
    outsider = h.outsider.address
    fn = getattr(h.fn, function)(*args(h, customers[0].address))
    h.assert_reverts(fn, h.outsider, "AccessControlUnauthorizedAccount", outsider, _role(h, role))


@pytest.mark.parametrize(
    ("function", "args", "who", "role"),
    [
        ("createTimeframe", CALLS[0][1], "agent", MANAGER),
        ("enrollCustomer", CALLS[2][1], "agent", MANAGER),
        ("requestActivation", CALLS[6][1], "admin", AGENT),
        ("grantRole", CALLS[10][1], "agent", "DEFAULT_ADMIN_ROLE"),
    ],
    ids=["agent-creates-timeframe", "agent-enrolls", "manager-activates", "agent-grants-role"],
)
def test_roles_are_separate_so_each_role_holder_is_refused_the_others_functions(
    h: Harness, customers: Any, function: str, args: Any, who: str, role: str
) -> None:
    caller = getattr(h, who)
    fn = getattr(h.fn, function)(*args(h, customers[0].address))
    h.assert_reverts(fn, caller, "AccessControlUnauthorizedAccount", caller.address, _role(h, role))


def test_expire_leases_works_for_anyone(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    tf = setup_timeframe()
    h.activate(customers[0], HARD, RID, 60, at=tf.start + 1)
    for sender in (h.outsider, customers[5]):
        assert h.expire([RID], sender=sender, at=tf.start + 30)[0] == 0
    closed, receipt = h.expire([RID], sender=customers[5], at=tf.start + 61)
    assert closed == 1
    assert h.only_event(receipt, "LeaseExpired")["instanceId"] == RID


def test_admin_grants_and_revokes_the_agent_role(h: Harness, setup_timeframe: SetupTimeframe, customers: Any) -> None:
    setup_timeframe()
    agent_role = bytes(h.fn.AGENT_ROLE().call())
    newcomer = h.outsider
    receipt = h.send(h.fn.grantRole(agent_role, newcomer.address), h.admin)
    assert h.only_event(receipt, "RoleGranted") == {
        "role": agent_role, "account": newcomer.address, "sender": h.admin.address,
    }
    assert h.activate(customers[0], HARD, RID, 60, sender=newcomer)[0] == (True, DenialReason.NONE)
    h.send(h.fn.revokeRole(agent_role, newcomer.address), h.admin)
    other = request_id("after-revoke")
    h.assert_reverts(
        h.fn.requestActivation(customers[0].address, HARD, other, 60),
        newcomer,
        "AccessControlUnauthorizedAccount",
        newcomer.address,
        agent_role,
    )


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
