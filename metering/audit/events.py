"""The Meter contract's events as immutable Python values, decoded straight from raw logs.

Invoices are a pure function of these events, so decoding is the one place where chain data becomes Python:
integers stay integers, addresses are checksummed, ids and hashes are ``bytes``, and codes become the enums of
:mod:`metering.contract`. The decoder picks the event by ``topics[0]`` and calls ``eth_abi`` once for the indexed
and once for the data fields, with selectors precomputed from the shipped ABI: several times faster than web3's
per-event ``process_log`` when backfilling a month of logs. Logs of other contracts and topics this module does not
know (e.g. the access-control events) are skipped, not errors.

Both raw JSON-RPC logs (hex strings) and web3's formatted ``LogReceipt`` (``HexBytes`` and ints) are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, ClassVar

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from metering.contract import DenialReason, InstanceStatus, LimitMode, abi, currency_from_bytes
from metering.types import Rules, Timeframe, split_instance_id

__all__ = [
    "EVENT_TYPES",
    "ActivationDenied",
    "ActivationGranted",
    "ActivationReplayed",
    "AgentApproved",
    "AgentRestrictionSet",
    "AgentRevoked",
    "CustomerEnrolled",
    "CustomerSuspended",
    "DefaultCustomerCapSet",
    "InstanceClosedByProvider",
    "InstanceDeactivated",
    "InstanceStoppedByCustomer",
    "InvoiceAnchored",
    "InvoiceCorrected",
    "LeaseContinued",
    "LeaseExpired",
    "LeaseRenewalDenied",
    "LeaseRenewed",
    "LogEvent",
    "MeterEvent",
    "RulesSet",
    "SpendingCapSet",
    "TimeframeCreated",
    "decode_log",
    "decode_logs",
    "event_to_dict",
    "topic0",
]


@dataclass(frozen=True)
class LogEvent:
    """Where an event was emitted: what an auditor needs to find it again (block, transaction, log index)."""

    name: ClassVar[str] = ""

    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int

    @property
    def position(self) -> tuple[int, int]:
        """``(block_number, log_index)``: the order in which the chain applied the events."""
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class TimeframeCreated(LogEvent):
    """The billing period ``[start, end)`` priced in ``currency`` was created."""

    name: ClassVar[str] = "TimeframeCreated"

    timeframe: int
    start: int
    end: int
    currency: str

    def as_timeframe(self) -> Timeframe:
        return Timeframe(id=self.timeframe, start=self.start, end=self.end, currency=self.currency)


@dataclass(frozen=True)
class RulesSet(LogEvent):
    """The rules of (timeframe, instance type) were set or replaced; ``rules_hash`` is the contract's hash."""

    name: ClassVar[str] = "RulesSet"

    timeframe: int
    instance_type: int
    rules_hash: bytes
    rules: Rules


@dataclass(frozen=True)
class CustomerEnrolled(LogEvent):
    name: ClassVar[str] = "CustomerEnrolled"

    customer: str


@dataclass(frozen=True)
class CustomerSuspended(LogEvent):
    name: ClassVar[str] = "CustomerSuspended"

    customer: str


@dataclass(frozen=True)
class AgentApproved(LogEvent):
    """The customer approved ``agent`` to bill it (and so accepts only the agents it approved)."""

    name: ClassVar[str] = "AgentApproved"

    customer: str
    agent: str


@dataclass(frozen=True)
class AgentRevoked(LogEvent):
    """The customer revoked ``agent``: it may no longer activate or renew for it."""

    name: ClassVar[str] = "AgentRevoked"

    customer: str
    agent: str


@dataclass(frozen=True)
class AgentRestrictionSet(LogEvent):
    """The customer accepts only its approved agents (``restricted``) or every provider agent."""

    name: ClassVar[str] = "AgentRestrictionSet"

    customer: str
    restricted: bool


@dataclass(frozen=True)
class SpendingCapSet(LogEvent):
    """The most the customer commits per timeframe, in minor units of ``currency`` (0: no cap): set by the
    customer, or the provider's default cap at its enrollment (contract v3)."""

    name: ClassVar[str] = "SpendingCapSet"

    customer: str
    cap: int
    currency: str


@dataclass(frozen=True)
class DefaultCustomerCapSet(LogEvent):
    """The cap every customer enrolled from then on starts with, in minor units of ``currency`` (0: none)."""

    name: ClassVar[str] = "DefaultCustomerCapSet"

    cap: int
    currency: str


class _HeldByAgent:
    """Events of one instance: its id names the agent that requested (and alone may renew or stop) it."""

    instance_id: bytes

    @property
    def agent(self) -> str:
        """The checksummed address of the agent that holds the instance (from its namespaced id)."""
        return split_instance_id(self.instance_id)[0]


@dataclass(frozen=True)
class ActivationGranted(_HeldByAgent, LogEvent):
    """An instance may run from ``started_at`` until ``lease_end``; ``overage`` marks a grant beyond a soft limit."""

    name: ClassVar[str] = "ActivationGranted"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    started_at: int
    lease_end: int
    overage: bool


@dataclass(frozen=True)
class ActivationDenied(_HeldByAgent, LogEvent):
    """A request was denied; it counts nothing."""

    name: ClassVar[str] = "ActivationDenied"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    reason: DenialReason


@dataclass(frozen=True)
class ActivationReplayed(_HeldByAgent, LogEvent):
    """A request id was submitted again; the first decision stands and nothing is counted."""

    name: ClassVar[str] = "ActivationReplayed"

    instance_id: bytes
    customer: str
    status: InstanceStatus
    reason: DenialReason


@dataclass(frozen=True)
class LeaseContinued(_HeldByAgent, LogEvent):
    """A lease that ran to its timeframe's end continues in ``timeframe`` (the next one), billed from its start
    ``started_at`` to ``lease_end`` under that timeframe's rules. Not an activation: it is priced on its own."""

    name: ClassVar[str] = "LeaseContinued"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    started_at: int
    lease_end: int
    overage: bool


@dataclass(frozen=True)
class LeaseRenewed(_HeldByAgent, LogEvent):
    """A running instance's lease now ends at ``lease_end``."""

    name: ClassVar[str] = "LeaseRenewed"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    lease_end: int


@dataclass(frozen=True)
class LeaseRenewalDenied(_HeldByAgent, LogEvent):
    """A renewal (or a continuation into ``timeframe``) was refused; the lease keeps its expiry."""

    name: ClassVar[str] = "LeaseRenewalDenied"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    reason: DenialReason


@dataclass(frozen=True)
class InstanceDeactivated(_HeldByAgent, LogEvent):
    """An agent stopped a running instance at ``stopped_at``, before its lease ran out: billing stops there."""

    name: ClassVar[str] = "InstanceDeactivated"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    stopped_at: int


@dataclass(frozen=True)
class InstanceClosedByProvider(_HeldByAgent, LogEvent):
    """The provider (``operator``) stopped a running instance its agent could not; billing stops at ``stopped_at``."""

    name: ClassVar[str] = "InstanceClosedByProvider"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    stopped_at: int
    operator: str


@dataclass(frozen=True)
class InstanceStoppedByCustomer(_HeldByAgent, LogEvent):
    """The customer stopped a running instance billed to it (e.g. of an agent it revoked); billing stops at
    ``stopped_at``, like a deactivation."""

    name: ClassVar[str] = "InstanceStoppedByCustomer"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    stopped_at: int


@dataclass(frozen=True)
class LeaseExpired(_HeldByAgent, LogEvent):
    """An instance whose lease ran out was closed; billing stopped at ``lease_end``, not when it was closed."""

    name: ClassVar[str] = "LeaseExpired"

    instance_id: bytes
    customer: str
    instance_type: int
    timeframe: int
    lease_end: int


@dataclass(frozen=True)
class InvoiceAnchored(LogEvent):
    name: ClassVar[str] = "InvoiceAnchored"

    customer: str
    timeframe: int
    invoice_hash: bytes
    total: int


@dataclass(frozen=True)
class InvoiceCorrected(LogEvent):
    name: ClassVar[str] = "InvoiceCorrected"

    customer: str
    timeframe: int
    invoice_hash: bytes
    previous_hash: bytes
    total: int
    revision: int


MeterEvent = (
    TimeframeCreated
    | RulesSet
    | CustomerEnrolled
    | CustomerSuspended
    | AgentApproved
    | AgentRevoked
    | AgentRestrictionSet
    | SpendingCapSet
    | DefaultCustomerCapSet
    | ActivationGranted
    | ActivationDenied
    | ActivationReplayed
    | LeaseContinued
    | LeaseRenewed
    | LeaseRenewalDenied
    | InstanceDeactivated
    | InstanceClosedByProvider
    | InstanceStoppedByCustomer
    | LeaseExpired
    | InvoiceAnchored
    | InvoiceCorrected
)

#: Every decoded event class by its Solidity event name.
EVENT_TYPES: Mapping[str, type[MeterEvent]] = {
    cls.name: cls
    for cls in (
        TimeframeCreated,
        RulesSet,
        CustomerEnrolled,
        CustomerSuspended,
        AgentApproved,
        AgentRevoked,
        AgentRestrictionSet,
        SpendingCapSet,
        DefaultCustomerCapSet,
        ActivationGranted,
        ActivationDenied,
        ActivationReplayed,
        LeaseContinued,
        LeaseRenewed,
        LeaseRenewalDenied,
        InstanceDeactivated,
        InstanceClosedByProvider,
        InstanceStoppedByCustomer,
        LeaseExpired,
        InvoiceAnchored,
        InvoiceCorrected,
    )
}

#: The fields of :class:`~metering.types.Rules`, as :func:`event_to_dict` flattens a ``RulesSet``.
_RULE_FIELDS = tuple(f.name for f in fields(Rules))

_ENUMS: Mapping[str, Callable[[int], Any]] = {
    "enum IMeteringTypes.DenialReason": DenialReason,
    "enum IMeteringTypes.InstanceStatus": InstanceStatus,
    "enum IMeteringTypes.LimitMode": LimitMode,
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@cache
def _checksum(raw: str) -> str:
    # Few distinct customers, many events: keccak per address once, not per log.
    return to_checksum_address(raw)


def _rules(value: Any) -> Rules:
    return Rules.from_tuple(value)


def _converter(param: Mapping[str, Any]) -> Callable[[Any], Any]:
    """How an ``eth_abi`` value of this ABI parameter becomes the Python value the dataclasses hold."""
    internal = str(param.get("internalType", ""))
    kind = str(param["type"])
    if internal == "struct IMeteringTypes.Rules":
        return _rules
    if internal in _ENUMS:
        return _ENUMS[internal]
    if kind == "address":
        return _checksum
    if kind == "bytes8":
        return currency_from_bytes
    if kind.startswith("bytes"):
        return bytes
    return lambda value: value


@dataclass(frozen=True)
class _Decoder:
    """What is precomputed per event: its class, the ABI types of topics and data, and field converters."""

    cls: type[MeterEvent]
    topic_types: tuple[str, ...]
    topic_fields: tuple[tuple[str, Callable[[Any], Any]], ...]
    data_types: tuple[str, ...]
    data_fields: tuple[tuple[str, Callable[[Any], Any]], ...]


def _abi_type(param: Mapping[str, Any]) -> str:
    """The canonical ABI type of a parameter: a struct is the tuple of its components' types."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _signature(entry: Mapping[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(p) for p in entry['inputs'])})"


@cache
def _decoders() -> dict[bytes, _Decoder]:
    table: dict[bytes, _Decoder] = {}
    for entry in abi():
        if entry.get("type") != "event" or entry["name"] not in EVENT_TYPES:
            continue
        indexed = [p for p in entry["inputs"] if p["indexed"]]
        plain = [p for p in entry["inputs"] if not p["indexed"]]
        table[keccak(text=_signature(entry))] = _Decoder(
            cls=EVENT_TYPES[entry["name"]],
            topic_types=tuple(_abi_type(p) for p in indexed),
            topic_fields=tuple((_snake(p["name"]), _converter(p)) for p in indexed),
            data_types=tuple(_abi_type(p) for p in plain),
            data_fields=tuple((_snake(p["name"]), _converter(p)) for p in plain),
        )
    return table


def topic0(name: str) -> bytes:
    """The ``topics[0]`` selector of the Meter event ``name`` (e.g. ``"ActivationGranted"``)."""
    for selector, decoder in _decoders().items():
        if decoder.cls.name == name:
            return selector
    raise KeyError(f"the Meter contract has no event named {name!r}")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    return bytes(value)


def _as_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16)
    return int(value)


def decode_log(log: Mapping[str, Any]) -> MeterEvent | None:
    """Decode one log of the Meter contract; ``None`` for a topic this module does not know or a removed log.

    The caller filters by contract address (``eth_getLogs`` does, and :func:`decode_logs` can).
    """
    topics = log.get("topics") or ()
    if not topics or log.get("removed"):
        return None
    decoder = _decoders().get(_as_bytes(topics[0]))
    if decoder is None:
        return None
    values: dict[str, Any] = {
        "block_number": _as_int(log["blockNumber"]),
        "block_hash": _as_bytes(log["blockHash"]),
        "tx_hash": _as_bytes(log["transactionHash"]),
        "log_index": _as_int(log["logIndex"]),
    }
    if decoder.topic_types:
        # Indexed parameters of static types are stored as their 32-byte ABI words: decode them as one tuple.
        raw_topics = b"".join(_as_bytes(t) for t in topics[1:])
        for (field, convert), value in zip(decoder.topic_fields, decode(decoder.topic_types, raw_topics), strict=True):
            values[field] = convert(value)
    if decoder.data_types:
        for (field, convert), value in zip(
            decoder.data_fields, decode(decoder.data_types, _as_bytes(log["data"])), strict=True
        ):
            values[field] = convert(value)
    return decoder.cls(**values)


def decode_logs(logs: Iterable[Mapping[str, Any]], *, address: str | None = None) -> list[MeterEvent]:
    """Decode the Meter events among ``logs``, in chain order; logs of other addresses are skipped if given."""
    wanted = address.lower() if address is not None else None
    decoded: list[MeterEvent] = []
    for log in logs:
        if wanted is not None and str(log.get("address", "")).lower() != wanted:
            continue
        event = decode_log(log)
        if event is not None:
            decoded.append(event)
    decoded.sort(key=lambda e: e.position)
    return decoded


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, DenialReason | InstanceStatus | LimitMode):
        return value.name
    if isinstance(value, int):
        # As a string: seconds and caps are uint64, beyond what JSON readers (and SQLite's json) keep exact.
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def event_to_dict(event: MeterEvent) -> dict[str, Any]:
    """A JSON-ready view of ``event``: ``event`` (its name), every field, integers as decimal strings, bytes as
    ``0x`` hex, enums by name, the rules of a :class:`RulesSet` flattened. For ``--json`` output and the store."""
    out: dict[str, Any] = {"event": event.name}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Rules):
            for rule_field in _RULE_FIELDS:
                out[rule_field] = _json_value(getattr(value, rule_field))
        else:
            out[f.name] = _json_value(value)
    return out
