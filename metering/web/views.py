"""Small pieces the web endpoints share: request parsing, formatting filters, and what each page is given.

Kept apart from :mod:`metering.web.app` so the routes stay a readable list, and these can be tested without a
server.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address
from starlette.requests import Request

from metering.money import currency_decimals, format_micro, format_minor

if TYPE_CHECKING:
    from web3 import Web3

    from metering._utils.client import CustomerAccount
    from metering.audit.store import Store
    from metering.audit.verify import VerificationReport
    from metering.web.data import CustomerUsage, TimeframeRow

__all__ = ["FILTERS", "BadRequestError", "EventFilters"]


class BadRequestError(ValueError):
    """A malformed address, number or filter in the URL: answered with 400 and the reason."""


def escape(text: str) -> str:
    return html.escape(text)


def address(text: str) -> str:
    if not is_address(text):
        raise BadRequestError(f"not an address: {text!r}")
    return str(to_checksum_address(text))


def int_param(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if default is None:
            raise BadRequestError(f"give {name}")
        return default
    try:
        value = int(str(raw), 0)
    except ValueError:
        raise BadRequestError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise BadRequestError(f"{name} must not be negative")
    return value


def chain_time(w3: Web3 | None, fallback: int) -> int:
    """The latest block's time (what the contract decides by); ``fallback`` without a node."""
    if w3 is None:
        return fallback
    try:
        return int(w3.eth.get_block("latest")["timestamp"])
    except Exception:
        return fallback


def account(w3: Web3 | None, contract: str, customer: str) -> CustomerAccount | None:
    """The customer's on-chain account (restriction, cap, committed), or ``None`` without a node."""
    if w3 is None:
        return None
    from metering._utils.client import MeterClient

    try:
        return MeterClient(w3, contract, None).customer_account(customer)
    except Exception:
        return None


# ---------------------------------------------------------------------- charts


def charts(usage: CustomerUsage, row: TimeframeRow, account: CustomerAccount | None) -> dict[str, Any]:
    """What the customer page's charts draw: one entry per type, plus the amount billed against the cap."""
    currency = row.timeframe.currency
    scale = 10 ** currency_decimals(currency)
    out: dict[str, Any] = {"currency": currency, "scale": scale, "types": [], "amount": {}}
    for t in usage.types:
        r = t.rules
        out["types"].append({
            "type": t.instance_type,
            "times": t.times,
            "running": t.running,
            "seconds": t.seconds,
            "activations": t.activations,
            "max_concurrent": r.max_concurrent if r else 0,
            "included_seconds": r.included_seconds if r else 0,
            "included_activations": r.included_activations if r else 0,
            "max_activations": r.max_activations if r else 0,
            "denials": [{"time": d.time, "reason": d.reason, "block": d.block_number} for d in t.denials],
        })
    times = usage.types[0].times if usage.types else []
    cap = account.spending_cap if account is not None and account.spending_cap else 0
    out["amount"] = {"times": times, "total": usage.total, "cap": cap}
    return out


# ---------------------------------------------------------------------- invoices


def invoice_view(
    w3: Web3 | None, contract: str, store: Store, customer: str, timeframe: int, *, verify: bool = True
) -> dict[str, Any]:
    """The invoice of (customer, timeframe): final when the timeframe has ended on chain, else a running
    statement; with its verification (recomputed, counters, anchor) when a node is there."""
    from metering.audit.billing import invoice_from_store
    from metering.audit.blocktime import NodeClock
    from metering.audit.invoice import invoice_hash
    from metering.audit.verify import verify_invoice
    from metering.errors import InvoiceError

    if w3 is None:
        raise InvoiceError("no node: start `metering serve` with --rpc-url to compute invoices")
    invoice = invoice_from_store(store, customer, timeframe, NodeClock(w3, store))
    report = verify_invoice(w3, contract, store, invoice, require_anchor=False) if verify else None
    evidence_by_type: dict[int, list[Any]] = {}
    for event in invoice.evidence.events:
        evidence_by_type.setdefault(event.instance_type, []).append(event)
    differences = report.differences if report is not None else ()
    checks = {
        "counters": not any("on-chain counter" in d.where or d.where.startswith("usage[") for d in differences),
        "anchor": not any(d.where.startswith("anchor") for d in differences),
        "recomputed": not any(
            not (d.where.startswith("anchor") or "on-chain counter" in d.where or d.where.startswith("usage["))
            for d in differences
        ),
    }
    return {
        "invoice": invoice,
        "checks": checks,
        "hash": "0x" + invoice_hash(invoice).hex(),
        "report": report,
        "report_json": report_json(report) if report is not None else None,
        "evidence_by_type": evidence_by_type,
        "customer": customer,
    }


def report_json(report: VerificationReport) -> dict[str, Any]:
    """A verification report as the page's script shows it: each check, and every differing field."""
    return {
        "ok": report.ok,
        "customer": report.customer,
        "timeframe": report.timeframe,
        "invoice_hash": "0x" + report.invoice_hash.hex(),
        "recomputed_hash": "0x" + report.recomputed_hash.hex(),
        "anchor": report.anchor.name,
        "anchored_hash": "0x" + report.anchored_hash.hex() if report.anchored_hash else None,
        "differences": [
            {"where": d.where, "expected": _plain(d.expected), "found": _plain(d.found)} for d in report.differences
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


# ---------------------------------------------------------------------- events


@dataclass(frozen=True)
class EventFilters:
    customer: str | None
    instance_type: int | None
    timeframe: int | None
    from_block: int | None
    to_block: int | None
    event: str | None
    page: int

    def query(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` (for links to other pages)."""
        from urllib.parse import urlencode

        values = {**asdict(self), **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def event_filters(request: Request) -> EventFilters:
    q = request.query_params

    def optional(name: str) -> int | None:
        return int_param(request, name) if q.get(name) not in (None, "") else None

    customer = q.get("customer") or None
    return EventFilters(
        customer=address(customer) if customer else None,
        instance_type=optional("instance_type"),
        timeframe=optional("timeframe"),
        from_block=optional("from_block"),
        to_block=optional("to_block"),
        event=q.get("event") or None,
        page=optional("page") or 0,
    )


#: Events counted past the shown page: the stream says "at least N" beyond that, instead of counting a history of
#: 10M events on every request (seconds on PostgreSQL, whatever page is shown).
COUNT_AHEAD = 10_000


class MatchCount(int):
    """How many events match a filter: exact when below the counting bound, else a lower bound, shown as
    "at least N" (it compares as the number counted, so "is there an older page" stays right)."""

    exact: bool

    def __new__(cls, counted: int, *, exact: bool) -> MatchCount:
        made = super().__new__(cls, counted)
        made.exact = exact
        return made

    def __str__(self) -> str:
        return str(int(self)) if self.exact else f"at least {int(self)}"

    def __html__(self) -> str:
        return str(self)


def event_page(store: Store, filters: EventFilters, size: int) -> tuple[list[dict[str, Any]], MatchCount]:
    """One page of decoded events, newest first, and how many match (without the type filter; counted up to
    :data:`COUNT_AHEAD` past the page)."""
    from metering.audit.events import event_to_dict

    kwargs: dict[str, Any] = {
        "timeframe": filters.timeframe,
        "customer": filters.customer,
        "names": [filters.event] if filters.event else None,
        "from_block": filters.from_block,
        "to_block": filters.to_block,
    }
    bound = (filters.page + 1) * size + COUNT_AHEAD
    counted = store.count_events(**kwargs, at_most=bound)
    total = MatchCount(counted, exact=counted < bound)
    events = store.events(
        **kwargs, instance_type=filters.instance_type, limit=size, offset=filters.page * size, newest_first=True
    )
    rows = []
    for event in events:
        fields = event_to_dict(event)
        rows.append({
            "name": event.name,
            "block": event.block_number,
            "log_index": event.log_index,
            "tx_hash": "0x" + bytes(event.tx_hash).hex() if isinstance(event.tx_hash, bytes) else event.tx_hash,
            "customer": getattr(event, "customer", None),
            "instance_type": getattr(event, "instance_type", None),
            "instance_id": _instance_hex(event),
            "timeframe": getattr(event, "timeframe", None),
            "fields": {k: iso(v) if k in _TIMES and v is not None else v for k, v in fields.items() if k not in _SHOWN},
        })
    return rows, total


def _instance_hex(event: Any) -> str | None:
    raw = getattr(event, "instance_id", None)
    return "0x" + raw.hex() if isinstance(raw, bytes) else None


#: Fields that are unix seconds: shown as ISO 8601 UTC like every other time of the view.
_TIMES = {"started_at", "lease_end", "stopped_at", "start", "end"}
_SHOWN = {"event", "block_number", "block_hash", "tx_hash", "log_index", "customer", "instance_type", "instance_id",
          "timeframe", "name"}


# ---------------------------------------------------------------------- template filters


def iso(timestamp: int | None) -> str:
    """Unix seconds as ISO 8601 UTC (``2026-12-01T00:00:00Z``)."""
    if timestamp is None:
        return "?"
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: str | bytes | None, keep: int = 6) -> str:
    if value is None:
        return ""
    text = "0x" + value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= 2 + 2 * keep else f"{text[: 2 + keep]}…{text[-keep:]}"


def hexed(value: bytes | str) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def minor(amount: int, currency: str) -> str:
    return f"{format_minor(int(amount), currency)} {currency}"


def micro(price: int, currency: str) -> str:
    return f"{format_micro(int(price), currency)} {currency}"


def duration(seconds: int) -> str:
    seconds = int(seconds)
    if seconds % 86_400 == 0 and seconds:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"


FILTERS = {"iso": iso, "short": short, "hexed": hexed, "minor": minor, "micro": micro, "duration": duration}
