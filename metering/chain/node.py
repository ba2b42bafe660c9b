"""Start and stop a local development node: for ``metering node``, the demo and the test suite.

Three clients, each pinned in the project's ``package.json``: anvil (the default, fastest), Ganache 7 and a
Hardhat 2 node, so the whole flow can be tried (and is tested, ``tests/nodes/``) on the nodes users actually run.
All three start with the same public dev mnemonic, so the dev keys are the same on each.

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
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account import Account

from metering.errors import NodeError

__all__ = ["CLIENTS", "DEV_MNEMONIC", "LocalNode", "dev_private_keys", "find_anvil", "find_node_script"]

#: anvil's default development mnemonic: its accounts are public knowledge, never use them on a real chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"

_REPO_ANVIL = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")

#: The local nodes :class:`LocalNode` can start.
CLIENTS = ("anvil", "ganache", "hardhat")
#: Each client's chain id unless told otherwise (Ganache's own default is 1337; anvil and Hardhat use 31337).
_DEFAULT_CHAIN_IDS = {"anvil": 31337, "ganache": 1337, "hardhat": 31337}
#: The JavaScript entry points of the npm-installed clients, relative to the repository, and the Hardhat config
#: (its own folder, so Hardhat never takes the repository for its project and compiles nothing).
_NODE_SCRIPTS = {
    "ganache": Path("node_modules/ganache/dist/node/cli.js"),
    "hardhat": Path("node_modules/hardhat/internal/cli/cli.js"),
}
_HARDHAT_CONFIG = Path("tools/hardhat/hardhat.config.js")


def find_anvil() -> Path:
    """The anvil binary: ``$METERING_ANVIL``, else the project's pinned npm copy, else ``anvil`` on PATH."""
    override = os.environ.get("METERING_ANVIL")
    if override:
        return Path(override)
    for root in _repo_roots():
        candidate = root / _REPO_ANVIL
        if candidate.is_file():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise NodeError(
        "anvil not found: run `npm install` in the metering repository, or set METERING_ANVIL to an anvil binary"
    )


def _repo_roots() -> list[Path]:
    return [Path.cwd(), Path(__file__).resolve().parent.parent]


def find_node_script(client: str) -> Path:
    """The npm-installed entry point of ``ganache`` or ``hardhat`` (run with ``node``): the repository's pinned copy.

    :raises NodeError: not installed (``npm ci`` in the repository installs both) or ``node`` is not on PATH.
    """
    if shutil.which("node") is None:
        raise NodeError(f"{client} needs Node.js: install node (20 or later) and run `npm ci` in the repository")
    for root in _repo_roots():
        candidate = root / _NODE_SCRIPTS[client]
        if candidate.is_file():
            return candidate
    raise NodeError(f"{client} not found: run `npm ci` in the metering repository (it pins {client})")


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
    """A local development node on ``127.0.0.1`` (anvil by default); use it as a context manager.

    ``client`` is ``"anvil"``, ``"ganache"`` or ``"hardhat"``; ``chain_id`` defaults to the client's own (1337 for
    Ganache, 31337 otherwise); ``block_time`` mines a block every so many seconds instead of one per transaction.
    ``extra_args`` go to the client's command line as they are (e.g. anvil's ``--hardfork paris``).

    >>> with LocalNode() as node:           # doctest: +SKIP
    ...     print(node.rpc_url)
    http://127.0.0.1:40123
    """

    port: int = 0
    chain_id: int | None = None
    accounts: int = 10
    block_time: int | None = None
    extra_args: Sequence[str] = ()
    startup_timeout: float | None = None
    client: str = "anvil"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _scratch: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    _log: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.client not in CLIENTS:
            raise NodeError(f"unknown node client {self.client!r}: choose one of {', '.join(CLIENTS)}")
        if self.chain_id is None:
            self.chain_id = _DEFAULT_CHAIN_IDS[self.client]
        if self.startup_timeout is None:
            # the Node.js clients load for seconds before they listen, longer on a busy machine
            # (a bound, not a wait: start() returns as soon as the node answers)
            self.startup_timeout = 60.0 if self.client == "anvil" else 180.0

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _command(self) -> tuple[list[str], dict[str, str] | None, Path | None]:
        """The client's command line, environment (None: inherit) and working directory (None: inherit)."""
        if self.client == "anvil":
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
            return command + list(self.extra_args), None, None
        script = find_node_script(self.client)
        root = script.parents[len(_NODE_SCRIPTS[self.client].parts) - 1]
        if self.client == "ganache":
            command = [
                "node", str(script),
                "--server.host", "127.0.0.1",
                "--server.port", str(self.port),
                "--chain.chainId", str(self.chain_id),
                "--wallet.mnemonic", DEV_MNEMONIC,
                "--wallet.totalAccounts", str(self.accounts),
                "--logging.quiet",
            ]
            if self.block_time is not None:
                command += ["--miner.blockTime", str(self.block_time)]
            return command + list(self.extra_args), None, None
        # Hardhat keeps an analytics id and config in the user's folders (env-paths: XDG on Linux): give it a
        # scratch folder of its own, so a test run never writes into $HOME. Its config reads chain id, accounts and
        # block time from the environment.
        self._scratch = tempfile.TemporaryDirectory(prefix="metering-hardhat-")
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": self._scratch.name,
            "XDG_DATA_HOME": self._scratch.name,
            "XDG_CACHE_HOME": self._scratch.name,
            "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            "METERING_HARDHAT_CHAIN_ID": str(self.chain_id),
            "METERING_HARDHAT_ACCOUNTS": str(self.accounts),
            "METERING_HARDHAT_BLOCK_TIME": str(self.block_time or 0),
        }
        command = [
            "node", str(script), "node",
            "--config", str(root / _HARDHAT_CONFIG),
            "--hostname", "127.0.0.1",
            "--port", str(self.port),
        ]
        return command + list(self.extra_args), env, root

    def start(self) -> LocalNode:
        if self._process is not None:
            return self
        if self.port != 0:
            return self._start()
        # A free port is found by binding to port 0 and letting go, so another program (a parallel test worker)
        # may take it before the node binds it: then the node exits saying so, and another port is tried.
        for attempt in range(3):
            self.port = _free_port()
            try:
                return self._start()
            except NodeError as exc:
                if attempt == 2 or not any(word in str(exc).lower() for word in ("in use", "eaddrinuse")):
                    raise
        raise AssertionError("unreachable")

    def _start(self) -> LocalNode:
        command, env, cwd = self._command()
        # stderr into a file, not a pipe: a pipe nobody reads fills up and would stall a chatty node
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop(), with the process)
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._log, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        timeout = self.startup_timeout or 20.0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                self._process = None
                self._clean_scratch()
                raise NodeError(f"{self.client} exited at start-up: {err.strip()[-2000:] or 'no output'}")
            try:
                _rpc(self.rpc_url, "eth_chainId", timeout=0.5)
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
                continue
            if self._process.poll() is None:  # it answered, and it is ours: not a node that exited meanwhile
                return self
        self.stop()
        raise NodeError(f"{self.client} did not answer on {self.rpc_url} within {timeout:.0f} s")

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
        self._clean_scratch()

    def _clean_scratch(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.cleanup()

    def rpc(self, method: str, *params: object) -> object:
        """A raw JSON-RPC call to this node (``evm_increaseTime``, ``evm_snapshot``, ...)."""
        return _rpc(self.rpc_url, method, params, timeout=30.0)

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
