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


#: ``requestActivation``: the worst measured is a grant that takes a seat in a page of its own for the first time
#: (98,072); the first activation of a timeframe, which moves the cursor, is 97,284. The floor also covers a new
#: request on a seat whose previous lease expired unclosed (it emits that lease's ``LeaseExpired`` too).
ACTIVATION = GasLimit(base=98_072, floor=160_000)
#: ``requestActivations``: per request, a distinct customer's first activation (63,350 in a batch of 100); the
#: fixed part covers the cursor move and the batch overhead.
BATCH_ACTIVATION = GasLimit(base=40_000, per_item=63_350, floor=80_000, floor_per_item=45_000)
#: ``renewLease``: 53,043 measured (the cap accounting reads the prices and updates the customer's spending); the
#: floor covers a continuation into the next timeframe (a fresh decision, about 100,000).
RENEWAL = GasLimit(base=53_043, floor=170_000)
#: ``deactivate``: 46,429 measured (gives back seconds and what they committed).
DEACTIVATION = GasLimit(base=46_429, floor=90_000)
#: ``expireLeases``: 31,693 for one id, 11,497 per id in a batch of 10.
EXPIRY = GasLimit(base=20_200, per_item=11_500, floor=40_000, floor_per_item=20_000)
