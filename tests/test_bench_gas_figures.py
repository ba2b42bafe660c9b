"""No gas figure in bench/RESULTS.md is older than the contract it measures: rows 5a and 5b say what gas-report.md
(written by ``bench/gas.py --write`` from the shipped artifacts) says for the same operations."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import gas  # noqa: E402 - bench/ is not a package


def table_rows(text: str) -> dict[str, list[str]]:
    """The cells of every markdown table row, by its first cell."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def number(cell: str) -> int:
    found = re.match(r"[\d,]+", cell)
    assert found, cell
    return int(found.group().replace(",", ""))


def test_the_gas_rows_of_the_bench_results_are_those_of_the_gas_report() -> None:
    report = table_rows((ROOT / "gas-report.md").read_text(encoding="utf-8"))
    results = table_rows((ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8"))
    single = number(report[gas.HEADLINE][2])  # gas per item
    batch = number(report[gas.BATCH_HEADLINE][2])
    assert number(results["5a"][4]) == single, (
        f"bench/RESULTS.md says {results['5a'][4]} gas for 5a, gas-report.md {single:,}: "
        "python bench/run_all.py --only gas --write"
    )
    assert number(results["5b"][4]) == batch, (
        f"bench/RESULTS.md says {results['5b'][4]} gas for 5b, gas-report.md {batch:,}: "
        "python bench/run_all.py --only gas --write"
    )
