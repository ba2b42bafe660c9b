"""Deploy the Meter contract with Brownie, the provider's way of working.

    brownie networks add Ethereum anvil host=http://127.0.0.1:8545 chainid=31337   # once
    METERING_PRIVATE_KEY=0x... brownie run scripts/deploy.py --network anvil

The deployer becomes the admin and the rules manager. The script prints ``METERING_CONTRACT=<address>`` and
writes ``build/deployments/metering-<chain id>.json``, so the ``metering`` CLI and library (which need no Brownie)
can take over from there. ``METERING_ADMIN_DELAY`` sets the two-step admin transfer delay in seconds (default 0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from brownie import Meter, accounts, chain, network  # type: ignore[attr-defined]


def _deployer():  # type: ignore[no-untyped-def]
    key = os.environ.get("METERING_PRIVATE_KEY")
    if not key:
        raise SystemExit("set METERING_PRIVATE_KEY to the deployer's key (it is never taken on the command line)")
    return accounts.add(key)


def main() -> str:
    deployer = _deployer()
    delay = int(os.environ.get("METERING_ADMIN_DELAY", "0"))
    meter = Meter.deploy(deployer, delay, {"from": deployer})
    meter.grantRole(meter.RULES_MANAGER_ROLE(), deployer, {"from": deployer})
    record = {
        "network": network.show_active(),
        "chain_id": chain.id,
        "address": meter.address,
        "deployer": deployer.address,
        "tx_hash": meter.tx.txid,
        "block_number": meter.tx.block_number,
    }
    out = Path("build") / "deployments" / f"metering-{chain.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"METERING_CONTRACT={meter.address}")
    return str(meter.address)
