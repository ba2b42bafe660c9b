"""The README's CLI flow, executed command by command on a fresh node of each kind: anvil (the README's), Ganache
7.9.2 (pre-Cancun: the deploy must pick the shanghai build), a Hardhat 2 node, and anvil with a block every 2 s
(transactions wait for blocks). From ``metering deploy`` to ``metering verify --require-anchor``, including the
README's waits (``metering dev advance``). Select with ``-m nodes``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metering.chain.node import LocalNode, dev_private_keys
from metering.cli import app

from .conftest import NodeKind
from .readme_flow import FlowRun, flow_lines

pytestmark = pytest.mark.nodes

REPO = Path(__file__).resolve().parents[2]
#: Every variable the CLI reads (a developer's own settings must not leak in).
_CLEARED = ("ETH_RPC_URL", "METERING_CONTRACT", "METERING_KEYSTORE", "METERING_PASSWORD", "METERING_PRIVATE_KEY",
            "METERING_DB", "METERING_DEPLOYMENTS", "ETH_KEYSTORE", "ETH_PASSWORD", "METERING_RPC_TIMEOUT")


def test_the_readme_flow_runs_as_written_on_a_fresh_node(
    fresh_node: tuple[NodeKind, LocalNode], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, node = fresh_node
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")  # the README runs from the repository: examples/rules.yaml
    monkeypatch.chdir(work)
    env: dict[str, str | None] = dict.fromkeys(_CLEARED)
    env.update(METERING_DB=str(tmp_path / "events.sqlite"), METERING_DEPLOYMENTS=str(tmp_path / "deployments"),
               METERING_PROFILE="")  # nor their profile file
    flow = FlowRun(node.rpc_url, env)

    flow.run(flow_lines())

    assert f"{kind.evm} build" in flow.output_of("deploy")  # picked from the node (Ganache: no Cancun opcodes)
    assert "granted instance 0x" in flow.output_of("activate")
    invoice = json.loads((work / "invoice.json").read_text())
    assert invoice["final"] is True
    assert "verified" in flow.output_of("verify") and "anchor: matches" in flow.output_of("verify")
    assert "ActivationGranted" in flow.output_of("events")
    # a revert comes back decoded on every node (Hardhat's custom errors included): the agent is no admin
    agent_key = "0x" + dev_private_keys(2)[1].removeprefix("0x")
    refused = CliRunner().invoke(app, ["agent", "grant", invoice["customer"]],
                                 env={**env, **flow.variables, "METERING_PRIVATE_KEY": agent_key})
    assert refused.exit_code == 5, refused.output
    assert "lacks DEFAULT_ADMIN_ROLE" in refused.output, refused.output
    assert "Traceback" not in refused.output
    if kind.block_time:
        assert "sent deploy Meter: 0x" in flow.output_of("deploy")  # the hash before the block came


def test_a_flow_line_with_a_value_no_command_printed_fails() -> None:
    """What keeps the README honest: an id written in the block must have been printed by a command before it."""
    flow = FlowRun("http://127.0.0.1:1", {})
    with pytest.raises(AssertionError, match="no command before it printed that value"):
        flow.run(["INSTANCE=0x" + "12" * 32 + "   # the id activate printed"])
    with pytest.raises(AssertionError, match="may only run `metering`"):
        flow.run(["curl http://example.invalid"])
    with pytest.raises(AssertionError, match=r"\$NOPE is used before it is set"):
        flow.run(["metering customer enroll $NOPE"])
