"""``bench/run_all.py --quick`` runs end to end and prints every row of its tables with positive numbers, and every
ceiling comparison with its ratios, target and verdict (whatever the verdict: a quick run measures nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The rows the benchmark promises (submitting, signing, indexing, invoices, gas).
ROWS = ("1a", "1b", "1c", "1d", "2a", "2b", "3a", "3b", "3c", "4a", "4b", "5a", "5b")
GAS_ROWS = ("5a", "5b")  # no wall time: a gas figure
#: The comparisons against the node's ceilings (sequential, batched sends, batched activations).
CEILINGS = ("C1", "C2", "C3")


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_quick_benchmark_prints_every_row_with_positive_numbers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = {}
    ceilings = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ROWS:
            table[cells[0]] = cells
        if line.startswith("| ") and cells[0] in CEILINGS:
            ceilings[cells[0]] = cells
    assert sorted(ceilings) == sorted(CEILINGS), done.stdout
    for key, (_, path, n, ours, ceiling, to_ceiling, to_plain, target, verdict) in ceilings.items():
        assert path and _number(n) > 0, key
        assert _number(ours.split()[0]) > 0 and _number(ceiling.split()[0]) > 0, key
        assert _number(to_ceiling.split()[0]) > 0 and _number(to_plain.split()[0]) > 0, key
        assert target == {"C1": ">= 0.50", "C2": ">= 0.75", "C3": ">= 0.70"}[key], key
        assert verdict in ("PASS", "FAIL"), key
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
