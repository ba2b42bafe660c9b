"""Check that a deployed Meter runs the shipped sources, locally, without a compiler.

The chain of evidence is the one Sourcify uses for a perfect match, walked backwards from the shipped files:

1. the shipped ``metadata.json`` of each build hashes (IPFS CIDv0) to the hash its bytecode's trailer commits to,
   and it pins every source by keccak-256, which the shipped standard-JSON input's sources match
   (:func:`check_shipped_build`; the artifact-freshness test proves the bytecode is what those sources compile to);
2. the runtime code on chain (``eth_getCode``) equals a build's ``deployedBytecode``, immutables aside (the
   constructor writes them; their positions come from the compiler's ``immutableReferences``).

Equal including the metadata trailer is a **perfect** match: same program, same metadata, hence the same sources
byte for byte. Equal except the trailer is a **partial** match: the same program compiled from sources or settings
that differ only in what does not change code (paths, comments, metadata settings). Anything else is a mismatch.

>>> verify_source(w3, "0x...").kind                    # doctest: +SKIP
<MatchKind.PERFECT: 'perfect'>
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from metering._utils.bytecode import ipfs_cid_v0, metadata_hash, split_metadata
from metering.chain.evm import EvmTarget, load_artifact
from metering.errors import ConfigError, RpcUnavailableError, VerificationError

if TYPE_CHECKING:
    from web3 import Web3

    from metering.chain.lean import LeanNode

__all__ = ["MatchKind", "SourceMatch", "check_shipped_build", "compare_runtime_code", "verify_source"]


class MatchKind(StrEnum):
    """How the code on chain relates to a shipped build (Sourcify's names)."""

    PERFECT = "perfect"
    PARTIAL = "partial"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class SourceMatch:
    """The outcome of :func:`verify_source`."""

    kind: MatchKind
    chain_id: int
    address: str
    #: The build the code matched (None for a mismatch).
    evm_version: str | None
    #: ``<source unit>:<contract>`` and the full compiler version of the shipped builds.
    contract: str
    compiler: str
    #: The metadata hash the code on chain commits to, and the matched (or default) build's.
    onchain_metadata: str | None
    shipped_metadata: str | None

    @property
    def ok(self) -> bool:
        return self.kind is MatchKind.PERFECT

    def summary(self) -> str:
        """One line for people, naming the outcome first."""
        where = f"{self.address} on chain {self.chain_id}"
        if self.kind is MatchKind.PERFECT:
            return (
                f"perfect match: {where} runs the shipped {self.contract} ({self.evm_version} build, "
                f"solc {self.compiler}, metadata {self.shipped_metadata})"
            )
        if self.kind is MatchKind.PARTIAL:
            return (
                f"partial match: {where} runs the code of the shipped {self.evm_version} build, but its metadata "
                f"differs ({self.onchain_metadata or 'none'} on chain, {self.shipped_metadata} shipped): compiled "
                "from other source paths, comments or metadata settings"
            )
        targets = ", ".join(t.value for t in EvmTarget)
        return f"mismatch: the code at {where} is none of the shipped {self.contract} builds ({targets})"


def check_shipped_build(target: EvmTarget | str) -> str:
    """Prove a shipped build's files agree with each other; returns its metadata hash (``ipfs://...``).

    The metadata's IPFS hash must be the one in the bytecode's trailer, and every source's keccak-256 in the
    metadata must match the content in the standard-JSON input.

    :raises VerificationError: the installed package is inconsistent (a broken or edited install).
    """
    build = load_artifact(target)
    std_input = load_artifact(target, "standard-input")
    raw_metadata: str = build["metadata"]
    runtime = _hex(build["deployedBytecode"])
    committed = metadata_hash(runtime)
    computed = "ipfs://" + ipfs_cid_v0(raw_metadata.encode("utf-8"))
    if committed != computed:
        raise VerificationError(
            f"the shipped {build['evmVersion']} build is inconsistent: its bytecode commits to metadata {committed}, "
            f"its metadata.json hashes to {computed}; reinstall metering"
        )
    metadata: dict[str, Any] = json.loads(raw_metadata)
    for unit, entry in metadata["sources"].items():
        source = std_input["sources"].get(unit)
        if source is None or "0x" + keccak(text=source["content"]).hex() != entry["keccak256"]:
            raise VerificationError(
                f"the shipped {build['evmVersion']} build is inconsistent: source {unit} does not match the "
                "keccak-256 its metadata pins; reinstall metering"
            )
    return computed


def compare_runtime_code(onchain: bytes, build: dict[str, Any]) -> MatchKind:
    """How ``onchain`` runtime code relates to ``build``'s ``deployedBytecode``.

    Immutables are zero in the compiled code and set on chain, so their bytes are taken from ``onchain`` first.
    """
    compiled = _hex(build["deployedBytecode"])
    immutables = [
        (int(ref["start"]), int(ref["length"]))
        for refs in build.get("immutableReferences", {}).values()
        for ref in refs
    ]
    if len(compiled) == len(onchain) and _with_immutables(compiled, onchain, immutables) == onchain:
        return MatchKind.PERFECT
    onchain_code, _ = split_metadata(onchain)
    compiled_code, _ = split_metadata(compiled)
    if len(compiled_code) == len(onchain_code) and _with_immutables(compiled_code, onchain_code, immutables) == (
        onchain_code
    ):
        return MatchKind.PARTIAL
    return MatchKind.MISMATCH


def verify_source(w3: Web3 | LeanNode, address: str, targets: tuple[EvmTarget, ...] = tuple(EvmTarget)) -> SourceMatch:
    """Compare the code at ``address`` with every shipped build in ``targets``; the best match wins.

    Builds for different EVM versions may share their code (when the newer one uses no new opcode) but never their
    metadata, so at most one matches perfectly; among partial matches the newest build is named.

    :raises ConfigError: ``address`` is malformed or holds no code.
    :raises RpcUnavailableError: the node stopped answering.
    :raises VerificationError: the installed package's builds are inconsistent (see :func:`check_shipped_build`).

    ``w3`` may be a :class:`~metering.chain.lean.LeanNode`: the command line reads the code without web3 (issue 20).
    """
    from metering.chain import checksum
    from metering.chain.lean import LeanNode

    checked = checksum(address, what="the contract to verify")
    if isinstance(w3, LeanNode):
        try:
            code, chain_id = w3.get_code(checked), w3.chain_id()
        except RpcUnavailableError as exc:
            raise RpcUnavailableError(f"the node stopped answering while reading the code at {checked}: {exc}") from exc
    else:
        code, chain_id = _code_through_web3(w3, checked)
    if not code:
        raise ConfigError(f"no contract code at {checked} on chain {chain_id}: check the address and the RPC URL")
    kind, found = MatchKind.MISMATCH, None
    for target in sorted(targets, key=lambda t: t.rank, reverse=True):
        check_shipped_build(target)
        this = compare_runtime_code(code, load_artifact(target))
        if this is MatchKind.PERFECT or (this is MatchKind.PARTIAL and kind is MatchKind.MISMATCH):
            kind, found = this, target
        if this is MatchKind.PERFECT:
            break
    matched = load_artifact(found if found is not None else max(targets, key=lambda t: t.rank))
    return SourceMatch(
        kind=kind,
        chain_id=chain_id,
        address=checked,
        evm_version=found.value if found is not None else None,
        contract=f"{matched['sourceName']}:{matched['contractName']}",
        compiler=str(json.loads(matched["metadata"])["compiler"]["version"]),
        onchain_metadata=metadata_hash(code),
        shipped_metadata=metadata_hash(_hex(matched["deployedBytecode"])),
    )


def _code_through_web3(w3: Web3, checked: str) -> tuple[bytes, int]:
    from web3.exceptions import Web3Exception

    try:
        return bytes(w3.eth.get_code(checked)), int(w3.eth.chain_id)  # type: ignore[arg-type]
    except (OSError, Web3Exception) as exc:
        raise RpcUnavailableError(f"the node stopped answering while reading the code at {checked}: {exc}") from exc


def _with_immutables(compiled: bytes, onchain: bytes, immutables: list[tuple[int, int]]) -> bytes:
    """``compiled`` with the bytes of each immutable copied from ``onchain`` (both the same length)."""
    patched = bytearray(compiled)
    for start, length in immutables:
        patched[start : start + length] = onchain[start : start + length]
    return bytes(patched)


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))
