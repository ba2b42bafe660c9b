"""One round trip per lone transaction where the node answers ``eth_sendRawTransactionSync``, the classic way where
it does not, and a pipelined batch whose first nonce the node lost is re-sent rather than waited on."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Granted
from metering.chain.node import LocalNode
from metering.chain.sender import Call, TransactionSender

from .conftest import DB, Market
from .test_fast_paths import BatchingProvider
from .test_sender import FlakyProvider

if TYPE_CHECKING:
    from tests.conftest import Actors


def _transfer(value: int = 1) -> Call:
    return Call(to=Account.create().address, data=b"", value=value, gas=21_000, label="transfer")


def _methods(provider: FlakyProvider, since: int) -> list[str]:
    return [str(method) for method, _ in provider.calls[since:]]


def test_a_lone_transaction_is_one_round_trip_where_the_node_answers_sync(
    node: LocalNode, meter: Contract, actors: Actors
) -> None:
    provider = FlakyProvider(node.rpc_url, sync=True)
    sender = TransactionSender(Web3(provider), actors.outsider, priority_fee=10**9, fee_ttl=600.0, fee_blocks=1000)
    sender.transact(_transfer())  # reads the chain id, the nonce and the fees once
    before = len(provider.calls)

    sent = sender.transact(_transfer(7))

    assert _methods(provider, before) == ["eth_sendRawTransactionSync"]
    assert sent.gas_used == 21_000 and sent.block_number > 0


def test_an_activation_is_one_round_trip_where_the_node_answers_sync(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    provider = FlakyProvider(node.rpc_url, sync=True)
    w3 = Web3(provider)
    sender = TransactionSender(w3, actors.agent, priority_fee=10**9, fee_ttl=600.0, fee_blocks=1000)
    agent = Agent(w3, meter.address, actors.agent, sender=sender)
    agent.activate(market.customer, DB, 600)  # learns the timeframe's end, the nonce and the fees
    chosen = agent.next_request_id()
    before = len(provider.calls)

    decision = agent.activate(market.customer, DB, 600, request_id=chosen)

    assert isinstance(decision, Granted) and decision.request_id == chosen
    assert _methods(provider, before) == ["eth_sendRawTransactionSync"]


def test_a_node_without_sync_is_asked_once_and_then_sent_to_the_classic_way(
    node: LocalNode, meter: Contract, actors: Actors
) -> None:
    provider = FlakyProvider(node.rpc_url, sync=False)  # answers the method with "Method not found"
    sender = TransactionSender(Web3(provider), actors.outsider)

    sent = [sender.transact(_transfer()) for _ in range(3)]

    methods = _methods(provider, 0)
    assert methods.count("eth_sendRawTransactionSync") == 1
    assert methods.count("eth_sendRawTransaction") == 3
    assert [s.nonce for s in sent] == [sent[0].nonce, sent[0].nonce + 1, sent[0].nonce + 2]


def test_a_lost_answer_to_a_sync_send_is_found_and_counted_once(
    node: LocalNode, meter: Contract, actors: Actors, w3: Web3
) -> None:
    provider = FlakyProvider(node.rpc_url, sync=True)
    provider.plan["eth_sendRawTransactionSync"] = ["lose"]  # forwarded and mined, the answer lost
    sender = TransactionSender(Web3(provider), actors.outsider, backoff=0.01)
    call = _transfer(5)
    nonce = w3.eth.get_transaction_count(actors.outsider.address)

    sent = sender.transact(call)

    assert sent.nonce == nonce
    assert w3.eth.get_transaction_count(actors.outsider.address) == nonce + 1  # one transaction, not two
    assert w3.eth.get_balance(Web3.to_checksum_address(str(call.to))) == 5


class StrandingProvider(BatchingProvider):
    """Loses the first transaction of the first batch of sends without forwarding it, answering as if the node took
    it: a node that dropped the transaction at the account's next nonce, so all later ones wait in its pool."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.stranded: str | None = None

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        if self.stranded is None and batch_requests and batch_requests[0][0] == "eth_sendRawTransaction":
            dropped, rest = batch_requests[0], batch_requests[1:]
            self.stranded = Web3.keccak(hexstr=dropped[1][0]).hex()
            answers = list(super().make_batch_request(rest)) if len(rest) > 1 else \
                [super(BatchingProvider, self).make_request(m, p) for m, p in rest]
            return [{"jsonrpc": "2.0", "id": 0, "result": "0x" + self.stranded.removeprefix("0x")}, *answers]
        return super().make_batch_request(batch_requests)


def test_a_stranded_nonce_after_a_stall_is_sent_again_not_waited_on(
    node: LocalNode, w3: Web3, meter: Contract, actors: Actors
) -> None:
    provider = StrandingProvider(node.rpc_url)
    # No periodic re-broadcast within the test, and a receipt timeout it must beat by far.
    sender = TransactionSender(Web3(provider), actors.outsider, receipt_timeout=20.0, rebroadcast_after=600.0,
                               poll_interval=0.05)
    calls = [_transfer(k + 1) for k in range(5)]
    first = w3.eth.get_transaction_count(actors.outsider.address)
    began = time.monotonic()

    sent = sender.send_many(calls)

    assert provider.stranded is not None
    assert [s.nonce for s in sent] == list(range(first, first + 5))
    assert time.monotonic() - began < 10.0  # re-sent after a stall of a fraction of a second
    assert [w3.eth.get_balance(Web3.to_checksum_address(str(c.to))) for c in calls] == [1, 2, 3, 4, 5]
    assert provider.count("eth_sendRawTransaction") >= 1  # the stranded one, sent alone
