"""The Meter's typed reads, written once for every way of calling a view: web3's :class:`MeterClient` (the
library's Provider, Customer and Agent) and the CLI's lean reader (:class:`metering.chain.lean.LeanMeter`, no web3).

Why: a read command must answer without importing web3 (issue 20: its import alone is most of a second), yet the
parsing of what a view returns (counters into :class:`Usage`, a rules tuple into :class:`Rules`, an instance record)
must not be written twice. So the parsing lives here, on one seam: a class implements :meth:`MeterReads._view`
(``function name, arguments -> the decoded outputs``, one value for a one-output function, else a tuple, as web3
returns them; a revert raised as the decoded :class:`ContractRevertError`) and :meth:`MeterReads.chain_time`, and
inherits every typed helper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from metering.chain import checksum
from metering.contract import CustomerStatus, DenialReason, InstanceStatus, currency_from_bytes
from metering.errors import ConfigError
from metering.types import Rules, Timeframe, Usage, split_instance_id

__all__ = [
    "AGENT_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "ROLES",
    "RULES_MANAGER_ROLE",
    "AdminState",
    "CustomerAccount",
    "InstanceRecord",
    "InvoiceAnchorRecord",
    "MeterReads",
    "SeatRecord",
    "as_bytes32",
    "as_instance_id",
]

DEFAULT_ADMIN_ROLE = b"\0" * 32
RULES_MANAGER_ROLE = keccak(text="RULES_MANAGER_ROLE")
AGENT_ROLE = keccak(text="AGENT_ROLE")

#: The Meter's roles by name.
ROLES: dict[str, bytes] = {
    "DEFAULT_ADMIN_ROLE": DEFAULT_ADMIN_ROLE,
    "RULES_MANAGER_ROLE": RULES_MANAGER_ROLE,
    "AGENT_ROLE": AGENT_ROLE,
}
_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class AdminState:
    """The admin, the delay a new admin waits, and a transfer under way (``pending_admin`` None when there is none;
    it may accept from ``accept_after``, unix seconds)."""

    admin: ChecksumAddress | None
    delay: int
    pending_admin: ChecksumAddress | None
    accept_after: int | None


@dataclass(frozen=True)
class InstanceRecord:
    """The contract's record of an instance id (``IMeteringTypes.Instance``).

    ``lease_end`` is the lease expiry while the instance is open, and the second billing stopped once it is closed.
    An id whose seat has moved on to a later generation reads as ``UNKNOWN`` (its history is in the events).
    ``agent`` is the agent that holds it (part of the id).
    """

    instance_id: bytes
    agent: ChecksumAddress
    customer: ChecksumAddress
    lease_end: int
    timeframe: int
    instance_type: int
    status: InstanceStatus
    reason: DenialReason


@dataclass(frozen=True)
class InvoiceAnchorRecord:
    """The invoice anchored on chain for (customer, timeframe), as the contract stores it."""

    customer: ChecksumAddress
    timeframe: int
    invoice_hash: bytes
    total: int
    revision: int


@dataclass(frozen=True)
class SeatRecord:
    """One of an agent's seats: its current generation and that instance's status and lease end."""

    seat: int
    generation: int
    status: InstanceStatus
    lease_end: int


@dataclass(frozen=True)
class CustomerAccount:
    """What a customer chose (agent restriction, spending cap in minor units of ``cap_currency``, 0 = none) and what
    it committed in its latest timeframe (``spent``, micro-units of that timeframe's currency). ``revoked_any``: it
    revoked an agent once (decisions then read its approvals even when it is not restricted)."""

    customer: ChecksumAddress
    status: CustomerStatus
    restricted: bool
    spending_cap: int
    spent_timeframe: int
    spent: int
    cap_currency: str = ""
    revoked_any: bool = False


def as_instance_id(value: bytes | str) -> bytes:
    """A v2 instance id (``agent | 0000 | request id``) from bytes or hex, or :class:`ConfigError`."""
    raw = as_bytes32(value, what="instance id")
    try:
        split_instance_id(raw)
    except ValueError:
        raise ConfigError(f"not an instance id of this contract: 0x{raw.hex()} (bytes 20-23 must be zero)") from None
    return raw


def as_bytes32(value: bytes | str, *, what: str) -> bytes:
    """A 32-byte id from bytes or hex text, or :class:`ConfigError` (a ``ValueError``) naming ``what`` it was."""
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ConfigError(f"{what} must be 32 bytes of hex, got {value!r}") from None
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ConfigError(f"{what} must be 32 bytes, got {size}")
    return bytes(value)


class MeterReads:
    """The typed view calls of a Meter, on top of :meth:`_view` (see the module)."""

    def _view(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        """The decoded outputs of the view ``function(*args)`` at ``block`` (a number, or a tag); a revert as the
        decoded :class:`ContractRevertError`, a node that does not answer as :class:`RpcUnavailableError`."""
        raise NotImplementedError

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock every decision of the contract uses."""
        raise NotImplementedError

    def timeframe_count(self) -> int:
        return int(self._view("timeframeCount"))

    def timeframe(self, timeframe: int) -> Timeframe:
        """Timeframe ``timeframe``; :class:`ContractRevertError` ``MeteringUnknownTimeframe`` if there is none."""
        start, end, currency = self._view("timeframe", timeframe)
        return Timeframe(id=timeframe, start=int(start), end=int(end), currency=currency_from_bytes(bytes(currency)))

    def active_timeframe(self) -> int:
        """The id of the timeframe in force at the latest block, or 0."""
        return int(self._view("activeTimeframe"))

    def rules(self, timeframe: int, instance_type: int) -> Rules | None:
        """The rules of (``timeframe``, ``instance_type``), or ``None`` if they were never set."""
        values, configured = self._view("rules", timeframe, instance_type)
        return Rules.from_tuple(values) if configured else None

    def rules_hash_on_chain(self, timeframe: int, instance_type: int) -> bytes | None:
        raw = bytes(self._view("rulesHash", timeframe, instance_type))
        return None if raw == b"\0" * 32 else raw

    def customer_status(self, customer: str) -> CustomerStatus:
        return CustomerStatus(int(self._view("customerStatus", checksum(customer, what="customer"))))

    def usage(self, customer: str, timeframe: int, instance_type: int, *, block: int | str = "latest") -> Usage:
        """The on-chain counters of (customer, timeframe, instance type) at ``block``: what the next decision reads
        (an auditor reads them as of an invoice's last block)."""
        activations, overage, leased, running = self._view(
            "usage", checksum(customer, what="customer"), timeframe, instance_type, block=block
        )
        return Usage(int(activations), int(overage), int(leased), int(running))

    def customer_account(self, customer: str) -> CustomerAccount:
        """A customer's status, agent restriction, spending cap and what it committed in its latest timeframe."""
        address = checksum(customer, what="customer")
        status, restricted, cap, spent_timeframe, spent, cap_currency, revoked_any = self._view(
            "customerAccount", address
        )
        currency = currency_from_bytes(bytes(cap_currency)) if any(bytes(cap_currency)) else ""
        return CustomerAccount(
            address, CustomerStatus(int(status)), bool(restricted), int(cap), int(spent_timeframe), int(spent),
            currency, bool(revoked_any),
        )

    def cap_timeframe_currency(self) -> str | None:
        """The currency of the timeframe a spending cap set now would bound: the active one, else the next to
        start; ``None`` when every timeframe has ended (the contract then accepts any currency)."""
        active = self.active_timeframe()
        if active:
            return self.timeframe(active).currency
        now = self.chain_time()
        upcoming = None
        # Timeframes are created in order and never overlap: walk back from the newest to the first not ended.
        for timeframe in range(self.timeframe_count(), 0, -1):
            frame = self.timeframe(timeframe)
            if frame.end <= now:
                break
            upcoming = frame.currency
        return upcoming

    def spent(self, customer: str, timeframe: int) -> int:
        """What ``customer`` committed in ``timeframe``, in micro-units (see ``IMeter.setSpendingCap``)."""
        return int(self._view("spent", checksum(customer, what="customer"), timeframe))

    def may_bill(self, customer: str, agent: str) -> bool:
        """Whether ``agent`` may activate for ``customer`` now (role, enrollment and the customer's approvals)."""
        return bool(self._view("mayBill", checksum(customer, what="customer"), checksum(agent, what="agent")))

    def agent_approved(self, customer: str, agent: str) -> bool:
        return bool(self._view("agentApproved", checksum(customer, what="customer"), checksum(agent, what="agent")))

    def seat(self, agent: str, seat: int) -> SeatRecord:
        """One of ``agent``'s seats: what an agent reads to pick its next request id."""
        generation, status, lease_end = self._view("seat", checksum(agent, what="agent"), seat)
        return SeatRecord(seat, int(generation), InstanceStatus(int(status)), int(lease_end))

    def instance(self, instance_id: bytes | str) -> InstanceRecord:
        """The record of an instance id; status ``UNKNOWN`` if the contract never saw it (or its seat moved on)."""
        raw = as_instance_id(instance_id)
        customer, lease_end, timeframe, instance_type, status, reason, _seat = self._view("instance", raw)
        return InstanceRecord(
            instance_id=raw,
            agent=split_instance_id(raw)[0],
            customer=to_checksum_address(customer),
            lease_end=int(lease_end),
            timeframe=int(timeframe),
            instance_type=int(instance_type),
            status=InstanceStatus(int(status)),
            reason=DenialReason(int(reason)),
        )

    def invoice_anchor(self, customer: str, timeframe: int) -> InvoiceAnchorRecord | None:
        """The invoice anchored for (customer, timeframe), or ``None``."""
        address = checksum(customer, what="customer")
        invoice_hash, total, revision = self._view("invoiceAnchor", address, timeframe)
        if bytes(invoice_hash) == b"\0" * 32:
            return None
        return InvoiceAnchorRecord(address, timeframe, bytes(invoice_hash), int(total), int(revision))

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self._view("hasRole", role, checksum(account)))

    def max_batch(self) -> int:
        return int(self._view("MAX_BATCH"))

    def admin_state(self) -> AdminState:
        admin = to_checksum_address(self._view("defaultAdmin"))
        pending, schedule = self._view("pendingDefaultAdmin")
        has_pending = to_checksum_address(pending) != to_checksum_address(_ZERO)
        return AdminState(
            admin=None if admin == to_checksum_address(_ZERO) else admin,
            delay=int(self._view("defaultAdminDelay")),
            pending_admin=to_checksum_address(pending) if has_pending else None,
            accept_after=int(schedule) if has_pending else None,
        )

    def roles_of(self, account: str) -> list[str]:
        """The names of the roles ``account`` holds."""
        address = checksum(account)
        return [name for name, role in ROLES.items() if self.has_role(role, address)]
