"""The customer's side: choose which agents may bill you, and cap what you commit per timeframe.

A customer acts for itself, in its own transactions, with its own key (the enrolled address): the provider cannot
approve an agent or raise a cap on a customer's behalf. By default an enrolled customer accepts every agent the
provider runs (every holder of ``AGENT_ROLE``); once it approves an agent, only the agents it approved may activate
or renew for it. A revoke always takes effect (contract v3): the revoked agent may no longer activate, renew or
continue for this customer, restricted or not; its running leases end at their lease end (the rules'
``max_lease_seconds`` bounds them), and :meth:`Customer.stop_instance` stops one now.

The spending cap carries its currency: it is set in minor units of a currency that must be the one of the timeframe
it bounds now (the active one, or the next to start); any other is refused before anything is sent, naming both.
``0`` removes it. The contract counts every grant's fee and every lease's seconds in full, given back when an
instance stops early, and denies what would cross the cap (``SPENDING_CAP_REACHED``), or anything in a later
timeframe priced in another currency (``CAP_CURRENCY_MISMATCH``), so a final invoice never exceeds it.

>>> me = Customer(w3, meter_address, customer_key)      # doctest: +SKIP
>>> me.approve_agent("0xAgent...")                        # doctest: +SKIP
>>> me.set_spending_cap(50_00, "EUR")                     # 50.00 EUR per timeframe   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from metering._utils.client import CustomerAccount, MeterClient, as_instance_id
from metering.chain import checksum
from metering.contract import currency_to_bytes
from metering.errors import ConfigError
from metering.types import UINT64_MAX

__all__ = ["AgentApproval", "CapChange", "Customer", "CustomerAccount", "CustomerStop", "RestrictionChange"]

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
    """The customer's spending cap per timeframe after the call, in minor units of ``currency`` (0: no cap)."""

    customer: ChecksumAddress
    cap: int
    currency: str
    tx_hash: str


@dataclass(frozen=True)
class CustomerStop:
    """An instance the customer stopped: ``stopped_at`` is the second billing stopped (now, or its lease end when
    that had passed: then ``expired`` is true)."""

    customer: ChecksumAddress
    instance_id: bytes
    stopped_at: int
    expired: bool
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
        """Stops ``agent`` from activating, renewing or continuing for this customer, restricted or not; its running
        leases end at their lease end (or stop them now with :meth:`stop_instance`)."""
        address = checksum(agent, what="agent")
        sent = self.sender.transact(self._call("revokeAgent", address, min_gas=_CUSTOMER_GAS))
        return AgentApproval(self.sender.address, address, False, self._restricted(), sent.tx_hash)

    def set_agent_restriction(self, restricted: bool) -> RestrictionChange:
        """``True``: only approved agents may bill this customer; ``False``: every provider agent may."""
        sent = self.sender.transact(self._call("setAgentRestriction", bool(restricted), min_gas=_CUSTOMER_GAS))
        return RestrictionChange(self.sender.address, bool(restricted), sent.tx_hash)

    def set_spending_cap(self, cap: int, currency: str) -> CapChange:
        """Caps what this customer commits per timeframe, in minor units of ``currency``; 0 removes it.

        ``currency`` must be the currency of the timeframe the cap bounds now (the active one, or the next to
        start): another is refused here, before sending, with a message that names both (the contract refuses it
        too, ``MeteringCapCurrencyMismatch``)."""
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= UINT64_MAX:
            raise ConfigError(f"spending cap must be 0..{UINT64_MAX} minor units, got {cap!r}")
        code = currency.strip().upper()
        try:
            raw = currency_to_bytes(code)
        except ValueError as exc:
            raise ConfigError(f"cap currency {currency!r} is not an ISO 4217 code such as EUR: {exc}") from exc
        if cap != 0:
            priced = self.cap_timeframe_currency()
            if priced is not None and priced != code:
                raise ConfigError(
                    f"the cap is in {code} but the timeframe it would bound is priced in {priced}: "
                    f"give the cap in {priced} (nothing was sent)"
                )
        sent = self.sender.transact(self._call("setSpendingCap", cap, raw, min_gas=_CUSTOMER_GAS))
        return CapChange(self.sender.address, cap, code, sent.tx_hash)

    def stop_instance(self, instance_id: bytes | str) -> CustomerStop:
        """Stops an instance billed to this customer, whichever agent runs it (e.g. one it revoked): billing stops
        now, or at its lease end if that has passed. Only the instance's customer may (else
        ``MeteringNotInstanceCustomer``)."""
        raw = as_instance_id(instance_id)
        sent = self.sender.transact(self._call("stopInstance", raw, min_gas=_CUSTOMER_GAS))
        for event in self.events(sent.logs):
            if event["event"] == "InstanceStoppedByCustomer":
                return CustomerStop(self.sender.address, raw, int(event["args"]["stoppedAt"]), False, sent.tx_hash)
            if event["event"] == "LeaseExpired":
                return CustomerStop(self.sender.address, raw, int(event["args"]["leaseEnd"]), True, sent.tx_hash)
        raise ConfigError(f"instance 0x{raw.hex()} was not stopped: no stop event in tx {sent.tx_hash}")

    def account(self) -> CustomerAccount:
        """This customer's status, restriction, cap and what it committed in its latest timeframe."""
        return self.customer_account(self.sender.address)

    def _restricted(self) -> bool:
        return self.customer_account(self.sender.address).restricted
