"""Watch rules: what on the chain is worth telling someone, as small pluggable kinds.

A rule looks at confirmed events (``on_events``) or at the confirmed chain as time passes (``on_tick``) and returns
:class:`Notification` values. Every notification id is derived from the chain: the transaction hash and log index
of the triggering event, or the rule, the thing it is about and the threshold crossed (a cap crosses 80% once per
timeframe and cap). So evaluating the same events twice (after a crash) yields the same ids, and the outbox keeps
one of each.

Kinds are registered by name with :func:`rule_kind`; a new kind (the settlement branch's "invoice settled") is one
class and one decorator. Built in: ``cap``, ``quota``, ``denial``, ``lease_expiring``, ``invoice_final``,
``invoice_anchored``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    InvoiceAnchored,
    InvoiceCorrected,
    LeaseContinued,
    LeaseRenewalDenied,
    LeaseRenewed,
    MeterEvent,
)
from metering.contract import DenialReason
from metering.errors import WatchConfigError
from metering.money import PRICE_SCALE

if TYPE_CHECKING:
    from metering.watch.context import WatchContext

__all__ = ["RULE_KINDS", "Notification", "Rule", "iso", "make_rule", "rule_kind"]


def iso(timestamp: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC, the one time format of every payload."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Notification:
    """Something a rule found: ``id`` is chain-derived, ``type`` names it (``cap.crossed``), ``data`` is JSON-able
    (integers as integers, money in minor units beside its currency); ``time`` is the chain time it refers to."""

    id: str
    type: str
    block_number: int
    time: int | None
    data: Mapping[str, Any]

    def body(self) -> str:
        """What every sink gets: ``{"type", "timestamp", "data", "block_number"}`` in canonical key order, so the
        same notification is the same bytes on every evaluation (and a signature covers exactly them)."""
        import json

        return json.dumps({"type": self.type, "timestamp": iso(self.time), "data": dict(self.data),
                           "block_number": self.block_number}, sort_keys=True, separators=(",", ":"))


class Rule(Protocol):
    name: str
    sinks: tuple[str, ...]

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]: ...

    def on_tick(self, ctx: WatchContext) -> list[Notification]: ...


RuleFactory = Callable[[str, tuple[str, ...], Mapping[str, Any]], Rule]
RULE_KINDS: dict[str, RuleFactory] = {}


def rule_kind(kind: str) -> Callable[[RuleFactory], RuleFactory]:
    """Register a rule kind under ``kind`` (the ``kind:`` of a rules file entry)."""

    def register(factory: RuleFactory) -> RuleFactory:
        RULE_KINDS[kind] = factory
        return factory

    return register


def make_rule(kind: str, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> Rule:
    factory = RULE_KINDS.get(kind)
    if factory is None:
        raise WatchConfigError(f"rule {name!r}: unknown kind {kind!r} (known: {', '.join(sorted(RULE_KINDS))})")
    return factory(name, sinks, options)


def _percents(name: str, options: Mapping[str, Any], default: Sequence[int]) -> tuple[int, ...]:
    raw = options.get("percent", list(default))
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in values):
        raise WatchConfigError(f"rule {name!r}: percent must be whole numbers from 1 to 1000, got {raw!r}")
    return tuple(sorted(set(values)))


def _tx(event: MeterEvent) -> str:
    return f"0x{bytes(event.tx_hash).hex()}:{event.log_index}"


def _hex(raw: bytes) -> str:
    return "0x" + bytes(raw).hex()


def _no_options(name: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise WatchConfigError(f"rule {name!r}: unknown option(s) {', '.join(sorted(unknown))}")


class _EventRule:
    """Base for rules that only react to events."""

    def __init__(self, name: str, sinks: tuple[str, ...]) -> None:
        self.name = name
        self.sinks = sinks

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
        return []

    def on_tick(self, ctx: WatchContext) -> list[Notification]:
        return []


@rule_kind("denial")
class DenialRule(_EventRule):
    """Any denied activation or renewal, with its reason (``reasons:`` narrows to some, by name)."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, {"reasons"})
        wanted = options.get("reasons")
        try:
            self.reasons = None if wanted is None else frozenset(DenialReason[str(r).upper()] for r in wanted)
        except KeyError as exc:
            known = ", ".join(r.name.lower() for r in DenialReason if r)
            raise WatchConfigError(f"rule {name!r}: unknown denial reason {exc} (known: {known})") from None

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
        out = []
        for e in events:
            if not isinstance(e, ActivationDenied | LeaseRenewalDenied):
                continue
            if self.reasons is not None and e.reason not in self.reasons:
                continue
            kind = "activation" if isinstance(e, ActivationDenied) else "renewal"
            out.append(Notification(
                id=f"{self.name}:{_tx(e)}", type=f"{kind}.denied", block_number=e.block_number,
                time=ctx.block_time(e.block_number),
                data={"customer": e.customer, "timeframe": e.timeframe, "instance_type": e.instance_type,
                      "instance_id": _hex(e.instance_id), "reason": e.reason.name.lower(),
                      "tx_hash": _hex(e.tx_hash), "log_index": e.log_index},
            ))
        return out


@rule_kind("invoice_anchored")
class AnchoredRule(_EventRule):
    """An invoice hash anchored (or corrected) on chain by the provider."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, set())

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
        out = []
        for e in events:
            if isinstance(e, InvoiceAnchored | InvoiceCorrected):
                currency = ctx.currency(e.timeframe)
                out.append(Notification(
                    id=f"{self.name}:{_tx(e)}",
                    type="invoice.anchored" if isinstance(e, InvoiceAnchored) else "invoice.corrected",
                    block_number=e.block_number, time=ctx.block_time(e.block_number),
                    data={"customer": e.customer, "timeframe": e.timeframe, "invoice_hash": _hex(e.invoice_hash),
                          "total": e.total, "currency": currency, "tx_hash": _hex(e.tx_hash)},
                ))
        return out


_COMMITS = (ActivationGranted, LeaseContinued, LeaseRenewed)


@rule_kind("cap")
class CapRule(_EventRule):
    """A customer's committed amount crosses ``percent`` (default 50, 80, 100) of its spending cap.

    Read from the contract's own ``spent`` counter at the triggering block (what the next decision compares with the
    cap), so the watch and the contract agree to the micro-unit. Once per (timeframe, cap, threshold): a raised cap
    may cross the same percentage again, and says so."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, {"percent"})
        self.percents = _percents(name, options, (50, 80, 100))

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
        last: dict[tuple[str, int], MeterEvent] = {}
        for e in events:  # one read per customer and timeframe per batch: the last commit in it
            if isinstance(e, _COMMITS):
                last[(e.customer, e.timeframe)] = e
        out = []
        for (customer, timeframe), e in last.items():
            cap = ctx.spending_cap(customer, e.block_number)
            if not cap:
                continue
            spent = ctx.spent(customer, timeframe, e.block_number)
            for percent in self.percents:
                if spent * 100 >= cap * PRICE_SCALE * percent:
                    out.append(Notification(
                        id=f"{self.name}:{timeframe}:{customer}:{cap}:{percent}", type="cap.crossed",
                        block_number=e.block_number, time=ctx.block_time(e.block_number),
                        data={"customer": customer, "timeframe": timeframe, "percent": percent, "cap": cap,
                              "committed_micro": spent, "currency": ctx.currency(timeframe),
                              "tx_hash": _hex(e.tx_hash), "log_index": e.log_index},
                    ))
        return out


@rule_kind("quota")
class QuotaRule(_EventRule):
    """A customer's activations of a type cross ``percent`` of a quota of the rules: ``of: max_activations`` (the
    hard or soft limit, default) or ``of: included_activations`` (what the base price covers)."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, {"percent", "of"})
        self.percents = _percents(name, options, (80, 100))
        self.of = str(options.get("of", "max_activations"))
        if self.of not in ("max_activations", "included_activations"):
            raise WatchConfigError(f"rule {name!r}: of must be max_activations or included_activations")

    def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
        last: dict[tuple[str, int, int], ActivationGranted] = {}
        for e in events:
            if isinstance(e, ActivationGranted):
                last[(e.customer, e.timeframe, e.instance_type)] = e
        out = []
        for (customer, timeframe, kind), e in last.items():
            rules = ctx.rules(timeframe).get(kind)
            quota = int(getattr(rules, self.of)) if rules is not None else 0
            if not quota:
                continue
            used = ctx.activations(customer, timeframe, kind, e.block_number, e.log_index)
            for percent in self.percents:
                if used * 100 >= quota * percent:
                    out.append(Notification(
                        id=f"{self.name}:{timeframe}:{customer}:{kind}:{self.of}:{percent}", type="quota.crossed",
                        block_number=e.block_number, time=ctx.block_time(e.block_number),
                        data={"customer": customer, "timeframe": timeframe, "instance_type": kind, "quota": self.of,
                              "limit": quota, "used": used, "percent": percent, "tx_hash": _hex(e.tx_hash)},
                    ))
        return out


@rule_kind("lease_expiring")
class LeaseExpiringRule(_EventRule):
    """A lease ends in under ``minutes`` (chain time of the confirmed head) and nothing renewed or closed it.

    Once per (instance, lease end): a renewal that is itself about to run out is a new notification."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, {"minutes"})
        minutes = options.get("minutes", 10)
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 7 * 24 * 60:
            raise WatchConfigError(f"rule {name!r}: minutes must be a whole number from 1 to 10080, got {minutes!r}")
        self.seconds = minutes * 60

    def on_tick(self, ctx: WatchContext) -> list[Notification]:
        now = ctx.now()
        if now is None:
            return []
        out = []
        for lease in ctx.open_leases(now, now + self.seconds):
            out.append(Notification(
                id=f"{self.name}:{lease.instance_id}:{lease.lease_end}", type="lease.expiring",
                block_number=ctx.confirmed_block, time=now,
                data={"customer": lease.customer, "timeframe": lease.timeframe, "instance_type": lease.instance_type,
                      "instance_id": lease.instance_id, "lease_end": iso(lease.lease_end),
                      "seconds_left": lease.lease_end - now},
            ))
        return out


@rule_kind("invoice_final")
class InvoiceFinalRule(_EventRule):
    """A timeframe has ended and its end block is confirmed: each customer's canonical invoice is final (its
    total and hash are in the notification). Once per timeframe and customer."""

    def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
        super().__init__(name, sinks)
        _no_options(name, options, set())

    def on_tick(self, ctx: WatchContext) -> list[Notification]:
        out = []
        for final in ctx.final_invoices(self.name):
            out.append(Notification(
                id=f"{self.name}:{final.timeframe}:{final.customer}", type="invoice.final",
                block_number=final.to_block, time=final.end,
                data={"customer": final.customer, "timeframe": final.timeframe, "total": final.total,
                      "currency": final.currency, "invoice_hash": final.invoice_hash, "to_block": final.to_block},
            ))
        return out


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file and the sinks they name."""

    name: str
    rules: tuple[Rule, ...]
    sinks: Mapping[str, Any] = field(default_factory=dict)
