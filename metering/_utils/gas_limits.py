"""Known gas limits for the agent's calls, from the committed gas report, so no call waits for ``eth_estimateGas``.

An estimate is a full extra round trip per transaction (with web3's middleware, three). The contract's costs are
measured and committed in ``gas-report.md`` (``./run gas``), so each hot call takes its limit from there instead:
the worst case measured for the operation, plus :data:`MARGIN_PERCENT`, and never less than an explicit floor that
also covers the paths the report does not isolate (the first activation of a timeframe moves the contract's
timeframe cursor; a renewal mined after its timeframe ended continues the lease as a fresh grant). Unused gas is
not paid, so a generous limit costs nothing; a limit that is too low shows as ``ran out of gas`` with the limit,
and ``tests/library/test_gas_limits.py`` fails when the report's figures outgrow the table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIVATION", "BATCH_ACTIVATION", "DEACTIVATION", "EXPIRY", "MARGIN_PERCENT", "RENEWAL", "GasLimit"]

#: Added to the measured worst case: state may differ from the measured one (a cold slot, a longer batch).
MARGIN_PERCENT = 25


@dataclass(frozen=True)
class GasLimit:
    """The gas limit of one operation: ``(base + per_item * items) * (1 + MARGIN_PERCENT/100)``, at least
    ``floor + floor_per_item * items``. ``base`` and ``per_item`` are the worst cases of ``gas-report.md``."""

    base: int
    floor: int
    per_item: int = 0
    floor_per_item: int = 0

    def limit(self, items: int = 1) -> int:
        measured = (self.base + self.per_item * items) * (100 + MARGIN_PERCENT) // 100
        return max(measured, self.floor + self.floor_per_item * items)


#: ``requestActivation``: worst measured is the first activation in a timeframe (110,488, moves the cursor).
ACTIVATION = GasLimit(base=110_488, floor=160_000)
#: ``requestActivations``: per request, a distinct customer's first activation (58,057 in a batch of 100); the
#: fixed part is the cursor move and the batch overhead (110,488 + 1,226 - 58,057, from the batch of one).
BATCH_ACTIVATION = GasLimit(base=53_657, per_item=58_057, floor=80_000, floor_per_item=45_000)
#: ``renewLease``: 44,011 measured; the floor covers a continuation into the next timeframe (about 110,000,
#: plus the cursor move when it is that timeframe's first activation).
RENEWAL = GasLimit(base=44_011, floor=170_000)
#: ``deactivate``: 38,311 measured.
DEACTIVATION = GasLimit(base=38_311, floor=80_000)
#: ``expireLeases``: 36,404 for one id, 12,305 per id in a batch of 10.
EXPIRY = GasLimit(base=24_099, per_item=12_305, floor=40_000, floor_per_item=20_000)
