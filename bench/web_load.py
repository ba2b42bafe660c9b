"""Load on the web view: p50/p95/p99 latency of every page at N concurrent clients, beside a static-file ceiling.

What it does, on this machine only (127.0.0.1):

* builds (or reuses) a synthetic store of ``--events`` events (:mod:`synthetic`, 1,000,000 by default);
* starts ``metering serve``'s server over it with ``--workers`` processes (no node: the pages read the store);
* for each page, ``--clients`` threads each send ``--requests`` GETs on their own keep-alive connection, one after
  the other (a closed loop, so the load is bounded: at most ``clients`` requests in flight), and every latency is
  kept;
* the **ceiling** is the same server, clients and connections fetching a small static file (``/static/app.css``):
  the fastest any page could be answered on this machine by this stack. A page's ratio to it says how much of its
  time is ours.

Pages are first requested once each (cold: the first request after the head moved pays the computation; the number
is printed), then by every client a few times unmeasured (so each worker process has computed it once), and then
measured under load at the same head: the steady state between two blocks, when each worker's per-head page cache
answers. On a live chain every worker recomputes each page once per new block, at the cold cost.
The bar of issue 17: p99 <= 200 ms at 8 clients for every page.

Usage::

    python bench/web_load.py --events 1000000 --clients 8 --requests 40
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

ROOT = Path(__file__).resolve().parents[1]
BAR_MS = 200.0


@dataclass(frozen=True)
class Result:
    name: str
    path: str
    cold_ms: float
    p50: float
    p95: float
    p99: float
    requests: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def load(host: str, port: int, path: str, clients: int, requests: int) -> tuple[list[float], int, float]:
    """``clients`` threads, ``requests`` sequential GETs each on one keep-alive connection; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine: list[float] = []
        bad = 0
        start.wait()
        for _ in range(requests):
            began = time.perf_counter()
            try:
                status = _get(conn, path)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                status = 0
            mine.append((time.perf_counter() - began) * 1000)
            bad += status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - began


def start_server(db: Path, workers: int, page_cache: int) -> tuple[subprocess.Popen[str], str, int]:
    code = ("import sys; from pathlib import Path; from metering.web.serve import serve_store; "
            "serve_store(Path(sys.argv[1]), sys.argv[2], port=0, workers=int(sys.argv[3]), "
            "page_cache=int(sys.argv[4]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), synthetic.CONTRACT, str(workers), str(page_cache)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    url = line.split()[4].rstrip("/")
    host, port = url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + 60
    while True:  # ready when a worker answers
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            if _get(conn, "/static/app.css") == 200:
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("no worker answered within 60 s") from None
            time.sleep(0.1)
    return proc, host, int(port)


def pages(store: synthetic.SyntheticStore) -> list[tuple[str, str]]:
    typical = synthetic.customer_address(1)
    tf = synthetic.TIMEFRAME
    return [
        ("static file (ceiling)", "/static/app.css"),
        ("/timeframes", "/timeframes"),
        ("/customers, page 10", f"/customers?timeframe={tf}&page=10"),
        ("/customers/<heavy customer>", f"/customers/{store.heavy_customer}?timeframe={tf}"),
        ("/customers/<typical customer>", f"/customers/{typical}?timeframe={tf}"),
        ("/events, newest", "/events"),
        ("/events, page 200", "/events?page=200"),
        ("/events of a customer", f"/events?customer={typical}&timeframe={tf}"),
        ("/metrics", "/metrics/"),
    ]


def run(events: int, clients: int, requests: int, workers: int, cache: Path, page_cache: int) -> list[Result]:
    store = synthetic.cached(cache, events)
    proc, host, port = start_server(store.path, workers, page_cache)
    results = []
    try:
        for name, path in pages(store):
            conn = http.client.HTTPConnection(host, port, timeout=120)
            began = time.perf_counter()
            _get(conn, path)
            cold = (time.perf_counter() - began) * 1000
            conn.close()
            load(host, port, path, clients, 3)  # unmeasured: every worker computes the page once at this head
            latencies, errors, seconds = load(host, port, path, clients, requests)
            results.append(Result(name, path, cold, statistics.median(latencies), percentile(latencies, 95),
                                  percentile(latencies, 99), len(latencies), errors, seconds))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def table(results: list[Result], events: int, clients: int, workers: int, page_cache: int) -> str:
    ceiling = results[0]
    cached = f"a page cache of {page_cache} per head" if page_cache else "no page cache (every request computes)"
    lines = [
        f"{events:,} events, {clients} concurrent clients, {workers} worker process(es), {cached}, "
        f"{os.cpu_count()} CPU(s); bar: p99 <= {BAR_MS:.0f} ms",
        "",
        "| page | cold (ms) | p50 (ms) | p95 (ms) | p99 (ms) | p99 / ceiling | req/s | errors | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = r.p99 / ceiling.p99 if ceiling.p99 else 0.0
        verdict = "ceiling" if r is ceiling else ("PASS" if r.p99 <= BAR_MS and not r.errors else "FAIL")
        lines.append(f"| {r.name} | {r.cold_ms:.0f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} | {ratio:.1f}x | "
                     f"{r.rate:.0f} | {r.errors} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="GETs per client and page (bounds the run)")
    parser.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    parser.add_argument("--page-cache", type=int, default=256,
                        help="pages kept per head by the server (0: every request computes its page)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "metering-bench")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.requests <= 10_000):
        parser.error("clients must be 1-64 and requests 1-10,000: this is a bounded local load")
    results = run(args.events, args.clients, args.requests, args.workers, args.cache, args.page_cache)
    print(table(results, args.events, args.clients, args.workers, args.page_cache))
    return 0 if all(r.p99 <= BAR_MS and not r.errors for r in results[1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
