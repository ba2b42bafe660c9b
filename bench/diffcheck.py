"""Differential check: two builds of Meter, one scripted random life, compared call by call.

Usage::

    python bench/diffcheck.py                          # shipped artifact against the v2 reference build
    python bench/diffcheck.py --base-rev 9044f0f --steps 1500 --seed 7
    python bench/diffcheck.py --base path/to/Meter.json --candidate metering/artifacts/Meter.json

Why: a gas optimisation must not change behaviour. This drives both builds, each on its own anvil, through the same
deterministic sequence of transactions (agents activating, replaying, renewing across timeframe boundaries,
deactivating, expiring; customers approving, revoking, capping; the provider enrolling, suspending, closing,
anchoring; clocks jumping into gaps and past every timeframe) with the same block timestamps, and compares, after
every transaction: success or revert, the return or revert data, every emitted log (topics and data), and the raw
output of every view over every (customer, timeframe, type), instance, seat and approval. The first difference
stops the run with both sides printed. Gas is summed per function on both sides, as a by-product.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3

from metering.chain.node import LocalNode, dev_private_keys
from metering.types import Rules, instance_id, request_id

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "metering" / "artifacts" / "Meter.json"
GAS = 15_000_000
TYPES = (1, 2, 3, 4, 5, 6, 7)  # 7 never gets rules
SEATS = 10  # seats per agent the driver uses
ACCOUNTS = 16


class Rpc:
    """Raw JSON-RPC (with batches) to one anvil."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._id = 0

    def _post(self, body: Any) -> Any:
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        reply = self._post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def receipt(self, tx: str) -> Any:
        """The receipt of ``tx``, waiting for anvil to mine it (automine answers before the block is in)."""
        for _ in range(2000):
            receipt = self.call("eth_getTransactionReceipt", tx)
            if receipt is not None:
                return receipt
            time.sleep(0.002)
        raise RuntimeError(f"{tx} was not mined")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = sorted(self._post(body), key=lambda r: r["id"])
        return [r.get("result", r.get("error")) for r in replies]


@dataclass
class Side:
    name: str
    node: LocalNode
    rpc: Rpc
    address: str
    gas: dict[str, list[int]]


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return str(item["type"])


def load_artifact(path: Path | None, rev: str | None) -> dict[str, Any]:
    if path is not None:
        return json.loads(path.read_text())
    out = subprocess.run(
        ["git", "show", f"{rev}:metering/artifacts/Meter.json"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


class Driver:
    def __init__(self, base: dict[str, Any], candidate: dict[str, Any], seed: int, views_every: int) -> None:
        self.views_every = views_every
        self.max_tf = 20
        self.rng = random.Random(seed)
        self.w3 = Web3()
        self.abi = candidate["abi"]
        if json.dumps(base["abi"], sort_keys=True) != json.dumps(candidate["abi"], sort_keys=True):
            raise SystemExit("the two builds have different ABIs")
        self.codec = self.w3.eth.contract(abi=self.abi)
        keys = dev_private_keys(ACCOUNTS)
        addrs = [Account.from_key(k).address for k in keys]
        self.admin = addrs[0]
        self.agents = addrs[1:4]
        self.outsider = addrs[4]
        self.customers = addrs[5:11]
        self.never_enrolled = addrs[11]
        self.artifacts = {"base": base, "candidate": candidate}
        self.sides: list[Side] = []
        self.now = 0
        self.timeframes: list[tuple[int, int]] = []
        self.ids: list[bytes] = []  # every instance id ever granted or denied, in order
        self.step_no = 0
        self.coverage: Counter[str] = Counter()
        self.encoders: dict[str, tuple[bytes, list[str]]] = {}
        self.names: dict[str, str] = {}
        for item in self.abi:
            if item["type"] in ("event", "error"):
                sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                digest = keccak(text=sig).hex()
                self.names["0x" + (digest if item["type"] == "event" else digest[:8])] = item["name"]

    # ------------------------------------------------------------------ plumbing

    def start(self) -> None:
        for name in ("base", "candidate"):
            node = LocalNode(accounts=ACCOUNTS, extra_args=("--hardfork", "cancun", "--steps-tracing")).start()
            self.sides.append(Side(name, node, Rpc(node.rpc_url), "", defaultdict(list)))
        genesis = int(self.sides[0].rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        self.now = genesis + 1000
        for side in self.sides:
            code = self.artifacts[side.name]["bytecode"]
            data = self.w3.eth.contract(abi=self.abi, bytecode=code).constructor(self.admin, 0).data_in_transaction
            side.rpc.call("evm_setNextBlockTimestamp", self.now)
            tx = side.rpc.call("eth_sendTransaction", {"from": self.admin, "data": data, "gas": hex(GAS)})
            side.address = side.rpc.receipt(tx)["contractAddress"]
        self.now += 1

    def stop(self) -> None:
        for side in self.sides:
            side.node.stop()

    def data(self, fn: str, *args: Any) -> str:
        """Calldata of ``fn(args)`` (web3's encoder re-validates the whole ABI per call: far too slow here)."""
        if fn not in self.encoders:
            item = next(x for x in self.abi if x.get("name") == fn and x["type"] == "function")
            types = [_abi_type(i) for i in item["inputs"]]
            self.encoders[fn] = (keccak(text=f"{fn}({','.join(types)})")[:4], types)
        selector, types = self.encoders[fn]
        return "0x" + (selector + encode(types, list(args))).hex()

    def send(self, sender: str, fn: str, *args: Any, advance: int = 1) -> list[Any]:
        """Sends the same transaction to both sides at the same second; compares everything it did."""
        self.now += advance
        self.step_no += 1
        results = []
        for side in self.sides:
            side.rpc.call("evm_setNextBlockTimestamp", self.now)
            tx = side.rpc.call(
                "eth_sendTransaction", {"from": sender, "to": side.address, "data": self.data(fn, *args),
                                        "gas": hex(GAS)}
            )
            receipt = side.rpc.receipt(tx)
            trace = side.rpc.call("debug_traceTransaction", tx, {"tracer": "callTracer"})
            logs = [(log["topics"], log["data"]) for log in receipt["logs"]]
            status = int(receipt["status"], 16)
            side.gas[fn].append(int(receipt["gasUsed"], 16))
            results.append((status, trace.get("output", "0x"), logs))
        if results[0] != results[1]:
            self.fail(f"{fn}{args} by {sender}", results[0], results[1])
        self.cover(fn, *results[0])
        if self.step_no % self.views_every == 0:
            self.compare_views()
        return list(results[0])

    def cover(self, fn: str, status: int, output: str, logs: list[Any]) -> None:
        """Counts what the step exercised: each event (denials by reason), each custom error."""
        if status == 0:
            self.coverage[f"revert {self.names.get(output[:10], output[:10])}"] += 1
            return
        for topics, data in logs:
            name = self.names.get(topics[0], "?")
            if name in ("ActivationDenied", "LeaseRenewalDenied"):
                name += f" reason {int(data[-64:], 16)}"
            if name in ("ActivationGranted", "LeaseContinued") and int(data[-64:], 16):
                name += " (overage)"
            self.coverage[name] += 1

    def warp(self, seconds: int) -> None:
        self.now += seconds

    def views(self) -> list[tuple[str, str]]:
        calls = [("activeTimeframe", self.data("activeTimeframe")), ("timeframeCount", self.data("timeframeCount"))]
        tf_ids = range(0, len(self.timeframes) + 2)
        for tf in tf_ids:
            calls.append((f"timeframe({tf})", self.data("timeframe", tf)))
            for t in TYPES:
                calls.append((f"rules({tf},{t})", self.data("rules", tf, t)))
                calls.append((f"rulesHash({tf},{t})", self.data("rulesHash", tf, t)))
        for c in [*self.customers, self.never_enrolled]:
            calls.append((f"customerAccount({c})", self.data("customerAccount", c)))
            calls.append((f"customerStatus({c})", self.data("customerStatus", c)))
            for tf in tf_ids:
                calls.append((f"spent({c},{tf})", self.data("spent", c, tf)))
                calls.append((f"invoiceAnchor({c},{tf})", self.data("invoiceAnchor", c, tf)))
                for t in TYPES:
                    calls.append((f"usage({c},{tf},{t})", self.data("usage", c, tf, t)))
            for a in [*self.agents, self.outsider]:
                calls.append((f"agentApproved({c},{a})", self.data("agentApproved", c, a)))
                calls.append((f"mayBill({c},{a})", self.data("mayBill", c, a)))
        for a in self.agents:
            for s in range(SEATS + 1):
                calls.append((f"seat({a},{s})", self.data("seat", a, s)))
        for iid in self.ids:
            calls.append((f"instance({iid.hex()})", self.data("instance", iid)))
        for iid in self.ids[-5:]:
            malformed = iid[:20] + b"\x01" + iid[21:]
            calls.append((f"instance({malformed.hex()})", self.data("instance", malformed)))
        return calls

    def compare_views(self) -> None:
        calls = self.views()
        outputs = []
        for side in self.sides:
            outputs.append(side.rpc.batch(
                [("eth_call", [{"to": side.address, "data": d}, "latest"]) for _, d in calls]
            ))
        for (label, _), a, b in zip(calls, outputs[0], outputs[1], strict=True):
            if a != b:
                self.fail(f"view {label}", a, b)

    def fail(self, what: str, base: Any, candidate: Any) -> None:
        print(f"DIFFERENCE at step {self.step_no}: {what}\n  base:      {base}\n  candidate: {candidate}")
        raise SystemExit(1)

    def view(self, fn: str, *args: Any) -> Any:
        side = self.sides[0]
        raw = side.rpc.call("eth_call", {"to": side.address, "data": self.data(fn, *args)}, "latest")
        return self._decode(fn, raw)

    def _decode(self, fn: str, raw: str) -> Any:
        outputs = next(x for x in self.abi if x.get("name") == fn and x["type"] == "function")["outputs"]

        def t(o: dict[str, Any]) -> str:
            if o["type"].startswith("tuple"):
                return "(" + ",".join(t(c) for c in o["components"]) + ")" + o["type"][5:]
            return str(o["type"])

        return decode([t(o) for o in outputs], bytes.fromhex(raw[2:]))

    # ------------------------------------------------------------------ scenario

    def random_rules(self, instance_type: int) -> Rules:
        r = self.rng
        if instance_type == 4:  # many seats: pages in use
            return Rules(price_per_time_unit=r.choice([0, 1_000_000]), max_concurrent=r.choice([4, 9, 12]),
                         mode=r.choice([0, 1]), price_per_continuation=r.choice([0, 3]))
        if instance_type == 2:  # one at a time
            return Rules(price_per_activation=r.choice([0, 40_000]), max_concurrent=1, mode=r.choice([0, 0, 1]))
        return Rules(
            price_per_activation=r.choice([0, 0, 40_000, 100_000_000, 900_000_000]),
            price_per_time_unit=r.choice([0, 12_000_000, 1_000_000, 7, 300_000_000]),
            time_unit_seconds=r.choice([1, 60, 3600, 7]),
            included_activations=r.choice([0, 0, 1, 3]),
            included_seconds=r.choice([0, 0, 100, 2000]),
            max_concurrent=r.choice([0, 0, 1, 2, 3, 4, 5, 9]),
            max_activations=r.choice([0, 0, 2, 6]),
            mode=r.choice([0, 0, 1]),
            price_per_continuation=r.choice([0, 0, 5_000_000]),
        )

    def create_timeframe(self, gap: int, length: int) -> None:
        start = max((self.timeframes[-1][1] if self.timeframes else 0) + gap, self.now + 40)
        status, _, _ = self.send(self.admin, "createTimeframe", start, start + length, b"EUR\0\0\0\0\0")
        if not status:
            raise RuntimeError("the scenario failed to create a timeframe")
        self.timeframes.append((start, start + length))
        tf = len(self.timeframes)
        for t in TYPES[:-1]:
            if self.rng.random() < 0.9:
                self.send(self.admin, "setRules", tf, t, self.random_rules(t).as_tuple())

    def setup(self) -> None:
        m = self.send
        m(self.admin, "grantRole", self.view("RULES_MANAGER_ROLE")[0], self.admin)
        for a in self.agents:
            m(self.admin, "grantRole", self.view("AGENT_ROLE")[0], a)
        for c in self.customers[:-1]:
            m(self.admin, "enrollCustomer", c)
        # Invalid inputs the provider might send.
        m(self.admin, "createTimeframe", self.now + 10, self.now + 5, b"EUR\0\0\0\0\0")
        m(self.admin, "createTimeframe", self.now + 10, self.now + 50, b"eur\0\0\0\0\0")
        m(self.admin, "setRules", 1, 1, Rules().as_tuple())
        self.create_timeframe(0, 1800)
        self.create_timeframe(0, 1200)  # contiguous: leases continue into it
        self.create_timeframe(400, 900)  # after a gap: no continuation
        self.create_timeframe(0, 600)
        m(self.admin, "setRules", 1, 1, (0, 0, 0, 0, 0, 0, 0, 0, 0))  # timeUnitSeconds 0
        m(self.admin, "setRules", 1, 1, (0, 0, 0, 1, 0, 0, 100, 0, 0))  # maxConcurrent above MAX_CONCURRENT
        m(self.admin, "enrollCustomer", "0x0000000000000000000000000000000000000000")
        m(self.admin, "suspendCustomer", self.never_enrolled)
        self.customer_actions(12)

    def pick_request(self, agent: str) -> tuple[str, int, int, int]:
        """Mostly the next generation of a seat (a new request), sometimes a replay or a wrong generation."""
        r = self.rng
        seat = r.randrange(SEATS)
        gen, _, _ = self.view("seat", agent, seat)
        customer = self.customers[0] if r.random() < 0.4 else r.choice([*self.customers, self.never_enrolled])
        if r.random() < 0.02:
            customer = "0x0000000000000000000000000000000000000000"
        t = r.choice((1, 1, 2, 3, 4, 5, 6, 7))
        lease = r.choice([30, 60, 300, 600, 10**6, 10**6, 0 if r.random() < 0.05 else 120])
        roll = r.random()
        if roll < 0.8 or gen == 0:
            g = gen + 1
        elif roll < 0.93:
            g = gen
            if r.random() < 0.75:
                recorded = self.view("instance", instance_id(agent, request_id(seat, gen)))[0]
                customer, t = recorded[0], recorded[3]
        else:
            g = r.choice([gen + 2, 0, gen - 1])
        return customer, t, (seat << 8) | min(g, 255), lease

    def agent_action(self) -> None:
        r = self.rng
        agent = r.choice(self.agents)
        roll = r.random()
        if roll < 0.4:
            c, t, rid, lease = self.pick_request(agent)
            self.note(agent, rid)
            self.send(agent, "requestActivation", c, t, rid, lease, advance=r.choice([1, 1, 5, 30]))
        elif roll < 0.52:
            reqs = []
            seen = set()
            for _ in range(r.randrange(1, 6)):
                c, t, rid, lease = self.pick_request(agent)
                if rid >> 8 in seen:
                    continue
                seen.add(rid >> 8)
                self.note(agent, rid)
                reqs.append((c, t, rid, lease))
            self.send(agent, "requestActivations", reqs)
        elif roll < 0.7 and self.ids:
            iid = self.pick_id(expired=r.random() < 0.4)
            holder = "0x" + iid[:20].hex()
            sender = Web3.to_checksum_address(holder) if r.random() < 0.9 else r.choice(self.agents)
            lease = r.choice([30, 300, 600, 10**6, 0 if r.random() < 0.05 else 60])
            self.send(sender, "renewLease", iid, lease, advance=r.choice([1, 10, 60]))
        elif roll < 0.85 and self.ids:
            iid = self.pick_id()
            holder = Web3.to_checksum_address("0x" + iid[:20].hex())
            sender = holder if r.random() < 0.9 else r.choice([*self.agents, self.outsider])
            self.send(sender, "deactivate", iid, advance=r.choice([1, 20]))
        elif roll < 0.93 and self.ids:
            batch = r.sample(self.ids, min(len(self.ids), r.randrange(1, 6)))
            self.send(self.outsider, "expireLeases", batch)
        elif self.ids:
            iid = self.pick_id()
            self.send(r.choice([self.admin, self.admin, agent]), "closeInstance", iid)

    def pick_id(self, expired: bool = False) -> bytes:
        """Mostly an open instance (renew and deactivate then do something), sometimes any recent id. With
        ``expired``, prefers open instances whose lease has run out (a renewal then continues or is refused)."""
        recent = self.ids[-40:]
        if self.rng.random() < 0.03:  # an id no agent could have made: bits 64-95 set
            raw = bytearray(self.rng.choice(recent))
            raw[20 + self.rng.randrange(4)] |= 1 << self.rng.randrange(8)
            return bytes(raw)
        if self.rng.random() < 0.85:
            fallback = None
            for iid in self.rng.sample(recent, min(12, len(recent))):
                record = self.view("instance", iid)[0]
                if record[4] == 1:  # InstanceStatus.Open
                    if not expired or record[1] <= self.now:
                        return iid
                    fallback = iid
            if fallback is not None:
                return fallback
        return self.rng.choice(recent)

    def note(self, agent: str, rid: int) -> None:
        if rid & 0xFF == 0:
            return
        iid = instance_id(agent, rid)
        if iid not in self.ids:
            self.ids.append(iid)

    def customer_actions(self, n: int) -> None:
        r = self.rng
        for _ in range(n):
            c = r.choice([*self.customers, self.never_enrolled])
            roll = r.random()
            if roll < 0.25:
                self.send(c, "approveAgent", r.choice([*self.agents, *self.agents, self.outsider]))
            elif roll < 0.32:
                self.send(c, "revokeAgent", r.choice(self.agents))
            elif roll < 0.55:
                self.send(c, "setAgentRestriction", r.random() < 0.2)
            else:
                self.send(c, "setSpendingCap", r.choice([0, 0, 0, 1, 50, 200, 1000, 5000, 10**9]))

    def provider_action(self) -> None:
        r = self.rng
        roll = r.random()
        c = r.choice([*self.customers, self.never_enrolled])
        if roll < 0.45:
            self.send(self.admin, "enrollCustomer", c)
        elif roll < 0.6:
            self.send(self.admin, "suspendCustomer", c)
        elif roll < 0.85:
            tf = r.randrange(0, len(self.timeframes) + 2)
            self.send(self.admin, "anchorInvoice", c, tf, r.choice([b"\0" * 32, bytes([r.randrange(1, 256)]) * 32]),
                      r.randrange(10**6))
        else:
            tf = r.randrange(0, len(self.timeframes) + 2)
            self.send(self.admin, "correctInvoice", c, tf, bytes([r.randrange(256)]) * 32, r.randrange(10**6))

    def burst(self) -> None:
        """Many requests of one customer and type at once: fills seats up to the pages and past the limits."""
        r = self.rng
        customer, t = r.choice(self.customers[:3]), r.choice((2, 4, 4, 3))
        for _ in range(r.randrange(4, 14)):
            agent = r.choice(self.agents)
            seat = r.randrange(SEATS)
            gen = self.view("seat", agent, seat)[0]
            if gen == 255:
                continue
            rid = request_id(seat, gen + 1)
            self.note(agent, rid)
            self.send(agent, "requestActivation", customer, t, rid, r.choice([300, 10**6]))

    def time_action(self) -> None:
        r = self.rng
        roll = r.random()
        ends = [e for _, e in self.timeframes if e > self.now]
        if roll < 0.6 or not ends:
            self.warp(r.choice([5, 30, 60, 200]))
        elif roll < 0.8:
            # Land just before, at, or just after the next boundary; agents then renew what ran to it.
            self.now = max(self.now, ends[0] + r.choice([-3, -1, 0, 1, 2]) - 1)
            for iid in self.ids[-60:]:
                record = self.view("instance", iid)[0]
                if record[4] == 1 and record[1] == ends[0] and r.random() < 0.7:
                    holder = Web3.to_checksum_address("0x" + iid[:20].hex())
                    self.send(holder, "renewLease", iid, r.choice([60, 600, 10**6]))
        else:
            self.warp(r.randrange(1, 900))

    def run(self, steps: int) -> None:
        self.setup()
        r = self.rng
        while self.step_no < steps:
            if self.timeframes and self.now > self.timeframes[-1][1] - 400 and len(self.timeframes) < self.max_tf:
                self.create_timeframe(r.choice([0, 0, 0, 300]), r.choice([600, 1200]))
            roll = r.random()
            if roll < 0.75:
                self.agent_action()
            elif roll < 0.84:
                self.customer_actions(1)
            elif roll < 0.90:
                self.provider_action()
            elif roll < 0.93:
                self.burst()
            else:
                self.time_action()
        # The end: every timeframe over, then agents and keepers keep calling (the cursor must stay flat).
        self.now = max(self.now, self.timeframes[-1][1] + 10)
        for _ in range(40):
            self.agent_action()
        self.compare_views()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="reference artifact (Meter.json)")
    parser.add_argument(
        "--base-rev", default="604dab4", help="git revision whose shipped artifact is the reference (default: the "
        "lead's Meter v2 before the gas work)"
    )
    parser.add_argument("--candidate", type=Path, default=ARTIFACT)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--views-every", type=int, default=5, help="compare every view after every N-th transaction")
    args = parser.parse_args(argv)
    base = load_artifact(args.base, args.base_rev)
    candidate = load_artifact(args.candidate, None)
    driver = Driver(base, candidate, args.seed, args.views_every)
    # A timeout's SIGTERM must still stop both anvils (they are killed by PID in the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    driver.start()
    try:
        driver.run(args.steps)
    finally:
        driver.stop()
    print(f"no difference in {driver.step_no} transactions ({len(driver.ids)} instance ids), seed {args.seed}")
    print(f"{'function':22} {'calls':>6} {'base gas':>12} {'candidate gas':>14} {'change':>8}")
    print("exercised:", ", ".join(f"{k} x{v}" for k, v in sorted(driver.coverage.items())))
    base_side, cand_side = driver.sides
    for fn in sorted(base_side.gas):
        b, c = sum(base_side.gas[fn]), sum(cand_side.gas[fn])
        print(f"{fn:22} {len(base_side.gas[fn]):>6} {b:>12,} {c:>14,} {100 * (c - b) / b:>7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
