"""The command line's own overhead: what a command costs beyond the JSON-RPC calls it makes (issue 20).

Targets: ``metering --help`` and ``--version`` within 0.3 s; a read command (``usage``, ``timeframe list``,
``rules show``, ``instance show``, ``customer account``, ``customer list``, ``role show``, ``events``, ``index``,
``invoice``, ``verify`` (with ``--settlement`` too), ``verify-source``, ``customer balance``, ``provider payouts``)
within 0.5 s of its RPC calls.

How: the bench starts its own anvil, deploys a Meter and sets up a market through the CLI (a timeframe in force,
rules, two customers, one instance running, the Settlement contract with the customer's deposit, a running
statement written by ``invoice -o``). Each read command runs once through a recording proxy that notes the
JSON-RPC request bodies it sends. The **fastest plain client** then replays exactly those bodies as raw
``http.client`` POSTs over one kept-alive connection to the same node (no JSON parsing, no encoding: the bodies are
ready). The overhead of a command is the median wall time of the command as a subprocess (``--runs``, default 7)
minus the median time of its replay, measured side by side in the same run; the verdict is on it. The command's CPU
time (user + system, median) is shown beside it: on a machine busier than its cores, wall time is that CPU time
stretched by the wait for a core. ``events``, ``customer list``, ``index``, ``invoice`` and ``verify`` read
through a fresh event database each run, so every run does the same work. The load average is printed with the
table: on a busy machine every number is larger.

    python bench/cli_overhead.py            # 7 runs of each
    python bench/cli_overhead.py --write    # the same, and rewrite bench/RESULTS-cli.md (or --output PATH)
    python bench/cli_overhead.py --quick    # 1 run of each (the test suite checks the rows)

``--write`` writes how it is measured, the command, the date, the load average as the bench ended, the table and a
verdict and summary made from the numbers of this run. Exit code: 1 when a command is over its target (the file is
written either way), else 0; with ``--quick`` (one run: not judged) 0 whatever the verdicts.

To measure another checkout (the "before" of a change), run the bench with a Python whose ``metering`` is that
checkout's and whose ``bin/`` has its console script: the commands run as ``<python's bin>/metering``.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prose import markdown, span  # noqa: E402

from metering.chain.node import LocalNode, dev_private_keys  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-cli.md"
HELP_TARGET = 0.3
READ_TARGET = 0.5
METERING = [str(Path(sys.executable).parent / "metering")]


@dataclass(frozen=True)
class Row:
    name: str
    wall: float  # median seconds of the command
    cpu: float  # median CPU seconds of the command (user + system): what a busy machine stretches into wall time
    rpc: float  # median seconds of the same RPC calls, replayed by the plain client
    calls: int
    target: float

    @property
    def overhead(self) -> float:
        return self.wall - self.rpc

    @property
    def verdict(self) -> str:
        return "PASS" if self.overhead <= self.target else "FAIL"


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Forwards each POST to the node and records its body (keep-alive on both sides)."""

    protocol_version = "HTTP/1.1"
    upstream: ClassVar[tuple[str, int]] = ("127.0.0.1", 8545)
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.bodies.append(body)
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        payload = answer.read()
        connection.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def recording_proxy(rpc_url: str) -> Iterator[tuple[str, list[bytes]]]:
    parts = urlsplit(rpc_url)
    bodies: list[bytes] = []
    handler = type("Handler", (_Recorder,), {"upstream": (parts.hostname, parts.port), "bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def replay(rpc_url: str, bodies: Sequence[bytes]) -> float:
    """Seconds to POST ``bodies`` in order over one kept-alive ``http.client`` connection, reading each answer."""
    parts = urlsplit(rpc_url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for body in bodies:
        connection.request("POST", "/", body, headers)
        connection.getresponse().read()
    connection.close()
    return time.perf_counter() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stdout of ``metering ARGS`` (a failure ends the bench, saying why)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*METERING, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`metering {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return wall, _children_cpu() - cpu, done.stdout


def setup_market(env: dict[str, str], keys: list[str], addresses: list[str], scratch: Path) -> dict[str, str]:
    """Deploy, a timeframe of a day in force, the example rules, customers enrolled, the agent granted, one
    instance running, the Settlement contract with the customer's deposit (through the library), a running
    statement in a file; returns what the read commands ask about."""
    contract = json.loads(run(["deploy", "--json", "--admin-delay", "0"], env)[2])["address"]
    env["METERING_CONTRACT"] = contract
    created = json.loads(run(["timeframe", "create", "--currency", "EUR", "--starts-in", "60", "--duration", "1d",
                              "--json"], env)[2])
    run(["rules", "set", str(ROOT / "examples" / "rules.yaml")], env)
    run(["customer", "enroll", addresses[2], addresses[3]], env)
    run(["agent", "grant", addresses[1]], env)
    run(["dev", "advance", "120"], env)
    agent_env = {**env, "METERING_PRIVATE_KEY": keys[1]}
    granted = json.loads(run(["activate", "--customer", addresses[2], "--type", "1", "--json"], agent_env)[2])
    from eth_account import Account

    from metering.chain import connect
    from metering.settlement.story import open_escrow

    w3 = connect(env["ETH_RPC_URL"])
    escrow = open_escrow(w3, Account.from_key(keys[0]), contract, Account.from_key(keys[2]), 500, lambda _: None)
    statement = scratch / "statement.json"
    run(["invoice", "--customer", addresses[2], "--timeframe", str(created["timeframe"]), "-o", str(statement)], env)
    as_of = json.loads(statement.read_text(encoding="utf-8"))["evidence"]["to_block"]
    return {"contract": contract, "timeframe": str(created["timeframe"]), "customer": addresses[2],
            "instance": str(granted["instance_id"]), "settlement": escrow.address, "statement": str(statement),
            "as_of": str(as_of)}


def commands(market: dict[str, str]) -> list[tuple[str, list[str], float]]:
    tf, who = market["timeframe"], market["customer"]
    return [
        ("--help", ["--help"], HELP_TARGET),
        ("--version", ["--version"], HELP_TARGET),
        ("usage", ["usage", "--customer", who, "--timeframe", tf, "--type", "1", "--type", "2"], READ_TARGET),
        ("timeframe list", ["timeframe", "list"], READ_TARGET),
        ("rules show", ["rules", "show", "--timeframe", tf, "--type", "1", "--type", "2"], READ_TARGET),
        ("instance show", ["instance", "show", market["instance"]], READ_TARGET),
        ("customer account", ["customer", "account", who], READ_TARGET),
        ("customer list", ["customer", "list"], READ_TARGET),
        ("role show", ["role", "show", who], READ_TARGET),
        ("events", ["events"], READ_TARGET),
        ("events --json", ["events", "--json"], READ_TARGET),
        ("index", ["index"], READ_TARGET),
        ("invoice", ["invoice", "--customer", who, "--timeframe", tf], READ_TARGET),
        ("invoice --json", ["invoice", "--customer", who, "--timeframe", tf, "--json"], READ_TARGET),
        ("invoice --as-of", ["invoice", "--customer", who, "--timeframe", tf, "--as-of", market["as_of"], "--json"],
         READ_TARGET),
        ("verify", ["verify", market["statement"]], READ_TARGET),
        ("verify --settlement", ["verify", market["statement"], "--settlement", market["settlement"]], READ_TARGET),
        ("verify-source", ["verify-source"], READ_TARGET),
        ("customer balance", ["customer", "balance", who, "--settlement", market["settlement"]], READ_TARGET),
        ("provider payouts", ["provider", "payouts", "--settlement", market["settlement"]], READ_TARGET),
    ]


def measure(node_url: str, env: dict[str, str], market: dict[str, str], runs: int, scratch: Path) -> list[Row]:
    rows: list[Row] = []
    for index, (name, args, target) in enumerate(commands(market)):
        with recording_proxy(node_url) as (proxy_url, bodies):
            run(args, {**env, "ETH_RPC_URL": proxy_url, "METERING_DB": str(scratch / f"rec{index}.sqlite")})
        recorded = list(bodies)
        walls, cpus, replays = [], [], []
        for attempt in range(runs):
            db = scratch / f"run{index}-{attempt}.sqlite"
            wall, cpu, _ = run(args, {**env, "METERING_DB": str(db)})
            walls.append(wall)
            cpus.append(cpu)
            replays.append(replay(node_url, recorded))
        rows.append(Row(name, statistics.median(walls), statistics.median(cpus), statistics.median(replays),
                        len(recorded), target))
    return rows


def report(rows: Sequence[Row], runs: int) -> None:
    load = os.getloadavg()
    print(f"CLI overhead: median of {runs} run(s) per command, minus the same JSON-RPC calls replayed by the fastest "
          "plain client (raw http.client POSTs of the recorded bodies over one kept-alive connection)")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'command':<20} {'wall s':>7} {'cpu s':>6} {'calls':>5} {'rpc s':>7} {'overhead s':>10} {'target s':>8}"
          "  verdict")
    for row in rows:
        print(f"{row.name:<20} {row.wall:>7.3f} {row.cpu:>6.3f} {row.calls:>5} {row.rpc:>7.4f} {row.overhead:>10.3f} "
              f"{row.target:>8.1f}  {row.verdict}")
    print(verdict(rows))


def verdict(rows: Sequence[Row]) -> str:
    failed = [row.name for row in rows if row.verdict == "FAIL"]
    return "verdict: " + ("every command within its target" if not failed else f"over target: {', '.join(failed)}")


def summary(rows: Sequence[Row], judged: bool = True) -> list[str]:
    """The verdict, then what the table says: sentences made from its numbers only."""
    over = [row for row in rows if row.verdict == "FAIL"]
    said = ", ".join(f"`{row.name}` ({row.overhead:.3f} s > {row.target} s)" for row in over)
    lines = [("Verdict: " if judged else "Not judged (`--quick`: one run of each command): ")
             + (f"{len(over)} of {len(rows)} commands over their target: {said}." if over
                else f"every command within its target ({len(rows)} commands).")]
    quick = [row for row in rows if row.calls == 0]
    reads = [row for row in rows if row.calls > 0]
    if quick:
        names = " and ".join(f"`{row.name}`" for row in quick)
        lines.append(f"{names} (no calls): {span([r.wall for r in quick], 3)} s, all of it Python's start and the "
                     "command line's own imports.")
    if reads:
        share = max(row.rpc / row.wall for row in reads if row.wall)
        overhead, cpu = span([r.overhead for r in reads], 3), span([r.cpu for r in reads], 3)
        calls, replay = span([r.calls for r in reads], 0), span([r.rpc * 1000 for r in reads], 1)
        lines.append(f"The reads: overhead {overhead} s with {cpu} s of CPU, for {calls} calls that the plain client "
                     f"replays in {replay} ms (at most {share:.1%} of a command's wall time)"
                     + (": what a read costs is the command itself, not the node." if share < 0.1 else "."))
    within = [row for row in over if row.cpu <= row.target]
    if within:
        who = ("Every command over its target" if len(within) == len(over)
               else f"{len(within)} of the {len(over)} commands over their target")
        lines.append(f"{who} used less CPU time than the target ({span([r.cpu for r in within], 3)} s): the rest of "
                     "the wall time was waiting.")
    stretch = max(rows, key=lambda row: row.wall - row.cpu)
    lines.append(f"Wall time exceeded CPU time by {span([r.wall - r.cpu for r in rows], 3)} s (the most: "
                 f"`{stretch.name}`): time the command waited, for a core, the node or the disk.")
    return lines


def document(rows: Sequence[Row], command: str, load: tuple[float, float, float], judged: bool = True) -> str:
    """bench/RESULTS-cli.md: how it is measured, the command, when, the load, the table and what it says."""
    cores = os.cpu_count()
    how = (__doc__ or "").split("How: ", 1)[1].split("\n\n", 1)[0]
    parts = [
        '# CLI overhead (issue 20: "The CLI answers instantly")',
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cores} cores shared with "
        f"other jobs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min) as it ended: the numbers "
        "are as quiet as the machine was.",
        "",
        f"Targets: `--help` and `--version` within {HELP_TARGET} s; a read within {READ_TARGET} s of its RPC calls. "
        "How: " + " ".join(how.replace("``", "`").split()),
        "",
        "| command | wall s | cpu s | calls | rpc s | overhead s | target s | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *(f"| {row.name} | {row.wall:.3f} | {row.cpu:.3f} | {row.calls} | {row.rpc:.4f} | {row.overhead:.3f} | "
          f"{row.target} | {row.verdict} |" for row in rows),
        "",
        *(said := summary(rows, judged))[:1],
        "",
        *(f"- {line}" for line in said[1:]),
        "",
        "Earlier measurements (each step of the lean reads, before and after) are in this file's history: "
        "`git log -p bench/RESULTS-cli.md`.",
        "",
    ]
    return markdown(parts)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (the median is reported)")
    parser.add_argument("--quick", action="store_true", help="one run of each command (not judged)")
    parser.add_argument("--write", action="store_true", help="also rewrite the results file (see --output)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where --write writes (bench/RESULTS-cli.md)")
    options = parser.parse_args(given)
    runs = 1 if options.quick else max(options.runs, 1)
    keys = dev_private_keys(4)
    from eth_account import Account

    addresses = [Account.from_key(key).address for key in keys]
    scratch = Path(tempfile.mkdtemp(prefix="cli-overhead-"))
    try:
        with LocalNode(port=0) as node:
            env = {key: value for key, value in os.environ.items()
                   if not key.startswith(("METERING_", "ETH_"))}
            env.update(ETH_RPC_URL=node.rpc_url, METERING_PRIVATE_KEY=keys[0], METERING_PROFILE="",
                       METERING_DEPLOYMENTS=str(scratch / "deployments"), METERING_DB=str(scratch / "setup.sqlite"))
            market = setup_market(env, keys, addresses, scratch)
            rows = measure(node.rpc_url, env, market, runs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(rows, runs)
    if options.write:
        command = " ".join(["python bench/cli_overhead.py", *given])
        options.output.write_text(document(rows, command, os.getloadavg(), not options.quick), encoding="utf-8")
        print(f"wrote {options.output}")
    return 0 if options.quick or all(row.verdict == "PASS" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
