"""Who may do what on a Meter: the rules-manager role and the two-step transfer of the admin role.

The Meter uses OpenZeppelin's ``AccessControlDefaultAdminRules``: exactly one admin, which grants and revokes
``RULES_MANAGER_ROLE`` and ``AGENT_ROLE``, and which can only be handed over in two steps so that a typo'd address
never takes the contract: the admin *begins* a transfer to a new address, which can *accept* once the admin delay
(set at deployment) has passed; until then the admin may *cancel* it. Each step is one transaction.

>>> roles = Roles(w3, meter_address, admin_key)                  # doctest: +SKIP
>>> roles.grant_rules_managers(["0x..."])                        # doctest: +SKIP
>>> roles.begin_admin_transfer("0xNewAdmin...")                  # doctest: +SKIP
>>> Roles(w3, meter_address, new_admin_key).accept_admin_transfer()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from web3 import Web3

from metering._utils.reads import ROLES, RULES_MANAGER_ROLE, AdminState
from metering.chain import checksum
from metering.errors import ConfigError
from metering.provider import Provider, RoleChange

__all__ = ["ROLES", "AdminState", "AdminTransfer", "Roles"]

_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class AdminTransfer:
    """One step of an admin transfer, as sent: ``begun`` (to ``new_admin``), ``accepted`` or ``canceled``."""

    step: str
    new_admin: ChecksumAddress | None
    accept_after: int | None
    tx_hash: str


class Roles(Provider):
    """Role management on a deployed Meter; the signer must be the admin (or, to accept, the pending admin)."""

    def grant_rules_managers(self, accounts: Sequence[str]) -> list[RoleChange]:
        """Lets each account create timeframes, set rules, manage customers and anchor invoices (pipelined)."""
        return self.change_roles("grantRole", RULES_MANAGER_ROLE, accounts)

    def revoke_rules_managers(self, accounts: Sequence[str]) -> list[RoleChange]:
        return self.change_roles("revokeRole", RULES_MANAGER_ROLE, accounts)

    def begin_admin_transfer(self, new_admin: str) -> AdminTransfer:
        """Schedules the transfer of the admin role to ``new_admin``, who accepts after the admin delay; replaces a
        transfer already under way."""
        address = checksum(new_admin, what="new admin")
        if address == Web3.to_checksum_address(_ZERO):
            raise ConfigError("the new admin cannot be the zero address (to give up the admin role, use renounceRole)")
        sent = self._transact("beginDefaultAdminTransfer", address)
        pending = self.admin_state()
        return AdminTransfer("begun", address, pending.accept_after, sent.tx_hash)

    def accept_admin_transfer(self) -> AdminTransfer:
        """As the pending admin: take the admin role (after the delay)."""
        sent = self._transact("acceptDefaultAdminTransfer")
        return AdminTransfer("accepted", self.sender.address, None, sent.tx_hash)

    def cancel_admin_transfer(self) -> AdminTransfer:
        """As the admin: drop the transfer under way."""
        sent = self._transact("cancelDefaultAdminTransfer")
        return AdminTransfer("canceled", None, None, sent.tx_hash)
