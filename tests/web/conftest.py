"""A world for the web view's tests: the demo's whole history on a live anvil, held open for the session.

The demo runs once (about 10 s) in a thread; its ``then`` hook parks until the session ends, so the node, the
contract and the provider's event database stay there for every test, and the node is killed by PID at the end
like every other test node.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from web3 import Web3

from metering.audit.invoice import Invoice, read_invoice
from metering.chain import connect
from metering.chain.node import LocalNode
from metering.demo import TYPE_NAMES, DemoResult, run_demo
from tests.waiting import wait_for

pytest.importorskip("starlette", reason="the web view needs the web extra: pip install 'metering[web]'")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free 127.0.0.1 port, in a thread; yields its URL once it listens.

    It stops without waiting for open connections (``force_exit``): Chromium keeps its connections alive and live
    pages hold event streams, which would otherwise hold the shutdown for the whole join timeout.
    """
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=120, what="uvicorn to listen")
    assert server.started, "uvicorn stopped before it listened"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def chromium(profile: Path, window: str) -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver, with a profile of its own and ``window`` ("W,H")."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


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
