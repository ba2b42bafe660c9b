"""The toolchain works offline: shipped artifacts match the sources, and anvil runs what they describe."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from metering import contract as artifacts
from metering.node import LocalNode

ROOT = Path(__file__).resolve().parent.parent


def _load_compile_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("compile_contracts", ROOT / "tools" / "compile_contracts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_solc_shim_reports_the_pinned_version() -> None:
    out = subprocess.run([ROOT / "tools" / "solc", "--version"], capture_output=True, text=True, check=True)
    assert "Version: 0.8.28+commit.7893614a" in out.stdout


def test_solc_shim_rejects_what_it_does_not_implement() -> None:
    out = subprocess.run([ROOT / "tools" / "solc", "--bin", "x.sol"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "unsupported option --bin" in out.stderr


def test_shipped_artifacts_match_a_fresh_compile_of_the_sources() -> None:
    tool = _load_compile_tool()
    files = tool.compile_contracts()
    assert set(files) == {"Meter.json", "standard-input.json"}
    assert tool.stale_artifacts(files) == [], "run ./run compile and commit metering/artifacts/"


def test_a_changed_source_is_detected_as_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = _load_compile_tool()
    original = tool.collect_sources

    def with_a_comment() -> dict[str, dict[str, str]]:
        sources = original()
        sources["contracts/Meter.sol"]["content"] += "\n// changed\n"
        return sources

    monkeypatch.setattr(tool, "collect_sources", with_a_comment)
    assert "Meter.json" in tool.stale_artifacts(tool.compile_contracts())


def test_standard_input_embeds_every_source_it_imports() -> None:
    std = artifacts.artifact("standard-input")
    units = set(std["sources"])
    assert "contracts/Meter.sol" in units
    assert "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol" in units
    assert all("content" in source for source in std["sources"].values())


def test_node_fixture_runs_the_deployed_bytecode(w3: Web3, deployed_meter: Contract) -> None:
    code = w3.eth.get_code(deployed_meter.address)
    assert code.to_0x_hex() == artifacts.deployed_bytecode()
    assert deployed_meter.functions.MAX_BATCH().call() == 256
    assert w3.eth.chain_id == 31337


def test_local_node_is_killed_on_exit_even_after_an_error() -> None:
    node = LocalNode()
    with pytest.raises(RuntimeError, match="boom"), node:
        pid = node.pid
        assert pid is not None
        assert Web3(Web3.HTTPProvider(node.rpc_url)).eth.block_number == 0
        raise RuntimeError("boom")
    assert node.pid is None
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_package_imports_without_a_compiler_or_brownie() -> None:
    code = "import metering, sys; assert 'solcx' not in sys.modules and 'brownie' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
