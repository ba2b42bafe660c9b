"""``bench/web_load.py --quick --write``: one run measures every configuration of bench/RESULTS-web.md (2 workers and
1, with and without the page cache) over one synthetic store and writes the document (here into a temporary file:
tests do not write into the checkout). No latency is judged: the verdicts are the benchmark's, not a test's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import web_load  # noqa: E402 - bench/ is not a package

PAGES = ("static file (ceiling)", "/timeframes", "/customers, page 10", "/customers/<heavy customer>",
         "/customers/<typical customer>", "/events, newest", "/events, page 200", "/events of a customer", "/metrics")
CONFIGURATIONS = ("As shipped: 2 workers, pages kept per head and shared between the workers",
                  "Baseline: 1 worker, pages kept per head",
                  "Baseline: 2 workers, no page cache (every request computes its page)",
                  "Baseline: 1 worker, no page cache (every request computes its page)")
NUMBER = r"\d+(?:\.\d+)?"


def _tables(text: str) -> dict[str, dict[str, list[str]]]:
    """Each ``## `` section's table rows, by page."""
    sections: dict[str, dict[str, list[str]]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:]
            sections[heading] = {}
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("page", "---"):
            sections[heading][cells[0]] = cells[1:]
    return sections


@pytest.mark.timeout(600)
def test_quick_write_measures_every_configuration_and_writes_what_it_measured(tmp_path: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("2 workers are as shipped (one per core) only on 2 cores or more")
    written = tmp_path / "RESULTS-web.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web_load.py"), "--quick", "--write", "--workers", "2", "--output",
         str(written), "--cache", str(tmp_path / "stores")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1] == f"wrote {written}"
    text = written.read_text(encoding="utf-8")
    flat = " ".join(text.split())
    assert text.startswith("# Web view under load")
    assert re.search(r"Written by `python bench/web_load.py --quick --write --workers 2 --output \S+ --cache \S+` on "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d-\d\d:\d\d UTC", flat), text[:600]
    assert "20,000 events, 200 customers" in flat and "8 client threads each send 3 GETs" in flat

    tables = _tables(text)
    assert [h for h in tables if h != "Reading it"] == list(CONFIGURATIONS)
    for heading in CONFIGURATIONS:
        assert sorted(tables[heading]) == sorted(PAGES), heading
        for page, (cold, p50, p95, p99, ratio, rate, errors, verdict) in tables[heading].items():
            assert all(re.fullmatch(NUMBER, cell) for cell in (cold, p50, p95, p99, rate)), (heading, page)
            assert float(p50) <= float(p95) <= float(p99) and float(rate) > 0, (heading, page)
            assert re.fullmatch(NUMBER + "x", ratio) and errors == "0", (heading, page)
            assert verdict == ("ceiling" if page == PAGES[0] else "(quick: not judged)"), (heading, page)
        section = text.split(f"## {heading}")[1].split("\n## ")[0]
        assert re.search(r"Load average \d+\.\d\d \d+\.\d\d \d+\.\d\d \(1, 5, 15 min\) on \d+ cores as it ended",
                         " ".join(section.split())), heading
        table = section[section.index("20,000 events"):].split("\n\n")[0].strip()
        assert table in done.stdout, heading  # the document's table is the one printed as it was measured

    reading = " ".join(text.split("## Reading it")[1].split())
    shipped = tables[CONFIGURATIONS[0]]
    labels = ("2 workers with the page cache", "1 worker with the page cache", "2 workers without the page cache",
              "1 worker without the page cache")
    for heading, label in zip(CONFIGURATIONS, labels, strict=True):
        over = [page for page, cells in tables[heading].items() if page != PAGES[0] and float(cells[3]) > 200]
        if over:
            assert f"{label.capitalize()}: {8 - len(over)} of 8 pages within the 200 ms bar" in reading, label
        else:
            assert f"{label.capitalize()}: every page's p99 is within the 200 ms bar" in reading, label
    colds = {page: float(cells[0]) for page, cells in shipped.items() if page != PAGES[0]}
    most = max(colds.values())  # rounded to the ms: pages may tie
    assert any(f"the most for {page} ({most:.0f} ms)" in reading for page, cold in colds.items() if cold == most)
    assert "Without the page cache, 2 workers: each page's p99 was" in reading
    assert "Without the page cache, 1 worker: each page's p99 was" in reading
    assert "The static file's p99 was" in reading
    assert reading.endswith("Verdict: not judged (--quick: a small store and few requests).")


def _measured(workers: int, page_cache: int, judged: bool, p99: float, errors: int = 0) -> web_load.Measured:
    """A configuration whose pages all took ``p99`` at the 99th percentile (the static file 5 ms)."""
    pages = [web_load.Result(name, name, 1.0, 1.0, 1.0, 5.0 if index == 0 else p99, 10, errors if index else 0, 1.0)
             for index, name in enumerate(PAGES)]
    return web_load.Measured(web_load.Configuration(workers, page_cache, judged), tuple(pages), (1.0, 1.0, 1.0), 0.0)


def test_only_the_judged_configuration_and_errors_fail_the_run() -> None:
    """The exit code of ``--write``: the baselines without the cache are expected to miss the bar and do not fail the
    run; the judged configuration missing it does, and so does a request that failed in any configuration."""
    assert [(c.workers, c.page_cache, c.judged) for c in web_load.configurations(2, 256)] == [
        (2, 256, True), (1, 256, False), (2, 0, False), (1, 0, False)]
    assert [(c.workers, c.page_cache) for c in web_load.configurations(1, 256)] == [(1, 256), (1, 0)]
    fast, slow = 50.0, 900.0
    baselines_slow = [_measured(2, 256, True, fast), _measured(1, 256, False, fast), _measured(2, 0, False, slow)]
    assert web_load.verdict(baselines_slow, judged=True)[1]
    shipped_slow = [_measured(2, 256, True, slow), _measured(2, 0, False, fast)]
    line, passed = web_load.verdict(shipped_slow, judged=True)
    assert not passed and line.startswith("Verdict: FAIL (2 workers with the page cache is judged): /timeframes (900")
    baseline_errors = [_measured(2, 256, True, fast), _measured(2, 0, False, slow, errors=3)]
    line, passed = web_load.verdict(baseline_errors, judged=True)
    assert not passed and "/timeframes (2 workers without the page cache): 3 error(s)" in line
    assert web_load.verdict(shipped_slow, judged=False)[1]  # --quick judges errors only
    assert not web_load.verdict(baseline_errors, judged=False)[1]
