"""How an agent chooses request ids: the next generation of a seat whose instance has ended, never one in use.

The first half drives :class:`SeatAllocator` against a fake chain (a dict of seat records), to reach states that
are slow to build on chain; the second half checks the same rules through :class:`Agent` against anvil.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering._utils.client import SeatRecord
from metering.agent import ActivationRequest, Agent, Continued, Deactivated, SeatAllocator
from metering.contract import DenialReason, InstanceStatus
from metering.errors import ConfigError
from metering.provider import Provider
from metering.types import MAX_GENERATION, request_id

from .conftest import DB, DB_RULES, WEB, Market, denied, granted

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain

AGENT = "0x" + "aa" * 20


class FakeChain:
    """The two reads the allocator makes: the chain's time and one seat's record (unused seats read as zero)."""

    def __init__(self, now: int = 1_000) -> None:
        self.now = now
        self.records: dict[int, SeatRecord] = {}
        self.reads: list[int] = []

    def chain_time(self) -> int:
        return self.now

    def seat(self, agent: str, seat: int) -> SeatRecord:
        self.reads.append(seat)
        return self.records.get(seat, SeatRecord(seat, 0, InstanceStatus.UNKNOWN, 0))

    def set(self, seat: int, generation: int, status: InstanceStatus, lease_end: int = 0) -> None:
        self.records[seat] = SeatRecord(seat, generation, status, lease_end)


def _allocator(chain: FakeChain) -> SeatAllocator:
    fake: Any = chain
    return SeatAllocator(fake, AGENT)


def _rid(seat: int, generation: int) -> int:
    return request_id(seat, generation)


# ---------------------------------------------------------------------- the allocator alone


def test_requests_in_flight_get_distinct_seats() -> None:
    seats = _allocator(FakeChain())
    assert [seats.next() for _ in range(3)] == [_rid(0, 1), _rid(1, 1), _rid(2, 1)]


def test_a_released_seat_is_reused_with_its_next_generation() -> None:
    seats = _allocator(FakeChain())
    first = seats.next()
    seats.released(first)  # denied, deactivated or expired

    assert seats.next() == _rid(0, 2)


def test_a_granted_seat_is_free_again_once_the_chain_passed_its_lease_end() -> None:
    chain = FakeChain(now=1_000)
    seats = _allocator(chain)
    first = seats.next()
    seats.granted(first, lease_end=1_100, now=1_000)
    second = seats.next()
    assert second == _rid(1, 1)  # the lease on seat 0 still runs
    seats.granted(second, lease_end=5_000, now=1_100)  # a decision at the lease end of seat 0

    assert seats.next() == _rid(0, 2)


def test_a_renewed_lease_keeps_its_seat_past_its_first_lease_end() -> None:
    seats = _allocator(FakeChain(now=1_000))
    first = seats.next()
    seats.granted(first, lease_end=1_100, now=1_000)
    seats.granted(first, lease_end=1_500)  # renewed
    other = seats.next()
    seats.granted(other, lease_end=5_000, now=1_200)

    assert seats.next() >> 8 == 2  # neither seat 0 nor seat 1


def test_seats_are_read_from_the_chain_before_their_first_use() -> None:
    chain = FakeChain(now=1_000)
    chain.set(0, 5, InstanceStatus.CLOSED)
    chain.set(1, 3, InstanceStatus.OPEN, lease_end=2_000)  # a live lease: skipped
    chain.set(2, 9, InstanceStatus.OPEN, lease_end=900)  # ran out, never closed: reusable
    chain.set(3, 4, InstanceStatus.DENIED)
    seats = _allocator(chain)

    assert [seats.next() for _ in range(4)] == [_rid(0, 6), _rid(2, 10), _rid(3, 5), _rid(4, 1)]
    assert chain.reads == [0, 1, 2, 3, 4]  # each seat read once


def test_a_seat_at_the_last_generation_is_never_used_again() -> None:
    chain = FakeChain()
    chain.set(0, MAX_GENERATION, InstanceStatus.CLOSED)
    chain.set(1, MAX_GENERATION - 1, InstanceStatus.CLOSED)
    seats = _allocator(chain)

    last = seats.next()
    assert last == _rid(1, MAX_GENERATION)
    seats.released(last)

    assert seats.next() == _rid(2, 1)


def test_a_forgotten_request_does_not_hand_out_a_request_still_in_flight() -> None:
    """After an error the allocator re-reads seats from the chain; a seat whose request is still on its way reads
    as unused there, and must not be handed out a second time."""
    chain = FakeChain()
    seats = _allocator(chain)
    lost, in_flight = seats.next(), seats.next()
    seats.forget(lost)

    again = [seats.next(), seats.next()]

    assert in_flight not in again
    assert len(set(again)) == 2


def test_threads_never_hold_the_same_request_id_at_once() -> None:
    seats = _allocator(FakeChain())
    held: set[int] = set()
    clashes: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for n in range(300):
            rid = seats.next()
            with lock:
                if rid in held:
                    clashes.append(rid)
                held.add(rid)
            with lock:
                held.discard(rid)
            if n % 2:
                seats.released(rid)
            else:
                seats.granted(rid, lease_end=10**9, now=1_000)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert clashes == []


# ---------------------------------------------------------------------- through the agent, on chain


def test_an_ended_instance_frees_its_seat_for_the_next_generation(agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    agent.deactivate(first.instance_id)
    refused = denied(agent.activate(market.stranger, DB, 600))

    after = granted(agent.activate(market.customer, DB, 600))

    assert (first.request_id, refused.request_id, after.request_id) == (_rid(0, 1), _rid(0, 2), _rid(0, 3))
    assert agent.instance(first.instance_id).status == InstanceStatus.UNKNOWN  # its history is in the events


def test_a_restarted_agent_reads_its_seats_and_never_reuses_a_generation(
    w3: Web3, meter: Contract, actors: Actors, agent: Agent, market: Market, chain: Chain
) -> None:
    live = granted(agent.activate(market.customer, WEB, 3000))  # seat 0: still running
    stopped = granted(agent.activate(market.customer, WEB, 3000))  # seat 1: deactivated
    ran_out = granted(agent.activate(market.customer, WEB, 60))  # seat 2: its lease runs out, nobody closes it
    closed = agent.deactivate(stopped.instance_id)
    assert isinstance(closed, Deactivated) and stopped.started_at is not None
    chain.advance(100)
    restarted = Agent(w3, meter.address, actors.agent)

    results = [granted(restarted.activate(market.customer2, WEB, 600)) for _ in range(3)]

    assert [r.request_id for r in results] == [_rid(1, 2), _rid(2, 2), _rid(3, 1)]
    assert not any(r.replayed for r in results)
    assert restarted.instance(live.instance_id).status == InstanceStatus.OPEN
    assert restarted.instance(ran_out.instance_id).status == InstanceStatus.UNKNOWN  # closed as expired, moved on
    assert restarted.usage(market.customer, market.timeframe, WEB).leased_seconds == (
        3000 + 60 + closed.stopped_at - stopped.started_at  # the lease that ran out counts its seconds, no more
    )


def test_a_seat_used_up_to_the_last_generation_is_skipped(
    w3: Web3, meter: Contract, actors: Actors, agent: Agent, market: Market
) -> None:
    # 255 requests on seat 0, each denied, in one transaction: each is the next generation of the one before.
    requests = [ActivationRequest(market.stranger, DB, 60, _rid(0, g)) for g in range(1, MAX_GENERATION + 1)]
    results = agent.activate_many(requests)
    assert [denied(r).reason for r in results] == [DenialReason.CUSTOMER_NOT_ENROLLED] * MAX_GENERATION
    assert agent.seat(actors.agent.address, 0).generation == MAX_GENERATION

    assert granted(agent.activate(market.customer, DB, 60)).request_id == _rid(1, 1)
    restarted = Agent(w3, meter.address, actors.agent)
    assert restarted.next_request_id() == _rid(2, 1)  # seat 0 used up, seat 1 running
    with pytest.raises(ConfigError, match="generation 0"):
        agent.activate(market.customer, DB, 60, request_id=_rid(0, MAX_GENERATION) + 1)


def test_threads_sharing_an_agent_get_distinct_instances(agent: Agent, market: Market) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(5):
                result = agent.activate(market.customer2, WEB, 600)
                with lock:
                    results.append(result)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len({granted(r).instance_id for r in results}) == 20
    assert not any(r.replayed for r in results)
    assert agent.usage(market.customer2, market.timeframe, WEB).activations == 20


def test_a_lease_waiting_at_its_timeframe_end_keeps_its_seat_for_the_continuation(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = provider.create_timeframe(market.end, market.end + 3600, "EUR")
    provider.set_rules(nxt, DB, DB_RULES)
    chain.set_next_timestamp(market.end - 100)
    waiting = granted(agent.activate(market.customer, DB, 600))
    assert waiting.lease_end == market.end
    chain.set_next_timestamp(market.end + 5)
    granted(agent.activate(market.customer2, DB, 600))  # the allocator now knows the chain passed market.end

    later = granted(agent.activate(market.customer2, DB, 600))
    continued = agent.renew(waiting.instance_id, 600)  # e.g. the lease keeper, a moment later

    assert later.request_id != waiting.request_id + 1  # its seat was not taken
    assert isinstance(continued, Continued) and continued.instance_id == waiting.instance_id


def test_a_held_seat_is_freed_once_its_lease_is_expired_through_the_agent(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = provider.create_timeframe(market.end, market.end + 3600, "EUR")
    provider.set_rules(nxt, DB, DB_RULES)
    chain.set_next_timestamp(market.end - 100)
    waiting = granted(agent.activate(market.customer, DB, 600))
    grace = agent.contract.functions.CONTINUATION_GRACE_SECONDS().call()
    chain.mine(market.end + grace + 5)  # within the grace its holder may still continue it: nobody may expire it

    assert agent.expire([waiting.instance_id]) == 1  # nobody continued it

    assert granted(agent.activate(market.customer, DB, 600)).request_id == waiting.request_id + 1


def test_threads_asking_a_new_agent_at_once_share_one_allocator(
    w3: Web3, meter: Contract, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import metering.agent.agent

    class SlowToBuild(SeatAllocator):
        def __init__(self, *args: Any) -> None:
            time.sleep(0.05)  # widens the window in which a second thread could build its own
            super().__init__(*args)

    monkeypatch.setattr(metering.agent.agent, "SeatAllocator", SlowToBuild)
    agent = Agent(w3, meter.address, actors.agent)
    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(agent.next_request_id())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ids) == [_rid(seat, 1) for seat in range(4)]
