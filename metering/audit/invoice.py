"""Invoices: a pure function from the rules and the contract's events to an immutable, hashable document.

Why pure: the provider, the customer and an auditor each run :func:`compute_invoice` over the same events and must
get the same integers, and the same bytes from :func:`to_canonical_json`, hence the same :func:`invoice_hash` that
the provider anchors on chain. Nothing here reads the clock, the network or a file (except :func:`read_invoice`).
Which events and blocks an invoice covers, so that the final invoice is one document whoever computes it and
whenever, is defined in :mod:`metering.audit.billing`, which gathers them from the event database.

What is billed, per (customer, timeframe, instance type), mirroring the contract's ``Usage`` counters so every
line can be cross-checked on chain:

* **the evidence** is every event that changes what is billed: ``ActivationGranted`` and ``LeaseContinued`` (a lease
  starts), ``LeaseRenewed`` (it is extended), ``InstanceDeactivated``, ``InstanceClosedByProvider`` and
  ``InstanceStoppedByCustomer`` (it stops before its end: by its agent, the provider or, contract v3, the
  customer). ``LeaseExpired`` is never evidence: billing had already stopped at the lease end, and anyone may close
  an expired lease at any later time, so it must not change the invoice. Denials and replays count nothing.
* **activations**: each grant; **continuations**: each lease carried over from the previous timeframe (not an
  activation, priced apart); either may be *overage* (granted beyond a soft limit), shown apart.
* **seconds**: each lease from its ``started_at`` (a continuation: the timeframe's start, or the second its seat
  became free when another lease held it since, contract v3) to where billing stopped:
  the stop, else its last lease end. A running *statement* at time ``as_of`` counts only the seconds up to
  ``as_of`` and shows the rest of the open leases as *committed*.
* **amounts**: each line is ``billable x unit_price / per`` with ``billable = max(0, quantity - included)``, prices
  in micro-units (millionths of the minor unit, :mod:`metering.money`), rounded down once per line to the minor unit
  of the currency (ISO 4217 decimals), in the customer's favour; the total is the sum of the lines. The contract's
  spending cap counts the same quantities rounded up, so an invoice never exceeds what the cap allowed.

The document (:func:`to_dict`) holds amounts and prices as decimal text in the currency's major unit (``"0.13"``,
``"0.0004"``): exact, readable, and never a float. Its bytes are RFC 8785 canonical JSON; the hash is keccak-256.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, overload

from eth_utils.address import is_checksum_address, to_checksum_address
from eth_utils.crypto import keccak

from metering._utils.jcs import CanonicalJsonError, canonical_json
from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    InstanceClosedByProvider,
    InstanceDeactivated,
    InstanceStoppedByCustomer,
    LeaseContinued,
    LeaseRenewed,
    MeterEvent,
)
from metering.errors import InvoiceError
from metering.money import (
    PRICE_SCALE,
    currency_decimals,
    format_micro,
    format_minor,
    normalize_currency,
    parse_amount,
    parse_price,
)
from metering.types import Rules, Timeframe, rules_hash, split_instance_id

__all__ = [
    "BILLING_EVENTS",
    "INVOICE_VERSION",
    "Charge",
    "Evidence",
    "EvidenceEvent",
    "EvidenceEvents",
    "Invoice",
    "Line",
    "compute_invoice",
    "compute_invoices",
    "from_json",
    "invoice_hash",
    "invoices_from_rows",
    "line_amount",
    "read_invoice",
    "rounding_rule",
    "stated_hash",
    "to_canonical_json",
    "to_csv",
    "to_dict",
    "to_json",
]

#: The invoice document format; a reader refuses other versions rather than misread them.
INVOICE_VERSION = 2

#: The events that change what is billed: an invoice's evidence (see the module docstring).
BILLING_EVENTS: tuple[type[MeterEvent], ...] = (
    ActivationGranted,
    LeaseContinued,
    LeaseRenewed,
    InstanceDeactivated,
    InstanceClosedByProvider,
    InstanceStoppedByCustomer,
)
_BILLING_NAMES = frozenset(cls.name for cls in BILLING_EVENTS)


class Charge(StrEnum):
    """What a line bills: starts, carried-over leases, or running time (its quantity is in seconds)."""

    ACTIVATIONS = "activations"
    CONTINUATIONS = "continuations"
    SECONDS = "seconds"


#: The order of an instance type's lines.
CHARGES = (Charge.ACTIVATIONS, Charge.CONTINUATIONS, Charge.SECONDS)


@dataclass(frozen=True)
class Line:
    """One charge of one instance type, priced under the rules ``rules_hash``.

    ``amount = billable * unit_price // (per * PRICE_SCALE)`` minor units, where ``unit_price`` is in micro-units
    per ``per`` units of the charge (``per`` is the rules' time unit for seconds, 1 otherwise). ``overage`` counts
    the part of ``quantity`` granted beyond a soft limit. On a statement, ``committed`` is what open leases hold
    beyond its point in time (seconds) and ``committed_amount`` what they will add to ``amount`` if they run out.
    """

    instance_type: int
    charge: Charge
    rules_hash: bytes
    quantity: int
    overage: int
    included: int
    billable: int
    unit_price: int
    per: int
    amount: int
    committed: int = 0
    committed_amount: int = 0


@dataclass(frozen=True)
class EvidenceEvent:
    """One event the invoice counted, with what it takes to find it on chain."""

    block_number: int
    log_index: int
    tx_hash: bytes
    event: str
    instance_id: bytes
    instance_type: int

    @property
    def agent(self) -> str:
        """The agent that held the instance (its id is namespaced by the agent)."""
        return split_instance_id(self.instance_id)[0]

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


#: An evidence event as plain values, in :class:`EvidenceEvent`'s field order.
EvidenceRow = tuple[int, int, bytes, str, bytes, int]

_new_object = object.__new__
_set_attribute = object.__setattr__


_Frozen = TypeVar("_Frozen")


def _made(cls: type[_Frozen], fields: dict[str, Any]) -> _Frozen:
    """``cls(**fields)`` for a frozen dataclass without ``__post_init__``, given every field, at under half the
    cost: its ``__init__`` assigns each field through ``object.__setattr__`` and does nothing else, so nothing is
    skipped. For the objects the invoice pass makes per event and per invoice (a million events make a million)."""
    made = _new_object(cls)
    _set_attribute(made, "__dict__", fields)
    return made


def _evidence_event(row: EvidenceRow) -> EvidenceEvent:
    """``EvidenceEvent(*row)``, made as :func:`_made` makes it."""
    block_number, log_index, tx_hash, event, instance_id, instance_type = row
    return _made(EvidenceEvent, {
        "block_number": block_number, "log_index": log_index, "tx_hash": tx_hash, "event": event,
        "instance_id": instance_id, "instance_type": instance_type,
    })


class EvidenceEvents(Sequence[EvidenceEvent]):
    """An invoice's evidence events, kept as plain value tuples and made into :class:`EvidenceEvent` objects only
    when read.

    Why: the invoice pass handles a million events where most callers only count them or write them out, and an
    object per event cost a third of the pass. It behaves as the tuple of events it stands for: equal to (and
    hashing as) a tuple of equal events, a slice is such a tuple, and it never changes."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[EvidenceRow]) -> None:
        self._rows = rows

    @property
    def rows(self) -> Sequence[EvidenceRow]:
        """The events as ``(block_number, log_index, tx_hash, event, instance_id, instance_type)``, without
        objects (what :func:`to_dict` reads)."""
        return self._rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> EvidenceEvent: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[EvidenceEvent, ...]: ...

    def __getitem__(self, index: int | slice) -> EvidenceEvent | tuple[EvidenceEvent, ...]:
        if isinstance(index, slice):
            return tuple(map(_evidence_event, self._rows[index]))
        return _evidence_event(self._rows[index])

    def __iter__(self) -> Iterator[EvidenceEvent]:
        return map(_evidence_event, self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvidenceEvents):
            return list(self._rows) == list(other._rows)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"EvidenceEvents({tuple(self)!r})"


@dataclass(frozen=True)
class Evidence:
    """Where the invoice's numbers come from: the contract, the block range read, and every counted event (a tuple
    of them, or :class:`EvidenceEvents` as the invoice pass makes them)."""

    chain_id: int
    contract: str
    from_block: int
    to_block: int
    events: tuple[EvidenceEvent, ...] | EvidenceEvents


@dataclass(frozen=True)
class Invoice:
    """The bill of one customer for one timeframe: ``final``, or a running statement as of ``as_of``.

    A final invoice bills every lease to where it stopped (``as_of`` is the timeframe's end); a statement bills the
    seconds up to ``as_of`` and shows the rest of the open leases in ``committed_total``. Amounts are minor units.
    """

    customer: str
    timeframe: Timeframe
    lines: tuple[Line, ...]
    total: int
    committed_total: int
    final: bool
    as_of: int
    evidence: Evidence
    version: int = field(default=INVOICE_VERSION)

    @property
    def currency(self) -> str:
        return self.timeframe.currency

    @property
    def decimals(self) -> int:
        return currency_decimals(self.timeframe.currency)

    def line(self, instance_type: int, charge: Charge | str = Charge.SECONDS) -> Line:
        for line in self.lines:
            if line.instance_type == instance_type and line.charge == charge:
                return line
        raise KeyError(f"the invoice has no {charge} line for instance type {instance_type}")


# ---------------------------------------------------------------------- computing


def line_amount(billable: int, unit_price: int, per: int) -> int:
    """``billable x unit_price / per`` micro-units, rounded down to whole minor units (exact integer arithmetic)."""
    return (billable * unit_price) // (per * PRICE_SCALE)


def rounding_rule(currency: str) -> str:
    """The rounding rule as the document states it (a function of the currency's ISO 4217 decimals only)."""
    decimals = currency_decimals(currency)
    return (
        "each line's amount is billable x unit_price / per, rounded down once to the minor unit "
        f"({decimals} decimals, ISO 4217); the total is the sum of the lines"
    )


@dataclass
class _Counts:
    activations: int = 0
    overage_activations: int = 0
    continuations: int = 0
    overage_continuations: int = 0
    seconds: int = 0
    committed: int = 0


class _Bill:
    """One customer's usage in one timeframe, fed its billing events in chain order.

    Memory holds the open leases only: a stopped lease is added to the seconds at once and forgotten. Events come
    in as billing rows (:meth:`take`), so decoded events (:meth:`feed`) and the store's rows share one code path.
    """

    def __init__(self, timeframe_id: int, types: Collection[int]) -> None:
        self._timeframe = timeframe_id
        self._types = types
        self.counts = {kind: _Counts() for kind in types}
        self.open: dict[bytes, list[int]] = {}  # instance id -> [instance type, started at, billed until]
        self.evidence: list[EvidenceRow] = []

    def feed(self, event: MeterEvent) -> None:
        if not isinstance(
            event,
            ActivationGranted | LeaseContinued | LeaseRenewed | InstanceDeactivated | InstanceClosedByProvider
            | InstanceStoppedByCustomer,
        ):  # pragma: no cover - callers feed BILLING_EVENTS only
            return
        self.take((
            (None, event.name, event.block_number, event.log_index, event.tx_hash, event.instance_id,
             event.instance_type, getattr(event, "started_at", 0), getattr(event, "lease_end", 0),
             getattr(event, "stopped_at", 0), getattr(event, "overage", False)),
        ), event.block_number, event.block_number)

    def take(self, rows: Iterable[BillingRow], from_block: int, to_block: int) -> bool:
        """Count this customer's billing rows (:data:`BillingRow`, in chain order; other rows and rows outside
        ``from_block..to_block`` are skipped). Returns whether any row lists the customer on the timeframe's
        invoices: a billing event in the range, or a decision (grant, denial, continuation) at any block.

        This loop runs once per event of the invoice pass (a million times for a million events), so it keeps its
        names local and makes no object per event but the evidence tuple."""
        listed = False
        types, opened, counts, append = self._types, self.open, self.counts, self.evidence.append
        billing, decisions, starts = _BILLING_NAMES, _DECISIONS, _STARTS
        for _, name, block, log_index, tx_hash, instance_id, kind, started_at, lease_end, stopped_at, overage in rows:
            if name not in billing or not from_block <= block <= to_block:
                if name in decisions:
                    listed = True
                continue
            listed = True
            if name in starts:
                if kind not in types:
                    raise InvoiceError(
                        f"instance 0x{instance_id.hex()} of type {kind} was granted in timeframe "
                        f"{self._timeframe}, which has no rules for that type"
                    )
                if instance_id in opened:
                    raise InvoiceError(f"instance 0x{instance_id.hex()} was granted twice in one timeframe")
                opened[instance_id] = [kind, started_at, lease_end]
                tally = counts[kind]
                if name == _GRANTED:
                    tally.activations += 1
                    if overage:
                        tally.overage_activations += 1
                else:
                    tally.continuations += 1
                    if overage:
                        tally.overage_continuations += 1
            else:  # a lease change: a renewal or a stop
                lease = opened.get(instance_id)
                if lease is None:
                    raise InvoiceError(
                        f"{name} of instance 0x{instance_id.hex()} (block {block}) without its grant among the "
                        f"events: index from the block where timeframe {self._timeframe} was created"
                    )
                kind = lease[0]
                if name == _RENEWED:
                    if lease_end > lease[2]:
                        lease[2] = lease_end
                else:
                    if not lease[1] <= stopped_at <= lease[2]:
                        raise InvoiceError(
                            f"{name} of instance 0x{instance_id.hex()} stops at {stopped_at}, outside "
                            f"its lease [{lease[1]}, {lease[2]}]: the events are inconsistent"
                        )
                    counts[kind].seconds += stopped_at - lease[1]
                    del opened[instance_id]
            append((block, log_index, tx_hash, name, instance_id, kind))
        return listed

    def close(self, as_of: int | None) -> None:
        """Bill the leases still open: to their end (final), or up to ``as_of`` with the rest committed."""
        by_kind = self.counts
        if as_of is None:
            for kind, started_at, billed_until in self.open.values():
                by_kind[kind].seconds += billed_until - started_at
        else:
            for kind, started_at, billed_until in self.open.values():
                counts = by_kind[kind]
                counts.seconds += max(0, min(billed_until, as_of) - started_at)
                counts.committed += max(0, billed_until - max(as_of, started_at))
        self.open.clear()


_GRANTED = ActivationGranted.name
_CONTINUED = LeaseContinued.name
_RENEWED = LeaseRenewed.name
_STARTS = frozenset({_GRANTED, _CONTINUED})
_LEASE_CHANGES = frozenset(
    {LeaseRenewed.name, InstanceDeactivated.name, InstanceClosedByProvider.name, InstanceStoppedByCustomer.name}
)
assert _STARTS | _LEASE_CHANGES == _BILLING_NAMES, "every billing event starts a lease or changes one"


def _line(
    kind: int, charge: Charge, digest: bytes, quantity: int, overage: int, included: int, price: int, per: int,
    committed: int,
) -> Line:
    """One line, priced as :class:`Line` says (``billable = max(0, quantity - included)``, amounts by
    :func:`line_amount`); with nothing committed, ``committed_amount`` is 0 without working it out."""
    billable = quantity - included if quantity > included else 0
    amount = line_amount(billable, price, per)
    later = line_amount(max(0, quantity + committed - included), price, per) - amount if committed else 0
    return _made(Line, {
        "instance_type": kind, "charge": charge, "rules_hash": digest, "quantity": quantity, "overage": overage,
        "included": included, "billable": billable, "unit_price": price, "per": per, "amount": amount,
        "committed": committed, "committed_amount": later,
    })


_ACTIVATIONS, _CONTINUATIONS, _SECONDS = CHARGES


#: What a charge's line reads off the rules: (included, unit price, per), in :data:`CHARGES` order.
_Terms = tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]


@dataclass(frozen=True, slots=True)
class _Pricing:
    """One instance type's rules as its three lines read them, with its rules hash and the lines of no usage,
    worked out once per invoice pass (:meth:`of`) rather than once per invoice.

    Why: a pass makes one invoice per customer (100 events each in the benchmark's stores), and hashing the rules,
    reading the prices off them and building lines that are the same for every customer without usage of a charge
    cost 8 % of the pass at 10,000 events. Lines are immutable, so customers share the idle ones."""

    kind: int
    digest: bytes
    terms: _Terms
    idle: tuple[Line, Line, Line]  # the lines of no usage, in CHARGES order

    @classmethod
    def of(cls, timeframe_id: int, kind: int, rules: Rules) -> _Pricing:
        digest = rules_hash(timeframe_id, kind, rules)
        terms: _Terms = (
            (rules.included_activations, rules.price_per_activation, 1),
            (0, rules.price_per_continuation, 1),
            (rules.included_seconds, rules.price_per_time_unit, rules.time_unit_seconds),
        )
        idle = (_line(kind, _ACTIVATIONS, digest, 0, 0, *terms[0], 0),
                _line(kind, _CONTINUATIONS, digest, 0, 0, *terms[1], 0),
                _line(kind, _SECONDS, digest, 0, 0, *terms[2], 0))
        return cls(kind, digest, terms, idle)

    def lines(self, counts: _Counts) -> tuple[Line, Line, Line]:
        """The activations, continuations and seconds lines of ``counts`` (in :data:`CHARGES` order)."""
        kind, digest, terms, idle = self.kind, self.digest, self.terms, self.idle
        # a charge without usage (no continuation, mostly) is the same line for every customer: made once
        activations = idle[0]
        if counts.activations or counts.overage_activations:
            activations = _line(kind, _ACTIVATIONS, digest, counts.activations, counts.overage_activations,
                                *terms[0], 0)
        continuations = idle[1]
        if counts.continuations or counts.overage_continuations:
            continuations = _line(kind, _CONTINUATIONS, digest, counts.continuations, counts.overage_continuations,
                                  *terms[1], 0)
        seconds = idle[2]
        if counts.seconds or counts.committed:
            seconds = _line(kind, _SECONDS, digest, counts.seconds, 0, *terms[2], counts.committed)
        return activations, continuations, seconds


def _pricing(timeframe_id: int, rules_by_type: Mapping[int, Rules]) -> tuple[_Pricing, ...]:
    """Each instance type's :class:`_Pricing`, in the order of its lines (ascending type)."""
    return tuple(_Pricing.of(timeframe_id, kind, rules_by_type[kind]) for kind in sorted(rules_by_type))


def compute_invoices(
    timeframe: Timeframe,
    rules_by_type: Mapping[int, Rules],
    events: Iterable[MeterEvent],
    *,
    chain_id: int,
    contract: str,
    from_block: int,
    to_block: int,
    as_of: int | None = None,
    customers: Iterable[str] = (),
) -> dict[str, Invoice]:
    """The invoices of every customer with billing events in ``timeframe`` (and of ``customers``, billed or not),
    from one pass over ``events``; keyed and ordered by address.

    ``events`` may hold anything (other timeframes, blocks outside ``from_block..to_block``, other event kinds);
    only the :data:`BILLING_EVENTS` of the timeframe in the block range count. ``rules_by_type`` holds the rules in
    force in the timeframe: every type in it gets its lines, even with no usage. ``as_of=None`` gives final invoices
    (every lease billed to where it stopped); a timestamp gives running statements billing seconds up to it (give
    the blocks up to that time). Raises :class:`InvoiceError` when the events are not a consistent history.
    """
    if not 0 <= from_block <= to_block:
        raise InvoiceError(f"block range {from_block}..{to_block} is empty or negative")
    contract = _address(contract, "contract")
    bills: dict[str, _Bill] = {
        _address(customer, "customer"): _Bill(timeframe.id, rules_by_type) for customer in customers
    }
    relevant = sorted(
        (
            e for e in events
            if e.name in _BILLING_NAMES and from_block <= e.block_number <= to_block
            and getattr(e, "timeframe", None) == timeframe.id
        ),
        key=lambda e: e.position,
    )
    for event in relevant:
        customer: str = getattr(event, "customer")  # noqa: B009 - every billing event has one
        bill = bills.get(customer)
        if bill is None:
            bill = bills[customer] = _Bill(timeframe.id, rules_by_type)
        bill.feed(event)
    pricing = _pricing(timeframe.id, rules_by_type) if bills else ()  # rules are hashed only for an invoice
    return {
        customer: _invoice(customer, timeframe, pricing, bills[customer], chain_id, contract, from_block, to_block,
                           as_of)
        for customer in sorted(bills)
    }


def _invoice(
    customer: str, timeframe: Timeframe, pricing: Sequence[_Pricing], bill: _Bill, chain_id: int, contract: str,
    from_block: int, to_block: int, as_of: int | None,
) -> Invoice:
    bill.close(as_of)
    counts = bill.counts
    lines: list[Line] = []
    total = committed_total = 0
    for priced in pricing:
        made = priced.lines(counts[priced.kind])
        lines += made
        total += made[0].amount + made[1].amount + made[2].amount
        committed_total += made[0].committed_amount + made[1].committed_amount + made[2].committed_amount
    evidence = _made(Evidence, {
        "chain_id": chain_id, "contract": contract, "from_block": from_block, "to_block": to_block,
        "events": EvidenceEvents(bill.evidence),
    })
    return _made(Invoice, {
        "customer": customer,
        "timeframe": timeframe,
        "lines": tuple(lines),
        "total": total,
        "committed_total": committed_total,
        "final": as_of is None,
        "as_of": timeframe.end if as_of is None else as_of,
        "evidence": evidence,
        "version": INVOICE_VERSION,
    })


#: A billing row: (customer, event, block_number, log_index, tx_hash, instance_id, instance_type, started_at,
#: lease_end, stopped_at, overage), fields an event does not have being None
#: (:data:`metering.audit.store.BILLING_COLUMNS`).
BillingRow = tuple[Any, ...]

_DECISIONS = frozenset({ActivationGranted.name, ActivationDenied.name, LeaseContinued.name})
_CUSTOMER = itemgetter(0)


def invoices_from_rows(
    timeframe: Timeframe,
    rules_by_type: Mapping[int, Rules],
    rows: Iterable[BillingRow],
    *,
    chain_id: int,
    contract: str,
    from_block: int,
    to_block: int,
    as_of: int | None = None,
) -> Iterator[Invoice]:
    """The invoices :func:`compute_invoices` gives, streamed from billing rows grouped by customer (ascending
    address) and in chain order within each customer, as the event database's ``events_by_customer`` index holds
    them: each invoice is yielded as soon as its customer's rows end, so memory holds one customer at a time.

    ``rows`` are the timeframe's billing events and denials at any block; only billing events in
    ``from_block..to_block`` count. A customer gets an invoice when it had a decision in the timeframe (a grant,
    a denial, a continuation; at any block, as :meth:`metering.audit.store.Store.customers` lists them) or billing
    events in the range. Raises :class:`InvoiceError` when the events are not a consistent history.
    """
    if not 0 <= from_block <= to_block:
        raise InvoiceError(f"block range {from_block}..{to_block} is empty or negative")
    contract = _address(contract, "contract")
    pricing: tuple[_Pricing, ...] | None = None  # made with the first invoice: rules are hashed only for one
    previous: str | None = None
    for customer, own in groupby(rows, _CUSTOMER):
        if previous is not None and customer <= previous:
            raise InvoiceError("billing rows must come grouped by customer, in ascending address order")
        previous = customer
        bill = _Bill(timeframe.id, rules_by_type)
        if bill.take(own, from_block, to_block):
            if pricing is None:
                pricing = _pricing(timeframe.id, rules_by_type)
            yield _invoice(customer, timeframe, pricing, bill, chain_id, contract, from_block, to_block, as_of)


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
    as_of: int | None = None,
) -> Invoice:
    """The invoice of ``customer`` for ``timeframe`` from the events in blocks ``from_block..to_block``: final when
    ``as_of`` is None, else a running statement as of that timestamp (see :func:`compute_invoices`).

    :mod:`metering.audit.billing` chooses the canonical block range and ``as_of``; this function only counts.

    >>> compute_invoice("0x...", timeframe, {1: rules}, events, chain_id=1, contract="0x...",
    ...                 from_block=7, to_block=100)  # doctest: +SKIP
    """
    address = _address(customer, "customer")
    mine = (e for e in events if getattr(e, "customer", None) == address)
    return compute_invoices(
        timeframe, rules_by_type, mine, chain_id=chain_id, contract=contract, from_block=from_block,
        to_block=to_block, as_of=as_of, customers=[address],
    )[address]


def _address(value: str, what: str) -> str:
    try:
        return _checksummed(value)
    except (ValueError, TypeError) as exc:  # TypeError also for a value that cannot be a cache key
        raise InvoiceError(f"{what} {value!r} is not an address") from exc


@lru_cache(maxsize=4096)
def _checksummed(value: str) -> str:
    """``to_checksum_address``, remembered: every invoice pass checksums its contract's address (some 18 us: a
    keccak and eth_utils' checks), and a process meets few contracts and customers again and again."""
    return to_checksum_address(value)


# ---------------------------------------------------------------------- the document: canonical JSON and hash

_LINE_KEYS = frozenset(
    {"instance_type", "charge", "quantity", "overage", "included", "billable", "unit_price", "per", "amount",
     "committed", "committed_amount", "rules_hash"}
)
_EVIDENCE_EVENT_KEYS = frozenset({"block_number", "log_index", "tx_hash", "event", "instance_id", "agent",
                                  "instance_type"})
_TOP_KEYS = frozenset(
    {"version", "final", "customer", "timeframe", "currency", "decimals", "rounding", "as_of", "lines", "total",
     "committed_total", "evidence"}
)


def _hexed(raw: bytes) -> str:
    return "0x" + raw.hex()


def to_dict(invoice: Invoice) -> dict[str, Any]:
    """The invoice as the JSON document it is hashed as (without ``hash``); for ``--json`` output and comparisons.

    Amounts and prices are decimal text in the currency's major unit, at full precision; counts, seconds, ids and
    block numbers are integers.
    """
    cur = invoice.currency
    return {
        "version": invoice.version,
        "final": invoice.final,
        "customer": invoice.customer,
        "timeframe": {"id": invoice.timeframe.id, "start": invoice.timeframe.start, "end": invoice.timeframe.end},
        "currency": cur,
        "decimals": invoice.decimals,
        "rounding": rounding_rule(cur),
        "as_of": invoice.as_of,
        "lines": [
            {
                "instance_type": line.instance_type,
                "charge": str(line.charge),
                "quantity": line.quantity,
                "overage": line.overage,
                "included": line.included,
                "billable": line.billable,
                "unit_price": format_micro(line.unit_price, cur),
                "per": line.per,
                "amount": format_minor(line.amount, cur),
                "committed": line.committed,
                "committed_amount": format_minor(line.committed_amount, cur),
                "rules_hash": _hexed(line.rules_hash),
            }
            for line in invoice.lines
        ],
        "total": format_minor(invoice.total, cur),
        "committed_total": format_minor(invoice.committed_total, cur),
        "evidence": {
            "chain_id": invoice.evidence.chain_id,
            "contract": invoice.evidence.contract,
            "from_block": invoice.evidence.from_block,
            "to_block": invoice.evidence.to_block,
            "events": [
                {
                    "block_number": block_number,
                    "log_index": log_index,
                    "tx_hash": _hexed(tx_hash),
                    "event": event,
                    "instance_id": _hexed(instance_id),
                    "agent": split_instance_id(instance_id)[0],
                    "instance_type": instance_type,
                }
                for block_number, log_index, tx_hash, event, instance_id, instance_type in _evidence_rows(
                    invoice.evidence.events
                )
            ],
        },
    }


def _evidence_rows(events: Sequence[EvidenceEvent]) -> Iterable[EvidenceRow]:
    """The evidence events as value tuples (as the invoice pass keeps them, or read off the objects)."""
    if isinstance(events, EvidenceEvents):
        return events.rows
    return ((e.block_number, e.log_index, e.tx_hash, e.event, e.instance_id, e.instance_type) for e in events)


def _dump(document: Mapping[str, Any]) -> bytes:
    try:
        return canonical_json(document)
    except CanonicalJsonError as exc:
        raise InvoiceError(f"the invoice cannot be written as canonical JSON: {exc}") from exc


def to_canonical_json(invoice: Invoice) -> bytes:
    """The bytes that are hashed: RFC 8785 canonical JSON of :func:`to_dict` (sorted keys, no whitespace, no floats,
    lowercase ``0x`` hex, checksummed addresses). The same invoice always gives the same bytes."""
    return _dump(to_dict(invoice))


def invoice_hash(invoice: Invoice) -> bytes:
    """keccak-256 of :func:`to_canonical_json`: what the provider anchors with ``anchorInvoice``."""
    return keccak(to_canonical_json(invoice))


def to_json(invoice: Invoice) -> bytes:
    """The invoice file: the canonical document plus a ``hash`` field (which is not itself hashed)."""
    document = to_dict(invoice)
    document["hash"] = _hexed(invoice_hash(invoice))
    return _dump(document)


def _reject_float(text: str) -> Any:
    raise InvoiceError(f"invoice numbers must be integers (amounts are text), found {text}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:  # two readers could otherwise see two different invoices in one file
            raise InvoiceError(f"the invoice repeats the key {key!r}")
        result[key] = value
    return result


def _parse(data: bytes | str) -> Any:
    try:
        return json.loads(
            data, parse_float=_reject_float, parse_constant=_reject_float, object_pairs_hook=_unique_keys
        )
    except InvoiceError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvoiceError(f"the invoice is not valid JSON: {exc}") from exc


def from_json(data: bytes | str, *, check_hash: bool = True) -> Invoice:
    """Read an invoice file, checking every field's presence, type and form; :class:`InvoiceError` names the field.

    A ``hash`` field, if present, must match the content unless ``check_hash`` is False (``verify`` reports a
    wrong hash as one of its differences instead).
    """
    document = _parse(data)
    reader = _Reader(document, "invoice")
    claimed = document.get("hash")
    reader.keys(_TOP_KEYS | ({"hash"} if claimed is not None else set()))
    version = reader.integer("version")
    if version != INVOICE_VERSION:
        raise InvoiceError(f"invoice format version {version} is not supported (this metering reads {INVOICE_VERSION})")
    try:
        currency = normalize_currency(reader.string("currency"))
    except ValueError as exc:
        raise InvoiceError(f"invoice.currency: {exc}") from None
    if currency != document["currency"]:
        raise InvoiceError(f"invoice.currency must be the upper-case code {currency!r}")
    if reader.integer("decimals") != currency_decimals(currency):
        raise InvoiceError(f"invoice.decimals must be {currency_decimals(currency)} for {currency} (ISO 4217)")
    if reader.string("rounding") != rounding_rule(currency):
        raise InvoiceError(f"invoice.rounding is not the rule this metering applies: {rounding_rule(currency)!r}")
    tf = reader.child("timeframe")
    tf.keys({"id", "start", "end"})
    timeframe = Timeframe(id=tf.integer("id"), start=tf.integer("start"), end=tf.integer("end"), currency=currency)
    lines = []
    for index, raw_line in enumerate(reader.array("lines")):
        item = _Reader(raw_line, f"lines[{index}]")
        item.keys(_LINE_KEYS)
        charge_text = item.string("charge")
        if charge_text not in {str(c) for c in Charge}:
            raise InvoiceError(f"lines[{index}].charge must be one of {', '.join(Charge)}, found {charge_text!r}")
        per = item.integer("per")
        if per < 1:
            raise InvoiceError(f"lines[{index}].per must be at least 1, found {per}")
        lines.append(
            Line(
                instance_type=item.integer("instance_type"),
                charge=Charge(charge_text),
                rules_hash=item.hex32("rules_hash"),
                quantity=item.integer("quantity"),
                overage=item.integer("overage"),
                included=item.integer("included"),
                billable=item.integer("billable"),
                unit_price=item.price("unit_price", currency),
                per=per,
                amount=item.amount("amount", currency),
                committed=item.integer("committed"),
                committed_amount=item.amount("committed_amount", currency),
            )
        )
    ev = reader.child("evidence")
    ev.keys({"chain_id", "contract", "from_block", "to_block", "events"})
    events = []
    for index, raw_event in enumerate(ev.array("events")):
        item = _Reader(raw_event, f"evidence.events[{index}]")
        item.keys(_EVIDENCE_EVENT_KEYS)
        entry = EvidenceEvent(
            block_number=item.integer("block_number"),
            log_index=item.integer("log_index"),
            tx_hash=item.hex32("tx_hash"),
            event=item.string("event"),
            instance_id=item.hex32("instance_id"),
            instance_type=item.integer("instance_type"),
        )
        if entry.event not in _BILLING_NAMES:
            raise InvoiceError(f"evidence.events[{index}].event {entry.event!r} is not an event that bills")
        try:
            agent = entry.agent
        except ValueError:
            raise InvoiceError(f"evidence.events[{index}].instance_id is not an instance id") from None
        if item.address("agent") != agent:
            raise InvoiceError(f"evidence.events[{index}].agent is not the agent of its instance id ({agent})")
        events.append(entry)
    invoice = Invoice(
        customer=reader.address("customer"),
        timeframe=timeframe,
        lines=tuple(lines),
        total=reader.amount("total", currency),
        committed_total=reader.amount("committed_total", currency),
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
    document = _parse(data)
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

    def amount(self, key: str, currency: str) -> int:
        """Minor units from decimal text with exactly the currency's decimals (``"15.50"``)."""
        text = self.string(key)
        try:
            value = parse_amount(text, currency, what=f"{self._where}.{key}")
        except ValueError as exc:
            raise InvoiceError(str(exc)) from None
        if format_minor(value, currency) != text:
            raise InvoiceError(
                f"{self._where}.{key} must be written {format_minor(value, currency)!r} "
                f"({currency_decimals(currency)} decimals), found {text!r}"
            )
        return value

    def price(self, key: str, currency: str) -> int:
        """Micro-units from decimal text at full precision (``"0.0004"``)."""
        text = self.string(key)
        try:
            value = parse_price(text, currency, what=f"{self._where}.{key}")
        except ValueError as exc:
            raise InvoiceError(str(exc)) from None
        if format_micro(value, currency) != text:
            raise InvoiceError(f"{self._where}.{key} must be written {format_micro(value, currency)!r}, found {text!r}")
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

_CSV_COLUMNS = ("instance_type", "charge", "quantity", "overage", "included", "billable", "unit_price", "per",
                "amount", "committed", "committed_amount", "currency", "rules_hash")


def to_csv(invoice: Invoice) -> str:
    """The lines of :func:`to_dict` as CSV rows (same names, same text), then a ``total`` row with the total and
    the committed total (other cells empty)."""
    document = to_dict(invoice)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for line in document["lines"]:
        writer.writerow([document["currency"] if c == "currency" else line[c] for c in _CSV_COLUMNS])
    totals = {"instance_type": "total", "amount": document["total"], "committed_amount": document["committed_total"],
              "currency": document["currency"]}
    writer.writerow([totals.get(c, "") for c in _CSV_COLUMNS])
    return out.getvalue()
