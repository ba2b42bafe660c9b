"""The provider's Brownie path: ``brownie run scripts/deploy.py`` deploys to a running anvil, the Brownie-free
library takes over that deployment, and explorers get a perfect match for it (Sourcify's own library agrees)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from metering import contract as artifacts
from metering.node import LocalNode, dev_private_keys
from metering.source_verify import MatchKind, verify_source

ROOT = Path(__file__).resolve().parent.parent
BROWNIE = ROOT / ".venv-brownie" / "bin" / "brownie"

pytestmark = pytest.mark.brownie


def _brownie(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BROWNIE), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def brownie_network(node: LocalNode) -> Iterator[str]:
    """A Brownie development network attached to the session's anvil, removed afterwards."""
    if not BROWNIE.exists():
        pytest.fail("Brownie's virtualenv is missing: run ./run setup")
    name = f"metering-pytest-{node.port}"
    _brownie("networks", "delete", name)
    added = _brownie("networks", "add", "Development", name, "host=http://127.0.0.1", "cmd=anvil", f"port={node.port}")
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        yield name
    finally:
        _brownie("networks", "delete", name)


def test_brownie_deploy_script_deploys_a_meter_the_library_can_use_and_sourcify_matches_perfectly(
    brownie_network: str, w3: Web3, node: LocalNode, tmp_path: Path
) -> None:
    deployer_key = dev_private_keys(8)[7]
    env = {**os.environ, "METERING_PRIVATE_KEY": deployer_key, "METERING_DEPLOYMENTS": str(tmp_path)}
    result = _brownie("run", "scripts/deploy.py", "--network", brownie_network, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    match = re.search(r"METERING_CONTRACT=(0x[0-9a-fA-F]{40})", result.stdout)
    assert match, result.stdout[-3000:]
    address = Web3.to_checksum_address(match.group(1))

    # The library (no Brownie) reads the deployment with the ABI shipped in the package.
    meter = w3.eth.contract(address=address, abi=artifacts.abi())
    deployer = w3.eth.account.from_key(deployer_key).address
    assert meter.functions.defaultAdmin().call() == deployer
    assert meter.functions.hasRole(meter.functions.RULES_MANAGER_ROLE().call(), deployer).call()
    assert meter.functions.timeframeCount().call() == 0
    latest = json.loads((tmp_path / f"metering-{w3.eth.chain_id}.json").read_text())
    assert latest["address"] == address and latest["evm_version"] == "cancun"
    assert "constructor arguments: 0x" in result.stdout

    # A full match, not Brownie's partial one: the shipped build, metadata hash included.
    assert verify_source(w3, address).kind is MatchKind.PERFECT
    check = subprocess.run(
        ["node", "tools/sourcify_check.mjs", "--rpc-url", node.rpc_url, latest["deployment_file"]],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["creationMatch"] == "perfect"


def test_brownie_deploy_script_refuses_to_run_without_a_key(brownie_network: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "METERING_PRIVATE_KEY"}
    result = _brownie("run", "scripts/deploy.py", "--network", brownie_network, env=env)
    assert "set METERING_PRIVATE_KEY" in result.stdout + result.stderr
