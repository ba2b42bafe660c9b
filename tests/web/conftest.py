"""A world for the web view's tests: the demo's whole history on a live anvil, held open for the session.

The demo runs once (about 10 s) in a thread; its ``then`` hook parks until the session ends, so the node, the
contract and the provider's event database stay there for every test, and the node is killed by PID at the end
like every other test node.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from web3 import Web3

from metering.audit.invoice import Invoice, read_invoice
from metering.chain import connect
from metering.chain.node import LocalNode
from metering.demo import TYPE_NAMES, DemoResult, run_demo

pytest.importorskip("starlette", reason="the web view needs the web extra: pip install 'metering[web]'")


@dataclass(frozen=True)
class World:
    result: DemoResult
    rpc_url: str
    w3: Web3
    out: Path

    @property
    def contract(self) -> str:
        return self.result.contract

    @property
    def db(self) -> Path:
        return self.out / "provider.sqlite"

    def invoice(self, name: str) -> Invoice:
        return read_invoice(self.result.invoices[name])


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    out = tmp_path_factory.mktemp("demo")
    ready = threading.Event()
    release = threading.Event()
    held: dict[str, object] = {}
    failure: list[BaseException] = []

    def hold(node: LocalNode, result: DemoResult) -> None:
        held["node"], held["result"] = node, result
        ready.set()
        release.wait(600)

    def run() -> None:
        try:
            run_demo(out, Console(quiet=True), then=hold)
        except BaseException as exc:  # surfaced in the fixture below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="web-test-demo", daemon=True)
    thread.start()
    ready.wait(300)
    if failure:
        raise failure[0]
    node = held["node"]
    assert isinstance(node, LocalNode)
    result = held["result"]
    assert isinstance(result, DemoResult)
    try:
        yield World(result, node.rpc_url, connect(node.rpc_url), out)
    finally:
        release.set()
        thread.join(60)


@pytest.fixture(scope="session")
def type_names() -> dict[int, str]:
    return dict(TYPE_NAMES)
