"""Move a history from one event database to another (SQLite to PostgreSQL, or back), and prove nothing changed.

Why a proof and not a row count: what a provider bills from is the invoices, so the copy is checked the way an
auditor would check it: every invoice of every timeframe (final where the timeframe has ended and its end block is
indexed, else the running statement as of the last indexed block) is computed again on both sides and compared as
canonical JSON, byte for byte. Block times come from a node (:class:`~metering.audit.blocktime.BlockClock`), the
same clock for both sides; neither database is written while they are compared.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import zip_longest

from metering.audit.billing import iter_invoices
from metering.audit.blocktime import BlockClock
from metering.audit.invoice import Invoice, to_canonical_json
from metering.audit.stores.base import Store
from metering.errors import InvoiceError, StoreError

__all__ = ["CopyCheck", "compare_invoices", "copy_history"]


@dataclass(frozen=True)
class CopyCheck:
    """What comparing two histories found: events on each side, invoices compared, and each difference."""

    source_events: int
    target_events: int
    timeframes: int
    invoices: int
    differences: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return not self.differences and self.source_events == self.target_events


def copy_history(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> tuple[Store, Store, int]:
    """Copy the history at ``source`` into a new database at ``target`` (created for the same chain and contract;
    it must hold no events). Returns both stores, open, and the events copied.

    :raises StoreError: no history at ``source``, or ``target`` is for another contract or not empty.
    """
    origin = Store(source)
    try:
        destination = Store(target, chain_id=origin.chain_id, contract=origin.contract)
    except BaseException:
        origin.close()
        raise
    try:
        copied = origin.copy_into(destination)
    except BaseException:
        origin.close()
        destination.close()
        raise
    return origin, destination, copied


def compare_invoices(
    source: Store, target: Store, clock: BlockClock, *, progress: Callable[[int], None] | None = None
) -> CopyCheck:
    """Compute every invoice of every timeframe on both sides and compare their canonical bytes; ``progress`` is
    called with the number of invoices compared so far, after each timeframe."""
    if (source.chain_id, source.contract) != (target.chain_id, target.contract):
        raise StoreError(f"{source.path} and {target.path} hold different contracts")
    differences: list[str] = []
    compared = 0
    timeframes = source.timeframes()
    if [t.id for t in timeframes] != [t.id for t in target.timeframes()]:
        differences.append("the two databases list different timeframes")
    with source.snapshot(), target.snapshot():
        for timeframe in timeframes:
            ours, theirs = _invoices(source, timeframe.id, clock), _invoices(target, timeframe.id, clock)
            if isinstance(ours, str) or isinstance(theirs, str):
                if ours != theirs:  # the same refusal on both sides (e.g. nothing indexed yet) is no difference
                    differences.append(f"timeframe {timeframe.id}: {source.path}: {_said(ours)}; {target.path}: "
                                       f"{_said(theirs)}")
                continue
            for left, right in zip_longest(ours, theirs):
                compared += 1
                if left is None or right is None:
                    who = (right or left).customer if (right or left) is not None else "?"
                    side = target.path if left is not None else source.path
                    differences.append(f"timeframe {timeframe.id}: no invoice of {who} in {side}")
                elif to_canonical_json(left) != to_canonical_json(right):
                    differences.append(f"timeframe {timeframe.id}: the invoices of {left.customer} differ")
            if progress:
                progress(compared)
        return CopyCheck(
            source_events=source.event_count(),
            target_events=target.event_count(),
            timeframes=len(timeframes),
            invoices=compared,
            differences=tuple(differences),
        )


def _invoices(store: Store, timeframe_id: int, clock: BlockClock) -> Iterator[Invoice] | str:
    """The timeframe's invoices, or why there are none (a history that stops before the timeframe began...)."""
    try:
        return iter_invoices(store, timeframe_id, clock)
    except InvoiceError as exc:
        return str(exc)


def _said(outcome: Iterator[Invoice] | str) -> str:
    return outcome if isinstance(outcome, str) else "invoices"
