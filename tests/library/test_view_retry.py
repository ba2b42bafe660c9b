"""View calls (``eth_call``) and the chain reads around them are retried like sends: a dropped connection or a
503 from the node is tried again, and what a caller finally sees is :class:`RpcUnavailableError`, never a raw
``requests`` exception. The flaky node is test_sender's FlakyProvider (refusals are not forwarded to anvil)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import requests
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Granted
from metering.chain.node import LocalNode
from metering.chain.sender import TransactionSender
from metering.errors import RpcUnavailableError

from .conftest import DB, Market
from .test_sender import FlakyProvider

if TYPE_CHECKING:
    from tests.conftest import Actors


@pytest.fixture
def flaky(node: LocalNode, meter: Contract) -> FlakyProvider:
    return FlakyProvider(node.rpc_url)


@pytest.fixture
def flaky_w3(flaky: FlakyProvider) -> Web3:
    return Web3(flaky)


def _calls(flaky: FlakyProvider, method: str) -> int:
    return sum(1 for m, _ in flaky.calls if m == method)


def _fast_agent(w3: Web3, meter: Contract, actors: Actors) -> Agent:
    return Agent(w3, meter.address, actors.agent,
                 sender=TransactionSender(w3, actors.agent, backoff=0.01, poll_interval=0.02, receipt_timeout=10.0))


def test_a_view_call_is_retried_after_dropped_connections_and_a_503(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = _fast_agent(flaky_w3, meter, actors)
    flaky.plan["eth_call"] = ["refuse", "503", "refuse"]
    usage = agent.usage(market.customer, market.timeframe, DB)
    assert usage.running == 0
    assert _calls(flaky, "eth_call") == 4


def test_a_read_only_client_retries_view_calls_too(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, market: Market
) -> None:
    reader = Agent(flaky_w3, meter.address, None)
    flaky.plan["eth_call"] = ["refuse"]
    assert reader.timeframe(market.timeframe).start == market.start


def test_a_node_that_never_answers_a_view_call_gives_rpc_unavailable_not_a_requests_error(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = _fast_agent(flaky_w3, meter, actors)
    flaky.always["eth_call"] = "refuse"
    with pytest.raises(RpcUnavailableError, match="eth_call usage after 5 attempts") as raised:
        agent.usage(market.customer, market.timeframe, DB)
    assert not isinstance(raised.value, requests.exceptions.RequestException)
    assert _calls(flaky, "eth_call") == 5


def test_activate_replaying_a_request_survives_a_flaky_view_call(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors, market: Market
) -> None:
    agent = _fast_agent(flaky_w3, meter, actors)
    first = agent.activate(market.customer, DB, 600)
    assert isinstance(first, Granted)
    flaky.plan["eth_call"] = ["refuse", "refuse"]
    flaky.plan["eth_getBlockByNumber"] = ["refuse"]
    again = agent.activate(market.customer, DB, 600, request_id=first.request_id)
    assert again.replayed and again.request_id == first.request_id


def test_building_a_client_and_reading_the_chain_time_are_retried(
    flaky: FlakyProvider, flaky_w3: Web3, meter: Contract, actors: Actors, market: Market
) -> None:
    flaky.plan["eth_getCode"] = ["refuse", "503"]
    flaky.plan["eth_getBlockByNumber"] = ["refuse"]
    agent = Agent(flaky_w3, meter.address, None)
    assert agent.chain_time() >= market.start
