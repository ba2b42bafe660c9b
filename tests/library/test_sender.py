"""The transaction sender against anvil, including a node whose answers get lost.

The flaky node is an HTTPProvider that forwards to anvil but, by plan, loses the answer of a request it did forward
(the worst case: the transaction went out and the client does not know), refuses a request without forwarding it,
or answers HTTP 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent
from metering.chain.node import LocalNode
from metering.chain.sender import Call, TransactionSender
from metering.errors import ContractRevertError, RpcUnavailableError, TransactionFailedError, TransactionTimeoutError
from metering.provider import RULES_MANAGER_ROLE

from .conftest import DB, Market

if TYPE_CHECKING:
    from tests.conftest import Actors


class FlakyProvider(Web3.HTTPProvider):
    """Forwards to anvil; ``plan[method]`` lists what happens to the next calls of ``method``:
    ``"ok"``, ``"lose"`` (forward, then raise a read timeout), ``"refuse"`` (connection error, not forwarded),
    ``"503"`` (HTTP 503, not forwarded).

    It plays a node without ``eth_sendRawTransactionSync`` unless ``sync`` is set, so the plans above apply to
    the classic ``eth_sendRawTransaction`` and receipt requests."""

    def __init__(self, url: str, *, sync: bool = False) -> None:
        super().__init__(url, request_kwargs={"timeout": 10})
        self.sync = sync
        self.plan: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.before_forward: dict[str, Any] = {}

    def make_request(self, method: Any, params: Any) -> Any:
        self.calls.append((method, params))
        if method == "eth_sendRawTransactionSync" and not self.sync:
            return {"jsonrpc": "2.0", "id": 0, "error": {"code": -32601, "message": "Method not found"}}
        queue = self.plan.get(method)
        action = queue.pop(0) if queue else self.always.get(method, "ok")
        if action == "refuse":
            raise requests.exceptions.ConnectionError("connection refused (simulated)")
        if action == "503":
            response = requests.Response()
            response.status_code = 503
            raise requests.exceptions.HTTPError("503 Server Error (simulated)", response=response)
        hook = self.before_forward.get(method)
        if hook is not None:
            hook()
        result = super().make_request(method, params)
        if action == "lose":
            raise requests.exceptions.ReadTimeout("read timed out (simulated, after the node got the request)")
        return result

    def raw_sends(self) -> list[str]:
        return [str(params[0]) for method, params in self.calls if method == "eth_sendRawTransaction"]


@pytest.fixture
def flaky(node: LocalNode, meter: Contract) -> FlakyProvider:
    return FlakyProvider(node.rpc_url)


@pytest.fixture
def flaky_w3(flaky: FlakyProvider) -> Web3:
    return Web3(flaky)


def _enroll(meter: Contract, customer: str, gas: int | None = None) -> Call:
    data = meter.encode_abi("enrollCustomer", args=[customer])
    return Call(to=meter.address, data=bytes.fromhex(data[2:]), gas=gas, label="enrollCustomer")


def _transfer(to: str, value: int = 1) -> Call:
    return Call(to=to, data=b"", value=value, label="transfer")


def _fast(w3: Web3, account: LocalAccount, **kwargs: Any) -> TransactionSender:
    options: dict[str, Any] = {"backoff": 0.01, "poll_interval": 0.02, "receipt_timeout": 10.0}
    options.update(kwargs)
    return TransactionSender(w3, account, **options)


@pytest.fixture
def manual_mining(node: LocalNode, meter: Contract) -> Iterator[LocalNode]:
    """anvil with automine off (transactions wait in the pool until ``evm_mine``), restored afterwards."""
    node.rpc("evm_setAutomine", False)
    try:
        yield node
    finally:
        node.rpc("evm_setAutomine", True)


# ---------------------------------------------------------------------- nonces


def test_threads_sharing_a_sender_get_consecutive_nonces(w3: Web3, meter: Contract, actors: Actors) -> None:
    sender = _fast(w3, actors.outsider)
    first = w3.eth.get_transaction_count(actors.outsider.address)
    results = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(6):
            sent = sender.transact(_transfer(actors.customers[0].address))
            with lock:
                results.append(sent)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.nonce for r in results) == list(range(first, first + 24))
    assert w3.eth.get_transaction_count(actors.outsider.address) == first + 24


def test_send_many_pipelines_consecutive_nonces(w3: Web3, meter: Contract, actors: Actors) -> None:
    sender = _fast(w3, actors.admin)
    first = w3.eth.get_transaction_count(actors.admin.address)

    sent = sender.send_many([_enroll(meter, c.address) for c in actors.customers])

    assert [s.nonce for s in sent] == list(range(first, first + len(actors.customers)))
    assert all(meter.functions.customerStatus(c.address).call() == 1 for c in actors.customers)
    assert all(s.logs for s in sent)


def test_a_nonce_used_elsewhere_is_resynced(w3: Web3, meter: Contract, actors: Actors) -> None:
    sender = _fast(w3, actors.outsider)
    sender.transact(_transfer(actors.customers[0].address))
    # Another program sends from the same account: the sender's nonce is now stale.
    other = _fast(w3, actors.outsider)
    other.transact(_transfer(actors.customers[0].address))

    sent = sender.transact(_transfer(actors.customers[0].address))

    assert sent.nonce == w3.eth.get_transaction_count(actors.outsider.address) - 1


# ---------------------------------------------------------------------- failures


def test_a_revert_is_decoded_into_the_named_custom_error(w3: Web3, meter: Contract, actors: Actors) -> None:
    sender = _fast(w3, actors.outsider)
    with pytest.raises(ContractRevertError) as caught:
        sender.transact(_enroll(meter, actors.customers[0].address))

    error = caught.value
    assert error.name == "AccessControlUnauthorizedAccount"
    assert error.args_ == {"account": actors.outsider.address, "neededRole": RULES_MANAGER_ROLE}
    assert f"{actors.outsider.address} lacks RULES_MANAGER_ROLE" in str(error)
    assert error.tx_hash is None  # refused at estimation: nothing was sent


def test_a_transaction_that_reverts_once_mined_is_decoded_with_its_hash(
    w3: Web3, meter: Contract, actors: Actors
) -> None:
    sender = _fast(w3, actors.outsider)
    before = w3.eth.get_transaction_count(actors.outsider.address)

    with pytest.raises(ContractRevertError) as caught:
        sender.transact(_enroll(meter, actors.customers[0].address, gas=100_000))  # no estimate: it goes out

    assert caught.value.name == "AccessControlUnauthorizedAccount"
    assert caught.value.tx_hash is not None
    assert w3.eth.get_transaction_receipt(caught.value.tx_hash)["status"] == 0
    assert w3.eth.get_transaction_count(actors.outsider.address) == before + 1


def test_running_out_of_gas_says_so(w3: Web3, meter: Contract, actors: Actors) -> None:
    sender = _fast(w3, actors.admin)
    with pytest.raises(TransactionFailedError, match=r"ran out of gas.*limit 30000"):
        sender.transact(_enroll(meter, actors.customers[0].address, gas=30_000))


def test_insufficient_funds_is_a_clear_error(w3: Web3, meter: Contract, actors: Actors) -> None:
    poor = Account.create()
    sender = _fast(w3, poor)

    with pytest.raises(TransactionFailedError) as caught:
        sender.transact(_transfer(actors.customers[0].address))

    message = str(caught.value)
    assert message.startswith(f"insufficient funds: {poor.address} has 0 wei on chain 31337")
    assert "fund the account" in message
    assert not isinstance(caught.value, ContractRevertError)
    # Nothing was consumed: once funded, the same sender goes on with nonce 0.
    _fast(w3, actors.admin).transact(_transfer(poor.address, 10**18))
    assert sender.transact(_transfer(actors.customers[0].address)).nonce == 0


# ---------------------------------------------------------------------- retries


def test_a_lost_answer_to_a_send_finds_the_mined_transaction_and_counts_it_once(
    flaky: FlakyProvider, flaky_w3: Web3, w3: Web3, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = Agent(flaky_w3, meter.address, actors.agent, sender=_fast(flaky_w3, actors.agent))
    nonce = w3.eth.get_transaction_count(actors.agent.address)
    # The node gets the transaction (and mines it at once) but its answer is lost, and so is the first receipt read.
    flaky.plan["eth_sendRawTransaction"] = ["lose"]
    flaky.plan["eth_getTransactionReceipt"] = ["refuse"]

    result = agent.activate(market.customer, DB, 600)

    assert result.granted and not result.replayed
    assert set(flaky.raw_sends()) == {flaky.raw_sends()[0]}  # never a second, different transaction
    assert Web3.keccak(hexstr=flaky.raw_sends()[0]).to_0x_hex() == result.tx_hash
    assert w3.eth.get_transaction_count(actors.agent.address) == nonce + 1
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1


def test_a_lost_send_is_rebroadcast_as_the_same_transaction_until_mined(
    flaky: FlakyProvider, flaky_w3: Web3, w3: Web3, meter: Contract, actors: Actors, manual_mining: LocalNode
) -> None:
    sender = _fast(flaky_w3, actors.admin)
    call = _enroll(meter, actors.customers[0].address)
    sender.estimate_gas(call)
    sender.resync_nonce()
    nonce = w3.eth.get_transaction_count(actors.admin.address)
    # The first answer is lost and the transaction waits in the pool, so the sender cannot see a receipt and must
    # broadcast again: the node then already holds that exact transaction.
    flaky.plan["eth_sendRawTransaction"] = ["lose"]
    miner = threading.Timer(0.5, lambda: manual_mining.rpc("evm_mine"))
    miner.start()
    try:
        sent = sender.transact(call)
    finally:
        miner.cancel()

    sends = flaky.raw_sends()
    assert len(sends) >= 2 and len(set(sends)) == 1
    assert sent.nonce == nonce
    assert w3.eth.get_transaction_count(actors.admin.address) == nonce + 1
    assert Web3.keccak(hexstr=sends[0]).to_0x_hex() == sent.tx_hash


def test_transient_failures_of_reads_are_retried(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors
) -> None:
    sender = _fast(flaky_w3, actors.admin)
    flaky.plan["eth_estimateGas"] = ["refuse", "503"]
    flaky.plan["eth_getTransactionCount"] = ["503"]
    flaky.plan["eth_getTransactionReceipt"] = ["refuse", "lose", "503"]

    sent = sender.transact(_enroll(meter, actors.customers[0].address))

    assert sent.block_number > 0
    assert sum(1 for m, _ in flaky.calls if m == "eth_estimateGas") == 3


def test_a_node_that_never_answers_gives_up_with_rpc_unavailable(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors
) -> None:
    sender = _fast(flaky_w3, actors.admin, attempts=3)
    flaky.always["eth_estimateGas"] = "refuse"
    with pytest.raises(RpcUnavailableError, match="did not answer eth_estimateGas after 3 attempts"):
        sender.transact(_enroll(meter, actors.customers[0].address))


def test_no_receipt_in_time_is_a_timeout_naming_the_transaction(
    flaky: FlakyProvider, flaky_w3: Web3, w3: Web3, meter: Contract, actors: Actors
) -> None:
    sender = _fast(flaky_w3, actors.admin, receipt_timeout=0.3)
    flaky.always["eth_getTransactionReceipt"] = "lose"
    started = time.monotonic()

    with pytest.raises(TransactionTimeoutError) as caught:
        sender.transact(_enroll(meter, actors.customers[0].address))

    assert time.monotonic() - started < 5
    assert caught.value.tx_hash is not None
    assert "it may still be mined" in str(caught.value)
    assert w3.eth.get_transaction_receipt(caught.value.tx_hash)["status"] == 1  # it was, in fact
    # After a timeout the nonce is read again, so the next transaction neither reuses nor skips one.
    flaky.always.clear()
    following = sender.transact(_enroll(meter, actors.customers[1].address))
    assert following.nonce == w3.eth.get_transaction_count(actors.admin.address) - 1


def test_the_sender_reports_each_hash_as_sent_then_the_blocks_passing_while_it_waits(actors: Actors) -> None:
    """On a chain with a block every second, both transactions of a pipeline are reported as sent before any wait,
    and the wait is reported from 0 blocks on (what the CLI's spinner shows), and each receipt's block."""
    seen: list[tuple[str, str, object]] = []
    with LocalNode(block_time=1) as slow:
        w3 = Web3(Web3.HTTPProvider(slow.rpc_url))
        sender = TransactionSender(
            w3, actors.outsider,
            on_sent=lambda tx_hash, label: seen.append(("sent", tx_hash, label)),
            on_wait=lambda tx_hash, blocks: seen.append(("wait", tx_hash, blocks)),
            on_mined=lambda tx_hash, block: seen.append(("mined", tx_hash, block)),
        )
        results = sender.send_many([
            Call(to=actors.agent.address, data=b"", value=1, label="pay the agent"),
            Call(to=actors.agent2.address, data=b"", value=1, label="pay the second agent"),
        ])
    hashes = [r.tx_hash for r in results]
    assert seen[:2] == [("sent", hashes[0], "pay the agent"), ("sent", hashes[1], "pay the second agent")]
    waits = [entry for entry in seen[2:] if entry[0] == "wait"]
    assert waits and waits[0] == ("wait", hashes[0], 0), seen
    mined = [entry for entry in seen if entry[0] == "mined"]
    assert mined == [("mined", r.tx_hash, r.block_number) for r in results]
    assert seen[-1] == mined[-1]  # nothing is reported after the last receipt


def test_a_sender_without_progress_callbacks_asks_only_for_the_receipt_while_waiting(
    meter: Contract, actors: Actors, node: LocalNode
) -> None:
    flaky = FlakyProvider(node.rpc_url)
    sender = TransactionSender(Web3(flaky), actors.outsider)
    sender.transact(Call(to=actors.agent.address, data=b"", value=1))
    assert "eth_blockNumber" not in [method for method, _ in flaky.calls]
