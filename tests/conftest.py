"""Shared fixtures: one fresh anvil per test session, a deployed Meter, and per-test isolation.

The node is started on a free 127.0.0.1 port and killed by PID when the session ends, also after a failure.
Each test that uses the chain runs between ``evm_snapshot`` and ``evm_revert``, so tests stay independent
without redeploying.

Under pytest-xdist (``./run test`` runs ``-n auto --dist loadgroup``) a "session" is one worker's: each worker has
its own anvil and its own Meter, so tests built on ``meter`` (or ``cli``, ``driver``...) spread over the workers
freely. A directory whose tests share a session fixture that is expensive to build (the web view's demo world, a
compiled harness, Brownie's project) is listed in :data:`SHARED_SESSION_GROUPS`: all its tests run on one worker,
which builds that fixture once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _postgres import PostgresServer, running_server
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from metering import contract as artifacts
from metering.chain.node import LocalNode, dev_private_keys

TESTS = Path(__file__).resolve().parent

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, and rich fixes a console's width
# for good when COLUMNS is set as it is created (the CLI's console is created on import): a test that asks for a
# wider table with ``COLUMNS=200`` would then get 80 columns under xdist only. Tests set COLUMNS where they care.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)

#: Test directories (or top-level files) whose tests share an expensive session fixture, and why: each becomes
#: one xdist group (``--dist loadgroup`` runs a group on a single worker, so the fixture is built once, not once per
#: worker). A new directory whose tests only use the per-test ``meter``/``cli``/``driver`` needs no entry.
SHARED_SESSION_GROUPS: dict[str, str] = {
    "web": "the demo's whole history on a live anvil (world), a uvicorn server and one headless Chromium",
    "packing": "the slot libraries' harness, compiled through solc with viaIR (slots)",
    "test_brownie.py": "Brownie's project build/ folder in the checkout, and its compiler",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SHARED_SESSION_GROUPS` with their ``xdist_group`` (a no-op without xdist)."""
    for item in items:
        try:
            first = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # a test outside tests/ (given on the command line)
            continue
        if first in SHARED_SESSION_GROUPS:
            item.add_marker(pytest.mark.xdist_group(first))


@dataclass(frozen=True)
class Actors:
    """Funded dev accounts with fixed jobs: admin (also rules manager), agent, second agent, outsider."""

    admin: LocalAccount
    agent: LocalAccount
    agent2: LocalAccount
    outsider: LocalAccount
    customers: tuple[LocalAccount, ...]


class Chain:
    """Time and snapshot control of the test node."""

    def __init__(self, node: LocalNode, w3: Web3) -> None:
        self.node = node
        self.w3 = w3

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_next_timestamp(self, timestamp: int) -> None:
        """The next mined block (e.g. the next transaction's) gets exactly this timestamp."""
        self.node.rpc("evm_setNextBlockTimestamp", timestamp)

    def mine(self, timestamp: int | None = None) -> None:
        if timestamp is not None:
            self.set_next_timestamp(timestamp)
        self.node.rpc("evm_mine")

    def advance(self, seconds: int) -> None:
        self.mine(self.now() + seconds)

    def snapshot(self) -> str:
        return str(self.node.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        assert self.node.rpc("evm_revert", snapshot_id) is True


@pytest.fixture(scope="session")
def node() -> Iterator[LocalNode]:
    with LocalNode() as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (tests/_postgres.py); skipped, saying how to install it, without one."""
    with running_server() as server:
        if isinstance(server, str):
            pytest.skip(server)
        yield server


@pytest.fixture(scope="session")
def w3(node: LocalNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def actors() -> Actors:
    keys = dev_private_keys(10)
    accounts = [Account.from_key(k) for k in keys]
    return Actors(
        admin=accounts[0],
        agent=accounts[1],
        agent2=accounts[2],
        outsider=accounts[3],
        customers=tuple(accounts[4:10]),
    )


def transact(w3: Web3, fn: Any, sender: LocalAccount) -> Any:
    """Send a contract call from ``sender`` (an unlocked anvil account) and return the receipt."""
    tx_hash = fn.transact({"from": sender.address})
    return w3.eth.wait_for_transaction_receipt(tx_hash)


@pytest.fixture(scope="session")
def deployed_meter(w3: Web3, actors: Actors) -> Contract:
    """A Meter deployed once per session with web3.py from the shipped artifacts; roles granted."""
    factory = w3.eth.contract(abi=artifacts.abi(), bytecode=artifacts.bytecode())
    receipt = transact(w3, factory.constructor(actors.admin.address, 0), actors.admin)
    assert receipt["status"] == 1
    meter = w3.eth.contract(address=receipt["contractAddress"], abi=artifacts.abi())
    manager_role = meter.functions.RULES_MANAGER_ROLE().call()
    agent_role = meter.functions.AGENT_ROLE().call()
    transact(w3, meter.functions.grantRole(manager_role, actors.admin.address), actors.admin)
    for agent in (actors.agent, actors.agent2):
        transact(w3, meter.functions.grantRole(agent_role, agent.address), actors.admin)
    return meter


@pytest.fixture(scope="session")
def chain(node: LocalNode, w3: Web3) -> Chain:
    return Chain(node, w3)


@pytest.fixture
def meter(deployed_meter: Contract, chain: Chain) -> Iterator[Contract]:
    """The session's Meter, with every change of the test rolled back afterwards."""
    snapshot = chain.snapshot()
    try:
        yield deployed_meter
    finally:
        chain.revert(snapshot)


class HardforkNodes:
    """Anvils on older hardforks (``--hardfork paris``...), each started on first use and killed at session end."""

    def __init__(self) -> None:
        self._nodes: dict[str, LocalNode] = {}

    def __call__(self, hardfork: str) -> LocalNode:
        if hardfork not in self._nodes:
            self._nodes[hardfork] = LocalNode(extra_args=("--hardfork", hardfork)).start()
        return self._nodes[hardfork]

    def stop_all(self) -> None:
        for running in self._nodes.values():
            running.stop()


@pytest.fixture(scope="session")
def hardfork_node() -> Iterator[HardforkNodes]:
    """``hardfork_node("paris")``: a session anvil running that hardfork (the default ``node`` runs the newest)."""
    nodes = HardforkNodes()
    try:
        yield nodes
    finally:
        nodes.stop_all()
