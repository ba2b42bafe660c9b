"""Every results file from the bench, in one command: ``python bench/regenerate.py`` (``./run results``).

Why one command: no number in the README or bench/ may be older than the code it measures, and a results file
regenerated alone drifts from the others (the gas rows of RESULTS.md come from the same contract as gas-report.md;
tests/test_bench_gas_figures.py checks it). In order, each a fresh process:

1. ``bench/gas.py --write``: gas-report.md;
2. ``bench/run_all.py --write``: bench/RESULTS.md (submitting against the ceilings, signing, indexing, invoices, gas);
3. ``bench/indexing.py --write``: bench/RESULTS-indexing.md (indexing and invoices against their ceilings, SQLite);
4. ``bench/postgres.py --events 10000000 --write``: bench/RESULTS-postgres.md (``--events`` here changes its size).

It takes most of an hour on two shared cores; the load average is printed by each part.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events of the PostgreSQL store")
    args = parser.parse_args(argv)
    steps = [
        ["gas.py", "--write"],
        ["run_all.py", "--write"],
        ["indexing.py", "--write"],
        ["postgres.py", "--events", str(args.events), "--write"],
    ]
    for step in steps:
        began = time.perf_counter()
        print(f"==> python bench/{' '.join(step)}", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / step[0]), *step[1:]], cwd=BENCH.parent, check=False)
        print(f"    ({time.perf_counter() - began:.0f} s)", flush=True)
        if done.returncode != 0:
            print(f"bench/{step[0]} failed (exit {done.returncode}); later results files were not regenerated")
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
