"""Every results file from the bench, in one command: ``python bench/regenerate.py`` (``./run results``).

Why one command: no number in the README or bench/ may be older than the code it measures, and a results file
regenerated alone drifts from the others (the gas rows of RESULTS.md come from the same contract as gas-report.md;
tests/test_bench_gas_figures.py checks it). In order, cheap ones first, each a fresh process:

1. ``bench/gas.py --write``: gas-report.md;
2. ``bench/cli_overhead.py --write``: bench/RESULTS-cli.md (each command's overhead beyond its JSON-RPC calls);
3. ``bench/run_all.py --write``: bench/RESULTS.md (submitting against the ceilings, signing, indexing, invoices, gas);
4. ``bench/indexing.py --write``: bench/RESULTS-indexing.md (indexing and invoices against their ceilings, SQLite);
5. ``bench/web_load.py --write``: bench/RESULTS-web.md (the web view under load: as shipped, and its baselines);
6. ``bench/postgres.py --events 10000000 --write``: bench/RESULTS-postgres.md (``--events`` here changes its size).

Every step runs whatever the one before it returned: a bench whose verdict is FAIL (it exits 1) has written its
file all the same, and the files do not depend on each other. The exit code is the first failed step's, and the
failed steps are named at the end. It took 13 minutes on the idle 2-core machine (the 10,000,000-event PostgreSQL
store half of it); the load average is printed by each part.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def steps(events: int) -> list[list[str]]:
    """The scripts and their arguments, in the order they run (see the module's docstring)."""
    return [
        ["gas.py", "--write"],
        ["cli_overhead.py", "--write"],
        ["run_all.py", "--write"],
        ["indexing.py", "--write"],
        ["web_load.py", "--write"],
        ["postgres.py", "--events", str(events), "--write"],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events of the PostgreSQL store")
    args = parser.parse_args(argv)
    failed: list[tuple[str, int]] = []
    for step in steps(args.events):
        began = time.perf_counter()
        print(f"==> python bench/{' '.join(step)}", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / step[0]), *step[1:]], cwd=BENCH.parent, check=False)
        print(f"    ({time.perf_counter() - began:.0f} s, exit {done.returncode})", flush=True)
        if done.returncode != 0:
            failed.append((step[0], done.returncode))
    for script, code in failed:
        print(f"bench/{script} exited {code}: its verdict failed or it stopped (see its output above)")
    return failed[0][1] if failed else 0


if __name__ == "__main__":
    sys.exit(main())
