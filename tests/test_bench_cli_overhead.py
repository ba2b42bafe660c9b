"""``bench/cli_overhead.py --quick`` runs end to end and prints, for ``--help``, ``--version`` and every read command,
its wall time, CPU time, RPC calls, their replay by the plain client, the overhead, the target and a verdict
(whatever the verdict: timing targets belong to the bench, not to a test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = ("--help", "--version", "usage", "timeframe list", "rules show", "instance show", "customer account",
            "customer list", "role show", "events", "events --json", "index", "invoice", "invoice --json",
            "invoice --as-of", "verify", "verify --settlement", "verify-source", "customer balance", "provider payouts")
TARGETS = {"--help": 0.3, "--version": 0.3}
READS_CALL_THE_NODE = COMMANDS[2:]


def test_quick_cli_overhead_bench_prints_every_row_with_numbers() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cli_overhead.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
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
    assert done.stdout.strip().splitlines()[-1].startswith("verdict: ")
