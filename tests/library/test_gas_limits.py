"""The agent's known gas limits cover every transaction of the committed gas report with the safety margin, so a
contract change that costs more gas fails here before it fails on chain as ``ran out of gas``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metering._utils import gas_limits
from metering._utils.gas_limits import MARGIN_PERCENT, GasLimit

REPORT = Path(__file__).resolve().parents[2] / "gas-report.md"

#: Which limit covers each row of the report, and for how many items (None: read "batch of N" from the row).
COVERAGE: list[tuple[str, GasLimit, int | None]] = [
    (r"^activation, ", gas_limits.ACTIVATION, 1),
    (r"^renew(:|$)", gas_limits.RENEWAL, 1),
    (r"^deactivate(:|$)", gas_limits.DEACTIVATION, 1),
    (r"^expire, single", gas_limits.EXPIRY, 1),
    (r"^expireLeases of (\d+)", gas_limits.EXPIRY, None),
    (r"^batch of (\d+)", gas_limits.BATCH_ACTIVATION, None),
    (r"^grant, steady state", gas_limits.ACTIVATION, 1),  # the settlement section's prepaid and postpaid grants
]

#: Rows of transactions the library sends with the node's estimate (``Call(gas=None)``), not a known limit: the
#: settlement's deposits, withdrawals and settlements (their cost grows with the timeframe's instance types).
ESTIMATED = (r"^deposit, ", r"^withdraw ", r"^settle one customer", r"^settleMany, ")


def _rows() -> list[tuple[str, int]]:
    """The rows of the report's measurement tables (a header ``| operation | gas used (tx) |``); the other tables
    compare versions or itemise floors."""
    rows = []
    measured = False
    for line in REPORT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            measured = False
        elif cells[0] == "operation":
            measured = len(cells) > 1 and cells[1] == "gas used (tx)"
        elif measured and len(cells) > 2 and cells[1].replace(",", "").isdigit():
            rows.append((cells[0], int(cells[1].replace(",", ""))))
    return rows


def test_the_report_has_rows() -> None:
    assert len(_rows()) >= 10


@pytest.mark.parametrize(("operation", "gas_used"), _rows(), ids=[r[0] for r in _rows()])
def test_every_measured_transaction_fits_its_known_limit_with_the_margin(operation: str, gas_used: int) -> None:
    if any(re.match(pattern, operation) for pattern in ESTIMATED):
        return  # sent with the node's estimate: no known limit to outgrow
    for pattern, limit, items in COVERAGE:
        found = re.match(pattern, operation)
        if found:
            count = items if items is not None else int(found.group(1))
            assert limit.limit(count) >= gas_used * (100 + MARGIN_PERCENT) // 100, operation
            return
    pytest.fail(f"no known gas limit covers {operation!r}: add it to metering/_utils/gas_limits.py")


def test_the_floor_holds_when_the_measured_cost_is_small() -> None:
    assert GasLimit(base=10, floor=1_000).limit() == 1_000
    assert GasLimit(base=10, floor=0, per_item=100, floor_per_item=0).limit(4) == 512
