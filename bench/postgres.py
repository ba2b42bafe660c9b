"""The PostgreSQL event store against its ceilings, measured side by side in one run (issue 18).

Usage::

    python bench/postgres.py                    # indexing (anvil), invoices at 1M events, web p99 at 8 clients
    python bench/postgres.py --events 10000000  # the same at 10M synthetic events (the store takes minutes to build)
    python bench/postgres.py --quick            # small sizes, one repetition: a smoke test, verdicts not judged
    python bench/postgres.py --write            # also rewrite bench/RESULTS-postgres.md
    python bench/postgres.py --pg-url postgresql://...   # an existing server (each store gets a schema of its own)

Without ``--pg-url`` a throwaway server is started the way the tests start one (``tests/_postgres.py``: Debian's
``initdb`` and ``pg_ctl`` in a temporary directory, ``fsync=off``) and stopped at the end.

What is compared (each pair alternates, ours and the ceiling taking turns, median of ``runs``; the load average
is printed with every section, since the machine is shared and the numbers are only as quiet as it was):

* **Indexing** (a fresh anvil with a history of usage events): the ceiling is one ``eth_getLogs`` for the whole
  range over a kept-alive connection, parsed with orjson when installed; ours is ``Indexer.sync`` into a new
  PostgreSQL schema, and into a new SQLite file. Target: >= 0.5 of the ceiling on each store.
* **Bulk load**: building the synthetic store, as events/s: generating and encoding the rows in Python (most of
  it) and writing them through ``Store.append_rows`` (binary ``COPY``).
* **Invoices** (a synthetic store, 100 events per customer, each measured in a fresh subprocess): the ceiling is a
  plain ``COPY (the same query) TO STDOUT`` read and thrown away; ours is every invoice of the timeframe from
  ``iter_invoices``. Targets: >= 0.7 of the ceiling, peak RSS < 150 MB.
* **Web** (``metering serve``'s app under uvicorn in its own process, on the same store): 8 clients request the
  timeframes, customer and event pages in a loop; p50 and p99 latency.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import indexing
import synthetic
from indexing import Report, Row, Timing, exit_code, markdown_table, measure, verdict

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS-postgres.md"
sys.path.insert(0, str(ROOT / "tests"))

INDEX_RATIO = 0.5
INVOICE_RATIO = 0.7
RSS_LIMIT_MB = 150
WEB_CLIENTS = 8


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores"


class Schemas:
    """New empty schemas on one server (a throwaway one unless a URL is given)."""

    def __init__(self, url: str | None) -> None:
        self._server: Any = None
        self._url = url
        self._made = 0

    def __enter__(self) -> Schemas:
        if self._url is None:
            from _postgres import PostgresServer, server_bin

            where = server_bin()
            if where is None:
                raise SystemExit("no PostgreSQL here: apt-get install postgresql, or pass --pg-url")
            self._server = PostgresServer(where).start()
            self._url = self._server.url()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    def new(self) -> str:
        import psycopg

        assert self._url is not None
        self._made += 1
        schema = f"bench_{os.getpid()}_{self._made}"
        with psycopg.connect(self._url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        joiner = "&" if "?" in self._url else "?"
        return f"{self._url}{joiner}options=-csearch_path%3D{schema}"


alternate = indexing.alternate


# ---------------------------------------------------------------------------------------------- indexing


def indexing_rows(schemas: Schemas, history_events: int, ranges: int, runs: int, judged: bool) -> list[Row]:
    """I1 the ceiling, I2 ours into SQLite, I3 ours into PostgreSQL: :func:`indexing.indexing_rows`, alternating."""
    sizes = indexing.Sizes(history=history_events, ranges=ranges, stores=(), runs=runs, index_runs=runs)
    return indexing.indexing_rows(sizes, judged, postgres_url=schemas.new)


# ---------------------------------------------------------------------------------------------- invoices


def invoice_rows(url: str, events: int, runs: int, judged: bool) -> tuple[list[Row], synthetic.SyntheticStore]:
    print(f"  building a synthetic store of {events:,} events ({load()})...", flush=True)
    began = time.perf_counter()
    store = synthetic.build(url, events)
    built = time.perf_counter() - began
    rows = [Row("B", "building the synthetic store: rows generated and ABI-encoded in Python, then written through "
                f"Store.append_rows (binary COPY, 100,000 rows a transaction); {load()}",
                events, Timing(events, (built,)), f"{events / built:,.0f} events/s")]

    def child(mode: str) -> Callable[[], Timing]:
        return lambda: measure(mode, url, 1)[0]

    copy, ours = alternate(runs, [child("copy"), child("invoices")])
    ratio = ours.rate / copy.rate
    rows.append(Row("P", f"plain COPY (the invoice scan's query) TO STDOUT, {events:,} events: the ceiling; {load()}",
                    copy.items, copy, f"{copy.rate:,.0f} events/s"))
    rows.append(Row("Q", f"all invoices of the timeframe (iter_invoices) on PostgreSQL, {events:,} events; peak RSS "
                    f"{ours.rss_mb or 0:.0f} MB", ours.items, ours, f"{ours.rate:,.0f} events/s",
                    f"{ratio:.2f} of P", f">= {INVOICE_RATIO}, < {RSS_LIMIT_MB} MB",
                    verdict(ratio >= INVOICE_RATIO and (ours.rss_mb or 0) < RSS_LIMIT_MB, judged)))
    one, _ = measure("one", url, runs, store.heavy_customer)
    rows.append(Row("C", f"one customer's final invoice ({one.items:,} events of {events:,})", one.items, one,
                    f"{1000 * one.median:.0f} ms"))
    return rows, store


# ---------------------------------------------------------------------------------------------- web


_SERVER = """
import sys, uvicorn
from metering.web.app import WebConfig, create_app
app = create_app(WebConfig(db=sys.argv[1], contract=sys.argv[2]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning", lifespan="off")
"""


def web_rows(url: str, store: synthetic.SyntheticStore, requests_each: int, judged: bool) -> list[Row]:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(f"  web skipped: {exc}", flush=True)
        return []
    port = _free_port()
    typical = synthetic.customer_address(1)
    pages = [
        "/timeframes",
        f"/customers?timeframe={synthetic.TIMEFRAME}&page=10",
        f"/customers/{typical}",
        "/events",
        f"/events?customer={typical}&timeframe={synthetic.TIMEFRAME}",
    ]
    server = subprocess.Popen([sys.executable, "-c", _SERVER, url, synthetic.CONTRACT, str(port)], cwd=ROOT)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        _wait_for(port, server)
        lock = threading.Lock()

        def client(k: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                for i in range(requests_each):
                    page = pages[(i + k) % len(pages)]
                    began = time.perf_counter()
                    connection.request("GET", page)
                    answer = connection.getresponse()
                    answer.read()
                    spent = time.perf_counter() - began
                    with lock:
                        latencies.append(spent)
                        if answer.status != 200:
                            failures.append(f"{page}: {answer.status}")
            finally:
                connection.close()

        began = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(WEB_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(30)
    if failures:
        raise RuntimeError(f"pages failed: {failures[:5]}")
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return [Row("W", f"web view on PostgreSQL, {WEB_CLIENTS} clients x {requests_each} requests over "
                f"{len(pages)} pages, {store.events:,} events; {load()}", len(ordered), Timing(len(ordered), (wall,)),
                f"p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms", f"{len(ordered) / wall:.0f} req/s")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the web server exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/timeframes")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the web server did not answer within 60 s")


# ---------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke test)")
    parser.add_argument("--events", type=int, default=None, help="events in the synthetic store (default 1M)")
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL server (default: a throwaway one)")
    parser.add_argument("--skip-indexing", action="store_true", help="only the store, invoice and web measurements")
    parser.add_argument("--only-indexing", action="store_true", help="only the indexing rows (I1-I3)")
    parser.add_argument("--history", type=int, default=None,
                        help="usage events on anvil for the indexing rows (default 10,000; 600 with --quick)")
    parser.add_argument("--runs", type=int, default=None, help="repetitions of each measurement (default 5; 1 quick)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 5)
    events = args.events or (20_000 if args.quick else 1_000_000)
    judged = not args.quick
    report = Report()
    began = time.perf_counter()
    with Schemas(args.pg_url) as schemas:
        if not args.skip_indexing:
            history = args.history or (600 if args.quick else 10_000)
            report.section(f"indexing about {history:,} events (fresh anvil; {load()})",
                           lambda: indexing_rows(schemas, history, 2 if args.quick else 4, runs, judged))
        if args.only_indexing:
            print()
            print(markdown_table(report.rows))
            print(f"\n(total {time.perf_counter() - began:.0f} s; {load()})")
            return exit_code(report.rows)
        url = schemas.new()
        largest: list[synthetic.SyntheticStore] = []

        def invoices() -> list[Row]:
            rows, store = invoice_rows(url, events, runs, judged)
            largest.append(store)
            return rows

        report.section(f"invoices on PostgreSQL, {events:,} synthetic events", invoices)
        report.section(f"web view, {WEB_CLIENTS} clients",
                       lambda: web_rows(url, largest[0], 10 if args.quick else 50, judged))
    table = markdown_table(report.rows)
    print()
    print(table)
    print(f"\n(total {time.perf_counter() - began:.0f} s; {load()})")
    if args.write:
        RESULTS.write_text(_document(table, events, args.quick), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return exit_code(report.rows)


def _document(table: str, events: int, quick: bool) -> str:
    import platform

    return (
        "# The PostgreSQL event store against its ceilings\n\n"
        f"Written by `python bench/postgres.py{' --quick' if quick else ''} --events {events} --write` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other jobs ({load()} at the end): the numbers are as quiet as the "
        "machine was. How each row is measured: the docstring of `bench/postgres.py`.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())
