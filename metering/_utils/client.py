"""What :class:`~metering.provider.Provider` and :class:`~metering.agent.Agent` share: the contract, the sender,
event decoding of receipts, and typed read helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import EventData

from metering._utils.abi_errors import meter_error_decoder, revert_data_from_exception
from metering._utils.calldata import meter_call_encoder
from metering._utils.logdecode import meter_event_decoder
from metering._utils.rpc_retry import retry_transient
from metering.chain import chain_time, checksum, meter_contract
from metering.chain.sender import Call, SentTransaction, TransactionSender
from metering.contract import CustomerStatus, DenialReason, InstanceStatus, abi, currency_from_bytes
from metering.errors import ConfigError, ContractRevertError, SigningKeyError
from metering.types import Rules, Timeframe, Usage, split_instance_id

__all__ = [
    "AGENT_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "PRECOMPILED_CALLS",
    "RULES_MANAGER_ROLE",
    "CustomerAccount",
    "InstanceRecord",
    "MeterClient",
    "SeatRecord",
    "as_bytes32",
    "as_instance_id",
    "canonical_type",
    "chunks",
]

_T = TypeVar("_T")

DEFAULT_ADMIN_ROLE = b"\0" * 32
RULES_MANAGER_ROLE = keccak(text="RULES_MANAGER_ROLE")
AGENT_ROLE = keccak(text="AGENT_ROLE")

#: The agents' hot calls, encoded with precomputed selectors (:mod:`metering._utils.calldata`).
PRECOMPILED_CALLS = frozenset({"requestActivation", "requestActivations", "renewLease", "deactivate", "expireLeases"})


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


def canonical_type(param: dict[str, Any]) -> str:
    """A parameter's type as it appears in a signature: tuples spelled out, ``(uint48,uint24)[]``."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


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


class MeterClient:
    """A Meter contract plus a sender for one signing account (``signer=None`` gives a read-only client)."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: LocalAccount | None,
        *,
        sender: TransactionSender | None = None,
    ) -> None:
        self.w3 = w3
        self.contract: Contract = meter_contract(w3, address)
        self.address: ChecksumAddress = self.contract.address
        if sender is None and signer is not None:
            sender = TransactionSender(w3, signer, error_decoder=meter_error_decoder())
        self._sender = sender
        self._event_names: dict[bytes, str] = {}
        for item in abi():
            if item.get("type") == "event":
                types = ",".join(canonical_type(i) for i in item.get("inputs", []))
                self._event_names[keccak(text=f"{item.get('name')}({types})")] = str(item.get("name"))

    # ------------------------------------------------------------------ sending

    @property
    def sender(self) -> TransactionSender:
        if self._sender is None:
            raise SigningKeyError("this client is read-only: give it a signing key (keystore or METERING_PRIVATE_KEY)")
        return self._sender

    def _call(self, function: str, *args: Any, min_gas: int = 0, gas: int | None = None) -> Call:
        """The call of ``function(*args)``; ``gas`` is a known limit (no estimate), ``min_gas`` a floor for one.

        The agents' hot calls (:data:`PRECOMPILED_CALLS`, given canonical values) are encoded with precomputed
        selectors; the others through web3, which also normalises loose input."""
        if function in PRECOMPILED_CALLS:
            data = meter_call_encoder().encode(function, args)
        else:
            data = bytes.fromhex(self.contract.encode_abi(function, args=list(args))[2:])
        return Call(to=self.address, data=data, gas=gas, min_gas=min_gas, label=function)

    def _transact(self, function: str, *args: Any) -> SentTransaction:
        return self.sender.transact(self._call(function, *args))

    def events(self, logs: Iterable[Mapping[str, Any]]) -> list[EventData]:
        """The logs this contract emitted, decoded with its ABI, in log order; in web3's ``EventData`` shape.

        Logs may be raw (as in :attr:`SentTransaction.logs`) or formatted by web3 (``w3.eth.get_logs``). Decoding
        goes through the precompiled decoder of :mod:`metering._utils.logdecode`, not web3's ``process_log``.
        """
        decoder = meter_event_decoder()
        address = self.address.lower()
        decoded: list[EventData] = []
        for entry in logs:
            if str(entry.get("address", "")).lower() != address:
                continue
            event = decoder.decode(entry)
            if event is None:
                continue
            decoded.append(EventData(
                event=event.name, args=event.args, address=self.address,
                logIndex=_int(entry.get("logIndex")), transactionIndex=_int(entry.get("transactionIndex")),
                transactionHash=HexBytes(entry.get("transactionHash") or b""),
                blockHash=HexBytes(entry.get("blockHash") or b""), blockNumber=_int(entry.get("blockNumber")),
            ))
        return decoded

    def event_topic(self, name: str) -> bytes:
        """The first topic (signature hash) of the contract's event ``name``."""
        for topic, event_name in self._event_names.items():
            if event_name == name:
                return topic
        raise KeyError(f"the Meter ABI has no {name} event")

    def _read(self, request: Callable[[], _T], what: str) -> _T:
        """``request()`` retried on transient failures like the sender's requests (its attempts and backoff), then
        :class:`RpcUnavailableError`: a node that drops an answer never surfaces as a raw ``requests`` error."""
        attempts, backoff = (self._sender.attempts, self._sender.backoff) if self._sender else (5, 0.25)
        return retry_transient(request, what, attempts=attempts, backoff=backoff)

    def _view(self, function: str, *args: Any) -> Any:
        """A view call, retried like a send on transient failures (then :class:`RpcUnavailableError`); a revert
        becomes the decoded :class:`ContractRevertError`."""
        call = getattr(self.contract.functions, function)(*args).call
        try:
            return self._read(call, f"eth_call {function}")
        except ContractLogicError as exc:
            decoded = meter_error_decoder().decode(revert_data_from_exception(exc))
            if decoded is not None:
                raise decoded from exc
            raise ContractRevertError("unknown", {}, message=f"{function} reverted: {exc}") from exc

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock every decision of the contract uses."""
        return self._read(lambda: chain_time(self.w3), "the latest block (eth_getBlockByNumber)")

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

    def usage(self, customer: str, timeframe: int, instance_type: int) -> Usage:
        """The on-chain counters of (customer, timeframe, instance type): what the next decision reads."""
        activations, overage, leased, running = self._view(
            "usage", checksum(customer, what="customer"), timeframe, instance_type
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
            customer=Web3.to_checksum_address(customer),
            lease_end=int(lease_end),
            timeframe=int(timeframe),
            instance_type=int(instance_type),
            status=InstanceStatus(int(status)),
            reason=DenialReason(int(reason)),
        )

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self._view("hasRole", role, checksum(account)))

    def max_batch(self) -> int:
        return int(self._view("MAX_BATCH"))


def _int(value: Any) -> int:
    """A log field as an int: JSON-RPC gives hex text, web3 gives ints; missing (pending) is 0."""
    if value is None:
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
