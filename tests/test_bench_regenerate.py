"""``bench/regenerate.py`` (``./run results``) has a step for every results file, and its docstring lists the steps
it runs: a results file without a step would keep numbers older than the code they measure."""

from __future__ import annotations

import re
import sys
from pathlib import Path

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
