"""Move time on a development chain (anvil, Hardhat, Ganache), and only there.

Timeframes start and leases run out in block time, so trying the whole flow on a local node means waiting for
real minutes, or moving the node's clock. The ``evm_increaseTime``/``evm_mine`` calls that do it exist only on
development nodes, and pointing them at a real network must fail loudly, not half-work: :func:`dev_chain` decides
from the node's ``web3_clientVersion`` (``anvil/v1.7.1``, ``HardhatNetwork/2.22.0``, ``Ganache/v7.9.2``) or, when
a node does not say, its chain id (31337 is anvil's and Hardhat's, 1337 Ganache's); anything else is refused.

>>> advance(w3, 3600)     # doctest: +SKIP
DevBlock(number=12, timestamp=1796086800)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint

from metering.errors import ConfigError, RpcUnavailableError

__all__ = ["DEV_CHAIN_IDS", "DEV_CLIENTS", "MAX_MINE", "DevBlock", "DevChain", "advance", "dev_chain", "mine"]

#: Lower-case prefixes of ``web3_clientVersion`` of development nodes, and the name shown for each.
DEV_CLIENTS: dict[str, str] = {"anvil": "anvil", "hardhat": "Hardhat", "ganache": "Ganache", "ethereumjs": "Ganache"}
#: Chain ids only development nodes use by default (anvil and Hardhat 31337, Ganache 1337).
DEV_CHAIN_IDS = frozenset({31337, 1337})
#: Most blocks one :func:`mine` call mines (each is one RPC call).
MAX_MINE = 10_000


@dataclass(frozen=True)
class DevChain:
    """What the node said about itself: its client version (``None`` if it would not say) and chain id."""

    client_version: str | None
    chain_id: int

    @property
    def name(self) -> str | None:
        """anvil, Hardhat or Ganache, if the client version names one."""
        version = (self.client_version or "").lower()
        return next((name for prefix, name in DEV_CLIENTS.items() if version.startswith(prefix)), None)

    @property
    def is_dev(self) -> bool:
        return self.name is not None or (self.client_version is None and self.chain_id in DEV_CHAIN_IDS)


@dataclass(frozen=True)
class DevBlock:
    """The latest block after moving time or mining."""

    number: int
    timestamp: int


def dev_chain(w3: Web3) -> DevChain:
    """The node's client version and chain id, refused unless it is a development chain.

    :raises ConfigError: the node is not anvil, Hardhat or Ganache (e.g. a testnet or mainnet node).
    :raises RpcUnavailableError: the node did not answer.
    """
    try:
        chain_id = int(w3.eth.chain_id)
    except (OSError, Web3Exception) as exc:
        raise RpcUnavailableError(f"the node did not say its chain id: {exc}") from exc
    try:
        version: str | None = str(w3.client_version)
    except (OSError, Web3Exception):
        version = None  # a node or proxy without web3_clientVersion: the chain id decides
    found = DevChain(version, chain_id)
    if not found.is_dev:
        raise ConfigError(
            f"not a development chain ({version or 'unknown client'}, chain id {chain_id}): `metering dev` moves "
            "time only on anvil, Hardhat or Ganache"
        )
    return found


def advance(w3: Web3, seconds: int) -> DevBlock:
    """Moves the chain's clock ``seconds`` forward and mines a block, so the next block's time includes it.

    :raises ConfigError: not a development chain, or ``seconds`` is negative.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ConfigError(f"time only moves forward: got {seconds!r} seconds")
    dev_chain(w3)
    _request(w3, "evm_increaseTime", [seconds])
    _request(w3, "evm_mine", [])
    return _latest(w3)


def mine(w3: Web3, blocks: int = 1) -> DevBlock:
    """Mines ``blocks`` empty blocks (1..:data:`MAX_MINE`), e.g. to give transactions confirmations.

    :raises ConfigError: not a development chain, or ``blocks`` out of range.
    """
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= MAX_MINE:
        raise ConfigError(f"mine 1 to {MAX_MINE} blocks at a time, not {blocks!r}")
    dev_chain(w3)
    for _ in range(blocks):
        _request(w3, "evm_mine", [])
    return _latest(w3)


def _request(w3: Web3, method: str, params: list[Any]) -> Any:
    try:
        return w3.manager.request_blocking(RPCEndpoint(method), params)
    except OSError as exc:
        raise RpcUnavailableError(f"the node did not answer {method}: {exc}") from exc
    except Web3Exception as exc:
        raise ConfigError(f"the node refused {method}: {exc}") from exc


def _latest(w3: Web3) -> DevBlock:
    block = w3.eth.get_block("latest")
    return DevBlock(number=int(block["number"]), timestamp=int(block["timestamp"]))
