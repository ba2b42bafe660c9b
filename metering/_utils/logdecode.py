"""A precompiled event decoder: built once from an ABI, it decodes raw logs by their first topic.

web3's ``contract.events.X().process_log`` re-derives the event's ABI, builds codecs and normalises through several
layers for every log: in ``Agent.activate_many`` a quarter of the time went there. Here each event of the ABI is
compiled once into a plan: where each argument comes from (a topic, or a word of ``data``) and a small reader for its
type. Static single-word types (``uintN``, ``intN``, ``address``, ``bool``, ``bytesN``, and so enums) are sliced
from their 32-byte words directly; only events with dynamic or multi-word data (``string``, ``bytes``, arrays,
tuples) go through ``eth_abi``. Values come out as web3 gives them: ``int``, ``bool``, ``bytes``, ``str`` and
checksummed addresses (checksums are cached, since the same few addresses recur). Padding is checked as strictly as
``eth_abi`` checks it, so a malformed log is an :class:`~metering.errors.EventDecodeError`, never a wrong value.

It is generic over the ABI: any contract, any version of the Meter. Logs may be raw JSON-RPC dicts (hex strings) or
web3's formatted ``LogReceipt``/``AttributeDict`` (``HexBytes``). Logs whose first topic is not an event of the ABI,
or whose topic count does not match it (an event of the same signature with other indexed fields), and anonymous
events are not decoded (``None``).

>>> decoder = meter_event_decoder()                                   # doctest: +SKIP
>>> [(e.name, e.args["instanceId"]) for e in decode_receipt_logs(receipt, meter_address)]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from metering.contract import abi
from metering.errors import EventDecodeError

__all__ = [
    "DecodedEvent",
    "EventDecoder",
    "EventSpec",
    "canonical_type",
    "decode_receipt_logs",
    "meter_event_decoder",
]

_ZERO12 = bytes(12)
_CHECKSUMS: dict[bytes, str] = {}
_CHECKSUM_CACHE_SIZE = 65_536

_Reader = Callable[[bytes], Any]


class DecodedEvent(NamedTuple):
    """An event's name and its arguments by name, in ABI order (values as web3 decodes them)."""

    name: str
    args: dict[str, Any]


def canonical_type(item: Mapping[str, Any]) -> str:
    """The ABI type as it appears in a signature: tuples expanded to ``(t1,t2)``."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _checksum(raw: bytes) -> str:
    cached = _CHECKSUMS.get(raw)
    if cached is None:
        if len(_CHECKSUMS) >= _CHECKSUM_CACHE_SIZE:
            _CHECKSUMS.clear()
        cached = _CHECKSUMS[raw] = to_checksum_address(raw)
    return cached


def _word_reader(kind: str) -> _Reader | None:
    """A reader for a type held in one 32-byte word, or ``None`` for any other type."""
    if kind == "address":
        def address(word: bytes) -> str:
            if word[:12] != _ZERO12:
                raise EventDecodeError(f"address word with non-zero padding: 0x{word.hex()}")
            return _checksum(word[12:])
        return address
    if kind == "bool":
        def boolean(word: bytes) -> bool:
            value = int.from_bytes(word, "big")
            if value > 1:
                raise EventDecodeError(f"bool word is neither 0 nor 1: 0x{word.hex()}")
            return value == 1
        return boolean
    if kind.startswith("uint") and kind[4:].isdigit():
        bits = int(kind[4:])
        limit = 1 << bits

        def unsigned(word: bytes) -> int:
            value = int.from_bytes(word, "big")
            if value >= limit:
                raise EventDecodeError(f"{kind} out of range: {value}")
            return value
        return unsigned
    if kind.startswith("int") and kind[3:].isdigit():
        bits = int(kind[3:])
        low, high = -(1 << (bits - 1)), 1 << (bits - 1)

        def signed(word: bytes) -> int:
            value = int.from_bytes(word, "big", signed=True)
            if not low <= value < high:
                raise EventDecodeError(f"{kind} out of range: {value}")
            return value
        return signed
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        padding = bytes(32 - size)

        def fixed_bytes(word: bytes) -> bytes:
            if word[size:] != padding:
                raise EventDecodeError(f"{kind} word with non-zero padding: 0x{word.hex()}")
            return word[:size]
        return fixed_bytes
    return None


def _normaliser(item: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Turns what ``eth_abi`` decoded for ``item`` into what web3 returns: checksummed addresses, also inside arrays
    and tuples."""
    kind = str(item["type"])
    if kind.endswith("]"):
        inner = _normaliser({**item, "type": kind[: kind.rindex("[")]})
        return lambda values: tuple(inner(v) for v in values)
    if kind == "tuple":
        parts = [_normaliser(c) for c in item.get("components", [])]
        return lambda values: tuple(p(v) for p, v in zip(parts, values, strict=True))
    if kind == "address":
        return lambda value: to_checksum_address(value)
    return lambda value: value


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
    return bytes(value)


@dataclass(frozen=True)
class EventSpec:
    """The compiled plan of one event: its topic and, per argument, where it is read from."""

    name: str
    signature: str
    topic0: bytes
    names: tuple[str, ...]
    #: per argument in ABI order: (topic index, reader) for indexed ones, (-1 - word index, reader) for data words
    plan: tuple[tuple[int, _Reader], ...]
    topic_count: int
    data_words: int
    #: for data that is not all single-word values: its types and normalisers, decoded with eth_abi
    data_types: tuple[str, ...] | None
    data_normalisers: tuple[Callable[[Any], Any], ...]

    @classmethod
    def compile(cls, item: Mapping[str, Any]) -> EventSpec:
        inputs = list(item.get("inputs", []))
        signature = f"{item['name']}({','.join(canonical_type(i) for i in inputs)})"
        data_items = [i for i in inputs if not i.get("indexed")]
        readers = [_word_reader(canonical_type(i)) for i in data_items]
        words_only = all(r is not None for r in readers)
        plan: list[tuple[int, _Reader]] = []
        topic, word = 1, 0
        for entry in inputs:
            if entry.get("indexed"):
                # Indexed values of other types (string, bytes, arrays, tuples) are stored as their keccak hash.
                plan.append((topic, _word_reader(canonical_type(entry)) or bytes))
                topic += 1
            elif words_only:
                reader = readers[word]
                assert reader is not None
                plan.append((-1 - word, reader))
                word += 1
            else:
                plan.append((-1 - word, _identity))
                word += 1
        return cls(
            name=str(item["name"]),
            signature=signature,
            topic0=keccak(text=signature),
            names=tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(inputs)),
            plan=tuple(plan),
            topic_count=topic,
            data_words=len(data_items),
            data_types=None if words_only else tuple(canonical_type(i) for i in data_items),
            data_normalisers=() if words_only else tuple(_normaliser(i) for i in data_items),
        )

    def decode(self, topics: Sequence[Any], data: Any) -> DecodedEvent:
        """Decodes the topics and data of a log of this event (hex strings or bytes)."""
        return self.decode_raw([_as_bytes(t) for t in topics], _as_bytes(data) if data else b"")

    def decode_blob(self, topic_blob: bytes, body: bytes) -> DecodedEvent:
        """:meth:`decode` for topics already converted to bytes and concatenated (32 bytes each), as the store keeps
        them: the indexer converts a log's hex once and decodes from that."""
        return self.decode_raw([topic_blob[k:k + 32] for k in range(0, len(topic_blob), 32)], body)

    def decode_raw(self, raw_topics: Sequence[bytes], body: bytes) -> DecodedEvent:
        """:meth:`decode` for topics and data already as bytes."""
        if self.data_types is None:
            if len(body) < 32 * self.data_words:
                raise EventDecodeError(
                    f"{self.name} log has {len(body)} data bytes, expected {32 * self.data_words}"
                )
            values = None
        else:
            try:
                decoded = abi_decode(list(self.data_types), body)
            except Exception as exc:
                raise EventDecodeError(f"{self.name} log data does not decode: {exc}") from exc
            values = [n(v) for n, v in zip(self.data_normalisers, decoded, strict=True)]
        args: dict[str, Any] = {}
        for name, (source, reader) in zip(self.names, self.plan, strict=True):
            if source > 0:
                args[name] = reader(raw_topics[source])
            elif values is None:
                offset = 32 * (-1 - source)
                args[name] = reader(body[offset:offset + 32])
            else:
                args[name] = values[-1 - source]
        return DecodedEvent(self.name, args)


def _identity(value: Any) -> Any:
    return value


class EventDecoder:
    """Every non-anonymous event of ``contract_abi``, compiled once and looked up by ``topics[0]``."""

    def __init__(self, contract_abi: Iterable[Mapping[str, Any]]) -> None:
        self._by_bytes: dict[bytes, EventSpec] = {}
        for item in contract_abi:
            if item.get("type") == "event" and not item.get("anonymous"):
                spec = EventSpec.compile(item)
                self._by_bytes[spec.topic0] = spec
        self._by_hex = {"0x" + topic.hex(): spec for topic, spec in self._by_bytes.items()}
        self._by_name = {spec.name: spec for spec in self._by_bytes.values()}

    @property
    def specs(self) -> tuple[EventSpec, ...]:
        return tuple(self._by_bytes.values())

    def topic(self, name: str) -> bytes:
        """The first topic of event ``name``; ``KeyError`` if the ABI has none of that name."""
        return self._by_name[name].topic0

    def spec_for(self, topic0: Any) -> EventSpec | None:
        """The event whose first topic is ``topic0`` (hex text or bytes), or ``None``."""
        if isinstance(topic0, str):
            return self._by_hex.get(topic0) or self._by_hex.get(topic0.lower())
        return self._by_bytes.get(bytes(topic0))

    def decode(self, log: Mapping[str, Any]) -> DecodedEvent | None:
        """The event in ``log``, or ``None`` if it is not an event of this ABI.

        :raises EventDecodeError: the log has this ABI's topic but malformed data or topics.
        """
        topics = log.get("topics")
        if not topics:
            return None
        spec = self.spec_for(topics[0])
        if spec is None or len(topics) != spec.topic_count:
            return None
        return spec.decode(topics, log.get("data"))


@cache
def meter_event_decoder() -> EventDecoder:
    """The decoder for the shipped Meter ABI (built once)."""
    return EventDecoder(abi())


def decode_receipt_logs(
    logs: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    address: str | None = None,
    *,
    decoder: EventDecoder | None = None,
) -> list[DecodedEvent]:
    """The events of a receipt (or of a list of logs), in log order: ``[(name, args), ...]``.

    Only logs emitted by ``address`` are decoded when it is given; logs of unknown events are skipped.
    ``decoder`` defaults to the Meter's.
    """
    entries: Iterable[Mapping[str, Any]] = logs["logs"] if isinstance(logs, Mapping) else logs
    chosen = decoder or meter_event_decoder()
    wanted = address.lower() if address is not None else None
    decoded: list[DecodedEvent] = []
    for entry in entries:
        if wanted is not None and str(entry.get("address", "")).lower() != wanted:
            continue
        event = chosen.decode(entry)
        if event is not None:
            decoded.append(event)
    return decoded
