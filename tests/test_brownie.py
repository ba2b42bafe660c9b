"""The provider's Brownie path, run as the README writes it: ``brownie run scripts/deploy.py`` deploys to a running
anvil through Brownie's own ``anvil`` network and through a live network added by name, and the Brownie-free
library takes over that deployment.

Brownie keeps its network list in ``~/.brownie``; each run here gets a HOME of its own (a temporary folder), so the
tests never touch the developer's Brownie settings and the README's commands can run unchanged. The only thing a
test changes there is the port of the ``anvil`` network, since the test's anvil cannot take 8545.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from metering import contract as artifacts
from metering.chain.node import LocalNode, dev_private_keys
from metering.provider.source_verify import MatchKind, verify_source

ROOT = Path(__file__).resolve().parent.parent
BROWNIE = ROOT / ".venv-brownie" / "bin" / "brownie"
README = ROOT / "README.md"

pytestmark = pytest.mark.brownie


def readme_brownie_commands() -> list[str]:
    """The shell commands of the README's Brownie section, in order (comments and `metering node` left out)."""
    section = README.read_text(encoding="utf-8").split("## Brownie", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith(("#", "metering node")):
                commands.append(command)
    return commands


class BrownieHome:
    """Runs commands with a private HOME (so a private ~/.brownie) and the project as working directory."""

    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "HOME": str(home)}
        self.env.pop("METERING_PRIVATE_KEY", None)

    def run(self, command: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={**self.env, **(env or {})},
        )

    def brownie(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(shlex.join([str(BROWNIE), *args]))


@pytest.fixture(scope="module")
def brownie_node() -> Iterator[LocalNode]:
    """An anvil of this module's own, so the deployments here do not move the nonces other tests rely on."""
    with LocalNode() as running:
        yield running


@pytest.fixture(scope="module")
def brownie_home(tmp_path_factory: pytest.TempPathFactory, brownie_node: LocalNode) -> BrownieHome:
    if not BROWNIE.exists():
        pytest.fail("Brownie's virtualenv is missing: run ./run setup")
    home = BrownieHome(tmp_path_factory.mktemp("brownie-home"))
    moved = home.brownie("networks", "modify", "anvil", f"port={brownie_node.port}")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    return home


def test_brownie_deploy_script_deploys_a_meter_the_library_can_use_and_sourcify_matches_perfectly(
    brownie_home: BrownieHome, brownie_node: LocalNode, tmp_path: Path
) -> None:
    w3 = Web3(Web3.HTTPProvider(brownie_node.rpc_url))
    node = brownie_node
    deployer_key = dev_private_keys(8)[6]
    env = {"METERING_PRIVATE_KEY": deployer_key, "METERING_DEPLOYMENTS": str(tmp_path)}
    result = brownie_home.run(f"{shlex.quote(str(BROWNIE))} run scripts/deploy.py --network anvil", env=env)
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
def _deployed_address(output: str) -> str:
    match = re.search(r"METERING_CONTRACT=(0x[0-9a-fA-F]{40})", output)
    assert match, output[-3000:]
    return Web3.to_checksum_address(match.group(1))


def test_readme_brownie_commands_deploy_meters_the_library_can_use(
    brownie_home: BrownieHome, brownie_node: LocalNode
) -> None:
    w3 = Web3(Web3.HTTPProvider(brownie_node.rpc_url))
    deployer_key = dev_private_keys(8)[7]
    deployer = w3.eth.account.from_key(deployer_key).address
    commands = readme_brownie_commands()
    assert any("--network anvil" in c for c in commands), commands
    assert any("networks add" in c for c in commands), commands
    deployed: list[str] = []
    for command in commands:
        command = command.replace("METERING_PRIVATE_KEY=0x...", f"METERING_PRIVATE_KEY={deployer_key}")
        command = command.replace("127.0.0.1:8545", f"127.0.0.1:{brownie_node.port}")
        result = brownie_home.run(command)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}\n{output[-3000:]}"
        assert "Traceback" not in output, f"{command}\n{output}"
        if "scripts/deploy.py" in command:
            deployed.append(_deployed_address(result.stdout))
    assert len(deployed) == 2  # once on Brownie's anvil network, once on the live network added by name

    for address in deployed:
        # The library (no Brownie) reads the deployment with the ABI shipped in the package.
        meter = w3.eth.contract(address=address, abi=artifacts.abi())
        assert meter.functions.defaultAdmin().call() == deployer
        assert meter.functions.hasRole(meter.functions.RULES_MANAGER_ROLE().call(), deployer).call()
        assert meter.functions.timeframeCount().call() == 0
    record = (ROOT / "build" / "deployments" / f"metering-{w3.eth.chain_id}.json").read_text()
    assert deployed[-1] in record


def test_brownie_compiles_with_the_checkouts_own_solc_shim_not_one_in_home(brownie_home: BrownieHome) -> None:
    result = brownie_home.run(f"{shlex.quote(str(BROWNIE.parent / 'python'))} -c "
                              "'import solcx; print(solcx.get_installed_solc_versions())'")
    assert result.returncode == 0, result.stderr
    assert "0.8.28" in result.stdout
    assert not (Path(brownie_home.env["HOME"]) / ".solcx").exists()


def test_brownie_deploy_script_refuses_to_run_without_a_key(brownie_home: BrownieHome) -> None:
    result = brownie_home.brownie("run", "scripts/deploy.py", "--network", "anvil")
    assert result.returncode != 0
    assert "set METERING_PRIVATE_KEY" in result.stdout + result.stderr
