"""``metering role``: the rules-manager role and the two-step transfer of the admin role.

``metering agent grant/revoke`` handles the agent role; this group the others. The admin role moves in two steps
(OpenZeppelin's ``AccessControlDefaultAdminRules``): the admin begins a transfer, the new admin accepts it with its
own key once the admin delay has passed, and until then the admin may cancel it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from metering.cli._common import (
    console,
    print_json,
)
from metering.cli._flags import FlagHelpGroup
from metering.cli._on_chain import OnChain, checked_addresses, on_chain

if TYPE_CHECKING:
    from metering.provider import RoleChange
    from metering.provider.roles import AdminTransfer, Roles

__all__ = ["role_app"]

role_app = typer.Typer(
    help="Grant and revoke the rules-manager role; hand the admin role over in two steps (begin, accept).",
    no_args_is_help=True,
    cls=FlagHelpGroup,
)

AccountsArg = Annotated[list[str], typer.Argument(help="Addresses.")]


def _roles(on: OnChain, *, read_only: bool = False) -> Roles:
    from metering.provider.roles import Roles

    return on.build(Roles, read_only=read_only)


def _addresses(values: list[str]) -> list[str]:
    return checked_addresses(values, "account")  # every one checked before anything is sent


def _report(changes: list[RoleChange], json_out: bool) -> None:
    if json_out:
        print_json([{"account": c.account, "role": c.role, "holds": c.holds, "changed": c.changed,
                     "tx_hash": c.tx_hash} for c in changes])
        return
    for c in changes:
        state = "holds" if c.holds else "does not hold"
        note = "" if c.changed else " (unchanged)"
        console.print(f"  {c.account} {state} {c.role}{note}  tx {c.tx_hash}", highlight=False)


def _transfer(done: AdminTransfer, json_out: bool) -> None:
    from metering.timeparse import with_iso

    if json_out:
        print_json({"step": done.step, "new_admin": done.new_admin, "accept_after": done.accept_after,
                    "tx_hash": done.tx_hash})
    elif done.step == "begun":
        assert done.accept_after is not None
        console.print(f"admin transfer to {done.new_admin} begun: it may accept from {with_iso(done.accept_after)} "
                      f"with `metering role accept-admin` and its own key  tx {done.tx_hash}", highlight=False)
    elif done.step == "accepted":
        console.print(f"{done.new_admin} is now the admin  tx {done.tx_hash}", highlight=False)
    else:
        console.print(f"admin transfer canceled  tx {done.tx_hash}", highlight=False)


@role_app.command("show")
@on_chain()
def role_show(
    on: OnChain,
    accounts: Annotated[list[str] | None, typer.Argument(help="Also show the roles these addresses hold.")] = None,
) -> None:
    """Show the admin, the admin delay, an admin transfer under way, and the roles of the given addresses."""
    from metering.timeparse import format_duration, with_iso

    roles = on.reader()  # without web3: a read answers at once (issue 20)
    addresses = _addresses(accounts or [])
    state = roles.admin_state()
    held = {address: roles.roles_of(address) for address in addresses}
    if on.json:
        print_json({"admin": state.admin, "admin_delay": state.delay, "pending_admin": state.pending_admin,
                    "accept_after": state.accept_after, "roles": held})
        return
    console.print(f"admin: {state.admin or 'none (renounced)'}, admin delay {format_duration(state.delay)}",
                  highlight=False)
    if state.pending_admin is not None and state.accept_after is not None:
        console.print(f"pending admin transfer to {state.pending_admin}, who may accept from "
                      f"{with_iso(state.accept_after)}", highlight=False)
    else:
        console.print("no admin transfer under way", highlight=False)
    for address, names in held.items():
        console.print(f"  {address}: {', '.join(names) or 'no role'}", highlight=False)


@role_app.command("grant-manager")
@on_chain(signs=True)
def role_grant_manager(
    on: OnChain,
    accounts: AccountsArg,
) -> None:
    """Grant RULES_MANAGER_ROLE (timeframes, rules, customers, invoice anchors); admin only; sent together."""
    addresses = _addresses(accounts)
    _report(_roles(on).grant_rules_managers(addresses), on.json)


@role_app.command("revoke-manager")
@on_chain(signs=True)
def role_revoke_manager(
    on: OnChain,
    accounts: AccountsArg,
) -> None:
    """Revoke RULES_MANAGER_ROLE; admin only; sent together."""
    addresses = _addresses(accounts)
    _report(_roles(on).revoke_rules_managers(addresses), on.json)


@role_app.command("begin-admin-transfer")
@on_chain(signs=True)
def role_begin_admin_transfer(
    on: OnChain,
    new_admin: Annotated[str, typer.Argument(help="The address that will become the admin.")],
) -> None:
    """As the admin: start handing the admin role to NEW_ADMIN, who accepts after the admin delay."""
    _transfer(_roles(on).begin_admin_transfer(new_admin), on.json)


@role_app.command("accept-admin")
@on_chain(signs=True)
def role_accept_admin(
    on: OnChain,
) -> None:
    """As the pending admin (its own key): take the admin role, once the admin delay has passed."""
    _transfer(_roles(on).accept_admin_transfer(), on.json)


@role_app.command("cancel-admin-transfer")
@on_chain(signs=True)
def role_cancel_admin_transfer(
    on: OnChain,
) -> None:
    """As the admin: drop the admin transfer under way."""
    _transfer(_roles(on).cancel_admin_transfer(), on.json)
