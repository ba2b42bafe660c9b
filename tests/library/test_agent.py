"""The agent's calls, as an agent sees them: the decision the chain recorded, decoded into a result."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.agent import (
    MAX_BATCH,
    ActivationRequest,
    Agent,
    ContinuationDenied,
    Continued,
    Deactivated,
    Denied,
    Expired,
    RenewalDenied,
    Renewed,
)
from metering.contract import DenialReason, InstanceStatus
from metering.errors import ConfigError, ContractRevertError
from metering.provider import Provider
from metering.types import instance_id, request_id, split_instance_id

from .conftest import DB, DB_RULES, WEB, Market, denied, granted

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


def _next_timeframe(provider: Provider, market: Market, *, with_rules: bool = True) -> int:
    """A timeframe right after the market's (created and configured before the market's ends)."""
    timeframe = provider.create_timeframe(market.end, market.end + 3600, "EUR")
    if with_rules:
        provider.set_rules(timeframe, DB, DB_RULES)
    return timeframe


# ---------------------------------------------------------------------- activation


def test_a_grant_says_which_instance_runs_until_when(
    agent: Agent, market: Market, chain: Chain, actors: Actors
) -> None:
    chain.set_next_timestamp(market.start + 10)
    result = granted(agent.activate(market.customer, DB, 600))

    assert (result.customer, result.instance_type, result.timeframe) == (market.customer, DB, market.timeframe)
    assert (result.started_at, result.lease_end, result.overage) == (market.start + 10, market.start + 610, False)
    assert result.request_id == request_id(0, 1)  # a fresh agent's first seat, first generation
    assert result.instance_id == instance_id(actors.agent.address, result.request_id)
    assert split_instance_id(result.instance_id) == (actors.agent.address, 0, 1)
    assert not result.replayed
    record = agent.instance(result.instance_id)
    assert (record.status, record.lease_end) == (InstanceStatus.OPEN, result.lease_end)
    assert record.agent == actors.agent.address
    usage = agent.usage(market.customer, market.timeframe, DB)
    assert (usage.running, usage.activations, usage.leased_seconds) == (1, 1, 600)


@pytest.mark.parametrize(
    ("who", "instance_type", "reason"),
    [
        ("stranger", DB, DenialReason.CUSTOMER_NOT_ENROLLED),
        ("customer", 9, DenialReason.NO_RULES_FOR_TYPE),
    ],
)
def test_a_denial_is_a_result_with_its_reason(
    agent: Agent, market: Market, who: str, instance_type: int, reason: DenialReason
) -> None:
    customer = getattr(market, who)
    chosen = request_id(7, 1)

    result = denied(agent.activate(customer, instance_type, 600, request_id=chosen))

    assert (result.request_id, result.instance_id) == (chosen, agent.instance_id_of(chosen))
    assert (result.customer, result.reason) == (customer, reason)
    assert result.timeframe == market.timeframe and result.tx_hash.startswith("0x")
    assert agent.instance(result.instance_id).status == InstanceStatus.DENIED


def test_outside_any_timeframe_requests_are_denied(agent: Agent, actors: Actors) -> None:
    result = denied(agent.activate(actors.customers[0].address, DB, 600))
    assert (result.reason, result.timeframe) == (DenialReason.NO_ACTIVE_TIMEFRAME, 0)


def test_hard_limits_deny_and_soft_limits_grant_as_overage(agent: Agent, market: Market) -> None:
    db = [agent.activate(market.customer, DB, 600) for _ in range(3)]
    web = [agent.activate(market.customer, WEB, 600) for _ in range(2)]

    assert [r.granted for r in db] == [True, True, False]
    assert denied(db[2]).reason == DenialReason.CONCURRENCY_LIMIT_REACHED
    assert [granted(r).overage for r in web] == [False, True]
    usage = agent.usage(market.customer, market.timeframe, WEB)
    assert (usage.activations, usage.overage_activations, usage.running) == (2, 1, 1)  # overage holds no seat


def test_the_activation_quota_denies_once_used_up(agent: Agent, market: Market) -> None:
    first = [granted(agent.activate(market.customer, DB, 600)) for _ in range(2)]
    agent.deactivate(first[0].instance_id)
    third = agent.activate(market.customer, DB, 600)  # a seat is free again: the third of 3 activations
    agent.deactivate(first[1].instance_id)

    fourth = denied(agent.activate(market.customer, DB, 600))

    assert third.granted
    assert fourth.reason == DenialReason.ACTIVATION_QUOTA_REACHED


def test_an_expired_lease_frees_its_concurrency_seat_without_being_closed(
    agent: Agent, market: Market, chain: Chain
) -> None:
    short = [granted(agent.activate(market.customer, DB, 60)) for _ in range(2)]
    assert denied(agent.activate(market.customer, DB, 60)).reason == DenialReason.CONCURRENCY_LIMIT_REACHED
    chain.advance(61)

    assert agent.activate(market.customer, DB, 60).granted
    assert agent.instance(short[0].instance_id).status == InstanceStatus.OPEN  # nobody closed it: it ran out


def test_the_same_request_id_replays_the_first_grant_without_counting(agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, WEB, 600))
    second = agent.activate(market.customer, WEB, 600)  # a new request: soft limit reached, overage
    again = granted(agent.activate(market.customer, WEB, 600, request_id=first.request_id))
    with pytest.raises(ContractRevertError, match="MeteringReplayLeaseMismatch"):  # v3: the whole request repeats
        agent.activate(market.customer, WEB, 900, request_id=first.request_id)

    assert again.replayed and not first.replayed
    assert (again.instance_id, again.started_at, again.lease_end, again.overage) == (
        first.instance_id, first.started_at, first.lease_end, False
    )
    assert again.tx_hash != first.tx_hash
    assert granted(second).overage and second.request_id != first.request_id
    assert agent.usage(market.customer, market.timeframe, WEB).activations == 2


def test_the_same_request_id_replays_a_denial(agent: Agent, market: Market) -> None:
    first = agent.activate(market.stranger, DB, 600)
    again = denied(agent.activate(market.stranger, DB, 600, request_id=first.request_id))

    assert again.replayed and again.request_id == first.request_id
    assert (again.reason, again.timeframe) == (DenialReason.CUSTOMER_NOT_ENROLLED, market.timeframe)


def test_a_replayed_grant_older_than_the_look_back_window_comes_from_the_record(
    w3: Web3, meter: Contract, actors: Actors, agent: Agent, market: Market, chain: Chain
) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    for _ in range(3):
        chain.mine(chain.now() + 1)
    forgetful = Agent(w3, meter.address, actors.agent, replay_lookback_blocks=1)

    again = granted(forgetful.activate(market.customer, DB, 600, request_id=first.request_id))

    assert again.replayed and (again.instance_id, again.lease_end) == (first.instance_id, first.lease_end)
    assert (again.started_at, again.overage) == (None, None)  # not known without the event


def test_a_request_id_of_another_customer_is_refused(agent: Agent, market: Market) -> None:
    first = agent.activate(market.customer, DB, 600)
    with pytest.raises(ContractRevertError) as caught:
        agent.activate(market.customer2, DB, 600, request_id=first.request_id)
    assert caught.value.name == "MeteringRequestMismatch"
    assert caught.value.args_["recordedCustomer"] == market.customer


def test_a_request_id_that_skips_a_generation_is_refused(agent: Agent, market: Market) -> None:
    with pytest.raises(ContractRevertError) as caught:
        agent.activate(market.customer, DB, 600, request_id=request_id(3, 2))
    assert caught.value.name == "MeteringUnexpectedGeneration"
    assert caught.value.args_["currentGeneration"] == 0


def test_a_new_request_on_a_seat_with_a_live_lease_is_refused(agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    with pytest.raises(ContractRevertError) as caught:
        agent.activate(market.customer, DB, 600, request_id=first.request_id + 1)  # same seat, next generation
    assert caught.value.name == "MeteringSeatBusy"
    assert caught.value.args_["occupant"] == first.instance_id


def test_an_agent_without_the_role_is_told_what_to_do(w3: Web3, meter: Contract, actors: Actors) -> None:
    outsider = Agent(w3, meter.address, actors.outsider)
    with pytest.raises(ContractRevertError, match="lacks AGENT_ROLE: the provider's admin must grant it"):
        outsider.activate(actors.customers[0].address, DB, 600)


@pytest.mark.parametrize(
    ("customer", "instance_type", "lease", "rid", "message"),
    [
        ("0x12", DB, 600, None, "not an address"),
        (None, 70000, 600, None, "instance type"),
        (None, True, 600, None, "instance type"),
        (None, DB, 0, None, "lease must be"),
        (None, DB, 2**32, None, "lease must be"),
        (None, DB, 600, -1, "request id must be an integer"),
        (None, DB, 600, 2**64, "request id must be an integer"),
        (None, DB, 600, "0x0101", "request id must be an integer"),
        (None, DB, 600, 0x300, "generation 0"),
    ],
)
def test_activation_arguments_are_validated_before_sending(
    agent: Agent, actors: Actors, customer: str | None, instance_type: int, lease: int, rid: object,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        agent.activate(customer or actors.customers[0].address, instance_type, lease, request_id=rid)  # type: ignore[arg-type]
    assert agent.sender.w3.eth.get_transaction_count(actors.agent.address) == 0


def test_a_batch_is_decided_in_order_in_one_transaction(agent: Agent, market: Market) -> None:
    requests = [
        ActivationRequest(market.customer, DB, 600),
        ActivationRequest(market.customer, DB, 600),
        ActivationRequest(market.customer, DB, 600),  # third running instance: over the hard limit of 2
        ActivationRequest(market.stranger, DB, 600),
        ActivationRequest(market.customer2, WEB, 600),
    ]

    results = agent.activate_many(requests)

    assert [r.customer for r in results] == [q.customer for q in requests]
    assert len({r.request_id for r in results}) == 5  # the agent chose a distinct request id for each
    assert [r.granted for r in results] == [True, True, False, False, True]
    assert [r.reason for r in results if isinstance(r, Denied)] == [
        DenialReason.CONCURRENCY_LIMIT_REACHED, DenialReason.CUSTOMER_NOT_ENROLLED
    ]
    assert len({r.tx_hash for r in results}) == 1

    retried = [ActivationRequest(q.customer, q.instance_type, q.lease_seconds, r.request_id)
               for q, r in zip(requests[:2], results[:2], strict=True)]
    replayed = agent.activate_many([*retried, ActivationRequest(market.customer2, WEB, 600)])
    assert [r.replayed for r in replayed] == [True, True, False]
    assert [r.instance_id for r in replayed[:2]] == [r.instance_id for r in results[:2]]
    assert agent.usage(market.customer, market.timeframe, DB).activations == 2


def test_a_batch_larger_than_the_contract_takes_is_split(agent: Agent, market: Market) -> None:
    requests = [ActivationRequest(market.customer2, WEB, 600) for _ in range(MAX_BATCH + 4)]

    results = agent.activate_many(requests)

    assert len(results) == MAX_BATCH + 4 and all(r.granted for r in results)
    assert len({r.tx_hash for r in results}) == 2
    assert len({r.instance_id for r in results}) == MAX_BATCH + 4
    assert agent.usage(market.customer2, market.timeframe, WEB).activations == MAX_BATCH + 4


# ---------------------------------------------------------------------- renewals


def test_renewal_extends_the_lease_from_now(agent: Agent, market: Market, chain: Chain) -> None:
    first = granted(agent.activate(market.customer, DB, 300))
    assert first.started_at is not None
    chain.set_next_timestamp(first.started_at + 200)

    renewed = agent.renew(first.instance_id, 300)

    assert isinstance(renewed, Renewed)
    assert (renewed.instance_id, renewed.lease_end) == (first.instance_id, first.started_at + 500)
    assert agent.instance(first.instance_id).lease_end == renewed.lease_end
    assert agent.usage(market.customer, market.timeframe, DB).leased_seconds == 500


def test_renewal_is_capped_at_the_end_of_the_timeframe(agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, DB, 300))
    renewed = agent.renew(first.instance_id, 10 * 3600)
    assert isinstance(renewed, Renewed) and renewed.lease_end == market.end


def test_renewal_of_a_suspended_customer_is_denied(
    agent: Agent, provider: Provider, market: Market
) -> None:
    first = granted(agent.activate(market.customer, DB, 300))
    provider.suspend_customer(market.customer)

    result = agent.renew(first.instance_id, 300)

    assert isinstance(result, RenewalDenied)
    assert (result.reason, result.expired_at) == (DenialReason.CUSTOMER_SUSPENDED, None)
    assert agent.instance(first.instance_id).lease_end == first.lease_end  # the lease keeps its expiry


def test_renewal_after_the_lease_ran_out_is_denied_and_closes_it(agent: Agent, market: Market, chain: Chain) -> None:
    first = granted(agent.activate(market.customer, DB, 300))
    chain.advance(400)

    result = agent.renew(first.instance_id, 300)

    assert isinstance(result, RenewalDenied)
    assert (result.reason, result.expired_at) == (DenialReason.LEASE_EXPIRED, first.lease_end)
    assert agent.instance(first.instance_id).status == InstanceStatus.CLOSED


def test_a_lease_that_reached_the_timeframe_end_continues_with_the_same_id(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = _next_timeframe(provider, market)
    chain.set_next_timestamp(market.end - 100)
    first = granted(agent.activate(market.customer, DB, 600))
    assert first.lease_end == market.end  # capped at the timeframe's end
    chain.set_next_timestamp(market.end + 5)

    continued = agent.renew(first.instance_id, 600)

    assert isinstance(continued, Continued)
    assert continued.instance_id == first.instance_id
    assert (continued.timeframe, continued.ended_at) == (nxt, market.end)
    assert continued.started_at == market.end  # billed from the new timeframe's start: no gap
    assert continued.lease_end == market.end + 605
    record = agent.instance(first.instance_id)
    assert (record.status, record.timeframe, record.lease_end) == (InstanceStatus.OPEN, nxt, continued.lease_end)
    usage = agent.usage(market.customer, nxt, DB)
    assert (usage.activations, usage.leased_seconds, usage.running) == (0, 605, 1)  # not an activation


def test_a_continuation_into_a_timeframe_without_rules_is_denied(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = _next_timeframe(provider, market, with_rules=False)
    chain.set_next_timestamp(market.end - 100)
    first = granted(agent.activate(market.customer, DB, 600))
    chain.set_next_timestamp(market.end + 5)

    result = agent.renew(first.instance_id, 600)

    assert isinstance(result, ContinuationDenied)
    assert (result.instance_id, result.reason) == (first.instance_id, DenialReason.NO_RULES_FOR_TYPE)
    assert (result.timeframe, result.ended_at) == (nxt, market.end)
    assert agent.instance(first.instance_id).status == InstanceStatus.CLOSED


def test_a_continuation_without_a_next_timeframe_is_denied(agent: Agent, market: Market, chain: Chain) -> None:
    chain.set_next_timestamp(market.end - 100)
    first = granted(agent.activate(market.customer, DB, 600))
    chain.set_next_timestamp(market.end + 5)

    result = agent.renew(first.instance_id, 600)

    assert isinstance(result, ContinuationDenied)
    assert (result.reason, result.ended_at) == (DenialReason.NO_ACTIVE_TIMEFRAME, market.end)


# ---------------------------------------------------------------------- closing


def test_deactivation_stops_billing_now(agent: Agent, market: Market, chain: Chain) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    assert first.started_at is not None
    chain.set_next_timestamp(first.started_at + 42)

    closed = agent.deactivate(first.instance_id)

    assert isinstance(closed, Deactivated) and closed.stopped_at == first.started_at + 42
    assert not closed.replayed and not closed.by_provider
    usage = agent.usage(market.customer, market.timeframe, DB)
    assert (usage.running, usage.leased_seconds) == (0, 42)


def test_deactivating_after_the_lease_ran_out_reports_an_expiry(agent: Agent, market: Market, chain: Chain) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)

    closed = agent.deactivate(first.instance_id)

    assert isinstance(closed, Expired) and closed.lease_end == first.lease_end and not closed.replayed
    assert agent.usage(market.customer, market.timeframe, DB).leased_seconds == 60


def test_deactivating_a_closed_instance_again_returns_how_it_was_closed(agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    closed = agent.deactivate(first.instance_id)

    again = agent.deactivate(first.instance_id)

    assert isinstance(again, Deactivated) and again.replayed
    assert (again.stopped_at, again.tx_hash) == (closed.stopped_at, closed.tx_hash)  # the first closure's


def test_deactivating_an_unknown_instance_is_refused(agent: Agent, market: Market) -> None:
    with pytest.raises(ContractRevertError, match=r"MeteringInstanceNotOpen.*status UNKNOWN"):
        agent.deactivate(agent.instance_id_of(request_id(5, 1)))


def test_expire_closes_only_the_leases_that_ran_out(agent: Agent, market: Market, chain: Chain) -> None:
    short = [granted(agent.activate(market.customer, WEB, 60)) for _ in range(2)]
    long = granted(agent.activate(market.customer, WEB, 600))
    chain.advance(100)

    closed = agent.expire([g.instance_id for g in (*short, long)])

    assert closed == 2
    assert [agent.instance(g.instance_id).status for g in short] == [InstanceStatus.CLOSED] * 2
    assert agent.instance(long.instance_id).status == InstanceStatus.OPEN
    assert agent.expire([]) == 0


def test_anyone_may_expire_leases(w3: Web3, meter: Contract, actors: Actors, agent: Agent, market: Market,
                                  chain: Chain) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)
    assert Agent(w3, meter.address, actors.outsider).expire([first.instance_id]) == 1


# ---------------------------------------------------------------------- instances belong to their agent


def test_another_agent_cannot_renew_or_deactivate_an_instance(agent: Agent, agent2: Agent, market: Market,
                                                              actors: Actors) -> None:
    first = granted(agent.activate(market.customer, DB, 600))

    for call in (lambda: agent2.renew(first.instance_id, 600), lambda: agent2.deactivate(first.instance_id)):
        with pytest.raises(ContractRevertError) as caught:
            call()
        assert caught.value.name == "MeteringNotInstanceHolder"
        assert caught.value.args_["caller"] == actors.agent2.address

    assert agent.instance(first.instance_id).status == InstanceStatus.OPEN
    assert isinstance(agent.deactivate(first.instance_id), Deactivated)


def test_two_agents_use_the_same_request_ids_for_different_instances(
    agent: Agent, agent2: Agent, market: Market
) -> None:
    mine = granted(agent.activate(market.customer, WEB, 600))
    theirs = granted(agent2.activate(market.customer, WEB, 600))

    assert mine.request_id == theirs.request_id == request_id(0, 1)
    assert mine.instance_id != theirs.instance_id
    assert not theirs.replayed
    assert agent.usage(market.customer, market.timeframe, WEB).activations == 2


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, b"\x01" * 31])
def test_malformed_instance_ids_are_refused_before_sending(agent: Agent, bad: bytes | str) -> None:
    with pytest.raises(ConfigError, match="instance id must be 32 bytes"):
        agent.deactivate(bad)
    with pytest.raises(ConfigError, match="instance id must be 32 bytes"):
        agent.renew(bad, 60)


def test_an_id_not_made_of_agent_and_request_is_refused_before_sending(agent: Agent) -> None:
    with pytest.raises(ConfigError, match="bytes 20-23 must be zero"):
        agent.deactivate(b"\x01" * 32)
