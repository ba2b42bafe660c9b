"""The toolchain works offline: shipped artifacts match the sources, and anvil runs what they describe."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from metering import contract as artifacts
from metering._utils.bytecode import split_metadata
from metering.chain.evm import DEFAULT_TARGET, EvmTarget, load_artifact
from metering.chain.node import LocalNode

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


def test_shipped_artifacts_of_every_evm_target_match_a_fresh_compile_of_the_sources() -> None:
    tool = _load_compile_tool()
    files = tool.compile_contracts()
    assert set(files) == {
        f"artifacts/{target}{name}.json"
        for target in ("", "paris/", "shanghai/")
        for name in ("Meter", "Settlement", "TestToken", "standard-input")
    }
    assert tool.stale_artifacts(files) == [], "run ./run compile and commit metering/artifacts/"


def test_a_changed_source_or_build_is_detected_as_stale() -> None:
    # The compile of the current sources (a solc cache hit after the test above) with one change at a time: a
    # source edited without `./run compile` changes the standard input, a changed compiler output the artifact.
    # (Compiling an edited source for real would cost a full viaIR compile of Meter, ~15 s, and prove only solc.)
    tool = _load_compile_tool()
    fresh = tool.compile_contracts([EvmTarget.PARIS])

    def stale(files: dict[str, object]) -> list[str]:  # the other targets' shipped files count as strays here
        return [path for path in tool.stale_artifacts(files) if path.startswith("artifacts/paris/")]

    assert stale(fresh) == []
    edited = copy.deepcopy(fresh)
    edited["artifacts/paris/standard-input.json"]["sources"]["contracts/Meter.sol"]["content"] += "\n// changed\n"
    assert stale(edited) == ["artifacts/paris/standard-input.json"]
    rebuilt = copy.deepcopy(fresh)
    rebuilt["artifacts/paris/Meter.json"]["deployedBytecode"] += "00"
    assert stale(rebuilt) == ["artifacts/paris/Meter.json"]


def test_a_shipped_artifact_no_target_produces_is_detected_as_stray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _load_compile_tool()
    shipped = tmp_path / "artifacts"
    (shipped / "london").mkdir(parents=True)
    (shipped / "london" / "Meter.json").write_text("{}")
    monkeypatch.setattr(tool, "ARTIFACTS", shipped)
    assert "artifacts/london/Meter.json" in tool.stale_artifacts({})


def _opcodes(code: bytes, *, until_invalid: bool = False) -> set[int]:
    """The opcodes of ``code``, skipping PUSH data and the metadata trailer. With ``until_invalid``, up to the
    first INVALID: in creation code that ends the init code, and what follows is data (the runtime code with its
    own metadata, checked on its own as ``deployedBytecode``)."""
    executable, _ = split_metadata(code)
    found: set[int] = set()
    pos = 0
    while pos < len(executable):
        op = executable[pos]
        if until_invalid and op == 0xFE:
            break
        found.add(op)
        pos += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return found


@pytest.mark.parametrize("target", list(EvmTarget))
def test_each_target_is_compiled_for_its_evm_version(target: EvmTarget) -> None:
    meter = load_artifact(target)
    std = load_artifact(target, "standard-input")
    assert meter["evmVersion"] == std["settings"]["evmVersion"] == target.value
    assert f'"evmVersion":"{target.value}"' in meter["metadata"]


def test_the_paris_build_has_no_opcode_a_paris_node_lacks() -> None:
    meter = load_artifact(EvmTarget.PARIS)
    push0, tload, tstore, mcopy = 0x5F, 0x5C, 0x5D, 0x5E
    for field in ("bytecode", "deployedBytecode"):
        used = _opcodes(bytes.fromhex(meter[field].removeprefix("0x")), until_invalid=field == "bytecode")
        assert not used & {push0, tload, tstore, mcopy}, field
    # and the newer builds do use PUSH0, which is why a paris node refuses them
    assert push0 in _opcodes(bytes.fromhex(load_artifact(EvmTarget.CANCUN)["deployedBytecode"].removeprefix("0x")))


def test_the_default_target_is_what_metering_contract_serves() -> None:
    assert load_artifact(DEFAULT_TARGET) == artifacts.artifact()
    assert load_artifact(DEFAULT_TARGET)["bytecode"] == artifacts.bytecode()
    assert load_artifact("Paris")["bytecode"] != artifacts.bytecode()


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
