"""EVM targets: which build of the Meter a node can run, and how to tell before deploying.

Solidity compiles for one EVM version at a time. The Cancun build uses ``PUSH0`` (Shanghai) and may use
``MCOPY``/``TLOAD`` (Cancun), so a node on an older hardfork (a Ganache or a private chain still on Paris) rejects it
with a bare "invalid opcode". The package therefore ships one build per target (see ``tools/compile_contracts.py``):

- the default target's artifacts at the top of ``metering/artifacts/``, where they always were (so
  :func:`metering.contract.artifact` and every path into the package stay as they were);
- every other target's in ``metering/artifacts/<target>/``.

:func:`probe_node` finds the newest target a node runs by asking it to execute a few bytes of creation code that
use one new opcode each (``eth_call`` without a ``to``: nothing is sent or stored). :func:`choose_target` turns that
into the build to deploy, and refuses a build the node is too old for, in one sentence that says what to do.

>>> probe_node(w3).newest                              # doctest: +SKIP
<EvmTarget.PARIS: 'paris'>
>>> choose_target(w3, "cancun")                        # doctest: +SKIP
Traceback (most recent call last):
UnsupportedEvmTargetError: the node runs EVM paris at most: it lacks PUSH0 (shanghai), which the cancun build uses ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from metering.errors import ConfigError, RpcUnavailableError, UnsupportedEvmTargetError

if TYPE_CHECKING:
    from web3 import Web3

__all__ = [
    "DEFAULT_TARGET",
    "EvmTarget",
    "NodeEvm",
    "artifact_dir",
    "choose_target",
    "load_artifact",
    "parse_target",
    "probe_node",
]


class EvmTarget(StrEnum):
    """The EVM versions the Meter is shipped for, oldest first (their order is the hardforks')."""

    PARIS = "paris"
    SHANGHAI = "shanghai"
    CANCUN = "cancun"

    @property
    def rank(self) -> int:
        return list(EvmTarget).index(self)


#: The build ``metering.contract`` serves and the one at the top of ``metering/artifacts/``.
DEFAULT_TARGET = EvmTarget.CANCUN

#: What each target adds that a node must run, and creation code that runs it and returns empty code.
#: ``PUSH0 PUSH0 RETURN`` for Shanghai; ``PUSH1 0 TLOAD POP STOP`` for Cancun. Paris is the floor: its one change
#: from London renames an opcode (DIFFICULTY to PREVRANDAO), so every node we meet runs a Paris build.
_PROBES: dict[EvmTarget, tuple[str, str]] = {
    EvmTarget.SHANGHAI: ("PUSH0", "0x5f5ff3"),
    EvmTarget.CANCUN: ("TLOAD", "0x60005c5000"),
}
#: ``PUSH1 0 PUSH1 0 RETURN``: runs on any EVM, so a failure means the node does not execute creation calls.
_BASELINE = "0x60006000f3"


def parse_target(value: str | EvmTarget) -> EvmTarget:
    """``value`` ("paris", "Shanghai"...) as an :class:`EvmTarget`; :class:`ConfigError` naming the choices."""
    try:
        return EvmTarget(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(t.value for t in EvmTarget)
        raise ConfigError(f"unknown EVM version {value!r}: choose one of {choices}") from None


def artifact_dir(target: EvmTarget | str) -> str:
    """The folder of ``target``'s artifacts, relative to the package: ``artifacts`` or ``artifacts/<target>``."""
    chosen = parse_target(target)
    return "artifacts" if chosen is DEFAULT_TARGET else f"artifacts/{chosen.value}"


@cache
def load_artifact(target: EvmTarget | str = DEFAULT_TARGET, name: str = "Meter") -> dict[str, Any]:
    """A shipped artifact of ``target``: ``"Meter"`` (ABI, bytecode, metadata...) or ``"standard-input"``.

    ``load_artifact(DEFAULT_TARGET, name)`` is the same file as :func:`metering.contract.artifact` reads.
    """
    folder = resources.files("metering").joinpath(*artifact_dir(target).split("/"))
    data: dict[str, Any] = json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class NodeEvm:
    """What a node's EVM runs, as probed: ``newest`` is the newest shipped target it runs, or ``None`` when the node
    does not execute creation calls at all (then nothing is known; a Paris build is the safe choice)."""

    newest: EvmTarget | None
    #: The opcode whose absence stopped the probe (e.g. "PUSH0"), or None when the newest target runs.
    missing_opcode: str | None = None


def probe_node(w3: Web3) -> NodeEvm:
    """The newest shipped EVM target ``w3``'s node runs, found by ``eth_call``-ing tiny creation code.

    Read-only and cheap (at most three calls). A node on a hardfork newer than every shipped target reports the
    newest shipped one.

    :raises RpcUnavailableError: the node stopped answering.
    """
    if not _runs(w3, _BASELINE):
        return NodeEvm(newest=None)
    newest = EvmTarget.PARIS
    for target, (opcode, code) in _PROBES.items():
        if not _runs(w3, code):
            return NodeEvm(newest=newest, missing_opcode=opcode)
        newest = target
    return NodeEvm(newest=newest)


def choose_target(w3: Web3, requested: EvmTarget | str | None = None) -> EvmTarget:
    """The build to deploy on ``w3``'s node: ``requested`` if the node runs it, else the newest one it runs.

    :raises UnsupportedEvmTargetError: ``requested`` is newer than the node's EVM (a ConfigError: exit 3 in the CLI).
    :raises ConfigError: ``requested`` is not a shipped target.
    """
    wanted = parse_target(requested) if requested is not None else None
    node = probe_node(w3)
    if node.newest is None:
        # The node cannot be probed: trust an explicit choice, else take the build every node runs.
        return wanted or EvmTarget.PARIS
    if wanted is None:
        return node.newest
    if wanted.rank > node.newest.rank:
        lacking = list(_PROBES)[node.newest.rank]  # the first target the node failed
        raise UnsupportedEvmTargetError(
            f"the node runs EVM {node.newest.value} at most: it lacks {node.missing_opcode} ({lacking.value}), which "
            f"the {wanted.value} build may use; deploy with --evm-version {node.newest.value}, or leave "
            "--evm-version out to pick the node's"
        )
    return wanted


def _runs(w3: Web3, creation_code: str) -> bool:
    """Whether the node executes ``creation_code`` in a contract-creation ``eth_call`` without an error.

    An error reply (JSON-RPC error, or an HTTP error status some nodes use for it) means it did not; no reply at all
    is :class:`RpcUnavailableError`.
    """
    from requests import HTTPError

    try:
        reply = w3.provider.make_request("eth_call", [{"data": creation_code}, "latest"])  # type: ignore[arg-type]
    except HTTPError:
        return False
    except (OSError, ValueError) as exc:  # requests' connection errors are OSErrors; ValueError: not JSON
        raise RpcUnavailableError(f"the node stopped answering while probing its EVM version: {exc}") from exc
    return isinstance(reply, dict) and "error" not in reply and "result" in reply
