"""The Slither gate's triage: what counts as ours, what fails, and how findings are named (no Slither run here).

The full run is ``./run slither`` (part of ``./run test``); these tests pin the logic that decides its exit code.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slither_check", ROOT / "tools" / "slither_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _result(check: str, impact: str, description: str, *files: str) -> dict[str, object]:
    elements = [{"source_mapping": {"filename_relative": f}} for f in files]
    return {"check": check, "impact": impact, "confidence": "High", "description": description, "elements": elements}


def test_element_name_drops_parameter_lists_so_signature_changes_keep_the_triage() -> None:
    tool = _tool()
    assert tool.element_name("Meter.renewLease(bytes32,uint32).o (contracts/Meter.sol#304) is a local") == (
        "Meter.renewLease.o"
    )
    assert tool.element_name("Meter._setSeat(Meter.StoredUsage,address,uint8) (x) uses") == "Meter._setSeat"


def test_an_untriaged_medium_finding_in_our_code_fails() -> None:
    tool = _tool()
    finding = _result("reentrancy-no-eth", "Medium", "Meter.deactivate(bytes32) (c)", "contracts/Meter.sol")
    report = {"results": {"detectors": [finding]}}
    failing, accepted, others = tool.triage(tool.findings(report))
    assert [f.check for f in failing] == ["reentrancy-no-eth"]
    assert accepted == [] and others == []


def test_a_triaged_false_positive_and_low_findings_do_not_fail() -> None:
    tool = _tool()
    report = {
        "results": {
            "detectors": [
                _result("uninitialized-local", "Medium", "Meter._activate(address,uint16).g (c) is a local "
                        "variable never initialized", "contracts/Meter.sol"),
                _result("timestamp", "Low", "Meter.deactivate(bytes32) (c) uses timestamp", "contracts/Meter.sol"),
            ]
        }
    }
    failing, accepted, others = tool.triage(tool.findings(report))
    assert failing == []
    assert [f.check for f in accepted] == ["uninitialized-local"]
    assert [f.check for f in others] == ["timestamp"]


def test_findings_only_in_openzeppelin_are_not_ours() -> None:
    tool = _tool()
    math = "@openzeppelin/contracts/utils/math/Math.sol"
    report = {"results": {"detectors": [_result("incorrect-exp", "High", "Math.mulDiv(uint256) (m)", math)]}}
    assert tool.triage(tool.findings(report)) == ([], [], [])


def test_prepared_input_has_no_output_selection_and_every_source_on_disk(tmp_path: Path) -> None:
    tool = _tool()
    target = tool.prepare_input(tmp_path)
    std = json.loads(target.read_text(encoding="utf-8"))
    assert "outputSelection" not in std["settings"]
    assert std["settings"]["viaIR"] is True
    for unit, source in std["sources"].items():
        assert (tmp_path / unit).read_text(encoding="utf-8") == source["content"]
