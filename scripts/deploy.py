"""Deploy the Meter contract with Brownie, the provider's way of working.

    METERING_PRIVATE_KEY=0x... brownie run scripts/deploy.py --network anvil   # Brownie's own anvil network
    brownie networks add Ethereum metering-live host=https://... chainid=<id>    # once, for any other node
    METERING_PRIVATE_KEY=0x... brownie run scripts/deploy.py --network metering-live

The deployer becomes the admin and the rules manager. The script prints ``METERING_CONTRACT=<address>`` and
writes ``build/deployments/metering-<chain id>.json`` (the latest deployment on that chain) and, beside it, the
deployment file and Sourcify-ready files of ``metering deploy`` (``METERING_DEPLOYMENTS`` moves them), so the
``metering`` CLI and library (which need no Brownie) can take over from there.

It deploys the bytecode shipped in the ``metering`` package, not Brownie's own compile of ``contracts/``: the code
is the same, but Brownie names the OpenZeppelin sources ``node_modules/@openzeppelin/...`` and records a remapping,
so its metadata (and the hash at the end of its bytecode) differs and an explorer could only give a partial match.
The shipped build gives a perfect one. The build is the newest the node runs (``METERING_EVM_VERSION`` chooses one).
``METERING_ADMIN_DELAY`` sets the two-step admin transfer delay in seconds (default 0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import brownie.network.contract as brownie_contract
from brownie import Contract, accounts, chain, network, web3  # type: ignore[attr-defined]

from metering.chain.evm import choose_target, load_artifact
from metering.errors import MeteringError
from metering.provider.deployment import describe_deployment, prepare_directory, write_deployment


def _record_live_deployments_with_plain_sources() -> None:
    """Work around Brownie 1.22.2 on live networks: after a deployment, a background thread records it in Brownie's
    deployments database, but the compiled ``_add_deployment`` insists on a ``dict`` of sources and gets Brownie's own
    ``Sources`` object, so the thread dies with a ``TypeError`` traceback (the deployment itself is fine). Hand it the
    sources it reads as a plain dict instead, so the record is written and nothing is printed."""
    original = brownie_contract._add_deployment
    if getattr(original, "_metering_wrapped", False):
        return

    def add_deployment(contract: Any, alias: Any = None) -> None:
        paths = contract._build.get("allSourcePaths", {}) or {}
        sources = {path: contract._sources.get(path) for path in paths.values()}
        plain = SimpleNamespace(address=contract.address, _build=contract._build, _sources=sources)
        original(plain, alias)

    add_deployment._metering_wrapped = True  # type: ignore[attr-defined]
    brownie_contract._add_deployment = add_deployment


def _deployer():  # type: ignore[no-untyped-def]
    key = os.environ.get("METERING_PRIVATE_KEY")
    if not key:
        raise SystemExit("set METERING_PRIVATE_KEY to the deployer's key (it is never taken on the command line)")
    return accounts.add(key)


def main() -> str:
    _record_live_deployments_with_plain_sources()
    deployer = _deployer()
    delay = int(os.environ.get("METERING_ADMIN_DELAY", "0"))
    folder = Path(os.environ.get("METERING_DEPLOYMENTS") or Path("build") / "deployments")
    try:
        prepare_directory(folder)
        target = choose_target(web3, os.environ.get("METERING_EVM_VERSION"))
    except MeteringError as error:
        raise SystemExit(f"error: {error}") from None
    build = load_artifact(target)
    init = web3.eth.contract(abi=build["abi"], bytecode=build["bytecode"]).constructor(deployer.address, delay)
    tx = deployer.transfer(data=init.data_in_transaction)  # no `to`: a contract creation
    meter = Contract.from_abi("Meter", tx.contract_address, build["abi"], owner=deployer)
    meter.grantRole(meter.RULES_MANAGER_ROLE(), deployer, {"from": deployer})

    files = write_deployment(describe_deployment(web3, meter.address, tx.txid, target), folder)
    record = {
        "network": network.show_active(),
        "chain_id": chain.id,
        "address": meter.address,
        "deployer": deployer.address,
        "tx_hash": tx.txid,
        "block_number": tx.block_number,
        "evm_version": target.value,
        "deployment_file": str(files.record),
        "sourcify_dir": str(files.sourcify),
    }
    latest = folder / f"metering-{chain.id}.json"
    latest.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"constructor arguments: {files.deployment.constructor_args}")
    print(f"Sourcify files: {files.sourcify}")
    print(f"METERING_CONTRACT={meter.address}")
    return str(meter.address)
