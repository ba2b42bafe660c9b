"""Helpers for the Meter contract tests: sending at an exact second, decoding events and custom errors.

Every helper talks to the session's anvil through web3.py. Times are block timestamps: ``at=t`` makes the next
mined block (the transaction's) carry exactly ``t``, and calls made with ``at=t`` run against the pending block, so
they see that same second; that is how a test reads a function's return value for the transaction it sends next.

Request ids are an agent's ``seat << 8 | generation`` (:func:`rid`); the instance id of a request names the agent
that sent it (:meth:`Harness.iid`), so the same request id from two agents is two instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from metering.contract import InstanceStatus, currency_to_bytes
from metering.types import Rules, instance_id, request_id

HARD = 1  # the instance type the fixtures configure with hard limits
SOFT = 2  # the instance type the fixtures configure with soft limits
UNCONFIGURED = 9  # an instance type that never gets rules
EUR = currency_to_bytes("EUR")
USD = currency_to_bytes("USD")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
NO_SEAT = 255  # Instance.seat of an instance that holds no concurrency seat
GAS = 15_000_000  # explicit gas for sends the test expects to succeed (a full batch of 256 needs ~9M)


def rid(seat: int, generation: int = 1) -> int:
    """The request id of ``generation`` on an agent's ``seat`` (a fresh seat starts at generation 1)."""
    return request_id(seat, generation)


@dataclass(frozen=True)
class Tf:
    """A timeframe created by a test: its id and ``[start, end)``."""

    id: int
    start: int
    end: int


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]
    log_index: int


@dataclass(frozen=True)
class UsageView:
    activations: int
    overage_activations: int
    leased_seconds: int
    running: int


@dataclass(frozen=True)
class InstanceView:
    customer: str
    lease_end: int
    timeframe: int
    instance_type: int
    status: InstanceStatus
    reason: int
    seat: int


@dataclass(frozen=True)
class AccountView:
    status: int
    restricted: bool
    spending_cap: int
    spent_timeframe: int
    spent: int
    cap_currency: bytes
    revoked_any: bool


@dataclass(frozen=True)
class SeatView:
    generation: int
    status: InstanceStatus
    lease_end: int


class Harness:
    """The deployed Meter plus the test node's clock, with one method per thing a test does."""

    def __init__(self, w3: Web3, meter: Contract, chain: Any, actors: Any) -> None:
        self.w3 = w3
        self.meter = meter
        self.chain = chain
        self.actors = actors
        self.admin = actors.admin
        self.agent = actors.agent
        self.agent2 = actors.agent2
        self.outsider = actors.outsider
        self.fn = meter.functions
        self._events_by_topic: dict[bytes, str] = {}
        for entry in meter.abi:
            if entry["type"] == "event":
                signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
                self._events_by_topic[keccak(text=signature)] = entry["name"]
        self._errors: dict[str, list[str]] = {
            e["name"]: [_abi_type(i) for i in e["inputs"]] for e in meter.abi if e["type"] == "error"
        }

    # ------------------------------------------------------------------ transport

    def _at(self, at: int | None) -> int:
        """Pin the next block's timestamp: ``at``, or one second after the latest block (deterministic tests)."""
        if at is None:
            at = self.chain.now() + 1
        self.chain.set_next_timestamp(at)
        return at

    def send(self, fn: Any, sender: Any = None, at: int | None = None) -> Any:
        """Mine ``fn`` as a transaction (at second ``at`` if given); assert it succeeded; return the receipt."""
        at = self._at(at)
        sender = sender or self.agent
        tx_hash = fn.transact({"from": sender.address, "gas": GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"transaction reverted: {fn.fn_name}"
        assert self.block_time(receipt) == at
        return receipt

    def call(self, fn: Any, sender: Any = None, at: int | None = None) -> Any:
        """What ``fn`` returns when mined next (at second ``at`` if given), without sending it."""
        self._at(at)
        sender = sender or self.agent
        return fn.call({"from": sender.address}, block_identifier="pending")

    def call_and_send(self, fn: Any, sender: Any = None, at: int | None = None) -> tuple[Any, Any]:
        """The return value ``fn`` will have, then the receipt of sending it in the same second."""
        at = self._at(at)
        value = self.call(fn, sender, at)
        return value, self.send(fn, sender, at)

    def block_time(self, receipt: Any) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def error_data(self, name: str, *args: Any) -> str:
        """The revert data of custom error ``name(args)``: 4-byte selector then the ABI-encoded arguments."""
        types = self._errors[name]
        selector = keccak(text=f"{name}({','.join(types)})")[:4]
        return "0x" + (selector + encode(types, list(args))).hex()

    def assert_reverts(self, fn: Any, sender: Any, name: str, *args: Any, at: int | None = None) -> None:
        """Sending ``fn`` from ``sender`` (at second ``at``) fails with exactly the custom error ``name(args)``.

        The revert data is read from a call against the pending block (what a wallet's pre-flight sees); then the
        transaction is mined anyway, with fixed gas, to prove it fails on chain in that very second.
        """
        at = self._at(at)
        try:
            fn.call({"from": sender.address}, block_identifier="pending")
        except ContractCustomError as exc:
            assert exc.data == self.error_data(name, *args), f"expected {name}{args}, got {exc.data}"
        else:
            raise AssertionError(f"{fn.fn_name} did not revert; expected {name}{args}")
        tx_hash = fn.transact({"from": sender.address, "gas": GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 0, f"{fn.fn_name} succeeded on chain"
        assert self.block_time(receipt) == at
        assert receipt["logs"] == []

    # ------------------------------------------------------------------ events

    def _decode(self, log: Any) -> Event:
        event_name = self._events_by_topic[bytes(log["topics"][0])]
        decoded = self.meter.events[event_name]().process_log(log)
        args = {k: _plain(v) for k, v in decoded["args"].items()}
        return Event(event_name, args, int(log["logIndex"]))

    def events(self, receipt: Any, name: str | None = None) -> list[Event]:
        """The Meter's events in ``receipt``, in log order, optionally only those called ``name``."""
        found = [self._decode(log) for log in receipt["logs"] if log["address"] == self.meter.address]
        return [e for e in found if name is None or e.name == name]

    def names(self, receipt: Any) -> list[str]:
        return [e.name for e in self.events(receipt)]

    def only_event(self, receipt: Any, name: str) -> dict[str, Any]:
        """The arguments of the one event in ``receipt``, which must be called ``name``."""
        events = self.events(receipt)
        assert [e.name for e in events] == [name], f"expected exactly one {name}, got {[e.name for e in events]}"
        return events[0].args

    def logs_since(self, block: int) -> list[Event]:
        """Every Meter event mined after ``block``, in chain order."""
        latest = self.w3.eth.block_number
        if latest <= block:
            return []
        logs = self.w3.eth.get_logs({"address": self.meter.address, "fromBlock": block + 1, "toBlock": latest})
        return [self._decode(log) for log in logs]

    # ------------------------------------------------------------------ ids and views

    def iid(self, request: int, agent: Any = None) -> bytes:
        """The instance id of ``agent``'s (default: the first agent's) request ``request``."""
        return instance_id(_address(agent or self.agent), request)

    def usage(self, customer: Any, tf: int, instance_type: int) -> UsageView:
        return UsageView(*self.fn.usage(_address(customer), tf, instance_type).call())

    def instance(self, instance: bytes) -> InstanceView:
        customer, lease_end, tf, itype, status, reason, seat = self.fn.instance(instance).call()
        return InstanceView(customer, lease_end, tf, itype, InstanceStatus(status), reason, seat)

    def seat(self, seat: int, agent: Any = None) -> SeatView:
        generation, status, lease_end = self.fn.seat(_address(agent or self.agent), seat).call()
        return SeatView(generation, InstanceStatus(status), lease_end)

    def account(self, customer: Any) -> AccountView:
        return AccountView(*self.fn.customerAccount(_address(customer)).call())

    def spent(self, customer: Any, tf: int) -> int:
        return int(self.fn.spent(_address(customer), tf).call())

    # ------------------------------------------------------------------ provider

    def create_timeframe(self, start: int, end: int, at: int | None = None, currency: bytes = EUR) -> Tf:
        receipt = self.send(self.fn.createTimeframe(start, end, currency), self.admin, at)
        created = self.only_event(receipt, "TimeframeCreated")
        assert (created["start"], created["end"], created["currency"]) == (start, end, currency)
        return Tf(created["timeframe"], start, end)

    def set_rules(self, tf: int, instance_type: int, rules: Rules, at: int | None = None) -> Any:
        return self.send(self.fn.setRules(tf, instance_type, rules.as_tuple()), self.admin, at)

    def enroll(self, *customers: Any) -> None:
        for customer in customers:
            self.send(self.fn.enrollCustomer(_address(customer)), self.admin)

    def suspend(self, customer: Any, at: int | None = None) -> Any:
        return self.send(self.fn.suspendCustomer(_address(customer)), self.admin, at)

    def close(self, instance: bytes, at: int | None = None, sender: Any = None) -> Any:
        """``closeInstance`` by the provider (the admin holds the rules manager role)."""
        return self.send(self.fn.closeInstance(instance), sender or self.admin, at)

    # ------------------------------------------------------------------ customers

    def approve(self, customer: Any, agent: Any, at: int | None = None) -> Any:
        return self.send(self.fn.approveAgent(_address(agent)), customer, at)

    def revoke(self, customer: Any, agent: Any, at: int | None = None) -> Any:
        return self.send(self.fn.revokeAgent(_address(agent)), customer, at)

    def restrict(self, customer: Any, restricted: bool, at: int | None = None) -> Any:
        return self.send(self.fn.setAgentRestriction(restricted), customer, at)

    def set_cap(self, customer: Any, cap: int, at: int | None = None, currency: bytes = b"EUR") -> Any:
        """``setSpendingCap`` in ``currency`` (EUR unless said: the timeframes of these tests are in EUR)."""
        return self.send(self.fn.setSpendingCap(cap, currency.ljust(8, b"\0")), customer, at)

    def stop(self, customer: Any, instance: bytes, at: int | None = None) -> Any:
        """``stopInstance`` by the customer an instance is billed to."""
        return self.send(self.fn.stopInstance(instance), customer, at)

    # ------------------------------------------------------------------ agent

    def activate(
        self, customer: Any, instance_type: int, request: int, lease: int, at: int | None = None, sender: Any = None
    ) -> tuple[tuple[bool, int], Any]:
        """``requestActivation``: its returned decision ``(granted, reason)`` and the receipt."""
        fn = self.fn.requestActivation(_address(customer), instance_type, request, lease)
        decision, receipt = self.call_and_send(fn, sender, at)
        return (bool(decision[0]), int(decision[1])), receipt

    def activate_many(
        self, requests: Sequence[tuple[Any, int, int, int]], at: int | None = None, sender: Any = None
    ) -> tuple[list[tuple[bool, int]], Any]:
        fn = self.fn.requestActivations([(_address(c), t, r, s) for c, t, r, s in requests])
        decisions, receipt = self.call_and_send(fn, sender, at)
        return [(bool(g), int(r)) for g, r in decisions], receipt

    def renew(
        self, instance: bytes, lease: int, at: int | None = None, sender: Any = None
    ) -> tuple[tuple[bool, int, int], Any]:
        """``renewLease``: ``(granted, reason, leaseEnd)`` as returned, and the receipt."""
        value, receipt = self.call_and_send(self.fn.renewLease(instance, lease), sender, at)
        (granted, reason), lease_end = value
        return (bool(granted), int(reason), int(lease_end)), receipt

    def deactivate(self, instance: bytes, at: int | None = None, sender: Any = None) -> Any:
        return self.send(self.fn.deactivate(instance), sender or self.agent, at)

    def expire(self, ids: Iterable[bytes], at: int | None = None, sender: Any = None) -> tuple[int, Any]:
        closed, receipt = self.call_and_send(self.fn.expireLeases(list(ids)), sender or self.outsider, at)
        return int(closed), receipt


def _address(who: Any) -> str:
    return who if isinstance(who, str) else str(who.address)


def _plain(value: Any) -> Any:
    """Event arguments as plain values (a struct argument decodes to a tuple, like the ABI's ``as_tuple``)."""
    if isinstance(value, Mapping):
        return tuple(_plain(v) for v in value.values())
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def _abi_type(param: dict[str, Any]) -> str:
    """The canonical ABI type of a parameter, expanding tuples (for signatures and encoding)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind
