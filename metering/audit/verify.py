"""Check an invoice against the chain: recompute it, compare it with the on-chain counters and the anchored hash.

Why these comparisons: the recomputation shows *which* field of an invoice is wrong (a changed number, a block
range other than the canonical one, a missing, extra, duplicated or reordered evidence entry, a statement claiming
to be final); the contract's ``usage`` counters and ``rulesHash`` are a second, independent source for activations,
seconds and prices (they are what the contract itself decided with); the anchor proves that the invoice is the one
the provider committed to, and only a final invoice may be anchored. Every difference is listed, not just the
first, so an auditor sees the whole picture in one run.

In a :class:`Difference`, ``expected`` is what the chain says and ``found`` what the invoice says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metering.audit.billing import as_of_coverage, coverage_now, timeframe_setup
from metering.audit.blocktime import NodeClock
from metering.audit.indexer import DEFAULT_MAX_RANGE, Indexer, Progress
from metering.audit.invoice import (
    BILLING_EVENTS,
    Charge,
    Invoice,
    compute_invoices,
    from_json,
    invoice_hash,
    stated_hash,
    to_dict,
)
from metering.audit.store import Store
from metering.chain.lean import LeanMeter, LeanNode
from metering.errors import InvoiceError, VerificationError

if TYPE_CHECKING:  # the CLI verifies through a LeanNode, without importing web3 (issue 20)
    from web3 import Web3

    from metering._utils.reads import MeterReads

__all__ = ["AnchorStatus", "Difference", "Value", "VerificationReport", "verify_invoice"]

_BILLING_NAMES = [cls.name for cls in BILLING_EVENTS]

#: A compared value as shown to a user: integers, strings (hex, addresses), booleans, or None for "absent".
Value = int | str | bool | None


class AnchorStatus(Enum):
    """How the invoice relates to the hash anchored on chain for its customer and timeframe."""

    MATCHES = "matches"
    DIFFERS = "differs"
    NOT_ANCHORED = "not anchored"
    #: A running statement was verified, and the customer's final invoice (another document) is anchored.
    FINAL_ANCHORED = "the final invoice is anchored"


@dataclass(frozen=True)
class Difference:
    """One field that does not agree: ``where`` names it (``lines[type=1].seconds``), ``expected`` is the chain's
    value, ``found`` the invoice's."""

    where: str
    expected: Value
    found: Value


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of :func:`verify_invoice`. ``ok`` when nothing differs."""

    customer: str
    timeframe: int
    invoice_hash: bytes
    recomputed_hash: bytes
    anchor: AnchorStatus
    anchored_hash: bytes | None
    differences: tuple[Difference, ...]
    recomputed: Invoice

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_invoice(
    w3: Web3 | LeanNode,
    address: str,
    store: Store,
    invoice_or_path: Invoice | bytes | str | Path,
    *,
    confirmations: int = 0,
    max_range: int = DEFAULT_MAX_RANGE,
    progress: Progress | None = None,
    require_anchor: bool = False,
    require_final: bool = False,
) -> VerificationReport:
    """Verify an invoice (an :class:`Invoice`, the bytes of an invoice file, or its path) against the chain.

    Syncs the indexer over ``store`` first. A final invoice is compared with the canonical final invoice (its block
    range, evidence and lines fixed by the chain, see :mod:`metering.audit.billing`); a statement with the statement
    recomputed as of its ``as_of``. So any other ``from_block``/``to_block``, a missing, extra, duplicated or
    reordered evidence entry, a non-final invoice claiming to be final, or a changed number is a difference naming
    its field. ``require_final`` makes a statement a difference; ``require_anchor`` also (only a final invoice is
    anchored) and counts a missing anchor. Raises :class:`VerificationError` when verification cannot run
    (unreadable invoice, unknown timeframe, chain not indexed far enough). ``w3`` may be a
    :class:`~metering.chain.lean.LeanNode` (the command line's reads, without web3): the same reads, the same
    parsing (:class:`~metering._utils.reads.MeterReads`).
    """
    invoice, stated = _load(invoice_or_path)
    indexer = Indexer(w3, address, store, confirmations=confirmations, max_range=max_range)
    indexer.sync(progress=progress)
    clock = NodeClock(w3, store)
    differences: list[Difference] = []
    try:
        setup = timeframe_setup(store, invoice.timeframe.id)
        if invoice.final:  # the canonical final invoice, or (not final on chain yet) a statement as of now
            coverage = coverage_now(store, setup, clock)
        else:
            coverage = as_of_coverage(store, setup, clock, invoice.as_of)
        recomputed = compute_invoices(
            setup.timeframe, setup.rules,
            store.events(timeframe=setup.timeframe.id, customer=invoice.customer, names=_BILLING_NAMES,
                         from_block=coverage.from_block, to_block=coverage.to_block),
            chain_id=store.chain_id, contract=store.contract, from_block=coverage.from_block,
            to_block=coverage.to_block, as_of=coverage.as_of, customers=[invoice.customer],
        )[invoice.customer]
    except InvoiceError as exc:
        raise VerificationError(f"cannot recompute the invoice: {exc}") from exc

    if (require_final or require_anchor) and not invoice.final:
        differences.append(Difference("final (only a final invoice can be anchored)", True, False))
    differences += _compare(to_dict(recomputed), to_dict(invoice))
    given_hash = invoice_hash(invoice)
    recomputed_hash = invoice_hash(recomputed)
    if stated is not None and stated != given_hash:
        differences.append(Difference("hash field (of the file's content)", _hex(given_hash), _hex(stated)))
    if recomputed_hash != given_hash:
        differences.append(Difference("hash", _hex(recomputed_hash), _hex(given_hash)))

    meter = _reads(w3, address)
    differences += _compare_counters(meter, invoice, recomputed, coverage.to_block)
    differences += _compare_rules(meter, invoice)

    record = meter.invoice_anchor(invoice.customer, invoice.timeframe.id)
    anchored = None if record is None else record.invoice_hash
    if record is None:
        status = AnchorStatus.NOT_ANCHORED
        if require_anchor:
            differences.append(Difference("anchor", "anchored", AnchorStatus.NOT_ANCHORED.value))
    elif anchored == given_hash:
        status = AnchorStatus.MATCHES
        if not invoice.final and not require_anchor:
            differences.append(Difference("final (an anchored invoice must be final)", True, False))
        if record.total != invoice.total:
            differences.append(Difference("anchor.total", record.total, invoice.total))
    else:
        if invoice.final or require_anchor or require_final:
            status = AnchorStatus.DIFFERS
            differences.append(Difference("anchor.hash", _hex(record.invoice_hash), _hex(given_hash)))
        else:  # a running statement is never the anchored document: the anchor is reported, not a difference
            status = AnchorStatus.FINAL_ANCHORED

    return VerificationReport(
        customer=invoice.customer,
        timeframe=invoice.timeframe.id,
        invoice_hash=given_hash,
        recomputed_hash=recomputed_hash,
        anchor=status,
        anchored_hash=anchored,
        differences=tuple(differences),
        recomputed=recomputed,
    )


def _reads(w3: Web3 | LeanNode, address: str) -> MeterReads:
    """The Meter's typed reads over either connection (no Meter check: indexing it checked the code already)."""
    from metering.chain import checksum

    if isinstance(w3, LeanNode):
        return LeanMeter(w3, checksum(address, what="the Meter contract"))
    from metering._utils.client import MeterClient

    return MeterClient(w3, address, None)


def _load(source: Invoice | bytes | str | Path) -> tuple[Invoice, bytes | None]:
    if isinstance(source, Invoice):
        return source, None
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise VerificationError(f"cannot read the invoice file {source!s}: {exc.strerror or exc}") from exc
    try:
        return from_json(data, check_hash=False), stated_hash(data)
    except InvoiceError as exc:
        raise VerificationError(f"the invoice file is malformed: {exc}") from exc


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _value(value: Any) -> Value:
    return value if isinstance(value, int | str | bool) or value is None else str(value)


def _compare(expected: Mapping[str, Any], found: Mapping[str, Any], where: str = "") -> list[Difference]:
    """Every difference between two invoice documents: objects key by key, lines by (instance type, charge),
    evidence events by (transaction, log index), each list also for duplicated entries and order."""
    out: list[Difference] = []
    for key in sorted(expected.keys() | found.keys()):
        path = f"{where}.{key}" if where else key
        if key not in found or key not in expected:
            out.append(Difference(path, _value(expected.get(key)), _value(found.get(key))))
            continue
        mine, theirs = expected[key], found[key]
        if isinstance(mine, dict) and isinstance(theirs, dict):
            out += _compare(mine, theirs, path)
        elif key == "lines" and isinstance(mine, list) and isinstance(theirs, list):
            out += _compare_keyed(mine, theirs, path, ("instance_type", "charge"), "line")
        elif key == "events" and isinstance(mine, list) and isinstance(theirs, list):
            out += _compare_keyed(mine, theirs, path, ("tx_hash", "log_index"), "log")
        elif mine != theirs:
            out.append(Difference(path, _value(mine), _value(theirs)))
    return out


def _compare_keyed(
    expected: list[dict[str, Any]], found: list[dict[str, Any]], where: str, key: tuple[str, ...], label: str
) -> list[Difference]:
    """Entries matched by ``key``: missing, extra (``absent``/``present``), duplicated, changed, then reordered."""

    def ident(item: dict[str, Any]) -> str:
        return "#".join(str(item.get(k)) for k in key)

    mine = {ident(item): item for item in expected}
    theirs: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for item in found:
        counts[ident(item)] = counts.get(ident(item), 0) + 1
        theirs.setdefault(ident(item), item)
    out: list[Difference] = []
    for name in sorted(mine.keys() | theirs.keys()):
        path = f"{where}[{label}={name}]"
        if name not in theirs:
            out.append(Difference(path, "present", "missing"))
        elif name not in mine:
            out.append(Difference(path, "absent", "present"))
        else:
            if counts[name] > 1:
                out.append(Difference(f"{path} (duplicated)", 1, counts[name]))
            out += _compare(mine[name], theirs[name], path)
    if not out and [ident(i) for i in expected] != [ident(i) for i in found]:
        out.append(Difference(f"{where} (order)", "chain order", "another order"))
    return out


def _compare_counters(meter: MeterReads, invoice: Invoice, recomputed: Invoice, block: int) -> list[Difference]:
    """Each type's lines against ``usage(customer, timeframe, type)`` as of the invoice's last block: activations,
    overage activations, and leased seconds (billed seconds plus what open leases hold beyond ``as_of``)."""
    out: list[Difference] = []
    types = sorted({line.instance_type for line in invoice.lines} | {line.instance_type for line in recomputed.lines})
    for kind in types:
        try:
            counters = meter.usage(invoice.customer, invoice.timeframe.id, kind, block=block)
        except Exception as exc:
            if not recomputed.final:
                raise VerificationError(
                    f"the node cannot read the usage counters at block {block} ({exc}): "
                    "use an archive node, or verify a final invoice"
                ) from exc
            counters = meter.usage(invoice.customer, invoice.timeframe.id, kind)  # final: no longer changing
        activations, overage, leased_seconds = (counters.activations, counters.overage_activations,
                                                counters.leased_seconds)
        try:
            starts = invoice.line(kind, Charge.ACTIVATIONS)
            seconds = invoice.line(kind, Charge.SECONDS)
        except KeyError:
            if activations or leased_seconds:
                out.append(Difference(f"usage[type={kind}]", "lines with usage", "no lines"))
            continue
        for name, chain_value, invoice_value in (
            ("activations", activations, starts.quantity),
            ("overage_activations", overage, starts.overage),
            ("seconds", leased_seconds, seconds.quantity + seconds.committed),
        ):
            if chain_value != invoice_value:
                out.append(Difference(f"usage[type={kind}].{name} (on-chain counter)", chain_value, invoice_value))
    return out


def _compare_rules(meter: MeterReads, invoice: Invoice) -> list[Difference]:
    """Each line's rules hash against ``rulesHash(timeframe, type)`` on chain (rules are frozen from the start)."""
    out: list[Difference] = []
    on_chain: dict[int, bytes] = {}
    for line in invoice.lines:
        if line.instance_type not in on_chain:
            raw = meter.rules_hash_on_chain(invoice.timeframe.id, line.instance_type)
            on_chain[line.instance_type] = bytes(32) if raw is None else raw
        if on_chain[line.instance_type] != line.rules_hash:
            out.append(
                Difference(
                    f"lines[line={line.instance_type}#{line.charge}].rules_hash (on chain)",
                    _hex(on_chain[line.instance_type]),
                    _hex(line.rules_hash),
                )
            )
    return out
