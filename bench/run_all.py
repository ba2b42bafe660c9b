"""All benchmarks in one run: the metering client next to the plain web3.py way, as ratios, with the sample sizes.

Usage::

    python bench/run_all.py            # full run (about a minute on 2 cores), prints a markdown table
    python bench/run_all.py --quick    # small samples (a few seconds), for the test suite
    python bench/run_all.py --write    # also rewrite bench/RESULTS.md

Sections (each path that changes the chain runs on its own fresh anvil, automine, loopback HTTP):

1. submitting activations: plain web3.py (build_transaction, sign, send_raw_transaction, wait_for_transaction_receipt,
   one after the other) against ``Agent.activate``, ``TransactionSender.send_many`` (pipelined) and
   ``Agent.activate_many`` (100 requests per transaction);
2. signing: eth-account's ``sign_transaction`` with coincurve (what we ship) against the pure-Python eth-keys backend;
3. indexing a history of usage events: web3.py's ``get_logs`` per event type, and one ``eth.get_logs`` with
   ``process_log`` per log, against ``Indexer.sync`` into SQLite;
4. invoices of every customer of the timeframe, computed from that SQLite store;
5. gas: the headline of ``bench/gas.py`` (a single granted activation against its floor, a batch of 100 per item
   against a single activation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import gas
import throughput as tp
from web3 import Web3

from metering.node import LocalNode, find_anvil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Sizes:
    activations: int
    customers: int
    events: int
    signs: int
    signs_native: int
    runs: int  # repetitions of the read-only paths (the median is reported)


FULL = Sizes(activations=500, customers=50, events=5_000, signs=3_000, signs_native=300, runs=3)
QUICK = Sizes(activations=40, customers=10, events=400, signs=300, signs_native=30, runs=1)

#: Every row of the table, by key: the test checks each one is printed with positive numbers.
ROW_KEYS = ("1a", "1b", "1c", "1d", "2a", "2b", "3a", "3b", "3c", "4a", "4b", "5a", "5b")

HEADERS = ("#", "measurement", "N", "time (s)", "rate", "unit", "ratio", "ratio against")


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    n: int
    seconds: float | None
    rate: float
    unit: str
    ratio: float
    against: str

    def cells(self) -> list[str]:
        return [
            self.key,
            self.name,
            f"{self.n:,}",
            "-" if self.seconds is None else f"{self.seconds:.3f}",
            f"{self.rate:,.0f}" if self.rate >= 100 else f"{self.rate:,.1f}",
            self.unit,
            f"{self.ratio:.2f}" if self.unit != "gas" else f"{self.ratio:.3f}",
            self.against,
        ]


def timing_row(key: str, name: str, timing: tp.Timing, unit: str, baseline: tp.Timing | None, against: str) -> Row:
    ratio = timing.rate / baseline.rate if baseline is not None else 1.0
    return Row(key, name, timing.items, timing.seconds, timing.rate, unit, ratio, against)


def traffic(timing: tp.Timing) -> str:
    """How many transactions a path sent and the JSON-RPC requests it made per transaction."""
    return f"{timing.transactions:,} tx, {timing.requests / timing.transactions:.1f} RPC requests/tx"


class Runner:
    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.rows: list[Row] = []
        self.history: tp.History | None = None

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.key:<3} {row.name}: {row.cells()[4]} {row.unit} (x{row.cells()[6]})", flush=True)

    def section(self, title: str, fn: Callable[[], None]) -> None:
        print(f"{title}...", flush=True)
        began = time.perf_counter()
        fn()
        print(f"  ({time.perf_counter() - began:.1f} s)", flush=True)

    # ------------------------------------------------------------------ 1

    def submitting(self) -> None:
        s = self.sizes
        n, batch = s.activations, min(100, s.activations)

        def fresh(measure: Callable[[tp.Market, int], tp.Timing]) -> tp.Timing:
            """The median of ``runs`` runs, each on its own fresh anvil."""
            timings = sorted(
                (tp.on_fresh_market(s.customers, lambda market: measure(market, n)) for _ in range(s.runs)),
                key=lambda t: t.seconds,
            )
            return replace(timings[len(timings) // 2], runs=len(timings))

        plain = fresh(tp.submit_plain_web3)
        agent = fresh(tp.submit_agent)
        pipelined = fresh(tp.submit_pipelined)
        batched = fresh(lambda market, k: tp.submit_batched(market, k, batch))
        against = "1a (plain web3.py)"
        self.add(timing_row(
            "1a", "submit: plain web3.py build_transaction + sign + send_raw_transaction + "
            f"wait_for_transaction_receipt, sequential ({traffic(plain)})", plain, "tx/s", None, "itself"))
        self.add(timing_row(
            "1b", f"submit: Agent.activate, sequential ({traffic(agent)})", agent, "tx/s", plain, against))
        self.add(timing_row(
            "1c", f"submit: TransactionSender.send_many, one tx per activation, pipelined ({traffic(pipelined)})",
            pipelined, "tx/s", plain, against))
        self.add(timing_row(
            "1d", f"submit: Agent.activate_many, batches of {batch} ({traffic(batched)})", batched, "activations/s",
            plain, against))

    # ------------------------------------------------------------------ 2

    def signing(self) -> None:
        s = self.sizes
        native = tp.signing_in_subprocess(s.signs_native, "NativeECCBackend")
        backend = tp.ecc_backend()
        if backend != "CoinCurveECCBackend":
            raise RuntimeError(f"eth-keys signs with {backend}: install coincurve (a dependency of metering)")
        ours = tp.signing(s.signs)
        self.add(timing_row(
            "2a", "sign: eth-account sign_transaction, pure-Python eth-keys backend (no coincurve)", native,
            "signs/s", None, "itself"))
        self.add(timing_row(
            "2b", "sign: eth-account sign_transaction with coincurve (what we ship)", ours, "signs/s", native,
            "2a (no coincurve)"))

    # ------------------------------------------------------------------ 3 and 4

    def indexing(self) -> None:
        s = self.sizes
        out = tp.run_indexing_and_invoices(s.events, s.customers * 2, s.runs)
        history: tp.History = out["history"]
        self.history = history
        plain = out["plain_per_type"]
        against = "3a (web3 get_logs per type)"
        self.add(timing_row(
            "3a", f"index: web3.py contract.events.X().get_logs, {len(tp.INVOICE_EVENTS)} event types",
            plain, "events/s", None, "itself"))
        self.add(timing_row(
            "3b", "index: web3.py eth.get_logs + process_log per log", out["plain_process_log"], "events/s", plain,
            against))
        self.add(timing_row(
            "3c", "index: Indexer.sync into SQLite (fetch, check hashes, decode, store)", out["ours"], "events/s",
            plain, against))
        invoices, events = out["invoices"], out["invoice_events"]
        self.add(Row(
            "4a", "invoices_for_timeframe from the store: invoices", invoices.items, invoices.seconds, invoices.rate,
            "invoices/s", events.items / invoices.items, "usage events per invoice"))
        self.add(Row(
            "4b", "invoices_for_timeframe from the store: usage events counted", events.items, events.seconds,
            events.rate, "events/s", events.rate / out["ours"].rate, "3c (indexing rate)"))

    # ------------------------------------------------------------------ 5

    def gas(self) -> None:
        with LocalNode(extra_args=("--hardfork", "cancun")) as node:
            w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
            report = gas.Bench(w3, node).run()
        single = report.get(gas.HEADLINE)
        batch = report.get(gas.BATCH_HEADLINE)
        self.add(Row(
            "5a", "gas: single granted activation (steady state)", single.items, None, single.gas_used, "gas",
            single.ratio, f"its floor ({single.floor:,} gas); target <= {gas.SINGLE_TARGET:.2f}"))
        self.add(Row(
            "5b", "gas: batch of 100 activations, distinct customers, per item", batch.items, None, batch.per_item,
            "gas", batch.per_item / single.gas_used,
            f"5a ({single.gas_used:,} gas); target <= {gas.BATCH_TARGET:.2f}"))

    def run(self) -> list[Row]:
        self.section(f"1. submitting {self.sizes.activations} activations (fresh anvil per path)", self.submitting)
        self.section("2. signing", self.signing)
        self.section(f"3./4. indexing about {self.sizes.events:,} events, then invoices", self.indexing)
        self.section("5. gas (bench/gas.py)", self.gas)
        missing = set(ROW_KEYS) - {r.key for r in self.rows}
        if missing:
            raise RuntimeError(f"rows missing: {sorted(missing)}")
        return self.rows


# ---------------------------------------------------------------------------------------------- output


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---|---:|---:|---:|---|---:|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def environment() -> list[str]:
    try:
        anvil = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True, timeout=10)
        first = anvil.stdout.splitlines()[0] if anvil.stdout else "unknown"
        anvil_version = first.replace("Version:", "").replace("  ", " ").strip()
    except (OSError, subprocess.SubprocessError):
        anvil_version = "unknown"
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("web3", "eth-account", "eth-keys", "coincurve"))
    return [
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, {anvil_version} "
        "(automine, loopback HTTP)",
        versions,
    ]


def results_markdown(rows: Sequence[Row], command: str, sizes: Sizes, seconds: float, history: tp.History) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = environment()
    return "\n".join([
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {date}, in {seconds:.0f} s.",
        "",
        f"Machine: {env[0]}; {env[1]}.",
        "",
        markdown_table(rows),
        "",
        "## How each number is measured",
        "",
        f"- **1. Submitting** {sizes.activations} activations of {sizes.customers} enrolled customers, median of "
        f"{sizes.runs} run(s), each run on a fresh anvil (automine: one block per transaction). Each run is "
        "checked afterwards against the contract's usage counters (every activation granted and counted once). "
        "1a counts the nonce locally (one `eth_getTransactionCount` at the start); `build_transaction` still "
        "estimates gas and reads the fees for every transaction. 1b estimates gas per call, signs locally, polls "
        "the receipt and decodes the decision. 1c encodes all calls (inside the timed part), signs and broadcasts "
        "them with consecutive nonces and a fixed gas limit (160,000, the Agent's own floor for one activation; no "
        "estimate), then collects the receipts. 1d sends 100 requests per `requestActivations` transaction. "
        "RPC requests/tx counts every JSON-RPC request of the timed part.",
        f"- **2. Signing** EIP-1559 `requestActivation` transactions: {sizes.signs:,} with coincurve, "
        f"{sizes.signs_native:,} with eth-keys' pure-Python `NativeECCBackend` (in a subprocess with "
        "`ECC_BACKEND_CLASS` set). No node involved.",
        f"- **3. Indexing** a history of {history.usage_events:,} usage events ({history.grants:,} grants in batches, "
        f"{history.expiries:,} expiries in batches, {history.renewals:,} renewals and {history.deactivations:,} "
        f"deactivations one per transaction; {history.last_block:,} blocks) plus the set-up events, from the "
        f"deployment block to the head, median of {sizes.runs} run(s). 3a and 3b only fetch and decode the "
        f"{len(tp.INVOICE_EVENTS)} event types an invoice needs (the usage events plus TimeframeCreated and "
        "RulesSet); 3c also checks block hashes (reorg safety), decodes every event type of the contract (so also "
        "the CustomerEnrolled events) and writes them to a new SQLite file in one transaction per range.",
        "- **4. Invoices** of every customer with usage in the timeframe (`invoices_for_timeframe`, reading the "
        "SQLite file of 3c): each invoice is checked to be non-zero and the counted events to equal the history.",
        "- **5. Gas** from `bench/gas.py` (receipts' `gasUsed` on a fresh `--hardfork cancun` anvil; the floor is "
        "the cost of the storage the operation must touch, see `gas-report.md`).",
        "",
        "Reference points from the design anchors (A.4.1, same kind of machine): pre-signed `send_raw_transaction` "
        "~545 tx/s sync; signing ~2,870/s with coincurve and ~284/s without; `get_logs` decoded via "
        "`contract.events.X().get_logs` ~2,800 events/s.",
        "",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small samples (for the test suite)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    runner = Runner(sizes)
    rows = runner.run()
    seconds = time.perf_counter() - began
    print()
    print(markdown_table(rows))
    print(f"\ntotal {seconds:.1f} s")
    if args.write:
        assert runner.history is not None
        given = list(sys.argv[1:] if argv is None else argv)
        command = " ".join(["python bench/run_all.py", *(shlex.quote(a) for a in given)])
        RESULTS.write_text(results_markdown(rows, command, sizes, seconds, runner.history), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
