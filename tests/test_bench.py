"""``bench/run_all.py --quick`` runs end to end and prints every row of its table with positive numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The rows the benchmark promises (submitting, signing, indexing, invoices, gas).
ROWS = ("1a", "1b", "1c", "1d", "2a", "2b", "3a", "3b", "3c", "4a", "4b", "5a", "5b")
GAS_ROWS = ("5a", "5b")  # no wall time: a gas figure


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_quick_benchmark_prints_every_row_with_positive_numbers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ROWS:
            table[cells[0]] = cells
    assert sorted(table) == sorted(ROWS), done.stdout
    for key, (_, name, n, seconds, rate, unit, ratio, against) in table.items():
        assert name and unit and against, key
        assert _number(n) > 0, key
        assert _number(rate) > 0, key
        assert _number(ratio) > 0, key
        if key in GAS_ROWS:
            assert seconds == "-", key
        else:
            assert _number(seconds) > 0, key
    # the baselines are their own reference
    for key in ("1a", "2a", "3a"):
        assert table[key][6] == "1.00", key
