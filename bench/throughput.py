"""Throughput of the metering client next to the plain web3.py way of doing the same job, on a local anvil.

Each function here measures one path and returns a :class:`Timing`; ``bench/run_all.py`` runs them side by side and
prints the ratios. anvil slows down as its chain grows, so a path measured on a longer chain would be handicapped:
the submitting paths compared with each other share a fresh anvil and take turns in short rounds (``start`` numbers
a round's requests), each from an account of its own. Every measured path is checked afterwards: the
activations are read back from the contract's usage counters and the indexed events are counted, so a number never
silently measures the wrong branch (a denial, a revert, an empty range).

Usage on its own (one path at a time, for profiling)::

    python bench/throughput.py sign 2000
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.types import Nonce, RPCEndpoint, RPCResponse

from metering import contract as artifacts
from metering import types
from metering._utils.calldata import meter_call_encoder
from metering.agent import ActivationRequest, Agent, Granted
from metering.audit.billing import invoices_for_timeframe
from metering.audit.blocktime import NodeClock
from metering.audit.events import EVENT_TYPES, topic0
from metering.audit.indexer import Indexer
from metering.audit.store import Store
from metering.chain.node import LocalNode, dev_private_keys
from metering.chain.sender import Call, TransactionSender
from metering.provider import Provider
from metering.types import Rules

INSTANCE_TYPE = 1
LEASE = 3_600
SHORT_LEASE = 60
ACTIVATION_GAS = 160_000  # the Agent's own floor for one requestActivation (unused gas is not paid)
RENEWAL_GAS = 170_000
DEACTIVATION_GAS = 80_000
SETUP_GAS = 200_000

#: The event types an invoice is computed from (timeframe, rules, decisions, lease changes).
INVOICE_EVENTS = (
    "TimeframeCreated", "RulesSet", "ActivationGranted", "ActivationDenied", "LeaseRenewed", "InstanceDeactivated",
    "LeaseExpired",
)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Timing:
    """``items`` things done in ``seconds`` (the median of ``runs`` runs when a path is repeatable)."""

    items: int
    seconds: float
    runs: int = 1
    requests: int = 0  # JSON-RPC requests made, where counted
    transactions: int = 0  # transactions sent, where any

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def timed(fn: Callable[[], _T]) -> tuple[float, _T]:
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def median_of(runs: int, fn: Callable[[], int]) -> Timing:
    """Run ``fn`` (which returns how many items it handled) ``runs`` times; the median time, checked item count."""
    seconds: list[float] = []
    counts: set[int] = set()
    for _ in range(runs):
        elapsed, items = timed(fn)
        seconds.append(elapsed)
        counts.add(items)
    if len(counts) != 1:
        raise RuntimeError(f"repeated runs handled different numbers of items: {sorted(counts)}")
    return Timing(counts.pop(), statistics.median(seconds), runs)


# ---------------------------------------------------------------------------------------------- a market on a node


def request_id(tag: str, i: int) -> int:
    """A fresh request id for the ``i``-th request of path ``tag``: generation 1 of a seat of its own (a path's
    seats start at an offset of their own, so paths sharing an agent never collide)."""
    return types.request_id((zlib.crc32(tag.encode()) << 24) + i, 1)


@dataclass
class Market:
    """A fresh Meter on ``node``: one running timeframe, rules without limits for one type, enrolled customers.

    The paths compared on one market send from accounts of their own (``agent`` for ours, ``ceiling_agent`` for the
    node's ceilings, ``plain_agent`` for plain web3.py), all granted the agent role, so that they can take turns in
    short rounds without one path's nonces going stale under another's transactions. ``clients`` keeps our client
    objects between rounds (a long-lived agent process keeps its ``Agent``).
    """

    node: LocalNode
    w3: Web3
    provider: Provider
    admin: LocalAccount
    agent: LocalAccount
    meter: Contract
    timeframe: int
    customers: list[str]
    deploy_block: int
    ceiling_agent: LocalAccount
    plain_agent: LocalAccount
    activations: int = 0  # activations the measured paths sent so far (checked against the contract's counters)
    clients: dict[str, Any] = field(default_factory=dict)

    def encode(self, function: str, *args: Any) -> bytes:
        return bytes.fromhex(self.meter.encode_abi(function, args=list(args))[2:])

    def call(self, function: str, *args: Any, gas: int) -> Call:
        return Call(to=self.meter.address, data=self.encode(function, *args), gas=gas, label=function)

    def customer(self, i: int) -> str:
        return self.customers[i % len(self.customers)]

    def warp(self, seconds: int) -> None:
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        self.node.rpc("evm_setNextBlockTimestamp", now + seconds)
        self.node.rpc("evm_mine")

    def our_agent(self) -> Agent:
        """Our ``Agent`` on this market, made once (its nonce, chain id and fees are read on its first send)."""
        if "agent" not in self.clients:
            self.clients["agent"] = Agent(self.w3, self.meter.address, self.agent)
        agent: Agent = self.clients["agent"]
        return agent

    def our_sender(self) -> TransactionSender:
        """Our pipelining ``TransactionSender`` on this market, made once."""
        if "sender" not in self.clients:
            self.clients["sender"] = TransactionSender(self.w3, self.agent)
        sender: TransactionSender = self.clients["sender"]
        return sender

    def verify(self) -> None:
        """Every activation the paths sent so far was granted and counted once (the contract's usage counters)."""
        counted = self.activations_counted()
        if counted != self.activations:
            raise RuntimeError(f"{self.activations} activations sent but the contract counted {counted}")

    def activations_counted(self) -> int:
        """The activations the contract counted, summed over the customers (its usage counters)."""
        return sum(self.provider.usage(c, self.timeframe, INSTANCE_TYPE).activations for c in self.customers)


class CountingProvider(HTTPProvider):
    """An HTTP provider that counts the HTTP requests made through it (a JSON-RPC batch counts once)."""

    requests = 0

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.requests += 1
        return super().make_request(method, params)

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        self.requests += 1
        return super().make_batch_request(batch_requests)


def requests_made(w3: Web3) -> int:
    provider = w3.provider
    return provider.requests if isinstance(provider, CountingProvider) else 0


def open_market(node: LocalNode, customers: int) -> Market:
    w3 = Web3(CountingProvider(node.rpc_url, request_kwargs={"timeout": 60}))
    admin, agent, ceiling_agent, plain_agent = (Account.from_key(k) for k in dev_private_keys(4))
    provider = Provider.deploy(w3, admin)
    assert provider.deployment is not None
    for account in (agent, ceiling_agent, plain_agent):
        provider.grant_agent(account.address)
    start = int(w3.eth.get_block("latest")["timestamp"]) + 100
    timeframe = provider.create_timeframe(start, start + 30 * 86_400, "EUR")
    provider.set_rules(timeframe, INSTANCE_TYPE, Rules(price_per_activation=100_000_000, price_per_time_unit=1_000_000))
    meter = w3.eth.contract(address=provider.address, abi=artifacts.abi())
    market = Market(
        node, w3, provider, admin, agent, meter, timeframe,
        [Web3.to_checksum_address(keccak(text=f"bench-customer-{i}")[:20]) for i in range(customers)],
        provider.deployment.block_number, ceiling_agent, plain_agent,
    )
    provider.sender.send_many([market.call("enrollCustomer", c, gas=SETUP_GAS) for c in market.customers])
    node.rpc("evm_setNextBlockTimestamp", start)
    node.rpc("evm_mine")
    return market


def on_fresh_market(customers: int, measure: Callable[[Market], _T]) -> _T:
    with LocalNode() as node:
        return measure(open_market(node, customers))


# ---------------------------------------------------------------------------------------------- 1. submitting


def timed_on(market: Market, run: Callable[[], _T]) -> tuple[float, int, _T]:
    """``run()``'s duration and the JSON-RPC requests it made."""
    before = requests_made(market.w3)
    seconds, result = timed(run)
    return seconds, requests_made(market.w3) - before, result


def counted(market: Market, n: int, seconds: float, requests: int, transactions: int) -> Timing:
    """The timing of ``n`` activations just sent; they are added to what :meth:`Market.verify` expects the
    contract's counters to show (the caller verifies once its rounds are done)."""
    market.activations += n
    return Timing(n, seconds, requests=requests, transactions=transactions)


def submit_plain_web3(market: Market, n: int, start: int = 0) -> Timing:
    """The web3.py tutorial way: build_transaction (estimates gas, reads fees), sign, send, wait for the receipt.

    The nonce is counted locally (one ``eth_getTransactionCount`` at the start), which is the faster variant.
    """
    w3, agent, fn = market.w3, market.plain_agent, market.meter.functions.requestActivation
    ids = [request_id("plain", start + i) for i in range(n)]

    def run() -> None:
        nonce = int(w3.eth.get_transaction_count(agent.address))
        for i, rid in enumerate(ids):
            tx = fn(market.customer(start + i), INSTANCE_TYPE, rid, LEASE).build_transaction(
                {"from": agent.address, "nonce": Nonce(nonce)}
            )
            signed = Account.sign_transaction(tx, agent.key)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
            if receipt["status"] != 1:
                raise RuntimeError(f"activation {i} failed")
            nonce += 1

    seconds, rpc, _ = timed_on(market, run)
    return counted(market, n, seconds, rpc, n)


def submit_agent(market: Market, n: int, start: int = 0) -> Timing:
    """``Agent.activate`` one by one: encode, sign locally (known gas limit, cached fees), send, wait, decode."""
    agent = market.our_agent()
    ids = [request_id("agent", start + i) for i in range(n)]

    def run() -> None:
        for i, rid in enumerate(ids):
            if not isinstance(agent.activate(market.customer(start + i), INSTANCE_TYPE, LEASE, request_id=rid),
                              Granted):
                raise RuntimeError(f"activation {start + i} was not granted")

    seconds, rpc, _ = timed_on(market, run)
    return counted(market, n, seconds, rpc, n)


def submit_pipelined(market: Market, n: int, start: int = 0) -> Timing:
    """``TransactionSender.send_many``: one transaction per activation, signed with consecutive nonces and sent in
    JSON-RPC batches, then the receipts fetched in batches. The calldata is encoded inside the timed part (with the
    agent's precomputed selector), as build_transaction does it for the plain path."""
    sender = market.our_sender()
    encoder = meter_call_encoder()
    ids = [request_id("pipe", start + i) for i in range(n)]

    def run() -> int:
        calls = [
            Call(market.meter.address, encoder.encode("requestActivation", [market.customer(start + i), INSTANCE_TYPE,
                                                                             rid, LEASE]),
                 gas=ACTIVATION_GAS, label="requestActivation")
            for i, rid in enumerate(ids)
        ]
        return len(sender.send_many(calls))

    seconds, rpc, sent = timed_on(market, run)
    if sent != n:
        raise RuntimeError(f"{sent} of {n} transactions confirmed")
    return counted(market, n, seconds, rpc, n)


def submit_batched(market: Market, n: int, batch: int = 100, start: int = 0) -> Timing:
    """One ``Agent.activate_many`` of ``n`` requests, ``batch`` per ``requestActivations`` transaction (the
    transactions pipelined in JSON-RPC batches)."""
    agent = market.our_agent()
    pending = [
        ActivationRequest(market.customer(start + i), INSTANCE_TYPE, LEASE, request_id("batch", start + i))
        for i in range(n)
    ]

    def run() -> None:
        results = agent.activate_many(pending, batch_size=batch)
        if len(results) != n or not all(isinstance(r, Granted) for r in results):
            raise RuntimeError("a batched activation was not granted")

    seconds, rpc, _ = timed_on(market, run)
    return counted(market, n, seconds, rpc, -(-n // batch))


# ---------------------------------------------------------------------------------------------- 2. signing


def signing(n: int) -> Timing:
    """``Account.sign_transaction`` of EIP-1559 ``requestActivation`` transactions (no node needed)."""
    account = Account.from_key(dev_private_keys(1)[0])
    meter = Web3().eth.contract(address=Web3.to_checksum_address("0x" + "11" * 20), abi=artifacts.abi())
    data = meter.encode_abi("requestActivation", args=["0x" + "22" * 20, INSTANCE_TYPE, request_id("sign", 0), LEASE])
    base = {
        "chainId": 31337, "gas": ACTIVATION_GAS, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9,
        "to": meter.address, "value": 0, "data": data,
    }
    txs = [dict(base, nonce=i) for i in range(n)]
    seconds, signed = timed(lambda: [account.sign_transaction(tx) for tx in txs])
    if len({s.hash for s in signed}) != n:
        raise RuntimeError("signatures are not distinct")
    return Timing(n, seconds)


def ecc_backend() -> str:
    return type(Account._keys.backend).__name__


def signing_in_subprocess(n: int, backend: str) -> Timing:
    """:func:`signing` in a fresh interpreter with eth-keys' ``backend`` (e.g. the pure-Python NativeECCBackend)."""
    import os
    import subprocess

    env = dict(os.environ, ECC_BACKEND_CLASS=f"eth_keys.backends.{backend}")
    out = subprocess.run(
        [sys.executable, __file__, "sign", str(n)], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout.split()
    if out[0] != backend:
        raise RuntimeError(f"asked for {backend}, the subprocess signed with {out[0]}")
    return Timing(int(out[1]), float(out[2]))


# ---------------------------------------------------------------------------------------------- 3. indexing


@dataclass(frozen=True)
class History:
    """What :func:`make_history` put on the chain."""

    grants: int
    expiries: int
    renewals: int
    deactivations: int
    last_block: int

    @property
    def usage_events(self) -> int:
        return self.grants + self.expiries + self.renewals + self.deactivations


def make_history(market: Market, events: int) -> History:
    """About ``events`` usage events: 60 % grants (in batches), 20 % expiries (in batches), 10 % renewals and 10 %
    deactivations (one transaction each, so the events spread over many blocks as they would in real use)."""
    grants, expiries = events * 6 // 10, events * 2 // 10
    renewals = deactivations = events // 10
    agent = Agent(market.w3, market.meter.address, market.agent)
    requests = [
        ActivationRequest(market.customer(i), INSTANCE_TYPE, SHORT_LEASE if i < expiries else LEASE,
                          request_id("history", i))
        for i in range(grants)
    ]
    if not all(isinstance(r, Granted) for r in agent.activate_many(requests)):
        raise RuntimeError("history: an activation was denied")
    market.warp(SHORT_LEASE + 1)
    ids = [agent.instance_id_of(r.request_id) for r in requests if r.request_id is not None]
    if agent.expire(ids[:expiries]) != expiries:
        raise RuntimeError("history: not every short lease expired")
    long_lived = ids[expiries:]
    calls = [market.call("renewLease", rid, LEASE, gas=RENEWAL_GAS) for rid in long_lived[:renewals]]
    calls += [market.call("deactivate", rid, gas=DEACTIVATION_GAS) for rid in long_lived[renewals:][:deactivations]]
    agent.sender.send_many(calls)
    return History(grants, expiries, renewals, deactivations, int(market.w3.eth.block_number))


def index_plain_per_type(market: Market, last_block: int, runs: int) -> Timing:
    """web3.py's ``contract.events.X().get_logs(...)``, once per event type the invoice needs."""

    def run() -> int:
        return sum(
            len(getattr(market.meter.events, name)().get_logs(from_block=market.deploy_block, to_block=last_block))
            for name in INVOICE_EVENTS
        )

    return median_of(runs, run)


def index_plain_process_log(market: Market, last_block: int, runs: int) -> Timing:
    """One ``eth.get_logs`` for the contract, then web3.py's ``process_log`` with the matching event per log."""
    by_topic = {topic0(name): name for name in INVOICE_EVENTS}
    events = {name: market.meter.events[name]() for name in INVOICE_EVENTS}

    def run() -> int:
        logs = market.w3.eth.get_logs(
            {"address": market.meter.address, "fromBlock": market.deploy_block, "toBlock": last_block}
        )
        decoded = [events[by_topic[bytes(log["topics"][0])]].process_log(log)
                   for log in logs if bytes(log["topics"][0]) in by_topic]
        return len(decoded)

    return median_of(runs, run)


def index_ours(market: Market, last_block: int, runs: int, workdir: Path) -> tuple[Timing, Path]:
    """``Indexer.sync`` into a new SQLite file (fetch, check block hashes, decode, store); returns the last file."""
    chain_id = int(market.w3.eth.chain_id)
    paths: list[Path] = []

    def run() -> int:
        path = workdir / f"events-{len(paths)}.sqlite"
        paths.append(path)
        with Store(path, chain_id=chain_id, contract=market.meter.address) as store:
            result = Indexer(market.w3, market.meter.address, store, start_block=market.deploy_block).sync(
                to_block=last_block
            )
            if store.last_block != last_block:
                raise RuntimeError(f"indexed up to {store.last_block}, not {last_block}")
            return result.events

    return median_of(runs, run), paths[-1]


# ---------------------------------------------------------------------------------------------- 4. invoices


def invoicing(w3: Web3, store_path: Path, timeframe: int, runs: int) -> tuple[Timing, Timing]:
    """``invoices_for_timeframe`` from the store: (invoices, counted usage events) per second."""
    counted: list[int] = []

    def run() -> int:
        with Store(store_path) as store:  # the invoices are computed as they are iterated: inside
            invoices = events = 0
            for invoice in invoices_for_timeframe(store, timeframe, NodeClock(w3, store)):
                if invoice.total <= 0:
                    raise RuntimeError("an invoice came out empty")
                invoices += 1
                events += len(invoice.evidence.events)
        if not invoices:
            raise RuntimeError("no invoice came out")
        counted.append(events)
        return invoices

    per_invoice = median_of(runs, run)
    return per_invoice, Timing(counted[-1], per_invoice.seconds, per_invoice.runs)


def run_indexing_and_invoices(events: int, customers: int, runs: int) -> dict[str, Any]:
    """One fresh anvil: make the history, then index it three ways and compute the invoices from our store."""
    with LocalNode() as node, tempfile.TemporaryDirectory(prefix="metering-bench-") as tmp:
        market = open_market(node, customers)
        history = make_history(market, events)
        out: dict[str, Any] = {"history": history}
        out["plain_per_type"] = index_plain_per_type(market, history.last_block, runs)
        out["plain_process_log"] = index_plain_process_log(market, history.last_block, runs)
        out["ours"], store_path = index_ours(market, history.last_block, runs, Path(tmp))
        expected = history.usage_events + 2  # plus TimeframeCreated and RulesSet
        if not out["plain_per_type"].items == out["plain_process_log"].items == expected:
            raise RuntimeError(
                f"web3.py read {out['plain_per_type'].items} / {out['plain_process_log'].items} events, "
                f"expected {expected}"
            )
        if out["ours"].items != expected + customers:  # the indexer keeps CustomerEnrolled too
            raise RuntimeError(f"the indexer stored {out['ours'].items} events, expected {expected + customers}")
        out["invoices"], out["invoice_events"] = invoicing(market.w3, store_path, market.timeframe, runs)
        # The timeframe is still running, so these are statements as of the indexed head: they hold every grant, and
        # the renewals and stops of the blocks their "as of" covers (an expiry is never evidence).
        billed = history.usage_events - history.expiries
        if not history.grants <= out["invoice_events"].items <= billed:
            raise RuntimeError(f"the invoices counted {out['invoice_events'].items} events, the history bills {billed}")
        return out


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "sign":
        timing = signing(int(argv[1]))
        print(ecc_backend(), timing.items, f"{timing.seconds:.6f}")
        return 0
    print(__doc__)
    return 2


assert set(INVOICE_EVENTS) <= set(EVENT_TYPES)

if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
