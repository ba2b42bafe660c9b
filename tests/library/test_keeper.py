"""The lease keeper renews by the chain's clock, follows continuations, reports denials, and stops cleanly."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from metering.agent import Agent, ContinuationDenied, Continued, Granted, RenewalDenied, Renewed
from metering.agent.keeper import KeeperError, KeeperEvent, LeaseKeeper
from metering.contract import DenialReason, InstanceStatus
from metering.provider import Provider

from .conftest import DB, DB_RULES, Market

if TYPE_CHECKING:
    from tests.conftest import Chain


def _grant(agent: Agent, market: Market, lease: int = 300) -> Granted:
    result = agent.activate(market.customer, DB, lease)
    assert isinstance(result, Granted)
    return result


def test_tick_renews_only_leases_that_are_due(agent: Agent, market: Market, chain: Chain) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=300, renew_before=100)
    granted = _grant(agent, market)
    keeper.track(granted)

    assert keeper.tick() == []  # 300 s left: not due
    chain.advance(250)  # 50 s left: due
    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], Renewed)
    assert events[0].lease_end == chain.now() + 300
    assert keeper.tracked() == {granted.instance_id: events[0].lease_end}
    assert keeper.tick() == []


def test_a_renewed_lease_outlives_its_first_expiry(agent: Agent, market: Market, chain: Chain) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=120)
    granted = _grant(agent, market, lease=120)
    keeper.track(granted)

    for _ in range(5):  # 5 x 90 s: far past the first lease end
        chain.advance(90)
        keeper.tick()

    assert agent.instance(granted.instance_id).status == InstanceStatus.OPEN
    assert agent.instance(granted.instance_id).lease_end > granted.lease_end + 300
    assert agent.expire([granted.instance_id]) == 0


def test_the_keeper_follows_a_continuation_into_the_next_timeframe(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = provider.create_timeframe(market.end, market.end + 3600, "EUR")
    provider.set_rules(nxt, DB, DB_RULES)
    chain.set_next_timestamp(market.end - 200)
    granted = _grant(agent, market)
    keeper = LeaseKeeper(agent, lease_seconds=300, renew_before=100)
    keeper.track(granted)

    assert granted.lease_end == market.end
    chain.mine(market.end - 50)
    first = keeper.tick()  # due, but the lease cannot pass its timeframe's end
    assert [type(e) for e in first] == [Renewed]
    assert keeper.tick() == []  # capped: no point renewing again before it ends
    chain.mine(market.end + 1)
    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], Continued)
    assert events[0].instance_id == granted.instance_id  # the same instance, now in the next timeframe
    assert keeper.tracked() == {granted.instance_id: events[0].lease_end}
    assert (events[0].timeframe, events[0].started_at) == (nxt, market.end)
    chain.mine(events[0].lease_end - 10)
    assert [type(e) for e in keeper.tick()] == [Renewed]  # and it keeps renewing it there


def test_denials_are_reported_and_untracked(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    seen: list[KeeperEvent] = []
    keeper = LeaseKeeper(agent, lease_seconds=300, renew_before=100, on_event=seen.append)
    granted = _grant(agent, market)
    keeper.track(granted)
    provider.suspend_customer(market.customer)
    chain.advance(250)

    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], RenewalDenied)
    assert events[0].reason == DenialReason.CUSTOMER_SUSPENDED
    assert seen == events == keeper.events
    assert keeper.tracked() == {}


def test_a_continuation_denial_is_reported(agent: Agent, market: Market, chain: Chain) -> None:
    chain.set_next_timestamp(market.end - 100)
    granted = _grant(agent, market)
    keeper = LeaseKeeper(agent, lease_seconds=300)
    keeper.track(granted)
    chain.mine(market.end + 1)

    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], ContinuationDenied)
    assert events[0].reason == DenialReason.NO_ACTIVE_TIMEFRAME
    assert keeper.tracked() == {}


def test_an_instance_closed_elsewhere_is_dropped_with_an_error_event(
    agent: Agent, market: Market, chain: Chain
) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=300)
    granted = _grant(agent, market)
    keeper.track(granted)
    agent.deactivate(granted.instance_id)
    chain.advance(250)

    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], KeeperError)
    assert events[0].dropped and "MeteringInstanceNotOpen" in str(events[0].error)
    assert keeper.tracked() == {}


def test_untrack_stops_renewals(agent: Agent, market: Market, chain: Chain) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=300)
    granted = _grant(agent, market)
    keeper.track(granted.instance_id, granted.lease_end)
    keeper.untrack(granted.instance_id)
    chain.advance(250)
    assert keeper.tick() == []


def test_the_background_thread_renews_and_stops_cleanly(agent: Agent, market: Market, chain: Chain) -> None:
    renewed = threading.Event()
    keeper = LeaseKeeper(
        agent, lease_seconds=300, renew_before=100, interval=0.02,
        on_event=lambda e: renewed.set() if isinstance(e, Renewed) else None,
    )
    granted = _grant(agent, market)
    with keeper:
        keeper.track(granted)
        assert keeper.running
        chain.advance(250)
        assert renewed.wait(10), keeper.events
    assert not keeper.running
    assert not any(t.name == "metering-lease-keeper" for t in threading.enumerate())
    keeper.stop()  # idempotent
    assert agent.instance(granted.instance_id).lease_end > granted.lease_end


def test_stop_is_prompt_and_a_stopped_keeper_can_start_again(agent: Agent) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=60, interval=30)
    keeper.start()
    started = time.monotonic()
    keeper.stop()
    assert time.monotonic() - started < 5
    assert not keeper.running
    keeper.start()
    assert keeper.running
    keeper.stop()
    assert not keeper.running


@pytest.mark.parametrize(("lease", "before"), [(0, None), (60, 0), (60, 61)])
def test_nonsensical_settings_are_refused(agent: Agent, lease: int, before: int | None) -> None:
    with pytest.raises(ValueError):
        LeaseKeeper(agent, lease_seconds=lease, renew_before=before)
