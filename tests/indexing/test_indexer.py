"""The indexer against anvil: invoices equal the on-chain counters, ranges shrink and grow, resume, reorgs,
confirmations."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.providers.rpc import HTTPProvider

from metering._utils.runtime import QUICK_SWITCH_SECONDS
from metering.audit.billing import invoice_from_store
from metering.audit.blocktime import NodeClock
from metering.audit.events import ActivationGranted
from metering.audit.indexer import Indexer, find_deployment_block
from metering.audit.invoice import Charge, Invoice
from metering.audit.store import Store
from metering.chain.node import LocalNode
from metering.contract import LimitMode
from metering.errors import IndexingError, RpcUnavailableError
from metering.types import Rules, Timeframe

from ._builders import ident
from .conftest import Driver

# Prices in micro-units: 5.00 EUR per start and 0.03 EUR per second; 0.20 EUR and 0.01 EUR; a zero line.
DB = Rules(price_per_activation=500_000_000, price_per_time_unit=3_000_000, included_activations=1,
           included_seconds=100, max_concurrent=2, max_activations=10)
CACHE = Rules(price_per_activation=20_000_000, price_per_time_unit=1_000_000, max_activations=2, mode=LimitMode.SOFT)
SEARCH = Rules(price_per_activation=1_000_000, price_per_time_unit=1_000_000)  # never used: a zero line


def bill(w3: Web3, store: Store, customer: str, timeframe: int) -> Invoice:
    return invoice_from_store(store, customer, timeframe, NodeClock(w3, store))


class FlakyProvider(HTTPProvider):
    """A node with an ``eth_getLogs`` cap: refuses ranges over ``max_blocks`` blocks or answers with more than
    ``max_logs`` logs, the way Infura/Alchemy do; ``on_get_logs`` runs before each call (to reorganise mid-sync)."""

    def __init__(self, url: str, *, max_blocks: int = 10**9, max_logs: int = 10**9, style: str = "infura") -> None:
        super().__init__(url, request_kwargs={"timeout": 30}, exception_retry_configuration=None)
        self.max_blocks = max_blocks
        self.max_logs = max_logs
        self.style = style
        self.spans: list[int] = []
        self.on_get_logs: Callable[[int], None] | None = None

    def make_request(self, method: Any, params: Any) -> Any:
        if method != "eth_getLogs":
            return super().make_request(method, params)
        span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
        self.spans.append(span)
        if self.on_get_logs:
            self.on_get_logs(len(self.spans))
        if span > self.max_blocks:
            if self.style == "timeout":
                raise TimeoutError("HTTPConnectionPool: Read timed out")
            if self.style == "alchemy":
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message":
                        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"}}
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005,
                    "message": "query returned more than 10000 results"}}
        reply = super().make_request(method, params)
        if len(reply.get("result") or []) > self.max_logs:
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005,
                    "message": f"query returned more than {self.max_logs} results"}}
        return reply


def busy_timeframe(driver: Driver) -> Timeframe:
    """Two customers, three types: quotas, soft overage, renewals, deactivation, expiry, an open lease, denials."""
    c0, c1 = driver.customers[:2]
    tf = driver.timeframe({1: DB, 2: CACHE, 3: SEARCH})
    t = tf.start
    driver.activate(c0, 1, "db-1", 600, at=t + 10)
    driver.activate(c0, 1, "db-2", 60, at=t + 20)
    driver.activate(c0, 1, "db-3", 60, at=t + 30)  # denied: two at a time
    driver.activate(c0, 1, "db-1", 600, at=t + 31)  # replayed
    driver.renew("db-2", 300, at=t + 50)
    driver.deactivate("db-1", at=t + 400)
    driver.activate_many([(c0, 2, "c-1", 30), (c0, 2, "c-2", 30), (c0, 2, "c-3", 30), (c1, 2, "c-4", 90)], at=t + 500)
    driver.expire(["c-1", "c-2"], at=t + 600)
    driver.activate(c1, 1, "db-4", 5_000, at=t + 700)  # lease capped at the timeframe end, never closed
    return tf


def assert_invoices_match_counters(driver: Driver, store: Store, tf: Timeframe) -> None:
    customers = store.customers(tf.id)
    assert customers
    for customer in customers:
        invoice = bill(driver.w3, store, customer, tf.id)
        for kind in {line.instance_type for line in invoice.lines}:
            usage = driver.usage(customer, tf.id, kind)
            starts, seconds = invoice.line(kind, Charge.ACTIVATIONS), invoice.line(kind, Charge.SECONDS)
            assert (starts.quantity, starts.overage, seconds.quantity + seconds.committed) == (
                usage.activations, usage.overage_activations, usage.leased_seconds
            ), (customer, kind)


def test_invoices_from_the_index_equal_the_on_chain_counters(driver: Driver, w3: Web3, meter: Contract,
                                                             store: Store) -> None:
    tf = busy_timeframe(driver)
    result = Indexer(w3, meter.address, store, max_range=7).sync()
    assert result.to_block == w3.eth.block_number
    assert result.events == store.event_count() > 15
    assert_invoices_match_counters(driver, store, tf)
    invoice = bill(w3, store, driver.customers[0], tf.id)
    starts, seconds = invoice.line(1, Charge.ACTIVATIONS), invoice.line(1, Charge.SECONDS)
    # db-1 ran 390 s (deactivated), db-2 was renewed at +50 to +350 and never closed: 330 s; db-3 was denied.
    assert (starts.quantity, starts.billable, seconds.quantity, seconds.billable) == (2, 1, 720, 620)
    assert (starts.amount, seconds.amount) == (500, 620 * 3)
    cache = invoice.line(2, Charge.ACTIVATIONS)
    assert (cache.quantity, cache.overage, invoice.line(2, Charge.SECONDS).quantity) == (3, 1, 90)
    assert sum(line.amount for line in invoice.lines if line.instance_type == 3) == 0
    assert not invoice.final
    assert invoice.as_of == w3.eth.get_block("latest")["timestamp"]


def test_a_lease_continued_into_the_next_timeframe_is_billed_in_each(driver: Driver, w3: Web3, meter: Contract,
                                                                     store: Store) -> None:
    c0 = driver.customers[0]
    first = driver.timeframe({1: DB}, length=1_000)
    driver.activate(c0, 1, "db", 5_000, at=first.start + 100)  # capped at first.end
    second = driver.timeframe({1: CACHE}, start=first.end, length=1_000, enter=False)
    driver.renew("db", 200, at=first.end + 10)  # a new decision under the second timeframe's rules
    Indexer(w3, meter.address, store).sync()
    one = bill(w3, store, c0, first.id)
    two = bill(w3, store, c0, second.id)
    assert (one.line(1).quantity, one.final) == (900, True)
    # billed from the second timeframe's start, with no gap: a statement now bills the 10 s run so far, and the
    # 200 s of the lease still ahead are committed
    assert (two.line(1, Charge.CONTINUATIONS).quantity, two.final) == (1, False)
    assert (two.line(1).quantity, two.line(1).committed) == (10, 200)
    assert two.line(1, Charge.ACTIVATIONS).quantity == 0  # a continuation is not an activation
    assert two.line(1, Charge.CONTINUATIONS).unit_price == CACHE.price_per_continuation
    assert_invoices_match_counters(driver, store, first)
    assert_invoices_match_counters(driver, store, second)


@pytest.mark.parametrize("style", ["infura", "alchemy", "timeout"])
def test_ranges_the_node_refuses_are_halved_until_it_answers(driver: Driver, node: LocalNode, w3: Web3,
                                                             meter: Contract, tmp_path: Path, style: str) -> None:
    busy_timeframe(driver)
    provider = FlakyProvider(node.rpc_url, max_blocks=3, style=style)
    with Store(tmp_path / "capped.sqlite", chain_id=31337, contract=meter.address) as capped:
        result = Indexer(Web3(provider), meter.address, capped, max_range=64).sync()
        assert result.refused >= 3  # 8 blocks (an eighth of 64 to start) and 4, then once per attempt to grow back
        assert result.requests == len(provider.spans)
        assert result.blocks == result.to_block + 1
        with Store(tmp_path / "plain.sqlite", chain_id=31337, contract=meter.address) as plain:
            Indexer(w3, meter.address, plain, max_range=64).sync()
            assert capped.events() == plain.events()


def test_the_range_grows_back_after_a_dense_stretch(driver: Driver, node: LocalNode, meter: Contract,
                                                    tmp_path: Path) -> None:
    start = driver.w3.eth.block_number + 1
    c0 = driver.customers[0]
    driver.timeframe({2: CACHE})
    for batch in range(4):  # four blocks with 20 logs each, then a long quiet stretch
        driver.activate_many([(c0, 2, f"c{batch}-{i}", 30) for i in range(20)])
    node.rpc("anvil_mine", hex(200))
    provider = FlakyProvider(node.rpc_url, max_logs=25)
    with Store(tmp_path / "db.sqlite", chain_id=31337, contract=meter.address) as store:
        indexer = Indexer(Web3(provider), meter.address, store, max_range=32, start_block=start)
        result = indexer.sync()
        assert result.refused >= 2
        smallest = provider.spans.index(1)  # one block at a time through the dense stretch...
        assert provider.spans[smallest:].count(32) >= 2  # ...then back to full ranges in the quiet one
        assert indexer.range == 32
        assert store.event_count() >= 80


def test_the_first_range_is_an_eighth_of_the_widest_and_doubles_after_each_up_to_it(
        driver: Driver, node: LocalNode, meter: Contract, tmp_path: Path) -> None:
    # The first range is read before anything can overlap it; the ranges after it are read while the ones before are
    # stored, so a backfill starts small and doubles after every range (the first two are asked for together).
    start = driver.w3.eth.block_number + 1
    node.rpc("anvil_mine", hex(150))
    provider = FlakyProvider(node.rpc_url)
    with Store(tmp_path / "db.sqlite", chain_id=31337, contract=meter.address) as store:
        indexer = Indexer(Web3(provider), meter.address, store, max_range=32, start_block=start)
        assert indexer.range == 4
        indexer.sync()
        assert provider.spans[:6] == [4, 4, 8, 16, 32, 32]
        assert indexer.range == 32
        assert store.last_block == driver.w3.eth.block_number
        assert sum(provider.spans) == store.last_block - start + 1


def test_after_the_first_refusal_the_range_doubles_only_after_grow_after_successes(
        driver: Driver, node: LocalNode, meter: Contract, tmp_path: Path) -> None:
    # Adversary: a node with a cap. The slow start doubles after every range only until the node first refuses one;
    # from then on a range is asked for twice as wide only after grow_after ranges in a row were answered, so a
    # capped node sees one refused try (and the one read ahead with it) per grow_after answered ranges, not one in two.
    start = driver.w3.eth.block_number + 1
    node.rpc("anvil_mine", hex(150))
    provider = FlakyProvider(node.rpc_url, max_blocks=8)
    with Store(tmp_path / "db.sqlite", chain_id=31337, contract=meter.address) as store:
        result = Indexer(Web3(provider), meter.address, store, max_range=64, start_block=start, grow_after=3).sync()
        # 8, 8 asked for together; 16 and 32 on the slow start, both refused; then three answered ranges before each
        # try of 16 (refused with the 16 read ahead beside it)
        assert provider.spans[:12] == [8, 8, 16, 32, 8, 8, 8, 8, 16, 16, 8, 8]
        assert result.refused == sum(span > 8 for span in provider.spans)
        assert result.requests == len(provider.spans)
        assert store.last_block == driver.w3.eth.block_number


def test_a_node_that_refuses_even_one_block_is_an_error(node: LocalNode, meter: Contract, tmp_path: Path) -> None:
    provider = FlakyProvider(node.rpc_url, max_blocks=0)
    with (
        Store(tmp_path / "db.sqlite", chain_id=31337, contract=meter.address) as store,
        pytest.raises(IndexingError, match="single block"),
    ):
        Indexer(Web3(provider), meter.address, store, max_range=4).sync()


def test_an_unreachable_node_is_reported_as_unavailable(meter: Contract, tmp_path: Path) -> None:
    dead = Web3(HTTPProvider("http://127.0.0.1:9", exception_retry_configuration=None))
    with (
        Store(tmp_path / "db.sqlite", chain_id=31337, contract=meter.address) as store,
        pytest.raises(RpcUnavailableError, match="--rpc-url"),
    ):
        Indexer(dead, meter.address, store).sync()


def test_a_new_indexer_on_the_same_file_resumes_after_the_cursor(driver: Driver, w3: Web3, meter: Contract,
                                                                 store_url: str,
                                                                 new_store_url: Callable[[], str]) -> None:
    start = w3.eth.block_number + 1
    tf = busy_timeframe(driver)
    middle = (start + w3.eth.block_number) // 2
    with Store(store_url, chain_id=31337, contract=meter.address) as store:
        first = Indexer(w3, meter.address, store, max_range=4, start_block=start).sync(to_block=middle)
        assert (first.from_block, first.to_block) == (start, middle)
    with Store(store_url, chain_id=31337, contract=meter.address) as store:  # "after a restart"
        second = Indexer(w3, meter.address, store, max_range=4, start_block=0).sync()
        assert (second.from_block, second.to_block) == (middle + 1, w3.eth.block_number)
        assert first.events + second.events == store.event_count()
        again = Indexer(w3, meter.address, store).sync()
        assert (again.blocks, again.events) == (0, 0)
        with Store(new_store_url(), chain_id=31337, contract=meter.address) as once:
            Indexer(w3, meter.address, once, start_block=start).sync()
            assert store.events() == once.events()
        assert_invoices_match_counters(driver, store, tf)


def test_a_reorg_drops_the_orphaned_events_and_indexes_the_new_chain(driver: Driver, w3: Web3, meter: Contract,
                                                                     store: Store) -> None:
    c0, c1 = driver.customers[:2]
    tf = driver.timeframe({1: DB})
    driver.activate(c0, 1, "kept", 300, at=tf.start + 10)
    fork = driver.chain.snapshot()
    orphans = [driver.activate(c0, 1, "orphan", 300, at=tf.start + 20), driver.renew("kept", 600, at=tf.start + 30)]
    indexer = Indexer(w3, meter.address, store, max_range=3)
    indexer.sync()
    assert ident("orphan") in {e.instance_id for e in store.events() if isinstance(e, ActivationGranted)}

    driver.chain.revert(fork)
    driver.activate(c1, 1, "new", 100, at=tf.start + 25)
    driver.deactivate("kept", at=tf.start + 40)
    driver.activate(c1, 1, "newer", 100, at=tf.start + 50)
    result = indexer.sync()

    assert (result.reorgs, result.dropped_events) == (1, 2)
    stored_txs = {e.tx_hash for e in store.events()}
    assert not stored_txs & {bytes(r["transactionHash"]) for r in orphans}
    granted = {e.instance_id for e in store.events() if isinstance(e, ActivationGranted)}
    assert granted == {ident("kept"), ident("new"), ident("newer")}
    assert store.block(store.last_block or 0).hash == bytes(w3.eth.get_block("latest")["hash"])
    assert_invoices_match_counters(driver, store, tf)


def test_a_reorg_to_a_shorter_chain_is_found(driver: Driver, w3: Web3, meter: Contract, store: Store) -> None:
    c0 = driver.customers[0]
    tf = driver.timeframe({1: DB})
    fork = driver.chain.snapshot()
    for i in range(3):
        driver.activate(c0, 1, f"gone-{i}", 50, at=tf.start + 10 + i)
    indexer = Indexer(w3, meter.address, store)
    indexer.sync()
    driver.chain.revert(fork)
    driver.activate(c0, 1, "only", 50, at=tf.start + 20)
    result = indexer.sync()
    assert result.reorgs == 1 and result.dropped_events == 3
    assert store.last_block == w3.eth.block_number
    assert_invoices_match_counters(driver, store, tf)


@pytest.mark.parametrize("new_blocks", [8, 1], ids=["longer-chain", "shorter-chain"])
def test_a_reorg_while_syncing_is_caught_before_the_range_is_stored(driver: Driver, node: LocalNode,
                                                                   meter: Contract, store: Store,
                                                                   new_blocks: int) -> None:
    c0, c1 = driver.customers[:2]
    start = driver.w3.eth.block_number + 1
    tf = driver.timeframe({3: SEARCH})  # blocks start..start+4
    fork = driver.chain.snapshot()
    for i in range(6):
        driver.activate(c0, 3, f"old-{i}", 50, at=tf.start + 10 + i)

    def reorganise(call: int) -> None:
        if call == 3:  # two ranges (setup, then old-0..old-2) are stored; now the chain is replaced
            driver.chain.revert(fork)
            for i in range(new_blocks):
                driver.activate(c1, 3, f"new-{i}", 50, at=tf.start + 30 + i)

    provider = FlakyProvider(node.rpc_url)
    provider.on_get_logs = reorganise
    indexer = Indexer(Web3(provider), meter.address, store, max_range=4, start_block=start, grow_after=100)
    indexer.range = 4  # ranges of 4 blocks from the first one (no slow start), as the reorganisation expects
    result = indexer.sync()
    assert (result.reorgs, result.dropped_events) == (1, 3)
    indexer.sync()
    granted = {e.instance_id for e in store.events() if isinstance(e, ActivationGranted)}
    assert granted == {ident(f"new-{i}") for i in range(new_blocks)}
    assert store.last_block == driver.w3.eth.block_number
    assert_invoices_match_counters(driver, store, tf)


def test_a_block_gone_in_a_reorg_to_a_shorter_chain_is_not_taken_for_a_refusal(driver: Driver, node: LocalNode,
                                                                                meter: Contract,
                                                                                store: Store) -> None:
    # Asked for a block past its head, anvil answers "BlockOutOfRangeError", which reads like a node's refusal of a
    # too-wide range; for a one-block range that was a fatal "refuses even a single block" in mid-reorg.
    c0, c1 = driver.customers[:2]
    start = driver.w3.eth.block_number + 1
    tf = driver.timeframe({3: SEARCH})
    fork = driver.chain.snapshot()
    for i in range(6):
        driver.activate(c0, 3, f"old-{i}", 50, at=tf.start + 10 + i)

    def shorten(call: int) -> None:
        if call == 7:  # blocks start..start+5 are stored; the chain is now one block past the fork
            driver.chain.revert(fork)
            driver.activate(c1, 3, "new", 50, at=tf.start + 30)

    provider = FlakyProvider(node.rpc_url)
    provider.on_get_logs = shorten
    indexer = Indexer(Web3(provider), meter.address, store, max_range=1, start_block=start)
    assert indexer.range == 1
    result = indexer.sync()
    assert (result.reorgs, result.dropped_events, result.refused) == (1, 1, 0)
    granted = {e.instance_id for e in store.events() if isinstance(e, ActivationGranted)}
    assert granted == {ident("new")}
    assert store.last_block == driver.w3.eth.block_number
    assert_invoices_match_counters(driver, store, tf)


def test_only_blocks_with_enough_confirmations_are_indexed(driver: Driver, node: LocalNode, w3: Web3,
                                                           meter: Contract, store: Store) -> None:
    c0 = driver.customers[0]
    tf = driver.timeframe({1: DB})
    driver.activate(c0, 1, "young", 50, at=tf.start + 10)
    indexer = Indexer(w3, meter.address, store, confirmations=3)
    result = indexer.sync()
    assert result.to_block == w3.eth.block_number - 3
    assert not [e for e in store.events() if isinstance(e, ActivationGranted)]
    node.rpc("anvil_mine", hex(3))
    indexer.sync()
    assert [e.instance_id for e in store.events() if isinstance(e, ActivationGranted)] == [ident("young")]


def test_progress_reports_blocks_done_out_of_the_total(driver: Driver, w3: Web3, meter: Contract,
                                                       store: Store) -> None:
    busy_timeframe(driver)
    seen: list[tuple[int, int]] = []
    start = w3.eth.block_number - 20
    Indexer(w3, meter.address, store, max_range=5, start_block=start).sync(progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 21)
    assert seen[-1] == (21, 21)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_deployment_block_is_found_by_bisection(w3: Web3, deployed_meter: Contract) -> None:
    block = find_deployment_block(w3, deployed_meter.address)
    assert w3.eth.get_code(deployed_meter.address, block)
    assert not w3.eth.get_code(deployed_meter.address, block - 1)


def test_an_indexer_refuses_a_store_of_another_contract(w3: Web3, meter: Contract, tmp_path: Path) -> None:
    with (
        Store(tmp_path / "db.sqlite", chain_id=31337, contract="0x" + "22" * 20) as other,
        pytest.raises(IndexingError, match="is for contract"),
    ):
        Indexer(w3, meter.address, other)
    with (
        Store(tmp_path / "chain.sqlite", chain_id=1, contract=meter.address) as mainnet,
        pytest.raises(IndexingError, match="chain 31337"),
    ):
        Indexer(w3, meter.address, mainnet).sync()


def test_a_sync_runs_with_a_short_gil_switch_interval_and_old_objects_frozen_and_restores_both(
        driver: Driver, w3: Web3, meter: Contract, store: Store) -> None:
    # The reader thread's answers wait for the GIL at most the switch interval, and collections during the sync look
    # only at what it allocated; the interpreter's own settings are back after it.
    start = w3.eth.block_number + 1
    busy_timeframe(driver)
    before = sys.getswitchinterval()
    during: list[tuple[float, bool]] = []
    Indexer(w3, meter.address, store, start_block=start, max_range=2).sync(
        progress=lambda done, total: during.append((sys.getswitchinterval(), gc.get_freeze_count() > 0)))
    assert during[0] == (before, False)  # at the start, before anything is read
    assert len(during) > 2 and set(during[1:]) == {(QUICK_SWITCH_SECONDS, True)}  # after each range stored
    assert sys.getswitchinterval() == before
    assert gc.get_freeze_count() == 0
