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
is printed), then by every client a few times unmeasured (so each worker process has answered it once), and then
measured under load at the same head: the steady state between two blocks, when the page cache (kept per head,
shared between the workers) answers. On a live chain each page is computed once per new block, at the cold cost.
The bar of issue 17: p99 <= 200 ms at 8 clients for every page.

Usage::

    python bench/web_load.py                   # one configuration: --workers (one per core), --page-cache 256
    python bench/web_load.py --page-cache 0    # every request computes its page
    python bench/web_load.py --write          # every configuration of bench/RESULTS-web.md, and rewrite it
    python bench/web_load.py --quick --write --output /tmp/web.md   # a small store, few requests (the test's)

``--write`` runs, in one run over one store, the configuration given (``--workers``, ``--page-cache``: by default as
shipped), then the baselines: one worker, and both without the page cache. It writes bench/RESULTS-web.md (or
``--output``): how it is measured, the command, the date, each configuration's load average as it ended and its
table, and a "Reading it" made from the numbers. The store is built once per size under ``--cache``.

Exit code: 0 when the judged configuration (the first) has every page's p99 within the bar and no request failed
in any configuration; 1 otherwise (the file is written either way). The baselines' latencies are not judged: they
are expected to miss the bar. Without ``--write``, the one configuration run is judged. ``--quick`` judges nothing
but errors.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from prose import markdown, span

ROOT = Path(__file__).resolve().parents[1]
BAR_MS = 200.0
RESULTS = Path(__file__).resolve().parent / "RESULTS-web.md"
DEFAULT_WORKERS = max(1, min(8, os.cpu_count() or 1))  # as `metering serve` does
DEFAULT_PAGE_CACHE = 256
QUICK_EVENTS = 20_000  # 400 pages of events: /events?page=200 is a page of events, not an empty one
QUICK_REQUESTS = 3


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


def start_server(db: Path | str, workers: int, page_cache: int) -> tuple[subprocess.Popen[str], str, int]:
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


def run(store: synthetic.SyntheticStore, clients: int, requests: int, workers: int, page_cache: int) -> list[Result]:
    """Every page of :func:`pages` under load on a server of ``workers`` processes over ``store``; the ceiling
    first."""
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


def passes(result: Result) -> bool:
    return result.p99 <= BAR_MS and not result.errors


def table(results: Sequence[Result], events: int, clients: int, workers: int, page_cache: int,
          judged: bool = True) -> str:
    """The markdown table of one configuration; ``judged`` False (``--quick``) writes "not judged" as verdicts."""
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
        verdict = ("ceiling" if r is ceiling else "(quick: not judged)" if not judged
                   else "PASS" if passes(r) else "FAIL")
        lines.append(f"| {r.name} | {r.cold_ms:.0f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} | {ratio:.1f}x | "
                     f"{r.rate:.0f} | {r.errors} | {verdict} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- --write

@dataclass(frozen=True)
class Configuration:
    """One server set-up of the results file; ``judged``: its verdicts decide the exit code (the others are
    baselines, measured beside it to show what the page cache and the workers each bring)."""

    workers: int
    page_cache: int
    judged: bool

    @property
    def label(self) -> str:
        workers = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        return f"{workers} {'with' if self.page_cache else 'without'} the page cache"

    def title(self, shipped: bool) -> str:
        workers = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        if self.page_cache:
            kept = "pages kept per head" + (" and shared between the workers" if self.workers > 1 else "")
        else:
            kept = "no page cache (every request computes its page)"
        role = ("As shipped" if shipped else "Judged") if self.judged else "Baseline"
        return f"{role}: {workers}, {kept}"


@dataclass(frozen=True)
class Measured:
    configuration: Configuration
    results: tuple[Result, ...]  # the ceiling first, then the pages
    load: tuple[float, float, float]  # load average (1, 5, 15 min) as the configuration ended
    ended: float  # time.time() then

    @property
    def pages(self) -> tuple[Result, ...]:
        return self.results[1:]


def configurations(workers: int, page_cache: int) -> list[Configuration]:
    """The judged configuration (``--workers``, ``--page-cache``), then the baselines of the results file: one
    worker, and both without the page cache (a configuration already listed is not run twice)."""
    wanted = [(workers, page_cache), (1, page_cache), (workers, 0), (1, 0)]
    unique = list(dict.fromkeys(wanted))
    return [Configuration(w, cache, judged=(w, cache) == wanted[0]) for w, cache in unique]


def reading(measured: Sequence[Measured]) -> list[str]:
    """"Reading it": sentences made from the numbers of this run only."""
    lines = []
    for m in measured:
        over = [r for r in m.pages if not passes(r)]
        ceiling = m.results[0]
        if not over:
            lines.append(f"{m.configuration.label.capitalize()}: every page's p99 is within the {BAR_MS:.0f} ms bar "
                         f"({span([r.p99 for r in m.pages])} ms); p50s {span([r.p50 for r in m.pages], 1)} ms "
                         f"beside the static file's {ceiling.p50:.1f} ms.")
        else:
            named = ", ".join(f"{r.name} ({r.p99:.0f} ms" + (f", {r.errors} errors)" if r.errors else ")")
                              for r in over)
            lines.append(f"{m.configuration.label.capitalize()}: {len(m.pages) - len(over)} of {len(m.pages)} pages "
                         f"within the {BAR_MS:.0f} ms bar; over it (p99): {named}.")
    judged = next(m for m in measured if m.configuration.judged)
    coldest = max(judged.pages, key=lambda r: r.cold_ms)
    lines.append(f"Cold (the first request after the head moves), {judged.configuration.label}: "
                 f"{span([r.cold_ms for r in judged.pages])} ms per page, the most for {coldest.name} "
                 f"({coldest.cold_ms:.0f} ms).")
    by_setup = {(m.configuration.workers, m.configuration.page_cache): m for m in measured}
    for (workers, cache), cached in by_setup.items():
        bare = by_setup.get((workers, 0))
        if not cache or bare is None:
            continue
        pairs = [(r, c) for r, c in zip(bare.pages, cached.pages, strict=True) if c.p99]
        slow, fast = max(pairs, key=lambda pair: pair[0].p99 / pair[1].p99)
        who = "1 worker" if workers == 1 else f"{workers} workers"
        lines.append(f"Without the page cache, {who}: each page's p99 was {span([r.p99 / c.p99 for r, c in pairs], 1)}"
                     f"x its p99 with the cache (the most: {slow.name}, {slow.p99:.0f} ms against {fast.p99:.0f} ms).")
    cores = os.cpu_count() or 1
    for (workers, cache), many in by_setup.items():
        one = by_setup.get((1, cache))
        if workers == 1 or one is None:
            continue
        ratio = statistics.median(a.p99 / b.p99 for a, b in zip(many.pages, one.pages, strict=True) if b.p99)
        sentence = (f"{'With' if cache else 'Without'} the page cache, {workers} workers' p99 was {ratio:.2f}x one "
                    f"worker's (median over the pages; load average {many.load[0]:.1f} and {one.load[0]:.1f} as "
                    "each ended)")
        busy = min(many.load[0], one.load[0]) > cores
        if ratio < 0.8:
            sentence += ": more workers answered faster."
        else:
            sentence += (": more workers were slower" if ratio > 1.25 else ": about the same") + (
                f"; with the load average above the {cores} cores, no core was idle for another worker." if busy
                else ".")
        lines.append(sentence)
    if len(measured) > 1:
        ceilings = [m.results[0] for m in measured]
        lines.append(f"The static file's p99 was {span([c.p99 for c in ceilings])} ms from one configuration to the "
                     f"next (p50 {span([c.p50 for c in ceilings], 1)} ms): single p99s carry that much noise on this "
                     "machine; the ratio to the ceiling of the same configuration is the steadier number.")
    return lines


def verdict(measured: Sequence[Measured], judged: bool) -> tuple[str, bool]:
    """The closing line and whether the run passed: the judged configuration within the bar without errors, and
    no errors in the baselines (a page not served is a fault, not a latency)."""
    errors = [(m, r) for m in measured for r in m.pages + m.results[:1] if r.errors]
    failed = [f"{r.name} ({m.configuration.label}): {r.errors} error(s)" for m, r in errors]
    if not judged:
        return "Verdict: not judged (--quick: a small store and few requests)" + (
            "; errors: " + "; ".join(failed) if failed else "") + ".", not failed
    first = next(m for m in measured if m.configuration.judged)
    over = [f"{r.name} ({r.p99:.0f} ms)" for r in first.pages if r.p99 > BAR_MS]
    failed = over + failed
    if not failed:
        return (f"Verdict: PASS: {first.configuration.label}, every page's p99 within {BAR_MS:.0f} ms and no errors "
                "(the baselines are not judged).", True)
    return f"Verdict: FAIL ({first.configuration.label} is judged): " + "; ".join(failed) + ".", False


def document(measured: Sequence[Measured], command: str, began: float, events: int, clients: int, requests: int,
             judged: bool) -> str:
    """bench/RESULTS-web.md: how it is measured, the command, when, one table per configuration, and what the
    numbers say (generated, so no sentence outlives the run it describes)."""
    cores = os.cpu_count()
    day = time.strftime("%Y-%m-%d", time.gmtime(began))
    hours = f"{time.strftime('%H:%M', time.gmtime(began))}-{time.strftime('%H:%M', time.gmtime(measured[-1].ended))}"
    first = measured[0].configuration
    shipped = first.workers == DEFAULT_WORKERS and first.page_cache == DEFAULT_PAGE_CACHE
    parts = [
        "# Web view under load (issue 17)",
        "",
        f"Written by `{command}` on {day} {hours} UTC, {cores} CPUs shared with other jobs (the load average of each "
        "configuration is under its heading, as it ended): the numbers are as quiet as the machine was."
        + (" `--quick`: a small store and few requests, nothing judged." if not judged else ""),
        "",
        f"How: for each page, {clients} client threads each send {requests} GETs on their own keep-alive connection "
        f"(a closed loop: at most {clients} requests in flight; {clients * requests} latencies a page), after one "
        f"cold request and an unmeasured warm-up ({clients} x 3 GETs, so every worker has answered the page once). "
        "The ceiling is the same server, clients and connections fetching a small static file (`/static/app.css`): "
        "the fastest this stack answers on this machine; a page's p99 over the ceiling's says how much of its time "
        f"is ours. Store: `bench/synthetic.py`, {events:,} events, {max(2, events // 100):,} customers. The cold "
        "column is what the first request after the head moves costs: with the page cache, once per head and page "
        "(shared by the workers), so on a live chain once a block per page asked for; /metrics' cold request is the "
        "first full count of the store's events, later scrapes count only the events after the last one counted.",
        "",
        f"The bar of issue 17: p99 <= {BAR_MS:.0f} ms at 8 clients for every page. The verdicts judge the first "
        "configuration" + (" (as shipped)" if shipped else "") + "; the others are baselines measured in the same "
        "run, to show what the page cache and the workers each bring: their FAILs do not fail the run.",
    ]
    for m in measured:
        c = m.configuration
        parts += [
            "",
            f"## {c.title(shipped)}",
            "",
            f"Load average {m.load[0]:.2f} {m.load[1]:.2f} {m.load[2]:.2f} (1, 5, 15 min) on {cores} cores as it "
            f"ended, {time.strftime('%H:%M', time.gmtime(m.ended))} UTC.",
            "",
            table(m.results, events, clients, c.workers, c.page_cache, judged),
        ]
    parts += ["", "## Reading it", ""]
    parts += [f"- {line}" for line in reading(measured)]
    parts += ["", verdict(measured, judged)[0], ""]
    return markdown(parts)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="events of the synthetic store (1,000,000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=None, help="GETs per client and page (bounds the run; 40)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--page-cache", type=int, default=DEFAULT_PAGE_CACHE,
                        help="pages kept per head by the server (0: every request computes its page)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "metering-bench")
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_EVENTS:,}-event store and {QUICK_REQUESTS} GETs per client: not judged")
    parser.add_argument("--write", action="store_true",
                        help="run every configuration of the results file and rewrite it (see --output)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where --write writes (bench/RESULTS-web.md)")
    args = parser.parse_args(given)
    events = args.events or (QUICK_EVENTS if args.quick else 1_000_000)
    requests = args.requests or (QUICK_REQUESTS if args.quick else 40)
    if not (1 <= args.clients <= 64 and 1 <= requests <= 10_000 and args.workers >= 1 and args.page_cache >= 0):
        parser.error("clients must be 1-64, requests 1-10,000, workers at least 1 and the page cache not negative: "
                     "this is a bounded local load")
    store = synthetic.cached(args.cache, events)
    judged = not args.quick
    if not args.write:
        results = run(store, args.clients, requests, args.workers, args.page_cache)
        print(table(results, events, args.clients, args.workers, args.page_cache, judged))
        return 0 if all(passes(r) if judged else not r.errors for r in results[1:]) else 1
    began = time.time()
    measured = []
    for configuration in configurations(args.workers, args.page_cache):
        print(f"==> {configuration.label}", flush=True)
        results = run(store, args.clients, requests, configuration.workers, configuration.page_cache)
        measured.append(Measured(configuration, tuple(results), os.getloadavg(), time.time()))
        print(table(results, events, args.clients, configuration.workers, configuration.page_cache, judged),
              flush=True)
    text = document(measured, " ".join(["python bench/web_load.py", *given]), began, events, args.clients, requests,
                    judged)
    args.output.write_text(text, encoding="utf-8")
    line, passed = verdict(measured, judged)
    print(line)
    print(f"wrote {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
