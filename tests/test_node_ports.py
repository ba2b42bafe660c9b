"""A port taken between finding it free and the node binding it (another test worker, another program) costs a
retry on another port, not a failed test run; a port the caller chose is kept, and a node that cannot have it exits
saying so (the listener already there is never taken for the node)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import metering.chain.node as node_module
from metering.chain.node import LocalNode
from metering.errors import NodeError


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_taken_before_the_node_binds_it_is_retried_on_another(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = iter([taken_port])
    real_free_port = node_module._free_port
    monkeypatch.setattr(node_module, "_free_port", lambda: next(offered, None) or real_free_port())
    with LocalNode() as running:
        assert running.port != taken_port
        assert running.rpc("eth_chainId") == "0x7a69"


def test_a_port_chosen_by_the_caller_is_not_changed(taken_port: int) -> None:
    with pytest.raises(NodeError, match="exited at start-up"):
        LocalNode(port=taken_port).start()
