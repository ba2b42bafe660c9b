"""What an invoice covers, so that nobody chooses it: the canonical final invoice and running statements.

**The canonical final invoice** of (contract, customer, timeframe) is the one document anyone computes, at any
block after it exists, byte for byte:

* *Evidence*: the events that change what is billed (:data:`metering.audit.invoice.BILLING_EVENTS`: grants,
  continuations into the timeframe, renewals, stops by the agent, the provider or the customer) of that customer in that
  timeframe, in chain order. A ``LeaseExpired`` is not evidence: billing had already stopped at the lease end, and
  anyone may close an expired lease at any time later, so a late expiry must not change the invoice.
* *Block range*: from the block of the timeframe's ``TimeframeCreated`` event (nothing can bill into a timeframe
  before it exists) to the **first block whose timestamp is at or after the timeframe's end**. Leases never run
  past their timeframe's end, so from that block on every lease of the timeframe is past its end, and no event can
  change what the timeframe bills: grants and renewals need a live lease in the active timeframe, a stop after the
  lease end is an expiry, a continuation bills the next timeframe. Both ends are facts of the chain.
* ``final`` is true and ``as_of`` is the timeframe's end: every lease is billed to where it stopped.

It exists once that first block at or after the end exists and is indexed; before that, only statements do.

**A running statement** as of a time ``T`` covers the same start block up to the last block whose timestamp is at
most ``T`` (so "as of block N" means as of N's timestamp, which also takes in later blocks with the same
timestamp). It bills activations granted so far and the seconds run up to ``T``; what open leases hold beyond ``T``
is shown as committed. It says ``final: false`` and cannot be anchored.

Block timestamps come from a :class:`~metering.audit.blocktime.BlockClock` (the node), events from the
:class:`~metering.audit.store.Store`, which must be indexed up to the range's last block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from metering.audit.blocktime import BlockClock, first_block_at_or_after, last_block_at_or_before
from metering.audit.events import ActivationDenied, MeterEvent, RulesSet, TimeframeCreated
from metering.audit.invoice import BILLING_EVENTS, Invoice, compute_invoices, invoices_from_rows
from metering.audit.store import Store
from metering.errors import InvoiceError
from metering.types import Rules, Timeframe, rules_hash

__all__ = [
    "Coverage",
    "TimeframeSetup",
    "coverage_now",
    "final_coverage",
    "final_invoice",
    "invoice_from_store",
    "invoices_for_timeframe",
    "iter_invoices",
    "rules_from_events",
    "statement",
    "statement_coverage",
    "timeframe_from_events",
    "timeframe_setup",
]

#: What the invoice pass reads: the billing events, and the denials (a customer with only denials is listed too).
_ROW_NAMES = (*(cls.name for cls in BILLING_EVENTS), ActivationDenied.name)


@dataclass(frozen=True)
class TimeframeSetup:
    """A timeframe as the chain announced it, the block that created it, and the rules in force per type."""

    timeframe: Timeframe
    created_block: int
    rules: dict[int, Rules]


@dataclass(frozen=True)
class Coverage:
    """The blocks an invoice reads and the point in time it bills up to: ``as_of`` is None for a final invoice."""

    from_block: int
    to_block: int
    as_of: int | None

    @property
    def final(self) -> bool:
        return self.as_of is None


# ---------------------------------------------------------------------- the timeframe and its rules


def timeframe_from_events(events: Iterable[MeterEvent], timeframe_id: int) -> tuple[Timeframe, int]:
    """The timeframe as its ``TimeframeCreated`` event announced it, and the block of that event."""
    for event in events:
        if isinstance(event, TimeframeCreated) and event.timeframe == timeframe_id:
            return event.as_timeframe(), event.block_number
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


def timeframe_setup(store: Store, timeframe_id: int) -> TimeframeSetup:
    """The timeframe, its creation block and its rules, from the event database."""
    setup = store.events(timeframe=timeframe_id, names=[TimeframeCreated.name, RulesSet.name])
    timeframe, created = timeframe_from_events(setup, timeframe_id)
    return TimeframeSetup(timeframe, created, rules_from_events(setup, timeframe_id))


# ---------------------------------------------------------------------- what an invoice covers


def final_coverage(store: Store, setup: TimeframeSetup, clock: BlockClock) -> Coverage | None:
    """The canonical range of the timeframe's final invoices, or ``None`` while no block has reached its end.

    :raises InvoiceError: the end block exists but is not indexed yet.
    """
    end_block = first_block_at_or_after(clock, setup.timeframe.end, low=setup.created_block)
    if end_block is None:
        return None
    _require_indexed(store, end_block, f"the final invoice of timeframe {setup.timeframe.id}")
    return Coverage(setup.created_block, end_block, None)


def statement_coverage(store: Store, setup: TimeframeSetup, clock: BlockClock, as_of: int) -> Coverage:
    """The range of a running statement as of the timestamp ``as_of``: up to the last block at or before it.

    :raises InvoiceError: the timeframe did not exist yet at ``as_of``, the chain has not reached ``as_of``, or
        the blocks up to it are not indexed yet.
    """
    to_block = last_block_at_or_before(clock, as_of, low=setup.created_block)
    if to_block is None:
        raise InvoiceError(
            f"timeframe {setup.timeframe.id} was created in block {setup.created_block}, after {as_of}: "
            "no statement before it exists"
        )
    if to_block == clock.head() and clock.timestamp(to_block) < as_of:
        raise InvoiceError(
            f"{as_of} is after the latest block ({to_block}, at {clock.timestamp(to_block)}): "
            "a statement cannot see the future"
        )
    _require_indexed(store, to_block, f"a statement as of {as_of}")
    return Coverage(setup.created_block, to_block, as_of)


def _indexed_now(store: Store, setup: TimeframeSetup, clock: BlockClock) -> Coverage:
    """A statement as of the last indexed block's time (minus a second if the next block shares it)."""
    last = store.last_block
    if last is None:
        raise InvoiceError(f"the event database {store.path} is empty: sync the indexer first")
    as_of = clock.timestamp(last)
    to_block = last_block_at_or_before(clock, as_of, low=setup.created_block)
    if to_block is not None and to_block > last:
        as_of -= 1
    return statement_coverage(store, setup, clock, as_of)


def _require_indexed(store: Store, block: int, what: str) -> None:
    last = store.last_block
    if last is None or last < block:
        raise InvoiceError(
            f"{what} reads up to block {block}, but the event database is indexed up to block {last}: "
            "sync the indexer (with fewer confirmations, or wait for the chain)"
        )


# ---------------------------------------------------------------------- invoices from the event database


def _stream(store: Store, setup: TimeframeSetup, coverage: Coverage, customer: str | None) -> Iterator[Invoice]:
    """The invoices of the timeframe (or of ``customer``) from one forward pass over the store's
    ``events_by_customer`` index, one customer at a time."""
    rows = store.billing_rows(setup.timeframe.id, _ROW_NAMES, customer=customer)
    return invoices_from_rows(
        setup.timeframe, setup.rules, rows, chain_id=store.chain_id, contract=store.contract,
        from_block=coverage.from_block, to_block=coverage.to_block, as_of=coverage.as_of,
    )


def _one(store: Store, setup: TimeframeSetup, coverage: Coverage, customer: str) -> Invoice:
    for invoice in _stream(store, setup, coverage, customer):
        return invoice
    # No event of this customer in the timeframe: an invoice with zero lines all the same.
    return compute_invoices(
        setup.timeframe, setup.rules, (), chain_id=store.chain_id, contract=store.contract,
        from_block=coverage.from_block, to_block=coverage.to_block, as_of=coverage.as_of, customers=[customer],
    )[customer]


def final_invoice(store: Store, customer: str, timeframe_id: int, clock: BlockClock) -> Invoice:
    """The canonical final invoice of ``customer`` for ``timeframe_id`` (see the module docstring).

    :raises InvoiceError: the timeframe has not ended on chain, or its end block is not indexed yet.
    """
    customer = _checksummed(customer)
    setup = timeframe_setup(store, timeframe_id)
    coverage = final_coverage(store, setup, clock)
    if coverage is None:
        raise InvoiceError(
            f"timeframe {timeframe_id} has not ended on chain (it ends at {setup.timeframe.end}): "
            "no final invoice yet; ask for a statement"
        )
    return _one(store, setup, coverage, customer)


def statement(store: Store, customer: str, timeframe_id: int, clock: BlockClock, *, as_of: int) -> Invoice:
    """The running statement of ``customer`` for ``timeframe_id`` as of the timestamp ``as_of``."""
    customer = _checksummed(customer)
    setup = timeframe_setup(store, timeframe_id)
    coverage = statement_coverage(store, setup, clock, as_of)
    return _one(store, setup, coverage, customer)


def invoice_from_store(store: Store, customer: str, timeframe_id: int, clock: BlockClock) -> Invoice:
    """The final invoice once the timeframe has ended and its end block is indexed; until then the running
    statement as of the last indexed block."""
    customer = _checksummed(customer)
    setup = timeframe_setup(store, timeframe_id)
    coverage = coverage_now(store, setup, clock)
    return _one(store, setup, coverage, customer)


def invoices_for_timeframe(
    store: Store, timeframe_id: int, clock: BlockClock, *, as_of: int | None = None
) -> list[Invoice]:
    """The invoice of every customer with a decision in the timeframe (:meth:`Store.customers`), by address, from
    one pass over its events: final ones when possible (as :func:`invoice_from_store`), or statements as of
    ``as_of`` when given. A list of all of them: :func:`iter_invoices` streams them with bounded memory."""
    return list(iter_invoices(store, timeframe_id, clock, as_of=as_of))


def iter_invoices(
    store: Store, timeframe_id: int, clock: BlockClock, *, as_of: int | None = None
) -> Iterator[Invoice]:
    """:func:`invoices_for_timeframe` one invoice at a time, by address: one forward pass over the timeframe's
    events in the store's index order (no sort), holding only the current customer's events, so memory does not
    grow with the number of events or customers. The coverage is fixed before the first invoice."""
    setup = timeframe_setup(store, timeframe_id)
    coverage = coverage_now(store, setup, clock) if as_of is None else statement_coverage(store, setup, clock, as_of)
    return _stream(store, setup, coverage, None)


def coverage_now(store: Store, setup: TimeframeSetup, clock: BlockClock) -> Coverage:
    """The final coverage when the timeframe's end block is indexed, else a statement's as of the last indexed
    block."""
    try:
        final = final_coverage(store, setup, clock)
    except InvoiceError:
        final = None  # the end block exists but is not indexed yet (confirmations): a statement for now
    return final if final is not None else _indexed_now(store, setup, clock)


def _checksummed(customer: str) -> str:
    from eth_utils.address import to_checksum_address

    try:
        return to_checksum_address(customer)
    except (ValueError, TypeError) as exc:
        raise InvoiceError(f"customer {customer!r} is not an address") from exc
