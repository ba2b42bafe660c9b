"""All benchmarks in one run: the metering client against the node's ceiling for the same work, and next to the
plain web3.py way, as ratios, with the sample sizes and the targets' verdicts.

Usage::

    python bench/run_all.py            # full run (a few minutes on 2 busy cores), prints two markdown tables
    python bench/run_all.py --quick    # small samples, one repetition (a smoke test: its verdicts mean nothing)
    python bench/run_all.py --write    # also rewrite bench/RESULTS.md

Sections (a registry, :data:`SECTIONS`: a new section is a ``Runner`` method and one entry):

1. submitting activations, against their ceilings (:mod:`ceilings`), each comparison on one fresh anvil per
   repetition (automine, loopback HTTP) with the paths taking turns in short rounds (:data:`ROUNDS`), the load
   average printed after each repetition: sequential ``Agent.activate`` and plain web3.py (build_transaction, sign,
   send_raw_transaction, wait_for_transaction_receipt) against presigned ``eth_sendRawTransactionSync`` (send,
   then the receipt, where the node lacks it), one by one; ``TransactionSender.send_many`` against presigned
   transactions in JSON-RPC batches of 500; ``Agent.activate_many`` (100 requests per transaction) against
   presigned ``requestActivations`` transactions in JSON-RPC batches. The ceilings table gives ours / ceiling and
   ours / plain web3.py as the median of the repetitions (min-max), with PASS or FAIL against :data:`TARGETS`;
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
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import ceilings
import gas
import throughput as tp
from web3 import Web3

from metering.chain.node import LocalNode, find_anvil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Sizes:
    activations: int  # sent one transaction each, one after the other
    pipelined: int  # sent one transaction each, pipelined
    batched: int  # activation requests sent 100 per transaction
    customers: int
    events: int
    signs: int
    signs_native: int
    runs: int  # repetitions (the median is reported)


FULL = Sizes(activations=500, pipelined=1_000, batched=20_000, customers=50, events=5_000, signs=3_000,
             signs_native=300, runs=3)
QUICK = Sizes(activations=20, pipelined=40, batched=200, customers=10, events=400, signs=300, signs_native=30,
              runs=1)

#: The targets (issue 18): each path at least this fraction of the node's ceiling for the same work (sequential
#: against eth_sendRawTransactionSync, pipelined against presigned JSON-RPC batches, activate_many against presigned
#: requestActivations in batches).
TARGETS = {"C1": 0.5, "C2": 0.75, "C3": 0.7}

#: Items per round when our path and its ceiling take turns on one chain (see :meth:`Runner.in_rounds`): 25
#: sequential activations, 250 pipelined transactions, 2,000 activations (20 transactions of 100).
ROUNDS = {"C1": 25, "C2": 250, "C3": 2_000}

#: A measured path: ``(market, n, start)`` sends ``n`` activations, numbered from ``start``, and times them.
Path_ = Callable[[tp.Market, int, int], tp.Timing]

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


@dataclass(frozen=True)
class Spread:
    """The median of a few repetitions, with their min and max."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        return cls(statistics.median(ordered), ordered[0], ordered[-1])

    def ratio_cell(self) -> str:
        if self.low == self.high:
            return f"{self.median:.2f}"
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"

    def rate_cell(self, unit: str) -> str:
        return f"{_rate(self.median)} {unit}"


@dataclass(frozen=True)
class Comparison:
    """One line of the ceilings table: our path against the node's ceiling for the same work, on the same anvil in
    each repetition, and against plain web3.py."""

    key: str
    name: str
    n: int
    unit: str
    ours: Spread
    ceiling: Spread
    ceiling_name: str
    to_ceiling: Spread
    to_plain: Spread | None
    target: float

    @property
    def verdict(self) -> str:
        return "PASS" if self.to_ceiling.median >= self.target else "FAIL"

    def cells(self) -> list[str]:
        return [
            self.key,
            self.name,
            f"{self.n:,}",
            self.ours.rate_cell(self.unit),
            f"{self.ceiling.rate_cell(self.unit)}: {self.ceiling_name}",
            self.to_ceiling.ratio_cell(),
            self.to_plain.ratio_cell() if self.to_plain is not None else "-",
            f">= {self.target:.2f}",
            self.verdict,
        ]


COMPARISON_HEADERS = ("#", "path", "N", "ours", "the node's ceiling for the same work", "ours / ceiling",
                      "ours / plain web3.py", "target", "verdict")


def _rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def median_timing(timings: Sequence[tp.Timing]) -> tp.Timing:
    """The repetition with the median time (its request counts with it)."""
    ordered = sorted(timings, key=lambda t: t.seconds)
    return replace(ordered[len(ordered) // 2], runs=len(ordered))


def summed(parts: Sequence[tp.Timing]) -> tp.Timing:
    """The rounds of one path in one repetition, as one timing."""
    return tp.Timing(sum(t.items for t in parts), sum(t.seconds for t in parts), 1, sum(t.requests for t in parts),
                     sum(t.transactions for t in parts))


def ratios(ours: Sequence[tp.Timing], reference: Sequence[tp.Timing]) -> Spread:
    """Per repetition ``ours / reference`` (rates), summarised."""
    return Spread.of([a.rate / b.rate for a, b in zip(ours, reference, strict=True)])


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
        self.comparisons: list[Comparison] = []
        self.history: tp.History | None = None
        self.loads: dict[str, list[tuple[float, float, float]]] = {}  # per comparison, after each repetition

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.key:<3} {row.name}: {row.cells()[4]} {row.unit} (x{row.cells()[6]})", flush=True)

    def compare(self, comparison: Comparison) -> None:
        self.comparisons.append(comparison)
        print(f"  {comparison.key:<3} {comparison.name}: {comparison.to_ceiling.ratio_cell()} of the ceiling "
              f"({comparison.ours.rate_cell(comparison.unit)} / {comparison.ceiling.rate_cell(comparison.unit)}), "
              f"target {comparison.target:.2f}: {comparison.verdict}", flush=True)

    def section(self, title: str, fn: Callable[[], None]) -> None:
        print(f"{title}...", flush=True)
        began = time.perf_counter()
        fn()
        print(f"  ({time.perf_counter() - began:.1f} s)", flush=True)

    def in_rounds(self, key: str, paths: dict[str, Path_], n: int, round_size: int) -> dict[str, list[tp.Timing]]:
        """Each repetition on its own fresh anvil; on it the paths of ``paths`` take turns in rounds of
        ``round_size`` items (the path that goes first rotates from round to round), and a path's time is the sum of
        its rounds. anvil slows down as its chain grows (by half over the first thousand blocks here), so a path run
        whole after another would meet a longer chain: in short alternating rounds every path meets the same chain
        lengths. The load average is printed after each repetition (the machine is shared) and kept for the
        results."""
        names = list(paths)
        results: dict[str, list[tp.Timing]] = {name: [] for name in names}
        for repetition in range(self.sizes.runs):
            parts: dict[str, list[tp.Timing]] = {name: [] for name in names}
            with LocalNode() as node:
                market = tp.open_market(node, self.sizes.customers)
                for number, start in enumerate(range(0, n, round_size)):
                    shift = (repetition + number) % len(names)
                    for name in names[shift:] + names[:shift]:
                        parts[name].append(paths[name](market, min(round_size, n - start), start))
                market.verify()
            load = os.getloadavg()
            self.loads.setdefault(key, []).append(load)
            for name in names:
                results[name].append(summed(parts[name]))
            print(f"    {key} repetition {repetition + 1}: "
                  + ", ".join(f"{name} {_rate(results[name][-1].rate)}/s" for name in names)
                  + f"; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}", flush=True)
        return results

    def comparison(
        self, key: str, name: str, unit: str, ours: list[tp.Timing], ceiling: list[tp.Timing], ceiling_name: str,
        plain: list[tp.Timing] | None,
    ) -> Comparison:
        return Comparison(
            key, name, ours[0].items, unit, Spread.of([t.rate for t in ours]), Spread.of([t.rate for t in ceiling]),
            ceiling_name, ratios(ours, ceiling), ratios(ours, plain) if plain is not None else None, TARGETS[key],
        )

    # ------------------------------------------------------------------ 1

    def submitting(self) -> None:
        s = self.sizes
        sequential = self.in_rounds("C1", {
            "plain": tp.submit_plain_web3,
            "ours": tp.submit_agent,
            "ceiling": ceilings.sequential,
        }, s.activations, ROUNDS["C1"])
        pipelined = self.in_rounds("C2", {
            "ours": tp.submit_pipelined,
            "ceiling": ceilings.batched,
        }, s.pipelined, ROUNDS["C2"])
        batched = self.in_rounds("C3", {
            "ours": lambda market, n, start: tp.submit_batched(market, n, ceilings.PER_TX, start),
            "ceiling": ceilings.activations,
        }, s.batched, ROUNDS["C3"])
        plain = sequential["plain"]
        plain_median = median_timing(plain)
        against = "1a (plain web3.py)"
        self.add(timing_row(
            "1a", "submit: plain web3.py build_transaction + sign + send_raw_transaction + "
            f"wait_for_transaction_receipt, sequential ({traffic(plain_median)})", plain_median, "tx/s", None,
            "itself"))
        agent = median_timing(sequential["ours"])
        self.add(timing_row(
            "1b", f"submit: Agent.activate, sequential ({traffic(agent)})", agent, "tx/s", plain_median, against))
        pipe = median_timing(pipelined["ours"])
        self.add(timing_row(
            "1c", f"submit: TransactionSender.send_many, one tx per activation, pipelined ({traffic(pipe)})",
            pipe, "tx/s", plain_median, against))
        many = median_timing(batched["ours"])
        self.add(timing_row(
            "1d", f"submit: Agent.activate_many, {ceilings.PER_TX} per transaction ({traffic(many)})", many,
            "activations/s", plain_median, against))
        self.compare(self.comparison(
            "C1", "Agent.activate, sequential", "tx/s", sequential["ours"], sequential["ceiling"],
            f"presigned, {ceilings.sequential_method}", plain))
        self.compare(self.comparison(
            "C2", "TransactionSender.send_many, one tx per activation", "tx/s", pipelined["ours"],
            pipelined["ceiling"], f"presigned transactions in JSON-RPC batch requests of {ceilings.BATCH}", plain))
        # plain web3.py has no batched path: its sequential activations are the reference, one per transaction
        self.compare(self.comparison(
            "C3", f"Agent.activate_many, {ceilings.PER_TX} per transaction", "activations/s", batched["ours"],
            batched["ceiling"], f"{ceilings.PER_TX} per presigned transaction, sent in JSON-RPC batches", plain))

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
            "5a", "gas: steady granted activation, approval and cap checks included", single.items, None,
            single.gas_used, "gas", single.ratio,
            f"its floor ({single.floor:,} gas); target <= {gas.SINGLE_TARGET:,} gas"))
        self.add(Row(
            "5b", "gas: batch of 100 activations, distinct customers, per item", batch.items, None, batch.per_item,
            "gas", batch.per_item / batch.floor_per_item,
            f"its floor ({batch.floor_per_item:,.0f} gas); target <= {gas.BATCH_TARGET:,} gas"))

    def run(self, only: frozenset[str] | None = None) -> list[Row]:
        """Every section (or those named in ``only``)."""
        for section in SECTIONS:
            if only is None or section.name in only:
                self.section(section.title(self.sizes),
                             lambda section=section: section.run(self))  # type: ignore[misc]
        missing = set(ROW_KEYS) - {r.key for r in self.rows}
        if missing and only is None:
            raise RuntimeError(f"rows missing: {sorted(missing)}")
        return self.rows


@dataclass(frozen=True)
class Section:
    """One part of the benchmark: a title (from the sizes) and the ``Runner`` method that measures it."""

    name: str
    title: Callable[[Sizes], str]
    run: Callable[[Runner], None]


#: The sections, in order. To add one (e.g. indexing against raw ``eth_getLogs``), write a ``Runner`` method that
#: calls ``self.add`` for its rows and ``self.compare`` for its ceilings, and list it here.
SECTIONS: list[Section] = [
    Section("submitting",
            lambda s: f"1. submitting activations against their ceilings ({s.runs} fresh anvil(s) per comparison)",
            Runner.submitting),
    Section("signing", lambda s: "2. signing", Runner.signing),
    Section("indexing", lambda s: f"3./4. indexing about {s.events:,} events, then invoices", Runner.indexing),
    Section("gas", lambda s: "5. gas (bench/gas.py)", Runner.gas),
]


# ---------------------------------------------------------------------------------------------- output


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---|---:|---:|---:|---|---:|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def comparisons_table(comparisons: Sequence[Comparison]) -> str:
    lines = ["| " + " | ".join(COMPARISON_HEADERS) + " |", "|---|---|---:|---:|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(c.cells()) + " |" for c in comparisons]
    return "\n".join(lines)


def environment() -> list[str]:
    try:
        anvil = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True, timeout=10)
        first = anvil.stdout.splitlines()[0] if anvil.stdout else "unknown"
        anvil_version = first.replace("Version:", "").replace("  ", " ").strip()
    except (OSError, subprocess.SubprocessError):
        anvil_version = "unknown"
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("web3", "eth-account", "eth-keys", "coincurve"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, {anvil_version} "
        f"(automine, loopback HTTP), load average {load} when written",
        versions,
    ]


def results_markdown(
    rows: Sequence[Row], comparisons: Sequence[Comparison], command: str, sizes: Sizes, seconds: float,
    history: tp.History, loads: dict[str, list[tuple[float, float, float]]],
) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = environment()
    return "\n".join([
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {date}, in {seconds:.0f} s.",
        "",
        f"Machine: {env[0]}; {env[1]}.",
        "",
        "## Against the node's ceiling",
        "",
        comparisons_table(comparisons),
        "",
        f"Median of {sizes.runs} repetition(s), min-max in parentheses; each repetition runs our path, the ceiling "
        "(and plain web3.py for C1) on one fresh anvil, taking turns in rounds of "
        + ", ".join(f"{ROUNDS[key]:,} ({key})" for key in ROUNDS)
        + " activations, each path from an account of its own, so that all meet the same chain lengths (anvil "
        "slows down as its chain grows). The ceilings send the same transactions presigned (eth-account) through "
        "the same provider (`w3.provider.make_request` / `make_batch_request`), polling receipts without "
        "sleeping; see `bench/ceilings.py`. ours / plain web3.py divides by the sequential plain web3.py rate of "
        "the same repetition (web3.py has no batched send).",
        "",
        "Load average (1, 5, 15 min) after each repetition: "
        + "; ".join(f"{key} " + " / ".join(f"{a:.1f}, {b:.1f}, {c:.1f}" for a, b, c in loads[key])
                    for key in sorted(loads)) + ".",
        "",
        "## Every measurement",
        "",
        markdown_table(rows),
        "",
        "## How each number is measured",
        "",
        f"- **1. Submitting** activations of {sizes.customers} enrolled customers: {sizes.activations} one by one "
        f"(1a, 1b), {sizes.pipelined:,} pipelined (1c), {sizes.batched:,} in batches (1d); median of "
        f"{sizes.runs} run(s), each on a fresh anvil shared with its ceiling in alternating rounds (automine: one "
        "block per transaction). "
        "Each run is checked afterwards against the contract's usage counters (every activation granted and "
        "counted once). 1a counts the nonce locally (one `eth_getTransactionCount` at the start); "
        "`build_transaction` still estimates gas and reads the fees for every transaction. 1b uses the known gas "
        "limit of `metering/_utils/gas_limits.py` (no estimate), fees renewed from each receipt (its effective "
        "gas price less our tip is the block's base fee), signs with coincurve, sends with "
        "`eth_sendRawTransactionSync` (the receipt in the answer: one request per activation) and decodes the "
        "decision with the precompiled decoder. 1c encodes all calls "
        "(inside the timed part, with the precomputed selector), signs them with consecutive nonces and a known "
        "gas limit, sends them in JSON-RPC batches of 500 and fetches the receipts in batches (each poll asks the "
        "account's mined nonce, then only the receipts below it). 1d is one "
        f"`Agent.activate_many` of {sizes.batched:,} requests, 100 per `requestActivations` transaction, the "
        "transactions pipelined as in 1c. RPC requests/tx counts every HTTP request of the timed part (a JSON-RPC "
        "batch counts once).",
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


def replace_rows(rows: Sequence[Row], comparisons: Sequence[Comparison], command: str) -> None:
    """Put re-measured rows (and their comparisons with the ceilings) into RESULTS.md in place of those of the same
    keys, and say so under the table (a note of earlier rows re-measured alone stays while it names others)."""
    text = RESULTS.read_text(encoding="utf-8")
    fresh = {row.key: "| " + " | ".join(row.cells()) + " |" for row in [*rows, *comparisons]}
    lines = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        lines.append(fresh.get(cells[0], line) if line.startswith("| ") else line)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = f"Rows {', '.join(sorted(fresh))} re-measured by `{command}` on {date}."

    def outdated(line: str) -> bool:
        named = re.match(r"Rows (.+?) re-measured by", line)
        return named is not None and set(named.group(1).split(", ")) <= fresh.keys()

    lines = [ln for ln in lines if not outdated(ln)]
    at = lines.index("## How each number is measured")
    lines[at:at] = [note, ""]
    lines = [ln for k, ln in enumerate(lines) if ln or k == 0 or lines[k - 1]]  # no run of blank lines
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"rewrote rows {', '.join(sorted(fresh))} of {RESULTS.relative_to(ROOT)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small samples (for the test suite)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--only", type=lambda text: frozenset(text.split(",")), default=None,
                        help="only these sections (submitting, signing, indexing, gas; comma-separated); with "
                        "--write, only their rows of RESULTS.md are replaced")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    runner = Runner(sizes)
    if args.only is not None and not args.only <= {section.name for section in SECTIONS}:
        parser.error(f"--only takes {', '.join(section.name for section in SECTIONS)}")
    rows = runner.run(args.only)
    if args.only is not None:
        print()
        print(markdown_table(rows))
        if runner.comparisons:
            print()
            print(comparisons_table(runner.comparisons))
        if args.write:
            replace_rows(rows, runner.comparisons, " ".join(["python bench/run_all.py", *(shlex.quote(a) for a in (
                sys.argv[1:] if argv is None else argv))]))
        return exit_code(runner.comparisons, args.quick)
    seconds = time.perf_counter() - began
    print()
    print(markdown_table(rows))
    print()
    print(comparisons_table(runner.comparisons))
    if args.quick:
        print("\n(--quick: small samples and one repetition, a smoke test; the verdicts mean nothing here)")
    print(f"\ntotal {seconds:.1f} s")
    if args.write:
        assert runner.history is not None
        given = list(sys.argv[1:] if argv is None else argv)
        command = " ".join(["python bench/run_all.py", *(shlex.quote(a) for a in given)])
        RESULTS.write_text(
            results_markdown(rows, runner.comparisons, command, sizes, seconds, runner.history, runner.loads),
            encoding="utf-8",
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return exit_code(runner.comparisons, args.quick)


def exit_code(comparisons: Sequence[Comparison], quick: bool) -> int:
    """As every bench: 1 when a judged target failed (named), else 0 (``--quick`` judges nothing)."""
    failed = [c.key for c in comparisons if c.verdict == "FAIL"]
    if failed and not quick:
        print(f"FAIL: {', '.join(failed)} (their rows are written all the same)")
    return 1 if failed and not quick else 0


if __name__ == "__main__":
    sys.exit(main())
