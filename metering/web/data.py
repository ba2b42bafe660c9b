"""What the auditor's pages show, computed on the server from the event database.

Charts are aggregated here, not in the browser: a customer's usage of a timeframe becomes a few hundred sample
points per instance type (running instances, seconds run, activations, amount billed so far), in one pass over that
customer's events, however many there are. Money stays integer (minor units); the page only formats it.

Times come from the events themselves (grants, continuations and stops carry their second; a lease's end is its
expiry), except for denials, whose block time is read from the node once and remembered in the database.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    InstanceClosedByProvider,
    InstanceDeactivated,
    InstanceStoppedByCustomer,
    LeaseContinued,
    LeaseRenewalDenied,
    LeaseRenewed,
    RulesSet,
    TimeframeCreated,
)
from metering.audit.invoice import line_amount
from metering.audit.store import Store
from metering.money import PRICE_SCALE
from metering.types import Rules, Timeframe, rules_hash

__all__ = [
    "CustomerUsage",
    "Denial",
    "RulesRow",
    "TimeframeRow",
    "TypeUsage",
    "customer_usage",
    "timeframe_rows",
]

#: Sample points per chart: enough for a smooth line, few enough for a fast page at any number of events.
SAMPLES = 240


@dataclass(frozen=True)
class RulesRow:
    """The rules of one type in one timeframe, with the block and transaction that set them."""

    instance_type: int
    rules: Rules
    rules_hash: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class TimeframeRow:
    timeframe: Timeframe
    created_block: int
    rules: tuple[RulesRow, ...]
    customers: tuple[str, ...]


def timeframe_rows(store: Store) -> list[TimeframeRow]:
    """Every timeframe with the rules in force per type (the last set before it started) and its customers."""
    created: dict[int, TimeframeCreated] = {}
    rules: dict[int, dict[int, RulesSet]] = {}
    for event in store.events(names=["TimeframeCreated", "RulesSet"]):
        if isinstance(event, TimeframeCreated):
            created[event.timeframe] = event
        elif isinstance(event, RulesSet):
            rules.setdefault(event.timeframe, {})[event.instance_type] = event
    rows = []
    for tf_id, event in sorted(created.items()):
        per_type = tuple(
            RulesRow(
                kind,
                ev.rules,
                "0x" + rules_hash(tf_id, kind, ev.rules).hex(),
                ev.block_number,
                _hex(ev.tx_hash),
            )
            for kind, ev in sorted(rules.get(tf_id, {}).items())
        )
        rows.append(TimeframeRow(event.as_timeframe(), event.block_number, per_type, tuple(store.customers(tf_id))))
    return rows


@dataclass(frozen=True)
class Denial:
    """A denied activation or renewal, placed on the timeline (``time`` is ``None`` when no node could tell it)."""

    time: int | None
    block_number: int
    instance_type: int
    reason: str
    instance_id: str
    tx_hash: str


@dataclass(frozen=True)
class TypeUsage:
    """One type's usage of one customer over a timeframe, sampled at ``times``."""

    instance_type: int
    rules: Rules | None
    times: list[int]
    running: list[int]
    seconds: list[int]
    activations: list[int]
    amount: list[int]  # minor units billed so far (rounded down, as an invoice line)
    denials: list[Denial] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerUsage:
    customer: str
    timeframe: Timeframe
    until: int
    types: list[TypeUsage]
    denials: list[Denial]
    events: int

    @property
    def total(self) -> list[int]:
        """The amount billed so far over all types, at each sample time."""
        if not self.types:
            return []
        return [sum(t.amount[i] for t in self.types) for i in range(len(self.types[0].times))]


_STARTS = frozenset({ActivationGranted.name, LeaseContinued.name})
_STOPS = frozenset({InstanceDeactivated.name, InstanceClosedByProvider.name, InstanceStoppedByCustomer.name})
_DENIALS = (ActivationDenied.name, LeaseRenewalDenied.name)


@dataclass
class _Instance:
    instance_type: int
    start: int
    end: int
    continuation: bool


def customer_usage(
    store: Store,
    timeframe: Timeframe,
    rules_by_type: dict[int, Rules],
    customer: str,
    *,
    until: int,
    block_time: Callable[[int], int | None] = lambda _number: None,
    samples: int = SAMPLES,
) -> CustomerUsage:
    """The usage of ``customer`` in ``timeframe`` up to ``until`` (a chain time), sampled ``samples`` times.

    ``block_time`` gives the timestamp of a block (for denials), or ``None`` when unknown.
    """
    end = max(timeframe.start + 1, min(timeframe.end, until))
    step = max(1, (end - timeframe.start) // max(1, samples - 1))
    times = [*range(timeframe.start, end, step), end]
    instances: dict[bytes, _Instance] = {}
    count = 0
    # The typed columns of the store's covering index: no table rows read, no event objects built.
    for _customer, name, _block, _index, _tx, instance, kind, started, lease_end, stopped, _overage in (
        store.billing_rows(timeframe.id, None, customer=customer)
    ):
        count += 1
        if name in _STARTS:
            instances[instance] = _Instance(kind, started, lease_end, name == LeaseContinued.name)
        elif name == LeaseRenewed.name:
            known = instances.get(instance)
            if known is not None:
                known.end = lease_end
        elif name in _STOPS:
            known = instances.get(instance)
            if known is not None:
                known.end = stopped
    denials = [
        Denial(
            block_time(event.block_number),
            event.block_number,
            event.instance_type,
            event.reason.name,
            _hex(event.instance_id),
            _hex(event.tx_hash),
        )
        for event in store.events(timeframe=timeframe.id, customer=customer, names=_DENIALS)
        if isinstance(event, ActivationDenied | LeaseRenewalDenied)
    ]
    kinds = sorted({i.instance_type for i in instances.values()} | set(rules_by_type))
    types = []
    for kind in kinds:
        mine = [i for i in instances.values() if i.instance_type == kind]
        rules = rules_by_type.get(kind)
        running, seconds = _sweep(mine, times)
        starts = sorted(i.start for i in mine if not i.continuation)
        continuation_starts = sorted(i.start for i in mine if i.continuation)
        activations = [bisect.bisect_right(starts, t) for t in times]
        continuations = [bisect.bisect_right(continuation_starts, t) for t in times]
        amount = [
            _amount(rules, activations[k], continuations[k], seconds[k]) if rules is not None else 0
            for k in range(len(times))
        ]
        types.append(
            TypeUsage(
                kind, rules, times, running, seconds, activations, amount,
                [d for d in denials if d.instance_type == kind],
            )
        )
    return CustomerUsage(customer, timeframe, end, types, denials, count)


def _sweep(instances: Sequence[_Instance], times: Sequence[int]) -> tuple[list[int], list[int]]:
    """Running instances and seconds run, at each sample time, from the instances' [start, end) intervals."""
    starts = sorted(i.start for i in instances)
    ends = sorted(i.end for i in instances)
    start_prefix = _prefix(starts)
    end_prefix = _prefix(ends)
    running, seconds = [], []
    for t in times:
        started = bisect.bisect_right(starts, t)
        ended = bisect.bisect_right(ends, t)
        running.append(started - ended)
        # Seconds run by t: sum over started intervals of (min(end, t) - start).
        run = end_prefix[ended] + (started - ended) * t - start_prefix[started]
        # Ended intervals contributed their whole length; an interval that ended before it started contributes 0.
        seconds.append(max(0, run))
    return running, seconds


def _prefix(values: Iterable[int]) -> list[int]:
    out = [0]
    for v in values:
        out.append(out[-1] + v)
    return out


def _amount(rules: Rules, activations: int, continuations: int, seconds: int) -> int:
    """What an invoice would bill so far, in minor units: each charge rounded down once, as a line is."""
    billable_activations = max(0, activations - rules.included_activations)
    billable_seconds = max(0, seconds - rules.included_seconds)
    return (
        line_amount(billable_activations, rules.price_per_activation, 1)
        + line_amount(continuations, rules.price_per_continuation, 1)
        + line_amount(billable_seconds, rules.price_per_time_unit, rules.time_unit_seconds)
    )


def format_price(micro: int, currency: str) -> str:
    """A price in micro-units as text at full precision (see :func:`metering.money.format_micro`)."""
    from metering.money import format_micro

    return format_micro(micro, currency)


def _hex(value: bytes | str) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


assert PRICE_SCALE == 1_000_000  # the amounts above are in micro-units of the minor unit
