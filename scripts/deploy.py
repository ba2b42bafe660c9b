"""Deploy the Meter contract with Brownie, the provider's way of working.

    METERING_PRIVATE_KEY=0x... brownie run scripts/deploy.py --network anvil   # Brownie's own anvil network
    brownie networks add Ethereum metering-live host=https://... chainid=<id>    # once, for any other node
    METERING_PRIVATE_KEY=0x... brownie run scripts/deploy.py --network metering-live

The deployer becomes the admin and the rules manager. The script prints ``METERING_CONTRACT=<address>`` and
writes ``build/deployments/metering-<chain id>.json``, so the ``metering`` CLI and library (which need no Brownie)
can take over from there. ``METERING_ADMIN_DELAY`` sets the two-step admin transfer delay in seconds (default 0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import brownie.network.contract as brownie_contract
from brownie import Meter, accounts, chain, history, network  # type: ignore[attr-defined]


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
    meter = Meter.deploy(deployer, delay, {"from": deployer})
    # Not meter.tx: on a live network Brownie reloads build/deployments/, and a local node restarted since an earlier
    # run gives the same deployer and nonce the same address, so Brownie hands back that old record, without a tx.
    deployed = history[-1]
    assert deployed.contract_address == meter.address, "the last transaction should be the deployment"
    meter.grantRole(meter.RULES_MANAGER_ROLE(), deployer, {"from": deployer})
    record = {
        "network": network.show_active(),
        "chain_id": chain.id,
        "address": meter.address,
        "deployer": deployer.address,
        "tx_hash": deployed.txid,
        "block_number": deployed.block_number,
    }
    out = Path("build") / "deployments" / f"metering-{chain.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"METERING_CONTRACT={meter.address}")
    return str(meter.address)
