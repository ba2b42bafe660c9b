"""Indexing and invoices against their ceilings, measured side by side in one run (issue 10).

Usage::

    python bench/indexing.py            # full run: a history on anvil, stores of 10k, 100k and 1M events
    python bench/indexing.py --quick    # small sizes, one repetition: a smoke test, its verdicts judge nothing
    python bench/indexing.py --write    # also rewrite bench/RESULTS-indexing.md

What is compared (every timing is the median of ``runs`` repetitions, shown with its min and max):

* **Indexing** (a fresh anvil with a history of usage events): the raw ceiling is one ``eth_getLogs`` for the
  whole range over a kept-alive HTTP connection plus parsing of the answer with orjson, nothing else; ours is
  ``Indexer.sync`` into a new SQLite file (and, with ``--postgres``, a new PostgreSQL schema on a throwaway
  server; the store created before the clock, once per database) as ``metering index`` runs it: reorg checks,
  decoding, one transaction per range, reading the history in a few ranges (``max_range`` a quarter of it; the
  indexer starts at an eighth of that and doubles after each) as a backfill of months reads its 2,000-block ranges,
  so that reading (and decoding, in worker processes) overlaps with storing. The ceiling and ours alternate, round after
  round, median of 5 (the load average is printed: the machine may be shared). Target: ours / ceiling >= 0.5.
  Then each part of a sync alone on the same logs (parsing, decoding, writing: CPU time) and the bound their sum
  sets on a sync in one process (:mod:`index_split`, rows S1-S4 and B).
* **Invoices** (synthetic stores of :mod:`synthetic`, 100 events per customer, each pass measured in a fresh
  subprocess): the ceiling is a plain SQLite scan of the same rows (the same query on the same index through a
  plain ``sqlite3`` cursor, every row fetched into Python, nothing done with it); ours is every invoice of the
  timeframe from ``iter_invoices``. The two take turns, one pass each, at least 3 times (the order alternating),
  and the ratio is the median of the turns' ratios, printed with the load average. Targets: ours >= 0.7 of the
  scan at every size (issue 18); at 1,000,000 events and 10,000 customers >= 200,000 events/s, time per event
  roughly constant from 10k to 1M events (at 1M at most 1.5x what it is at 10k), and a peak resident memory
  (``VmHWM``) under 150 MB that does not grow with the events (less than 16 MB more for the largest store than for
  the one ten times smaller; the smallest store does not fill SQLite's 16 MiB page cache). One customer's final
  invoice over about 10,000 events (the heavy customer of the largest store): <= 0.05 s.
* **Web pages** (the auditor's view on the largest store, through Starlette's test client, when the web extras are
  installed): each page under 0.2 s.

Synthetic stores are cached (``--cache``, default: the system's temporary directory) since they are deterministic.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import synthetic
from index_split import split_rows

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS-indexing.md"

#: Targets of issue 10, as the verdicts check them.
INDEX_RATIO = 0.5
INVOICE_RATE = 200_000
INVOICE_RATIO = 0.7  # issue 18: the invoice pass at least this fraction of the plain scan's rate, at every size
ONE_INVOICE_SECONDS = 0.05
RSS_LIMIT_MB = 150
RSS_GROWTH_MB = 16
GROWTH_LIMIT = 1.5
PAGE_SECONDS = 0.2


@dataclass(frozen=True)
class Sizes:
    history: int  # usage events put on anvil for the indexing comparison
    ranges: int  # eth_getLogs ranges the indexer reads them in
    stores: tuple[int, ...]  # events in the synthetic stores
    runs: int
    index_runs: int  # rounds of the indexing rows (ceiling and ours alternating)


FULL = Sizes(history=10_000, ranges=4, stores=(10_000, 100_000, 1_000_000), runs=3, index_runs=5)
QUICK = Sizes(history=600, ranges=2, stores=(2_000, 5_000, 10_000), runs=1, index_runs=1)


@dataclass(frozen=True)
class Timing:
    """``items`` things in each of ``seconds`` (one entry per repetition)."""

    items: int
    seconds: tuple[float, ...]
    rss_mb: float | None = None
    cpu: float | None = None  # CPU seconds of one repetition, where measured (the rest was waiting)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.items / self.median if self.median > 0 else 0.0

    def spread(self) -> str:
        cpu = f"; CPU {self.cpu:.3f}" if self.cpu is not None else ""
        return f"{self.median:.3f} ({min(self.seconds):.3f}-{max(self.seconds):.3f}){cpu}"


@dataclass
class Row:
    key: str
    name: str
    n: int
    timing: Timing | None
    value: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""

    def cells(self) -> list[str]:
        return [self.key, self.name, f"{self.n:,}", self.timing.spread() if self.timing else "-", self.value,
                self.ratio, self.target, self.verdict]


HEADERS = ("#", "measurement", "N", "wall s: median (min-max)", "rate", "ratio", "target", "verdict")


def verdict(ok: bool, judged: bool) -> str:
    if not judged:
        return "(quick: not judged)"
    return "PASS" if ok else "FAIL"


def exit_code(rows: Sequence[Row]) -> int:
    """What every bench exits with once its results are printed (and written): 1 when a judged target failed (the
    rows that did are named), else 0; a bench that could not measure stops with an error before it gets here."""
    failed = [row.key for row in rows if row.verdict == "FAIL"]
    if failed:
        print(f"FAIL: {', '.join(failed)} (their files are written all the same)")
    return 1 if failed else 0


def repeat(runs: int, fn: Callable[[], int]) -> Timing:
    """Run ``fn`` (which returns how many items it handled) ``runs`` times; the item count must not change."""
    seconds: list[float] = []
    counts: set[int] = set()
    for _ in range(runs):
        began = time.perf_counter()
        counts.add(fn())
        seconds.append(time.perf_counter() - began)
    if len(counts) != 1:
        raise RuntimeError(f"repeated runs handled different numbers of items: {sorted(counts)}")
    return Timing(counts.pop(), tuple(seconds))


# ---------------------------------------------------------------------------------------------- indexing


@dataclass(frozen=True)
class History:
    address: str
    first_block: int
    last_block: int
    events: int  # usage events in the range


def make_history(node: Any, events: int) -> tuple[Any, History]:
    """About ``events`` usage events on a fresh Meter: three quarters grants (in batches of 250, a third of them
    with short leases), a quarter expiries of those (in batches of 250), about 200 events a block. Sent from
    anvil's unlocked agent account (no signing: building the history is not measured)."""
    from eth_account import Account
    from web3 import Web3

    from metering import contract as artifacts
    from metering.chain.node import dev_private_keys
    from metering.provider import Provider
    from metering.types import Rules, instance_id

    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
    owner = Account.from_key(dev_private_keys(1)[0])
    provider = Provider.deploy(w3, owner)
    agent = w3.eth.accounts[1]
    provider.grant_agent(agent)
    start = int(w3.eth.get_block("latest")["timestamp"]) + 10
    timeframe = provider.create_timeframe(start, start + 30 * 86_400, "EUR")
    provider.set_rules(timeframe, 1, Rules(price_per_activation=1_000_000, price_per_time_unit=12_000_000,
                                           time_unit_seconds=3_600))
    customers = [synthetic.customer_address(i) for i in range(100)]
    meter = w3.eth.contract(address=provider.address, abi=artifacts.abi())
    # The enrolments go into one block: sent as a pipelined burst to an automining anvil they arrive out of nonce
    # order and it mines an empty block for each early one (foundry-rs/foundry#10122), some dozens in a varying
    # number, which took the place of a share of the usage in the sync's fixed-size ranges (two of four ranges held
    # all of it in one run, three in another).
    node.rpc("evm_setAutomine", False)
    enrolled = [w3.eth.send_transaction({"from": owner.address, "to": meter.address, "gas": 200_000,
                                         "data": meter.encode_abi("enrollCustomer", args=[customer])})
                for customer in customers]
    node.rpc("evm_mine")
    node.rpc("evm_setAutomine", True)
    if any(w3.eth.get_transaction_receipt(tx)["status"] != 1 for tx in enrolled):
        raise RuntimeError("an enrolment of the history failed")
    node.rpc("evm_setNextBlockTimestamp", start)
    node.rpc("evm_mine")
    assert provider.deployment is not None
    first = provider.deployment.block_number
    grants = events * 3 // 4
    short = grants // 3
    batch = 250
    sent = []

    def send(data: str) -> None:
        sent.append(w3.eth.send_transaction({"from": agent, "to": meter.address, "data": data, "gas": 29_000_000}))

    for k in range(0, grants, batch):
        requests = [(customers[i % len(customers)], 1, (i + 1) << 8 | 1, 60 if i < short else 3_600)
                    for i in range(k, min(grants, k + batch))]
        send(meter.encode_abi("requestActivations", args=[requests]))
    node.rpc("evm_increaseTime", 120)
    for k in range(0, short, batch):
        ids = [instance_id(agent, (i + 1) << 8 | 1) for i in range(k, min(short, k + batch))]
        send(meter.encode_abi("expireLeases", args=[ids]))
    for tx in sent:
        if w3.eth.wait_for_transaction_receipt(tx, timeout=120)["status"] != 1:
            raise RuntimeError("a history transaction failed")
    return w3, History(provider.address, first, int(w3.eth.block_number), grants + short)


def _logs_request(rpc_url: str, history: History) -> tuple[http.client.HTTPConnection, bytes]:
    """A kept-alive connection to the node and the body of one ``eth_getLogs`` for the whole range with the
    indexer's filter."""
    from metering.audit.events import EVENT_TYPES, topic0

    url = urlparse(rpc_url)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
        "address": history.address, "fromBlock": hex(history.first_block), "toBlock": hex(history.last_block),
        "topics": [["0x" + topic0(name).hex() for name in EVENT_TYPES]],
    }]}).encode()
    return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=120), body


def _post(connection: http.client.HTTPConnection, body: bytes) -> bytes:
    connection.request("POST", "/", body, {"Content-Type": "application/json"})
    return connection.getresponse().read()


def logs_answer(rpc_url: str, history: History) -> bytes:
    """The raw answer the ceiling parses (what :mod:`index_split` times each part of a sync on)."""
    connection, body = _logs_request(rpc_url, history)
    try:
        return _post(connection, body)
    finally:
        connection.close()


def raw_ceiling(rpc_url: str, history: History, runs: int) -> tuple[Timing, str]:
    """One ``eth_getLogs`` for the whole range (the indexer's filter) over a kept-alive connection and parsing its
    JSON (orjson when installed), nothing else."""
    try:
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
        parser = "orjson"
    except ImportError:
        loads, parser = json.loads, "json"
    connection, body = _logs_request(rpc_url, history)

    def run() -> int:
        return len(loads(_post(connection, body))["result"])

    try:
        return repeat(runs, run), parser
    finally:
        connection.close()


def index_once(w3: Any, history: History, location: str, max_range: int, read_ahead: str = "thread") -> Timing:
    """``Indexer.sync`` of the whole history into a new store at ``location`` (a file or a PostgreSQL URL), as
    ``metering index`` runs it (``read_ahead`` "thread", the default). The store is created first, untimed: its file
    or schema is made once per database (by the first ``metering index`` or ``metering db migrate``; a schema's
    tables and indexes took PostgreSQL 19 ms, as long as the sync's first ranges); the clock runs from opening it
    to closing it, as every ``metering index`` after the first does."""
    from metering.audit.indexer import Indexer
    from metering.audit.store import Store

    chain_id = int(w3.eth.chain_id)  # the caller's to know (`metering index` asks it once to name the database)
    Store(location, chain_id=chain_id, contract=history.address).close()
    began = time.perf_counter()
    with Store(location, chain_id=chain_id, contract=history.address) as store:
        result = Indexer(w3, history.address, store, start_block=history.first_block, max_range=max_range,
                         read_ahead=read_ahead).sync(to_block=history.last_block)
    seconds = time.perf_counter() - began
    with Store(location) as store:
        if store.last_block != history.last_block:
            raise RuntimeError(f"indexed up to {store.last_block}, not {history.last_block}")
        if read_ahead == "thread":  # the default sync's ranges, which index_split times its parts on
            spans_read[:] = [(r.first_block, r.last_block) for r in store.ranges()]
    return Timing(result.events, (seconds,))


#: The ``(first, last)`` blocks of the ranges the last :func:`index_once` with a reader thread stored (the indexer
#: sizes them): what :mod:`index_split` times each part of a sync on.
spans_read: list[tuple[int, int]] = []


def alternate(runs: int, contenders: Sequence[Callable[[], Timing]]) -> list[Timing]:
    """Run each contender once per round, in turns (the first goes first in even rounds, last in odd ones), so
    that a busy spell of the shared machine falls on all of them alike; one merged timing each. Each starts from a
    collected heap: what one run leaves behind (a range's parsed logs, the ceiling's answer) would otherwise set off
    a full collection of this process's objects inside another's clock (40-50 ms here, against a sync of 170)."""
    found: list[list[Timing]] = [[] for _ in contenders]
    for round_ in range(runs):
        order = list(range(len(contenders)))
        if round_ % 2:
            order.reverse()
        for i in order:
            gc.collect()
            found[i].append(contenders[i]())
    merged = []
    for timings in found:
        if len({t.items for t in timings}) != 1:
            raise RuntimeError(f"repeated runs handled different numbers of items: {[t.items for t in timings]}")
        cpus = [t.cpu for t in timings if t.cpu is not None]
        merged.append(Timing(timings[0].items, tuple(t.seconds[0] for t in timings),
                             max((t.rss_mb or 0.0) for t in timings) or None,
                             statistics.median(cpus) if cpus else None))
    return merged


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores"


def indexing_rows(sizes: Sizes, judged: bool, postgres_url: Callable[[], str] | None = None) -> list[Row]:
    """I1 the ceiling, I2 ours into SQLite and (given ``postgres_url``, a new empty schema per call) I3 ours into
    PostgreSQL, alternating, each against I1 with the target >= 0.5; I2p ours into SQLite with the ranges read and
    decoded by two worker processes (``read_ahead="process"``, opt-in), for the record, in an alternation of its own
    with I1 afterwards (its forks leave this process's pages copy-on-write for whatever runs next); then the parts
    of a sync alone and the bound they set (:mod:`index_split`)."""
    from metering.chain.node import LocalNode

    with LocalNode() as node, tempfile.TemporaryDirectory(prefix="metering-bench-") as tmp:
        print(f"  building a history of about {sizes.history:,} events...", flush=True)
        w3, history = make_history(node, sizes.history)
        blocks = history.last_block - history.first_block + 1
        max_range = -(-blocks // sizes.ranges)
        files = iter(range(1, 1_000_000))
        parser = raw_ceiling(node.rpc_url, history, 1)[1]  # and a warm-up of the node's answer

        def ceiling() -> Timing:
            return raw_ceiling(node.rpc_url, history, 1)[0]

        def sqlite() -> Timing:
            return index_once(w3, history, str(Path(tmp) / f"indexed-{next(files)}.sqlite"), max_range)

        def sqlite_processes() -> Timing:
            path = str(Path(tmp) / f"indexed-{next(files)}.sqlite")
            return index_once(w3, history, path, max_range, read_ahead="process")

        contenders: list[Callable[[], Timing]] = [ceiling, sqlite]
        if postgres_url is not None:
            contenders.append(lambda: index_once(w3, history, postgres_url(), max_range))
        timings = alternate(sizes.index_runs, contenders)
        load = load_average()
        # After the judged rows, in an alternation of its own: a fork leaves every page of this process
        # copy-on-write, and whatever ran after the forked sync paid a page fault for each page it wrote again
        # (I2 ran right after it in every other round).
        ceiling_forked, forked = alternate(sizes.index_runs, [ceiling, sqlite_processes])
        split = split_rows(w3, logs_answer(node.rpc_url, history), history, spans_read, timings[0].median,
                           sizes.index_runs, postgres_url, Row, Timing)
    raw = timings[0]
    rows = [Row("I1", f"raw eth_getLogs of all {blocks:,} blocks over a kept-alive connection + parsing ({parser}): "
                f"the ceiling; {load}", raw.items, raw, f"{raw.rate:,.0f} logs/s")]
    ours = [("I2", "SQLite", timings[1])]
    if postgres_url is not None:
        ours.append(("I3", "PostgreSQL", timings[2]))
    for key, name, timing in ours:
        ratio = timing.rate / raw.rate
        rows.append(Row(key, f"Indexer.sync into a new {name} store, max_range {max_range:,} blocks "
                        f"(1/{sizes.ranges} of the history; read in {len(spans_read)} ranges, the first an eighth of "
                        "it, doubling after each) (reorg checks, decoding, one transaction per range, the next two "
                        "ranges read in a thread), alternating with I1", timing.items, timing,
                        f"{timing.rate:,.0f} events/s", f"{ratio:.2f} of I1", f">= {INDEX_RATIO}",
                        verdict(ratio >= INDEX_RATIO, judged)))
    rows.append(Row("I2p", "I2 with read_ahead=\"process\": two forked workers read and decode the ranges ahead, "
                    "this process only writes (opt-in: pays only with idle cores); alternating with I1 after the "
                    f"rows above (I1 {ceiling_forked.median:.3f} s there)", forked.items, forked,
                    f"{forked.rate:,.0f} events/s", f"{forked.rate / ceiling_forked.rate:.2f} of I1"))
    return rows + split


# ---------------------------------------------------------------------------------------------- invoices (children)


def _child(argv: Sequence[str]) -> int:
    """One measurement in this fresh process: ``scan|invoices|one|pages PATH RUNS [CUSTOMER]``; prints JSON."""
    mode, path, runs = argv[0], argv[1], int(argv[2])  # path: a SQLite file or a postgresql:// URL
    from metering.audit.billing import _ROW_NAMES, final_invoice, invoices_for_timeframe, iter_invoices
    from metering.audit.store import Store

    out: dict[str, Any] = {}
    with Store(path) as store:
        clock = synthetic.SyntheticClock(store.last_block or 0)
        total = store.count_events(timeframe=synthetic.TIMEFRAME)
        if mode == "scan":
            def work() -> int:
                rows = 0
                for _row in store.billing_rows(synthetic.TIMEFRAME, _ROW_NAMES):
                    rows += 1
                out["rows"] = rows
                return total
        elif mode == "invoices":
            def work() -> int:
                invoices = evidence = 0
                for invoice in iter_invoices(store, synthetic.TIMEFRAME, clock):
                    invoices += 1
                    evidence += len(invoice.evidence.events)
                out.update(invoices=invoices, evidence=evidence)
                return total
        elif mode == "list":  # the list API: invoices_for_timeframe, iterated as the demo does
            def work() -> int:
                invoices = evidence = 0
                for invoice in invoices_for_timeframe(store, synthetic.TIMEFRAME, clock):
                    invoices += 1
                    evidence += len(invoice.evidence.events)
                out.update(invoices=invoices, evidence=evidence)
                return total
        elif mode == "copy":  # PostgreSQL's ceiling: the same rows as COPY ... TO, read and thrown away
            def work() -> int:
                out["bytes"] = copy_out(store, _ROW_NAMES)
                return total
        elif mode == "one":
            def work() -> int:
                invoice = final_invoice(store, argv[3], synthetic.TIMEFRAME, clock)
                out["total"] = invoice.total
                return len(invoice.evidence.events)
        else:
            raise SystemExit(f"unknown child mode {mode}")
        before = resource.getrusage(resource.RUSAGE_SELF)
        timing = repeat(runs, work)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    out.update(items=timing.items, seconds=timing.seconds, rss_mb=peak_rss_mb(), cpu_per_run=cpu / runs)
    print(json.dumps(out))
    return 0


def copy_out(store: Any, names: Sequence[str]) -> int:
    """``COPY (the invoice scan's query) TO STDOUT`` on a connection of its own: the rows, in the scan's order, as
    fast as the server sends them; returns the bytes read."""
    import psycopg

    marks = ", ".join(["%s"] * len(names))
    query = (
        "COPY (SELECT customer, event, position >> 24, position & 16777215, tx_hash, instance_id, instance_type, "
        f"started_at, lease_end, stopped_at, overage FROM events WHERE timeframe = %s AND customer IS NOT NULL "
        f"AND event IN ({marks}) ORDER BY customer, position) TO STDOUT"
    )
    read = 0
    with (
        psycopg.connect(store.url) as connection,
        connection.cursor() as cursor,
        cursor.copy(query, (synthetic.TIMEFRAME, *names)) as copy,
    ):
        for block in copy:
            read += len(block)
    return read


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` of /proc (``ru_maxrss`` would also count the parent's,
    which Linux carries across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover - not Linux


def measure(mode: str, path: Path | str, runs: int, *extra: str) -> tuple[Timing, dict[str, Any]]:
    """A child measurement in a fresh interpreter, so that its peak resident memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), str(runs), *extra],
        capture_output=True, text=True, timeout=3_600, check=False, cwd=Path(__file__).parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} failed: {done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return Timing(out["items"], tuple(out["seconds"]), out["rss_mb"], out["cpu_per_run"]), out


def alternating(path: Path | str, runs: int, modes: Sequence[str], passes: int = 1) -> tuple[
    dict[str, Timing], dict[str, Any], list[float]
]:
    """``runs`` repetitions of each mode, each in a fresh child (so that its peak memory is its own) that times
    ``passes`` passes after one that warms the imports and caches (as in a running service) and counts their median,
    the order alternating between repetitions. Returns each mode's timing
    (peak RSS the highest of its children, CPU their mean), the last child's output per mode, and per repetition the
    ratio of the first mode's wall time to the second's (the ceiling's to ours: ours / ceiling in rate)."""
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    rss: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    items: dict[str, int] = {}
    infos: dict[str, Any] = {}
    for repetition in range(runs):
        for mode in (modes if repetition % 2 == 0 else list(reversed(modes))):
            timing, info = measure(mode, path, 1 + passes)
            seconds[mode].append(statistics.median(timing.seconds[1:]))  # after a pass that warms imports, caches
            rss[mode].append(timing.rss_mb or 0.0)
            cpu[mode].append(timing.cpu or 0.0)
            items[mode], infos[mode] = timing.items, info
    timings = {mode: Timing(items[mode], tuple(seconds[mode]), max(rss[mode]), statistics.mean(cpu[mode]))
               for mode in modes}
    ratios = [a / b for a, b in zip(seconds[modes[0]], seconds[modes[1]], strict=True)]
    return timings, infos, ratios


def invoice_rows(sizes: Sizes, judged: bool, cache: Path) -> tuple[list[Row], synthetic.SyntheticStore]:
    rows: list[Row] = []
    per_event: list[float] = []
    rss: list[float] = []
    store: synthetic.SyntheticStore | None = None
    for number, events in enumerate(sizes.stores, start=1):
        began = time.perf_counter()
        store = synthetic.cached(cache, events)
        print(f"  store of {events:,} events ready ({time.perf_counter() - began:.1f} s): {store.path}", flush=True)
        # a pass over a small store takes milliseconds: time several per child there, so that one descheduling on
        # the shared machine does not decide the ratio
        passes = max(1, min(9, 100_000 // events))
        timings, infos, ratios = alternating(store.path, max(3, sizes.runs), ("scan", "invoices"), passes)
        plain, ours, info = timings["scan"], timings["invoices"], infos["invoices"]
        ratio = statistics.median(ratios)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"  {events:,} events: ours / plain scan {ratio:.2f} (" + ", ".join(f"{r:.2f}" for r in ratios)
              + f"); load average {load}", flush=True)
        per_event.append(ours.median / ours.items)
        assert ours.rss_mb is not None
        rss.append(ours.rss_mb)
        largest = number == len(sizes.stores)
        rows.append(Row(f"P{number}", f"plain SQLite scan of the same rows, {events:,} events: the ceiling",
                        plain.items, plain, f"{plain.rate:,.0f} events/s"))
        rows.append(Row(
            f"Q{number}",
            f"all {info['invoices']:,} invoices of the timeframe (iter_invoices), {events:,} events; "
            f"{1e6 * per_event[-1]:.2f} us/event, peak RSS {ours.rss_mb:.0f} MB",
            ours.items, ours, f"{ours.rate:,.0f} events/s",
            f"{ratio:.2f} of P{number} ({min(ratios):.2f}-{max(ratios):.2f}); load {load}",
            f">= {INVOICE_RATIO:.2f} of P{number}" + (f", >= {INVOICE_RATE:,}/s" if largest else ""),
            verdict(ratio >= INVOICE_RATIO and (not largest or ours.rate >= INVOICE_RATE), judged),
        ))
    assert store is not None
    growth = per_event[-1] / per_event[0]
    rows.append(Row("G", "growth: time per event at the largest store over the smallest ("
                    + ", ".join(f"{e:,}" for e in sizes.stores) + " events)", sizes.stores[-1], None,
                    " / ".join(f"{1e6 * t:.2f}" for t in per_event) + " us/event", f"{growth:.2f}x",
                    f"<= {GROWTH_LIMIT}x", verdict(growth <= GROWTH_LIMIT, judged)))
    growth_mb = rss[-1] - rss[-2]
    rows.append(Row("M", "peak RSS of the invoice pass (a fresh process each; the page cache is at most 16 MiB)",
                    sizes.stores[-1], None, " / ".join(f"{r:.0f}" for r in rss) + " MB",
                    f"+{growth_mb:.0f} MB for 10x the events", f"< {RSS_LIMIT_MB} MB, +< {RSS_GROWTH_MB} MB",
                    verdict(max(rss) < RSS_LIMIT_MB and growth_mb < RSS_GROWTH_MB, judged)))
    listed, info = measure("list", store.path, 1)
    assert listed.rss_mb is not None
    rows.append(Row("L", f"invoices_for_timeframe, the list API the demo uses, iterated ({info['invoices']:,} "
                    f"invoices of {store.events:,} events); peak RSS {listed.rss_mb:.0f} MB", listed.items, listed,
                    f"{listed.rate:,.0f} events/s", "", f"< {RSS_LIMIT_MB} MB",
                    verdict(listed.rss_mb < RSS_LIMIT_MB, judged)))
    one, info = measure("one", store.path, sizes.runs, store.heavy_customer)
    rows.append(Row("C", f"one customer's final invoice ({one.items:,} events of {store.events:,})", one.items, one,
                    f"{one.rate:,.0f} events/s", "", f"<= {ONE_INVOICE_SECONDS} s",
                    verdict(one.median <= ONE_INVOICE_SECONDS, judged)))
    return rows, store


# ---------------------------------------------------------------------------------------------- web pages


def page_rows(store: synthetic.SyntheticStore, runs: int, judged: bool) -> list[Row]:
    try:
        from starlette.testclient import TestClient

        from metering.web.app import WebConfig, create_app
    except ImportError as exc:
        print(f"  web pages skipped: {exc}", flush=True)
        return []
    typical = synthetic.customer_address(1)
    app = create_app(WebConfig(db=store.path, contract=synthetic.CONTRACT))
    pages = [
        ("/timeframes", "timeframes and their customers"),
        (f"/customers?timeframe={synthetic.TIMEFRAME}&page=10", "the customer list, page 10"),
        (f"/customers/{store.heavy_customer}", "the heavy customer's usage charts"),
        (f"/customers/{typical}", "a typical customer's usage charts"),
        ("/events", "the event stream, newest first"),
        ("/events?page=200", "the event stream, page 200"),
        (f"/events?customer={typical}&timeframe={synthetic.TIMEFRAME}", "a customer's events in a timeframe"),
    ]
    rows: list[Row] = []
    with TestClient(app) as client:
        for number, (url, what) in enumerate(pages, start=1):
            def get(url: str = url) -> int:
                answer = client.get(url)
                if answer.status_code != 200:
                    raise RuntimeError(f"{url} answered {answer.status_code}")
                return 1

            get()  # the first request of a page warms the templates
            timing = repeat(runs, get)
            rows.append(Row(f"W{number}", f"page {url.split('?')[0]}: {what}, {store.events:,} events", 1, timing,
                            f"{1000 * timing.median:.0f} ms", "", f"< {PAGE_SECONDS} s",
                            verdict(timing.median < PAGE_SECONDS, judged)))
    return rows


# ---------------------------------------------------------------------------------------------- output


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---|---:|---:|---:|---|---|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def section(self, title: str, make: Callable[[], list[Row]]) -> None:
        print(f"{title}...", flush=True)
        began = time.perf_counter()
        made = make()
        for row in made:
            print(f"  {row.key:<3} {row.value} {row.ratio} {row.verdict}".rstrip(), flush=True)
        self.rows += made
        print(f"  ({time.perf_counter() - began:.1f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["--child"]:
        return _child(given[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke test)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "metering-bench",
                        help="where the synthetic stores are kept between runs")
    parser.add_argument("--skip-indexing", action="store_true", help="only the invoice and page measurements")
    parser.add_argument("--postgres", action="store_true",
                        help="also index into PostgreSQL (row I3; a throwaway server, as bench/postgres.py starts it)")
    parser.add_argument("--only-indexing", action="store_true", help="only the indexing rows")
    parser.add_argument("--write", action="store_true", help=f"rewrite {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(given)
    sizes = QUICK if args.quick else FULL
    judged = not args.quick
    began = time.perf_counter()
    report = Report()
    if not args.skip_indexing:
        def index() -> list[Row]:
            if not args.postgres:
                return indexing_rows(sizes, judged)
            from postgres import Schemas

            with Schemas(None) as schemas:
                return indexing_rows(sizes, judged, postgres_url=schemas.new)

        report.section(f"indexing about {sizes.history:,} events (fresh anvil)", index)
    largest: list[synthetic.SyntheticStore] = []

    def invoices() -> list[Row]:
        rows, store = invoice_rows(sizes, judged, args.cache)
        largest.append(store)
        return rows

    if args.only_indexing:
        print()
        print(markdown_table(report.rows))
        print(f"\n{load_average()}")
        return exit_code(report.rows)
    report.section("invoices from synthetic stores of " + ", ".join(f"{e:,}" for e in sizes.stores) + " events",
                   invoices)
    report.section("web pages on the largest store", lambda: page_rows(largest[0], sizes.runs, judged))
    seconds = time.perf_counter() - began
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    footer = (f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) at the end; total {seconds:.0f} s"
              + ("; --quick: sizes too small for the targets, verdicts not judged" if args.quick else ""))
    print()
    print(markdown_table(report.rows))
    print(f"\n{footer}")
    if args.write:
        command = " ".join(["python bench/indexing.py", *given])
        RESULTS.write_text("\n".join([
            "# Indexing and invoices against their ceilings", "",
            f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {footer}.", "",
            "Wall time is what the targets judge; CPU is the measuring process's own (the rest of the wall time it "
            "waited for a core or the disk: with other jobs on the machine, both the ceiling and ours wait).", "",
            markdown_table(report.rows), "",
            "How each row is measured: see the docstring of `bench/indexing.py`.", "",
        ]), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return exit_code(report.rows)


if __name__ == "__main__":
    sys.exit(main())
