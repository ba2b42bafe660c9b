"""Opcode profile of the gas bench's measured transactions: where the gas above the floor goes.

Usage::

    python bench/gas_profile.py                 # every measurement of bench/gas.py
    python bench/gas_profile.py renew deactivate  # the measurements whose name contains one of these words

Runs bench/gas.py's scenario on an anvil with step tracing, and for each measured transaction prints its gas, its
SLOAD/SSTORE counts (cold and warm, from their gas cost) and the gas of the computation around them, so a change to
the contract can be judged by what it removes, not only by the total.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gas
from web3 import Web3

from metering.chain.node import LocalNode

STORAGE = {"SLOAD", "SSTORE"}


def profile(w3: Web3, tx_hash: Any) -> str:
    trace = w3.provider.make_request(
        "debug_traceTransaction",
        [tx_hash.hex() if hasattr(tx_hash, "hex") else tx_hash,
         {"disableStorage": True, "disableMemory": True, "disableStack": True}],
    )
    steps = trace["result"]["structLogs"]
    costs: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for step in steps:
        op, cost = step["op"], int(step["gasCost"])
        if op == "SLOAD":
            op = "SLOAD cold" if cost >= 2100 else "SLOAD warm"
        elif op == "SSTORE":
            op = {100: "SSTORE warm no-op/dirty"}.get(cost, "SSTORE update" if cost < 20000 else "SSTORE new")
        costs[op] += cost
        counts[op] += 1
    storage = {k: v for k, v in costs.items() if k.startswith(("SLOAD", "SSTORE", "LOG"))}
    other = sum(v for k, v in costs.items() if k not in storage)
    parts = ", ".join(f"{k} x{counts[k]} = {v:,}" for k, v in sorted(storage.items()))
    top = ", ".join(f"{k} {v:,}" for k, v in costs.most_common() if k not in storage)
    return f"  {len(steps)} steps; {parts}; computation {other:,}\n  top: {top[:300]}"


def main(argv: list[str]) -> int:
    with LocalNode(extra_args=("--hardfork", "cancun", "--steps-tracing")) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
        bench = gas.Bench(w3, node)
        original = bench.measure

        def measure(name: str, fn: Any, sender: str, components: list[tuple[str, int]], **kw: Any) -> Any:
            m = original(name, fn, sender, components, **kw)
            if not argv or any(word in name for word in argv):
                receipt_hash = w3.eth.get_block("latest")["transactions"][-1]
                print(f"{name}: gas {m.gas_used:,}, floor {m.floor:,}")
                print(profile(w3, receipt_hash))
            return m

        bench.measure = measure  # type: ignore[method-assign]
        bench.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
