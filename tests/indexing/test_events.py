"""Decoding: every Meter event, from raw JSON-RPC logs and from web3's LogReceipts, agrees with web3's decoder."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from metering.audit.events import (
    EVENT_TYPES,
    ActivationDenied,
    ActivationGranted,
    ActivationReplayed,
    AgentRestrictionSet,
    DefaultCustomerCapSet,
    InstanceClosedByProvider,
    InstanceStoppedByCustomer,
    LeaseContinued,
    LeaseRenewalDenied,
    RulesSet,
    SpendingCapSet,
    TimeframeCreated,
    decode_log,
    decode_logs,
    event_to_dict,
    topic0,
)
from metering.contract import DenialReason, InstanceStatus, LimitMode, currency_from_bytes
from metering.types import Rules, rules_hash

from ._builders import ident
from .conftest import Driver

HARD = Rules(price_per_activation=10, price_per_time_unit=1, max_concurrent=1)
SOFT = Rules(price_per_activation=5, price_per_time_unit=2**47, time_unit_seconds=3_600, max_activations=1,
             mode=LimitMode.SOFT, price_per_continuation=7)


def every_event(driver: Driver) -> int:
    """Emit each of the 21 Meter events at least once; returns the first block."""
    first = driver.w3.eth.block_number + 1
    c0, c1 = driver.customers[:2]
    tf = driver.timeframe({1: HARD, 2: SOFT}, length=1_000)
    t = tf.start
    driver.activate(c0, 1, "a", 100, at=t + 1)
    driver.activate(c0, 1, "b", 100, at=t + 2)  # denied: one at a time
    driver.activate(c0, 1, "a", 100, at=t + 3)  # replayed
    driver.activate(c0, 2, "x", 50, at=t + 4)
    driver.activate(c0, 2, "y", 50, at=t + 5)  # soft quota: overage
    driver.renew("a", 300, at=t + 6)
    driver.deactivate("x", at=t + 7)
    driver.expire(["y"], at=t + 60)
    driver.activate(c1, 1, "s", 100, at=t + 61)
    driver.close("s", at=t + 62)  # by the provider
    driver.activate(c0, 2, "w", 100, at=t + 62)
    driver.stop(c0, "w", at=t + 62)  # by its customer (v3)
    driver.default_cap(500)  # v3
    driver.activate(c1, 2, "z", 100, at=t + 63)
    driver.suspend(c1)
    driver.renew("z", 100, at=t + 65)  # refused: suspended
    driver.approve(c0, driver.agent)  # and the restriction turns on
    driver.revoke(c0, driver.actors.agent2.address)
    driver.restrict(c0, False)
    driver.cap(c0, 10**9)
    driver.activate(c0, 2, "long", 5_000, at=t + 70)  # capped at the timeframe's end
    driver.timeframe({2: SOFT}, start=tf.end, enter=False)
    driver.renew("long", 100, at=tf.end + 1)  # expired at the end: continues into the next timeframe
    driver.anchor(c0, tf.id, ident("invoice"), 123)
    driver.correct(c0, tf.id, ident("invoice-2"), 124)
    return first


def raw_logs(w3: Web3, address: str, first: int) -> list[dict[str, Any]]:
    reply = w3.provider.make_request(RPCEndpoint("eth_getLogs"), [{"address": address, "fromBlock": hex(first)}])
    return list(reply["result"])


def test_every_event_decodes_like_web3_does(driver: Driver, meter: Contract, w3: Web3) -> None:
    first = every_event(driver)
    logs = w3.eth.get_logs({"address": meter.address, "fromBlock": first})
    decoded = [decode_log(log) for log in logs]
    assert {type(e) for e in decoded if e is not None} == set(EVENT_TYPES.values())
    for log, event in zip(logs, decoded, strict=True):
        assert event is not None
        theirs = getattr(meter.events, event.name)().process_log(log)
        assert event.block_number == theirs["blockNumber"]
        assert event.block_hash == bytes(theirs["blockHash"])
        assert event.tx_hash == bytes(theirs["transactionHash"])
        assert event.log_index == theirs["logIndex"]
        for name, value in theirs["args"].items():
            snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
            mine = getattr(event, snake)
            if name == "rules":
                assert mine == Rules.from_tuple(tuple(value.values()) if hasattr(value, "values") else value)
            elif name == "currency":
                assert mine == currency_from_bytes(value)
            elif isinstance(value, bytes):
                assert mine == bytes(value), name
            else:
                assert mine == value, name


def test_values_have_python_types(driver: Driver, meter: Contract, w3: Web3) -> None:
    first = every_event(driver)
    events = decode_logs(raw_logs(w3, meter.address, first))
    created = next(e for e in events if isinstance(e, TimeframeCreated))
    assert created.currency == "EUR"
    rules = [e for e in events if isinstance(e, RulesSet)]
    assert [r.rules for r in rules] == [HARD, SOFT, SOFT]
    assert all(r.rules_hash == rules_hash(r.timeframe, r.instance_type, r.rules) for r in rules)
    granted = [e for e in events if isinstance(e, ActivationGranted)]
    assert [g.instance_id for g in granted] == [ident(n) for n in ("a", "x", "y", "s", "w", "z", "long")]
    assert [g.overage for g in granted] == [False, False, True, False, True, False, True]
    assert granted[0].customer == driver.customers[0]
    assert granted[0].agent == driver.agent
    assert granted[0].lease_end - granted[0].started_at == 100
    continued = next(e for e in events if isinstance(e, LeaseContinued))
    assert (continued.instance_id, continued.timeframe) == (ident("long"), 2)
    assert continued.started_at == granted[6].lease_end  # billed from the next timeframe's start: no gap
    closed = next(e for e in events if isinstance(e, InstanceClosedByProvider))
    assert (closed.instance_id, closed.operator) == (ident("s"), driver.admin)
    capped = next(e for e in events if isinstance(e, SpendingCapSet))
    assert (capped.cap, capped.currency) == (10**9, "EUR")
    stopped = next(e for e in events if isinstance(e, InstanceStoppedByCustomer))
    assert (stopped.instance_id, stopped.customer, stopped.stopped_at) == (ident("w"), driver.customers[0],
                                                                           granted[4].started_at)
    default = next(e for e in events if isinstance(e, DefaultCustomerCapSet))
    assert (default.cap, default.currency) == (500, "EUR")
    assert [e.restricted for e in events if isinstance(e, AgentRestrictionSet)] == [True, False]
    denied = next(e for e in events if isinstance(e, ActivationDenied))
    assert denied.reason is DenialReason.CONCURRENCY_LIMIT_REACHED
    replayed = next(e for e in events if isinstance(e, ActivationReplayed))
    assert replayed.status is InstanceStatus.OPEN
    refused = next(e for e in events if isinstance(e, LeaseRenewalDenied))
    assert refused.reason is DenialReason.CUSTOMER_SUSPENDED


def test_raw_and_formatted_logs_decode_the_same(driver: Driver, meter: Contract, w3: Web3) -> None:
    first = every_event(driver)
    formatted = decode_logs(w3.eth.get_logs({"address": meter.address, "fromBlock": first}))
    assert decode_logs(raw_logs(w3, meter.address, first)) == formatted
    assert len(formatted) >= 19


def test_other_contracts_unknown_topics_and_removed_logs_are_skipped(
    driver: Driver, meter: Contract, w3: Web3
) -> None:
    first = every_event(driver)
    logs = raw_logs(w3, meter.address, first)
    role_granted = Web3.keccak(text="RoleGranted(bytes32,address,address)")
    unknown = {**logs[0], "topics": ["0x" + role_granted.hex(), *logs[0]["topics"][1:]]}
    elsewhere = {**logs[0], "address": "0x" + "11" * 20}
    removed = {**logs[0], "removed": True}
    assert decode_log(unknown) is None
    assert decode_log(removed) is None
    assert decode_log({**logs[0], "topics": []}) is None
    assert decode_logs([unknown, elsewhere, logs[0]], address=meter.address) == [decode_log(logs[0])]


def test_event_to_dict_keeps_big_integers_exact() -> None:
    event = RulesSet(
        block_number=1, block_hash=b"\x01" * 32, tx_hash=b"\x02" * 32, log_index=3,
        timeframe=1, instance_type=2, rules_hash=b"\x03" * 32, rules=SOFT,
    )
    data = event_to_dict(event)
    assert data["event"] == "RulesSet"
    assert data["price_per_time_unit"] == str(2**47)
    assert data["price_per_continuation"] == "7"
    assert data["mode"] == "SOFT"
    assert data["block_hash"] == "0x" + "01" * 32


def test_topic0_is_the_keccak_of_the_signature() -> None:
    assert topic0("CustomerEnrolled") == Web3.keccak(text="CustomerEnrolled(address)")
    with pytest.raises(KeyError):
        topic0("Transfer")
