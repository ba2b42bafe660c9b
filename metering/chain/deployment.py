"""What a deployment leaves behind: a record of where and how the Meter was deployed, and the files an explorer
needs to verify its source.

``metering deploy`` writes, per (chain, contract), into a deployments folder (``--out``, ``METERING_DEPLOYMENTS``,
by default ``<user data dir>/metering/deployments``):

- ``<chain id>-<address>.json``: the :class:`Deployment` record, with the deployment block, so tools that read
  events can start there instead of searching (a pruned node cannot be searched);
- ``<chain id>-<address>.sourcify/``: ``metadata.json`` (byte for byte what the bytecode's metadata hash commits
  to), ``sources/`` (every source unit under its own name), ``standard-input.json`` (the compiler input of the
  deployed build), ``constructor-args.txt`` (the ABI-encoded constructor arguments, hex) and
  ``sourcify-request.json`` (the body of Sourcify's APIv2 ``POST /v2/verify/<chain id>/<address>``). Upload
  ``metadata.json`` with ``sources/`` to Sourcify, or ``standard-input.json`` with the compiler version to any
  explorer; both give a perfect match because they are what the deployed bytecode was compiled from.

The constructor arguments are read back from the deployment transaction (its input minus the shipped bytecode),
so the record is right for any constructor and for any tool that sent the shipped bytecode (the CLI, the library,
the Brownie script).

>>> deployment = describe_deployment(w3, "0x...", tx_hash, "cancun")   # doctest: +SKIP
>>> files = write_deployment(deployment, default_deployments_dir())    # doctest: +SKIP
>>> find_deployment(31337, "0x...").block_number                       # doctest: +SKIP
1
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metering.chain.evm import EvmTarget, load_artifact, parse_target
from metering.errors import ConfigError, VerificationError

if TYPE_CHECKING:
    from web3 import Web3

__all__ = [
    "DEPLOYMENTS_ENV",
    "Deployment",
    "DeploymentFiles",
    "default_deployments_dir",
    "deployment_file",
    "describe_deployment",
    "find_deployment",
    "load_deployment",
    "prepare_directory",
    "write_deployment",
    "write_sourcify_files",
]

#: The environment variable that moves the default deployments folder.
DEPLOYMENTS_ENV = "METERING_DEPLOYMENTS"
_FORMAT = 1


@dataclass(frozen=True)
class Deployment:
    """One deployed Meter: where it is, the transaction and block that created it, and the build it runs."""

    chain_id: int
    address: str
    tx_hash: str
    #: The block of the deployment transaction: the first block with any of the contract's events.
    block_number: int
    deployer: str
    #: ``<source unit>:<contract name>``, as explorers name the contract to verify.
    contract: str
    evm_version: str
    #: The full compiler version of the build, e.g. ``0.8.28+commit.7893614a``.
    compiler: str
    #: The ABI-encoded constructor arguments, 0x-hex.
    constructor_args: str

    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, **asdict(self)}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        fields = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True)
class DeploymentFiles:
    """Where :func:`write_deployment` put the record and the Sourcify folder."""

    record: Path
    sourcify: Path
    deployment: Deployment


def default_deployments_dir() -> Path:
    """``$METERING_DEPLOYMENTS``, else ``<user data dir>/metering/deployments`` (beside the event databases)."""
    configured = os.environ.get(DEPLOYMENTS_ENV)
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("metering")) / "deployments"


def deployment_file(directory: Path, chain_id: int, address: str) -> Path:
    """The record's path for ``address`` on ``chain_id`` inside ``directory``."""
    from eth_utils.address import to_checksum_address  # web3's, without importing web3 (the CLI's reads)

    return directory / f"{chain_id}-{to_checksum_address(address)}.json"


def prepare_directory(directory: Path) -> Path:
    """Create ``directory`` and check it is writable, so a deployment never happens without its files.

    :raises ConfigError: it cannot be created or written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the deployments folder {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into the deployments folder {directory} (check --out / {DEPLOYMENTS_ENV})")
    return directory


def describe_deployment(w3: Web3, address: str, tx_hash: str, target: EvmTarget | str) -> Deployment:
    """The record of the Meter at ``address`` created by ``tx_hash`` from ``target``'s shipped build.

    :raises VerificationError: the transaction did not create ``address`` or does not carry that build's bytecode.
    """
    from web3 import Web3

    build = load_artifact(parse_target(target))
    tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    created = receipt.get("contractAddress")
    if created is None or Web3.to_checksum_address(created) != Web3.to_checksum_address(address):
        raise VerificationError(f"transaction {tx_hash} did not create {address}")
    data = bytes(tx["input"])
    code = bytes.fromhex(build["bytecode"].removeprefix("0x"))
    if not data.startswith(code):
        raise VerificationError(
            f"transaction {tx_hash} does not carry the shipped {build['evmVersion']} build of the Meter"
        )
    metadata = json.loads(build["metadata"])
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        address=Web3.to_checksum_address(address),
        tx_hash=tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash,
        block_number=int(receipt["blockNumber"]),
        deployer=Web3.to_checksum_address(tx["from"]),
        contract=f"{build['sourceName']}:{build['contractName']}",
        evm_version=str(build["evmVersion"]),
        compiler=str(metadata["compiler"]["version"]),
        constructor_args="0x" + data[len(code) :].hex(),
    )


def write_deployment(deployment: Deployment, directory: Path) -> DeploymentFiles:
    """Write the record and the Sourcify folder of ``deployment`` into ``directory`` (replacing older ones).

    :raises ConfigError: the files cannot be written.
    """
    record = deployment_file(directory, deployment.chain_id, deployment.address)
    folder = record.with_suffix(".sourcify")
    try:
        prepare_directory(directory)
        write_sourcify_files(folder, deployment)
        record.write_text(deployment.to_json(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{deployment.address} is deployed, but its files could not be written to {directory}: "
            f"{exc.strerror or exc}"
        ) from None
    return DeploymentFiles(record=record, sourcify=folder, deployment=deployment)


def write_sourcify_files(folder: Path, deployment: Deployment) -> list[Path]:
    """Write what an explorer needs to verify ``deployment`` into ``folder``; returns the files written.

    ``metadata.json`` is written byte for byte as compiled (its IPFS hash is in the bytecode); each source unit
    goes to ``sources/<unit name>`` (Sourcify matches sources by their keccak-256, not by path);
    ``sourcify-request.json`` is the body of Sourcify's ``POST /v2/verify/<chain id>/<address>``.
    """
    target = parse_target(deployment.evm_version)
    build = load_artifact(target)
    std_input = load_artifact(target, "standard-input")
    request = {
        "stdJsonInput": std_input,
        "compilerVersion": deployment.compiler,
        "contractIdentifier": deployment.contract,
        "creationTransactionHash": deployment.tx_hash,
    }
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "standard-input.json": json.dumps(std_input, indent=1, sort_keys=True) + "\n",
        "sourcify-request.json": json.dumps(request, indent=1, sort_keys=True) + "\n",
        "constructor-args.txt": deployment.constructor_args + "\n",
    }
    written = [folder / "metadata.json"]
    written[0].write_bytes(build["metadata"].encode("utf-8"))
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    for unit, source in std_input["sources"].items():
        path = folder / "sources" / _safe_relative(unit)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source["content"].encode("utf-8"))
        written.append(path)
    return written


def load_deployment(path: Path) -> Deployment:
    """The record in ``path``; :class:`ConfigError` when it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Deployment.from_dict(data)
    except FileNotFoundError:
        raise ConfigError(f"no deployment file at {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"not a metering deployment file: {path} ({exc})") from None


def find_deployment(chain_id: int, address: str, directory: Path | None = None) -> Deployment | None:
    """The record of ``address`` on ``chain_id`` in ``directory`` (default: :func:`default_deployments_dir`), or
    None when this machine did not record it. Use its ``block_number`` as the first block to read events from."""
    path = deployment_file(directory or default_deployments_dir(), chain_id, address)
    if not path.is_file():
        return None
    found = load_deployment(path)
    return found if found.chain_id == chain_id else None


def _safe_relative(unit: str) -> Path:
    """A source unit name as a relative path that cannot leave the folder (no absolute paths, no ``..``)."""
    parts = [part for part in unit.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return Path(*parts)
