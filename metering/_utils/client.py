"""What :class:`~metering.provider.Provider` and :class:`~metering.agent.Agent` share: the contract, the sender,
event decoding of receipts, and typed read helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
from metering.chain import chain_time, checksum, meter_contract
from metering.contract import CustomerStatus, DenialReason, InstanceStatus, LimitMode, abi, currency_from_bytes
from metering.errors import ConfigError, ContractRevertError, SigningKeyError
from metering.sender import Call, SentTransaction, TransactionSender
from metering.types import Rules, Timeframe, Usage

__all__ = [
    "AGENT_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "PRECOMPILED_CALLS",
    "RULES_MANAGER_ROLE",
    "InstanceRecord",
    "MeterClient",
    "as_bytes32",
    "chunks",
    "successor_of",
]

DEFAULT_ADMIN_ROLE = b"\0" * 32
RULES_MANAGER_ROLE = keccak(text="RULES_MANAGER_ROLE")
AGENT_ROLE = keccak(text="AGENT_ROLE")

#: The agents' hot calls, encoded with precomputed selectors (:mod:`metering._utils.calldata`).
PRECOMPILED_CALLS = frozenset({"requestActivation", "requestActivations", "renewLease", "deactivate", "expireLeases"})


@dataclass(frozen=True)
class InstanceRecord:
    """The contract's record of a request id (``IMeteringTypes.Instance``).

    ``lease_end`` is the lease expiry while the instance is open, and the second billing stopped once it is closed.
    """

    instance_id: bytes
    customer: ChecksumAddress
    lease_end: int
    timeframe: int
    instance_type: int
    status: InstanceStatus
    reason: DenialReason


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
                types = ",".join(str(i["type"]) for i in item.get("inputs", []))
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

    def _view(self, function: str, *args: Any) -> Any:
        """A view call; a revert becomes the decoded :class:`ContractRevertError`."""
        try:
            return getattr(self.contract.functions, function)(*args).call()
        except ContractLogicError as exc:
            decoded = meter_error_decoder().decode(revert_data_from_exception(exc))
            if decoded is not None:
                raise decoded from exc
            raise ContractRevertError("unknown", {}, message=f"{function} reverted: {exc}") from exc

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock every decision of the contract uses."""
        return chain_time(self.w3)

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
        if not configured:
            return None
        per_activation, per_second, activations, seconds, concurrent, max_activations, mode = (int(v) for v in values)
        return Rules(
            price_per_activation=per_activation,
            price_per_second=per_second,
            included_activations=activations,
            included_seconds=seconds,
            max_concurrent=concurrent,
            max_activations=max_activations,
            mode=LimitMode(mode),
        )

    def rules_hash_on_chain(self, timeframe: int, instance_type: int) -> bytes | None:
        raw = bytes(self._view("rulesHash", timeframe, instance_type))
        return None if raw == b"\0" * 32 else raw

    def customer_status(self, customer: str) -> CustomerStatus:
        return CustomerStatus(int(self._view("customerStatus", checksum(customer, what="customer"))))

    def usage(self, customer: str, timeframe: int, instance_type: int) -> Usage:
        """The on-chain counters of (customer, timeframe, instance type): what the next decision reads."""
        active, activations, overage, leased = self._view(
            "usage", checksum(customer, what="customer"), timeframe, instance_type
        )
        return Usage(int(active), int(activations), int(overage), int(leased))

    def instance(self, instance_id: bytes | str) -> InstanceRecord:
        """The record of a request id; status ``UNKNOWN`` if the contract never saw it."""
        raw = as_bytes32(instance_id, what="instance id")
        customer, lease_end, timeframe, instance_type, status, reason = self._view("instance", raw)
        return InstanceRecord(
            instance_id=raw,
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


def successor_of(instance_id: bytes) -> bytes:
    """``keccak256(abi.encode(instanceId))``: the id a lease continued into the next timeframe runs on."""
    return keccak(instance_id)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
