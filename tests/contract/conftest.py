"""Fixtures of the contract tests: a :class:`Harness` around the isolated ``meter``, and ready timeframes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.contract import LimitMode
from metering.types import Rules

from .helpers import EUR, HARD, SOFT, Harness, Tf

#: Limits small enough to reach in a few calls: 2 running at once, 3 activations per timeframe.
#: Prices in micro-units; time per second (``time_unit_seconds`` 1).
HARD_RULES = Rules(
    price_per_activation=100,
    price_per_time_unit=2,
    included_activations=1,
    included_seconds=60,
    max_concurrent=2,
    max_activations=3,
    mode=LimitMode.HARD,
)
SOFT_RULES = Rules(
    price_per_activation=50,
    price_per_time_unit=1,
    included_activations=0,
    included_seconds=0,
    max_concurrent=2,
    max_activations=3,
    mode=LimitMode.SOFT,
)
DEFAULT_RULES: Mapping[int, Rules] = {HARD: HARD_RULES, SOFT: SOFT_RULES}

SetupTimeframe = Callable[..., Tf]


@pytest.fixture
def h(w3: Web3, meter: Contract, chain: Any, actors: Any) -> Harness:
    return Harness(w3, meter, chain, actors)


@pytest.fixture
def customers(actors: Any) -> Sequence[Any]:
    return actors.customers


@pytest.fixture
def setup_timeframe(h: Harness, customers: Sequence[Any]) -> SetupTimeframe:
    """Create a timeframe with rules and enrolled customers; by default move the chain to its first second.

    ``setup_timeframe(start_in=100, length=1000, rules=DEFAULT_RULES, enroll=2, enter=True, currency=EUR)``: the
    timeframe starts ``start_in`` seconds after the latest block (or at ``start``); the first ``enroll`` customers
    are enrolled; with ``enter`` the latest block is mined at its start (the next transaction then runs in it).
    """

    def make(
        start_in: int = 100,
        length: int = 1000,
        rules: Mapping[int, Rules] | None = None,
        enroll: int = 2,
        enter: bool = True,
        start: int | None = None,
        currency: bytes = EUR,
    ) -> Tf:
        if start is None:
            start = h.chain.now() + start_in
        tf = h.create_timeframe(start, start + length, currency=currency)
        for instance_type, r in (DEFAULT_RULES if rules is None else rules).items():
            h.set_rules(tf.id, instance_type, r)
        for customer in customers[:enroll]:
            if h.fn.customerStatus(customer.address).call() != 1:
                h.enroll(customer)
        if enter:
            h.chain.mine(tf.start)
        return tf

    return make
