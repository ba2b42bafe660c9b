"""Sourcify's own library (lib-sourcify, pinned in package.json) gives a perfect match, runtime and creation, to
what `metering deploy` wrote, on a Cancun and on a Paris node; tampered sources are refused.

tools/sourcify_check.mjs reads the deployment's .sourcify folder as the Sourcify server reads an upload, recompiles
with the project's solcjs (no download) and compares with the node's code and creation transaction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .helpers import Cli, as_json, ok

if TYPE_CHECKING:
    from tests.conftest import HardforkNodes

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "sourcify_check.mjs"


def _sourcify_check(*args: str) -> subprocess.CompletedProcess[str]:
    if not (ROOT / "node_modules" / "@ethereum-sourcify" / "lib-sourcify").is_dir():
        pytest.fail("lib-sourcify is not installed: run ./run setup")
    return subprocess.run(["node", str(CHECK), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_lib_sourcify_gives_a_perfect_match_to_deployments_on_cancun_and_paris_nodes(
    cli: Cli, hardfork_node: HardforkNodes
) -> None:
    paris = hardfork_node("paris")
    on_cancun = as_json(ok(cli("deploy", "--json")))
    # Both anvils are chain 31337 and may give the same address: their records go to separate folders.
    on_paris = as_json(ok(cli("deploy", "--json", "--admin-delay", "3600", "--out", str(cli.tmp_path / "paris"),
                              ETH_RPC_URL=paris.rpc_url)))
    assert (on_cancun["evm_version"], on_paris["evm_version"]) == ("cancun", "paris")

    result = _sourcify_check(
        "--rpc-url", cli.node.rpc_url, on_cancun["deployment_file"],
        "--rpc-url", paris.rpc_url, on_paris["deployment_file"],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    matches = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["address"], m["runtimeMatch"], m["creationMatch"]) for m in matches] == [
        (on_cancun["address"], "perfect", "perfect"),
        (on_paris["address"], "perfect", "perfect"),
    ]


def test_lib_sourcify_refuses_a_deployment_whose_sources_were_altered(cli: Cli, tmp_path: Path) -> None:
    data = as_json(ok(cli("deploy", "--json")))
    copy = tmp_path / "copy"
    copy.mkdir()
    record = Path(data["deployment_file"])
    shutil.copy(record, copy / record.name)
    shutil.copytree(data["sourcify_dir"], copy / Path(data["sourcify_dir"]).name)
    meter_sol = copy / Path(data["sourcify_dir"]).name / "sources" / "contracts" / "Meter.sol"
    meter_sol.write_text(meter_sol.read_text() + "\n// one more line\n")

    result = _sourcify_check("--rpc-url", cli.node.rpc_url, str(copy / record.name))
    assert result.returncode == 1
    assert "sources missing or altered" in result.stderr
