"""``bench/regenerate.py`` (``./run results``) has a step for every results file, and its docstring lists the steps
it runs: a results file without a step would keep numbers older than the code they measure."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import regenerate  # noqa: E402 - bench/ is not a package


def test_every_results_file_is_written_by_a_step_with_write() -> None:
    written = set()
    for step in regenerate.steps(10_000_000):
        assert "--write" in step, step
        source = (ROOT / "bench" / step[0]).read_text(encoding="utf-8")
        written |= set(re.findall(r'"((?:RESULTS[\w-]*|gas-report)\.md)"', source))
    results = {path.name for path in (ROOT / "bench").glob("RESULTS*.md")} | {"gas-report.md"}
    assert results <= written, f"no step writes {sorted(results - written)}"


def test_the_docstring_lists_the_steps_in_the_order_they_run() -> None:
    listed = re.findall(r"^\d\. ``bench/(.+?)``", regenerate.__doc__ or "", re.M)
    assert listed == [" ".join(step) for step in regenerate.steps(10_000_000)]


def test_every_bench_exits_1_when_a_judged_target_failed_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    """One rule for every step: the results are written either way, and a FAIL verdict makes the exit code 1 (the
    ``--quick`` smoke runs judge nothing), so ``./run results`` says which target failed whichever bench it is in."""
    import importlib.util

    import run_all

    # bench/indexing.py by its path: "indexing" is also the name of the tests' package
    spec = importlib.util.spec_from_file_location("bench_indexing", ROOT / "bench" / "indexing.py")
    assert spec is not None and spec.loader is not None
    indexing = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = indexing  # its dataclasses look their module up
    spec.loader.exec_module(indexing)

    passing = indexing.Row("Q1", "invoices", 1, None, "1/s", "0.75 of P1", ">= 0.70", "PASS")
    failing = indexing.Row("I3", "sync", 1, None, "1/s", "0.42 of I1", ">= 0.5", "FAIL")
    unjudged = indexing.Row("I2", "sync", 1, None, "1/s", "0.10 of I1", ">= 0.5", "(quick: not judged)")
    assert indexing.exit_code([passing, unjudged]) == 0
    assert indexing.exit_code([passing, failing]) == 1
    assert "FAIL: I3" in capsys.readouterr().out

    def comparison(key: str, ratio: float) -> run_all.Comparison:
        spread = run_all.Spread.of([ratio])
        return run_all.Comparison(key, "path", 1, "tx/s", spread, spread, "ceiling", spread, None, 0.7)

    assert run_all.exit_code([comparison("C1", 0.9), comparison("C3", 0.6)], quick=False) == 1
    assert "FAIL: C3" in capsys.readouterr().out
    assert run_all.exit_code([comparison("C3", 0.6)], quick=True) == 0
    assert run_all.exit_code([comparison("C1", 0.9)], quick=False) == 0
    for script in ("indexing.py", "postgres.py", "run_all.py", "gas.py", "web_load.py", "cli_overhead.py"):
        source = (ROOT / "bench" / script).read_text(encoding="utf-8")
        assert "else 1" in source or "exit_code(" in source, f"bench/{script} exits 0 whatever its verdicts"


def test_rows_measured_alone_replace_their_rows_and_comparisons_and_keep_other_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_all.py --only X --write``: the section's rows and its lines of the ceilings table both take the new
    numbers (a table must not show a rate in one place and another in the next), and the note of rows re-measured
    alone before stays while it names rows this run did not measure."""
    import run_all

    results = tmp_path / "RESULTS.md"
    results.write_text("\n".join([
        "# Benchmark results", "", "| 1b | old row |", "| 5a | gas row |", "", "| C1 | old comparison |", "",
        "Rows 5a, 5b re-measured by `python bench/run_all.py --only gas --write` on 2026-12-07 11:51 UTC.", "",
        "## How each number is measured", "",
    ]), encoding="utf-8")
    monkeypatch.setattr(run_all, "RESULTS", results)
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    spread = run_all.Spread.of([0.9])
    run_all.replace_rows(
        [run_all.Row("1b", "new row", 500, 2.0, 250.0, "tx/s", 23.0, "1a")],
        [run_all.Comparison("C1", "new comparison", 500, "tx/s", spread, spread, "ceiling", spread, None, 0.5)],
        "python bench/run_all.py --only submitting --write",
    )
    text = results.read_text(encoding="utf-8")
    assert "old row" not in text and "| 1b | new row |" in text
    assert "old comparison" not in text and "| C1 | new comparison |" in text
    assert "| 5a | gas row |" in text
    assert "Rows 5a, 5b re-measured by" in text and "Rows 1b, C1 re-measured by" in text
