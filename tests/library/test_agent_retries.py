"""An agent on a node whose answers get lost: retried calls never count twice, and say what the first one did.

The node answers through :class:`FlakyProvider` (test_sender.py), which forwards a request to anvil and then, by
plan, loses the answer: the worst case, where the transaction went out and the client does not know.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest
import requests
from eth_abi.abi import decode
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Deactivated, Expired, RenewalDenied, Renewed
from metering.chain.node import LocalNode
from metering.contract import DenialReason
from metering.errors import ContractRevertError, RpcUnavailableError, TransactionTimeoutError
from metering.types import request_id

from .conftest import DB, WEB, Market, granted
from .test_sender import FlakyProvider, _fast

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


def _slow_agent(node: LocalNode, meter: Contract, actors: Actors, **kwargs: Any) -> tuple[Agent, FlakyProvider]:
    """An agent talking through a flaky provider, which gives up on a receipt after 0.3 s."""
    flaky = FlakyProvider(node.rpc_url)
    w3 = Web3(flaky)
    return Agent(w3, meter.address, actors.agent, sender=_fast(w3, actors.agent, receipt_timeout=0.3), **kwargs), flaky


def _request_ids(raw_transactions: list[str]) -> list[int]:
    """The request id each signed ``requestActivation`` transaction carried."""
    ids = []
    for raw in raw_transactions:
        data = _calldata(raw)
        _customer, _type, rid, _lease = decode(["address", "uint16", "uint64", "uint32"], data[4:])
        ids.append(int(rid))
    return ids


def _calldata(raw: str) -> bytes:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    return bytes(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["data"])


def _lose_receipts_until_the_second_send(flaky: FlakyProvider) -> None:
    """Every receipt read is lost until a second transaction is sent: the first send times out, unseen."""
    flaky.always["eth_getTransactionReceipt"] = "lose"
    sends: list[int] = []

    def second_send_heals() -> None:
        sends.append(1)
        if len(sends) == 2:
            flaky.always.clear()

    flaky.before_forward["eth_sendRawTransaction"] = second_send_heals


# ---------------------------------------------------------------------- activation


def test_an_activation_retried_after_a_timeout_keeps_its_request_id_and_counts_once(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors)
    _lose_receipts_until_the_second_send(flaky)

    result = granted(agent.activate(market.customer, DB, 600))  # no request id: the agent picks one, once

    assert result.replayed
    raw = flaky.raw_sends()
    assert len(set(raw)) == 2  # two transactions...
    assert _request_ids(raw) == [result.request_id] * 2  # ...one request
    assert result.started_at is not None and result.overage is False  # the first decision, found in its event
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1
    assert granted(agent.activate(market.customer, DB, 600)).request_id != result.request_id


def test_an_activation_that_keeps_timing_out_can_be_retried_with_its_request_id(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors)
    flaky.always["eth_getTransactionReceipt"] = "lose"
    chosen = agent.next_request_id()

    with pytest.raises(TransactionTimeoutError, match="retrying with the same ids is safe"):
        agent.activate(market.customer, DB, 600, request_id=chosen)
    flaky.always.clear()
    again = granted(agent.activate(market.customer, DB, 600, request_id=chosen))

    assert again.replayed and again.request_id == chosen
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1


class DroppingProvider(FlakyProvider):
    """Loses the answer of ``rate`` of all requests (after forwarding them), at random but reproducibly; and every
    ``blackout_every``-th transaction sent, loses every receipt read until the next one is sent, so that the
    agent's wait times out and it retries the call."""

    def __init__(self, url: str, *, rate: float, blackout_every: int, seed: int = 11) -> None:
        super().__init__(url)
        self.random = random.Random(seed)
        self.rate = rate
        self.blackout_every = blackout_every
        self.sent = 0
        self.blackouts = 0
        self.dropped = 0

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_sendRawTransaction":
            self.sent += 1
            if self.sent % self.blackout_every == 0:
                self.always["eth_getTransactionReceipt"] = "lose"
                self.blackouts += 1
            else:
                self.always.pop("eth_getTransactionReceipt", None)
        lose = self.random.random() < self.rate
        if lose:
            self.dropped += 1
            self.plan.setdefault(method, []).insert(0, "lose")
        return super().make_request(method, params)


def test_activations_through_a_node_that_drops_answers_are_counted_once_each(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    """Issue 11: 1 of 150 activations counted twice under a 10% response-drop proxy. Here every call either
    returns its own decision or raises, and the chain counts exactly the calls that returned."""
    dropping = DroppingProvider(node.rpc_url, rate=0.10, blackout_every=5)
    w3 = Web3(dropping)
    agent = Agent(w3, meter.address, actors.agent, sender=_fast(w3, actors.agent, receipt_timeout=0.2))
    results = []
    closed = []

    for n in range(30):
        result = granted(agent.activate(market.customer2, WEB, 600))
        results.append(result)
        if n % 2:  # free half the seats again, so requests also take later generations
            closed.append(agent.deactivate(result.instance_id))

    assert dropping.dropped >= 15 and dropping.blackouts >= 5  # the failures did happen...
    assert sum(r.replayed for r in results) >= 2  # ...and some activations were sent twice by the agent
    assert len({r.instance_id for r in results}) == 30  # no call was handed another call's decision
    usage = agent.usage(market.customer2, market.timeframe, WEB)
    assert usage.activations == len(results)
    assert all(isinstance(c, Deactivated) for c in closed) and len(closed) == 15
    assert max(r.request_id & 0xFF for r in results) >= 2  # seats were reused


def test_lost_answers_of_reads_are_retried_not_raised(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors)
    flaky.plan["eth_call"] = ["lose", "refuse", "503"]  # the seat read, then the usage read, fail first

    result = granted(agent.activate(market.customer, DB, 600))

    assert agent.usage(market.customer, market.timeframe, DB).activations == 1
    assert result.request_id == request_id(0, 1)


def test_a_read_that_never_gets_an_answer_is_an_rpc_error(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors)
    flaky.always["eth_call"] = "refuse"
    with pytest.raises(RpcUnavailableError, match="did not answer"):
        agent.usage(market.customer, market.timeframe, DB)
    with pytest.raises(RpcUnavailableError):
        agent.activate(market.customer, DB, 600)  # reading its first seat fails: nothing was sent
    assert flaky.raw_sends() == []


# ---------------------------------------------------------------------- deactivation and renewal


def test_a_deactivation_retried_after_a_lost_answer_returns_the_first_result(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent, chain: Chain
) -> None:
    """Issue 11: a retried deactivate raised MeteringInstanceNotOpen although its first attempt closed the
    instance. The retry finds it closed (at gas estimation, so it sends nothing) and reports that first closure."""
    first = granted(agent.activate(market.customer, DB, 600))
    slow, flaky = _slow_agent(node, meter, actors)
    flaky.always["eth_getTransactionReceipt"] = "lose"  # the deactivation is mined, but we never see it

    closed = slow.deactivate(first.instance_id)

    assert isinstance(closed, Deactivated) and closed.replayed and not closed.by_provider
    assert closed.instance_id == first.instance_id
    assert len(flaky.raw_sends()) == 1
    assert closed.tx_hash == Web3.keccak(hexstr=flaky.raw_sends()[0]).to_0x_hex()  # the first attempt's
    mined = meter.w3.eth.get_transaction_receipt(closed.tx_hash)["blockNumber"]
    assert closed.stopped_at == meter.w3.eth.get_block(mined)["timestamp"]  # billing stopped when it was mined
    assert slow.usage(market.customer, market.timeframe, DB).running == 0


def test_a_deactivation_the_caller_retries_after_a_timeout_returns_the_first_result(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent
) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    slow, flaky = _slow_agent(node, meter, actors, timeout_retries=0)
    flaky.always["eth_getTransactionReceipt"] = "lose"
    with pytest.raises(TransactionTimeoutError):
        slow.deactivate(first.instance_id)
    flaky.always.clear()

    again = slow.deactivate(first.instance_id)

    assert isinstance(again, Deactivated) and again.replayed
    assert again.tx_hash == Web3.keccak(hexstr=flaky.raw_sends()[0]).to_0x_hex()


def test_a_retried_deactivation_of_a_lease_that_ran_out_returns_the_expiry(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent, chain: Chain
) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)
    slow, flaky = _slow_agent(node, meter, actors)
    flaky.always["eth_getTransactionReceipt"] = "lose"

    closed = slow.deactivate(first.instance_id)

    assert isinstance(closed, Expired) and closed.replayed and closed.lease_end == first.lease_end


def test_a_retried_deactivation_does_not_hide_another_agents_instance(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent2: Agent
) -> None:
    theirs = granted(agent2.activate(market.customer, DB, 600))
    slow, _ = _slow_agent(node, meter, actors)
    with pytest.raises(ContractRevertError) as caught:
        slow.deactivate(theirs.instance_id)
    assert caught.value.name == "MeteringNotInstanceHolder"


def test_a_renewal_retried_after_a_lost_answer_extends_the_lease_once_more(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent, chain: Chain
) -> None:
    first = granted(agent.activate(market.customer, DB, 300))
    slow, flaky = _slow_agent(node, meter, actors)
    _lose_receipts_until_the_second_send(flaky)

    renewed = slow.renew(first.instance_id, 300)

    assert isinstance(renewed, Renewed)
    assert len(flaky.raw_sends()) == 2  # a renewal is idempotent enough: from now, capped, never shorter
    assert renewed.lease_end == chain.now() + 300
    assert slow.usage(market.customer, market.timeframe, DB).leased_seconds == renewed.lease_end - first.started_at  # type: ignore[operator]


def test_a_renewal_retried_after_it_closed_the_instance_reports_that_denial(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent, chain: Chain
) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)
    slow, flaky = _slow_agent(node, meter, actors)
    flaky.always["eth_getTransactionReceipt"] = "lose"  # the first attempt closes it as expired, unseen

    result = slow.renew(first.instance_id, 300)

    assert isinstance(result, RenewalDenied) and result.replayed
    assert (result.reason, result.expired_at) == (DenialReason.LEASE_EXPIRED, first.lease_end)


def test_the_flaky_provider_loses_answers_after_forwarding(node: LocalNode) -> None:
    """The premise of this module: a lost answer still reached the node."""
    flaky = FlakyProvider(node.rpc_url)
    flaky.plan["evm_mine"] = ["lose"]
    w3 = Web3(flaky)
    before = w3.eth.block_number
    with pytest.raises(requests.exceptions.ReadTimeout):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert w3.eth.block_number == before + 1
