"""``bench/cli_overhead.py --quick --write`` runs end to end and prints, for ``--help``, ``--version`` and every read
command, its wall time, CPU time, RPC calls, their replay by the plain client, the overhead, the target and a verdict
(whatever the verdict: timing targets belong to the bench, not to a test), and writes the same rows into the results
document (here into a temporary file: tests do not write into the checkout)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = ("--help", "--version", "usage", "timeframe list", "rules show", "instance show", "customer account",
            "customer list", "role show", "events", "events --json", "index", "invoice", "invoice --json",
            "invoice --as-of", "verify", "verify --settlement", "verify-source", "customer balance", "provider payouts")
TARGETS = {"--help": 0.3, "--version": 0.3}
READS_CALL_THE_NODE = COMMANDS[2:]


@pytest.mark.timeout(600)
def test_quick_cli_overhead_bench_prints_and_writes_every_row_with_numbers(tmp_path: Path) -> None:
    written = tmp_path / "RESULTS-cli.md"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cli_overhead.py"), "--quick", "--write", "--output",
                           str(written)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert re.search(r"^load average \d+\.\d\d \d+\.\d\d \d+\.\d\d on \d+ cores$", done.stdout, re.M), done.stdout
    assert "raw http.client POSTs" in done.stdout  # the plain client is named
    rows = {}
    for line in done.stdout.splitlines():
        match = re.match(r"^(.+?)\s+(\d+\.\d{3})\s+(\d+\.\d{3})\s+(\d+)\s+(\d+\.\d{4})\s+(-?\d+\.\d{3})\s+(\d\.\d)\s+"
                         r"(PASS|FAIL)$", line)
        if match:
            rows[match[1].strip()] = match.groups()[1:]
    assert sorted(rows) == sorted(COMMANDS), done.stdout
    for name, (wall, cpu, calls, rpc, overhead, target, verdict) in rows.items():
        assert float(wall) > 0 and float(cpu) > 0, name
        assert abs(float(wall) - float(rpc) - float(overhead)) < 0.002, name
        assert float(target) == TARGETS.get(name, 0.5), name
        assert verdict == ("PASS" if float(overhead) <= float(target) else "FAIL"), name
        if name in READS_CALL_THE_NODE:
            assert int(calls) > 0 and float(rpc) > 0, name  # the replay made the command's calls
        else:
            assert int(calls) == 0, name
    assert done.stdout.strip().splitlines()[-2].startswith("verdict: ")
    assert done.stdout.strip().splitlines()[-1] == f"wrote {written}"
    _the_document_has_the_printed_rows(written.read_text(encoding="utf-8"), rows)


def _the_document_has_the_printed_rows(text: str, printed: dict[str, tuple[str, ...]]) -> None:
    """The results file: the command that wrote it, the date and load average, the explanation, every printed row
    with the same numbers, and a verdict and summary made from them."""
    assert text.startswith("# CLI overhead")
    assert re.search(r"Written by `python bench/cli_overhead.py --quick --write --output \S+` on "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, \d+ cores .*load average \d+\.\d\d \d+\.\d\d \d+\.\d\d",
                     " ".join(text.split())), text[:600]
    assert "raw `http.client` POSTs" in text and "``" not in text  # the plain client named, markdown not rst
    table = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("command", "---"):
            table[cells[0]] = tuple(cells[1:])
    assert table == {name: (wall, cpu, calls, rpc, overhead, str(float(target)), verdict)
                     for name, (wall, cpu, calls, rpc, overhead, target, verdict) in printed.items()}
    over = [name for name, cells in table.items() if cells[-1] == "FAIL"]
    said = " ".join(text.split())
    assert "Not judged (`--quick`: one run of each command): " in said
    if over:
        assert f"{len(over)} of {len(table)} commands over their target: " in said
        assert all(f"`{name}` (" in said for name in over)
    else:
        assert f"every command within its target ({len(table)} commands)." in said
    assert "- The reads: overhead " in text and "calls that the plain client replays in" in said
