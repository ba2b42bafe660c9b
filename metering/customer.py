"""The customer's side: choose which agents may bill you, and cap what you commit per timeframe.

A customer acts for itself, in its own transactions, with its own key (the enrolled address): the provider cannot
approve an agent or raise a cap on a customer's behalf. By default an enrolled customer accepts every agent the
provider runs (every holder of ``AGENT_ROLE``); once it approves an agent, only the agents it approved may activate
or renew for it, and revoking them all stops all billing. The spending cap is in minor units of each timeframe's
currency (``0`` removes it); the contract counts every grant's fee and every lease's seconds in full, given back
when an instance stops early, and denies what would cross the cap (``SPENDING_CAP_REACHED``), so a final invoice
never exceeds it.

>>> me = Customer(w3, meter_address, customer_key)      # doctest: +SKIP
>>> me.approve_agent("0xAgent...")                        # doctest: +SKIP
>>> me.set_spending_cap(50_00)                            # 50.00 EUR per timeframe   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from metering._utils.client import CustomerAccount, MeterClient
from metering.chain import checksum
from metering.errors import ConfigError
from metering.types import UINT64_MAX

__all__ = ["AgentApproval", "CapChange", "Customer", "CustomerAccount", "RestrictionChange"]

_CUSTOMER_GAS = 80_000


@dataclass(frozen=True)
class AgentApproval:
    """Whether ``agent`` is approved by ``customer`` after the call, and whether the customer is now restricted to
    the agents it approved."""

    customer: ChecksumAddress
    agent: ChecksumAddress
    approved: bool
    restricted: bool
    tx_hash: str


@dataclass(frozen=True)
class RestrictionChange:
    customer: ChecksumAddress
    restricted: bool
    tx_hash: str


@dataclass(frozen=True)
class CapChange:
    """The customer's spending cap per timeframe after the call, in minor units (0: no cap)."""

    customer: ChecksumAddress
    cap: int
    tx_hash: str


class Customer(MeterClient):
    """A customer's own operations; ``signer`` is the enrolled customer's key."""

    def approve_agent(self, agent: str) -> AgentApproval:
        """Lets ``agent`` bill this customer, and restricts the customer to the agents it approved."""
        address = checksum(agent, what="agent")
        sent = self.sender.transact(self._call("approveAgent", address, min_gas=_CUSTOMER_GAS))
        restricted = any(e["event"] == "AgentRestrictionSet" for e in self.events(sent.logs))
        return AgentApproval(self.sender.address, address, True, restricted or self._restricted(), sent.tx_hash)

    def revoke_agent(self, agent: str) -> AgentApproval:
        """Stops ``agent`` from activating or renewing for this customer (its running leases run out)."""
        address = checksum(agent, what="agent")
        sent = self.sender.transact(self._call("revokeAgent", address, min_gas=_CUSTOMER_GAS))
        return AgentApproval(self.sender.address, address, False, self._restricted(), sent.tx_hash)

    def set_agent_restriction(self, restricted: bool) -> RestrictionChange:
        """``True``: only approved agents may bill this customer; ``False``: every provider agent may."""
        sent = self.sender.transact(self._call("setAgentRestriction", bool(restricted), min_gas=_CUSTOMER_GAS))
        return RestrictionChange(self.sender.address, bool(restricted), sent.tx_hash)

    def set_spending_cap(self, cap: int) -> CapChange:
        """Caps what this customer commits per timeframe, in minor units of the timeframe's currency; 0 removes it."""
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= UINT64_MAX:
            raise ConfigError(f"spending cap must be 0..{UINT64_MAX} minor units, got {cap!r}")
        sent = self.sender.transact(self._call("setSpendingCap", cap, min_gas=_CUSTOMER_GAS))
        return CapChange(self.sender.address, cap, sent.tx_hash)

    def account(self) -> CustomerAccount:
        """This customer's status, restriction, cap and what it committed in its latest timeframe."""
        return self.customer_account(self.sender.address)

    def _restricted(self) -> bool:
        return self.customer_account(self.sender.address).restricted
