"""Invoices: a pure function from the rules and the contract's events to an immutable, hashable document.

Why pure: the provider, the customer and an auditor each run :func:`compute_invoice` over the same events and must
get the same integers, and the same bytes from :func:`to_canonical_json`, hence the same :func:`invoice_hash` that
the provider can anchor on chain. Nothing here reads the clock, the network or a file, except
:func:`invoice_from_store`, which only gathers the inputs from an event database.

How the bill is counted (mirroring the contract's ``Usage`` counters, so every line can be cross-checked on chain):

* each ``ActivationGranted`` of the customer in the timeframe is one activation (``overage`` ones are also counted
  apart); denials and replays count nothing;
* an instance is billed from ``started_at`` to where billing stopped: ``stopped_at`` of its deactivation, else its
  last lease end (the grant's, or the last ``LeaseRenewed``'s), whether or not anyone closed the expired lease;
* ``billable = max(0, used - included)`` for activations and seconds; amounts are ``billable * price``, integers in
  minor units of the timeframe's currency, never floats.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address
from eth_utils.crypto import keccak

from metering.errors import InvoiceError
from metering.events import (
    ActivationGranted,
    InstanceDeactivated,
    LeaseExpired,
    LeaseRenewed,
    MeterEvent,
    RulesSet,
    TimeframeCreated,
)
from metering.store import Store
from metering.types import Rules, Timeframe, rules_hash

__all__ = [
    "INVOICE_VERSION",
    "Evidence",
    "EvidenceEvent",
    "Invoice",
    "Line",
    "compute_invoice",
    "from_json",
    "invoice_from_store",
    "invoice_hash",
    "invoices_for_timeframe",
    "read_invoice",
    "rules_from_events",
    "stated_hash",
    "timeframe_from_events",
    "to_canonical_json",
    "to_csv",
    "to_dict",
    "to_json",
]

#: The invoice document format; a reader refuses other versions rather than misread them.
INVOICE_VERSION = 1


@dataclass(frozen=True)
class Line:
    """One instance type on an invoice: usage, what the rules include, what is billed, and the amounts."""

    instance_type: int
    rules_hash: bytes
    activations: int
    overage_activations: int
    included_activations: int
    billable_activations: int
    price_per_activation: int
    activation_amount: int
    seconds: int
    included_seconds: int
    billable_seconds: int
    price_per_second: int
    seconds_amount: int
    total: int


@dataclass(frozen=True)
class EvidenceEvent:
    """One event the invoice counted, with what it takes to find it on chain."""

    block_number: int
    log_index: int
    tx_hash: bytes
    event: str
    instance_id: bytes


@dataclass(frozen=True)
class Evidence:
    """Where the invoice's numbers come from: the contract, the block range read, and every counted event."""

    chain_id: int
    contract: str
    from_block: int
    to_block: int
    events: tuple[EvidenceEvent, ...]


@dataclass(frozen=True)
class Invoice:
    """The bill of one customer for one timeframe.

    ``final`` is True once ``as_of`` (the timestamp of ``evidence.to_block``) reaches the timeframe's end: no later
    event can change it. Before that it is a running statement.
    """

    customer: str
    timeframe: Timeframe
    lines: tuple[Line, ...]
    total: int
    overage_activations: int
    final: bool
    as_of: int
    evidence: Evidence
    version: int = field(default=INVOICE_VERSION)

    @property
    def currency(self) -> str:
        return self.timeframe.currency

    def line(self, instance_type: int) -> Line:
        for line in self.lines:
            if line.instance_type == instance_type:
                return line
        raise KeyError(f"the invoice has no line for instance type {instance_type}")


# ---------------------------------------------------------------------- computing


@dataclass
class _Running:
    instance_type: int
    started_at: int
    billed_until: int
    closed: bool = False


def compute_invoice(
    customer: str,
    timeframe: Timeframe,
    rules_by_type: Mapping[int, Rules],
    events: Iterable[MeterEvent],
    *,
    chain_id: int,
    contract: str,
    from_block: int,
    to_block: int,
    as_of: int,
) -> Invoice:
    """The invoice of ``customer`` for ``timeframe`` from the events in blocks ``from_block..to_block``.

    ``events`` may hold anything (other customers, timeframes, blocks); only the customer's usage events in the
    timeframe and the block range count. ``rules_by_type`` holds the rules in force in the timeframe: every type in
    it gets a line, even with no usage. ``as_of`` is the timestamp of ``to_block``. Raises :class:`InvoiceError`
    when the events are not a consistent history (usage of a type without rules, a renewal of an instance whose
    grant is not among the events: index from an earlier block).

    >>> compute_invoice("0x...", timeframe, {1: rules}, events, chain_id=1, contract="0x...",
    ...                 from_block=0, to_block=100, as_of=1_700_000_000)  # doctest: +SKIP
    """
    if not 0 <= from_block <= to_block:
        raise InvoiceError(f"block range {from_block}..{to_block} is empty or negative")
    customer = _address(customer, "customer")
    contract = _address(contract, "contract")
    running: dict[bytes, _Running] = {}
    activations = dict.fromkeys(rules_by_type, 0)
    overage = dict.fromkeys(rules_by_type, 0)
    evidence: list[EvidenceEvent] = []
    ordered = sorted(
        (e for e in events if from_block <= e.block_number <= to_block and getattr(e, "customer", None) == customer),
        key=lambda e: e.position,
    )
    for event in ordered:
        if getattr(event, "timeframe", None) != timeframe.id:
            continue
        if isinstance(event, ActivationGranted):
            if event.instance_type not in rules_by_type:
                raise InvoiceError(
                    f"instance {event.instance_id.hex()} of type {event.instance_type} was granted in timeframe "
                    f"{timeframe.id}, which has no rules for that type"
                )
            if event.instance_id in running:
                raise InvoiceError(f"instance {event.instance_id.hex()} was granted twice")
            running[event.instance_id] = _Running(event.instance_type, event.started_at, event.lease_end)
            activations[event.instance_type] += 1
            overage[event.instance_type] += int(event.overage)
        elif isinstance(event, LeaseRenewed | InstanceDeactivated | LeaseExpired):
            state = running.get(event.instance_id)
            if state is None or state.closed:
                raise InvoiceError(
                    f"{event.name} of instance {event.instance_id.hex()} (block {event.block_number}) without an "
                    f"open grant among the events: index from the block where timeframe {timeframe.id} was created"
                )
            if isinstance(event, LeaseRenewed):
                state.billed_until = event.lease_end
            elif isinstance(event, InstanceDeactivated):
                state.billed_until, state.closed = event.stopped_at, True
            else:
                state.billed_until, state.closed = event.lease_end, True
        else:
            continue
        evidence.append(
            EvidenceEvent(event.block_number, event.log_index, event.tx_hash, event.name, event.instance_id)
        )

    seconds = dict.fromkeys(rules_by_type, 0)
    for state in running.values():
        seconds[state.instance_type] += state.billed_until - state.started_at
    lines = tuple(
        _line(timeframe.id, kind, rules_by_type[kind], activations[kind], overage[kind], seconds[kind])
        for kind in sorted(rules_by_type)
    )
    return Invoice(
        customer=customer,
        timeframe=timeframe,
        lines=lines,
        total=sum(line.total for line in lines),
        overage_activations=sum(line.overage_activations for line in lines),
        final=as_of >= timeframe.end,
        as_of=as_of,
        evidence=Evidence(chain_id, contract, from_block, to_block, tuple(evidence)),
    )


def _line(timeframe_id: int, kind: int, rules: Rules, activations: int, overage: int, seconds: int) -> Line:
    billable_activations = max(0, activations - rules.included_activations)
    billable_seconds = max(0, seconds - rules.included_seconds)
    activation_amount = billable_activations * rules.price_per_activation
    seconds_amount = billable_seconds * rules.price_per_second
    return Line(
        instance_type=kind,
        rules_hash=rules_hash(timeframe_id, kind, rules),
        activations=activations,
        overage_activations=overage,
        included_activations=rules.included_activations,
        billable_activations=billable_activations,
        price_per_activation=rules.price_per_activation,
        activation_amount=activation_amount,
        seconds=seconds,
        included_seconds=rules.included_seconds,
        billable_seconds=billable_seconds,
        price_per_second=rules.price_per_second,
        seconds_amount=seconds_amount,
        total=activation_amount + seconds_amount,
    )


def _address(value: str, what: str) -> str:
    try:
        return to_checksum_address(value)
    except (ValueError, TypeError) as exc:
        raise InvoiceError(f"{what} {value!r} is not an address") from exc


# ---------------------------------------------------------------------- gathering inputs


def timeframe_from_events(events: Iterable[MeterEvent], timeframe_id: int) -> Timeframe:
    """The timeframe as its ``TimeframeCreated`` event announced it."""
    for event in events:
        if isinstance(event, TimeframeCreated) and event.timeframe == timeframe_id:
            return event.as_timeframe()
    raise InvoiceError(
        f"timeframe {timeframe_id} is not among the indexed events: check the id, or sync the indexer first"
    )


def rules_from_events(events: Iterable[MeterEvent], timeframe_id: int) -> dict[int, Rules]:
    """The rules of each instance type in ``timeframe_id``: the last ``RulesSet`` wins (the contract accepts them
    only before the timeframe starts, so the last one is the one in force). Each event's rules hash is checked."""
    found: dict[int, Rules] = {}
    for event in sorted((e for e in events if isinstance(e, RulesSet)), key=lambda e: e.position):
        if event.timeframe != timeframe_id:
            continue
        if rules_hash(event.timeframe, event.instance_type, event.rules) != event.rules_hash:
            raise InvoiceError(
                f"RulesSet in tx 0x{event.tx_hash.hex()} does not match its own rules hash: the log is corrupt"
            )
        found[event.instance_type] = event.rules
    return found


def invoice_from_store(
    store: Store,
    customer: str,
    timeframe_id: int,
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    as_of: int | None = None,
) -> Invoice:
    """The invoice of ``customer`` for ``timeframe_id`` from an event database.

    The block range defaults to everything indexed (the store's first block to its cursor); ``as_of`` defaults to
    the stored timestamp of ``to_block`` (known for the end of every indexed range).
    """
    first, last = store.first_block, store.last_block
    if first is None or last is None:
        raise InvoiceError(f"the event database {store.path} is empty: sync the indexer first")
    from_block = first if from_block is None else from_block
    to_block = last if to_block is None else to_block
    if from_block < first:
        raise InvoiceError(
            f"the event database starts at block {first}, after the requested block {from_block}: "
            f"index into a database that starts at block {from_block}"
        )
    if to_block > last:
        raise InvoiceError(f"the event database is indexed up to block {last}, not {to_block}: sync the indexer")
    if as_of is None:
        block = store.block(to_block)
        if block is None or block.timestamp is None:
            raise InvoiceError(f"the timestamp of block {to_block} is not stored: pass as_of explicitly")
        as_of = block.timestamp
    setup = store.events(timeframe=timeframe_id, names=[TimeframeCreated.name, RulesSet.name], to_block=to_block)
    usage = store.events(timeframe=timeframe_id, customer=customer, from_block=from_block, to_block=to_block)
    return compute_invoice(
        customer,
        timeframe_from_events(setup, timeframe_id),
        rules_from_events(setup, timeframe_id),
        usage,
        chain_id=store.chain_id,
        contract=store.contract,
        from_block=from_block,
        to_block=to_block,
        as_of=as_of,
    )


def invoices_for_timeframe(store: Store, timeframe_id: int, *, to_block: int | None = None) -> list[Invoice]:
    """The invoice of every customer seen in ``timeframe_id`` (see :meth:`Store.customers`), by address."""
    return [
        invoice_from_store(store, customer, timeframe_id, to_block=to_block)
        for customer in store.customers(timeframe_id)
    ]


# ---------------------------------------------------------------------- canonical JSON and hash

_LINE_KEYS = tuple(f.name for f in Line.__dataclass_fields__.values())
_EVIDENCE_EVENT_KEYS = ("block_number", "event", "instance_id", "log_index", "tx_hash")
_TOP_KEYS = frozenset(
    {"version", "customer", "currency", "timeframe", "lines", "total", "overage_activations", "final", "as_of",
     "evidence"}
)


def to_dict(invoice: Invoice) -> dict[str, Any]:
    """The invoice as the JSON document it is hashed as (without ``hash``); for ``--json`` output and comparisons."""

    def hexed(raw: bytes) -> str:
        return "0x" + raw.hex()

    return {
        "version": invoice.version,
        "customer": invoice.customer,
        "currency": invoice.currency,
        "timeframe": {"id": invoice.timeframe.id, "start": invoice.timeframe.start, "end": invoice.timeframe.end},
        "lines": [
            {key: hexed(value) if isinstance(value, bytes) else value for key, value in vars(line).items()}
            for line in invoice.lines
        ],
        "total": invoice.total,
        "overage_activations": invoice.overage_activations,
        "final": invoice.final,
        "as_of": invoice.as_of,
        "evidence": {
            "chain_id": invoice.evidence.chain_id,
            "contract": invoice.evidence.contract,
            "from_block": invoice.evidence.from_block,
            "to_block": invoice.evidence.to_block,
            "events": [
                {
                    "block_number": e.block_number,
                    "log_index": e.log_index,
                    "tx_hash": hexed(e.tx_hash),
                    "event": e.event,
                    "instance_id": hexed(e.instance_id),
                }
                for e in invoice.evidence.events
            ],
        },
    }


def _dump(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def to_canonical_json(invoice: Invoice) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, integers only, lowercase ``0x`` hex, checksummed
    addresses, ASCII. The same invoice always gives the same bytes."""
    return _dump(to_dict(invoice))


def invoice_hash(invoice: Invoice) -> bytes:
    """keccak-256 of :func:`to_canonical_json`: what the provider anchors with ``anchorInvoice``."""
    return keccak(to_canonical_json(invoice))


def to_json(invoice: Invoice) -> bytes:
    """The invoice file: the canonical JSON plus a ``hash`` field (which is not itself hashed)."""
    document = to_dict(invoice)
    document["hash"] = "0x" + invoice_hash(invoice).hex()
    return _dump(document)


def _reject_float(text: str) -> Any:
    raise InvoiceError(f"invoice numbers must be integers, found {text}")


def from_json(data: bytes | str, *, check_hash: bool = True) -> Invoice:
    """Read an invoice file, checking every field's presence and type; :class:`InvoiceError` says what is wrong.

    A ``hash`` field, if present, must match the content unless ``check_hash`` is False (``verify`` reports a
    wrong hash as one of its differences instead).
    """
    try:
        document = json.loads(data, parse_float=_reject_float, parse_constant=_reject_float)
    except InvoiceError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvoiceError(f"the invoice is not valid JSON: {exc}") from exc
    reader = _Reader(document, "invoice")
    claimed = document.get("hash") if isinstance(document, dict) else None
    reader.keys(_TOP_KEYS | ({"hash"} if claimed is not None else set()))
    version = reader.integer("version")
    if version != INVOICE_VERSION:
        raise InvoiceError(f"invoice format version {version} is not supported (this metering reads {INVOICE_VERSION})")
    tf = reader.child("timeframe")
    tf.keys({"id", "start", "end"})
    timeframe = Timeframe(
        id=tf.integer("id"), start=tf.integer("start"), end=tf.integer("end"), currency=reader.string("currency")
    )
    lines = []
    for index, raw_line in enumerate(reader.array("lines")):
        item = _Reader(raw_line, f"lines[{index}]")
        item.keys(set(_LINE_KEYS))
        numbers = {key: item.integer(key) for key in _LINE_KEYS if key != "rules_hash"}
        lines.append(Line(rules_hash=item.hex32("rules_hash"), **numbers))
    ev = reader.child("evidence")
    ev.keys({"chain_id", "contract", "from_block", "to_block", "events"})
    events = []
    for index, raw_event in enumerate(ev.array("events")):
        item = _Reader(raw_event, f"evidence.events[{index}]")
        item.keys(set(_EVIDENCE_EVENT_KEYS))
        events.append(
            EvidenceEvent(
                block_number=item.integer("block_number"),
                log_index=item.integer("log_index"),
                tx_hash=item.hex32("tx_hash"),
                event=item.string("event"),
                instance_id=item.hex32("instance_id"),
            )
        )
    invoice = Invoice(
        customer=reader.address("customer"),
        timeframe=timeframe,
        lines=tuple(lines),
        total=reader.integer("total"),
        overage_activations=reader.integer("overage_activations"),
        final=reader.boolean("final"),
        as_of=reader.integer("as_of"),
        evidence=Evidence(
            chain_id=ev.integer("chain_id"),
            contract=ev.address("contract"),
            from_block=ev.integer("from_block"),
            to_block=ev.integer("to_block"),
            events=tuple(events),
        ),
        version=version,
    )
    if claimed is not None:
        stated = reader.hex32("hash")
        if check_hash and stated != invoice_hash(invoice):
            raise InvoiceError(
                f"the invoice's hash field 0x{stated.hex()} does not match its content "
                f"(0x{invoice_hash(invoice).hex()}): the file was changed after it was issued"
            )
    return invoice


def read_invoice(path: str | Path, *, check_hash: bool = True) -> Invoice:
    """:func:`from_json` of a file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvoiceError(f"cannot read the invoice file {path}: {exc.strerror or exc}") from exc
    return from_json(data, check_hash=check_hash)


def stated_hash(data: bytes | str) -> bytes | None:
    """The ``hash`` field an invoice file states about itself, if any (not checked)."""
    try:
        document = json.loads(data, parse_float=_reject_float, parse_constant=_reject_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvoiceError(f"the invoice is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or "hash" not in document:
        return None
    return _Reader(document, "invoice").hex32("hash")


class _Reader:
    """Typed access to one JSON object of an invoice, with errors that name the field."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise InvoiceError(f"{where} must be a JSON object")
        self._value: dict[str, Any] = value
        self._where = where

    def _get(self, key: str) -> Any:
        if key not in self._value:
            raise InvoiceError(f"{self._where}.{key} is missing")
        return self._value[key]

    def keys(self, expected: set[str] | frozenset[str]) -> None:
        missing = sorted(expected - self._value.keys())
        if missing:
            raise InvoiceError(f"{self._where} is missing {', '.join(missing)}")
        unknown = sorted(self._value.keys() - expected)
        if unknown:
            raise InvoiceError(f"{self._where} has unknown fields {', '.join(unknown)}")

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvoiceError(f"{self._where}.{key} must be a non-negative integer, found {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise InvoiceError(f"{self._where}.{key} must be true or false, found {value!r}")
        return value

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise InvoiceError(f"{self._where}.{key} must be a non-empty string, found {value!r}")
        return value

    def hex32(self, key: str) -> bytes:
        value = self.string(key)
        body = value[2:]
        if not value.startswith("0x") or len(body) != 64 or body != body.lower():
            raise InvoiceError(f"{self._where}.{key} must be 0x and 64 lowercase hex digits, found {value!r}")
        try:
            return bytes.fromhex(body)
        except ValueError as exc:
            raise InvoiceError(f"{self._where}.{key} is not hex: {value!r}") from exc

    def address(self, key: str) -> str:
        value = self.string(key)
        if not is_checksum_address(value):
            raise InvoiceError(f"{self._where}.{key} must be a checksummed address, found {value!r}")
        return value

    def array(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise InvoiceError(f"{self._where}.{key} must be a JSON array")
        return value

    def child(self, key: str) -> _Reader:
        return _Reader(self._get(key), f"{self._where}.{key}")


# ---------------------------------------------------------------------- CSV

_CSV_COLUMNS = ("instance_type", *(key for key in _LINE_KEYS if key != "instance_type"), "currency")
_CSV_SUMMED = ("activations", "overage_activations", "activation_amount", "seconds", "seconds_amount", "total")


def to_csv(invoice: Invoice) -> str:
    """One row per line and a ``total`` row (sums of counts and amounts; rates and quotas left empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for line in invoice.lines:
        values = vars(line)
        writer.writerow(
            [
                "0x" + values[c].hex() if c == "rules_hash" else invoice.currency if c == "currency" else values[c]
                for c in _CSV_COLUMNS
            ]
        )
    totals: dict[str, object] = {c: sum(getattr(line, c) for line in invoice.lines) for c in _CSV_SUMMED}
    totals["total"] = invoice.total
    writer.writerow(
        ["total" if c == "instance_type" else invoice.currency if c == "currency" else totals.get(c, "")
         for c in _CSV_COLUMNS]
    )
    return out.getvalue()

