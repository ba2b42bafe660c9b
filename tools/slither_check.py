"""Run Slither on the contract as shipped, and fail on any high or medium finding in our own code.

``slither .`` would pick the Brownie framework, and our solc shim has no ``--combined-json``, so Slither reads the
standard-JSON input that ``./run compile`` ships (``metering/artifacts/standard-input.json``: every source, the
exact settings) through crytic-compile's ``solc-json`` platform, compiled by ``tools/solc``. That input is prepared
in a temporary directory: without its ``outputSelection`` (crytic-compile asks for the AST and bytecode itself),
and with each source written at its unit path, because crytic-compile resolves the names it gets back to files.

Findings in OpenZeppelin are left out. Each high or medium finding of ours was triaged: the false positives are
listed in ``ACCEPTED`` with the reason, keyed by detector and element (parameter lists dropped, so a signature change
keeps the entry but a renamed function or a new finding fails the check until someone looks at it).

Usage: ``./run slither`` (installs Slither pinned into ``.venv-slither``); exit 0 clean, 1 on findings, 2 when
Slither itself fails.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STANDARD_INPUT = ROOT / "metering" / "artifacts" / "standard-input.json"
SOLC = ROOT / "tools" / "solc"
SLITHER = ROOT / ".venv-slither" / "bin" / "slither"
DEPENDENCIES = "@openzeppelin/"
FAILING_IMPACTS = ("High", "Medium")

#: Triaged false positives: (detector, element) -> why the finding is not a bug.
ACCEPTED: dict[tuple[str, str], str] = {}
_GRANT_ONLY = (
    "the decision's result (`Grant`): zero (reason None) until set; `_activate` sets its reason to "
    "NoActiveTimeframe before anything reads it, `_continue` sets a reason on every path, and otherwise `_decide` "
    "returns the whole struct. A grant's fields are read only after `_decide` granted it."
)
for _function in ("_activate", "_continue"):
    ACCEPTED[("uninitialized-local", f"Meter.{_function}.g")] = _GRANT_ONLY
ACCEPTED[("uninitialized-local", "Meter._renew.reason")] = (
    "starts as None (granted) on purpose: the checks before the renewal set a denial reason, and only None renews."
)

_CODE_EQUALITY = (
    "compares currency codes (bytes8) and a settled flag, not balances: Slither's strict-equality detector fears an "
    "attacker steering a balance to miss an exact value; a currency code is set once by the provider or the "
    "customer's first deposit, and 0 means 'not prepaid'."
)
for _function in ("settle", "_settle", "settleMany"):
    ACCEPTED[("incorrect-equality", f"Settlement.{_function}")] = _CODE_EQUALITY
ACCEPTED[("uninitialized-local", "Settlement._settle.token")] = (
    "zero on purpose when the timeframe's currency is not the escrow's: nothing is paid (tokens 0) and the "
    "`Settled` event names no token; otherwise it is set before use."
)
ACCEPTED[("uninitialized-local", "Settlement.deposit.release")] = (
    "zero on purpose: only a customer's first deposit (the opt-in) releases what it had committed as a postpaid "
    "customer; a top-up releases nothing."
)
ACCEPTED[("unused-return", "Settlement._due")] = (
    "the ignored value is `rules()`'s `configured` flag: `_due` walks `instanceTypes(timeframe)`, which Meter "
    "records in `setRules` only, so every type it names is configured."
)


@dataclass(frozen=True)
class Finding:
    """One Slither result, reduced to what the triage needs."""

    check: str
    impact: str
    confidence: str
    element: str
    description: str
    files: tuple[str, ...]

    @property
    def in_dependency(self) -> bool:
        return bool(self.files) and all(f.startswith(DEPENDENCIES) for f in self.files)


def prepare_input(workdir: Path) -> Path:
    """Writes the shipped standard-JSON input, without ``outputSelection``, and its sources into ``workdir``."""
    std_input: dict[str, Any] = json.loads(STANDARD_INPUT.read_text(encoding="utf-8"))
    std_input["settings"].pop("outputSelection", None)
    for unit, source in std_input["sources"].items():
        path = workdir / unit
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source["content"], encoding="utf-8")
    target = workdir / "standard-input.json"
    target.write_text(json.dumps(std_input), encoding="utf-8")
    return target


def run_slither(target: Path, report: Path) -> dict[str, Any]:
    """Runs Slither on ``target`` and returns its JSON report; raises SystemExit(2) when Slither fails."""
    cmd = [
        str(SLITHER), target.name,
        "--compile-force-framework", "solc-json",
        "--solc", str(SOLC),
        "--filter-paths", re.escape(DEPENDENCIES),
        "--exclude-dependencies",
        "--fail-none",
        "--json", str(report),
    ]
    proc = subprocess.run(cmd, cwd=target.parent, capture_output=True, text=True, check=False)
    if not report.exists():
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(2)
    result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    if not result.get("success"):
        sys.stderr.write(f"slither failed: {result.get('error')}\n")
        raise SystemExit(2)
    return result


def element_name(description: str) -> str:
    """``Meter.renewLease(bytes32,uint32).o (contracts/...)`` -> ``Meter.renewLease.o``."""
    head = description.strip().split(" ", 1)[0]
    while True:
        stripped = re.sub(r"\([^()]*\)", "", head)
        if stripped == head:
            return head
        head = stripped


def findings(report: dict[str, Any]) -> list[Finding]:
    out = []
    for r in report.get("results", {}).get("detectors", []):
        files = tuple(
            sorted({e["source_mapping"]["filename_relative"] for e in r.get("elements", []) if "source_mapping" in e})
        )
        out.append(
            Finding(r["check"], r["impact"], r["confidence"], element_name(r["description"]), r["description"], files)
        )
    return out


def triage(all_findings: list[Finding]) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """Splits our findings into (failing, accepted, others below medium)."""
    failing, accepted, others = [], [], []
    for f in all_findings:
        if f.in_dependency:
            continue
        if f.impact not in FAILING_IMPACTS:
            others.append(f)
        elif (f.check, f.element) in ACCEPTED:
            accepted.append(f)
        else:
            failing.append(f)
    return failing, accepted, others


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also keep Slither's JSON report here")
    args = parser.parse_args(argv)
    if not SLITHER.exists():
        print(f"slither not found at {SLITHER}; run ./run slither", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="slither-") as tmp:
        target = prepare_input(Path(tmp))
        report = run_slither(target, Path(tmp) / "report.json")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    failing, accepted, others = triage(findings(report))

    by_impact: dict[str, int] = {}
    for f in others:
        by_impact[f"{f.impact.lower()} {f.check}"] = by_impact.get(f"{f.impact.lower()} {f.check}", 0) + 1
    for key, count in sorted(by_impact.items()):
        print(f"  {count:3d} x {key} (below medium: reported, not failing)")
    for f in accepted:
        print(f"  accepted {f.impact.lower()} {f.check} in {f.element}: {ACCEPTED[(f.check, f.element)]}")
    unused = set(ACCEPTED) - {(f.check, f.element) for f in accepted}
    for check, element in sorted(unused):
        print(f"  note: no {check} finding in {element} any more; its ACCEPTED entry can go")
    if failing:
        print(f"slither: {len(failing)} high or medium finding(s) in our code:", file=sys.stderr)
        for f in failing:
            print(f"\n[{f.impact}/{f.confidence}] {f.check}: {f.description.strip()}", file=sys.stderr)
        print("\nFix them, or triage a false positive in tools/slither_check.py ACCEPTED.", file=sys.stderr)
        return 1
    print(f"slither: no high or medium finding in our code ({len(accepted)} triaged false positives)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
