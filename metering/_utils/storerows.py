"""How a Meter event is one row of the event database, and back: the store's format in one place.

Why a module of its own: three parties write or read the same rows and must agree byte for byte. The indexer turns
raw ``eth_getLogs`` entries into rows through the precompiled decoder of :mod:`metering._utils.logdecode` (no
``eth_abi`` for the fixed-size events, no :class:`~metering.audit.events.MeterEvent` objects on the way); tests and the
benchmark's synthetic stores turn :class:`~metering.audit.events.MeterEvent` values into the same rows (with their raw
topics and data encoded here); and :meth:`metering.audit.store.Store.events` turns rows back into events from their
stored decoded fields, without decoding the log again.

A row holds, in :data:`COLUMNS` order:

* the log's place: ``position`` (``block_number << 24 | log_index``, the chain's order and the table's row id),
  ``block_number``, ``log_index``, ``block_hash`` and ``tx_hash`` (32-byte blobs);
* ``event``, the Solidity event name;
* the decoded fields, each in exactly one place: the ones queries and invoices read as typed columns (NULL
  where the event has no such field): ``timeframe``, ``customer`` (checksummed), ``instance_id`` (blob),
  ``instance_type``, ``started_at``, ``lease_end``, ``stopped_at``, ``overage`` (0/1); every other field in
  ``fields``, a JSON object with snake_case keys (integers as decimal strings, so uint256 amounts stay exact in any
  JSON reader; bytes as ``0x`` hex; enums by name; a ``RulesSet``'s rules flattened), ``{}`` for the usage events
  whose fields are all columns. :func:`event_from_row` reads both back;
* ``topics`` (the 32-byte topic words, concatenated) and ``data``, as blobs: the log exactly as the node gave it,
  so anyone can decode it again and compare (``SELECT hex(topics), hex(data)`` shows them; blobs are half the
  size of hex text, and bytes written are what indexing waits for on a busy disk).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from functools import cache
from typing import Any, get_type_hints

from eth_abi.abi import encode as abi_encode

from metering._utils.logdecode import EventDecoder, EventSpec, canonical_type, meter_event_decoder
from metering.audit.events import EVENT_TYPES, LogEvent, MeterEvent
from metering.contract import abi, currency_from_bytes, currency_to_bytes
from metering.errors import EventDecodeError
from metering.types import Rules

__all__ = [
    "COLUMNS",
    "LOG_INDEX_BITS",
    "READ_COLUMNS",
    "TYPED_FIELDS",
    "RowBuilder",
    "event_from_row",
    "event_row",
    "position",
]

#: ``position = block_number << LOG_INDEX_BITS | log_index``: a block holds far fewer than 2**24 logs (at 375 gas
#: a log, a 30M-gas block holds at most 80,000), and block numbers stay far below 2**39.
LOG_INDEX_BITS = 24
_LOG_INDEX_LIMIT = 1 << LOG_INDEX_BITS

#: The decoded fields that are also columns of their own, in column order.
TYPED_FIELDS = (
    "timeframe", "customer", "instance_id", "instance_type", "started_at", "lease_end", "stopped_at", "overage",
)

#: The columns of the ``events`` table, in the order a row tuple holds them.
COLUMNS = (
    "position", "block_number", "log_index", "block_hash", "tx_hash", "event", *TYPED_FIELDS, "fields", "topics",
    "data",
)

_POSITION_FIELDS = frozenset(f.name for f in fields(LogEvent))
_RULE_FIELDS = tuple(f.name for f in fields(Rules))

Row = tuple[Any, ...]


def position(block_number: int, log_index: int) -> int:
    """The row id of a log: chain order as one integer."""
    if not 0 <= log_index < _LOG_INDEX_LIMIT:
        raise EventDecodeError(f"log index {log_index} of block {block_number} is beyond what the store orders")
    return block_number << LOG_INDEX_BITS | log_index


# ---------------------------------------------------------------------------------------------- per-field conversions


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _to_hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _raw(text: str) -> bytes:
    """Hex text of a log (``0x``-prefixed as JSON-RPC gives it) as bytes."""
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


def _identity(value: Any) -> Any:
    return value


def _enum_from_code(kind: type[IntEnum]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise EventDecodeError(f"{value} is not a {kind.__name__} the contract knows") from None

    return convert


def _enum_name(value: Any) -> str:
    return str(value.name)


def _enum_by_name(kind: type[IntEnum]) -> Callable[[Any], Any]:
    return lambda name: kind[name]


def _rules_to_json(rules: Rules) -> dict[str, Any]:
    return {
        name: (value.name if isinstance(value, IntEnum) else str(value))
        for name, value in ((n, getattr(rules, n)) for n in _RULE_FIELDS)
    }


@cache
def _rule_readers() -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """How each field of :class:`Rules` is read back from its JSON text: an enum by name, anything else as an
    integer. Worked out once: ``get_type_hints`` evaluates the annotations' strings each call (some 60 us a
    ``RulesSet``, paid by every invoice pass that reads its timeframe's rules)."""
    hints = get_type_hints(Rules)
    return tuple(
        (name, _enum_by_name(hint) if isinstance(hint, type) and issubclass(hint, IntEnum) else int)
        for name in _RULE_FIELDS
        for hint in (hints[name],)
    )


def _rules_from_json(document: Mapping[str, Any]) -> Rules:
    return Rules(**{name: read(document[name]) for name, read in _rule_readers()})


@dataclass(frozen=True)
class _Field:
    """One decoded argument: its ABI name, its field name, and how its value travels (ABI -> Python -> JSON ->
    Python)."""

    abi_name: str
    name: str
    from_abi: Callable[[Any], Any]
    to_json: Callable[[Any], Any]
    from_json: Callable[[Any], Any]
    rules: bool = False


def _field(param: Mapping[str, Any], hint: Any) -> _Field:
    abi_name = str(param["name"])
    name = _snake(abi_name)
    kind = canonical_type(param)
    if hint is Rules:
        return _Field(abi_name, name, Rules.from_tuple, _rules_to_json, _rules_from_json, rules=True)
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return _Field(abi_name, name, _enum_from_code(hint), _enum_name, _enum_by_name(hint))
    if hint is bool:
        return _Field(abi_name, name, bool, _identity, bool)
    if hint is int:
        return _Field(abi_name, name, _identity, str, int)
    if hint is bytes:
        return _Field(abi_name, name, bytes, _hex, _to_hex_bytes)
    if hint is str and kind == "bytes8":
        return _Field(abi_name, name, currency_from_bytes, _identity, str)
    if hint is str and kind == "address":
        return _Field(abi_name, name, _identity, _identity, str)
    raise TypeError(f"no store format for {name}: {kind} as {hint!r}")  # pragma: no cover - the ABI is fixed


@dataclass(frozen=True)
class _Kind:
    """The plan of one event: its class, its fields in ABI order, which of them are typed columns (and in which
    slot), and the others, which go to the ``fields`` JSON."""

    name: str
    cls: type[MeterEvent]
    fields: tuple[_Field, ...]
    params: tuple[Mapping[str, Any], ...]
    #: per slot of :data:`TYPED_FIELDS`, the ABI name of the event's argument there, or "" (no such argument)
    typed_abi: tuple[str, ...]
    #: (field name, slot) of the event's typed fields
    typed: tuple[tuple[str, int], ...]
    residual: tuple[_Field, ...]

    def residual_json(self, values: Mapping[str, Any]) -> str:
        """The ``fields`` JSON: the fields that are not typed columns (``{}`` for most usage events)."""
        if not self.residual:
            return "{}"
        document: dict[str, Any] = {}
        for field in self.residual:
            converted = field.to_json(values[field.name])
            if field.rules:
                document.update(converted)
            else:
                document[field.name] = converted
        return json.dumps(document, separators=(",", ":"))

    def residual_values(self, text: str) -> dict[str, Any]:
        if not self.residual:
            return {}
        document = json.loads(text)
        return {
            field.name: field.from_json(document if field.rules else document[field.name]) for field in self.residual
        }


@cache
def _kinds() -> dict[str, _Kind]:
    kinds: dict[str, _Kind] = {}
    for entry in abi():
        name = str(entry.get("name"))
        if entry.get("type") != "event" or name not in EVENT_TYPES:
            continue
        cls = EVENT_TYPES[name]
        hints = get_type_hints(cls)
        params = tuple(entry["inputs"])
        plan = tuple(_field(p, hints[_snake(str(p["name"]))]) for p in params)
        own = {f.name for f in fields(cls)} - _POSITION_FIELDS
        if {f.name for f in plan} != own:  # pragma: no cover - guarded by the tests of every event
            raise TypeError(f"{name}: the ABI's arguments {sorted(f.name for f in plan)} are not the fields {own}")
        by_name = {f.name: f for f in plan}
        for typed in TYPED_FIELDS:  # typed columns hold the values as the events do: no conversion either way
            if typed in by_name and hints[typed] not in (int, str, bytes, bool):  # pragma: no cover - fixed ABI
                raise TypeError(f"{name}.{typed} cannot be a typed column")
        kinds[name] = _Kind(
            name, cls, plan, params,
            typed_abi=tuple(by_name[t].abi_name if t in by_name else "" for t in TYPED_FIELDS),
            typed=tuple((t, slot) for slot, t in enumerate(TYPED_FIELDS) if t in by_name),
            residual=tuple(f for f in plan if f.name not in TYPED_FIELDS),
        )
    return kinds


# ---------------------------------------------------------------------------------------------- rows


def event_row(
    name: str,
    block_number: int,
    log_index: int,
    block_hash: bytes,
    tx_hash: bytes,
    values: Mapping[str, Any],
    topics: bytes,
    data: bytes,
) -> Row:
    """The row of one event: ``values`` are its decoded fields by name (as the event class holds them), ``topics``
    (its topic words, concatenated) and ``data`` its raw log."""
    return (
        position(block_number, log_index), block_number, log_index, block_hash, tx_hash, name,
        *map(values.get, TYPED_FIELDS),
        _kinds()[name].residual_json(values), topics, data,
    )


def row_of_event(event: MeterEvent) -> Row:
    """The row the indexer would store for ``event``'s log (its raw topics and data are encoded from its fields)."""
    kind = _kinds()[event.name]
    values = {f.name: getattr(event, f.name) for f in kind.fields}
    topics, data = _encode(kind, values)
    return event_row(
        event.name, event.block_number, event.log_index, event.block_hash, event.tx_hash, values, topics, data
    )


def _abi_value(field: _Field, value: Any) -> Any:
    if field.rules:
        return value.as_tuple()
    if isinstance(value, IntEnum):
        return int(value)
    if field.from_abi is currency_from_bytes:
        return currency_to_bytes(value)
    return value


def _encode(kind: _Kind, values: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The raw topics (concatenated) and data of an event with these fields (``eth_abi`` encoding, as the contract
    emits it)."""
    topics = [meter_event_decoder().topic(kind.name)]
    data_types: list[str] = []
    data_values: list[Any] = []
    for field, param in zip(kind.fields, kind.params, strict=True):
        value = _abi_value(field, values[field.name])
        if param.get("indexed"):
            topics.append(abi_encode([canonical_type(param)], [value]))
        else:
            data_types.append(canonical_type(param))
            data_values.append(value)
    return b"".join(topics), abi_encode(data_types, data_values)


#: The columns :func:`event_from_row` takes, in order.
READ_COLUMNS = ("event", "block_number", "log_index", "block_hash", "tx_hash", *TYPED_FIELDS, "fields")


def event_from_row(
    name: str, block_number: int, log_index: int, block_hash: bytes, tx_hash: bytes, *rest: Any
) -> MeterEvent:
    """The event a row holds (its :data:`READ_COLUMNS`), from its stored typed columns and ``fields`` JSON: the log
    is not decoded again."""
    kind = _kinds()[name]
    values = kind.residual_values(rest[-1])
    for field, slot in kind.typed:
        values[field] = rest[slot]
    if "overage" in values:
        values["overage"] = bool(values["overage"])
    return kind.cls(block_number=block_number, block_hash=block_hash, tx_hash=tx_hash, log_index=log_index, **values)


class RowBuilder:
    """Turns raw ``eth_getLogs`` entries of the Meter into rows, with the precompiled decoder keyed by
    ``topics[0]``. Logs of other events (or of an event of the same name with other indexed fields) give ``None``.
    """

    def __init__(self, decoder: EventDecoder | None = None) -> None:
        self._decoder = decoder or meter_event_decoder()
        kinds = _kinds()
        self._plans: dict[str, tuple[EventSpec, _Kind]] = {}
        self._words: dict[str, _WordPlan] = {}
        for spec in self._decoder.specs:
            if spec.name in kinds:
                kind = kinds[spec.name]
                self._plans["0x" + spec.topic0.hex()] = (spec, kind)
                if spec.data_types is None:
                    self._words[spec.name] = _WordPlan.of(spec, kind)
        # Consecutive logs mostly share their block and transaction: their hashes are converted once.
        self._block: tuple[str, bytearray] = ("", bytearray())
        self._tx: tuple[str, bytearray] = ("", bytearray())

    def row(self, log: Mapping[str, Any]) -> Row | None:
        """The row of one raw log (hex strings as JSON-RPC gives them).

        :raises EventDecodeError: the log has a Meter event's topic but does not decode as that event.
        """
        topics = log["topics"]
        if not topics:
            return None
        plan = self._plans.get(topics[0]) or self._plans.get(str(topics[0]).lower())
        if plan is None:
            return None
        spec, kind = plan
        if len(topics) != spec.topic_count:
            return None
        data = log["data"] or "0x"
        try:  # the node's hex converted once: these bytes are decoded and stored (logdecode checks each word)
            raw_topics = bytes.fromhex("".join(topics).replace("0x", ""))
            raw_data = _raw(data)
        except (TypeError, ValueError):
            args = spec.decode(topics, data).args  # raises the decoder's own error for malformed hex
            raw_topics, raw_data = b"".join(map(_raw, topics)), _raw(data)
        else:
            words = self._words.get(kind.name)
            if len(raw_topics) != 32 * len(topics):
                args = spec.decode(topics, data).args
            elif words is not None:  # every argument one word: read in place, checked as decode_raw checks them
                tail = words.tail(raw_topics, raw_data)
                return (*self._position(kind, log), *tail)
            else:
                args = spec.decode_blob(raw_topics, raw_data).args
        residual = kind.residual
        fields_json = kind.residual_json({f.name: f.from_abi(args[f.abi_name]) for f in residual}) if residual else "{}"
        place = self._position(kind, log)
        return (*place, kind.name, *map(args.get, kind.typed_abi), fields_json, raw_topics, raw_data)

    def _position(self, kind: _Kind, log: Mapping[str, Any]) -> tuple[int, int, int, bytearray, bytearray]:
        """``position, block_number, log_index, block_hash, tx_hash`` of a raw log (hashes converted once per
        block and transaction, as ``bytearray``: see :class:`~metering._utils.wordrows.FastRowBuilder`)."""
        try:
            block_number = int(log["blockNumber"], 16)
            log_index = int(log["logIndex"], 16)
            block_text, tx_text = log["blockHash"], log["transactionHash"]
            if block_text != self._block[0]:
                self._block = (block_text, bytearray.fromhex(block_text[2:]))
            if tx_text != self._tx[0]:
                self._tx = (tx_text, bytearray.fromhex(tx_text[2:]))
        except (TypeError, ValueError) as exc:
            raise EventDecodeError(f"a {kind.name} log has a malformed position: {exc}") from exc
        if not 0 <= log_index < _LOG_INDEX_LIMIT:
            position(block_number, log_index)  # raises
        return (block_number << LOG_INDEX_BITS | log_index, block_number, log_index, self._block[1], self._tx[1])


@dataclass(frozen=True)
class _WordPlan:
    """How to read one event whose arguments are each one 32-byte word (every usage event) straight from its raw
    topics and data into a row: per argument the offset of its word in ``topics + data`` and its checking reader
    (the decoder's own), then which arguments fill the typed slots and which the ``fields`` JSON. The same values
    and errors as :meth:`EventSpec.decode_raw`, without building a dictionary and an event per log."""

    name: str
    kind: _Kind
    topic_bytes: int
    data_bytes: int
    offsets: tuple[tuple[int, Callable[[bytes], Any]], ...]
    #: per slot of :data:`TYPED_FIELDS`: the argument's index, or -1 (NULL)
    typed: tuple[int, ...]
    residual: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, spec: EventSpec, kind: _Kind) -> _WordPlan:
        topic_bytes = 32 * spec.topic_count
        offsets = tuple(
            (32 * source if source > 0 else topic_bytes + 32 * (-1 - source), reader) for source, reader in spec.plan
        )
        index = {name: n for n, name in enumerate(spec.names)}
        return cls(
            spec.name, kind, topic_bytes, 32 * spec.data_words, offsets,
            tuple(index[abi_name] if abi_name else -1 for abi_name in kind.typed_abi),
            tuple((f.abi_name, index[f.abi_name]) for f in kind.residual),
        )

    def tail(self, raw_topics: bytes, raw_data: bytes) -> Row:
        """The row from its ``event`` column on (the part its position does not give)."""
        if len(raw_data) < self.data_bytes:
            raise EventDecodeError(f"{self.name} log has {len(raw_data)} data bytes, expected {self.data_bytes}")
        blob = raw_topics + raw_data
        values = [reader(blob[at:at + 32]) for at, reader in self.offsets]
        typed = [values[n] if n >= 0 else None for n in self.typed]
        fields_json = "{}"
        if self.residual:
            kind = self.kind
            by_abi = {abi_name: values[n] for abi_name, n in self.residual}
            fields_json = kind.residual_json({f.name: f.from_abi(by_abi[f.abi_name]) for f in kind.residual})
        return (self.name, *typed, fields_json, raw_topics, raw_data)
