"""Fixtures of the indexing tests: a driver that plays agent and provider on the session's Meter with raw web3.

Every transaction is sent from an unlocked anvil account with ``fn.transact``, at an exact block timestamp when
``at`` is given, so a test knows which second each lease starts and ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.audit.store import Store
from metering.contract import currency_to_bytes
from metering.types import Rules, Timeframe, Usage

from ._builders import ident, rid


class Driver:
    """Provider and agent actions on the Meter, one transaction (one block) each."""

    def __init__(self, w3: Web3, meter: Contract, chain: Any, actors: Any) -> None:
        self.w3 = w3
        self.meter = meter
        self.chain = chain
        self.actors = actors
        self.admin = actors.admin.address
        self.agent = actors.agent.address
        self.customers = [c.address for c in actors.customers]

    def send(self, fn: Any, sender: str, at: int | None = None) -> Any:
        if at is not None:
            self.chain.set_next_timestamp(at)
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
        assert receipt["status"] == 1
        return receipt

    def timeframe(
        self, rules: dict[int, Rules], *, starts_in: int = 100, length: int = 3_600, currency: str = "EUR",
        enroll: Sequence[str] | None = None, start: int | None = None, enter: bool = True,
    ) -> Timeframe:
        """Create a timeframe with these rules, enroll customers, and (``enter``) move the chain to its start."""
        start = self.chain.now() + starts_in if start is None else start
        end = start + length
        tf_id = self.meter.functions.timeframeCount().call() + 1
        self.send(self.meter.functions.createTimeframe(start, end, currency_to_bytes(currency)), self.admin)
        for kind, r in rules.items():
            self.send(self.meter.functions.setRules(tf_id, kind, r.as_tuple()), self.admin)
        for customer in self.customers[:2] if enroll is None else enroll:
            if self.meter.functions.customerStatus(customer).call() != 1:
                self.send(self.meter.functions.enrollCustomer(customer), self.admin)
        if enter:
            self.chain.mine(start)
        return Timeframe(id=tf_id, start=start, end=end, currency=currency)

    def activate(
        self, customer: str, kind: int, name: str, lease: int, at: int | None = None, *, generation: int = 1
    ) -> Any:
        """``requestActivation`` with the uint64 request id of ``name`` (its own seat) at ``generation``."""
        return self.send(
            self.meter.functions.requestActivation(customer, kind, rid(name, generation), lease), self.agent, at
        )

    def activate_many(self, requests: Sequence[tuple[str, int, str, int]], at: int | None = None) -> Any:
        batch = [(customer, kind, rid(name), lease) for customer, kind, name, lease in requests]
        return self.send(self.meter.functions.requestActivations(batch), self.agent, at)

    def renew(self, name: str, lease: int, at: int | None = None, *, generation: int = 1) -> Any:
        return self.send(self.meter.functions.renewLease(ident(name, generation), lease), self.agent, at)

    def deactivate(self, name: str, at: int | None = None, *, generation: int = 1) -> Any:
        return self.send(self.meter.functions.deactivate(ident(name, generation)), self.agent, at)

    def expire(self, names: Sequence[str], at: int | None = None) -> Any:
        """``expireLeases`` sent by an outsider: anyone may close expired leases."""
        return self.send(
            self.meter.functions.expireLeases([ident(n) for n in names]), self.actors.outsider.address, at
        )

    def close(self, name: str, at: int | None = None) -> Any:
        """The provider's ``closeInstance``."""
        return self.send(self.meter.functions.closeInstance(ident(name)), self.admin, at)

    def stop(self, customer: str, name: str, at: int | None = None) -> Any:
        """The customer's ``stopInstance`` (contract v3)."""
        return self.send(self.meter.functions.stopInstance(ident(name)), customer, at)

    def default_cap(self, minor_units: int) -> Any:
        """The provider's ``setDefaultCustomerCap`` in EUR (contract v3)."""
        return self.send(self.meter.functions.setDefaultCustomerCap(minor_units, b"EUR".ljust(8, b"\0")), self.admin)

    def suspend(self, customer: str) -> Any:
        return self.send(self.meter.functions.suspendCustomer(customer), self.admin)

    def approve(self, customer: str, agent: str) -> Any:
        return self.send(self.meter.functions.approveAgent(agent), customer)

    def revoke(self, customer: str, agent: str) -> Any:
        return self.send(self.meter.functions.revokeAgent(agent), customer)

    def restrict(self, customer: str, restricted: bool) -> Any:
        return self.send(self.meter.functions.setAgentRestriction(restricted), customer)

    def cap(self, customer: str, minor_units: int) -> Any:
        return self.send(self.meter.functions.setSpendingCap(minor_units, b"EUR".ljust(8, b"\0")), customer)

    def anchor(self, customer: str, timeframe: int, invoice_hash: bytes, total: int) -> Any:
        return self.send(self.meter.functions.anchorInvoice(customer, timeframe, invoice_hash, total), self.admin)

    def correct(self, customer: str, timeframe: int, invoice_hash: bytes, total: int) -> Any:
        return self.send(self.meter.functions.correctInvoice(customer, timeframe, invoice_hash, total), self.admin)

    def usage(self, customer: str, timeframe: int, kind: int) -> Usage:
        return Usage(*self.meter.functions.usage(customer, timeframe, kind).call())


@pytest.fixture
def driver(w3: Web3, meter: Contract, chain: Any, actors: Any) -> Driver:
    return Driver(w3, meter, chain, actors)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


@pytest.fixture
def store(store_path: Path, w3: Web3, meter: Contract) -> Iterator[Store]:
    with Store(store_path, chain_id=w3.eth.chain_id, contract=meter.address) as opened:
        yield opened
