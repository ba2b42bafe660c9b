"""Fixtures of the node matrix: each test starts its own node (anvil, Ganache or a Hardhat node, from the project's
pinned npm packages) on a free 127.0.0.1 port and kills it by PID afterwards, also after a failure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from metering.chain.node import LocalNode

pytestmark = pytest.mark.nodes


@dataclass(frozen=True)
class NodeKind:
    """A node of the matrix: its client, its block time (None: a block per transaction) and the EVM build a
    deployment should pick on it."""

    client: str
    block_time: int | None
    evm: str

    @property
    def id(self) -> str:
        return self.client + (f"-{self.block_time}s-blocks" if self.block_time else "")


#: Ganache 7.9.2 runs shanghai (no Cancun opcodes); anvil 1.7.1 and Hardhat 2.29 run cancun or later.
MATRIX = (
    NodeKind("anvil", None, "cancun"),
    NodeKind("ganache", None, "shanghai"),
    NodeKind("hardhat", None, "cancun"),
    NodeKind("anvil", 2, "cancun"),
)


@pytest.fixture(params=MATRIX, ids=[kind.id for kind in MATRIX])
def fresh_node(request: pytest.FixtureRequest) -> Iterator[tuple[NodeKind, LocalNode]]:
    kind: NodeKind = request.param
    with LocalNode(client=kind.client, block_time=kind.block_time) as running:
        yield kind, running
