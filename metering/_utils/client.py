"""What :class:`~metering.provider.Provider` and :class:`~metering.agent.Agent` share: the contract, the sender,
event decoding of receipts, and typed read helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from metering._utils.logdecode import DecodedEvent, meter_event_decoder
from metering._utils.reads import (
    AGENT_ROLE,
    DEFAULT_ADMIN_ROLE,
    RULES_MANAGER_ROLE,
    CustomerAccount,
    InstanceRecord,
    MeterReads,
    SeatRecord,
    as_bytes32,
    as_instance_id,
)
from metering._utils.rpc_retry import retry_transient
from metering.chain import chain_time, meter_contract
from metering.chain.sender import Call, SentTransaction, TransactionSender
from metering.contract import abi
from metering.errors import ContractRevertError, SigningKeyError

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


#: The agents' hot calls, encoded with precomputed selectors (:mod:`metering._utils.calldata`).
PRECOMPILED_CALLS = frozenset({"requestActivation", "requestActivations", "renewLease", "deactivate", "expireLeases"})


def canonical_type(param: dict[str, Any]) -> str:
    """A parameter's type as it appears in a signature: tuples spelled out, ``(uint48,uint24)[]``."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


class MeterClient(MeterReads):
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
        return [
            EventData(
                event=event.name, args=event.args, address=self.address,
                logIndex=_int(entry.get("logIndex")), transactionIndex=_int(entry.get("transactionIndex")),
                transactionHash=HexBytes(entry.get("transactionHash") or b""),
                blockHash=HexBytes(entry.get("blockHash") or b""), blockNumber=_int(entry.get("blockNumber")),
            )
            for entry, event in self.decoded(logs)
        ]

    def decoded(self, logs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], DecodedEvent]]:
        """Each log this contract emitted with its event, as the precompiled decoder gives it, in log order."""
        decoder = meter_event_decoder()
        address = self.address.lower()
        for entry in logs:
            if str(entry.get("address", "")).lower() == address:
                event = decoder.decode(entry)
                if event is not None:
                    yield entry, event

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

    def _view(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        """A view call at ``block``, retried like a send on transient failures (then :class:`RpcUnavailableError`); a
        revert becomes the decoded :class:`ContractRevertError`."""
        call = getattr(self.contract.functions, function)(*args).call
        try:
            return self._read(lambda: call(block_identifier=block), f"eth_call {function}")
        except ContractLogicError as exc:
            decoded = meter_error_decoder().decode(revert_data_from_exception(exc))
            if decoded is not None:
                raise decoded from exc
            raise ContractRevertError("unknown", {}, message=f"{function} reverted: {exc}") from exc

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock every decision of the contract uses."""
        return self._read(lambda: chain_time(self.w3), "the latest block (eth_getBlockByNumber)")


def _int(value: Any) -> int:
    """A log field as an int: JSON-RPC gives hex text, web3 gives ints; missing (pending) is 0."""
    if value is None:
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
