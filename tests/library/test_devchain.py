"""metering.chain.devchain: time moves on anvil, and nothing moves on a node that is not a development chain."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.providers.base import BaseProvider

from metering.chain.devchain import DevChain, advance, dev_chain, mine
from metering.chain.node import LocalNode
from metering.errors import ConfigError


class FakeNode(BaseProvider):
    """A JSON-RPC node that answers chain id and client version as told, and records every method asked."""

    def __init__(self, client_version: str | None, chain_id: int) -> None:
        super().__init__()
        self.client_version = client_version
        self.chain_id = chain_id
        self.methods: list[str] = []

    def make_request(self, method: Any, params: Any) -> Any:
        self.methods.append(str(method))
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": hex(self.chain_id)}
        if method == "web3_clientVersion" and self.client_version is not None:
            return {"jsonrpc": "2.0", "id": 1, "result": self.client_version}
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": f"the method {method} does not exist"}}


@pytest.mark.parametrize(
    ("version", "chain_id", "name"),
    [("anvil/v1.7.1", 31337, "anvil"), ("HardhatNetwork/2.22.19/@ethereumjs/vm/7.0", 31337, "Hardhat"),
     ("Ganache/v7.9.2/EthereumJS TestRPC/v7.9.2/ethereum-js", 1337, "Ganache"), ("anvil/v1.7.1", 5, "anvil")],
)
def test_anvil_hardhat_and_ganache_are_dev_chains(version: str, chain_id: int, name: str) -> None:
    found = dev_chain(Web3(FakeNode(version, chain_id)))
    assert (found.name, found.is_dev) == (name, True)


def test_a_node_that_does_not_say_its_client_is_a_dev_chain_only_by_a_dev_chain_id() -> None:
    assert dev_chain(Web3(FakeNode(None, 31337))).is_dev
    with pytest.raises(ConfigError, match="not a development chain"):
        dev_chain(Web3(FakeNode(None, 1)))


@pytest.mark.parametrize(("version", "chain_id"), [("Geth/v1.14.12-stable/linux-amd64/go1.23.4", 1),
                                                   ("Geth/v1.14.12-stable/linux-amd64/go1.23.4", 1337),
                                                   ("reth/v1.1.0", 11155111)])
def test_other_clients_are_refused_before_any_time_moves(version: str, chain_id: int) -> None:
    fake = FakeNode(version, chain_id)
    w3 = Web3(fake)
    with pytest.raises(ConfigError, match=r"not a development chain \(.*chain id \d+\)"):
        advance(w3, 3600)
    with pytest.raises(ConfigError, match="not a development chain"):
        mine(w3, 2)
    assert not any(m.startswith("evm_") for m in fake.methods), fake.methods
    assert not DevChain(version, chain_id).is_dev


def test_advance_moves_the_chain_clock_and_mines_a_block(node: LocalNode, w3: Web3) -> None:
    snapshot = node.rpc("evm_snapshot")
    try:
        before = w3.eth.get_block("latest")
        block = advance(w3, 3600)
        assert block.number == before["number"] + 1
        assert block.timestamp >= before["timestamp"] + 3600
        assert w3.eth.get_block("latest")["timestamp"] == block.timestamp
    finally:
        node.rpc("evm_revert", snapshot)


def test_mine_mines_the_number_of_blocks_asked(node: LocalNode, w3: Web3) -> None:
    snapshot = node.rpc("evm_snapshot")
    try:
        before = w3.eth.block_number
        assert mine(w3, 5).number == before + 5
    finally:
        node.rpc("evm_revert", snapshot)


@pytest.mark.parametrize(("call", "value"), [(advance, -1), (mine, 0), (mine, 10_001)])
def test_out_of_range_amounts_are_refused(w3: Web3, call: Any, value: int) -> None:
    with pytest.raises(ConfigError):
        call(w3, value)
