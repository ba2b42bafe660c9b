"""Start and stop a local anvil node: for ``metering node``, the demo and the test suite.

A node belongs to whoever started it: it listens on a free loopback port, and is killed by PID when the
``with`` block ends, also when that block raises. A fresh node per session keeps anvil fast (its throughput halves
once a chain holds thousands of blocks).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from eth_account import Account

from metering.errors import NodeError

__all__ = ["DEV_MNEMONIC", "LocalNode", "dev_private_keys", "find_anvil"]

#: anvil's default development mnemonic: its accounts are public knowledge, never use them on a real chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"

_REPO_ANVIL = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def find_anvil() -> Path:
    """The anvil binary: ``$METERING_ANVIL``, else the project's pinned npm copy, else ``anvil`` on PATH."""
    override = os.environ.get("METERING_ANVIL")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent.parent
    for root in (Path.cwd(), here):
        candidate = root / _REPO_ANVIL
        if candidate.is_file():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise NodeError(
        "anvil not found: run `npm install` in the metering repository, or set METERING_ANVIL to an anvil binary"
    )


def dev_private_keys(count: int = 10) -> list[str]:
    """Private keys of anvil's funded development accounts, in order (derived from :data:`DEV_MNEMONIC`)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex() for i in range(count)
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rpc(url: str, method: str, params: Sequence[object] = (), timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeError(f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass
class LocalNode:
    """An anvil process on ``127.0.0.1``; use it as a context manager.

    >>> with LocalNode() as node:           # doctest: +SKIP
    ...     print(node.rpc_url)
    http://127.0.0.1:40123
    """

    port: int = 0
    chain_id: int = 31337
    accounts: int = 10
    block_time: int | None = None
    extra_args: Sequence[str] = ()
    startup_timeout: float = 20.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> LocalNode:
        if self._process is not None:
            return self
        if self.port == 0:
            self.port = _free_port()
        command = [
            str(find_anvil()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--silent",
        ]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
        command += list(self.extra_args)
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                self._process = None
                raise NodeError(f"anvil exited at start-up: {err.strip() or 'no output'}")
            try:
                _rpc(self.rpc_url, "eth_chainId", timeout=0.5)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        raise NodeError(f"anvil did not answer on {self.rpc_url} within {self.startup_timeout:.0f} s")

    def stop(self) -> None:
        """Kill the node by PID and reap it. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()

    def rpc(self, method: str, *params: object) -> object:
        """A raw JSON-RPC call to this node (``evm_increaseTime``, ``evm_snapshot``, ...)."""
        return _rpc(self.rpc_url, method, params, timeout=30.0)

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
