"""Foundry builds the bytecode that ships: the same optimizer runs and pipeline as tools/compile_contracts.py.

The Foundry suites (test/) deploy forge's own build of contracts/Meter.sol; if its settings drifted from the shipped
artifact's (issue 15: Foundry used 400 optimizer runs while the artifact used 2000), the invariants and attacks would
prove things about another bytecode. tests/test_foundation.py proves the artifact is what compile_contracts.py
produces; this proves forge compiles contracts/ with the same settings.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _compile_contracts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_contracts", ROOT / "tools" / "compile_contracts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("compile_contracts", module)
    spec.loader.exec_module(module)
    return module


def _profile() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "foundry.toml").read_text(encoding="utf-8"))
    profile: dict[str, Any] = config["profile"]["default"]
    return profile


def test_forge_compiles_the_contracts_with_the_shipped_optimizer_settings() -> None:
    shipped = _compile_contracts().SETTINGS
    forge = _profile()
    assert forge["optimizer"] is shipped["optimizer"]["enabled"] is True
    assert forge["optimizer_runs"] == shipped["optimizer"]["runs"]
    assert forge["via_ir"] is shipped["viaIR"]
    assert forge["bytecode_hash"] == shipped["metadata"]["bytecodeHash"]


def test_forge_builds_for_the_default_target_and_only_the_tests_skip_via_ir() -> None:
    from metering.chain.evm import DEFAULT_TARGET

    forge = _profile()
    assert forge["evm_version"] == DEFAULT_TARGET.value
    # The tests themselves compile without via-IR (faster through solcjs); contracts/ keeps the shipped pipeline.
    assert forge["compilation_restrictions"] == [{"paths": "test/**", "via_ir": False}]
