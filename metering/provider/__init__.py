"""The provider's side: deploy the Meter, create timeframes, publish rules, manage customers and agents, anchor
invoices.

Every method sends one transaction through a :class:`~metering.chain.sender.TransactionSender` and returns a small
frozen result decoded from the receipt's events (so what you get is what the chain recorded, not what was asked for).
Inputs are checked before anything is signed: addresses must be addresses (:class:`~metering.errors.ConfigError`
``not an address: ...``), money must be integers. Contract reverts arrive as
:class:`~metering.errors.ContractRevertError` with the custom error decoded.

>>> provider = Provider.deploy(w3, signer)                                     # doctest: +SKIP
>>> tf = provider.create_timeframe(start, end, "EUR")                          # doctest: +SKIP
>>> provider.set_rules(tf, 1, Rules(price_per_activation=500_000_000, price_per_time_unit=12_000_000,
...                                 time_unit_seconds=3600))                   # doctest: +SKIP
>>> provider.enroll_customer("0x...")                                          # doctest: +SKIP
>>> provider.grant_agent("0x...")                                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3

from metering._utils.abi_errors import meter_error_decoder
from metering._utils.client import (
    AGENT_ROLE,
    DEFAULT_ADMIN_ROLE,
    RULES_MANAGER_ROLE,
    MeterClient,
    as_bytes32,
    as_instance_id,
)
from metering._utils.reads import InvoiceAnchorRecord
from metering.chain import checksum
from metering.chain.evm import EvmTarget, choose_target, load_artifact
from metering.chain.sender import Call, SentTransaction, TransactionSender
from metering.contract import CustomerStatus, currency_from_bytes, currency_to_bytes
from metering.errors import ConfigError, MeteringError
from metering.provider.rules_file import RulesFile, load_rules_file
from metering.types import UINT64_MAX, Rules, rules_hash

__all__ = [
    "AGENT_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "DEFAULT_ADMIN_TRANSFER_DELAY",
    "RULES_MANAGER_ROLE",
    "AnchoredInvoice",
    "CustomerChange",
    "InstanceClosure",
    "InvoiceAnchorRecord",
    "Provider",
    "RoleChange",
    "RulesApplied",
]

_UINT40_MAX = 2**40 - 1
_UINT48_MAX = 2**48 - 1
_UINT256_MAX = 2**256 - 1
_ROLE_NAMES = {
    DEFAULT_ADMIN_ROLE: "DEFAULT_ADMIN_ROLE",
    RULES_MANAGER_ROLE: "RULES_MANAGER_ROLE",
    AGENT_ROLE: "AGENT_ROLE",
}


@dataclass(frozen=True)
class RulesApplied:
    """The rules of one instance type as set on chain. ``changed`` is false (and ``tx_hash`` ``None``) when the chain
    already held exactly these rules, so applying a file twice sends nothing the second time."""

    name: str
    timeframe: int
    instance_type: int
    rules_hash: bytes
    changed: bool
    tx_hash: str | None


@dataclass(frozen=True)
class CustomerChange:
    """A customer's status after an enroll or suspend; ``changed`` is false if it already had that status."""

    customer: ChecksumAddress
    status: CustomerStatus
    changed: bool
    tx_hash: str


@dataclass(frozen=True)
class InstanceClosure:
    """An instance the provider closed: billing stopped at ``stopped_at`` (its lease end when it had ``expired``)."""

    instance_id: bytes
    stopped_at: int
    expired: bool
    tx_hash: str


@dataclass(frozen=True)
class RoleChange:
    """Whether ``account`` holds ``role`` after a grant or revoke; ``changed`` is false if nothing had to change."""

    account: ChecksumAddress
    role: str
    holds: bool
    changed: bool
    tx_hash: str


@dataclass(frozen=True)
class AnchoredInvoice:
    """An invoice hash anchored (``revision`` 0) or corrected (``revision`` >= 1, ``previous_hash`` set) on chain."""

    customer: ChecksumAddress
    timeframe: int
    invoice_hash: bytes
    total: int
    revision: int
    previous_hash: bytes | None
    tx_hash: str
    block_number: int


#: The admin transfer delay a deployment gets unless told otherwise: 3 days, as OpenZeppelin's
#: ``AccessControlDefaultAdminRules`` suggests ("a few days"): the window in which the admin can cancel a transfer it
#: did not begin (adversary: whoever holds a copy of the admin key).
DEFAULT_ADMIN_TRANSFER_DELAY = 3 * 24 * 3600


class Provider(MeterClient):
    """The provider's operations on a deployed Meter; ``signer`` needs ``RULES_MANAGER_ROLE`` (and the admin role
    to grant or revoke roles). Pass ``signer=None`` for a read-only view."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: LocalAccount | None,
        *,
        sender: TransactionSender | None = None,
    ) -> None:
        super().__init__(w3, address, signer, sender=sender)
        #: The deployment transaction, when this provider deployed the contract.
        self.deployment: SentTransaction | None = None
        #: The EVM target of the build this provider deployed (None when it did not deploy).
        self.evm_target: EvmTarget | None = None

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        signer: LocalAccount,
        *,
        admin_transfer_delay: int = DEFAULT_ADMIN_TRANSFER_DELAY,
        sender: TransactionSender | None = None,
        evm_target: EvmTarget | str | None = None,
    ) -> Provider:
        """Deploys a Meter from the artifacts shipped in the package, with ``signer`` as admin, and grants ``signer``
        ``RULES_MANAGER_ROLE`` too, so one key can run a provider end to end.

        :param admin_transfer_delay: seconds a new admin must wait to accept a two-step admin transfer; by default
            :data:`DEFAULT_ADMIN_TRANSFER_DELAY` (3 days), so a stolen admin key cannot hand the contract over
            before the current admin sees the transfer begun and cancels it. 0 is accepted (tests, local chains).
        :param evm_target: the build to deploy ("paris", "shanghai", "cancun"); by default the newest the node runs
            (see :func:`metering.chain.evm.choose_target`, which also refuses a build the node is too old for).
        """
        if isinstance(admin_transfer_delay, bool) or not 0 <= admin_transfer_delay <= _UINT48_MAX:
            raise ConfigError(f"admin transfer delay must be 0..{_UINT48_MAX} seconds, got {admin_transfer_delay!r}")
        sender = sender or TransactionSender(w3, signer, error_decoder=meter_error_decoder())
        target = choose_target(w3, evm_target)
        init = bytes.fromhex(load_artifact(target)["bytecode"].removeprefix("0x")) + encode(
            ["address", "uint48"], [signer.address, admin_transfer_delay]
        )
        deployed = sender.transact(Call(to=None, data=init, label="deploy Meter"))
        if deployed.contract_address is None:
            raise MeteringError(f"deployment {deployed.tx_hash} created no contract")
        provider = cls(w3, deployed.contract_address, signer, sender=sender)
        provider.deployment = deployed
        provider.evm_target = target
        provider._grant(RULES_MANAGER_ROLE, signer.address)
        return provider

    # ------------------------------------------------------------------ timeframes and rules

    def create_timeframe(self, start: int, end: int, currency: str) -> int:
        """Creates the billing period ``[start, end)`` (block-timestamp seconds) priced in ``currency`` ("EUR");
        returns its id, as the ``TimeframeCreated`` event recorded it.

        ``start`` must be in the future and not before the previous timeframe's end (the contract checks both).
        """
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT40_MAX:
                raise ConfigError(f"timeframe {name} must be a timestamp in seconds, got {value!r}")
        if end <= start:
            raise ConfigError(f"timeframe end {end} must be after its start {start}")
        try:
            code = currency_to_bytes(currency)
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigError(str(exc)) from None
        sent = self._transact("createTimeframe", start, end, code)
        return int(self._event(sent, "TimeframeCreated")["timeframe"])

    def set_rules(self, timeframe: int, instance_type: int, rules: Rules) -> bytes:
        """Sets (or replaces, before the timeframe starts) the rules of ``instance_type`` in ``timeframe``; returns
        the rules hash from the ``RulesSet`` event, which equals :func:`metering.types.rules_hash`."""
        sent = self._transact("setRules", timeframe, instance_type, rules.as_tuple())
        return bytes(self._event(sent, "RulesSet")["rulesHash"])

    def apply_rules_file(self, rules_file: Path | RulesFile, *, skip_unchanged: bool = True) -> list[RulesApplied]:
        """Sets every type's rules from a rules file (see :mod:`metering.provider.rules_file`), in one pipelined burst.

        Types whose on-chain rules already hash the same are skipped when ``skip_unchanged``, so re-running after a
        partial failure only sends what is missing. A file priced in another currency than the timeframe's on
        chain is refused before anything is sent (:class:`~metering.errors.RulesFileError`).
        """
        parsed = rules_file if isinstance(rules_file, RulesFile) else load_rules_file(rules_file)
        parsed.check_currency(self.timeframe(parsed.timeframe).currency)
        results: dict[int, RulesApplied] = {}
        pending = []
        for entry in parsed.types:
            expected = rules_hash(parsed.timeframe, entry.instance_type, entry.rules)
            if skip_unchanged and self.rules_hash_on_chain(parsed.timeframe, entry.instance_type) == expected:
                results[entry.instance_type] = RulesApplied(
                    entry.name, parsed.timeframe, entry.instance_type, expected, changed=False, tx_hash=None
                )
            else:
                pending.append(entry)
        calls = [self._call("setRules", parsed.timeframe, e.instance_type, e.rules.as_tuple()) for e in pending]
        for entry, sent in zip(pending, self.sender.send_many(calls), strict=True):
            event = self._event(sent, "RulesSet")
            results[entry.instance_type] = RulesApplied(
                entry.name, parsed.timeframe, entry.instance_type, bytes(event["rulesHash"]), True, sent.tx_hash
            )
        return [results[e.instance_type] for e in parsed.types]

    # ------------------------------------------------------------------ customers

    def enroll_customer(self, customer: str) -> CustomerChange:
        """Enrolls ``customer`` (or reinstates a suspended one); a no-op transaction if already enrolled."""
        address = checksum(customer, what="customer")
        sent = self._transact("enrollCustomer", address)
        changed = self._has_event(sent, "CustomerEnrolled")
        return CustomerChange(address, CustomerStatus.ENROLLED, changed, sent.tx_hash)

    def set_default_customer_cap(self, cap: int, currency: str) -> str:
        """Sets the spending cap (minor units of ``currency``, 0: none) that customers enrolled from now on start
        with: it bounds what a leaked agent key can bill a passive customer per timeframe (one that never sets a
        cap nor restricts its agents). The customer may change it. Returns the transaction hash."""
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= UINT64_MAX:
            raise ConfigError(f"default cap must be 0..{UINT64_MAX} minor units, got {cap!r}")
        try:
            raw = currency_to_bytes(currency)
        except ValueError as exc:
            raise ConfigError(f"default cap currency {currency!r} is not an ISO 4217 code such as EUR: {exc}") from exc
        return self._transact("setDefaultCustomerCap", cap, raw).tx_hash

    def default_customer_cap(self) -> tuple[int, str]:
        """The cap new customers start with, and its currency (``(0, "")`` when none was ever set)."""
        cap, raw = self._view("defaultCustomerCap")
        return int(cap), currency_from_bytes(bytes(raw)) if any(bytes(raw)) else ""

    def suspend_customer(self, customer: str) -> CustomerChange:
        """Suspends ``customer``: new activations and renewals are denied; running leases run out."""
        address = checksum(customer, what="customer")
        sent = self._transact("suspendCustomer", address)
        changed = self._has_event(sent, "CustomerSuspended")
        return CustomerChange(address, CustomerStatus.SUSPENDED, changed, sent.tx_hash)

    def enroll_customers(self, customers: Sequence[str]) -> list[CustomerChange]:
        """Enrolls several customers in one pipelined burst (one transaction each, sent without waiting for the
        previous one to be mined); results in the given order."""
        addresses = [checksum(c, what="customer") for c in customers]
        sent = self.sender.send_many([self._call("enrollCustomer", a) for a in addresses])
        return [
            CustomerChange(a, CustomerStatus.ENROLLED, self._has_event(s, "CustomerEnrolled"), s.tx_hash)
            for a, s in zip(addresses, sent, strict=True)
        ]

    def suspend_customers(self, customers: Sequence[str]) -> list[CustomerChange]:
        """Suspends several customers in one pipelined burst; results in the given order."""
        addresses = [checksum(c, what="customer") for c in customers]
        sent = self.sender.send_many([self._call("suspendCustomer", a) for a in addresses])
        return [
            CustomerChange(a, CustomerStatus.SUSPENDED, self._has_event(s, "CustomerSuspended"), s.tx_hash)
            for a, s in zip(addresses, sent, strict=True)
        ]

    # ------------------------------------------------------------------ instances

    def close_instance(self, instance_id: bytes | str) -> InstanceClosure:
        """Stops an open instance on the provider's authority, for when its agent cannot (it died, or its key was
        lost): billing stops now, or at the lease end if that has passed. Recorded as ``InstanceClosedByProvider``
        (or ``LeaseExpired``), so the customer sees who stopped it."""
        raw = as_instance_id(instance_id)
        sent = self._transact("closeInstance", raw)
        for event in self.events(sent.logs):
            args = event["args"]
            if event["event"] == "InstanceClosedByProvider":
                return InstanceClosure(raw, int(args["stoppedAt"]), expired=False, tx_hash=sent.tx_hash)
            if event["event"] == "LeaseExpired":
                return InstanceClosure(raw, int(args["leaseEnd"]), expired=True, tx_hash=sent.tx_hash)
        raise MeteringError(f"transaction {sent.tx_hash} closed no instance")

    # ------------------------------------------------------------------ roles

    def grant_agent(self, agent: str) -> RoleChange:
        """Lets ``agent`` activate, renew and deactivate instances (``AGENT_ROLE``; needs the admin's key)."""
        return self._grant(AGENT_ROLE, checksum(agent, what="agent"))

    def revoke_agent(self, agent: str) -> RoleChange:
        return self._revoke(AGENT_ROLE, checksum(agent, what="agent"))

    def grant_rules_manager(self, account: str) -> RoleChange:
        """Lets ``account`` create timeframes, set rules, manage customers and anchor invoices."""
        return self._grant(RULES_MANAGER_ROLE, checksum(account))

    def revoke_rules_manager(self, account: str) -> RoleChange:
        return self._revoke(RULES_MANAGER_ROLE, checksum(account))

    def grant_agents(self, agents: Sequence[str]) -> list[RoleChange]:
        """Grants ``AGENT_ROLE`` to several agents in one pipelined burst; results in the given order."""
        return self.change_roles("grantRole", AGENT_ROLE, [checksum(a, what="agent") for a in agents])

    def revoke_agents(self, agents: Sequence[str]) -> list[RoleChange]:
        return self.change_roles("revokeRole", AGENT_ROLE, [checksum(a, what="agent") for a in agents])

    def change_roles(self, function: str, role: bytes, accounts: Sequence[str]) -> list[RoleChange]:
        """``grantRole`` or ``revokeRole`` of ``role`` for each of ``accounts``, pipelined (the admin's key)."""
        if function not in ("grantRole", "revokeRole"):
            raise ValueError(f"not a role change: {function}")
        addresses = [checksum(a) for a in accounts]
        granting = function == "grantRole"
        event = "RoleGranted" if granting else "RoleRevoked"
        sent = self.sender.send_many([self._call(function, role, a) for a in addresses])
        return [
            RoleChange(a, _ROLE_NAMES[role], granting, self._has_event(s, event), s.tx_hash)
            for a, s in zip(addresses, sent, strict=True)
        ]

    def _grant(self, role: bytes, account: ChecksumAddress) -> RoleChange:
        sent = self._transact("grantRole", role, account)
        return RoleChange(account, _ROLE_NAMES[role], True, self._has_event(sent, "RoleGranted"), sent.tx_hash)

    def _revoke(self, role: bytes, account: ChecksumAddress) -> RoleChange:
        sent = self._transact("revokeRole", role, account)
        return RoleChange(account, _ROLE_NAMES[role], False, self._has_event(sent, "RoleRevoked"), sent.tx_hash)

    # ------------------------------------------------------------------ invoices

    def anchor_invoice(self, customer: str, timeframe: int, invoice_hash: bytes | str, total: int) -> AnchoredInvoice:
        """Anchors the keccak-256 hash and total (minor units) of ``customer``'s invoice for an ended timeframe."""
        address, raw, amount = self._invoice_args(customer, invoice_hash, total)
        sent = self._transact("anchorInvoice", address, timeframe, raw, amount)
        event = self._event(sent, "InvoiceAnchored")
        return AnchoredInvoice(
            address, int(event["timeframe"]), bytes(event["invoiceHash"]), int(event["total"]), 0, None,
            sent.tx_hash, sent.block_number,
        )

    def correct_invoice(self, customer: str, timeframe: int, invoice_hash: bytes | str, total: int) -> AnchoredInvoice:
        """Supersedes the anchored invoice of (customer, timeframe); the previous hash stays visible in the event."""
        address, raw, amount = self._invoice_args(customer, invoice_hash, total)
        sent = self._transact("correctInvoice", address, timeframe, raw, amount)
        event = self._event(sent, "InvoiceCorrected")
        return AnchoredInvoice(
            address, int(event["timeframe"]), bytes(event["invoiceHash"]), int(event["total"]),
            int(event["revision"]), bytes(event["previousHash"]), sent.tx_hash, sent.block_number,
        )

    @staticmethod
    def _invoice_args(customer: str, invoice_hash: bytes | str, total: int) -> tuple[ChecksumAddress, bytes, int]:
        address = checksum(customer, what="customer")
        raw = as_bytes32(invoice_hash, what="invoice hash")
        if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= _UINT256_MAX:
            raise ConfigError(f"invoice total must be a non-negative integer (minor units), got {total!r}")
        return address, raw, total

    # ------------------------------------------------------------------ helpers

    def _event(self, sent: SentTransaction, name: str) -> Any:
        for event in self.events(sent.logs):
            if event["event"] == name:
                return event["args"]
        raise MeteringError(f"transaction {sent.tx_hash} emitted no {name} event: is {self.address} a Meter?")

    def _has_event(self, sent: SentTransaction, name: str) -> bool:
        return any(event["event"] == name for event in self.events(sent.logs))
