"""Fixtures of the library tests: a Provider and an Agent on the session's Meter, and a running timeframe.

Every fixture here builds on the function-scoped ``meter`` fixture, so each test starts from the same chain state
(snapshot and revert) and builds its own senders (their nonces are read from the chain as it is after the revert).
Prices are micro-units (millionths of the minor unit): 50,000,000 is EUR 0.50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Denied, Granted
from metering.contract import LimitMode
from metering.customer import Customer
from metering.provider import Provider
from metering.types import Rules

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain

#: Instance types used by the tests.
DB = 1  # hard limits: 2 concurrent, 3 activations
WEB = 2  # soft limits: 1 concurrent

DB_RULES = Rules(
    price_per_activation=50_000_000,  # EUR 0.50 per start beyond the first
    price_per_time_unit=12_000_000,  # EUR 0.12 per hour beyond the first minute
    time_unit_seconds=3600,
    included_activations=1,
    included_seconds=60,
    max_concurrent=2,
    max_activations=3,
    mode=LimitMode.HARD,
)
WEB_RULES = Rules(price_per_time_unit=1_000_000, time_unit_seconds=1, max_concurrent=1, mode=LimitMode.SOFT)

TIMEFRAME_LENGTH = 3600


@dataclass(frozen=True)
class Market:
    """A timeframe in force with rules for DB and WEB, two enrolled customers and one never enrolled."""

    timeframe: int
    start: int
    end: int
    customer: str
    customer2: str
    stranger: str


@pytest.fixture
def provider(w3: Web3, meter: Contract, actors: Actors) -> Provider:
    return Provider(w3, meter.address, actors.admin)


@pytest.fixture
def agent(w3: Web3, meter: Contract, actors: Actors) -> Agent:
    return Agent(w3, meter.address, actors.agent)


@pytest.fixture
def agent2(w3: Web3, meter: Contract, actors: Actors) -> Agent:
    """A second agent holding AGENT_ROLE: its own seats, and no hold on the first agent's instances."""
    return Agent(w3, meter.address, actors.agent2)


@pytest.fixture
def me(w3: Web3, meter: Contract, actors: Actors) -> Customer:
    """The market's first customer, acting with its own key."""
    return Customer(w3, meter.address, actors.customers[0])


def open_timeframe(provider: Provider, chain: Chain, *, start_in: int = 100, length: int = TIMEFRAME_LENGTH) -> int:
    """Creates a timeframe starting ``start_in`` seconds after the chain's time, with the DB and WEB rules."""
    start = chain.now() + start_in
    timeframe = provider.create_timeframe(start, start + length, "EUR")
    provider.set_rules(timeframe, DB, DB_RULES)
    provider.set_rules(timeframe, WEB, WEB_RULES)
    return timeframe


@pytest.fixture
def market(provider: Provider, chain: Chain, actors: Actors) -> Market:
    timeframe = open_timeframe(provider, chain)
    customer, customer2, stranger = (c.address for c in actors.customers[:3])
    provider.enroll_customers([customer, customer2])
    tf = provider.timeframe(timeframe)
    chain.mine(tf.start)
    return Market(timeframe, tf.start, tf.end, customer, customer2, stranger)


def granted(result: Granted | Denied) -> Granted:
    assert isinstance(result, Granted), result
    return result


def denied(result: Granted | Denied) -> Denied:
    assert isinstance(result, Denied), result
    return result
