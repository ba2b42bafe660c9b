"""The sender's and the agent's fast paths against anvil: known gas limits without estimates, fees read once per few
blocks, JSON-RPC batches for sending and receipts, and the rare failures inside a batch (a lost answer, nonces
taken by another program, a refused transaction) settled without a double send or a stuck nonce."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from metering.agent import ActivationRequest, Agent, Denied, Granted
from metering.chain.node import LocalNode
from metering.chain.sender import Call, SentTransaction, TransactionSender
from metering.contract import DenialReason
from metering.errors import ConfigError, ContractRevertError, TransactionFailedError, TransactionTimeoutError

from .conftest import DB, Market
from .test_sender import FlakyProvider

if TYPE_CHECKING:
    from tests.conftest import Actors


class BatchingProvider(FlakyProvider):
    """A :class:`FlakyProvider` that also records batch requests; ``lose_batches`` loses the answers of that many
    batches of ``eth_sendRawTransaction`` after forwarding them."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.batches: list[list[str]] = []
        self.lose_batches = 0

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        self.batches.append([str(method) for method, _ in batch_requests])
        answer = super().make_batch_request(batch_requests)
        if self.lose_batches and batch_requests[0][0] == "eth_sendRawTransaction":
            self.lose_batches -= 1
            raise requests.exceptions.ReadTimeout("read timed out (simulated, after the node got the batch)")
        return answer

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    def batched(self, method: str) -> list[int]:
        """The sizes of the batches of ``method``."""
        return [len(b) for b in self.batches if b[0] == method]


@pytest.fixture
def batching(node: LocalNode, meter: Contract) -> BatchingProvider:
    return BatchingProvider(node.rpc_url)


def _sender(provider: BatchingProvider, account: LocalAccount, **kwargs: Any) -> TransactionSender:
    options: dict[str, Any] = {"backoff": 0.01, "poll_interval": 0.02, "receipt_timeout": 10.0}
    options.update(kwargs)
    return TransactionSender(Web3(provider), account, **options)


def _transfers(recipients: list[str], *, gas: int | None = 21_000) -> list[Call]:
    """Transfers of 1, 2, 3... wei, so each one's effect can be told apart."""
    return [Call(to=r, data=b"", value=k + 1, gas=gas, label=f"transfer {k}") for k, r in enumerate(recipients)]


def _fresh_addresses(n: int) -> list[str]:
    return [Account.create().address for _ in range(n)]


def _balances(w3: Web3, addresses: list[str]) -> list[int]:
    return [int(w3.eth.get_balance(Web3.to_checksum_address(a))) for a in addresses]


# ---------------------------------------------------------------------- one transaction at a time


def test_a_known_gas_limit_skips_the_estimate_and_chain_id_is_read_once(
    batching: BatchingProvider, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    recipients = _fresh_addresses(4)

    for call in _transfers(recipients):
        sender.transact(call)

    assert batching.count("eth_estimateGas") == 0
    assert batching.count("eth_chainId") <= 1
    assert batching.count("eth_sendRawTransaction") == 4
    assert _balances(Web3(batching), recipients) == [1, 2, 3, 4]


class PricelessReceiptsProvider(BatchingProvider):
    """Receipts without ``effectiveGasPrice`` (as some nodes' older receipts are): the base fee cannot be told."""

    def make_request(self, method: Any, params: Any) -> Any:
        answer = super().make_request(method, params)
        result = answer.get("result") if isinstance(answer, dict) else None
        if method in ("eth_getTransactionReceipt", "eth_sendRawTransactionSync") and isinstance(result, dict):
            answer = {**answer, "result": {k: v for k, v in result.items() if k != "effectiveGasPrice"}}
        return answer


def test_fees_read_at_a_block_serve_the_next_fee_blocks_blocks(node: LocalNode, actors: Actors) -> None:
    provider = PricelessReceiptsProvider(node.rpc_url)
    sender = _sender(provider, actors.outsider, priority_fee=10**9, fee_ttl=600.0, fee_blocks=5)

    for call in _transfers(_fresh_addresses(12)):
        sender.transact(call)  # automine: one block each

    # Read before the 1st, the 6th and the 11th transaction: once per five blocks, not once per transaction.
    assert provider.count("eth_getBlockByNumber") == 3


def test_fees_are_renewed_from_each_receipt_so_sequential_sends_read_them_once(
    batching: BatchingProvider, actors: Actors
) -> None:
    tip = 10**9
    sender = _sender(batching, actors.outsider, priority_fee=tip, fee_ttl=600.0, fee_blocks=5)

    sent = [sender.transact(call) for call in _transfers(_fresh_addresses(12))]  # automine: one block each

    assert batching.count("eth_getBlockByNumber") == 1  # before the first; then every receipt told the base fee
    w3 = Web3(batching)
    for before, after in pairwise(sent):
        base = int(w3.eth.get_block(before.block_number)["baseFeePerGas"] or 0)
        tx = w3.eth.get_transaction(after.tx_hash)
        assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (2 * base + tip, tip)  # as if read there


def test_a_known_gas_call_that_reverts_is_decoded_from_a_re_simulation(
    batching: BatchingProvider, meter: Contract, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    data = bytes.fromhex(meter.encode_abi("enrollCustomer", args=[actors.customers[0].address])[2:])

    with pytest.raises(ContractRevertError, match="lacks RULES_MANAGER_ROLE") as caught:
        sender.transact(Call(to=meter.address, data=data, gas=100_000, label="enrollCustomer"))

    assert caught.value.tx_hash is not None  # mined and failed: no estimate was made before sending
    assert batching.count("eth_estimateGas") == 0
    assert batching.count("eth_call") >= 1


# ---------------------------------------------------------------------- batches


def test_send_many_sends_and_confirms_in_json_rpc_batches(
    batching: BatchingProvider, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider, batch_size=8)
    first = w3.eth.get_transaction_count(actors.outsider.address)
    recipients = _fresh_addresses(20)

    sent = sender.send_many(_transfers(recipients))

    assert [s.nonce for s in sent] == list(range(first, first + 20))
    assert batching.batched("eth_sendRawTransaction") == [8, 8, 4]
    assert batching.count("eth_sendRawTransaction") == 0  # none sent one by one
    assert batching.batched("eth_getTransactionReceipt")  # receipts in batches too
    # One by one only for the last one still pending, by design: a loaded node may still be mining it when the
    # others' receipts have come back (what made this test fail under load when it demanded none).
    singles = {params[0] for method, params in batching.calls if method == "eth_getTransactionReceipt"}
    assert len(singles) <= 1, singles
    assert _balances(w3, recipients) == list(range(1, 21))


def test_send_many_asks_for_each_receipt_once_it_is_mined_and_not_before(
    batching: BatchingProvider, node: LocalNode, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider, batch_size=8)
    recipients = _fresh_addresses(40)

    node.rpc("evm_setAutomine", False)
    node.rpc("evm_setIntervalMining", 1)  # a block a second: the receipts are awaited over many polls
    try:
        sent = sender.send_many(_transfers(recipients))
    finally:
        node.rpc("evm_setIntervalMining", 0)
        node.rpc("evm_setAutomine", True)

    asked = [params[0] for method, params in batching.calls if method == "eth_getTransactionReceipt"]
    asked_in_batches = sum(batching.batched("eth_getTransactionReceipt"))
    # each poll asks the account's mined nonce, then only the receipts below it: 40 receipts, 40 look-ups
    assert len(sent) == 40 and asked_in_batches + len(asked) == 40
    assert batching.count("eth_getTransactionCount") >= 1
    assert _balances(w3, recipients) == list(range(1, 41))


def test_a_lost_batch_answer_is_checked_and_nothing_is_sent_twice(
    batching: BatchingProvider, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    first = w3.eth.get_transaction_count(actors.outsider.address)
    recipients = _fresh_addresses(6)
    batching.lose_batches = 1  # the node gets (and mines) the batch, but its answer is lost

    sent = sender.send_many(_transfers(recipients))

    assert [s.nonce for s in sent] == list(range(first, first + 6))
    assert w3.eth.get_transaction_count(actors.outsider.address) == first + 6
    assert _balances(w3, recipients) == [1, 2, 3, 4, 5, 6]


def test_nonces_taken_by_another_program_during_a_batch_are_sent_again_with_fresh_ones(
    batching: BatchingProvider, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    sender.transact(_transfers(_fresh_addresses(1))[0])  # the sender now counts nonces itself
    other = _sender(BatchingProvider(batching.endpoint_uri), actors.outsider)
    other.send_many(_transfers(_fresh_addresses(2)))  # another program takes the next two nonces
    recipients = _fresh_addresses(5)

    sent = sender.send_many(_transfers(recipients))

    assert _balances(w3, recipients) == [1, 2, 3, 4, 5]  # each call landed exactly once
    assert len({s.nonce for s in sent}) == 5
    assert max(s.nonce for s in sent) == w3.eth.get_transaction_count(actors.outsider.address) - 1


def test_a_refused_transaction_inside_a_batch_fails_alone_and_its_nonce_is_filled(
    batching: BatchingProvider, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    first = w3.eth.get_transaction_count(actors.outsider.address)
    recipients = _fresh_addresses(4)
    calls = _transfers(recipients)
    calls[1] = Call(to=recipients[1], data=b"", value=2, gas=20_000, label="too little gas")  # below 21,000

    outcomes = sender.send_all(calls)

    assert isinstance(outcomes[1], TransactionFailedError) and "too little gas" in str(outcomes[1])
    assert all(isinstance(outcomes[k], SentTransaction) for k in (0, 2, 3))
    assert _balances(w3, recipients) == [1, 0, 3, 4]
    # The refused nonce was filled, so nothing waits behind it and the next transaction takes the next nonce.
    assert w3.eth.get_transaction_count(actors.outsider.address) == first + 4
    assert sender.transact(_transfers(_fresh_addresses(1))[0]).nonce == first + 4


def test_send_many_raises_the_refusal_after_awaiting_the_others(
    batching: BatchingProvider, w3: Web3, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider)
    recipients = _fresh_addresses(3)
    calls = _transfers(recipients)
    calls[2] = Call(to=recipients[2], data=b"", value=3, gas=20_000, label="too little gas")

    with pytest.raises(TransactionFailedError, match="too little gas"):
        sender.send_many(calls)

    assert _balances(w3, recipients) == [1, 2, 0]


# ---------------------------------------------------------------------- the agent


def _agent(batching: BatchingProvider, meter: Contract, actors: Actors) -> Agent:
    w3 = Web3(batching)
    return Agent(w3, meter.address, actors.agent, sender=_sender(batching, actors.agent))


def test_an_activation_is_sent_without_an_estimate(
    batching: BatchingProvider, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = _agent(batching, meter, actors)

    result = agent.activate(market.customer, DB, 600)

    assert isinstance(result, Granted) and result.lease_end > 0
    assert batching.count("eth_estimateGas") == 0


def test_activate_many_pipelines_transactions_and_each_decision_sees_the_ones_before(
    batching: BatchingProvider, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = _agent(batching, meter, actors)
    requests = [ActivationRequest(market.customer, DB, 600) for _ in range(4)]  # DB: at most 2 concurrent

    results = agent.activate_many(requests, batch_size=1)

    assert [type(r) for r in results] == [Granted, Granted, Denied, Denied]
    assert len({r.request_id for r in results}) == 4  # the agent chose one request id per request, on its seats
    assert all(r.instance_id == agent.instance_id_of(r.request_id) for r in results)
    assert all(r.reason == DenialReason.CONCURRENCY_LIMIT_REACHED for r in results if isinstance(r, Denied))
    assert len({r.tx_hash for r in results}) == 4
    assert batching.batched("eth_sendRawTransaction") == [4]
    assert batching.count("eth_estimateGas") == 0


@pytest.mark.parametrize("size", [0, 257, True])
def test_activate_many_refuses_a_batch_size_the_contract_cannot_take(
    agent: Agent, market: Market, size: Any
) -> None:
    with pytest.raises(ConfigError, match="batch size"):
        agent.activate_many([ActivationRequest(market.customer, DB, 600)], batch_size=size)


def test_receipt_logs_are_decoded_like_web3_decodes_them(
    agent: Agent, w3: Web3, meter: Contract, market: Market
) -> None:
    result = agent.activate(market.customer, DB, 600)
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)
    expected = [meter.events.ActivationGranted().process_log(log) for log in receipt["logs"]]
    raw = w3.provider.make_request("eth_getTransactionReceipt", [result.tx_hash])["result"]  # type: ignore[arg-type]

    ours: Callable[[Any], list[Any]] = agent.events
    for logs in (receipt["logs"], raw["logs"]):
        decoded = ours(logs)
        assert [(e["event"], dict(e["args"])) for e in decoded] == [(e["event"], dict(e["args"])) for e in expected]
        assert [(e["blockNumber"], e["logIndex"], bytes(e["transactionHash"])) for e in decoded] == [
            (e["blockNumber"], e["logIndex"], bytes(e["transactionHash"])) for e in expected
        ]


# ---------------------------------------------------------------------- anvil's stranded transactions


class AutomineClaimingProvider(BatchingProvider):
    """Says anvil automines while it does not, which is what a transaction stranded by anvil's batch race looks
    like to the sender: anvil in automine mode, our transaction in its pool, no receipt."""

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "anvil_getAutomine":
            self.calls.append((method, params))
            return {"jsonrpc": "2.0", "id": 0, "result": True}
        return super().make_request(method, params)


@contextmanager
def _automine_off(node: LocalNode) -> Iterator[None]:
    """The node mines only when asked (``evm_mine``) until the block ends, also when it raises."""
    node.rpc("evm_setAutomine", False)
    try:
        yield
    finally:
        node.rpc("evm_setAutomine", True)


def test_a_transaction_anvil_leaves_unmined_in_automine_mode_gets_a_block(
    node: LocalNode, w3: Web3, actors: Actors, meter: Contract
) -> None:
    provider = AutomineClaimingProvider(node.rpc_url)
    sender = _sender(provider, actors.outsider)
    with _automine_off(node):
        sent = sender.transact(_transfers(_fresh_addresses(1))[0])

    assert sent.block_number > 0
    assert provider.count("evm_mine") == 1
    assert provider.count("txpool_inspect") == 0  # one transaction is never stranded by a batch: not looked for


def test_a_batch_stranded_in_the_pool_gets_a_block_at_the_second_look_not_after_the_stall(
    node: LocalNode, w3: Web3, actors: Actors, caplog: pytest.LogCaptureFixture
) -> None:
    # Stranded by anvil's batch race, the account's next transaction sits in the pool ready ("pending") while
    # automine is on. Seen there at two looks QUICK_STALL apart, with no receipt between, it gets a block at once,
    # quietly (debug), rather than after STALL with a warning.
    provider = AutomineClaimingProvider(node.rpc_url)
    sender = _sender(provider, actors.outsider, poll_interval=0.005)
    recipients = _fresh_addresses(3)
    caplog.set_level(logging.DEBUG, logger="metering.chain.sender")
    with _automine_off(node):
        sent = sender.send_many(_transfers(recipients))

    assert all(s.block_number > 0 for s in sent)
    assert _balances(w3, recipients) == [1, 2, 3]
    assert provider.count("txpool_inspect") >= 2
    assert provider.count("evm_mine") == 1  # every one of them was ready: one block holds them all
    nudges = [r for r in caplog.records if "unmined; mining a block" in r.getMessage()]
    assert [r.levelno for r in nudges] == [logging.DEBUG]


class _Waiting(NamedTuple):
    nonce: int


def test_only_the_accounts_next_transaction_ready_in_the_pool_looks_stranded(
    node: LocalNode, w3: Web3, actors: Actors
) -> None:
    # Queued behind a gap, or not in the pool at all (dropped: sent again after STALL), there is nothing a block
    # would mine; and a node that is not anvil is never asked for its pool.
    provider = AutomineClaimingProvider(node.rpc_url)
    waiter = _sender(provider, actors.outsider)._receipts
    account = actors.outsider
    nonce = int(w3.eth.get_transaction_count(account.address))
    fee = 2 * int(w3.eth.get_block("latest")["baseFeePerGas"] or 0) + 10**9

    def send(n: int) -> None:
        signed = account.sign_transaction({"to": _fresh_addresses(1)[0], "value": 1, "gas": 21_000, "nonce": n,
                                           "maxFeePerGas": fee, "maxPriorityFeePerGas": 10**9, "chainId": 31337})
        w3.eth.send_raw_transaction(signed.raw_transaction)

    waiting = [_Waiting(nonce), _Waiting(nonce + 1)]
    with _automine_off(node):
        send(nonce + 1)
        assert not waiter._next_one_waits_in_pool(waiting)  # queued behind the gap at ``nonce``
        send(nonce)
        assert waiter._next_one_waits_in_pool(waiting)  # both ready, neither mined
        node.rpc("evm_mine")
    assert not waiter._next_one_waits_in_pool([_Waiting(nonce + 2)])  # mined: the pool is empty
    looks = provider.count("txpool_inspect")
    waiter._dev_node = False
    assert not waiter._next_one_waits_in_pool(waiting)
    assert provider.count("txpool_inspect") == looks


class StrandingProvider(AutomineClaimingProvider):
    """anvil that strands a transaction again after each of the first ``strand`` blocks mined by hand (its batch
    race hitting the next transaction too): those ``evm_mine`` calls answer but mine nothing."""

    def __init__(self, url: str, strand: int) -> None:
        super().__init__(url)
        self.strand = strand

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "evm_mine" and self.strand > 0:
            self.strand -= 1
            self.calls.append((method, params))
            return {"jsonrpc": "2.0", "id": 0, "result": "0x0"}
        return super().make_request(method, params)


def test_anvil_stranding_again_is_given_a_block_at_each_stall_without_the_wait_doubling(
    node: LocalNode, actors: Actors
) -> None:
    # The 4th block mined by hand mines the transaction. Nudged every 0.25 s, that is about 1 s in; with the wait
    # doubling after each nudge (as on a slow chain) it would come 3.75 s in, after the 3 s allowed.
    provider = StrandingProvider(node.rpc_url, strand=3)
    sender = _sender(provider, actors.outsider, receipt_timeout=3.0)
    with _automine_off(node):
        sent = sender.transact(_transfers(_fresh_addresses(1))[0])

    assert sent.block_number > 0
    assert provider.count("evm_mine") == 4


def test_an_unmined_transaction_is_not_mined_by_hand_when_automine_is_off(
    batching: BatchingProvider, node: LocalNode, actors: Actors
) -> None:
    sender = _sender(batching, actors.outsider, receipt_timeout=1.5)
    with _automine_off(node), pytest.raises(TransactionTimeoutError):
        sender.transact(_transfers(_fresh_addresses(1))[0])
        node.rpc("evm_mine")  # the transaction left in the pool

    assert batching.count("anvil_getAutomine") >= 1
    assert batching.count("evm_mine") == 0


class SmallBatchProvider(BatchingProvider):
    """Refuses batches of more than 2 requests as a whole, without forwarding them, as a node capping request
    bodies does."""

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        if len(batch_requests) > 2:
            self.batches.append(["refused"] * len(batch_requests))
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}}
        return super().make_batch_request(batch_requests)


def test_a_batch_the_node_refuses_as_a_whole_is_sent_in_halves(
    node: LocalNode, w3: Web3, actors: Actors, meter: Contract
) -> None:
    provider = SmallBatchProvider(node.rpc_url)
    sender = _sender(provider, actors.outsider)
    first = w3.eth.get_transaction_count(actors.outsider.address)
    recipients = _fresh_addresses(5)

    sent = sender.send_many(_transfers(recipients))

    assert [s.nonce for s in sent] == list(range(first, first + 5))
    assert _balances(w3, recipients) == [1, 2, 3, 4, 5]
    # 5 refused; its halves 2 (sent) and 3 (refused); the halves of that: 1 (a single request) and 2 (sent).
    assert provider.batched("eth_sendRawTransaction") == [2, 2]
    assert provider.count("eth_sendRawTransaction") == 1
