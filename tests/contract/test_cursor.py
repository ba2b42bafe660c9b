"""The active-timeframe cursor: ended timeframes are walked past once in the contract's life, never again.

So the gas of an activation does not grow with the number of timeframes that have ended, also when every one of
them has ended. The test measures receipts' ``gasUsed`` after 1 and after 500 one-second timeframes.
"""

from __future__ import annotations

from typing import Any

from metering.contract import DenialReason
from metering.types import Rules

from .helpers import EUR, HARD, Harness, rid

ATTEMPTS = 3
CHUNK = 200  # createTimeframe transactions per mined block (500 of them would pass anvil's 30M block gas limit)


def _create_timeframes_in_bulk(h: Harness, first_start: int, count: int) -> None:
    """``count`` one-second timeframes from ``first_start`` on, sent with automine off and mined in a few blocks."""
    node = h.chain.node
    node.rpc("evm_setAutomine", False)
    try:
        sent = 0
        while sent < count:
            for i in range(sent, min(count, sent + CHUNK)):
                data = h.meter.encode_abi("createTimeframe", args=[first_start + i, first_start + i + 1, EUR])
                tx = {"from": h.admin.address, "to": h.meter.address, "data": data, "gas": hex(200_000)}
                node.rpc("eth_sendTransaction", tx)
            sent = min(count, sent + CHUNK)
            h.chain.mine(h.chain.now() + 1)
    finally:
        node.rpc("evm_setAutomine", True)
    assert h.fn.timeframeCount().call() == count


def _gas_of_attempts(h: Harness, customer: Any, first_seat: int, at: int, granted: bool) -> list[int]:
    gas = []
    for k in range(ATTEMPTS):
        decision, receipt = h.activate(customer, HARD, rid(first_seat + k), 100, at=at + k)
        assert decision[0] is granted, decision
        if not granted:
            assert decision[1] == DenialReason.NO_ACTIVE_TIMEFRAME
        gas.append(int(receipt["gasUsed"]))
    return gas


def _scenario(h: Harness, customer: Any, ended: int) -> tuple[list[int], list[int]]:
    """Gas of activation attempts once ``ended`` timeframes have all ended, then once a new one is active."""
    t = h.chain.now() + 10
    _create_timeframes_in_bulk(h, t, ended)
    all_ended = _gas_of_attempts(h, customer, 1, t + 600, granted=False)
    active = h.create_timeframe(t + 700, t + 5000)
    h.set_rules(active.id, HARD, Rules())
    with_active = _gas_of_attempts(h, customer, 10, t + 700, granted=True)
    return all_ended, with_active


def test_activation_gas_stays_flat_after_500_ended_timeframes_also_when_all_have_ended(
    h: Harness, customers: Any
) -> None:
    c = customers[0]
    h.enroll(c)
    snapshot = h.chain.snapshot()
    one = _scenario(h, c, 1)
    h.chain.revert(snapshot)
    many = _scenario(h, c, 500)

    one_all_ended, one_active = one
    many_all_ended, many_active = many
    # The first attempt after they ended walks past them, once; every later attempt costs what it costs with one.
    assert many_all_ended[0] > one_all_ended[0]
    assert many_all_ended[1:] == one_all_ended[1:]
    assert many_all_ended[1] == many_all_ended[2]  # the walk is not repeated while no timeframe is active
    # A new timeframe after them: the cursor moves one step, so every attempt costs the same as after one.
    assert many_active == one_active
