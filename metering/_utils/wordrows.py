"""Rows of the usage events in bulk: one ``struct`` unpack per log instead of one reader call per argument.

Why: on a backfill the indexer turns every ``eth_getLogs`` entry into a row, and with the reader calls of
:class:`~metering._utils.storerows.RowBuilder` (one per argument, each slicing a word and calling
``int.from_bytes``) decoding was a third of its time. Every usage event's arguments are single 32-byte words, so
an event's topics and data have a fixed layout: one precompiled :class:`struct.Struct` per event splits them into
padding and value fields at C speed; the padding is compared with zero bytes in one tuple comparison and the few
small integer types (``uint8``...) and ``bool`` are range-checked.

The reference stays :class:`RowBuilder`: anything this fast path does not take for granted (a malformed or
upper-case hex string, non-zero padding, a value out of its type's range, a ``uint`` beyond 64 bits, short data,
an event with dynamic data such as ``RulesSet``) goes to :meth:`RowBuilder.row`, which gives the row or raises
:class:`~metering.errors.EventDecodeError` exactly as before. So the rows are byte for byte the same; the tests
compare both builders on every event and on malformed logs.
"""

from __future__ import annotations

import struct
from binascii import unhexlify
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from metering._utils.logdecode import _CHECKSUMS, EventDecoder, EventSpec, _checksum, canonical_type
from metering._utils.storerows import RowBuilder, _Kind, _kinds
from metering.errors import EventDecodeError

__all__ = ["FastRowBuilder"]

Row = tuple[Any, ...]

_ZERO = {size: bytes(size) for size in range(1, 33)}


@dataclass(frozen=True)
class _Layout:
    """One word-only event as a ``struct`` layout of its topics and data.

    ``parts`` from unpacking are: per word, its padding (when the type has any) and its value; then one trailing
    ``None`` (what an absent typed column reads). ``pads`` picks the paddings (all must be zero bytes), ``limits``
    the values that must stay below a bound, ``converts`` the values turned into their Python form (a checksummed
    address, a bool), ``typed`` the values of the :data:`TYPED_FIELDS` slots, ``residual`` those of the ``fields``
    JSON.
    """

    name: str
    kind: _Kind
    topic_count: int
    raw_topics: Callable[[list[str]], bytes | None]
    topics: struct.Struct
    data: struct.Struct
    pads: Callable[[list[Any]], Any] | None
    zero_pads: Any
    limits: tuple[tuple[int, int], ...]
    converts: tuple[tuple[int, Callable[[Any], Any]], ...]
    typed: Callable[[list[Any]], tuple[Any, ...]]
    residual: tuple[tuple[str, int], ...]


# The topics of a log as one byte string, or None when a topic is not "0x" and hex (then the reference path decides):
# one function per topic count, since a log's topics are sliced and joined here once per event. Joining them first
# and removing every "0x" took 1.0 us a log (``str.replace`` alone 0.75 us); these take 0.55 us.
def _topics1(t: list[str]) -> bytes | None:
    (a,) = t
    return unhexlify(a[2:]) if a[0] == "0" and a[1] == "x" else None


def _topics2(t: list[str]) -> bytes | None:
    a, b = t
    return unhexlify(a[2:] + b[2:]) if a[0] == b[0] == "0" and a[1] == b[1] == "x" else None


def _topics3(t: list[str]) -> bytes | None:
    a, b, c = t
    return unhexlify(a[2:] + b[2:] + c[2:]) if a[0] == b[0] == c[0] == "0" and a[1] == b[1] == c[1] == "x" else None


def _topics4(t: list[str]) -> bytes | None:
    a, b, c, d = t
    if a[0] == b[0] == c[0] == d[0] == "0" and a[1] == b[1] == c[1] == d[1] == "x":
        return unhexlify(a[2:] + b[2:] + c[2:] + d[2:])
    return None


_TOPICS = {1: _topics1, 2: _topics2, 3: _topics3, 4: _topics4}


def _cached_checksum(raw: bytes) -> str:
    """:func:`~metering._utils.logdecode._checksum` with its cache read first (the same few customers recur)."""
    return _CHECKSUMS.get(raw) or _checksum(raw)


#: How one word unpacks: its fields in order, each "pad" (must be zero bytes) or "value", with their struct formats.
_Word = tuple[tuple[tuple[str, str], ...], int | None, Callable[[Any], Any] | None]


def _word(kind: str) -> _Word | None:
    """How one word of ABI type ``kind`` unpacks: its (role, struct format) fields, the value's exclusive upper
    bound to check (or None) and its conversion (or None); ``None`` when the fast path does not take this type."""
    if kind == "address":
        return (("pad", "12s"), ("value", "20s")), None, _cached_checksum
    if kind == "bool":
        return (("pad", "31s"), ("value", "B")), 2, bool
    if kind.startswith("uint") and kind[4:].isdigit():
        bits = int(kind[4:])
        # A wider value has a non-zero padding here and goes to the reference reader.
        return (("pad", "24s"), ("value", "Q")), (1 << bits) if bits < 64 else None, None
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        if size == 32:  # a bytearray, as the row's other blobs (see FastRowBuilder)
            return (("value", "32s"),), None, bytearray
        return (("value", f"{size}s"), ("pad", f"{32 - size}s")), None, None
    return None


def _layout(spec: EventSpec, kind: _Kind, params: tuple[Mapping[str, Any], ...]) -> _Layout | None:
    if spec.data_types is not None:
        return None
    formats: dict[bool, list[str]] = {True: [">32s"], False: [">"]}  # topics (topics[0] first), data
    value_at: dict[str, int] = {}  # argument name -> its value's index in the parts list
    pads: list[tuple[int, int]] = []
    limits: list[tuple[int, int]] = []
    converts: list[tuple[int, Callable[[Any], Any]]] = []
    # The parts list is the topics' parts, then the data's: lay out the indexed arguments first.
    ordered = [p for p in params if p.get("indexed")] + [p for p in params if not p.get("indexed")]
    at = 1  # part 0 is topics[0]
    for param in ordered:
        word = _word(canonical_type(param))
        if word is None:
            return None
        fields, limit, convert = word
        for role, fmt in fields:
            formats[bool(param.get("indexed"))].append(fmt)
            if role == "pad":
                pads.append((at, int(fmt[:-1])))
            else:
                value_at[str(param["name"])] = at
                if limit is not None:
                    limits.append((at, limit))
                if convert is not None:
                    converts.append((at, convert))
            at += 1
    absent = at  # the trailing None
    return _Layout(
        name=spec.name,
        kind=kind,
        topic_count=spec.topic_count,
        raw_topics=_TOPICS[spec.topic_count],
        topics=struct.Struct("".join(formats[True])),
        data=struct.Struct("".join(formats[False])),
        pads=itemgetter(*(at for at, _size in pads)) if pads else None,
        zero_pads=(tuple(_ZERO[size] for _at, size in pads) if len(pads) > 1
                   else _ZERO[pads[0][1]] if pads else None),
        limits=tuple(limits),
        converts=tuple(converts),
        typed=itemgetter(*(value_at[name] if name else absent for name in kind.typed_abi)),
        residual=tuple((f.abi_name, value_at[f.abi_name]) for f in kind.residual),
    )


class FastRowBuilder(RowBuilder):
    """:class:`RowBuilder` with the usage events read by one ``struct`` unpack each; the same rows and errors.

    Its rows' blobs (``instance_id``, ``topics``, ``data``, and the hashes of :meth:`RowBuilder._position`) are
    ``bytearray``, equal to the reference's ``bytes``: sqlite3 binds a ``bytearray`` as a blob straight away, but a
    ``bytes`` only after looking up an adapter for it (0.2 us a value; five a row). Writing 10,000 rows took 57
    against 67-71 ms of CPU, a sync's loop 137-140 against 144-146 ms (``bench/indexing.py`` I2, median of 11).
    """

    def __init__(self, decoder: EventDecoder | None = None) -> None:
        super().__init__(decoder)
        kinds = _kinds()
        self._layouts: dict[str, _Layout] = {}
        for topic, (spec, kind) in self._plans.items():
            layout = _layout(spec, kind, kind.params) if spec.name in kinds else None
            if layout is not None:
                self._layouts[topic] = layout

    def row(self, log: Mapping[str, Any]) -> Row | None:
        topics = log["topics"]
        layout = self._layouts.get(topics[0]) if topics else None
        if layout is None or len(topics) != layout.topic_count:
            return super().row(log)
        data = log["data"]
        try:
            raw_topics = layout.raw_topics(topics)
            raw_data = unhexlify(data[2:]) if data[:2] == "0x" else None
        except (TypeError, ValueError, IndexError):  # binascii.Error is a ValueError
            return super().row(log)
        if raw_topics is None or raw_data is None or len(raw_topics) != layout.topics.size \
                or len(raw_data) < layout.data.size:
            return super().row(log)
        parts = [*layout.topics.unpack(raw_topics), *layout.data.unpack_from(raw_data), None]
        if layout.pads is not None and layout.pads(parts) != layout.zero_pads:
            return super().row(log)
        for at, limit in layout.limits:
            if parts[at] >= limit:
                return super().row(log)
        for at, convert in layout.converts:
            parts[at] = convert(parts[at])
        try:
            place = self._position(layout.kind, log)
        except (EventDecodeError, KeyError):  # the general path raises the error such a log deserves
            return super().row(log)
        fields_json = "{}"
        if layout.residual:
            kind = layout.kind
            by_abi = {abi_name: parts[at] for abi_name, at in layout.residual}
            fields_json = kind.residual_json({f.name: f.from_abi(by_abi[f.abi_name]) for f in kind.residual})
        return (*place, layout.name, *layout.typed(parts), fields_json, bytearray(raw_topics), bytearray(raw_data))
