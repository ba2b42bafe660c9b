"""The agent's edges of issue 15: a caller's retry after an unknown outcome never counts twice, with or without its
request id; the seat of a lost request stays reserved until it is resolved; an expired instance whose seat a later
activation reused is closed or renewed as expired, across many agents."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Expired, RenewalDenied
from metering.chain.node import LocalNode
from metering.contract import DenialReason
from metering.errors import RpcUnavailableError, TransactionTimeoutError
from metering.provider import Provider

from .conftest import DB, WEB, Market, granted
from .test_agent_retries import _request_ids, _slow_agent

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


# ---------------------------------------------------------------------- a caller's retry


def test_calling_activate_again_after_a_timeout_without_the_id_returns_the_first_decision(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors, timeout_retries=0)
    flaky.always["eth_getTransactionReceipt"] = "lose"  # the activation lands; the caller never hears of it
    with pytest.raises(TransactionTimeoutError):
        agent.activate(market.customer, DB, 600)
    flaky.always.clear()

    again = granted(agent.activate(market.customer, DB, 600))  # the caller's own retry, with no id

    assert again.replayed and again.started_at is not None
    assert _request_ids(flaky.raw_sends()) == [again.request_id] * 2
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1
    # Resolved: the next call is a new activation, and so is one with another intent meanwhile.
    assert granted(agent.activate(market.customer, DB, 600)).request_id != again.request_id
    assert agent.usage(market.customer, market.timeframe, DB).activations == 2


def test_calling_activate_again_after_a_send_that_never_arrived_decides_it_once(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors, timeout_retries=0)
    agent.sender.attempts = 2
    flaky.plan["eth_sendRawTransaction"] = ["refuse", "refuse"]  # never reaches the node
    with pytest.raises(RpcUnavailableError):
        agent.activate(market.customer, DB, 600)

    again = granted(agent.activate(market.customer, DB, 600))

    assert not again.replayed
    assert len(set(_request_ids(flaky.raw_sends()))) == 1
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1


def test_another_intent_is_a_new_activation_while_one_is_unresolved(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    agent, flaky = _slow_agent(node, meter, actors, timeout_retries=0)
    flaky.always["eth_getTransactionReceipt"] = "lose"
    with pytest.raises(TransactionTimeoutError):
        agent.activate(market.customer, WEB, 600, intent="job-1")
    flaky.always.clear()

    second = granted(agent.activate(market.customer, WEB, 600, intent="job-2"))
    first = granted(agent.activate(market.customer, WEB, 600, intent="job-1"))

    assert not second.replayed and first.replayed and first.request_id != second.request_id
    assert agent.usage(market.customer, market.timeframe, WEB).activations == 2


def test_the_seat_of_a_lost_request_stays_reserved_so_its_retry_replays(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, chain: Chain
) -> None:
    """The lost request landed with a short lease; once that lease has run out, a new activation must not take its
    seat's next generation, or the caller's retry with its id would revert MeteringUnexpectedGeneration."""
    agent, flaky = _slow_agent(node, meter, actors, timeout_retries=0)
    chosen = agent.next_request_id()
    flaky.always["eth_getTransactionReceipt"] = "lose"
    with pytest.raises(TransactionTimeoutError):
        agent.activate(market.customer, WEB, 5, request_id=chosen)
    flaky.always.clear()
    chain.advance(60)  # the lost request's lease has run out on chain

    others = [granted(agent.activate(market.customer2, WEB, 600)) for _ in range(2)]  # the 1st shows the clock
    retry = granted(agent.activate(market.customer, WEB, 5, request_id=chosen))

    assert all(o.request_id >> 8 != chosen >> 8 for o in others)  # other seats
    assert retry.replayed and retry.request_id == chosen


# ---------------------------------------------------------------------- expired, seat reused


def test_closing_or_renewing_an_expired_instance_whose_seat_was_reused_returns_the_expiry(
    w3: Web3, meter: Contract, node: LocalNode, provider: Provider, chain: Chain, market: Market
) -> None:
    agents = []
    for _ in range(8):
        account = Account.create()
        node.rpc("anvil_setBalance", account.address, hex(10**20))
        agents.append(Agent(w3, meter.address, account))
    provider.grant_agents([a.sender.address for a in agents])
    old = [granted(a.activate(market.customer, WEB, 10)) for a in agents]
    chain.advance(30)
    for a in agents:
        granted(a.activate(market.customer2, WEB, 600))  # the agents learn the clock has passed the old leases
    reused = [granted(a.activate(market.customer2, WEB, 600)) for a in agents]
    assert [r.request_id for r in reused] == [o.request_id + 1 for o in old]  # each old seat's next generation

    for k, (agent, first) in enumerate(zip(agents, old, strict=True)):
        if k % 2 == 0:
            closed = agent.deactivate(first.instance_id)
            assert isinstance(closed, Expired), closed
            assert (closed.instance_id, closed.lease_end) == (first.instance_id, first.lease_end)
        else:
            renewal = agent.renew(first.instance_id, 600)
            assert isinstance(renewal, RenewalDenied), renewal
            assert (renewal.reason, renewal.expired_at) == (DenialReason.LEASE_EXPIRED, first.lease_end)
    # Nothing changed for the instances that hold the seats now.
    assert all(agent.instance(r.instance_id).lease_end == r.lease_end for agent, r in zip(agents, reused, strict=True))
