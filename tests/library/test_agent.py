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
    Granted,
    RenewalDenied,
    Renewed,
    successor_of,
)
from metering.contract import DenialReason, InstanceStatus
from metering.errors import ConfigError, ContractRevertError
from metering.node import LocalNode
from metering.provider import Provider

from .conftest import DB, DB_RULES, WEB, Market
from .test_sender import FlakyProvider, _fast

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


def _granted(result: Granted | Denied) -> Granted:
    assert isinstance(result, Granted), result
    return result


def _next_timeframe(provider: Provider, market: Market, *, with_rules: bool = True) -> int:
    """A timeframe right after the market's (created and configured before the market's ends)."""
    timeframe = provider.create_timeframe(market.end, market.end + 3600, "EUR")
    if with_rules:
        provider.set_rules(timeframe, DB, DB_RULES)
    return timeframe


# ---------------------------------------------------------------------- activation


def test_a_grant_says_which_instance_runs_until_when(agent: Agent, market: Market, chain: Chain) -> None:
    chain.set_next_timestamp(market.start + 10)
    result = _granted(agent.activate(market.customer, DB, 600))

    assert (result.customer, result.instance_type, result.timeframe) == (market.customer, DB, market.timeframe)
    assert (result.started_at, result.lease_end, result.overage) == (market.start + 10, market.start + 610, False)
    assert len(result.instance_id) == 32 and result.request_id == result.instance_id
    assert not result.replayed
    record = agent.instance(result.instance_id)
    assert (record.status, record.lease_end) == (InstanceStatus.OPEN, result.lease_end)
    assert agent.usage(market.customer, market.timeframe, DB).active == 1


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
    request_id = b"\x07" * 32

    result = agent.activate(customer, instance_type, 600, request_id=request_id)

    assert isinstance(result, Denied)
    assert (result.request_id, result.customer, result.reason) == (request_id, customer, reason)
    assert result.timeframe == market.timeframe and result.tx_hash.startswith("0x")


def test_outside_any_timeframe_requests_are_denied(agent: Agent, actors: Actors) -> None:
    result = agent.activate(actors.customers[0].address, DB, 600)
    assert isinstance(result, Denied)
    assert (result.reason, result.timeframe) == (DenialReason.NO_ACTIVE_TIMEFRAME, 0)


def test_hard_limits_deny_and_soft_limits_grant_as_overage(agent: Agent, market: Market) -> None:
    db = [agent.activate(market.customer, DB, 600) for _ in range(3)]
    web = [agent.activate(market.customer, WEB, 600) for _ in range(2)]

    assert [r.granted for r in db] == [True, True, False]
    assert isinstance(db[2], Denied) and db[2].reason == DenialReason.CONCURRENCY_LIMIT_REACHED
    assert [_granted(r).overage for r in web] == [False, True]
    assert agent.usage(market.customer, market.timeframe, WEB).overage_activations == 1


def test_the_same_request_id_replays_the_first_grant_without_counting(agent: Agent, market: Market) -> None:
    first = _granted(agent.activate(market.customer, WEB, 600))
    second = agent.activate(market.customer, WEB, 600)  # a new request: soft limit reached, overage
    again = _granted(agent.activate(market.customer, WEB, 900, request_id=first.request_id))

    assert again.replayed and not first.replayed
    assert (again.instance_id, again.started_at, again.lease_end, again.overage) == (
        first.instance_id, first.started_at, first.lease_end, False
    )
    assert again.tx_hash != first.tx_hash
    assert _granted(second).overage
    assert agent.usage(market.customer, market.timeframe, WEB).activations == 2


def test_the_same_request_id_replays_a_denial(agent: Agent, market: Market) -> None:
    first = agent.activate(market.stranger, DB, 600)
    again = agent.activate(market.stranger, DB, 600, request_id=first.request_id)

    assert isinstance(again, Denied) and again.replayed
    assert (again.reason, again.timeframe) == (DenialReason.CUSTOMER_NOT_ENROLLED, market.timeframe)


def test_a_request_id_of_another_customer_is_refused(agent: Agent, market: Market) -> None:
    first = agent.activate(market.customer, DB, 600)
    with pytest.raises(ContractRevertError) as caught:
        agent.activate(market.customer2, DB, 600, request_id=first.request_id)
    assert caught.value.name == "MeteringRequestIdConflict"
    assert caught.value.args_["recordedCustomer"] == market.customer


def test_an_agent_without_the_role_is_told_what_to_do(w3: Web3, meter: Contract, actors: Actors) -> None:
    outsider = Agent(w3, meter.address, actors.outsider)
    with pytest.raises(ContractRevertError, match="lacks AGENT_ROLE: the provider's admin must grant it"):
        outsider.activate(actors.customers[0].address, DB, 600)


@pytest.mark.parametrize(
    ("customer", "instance_type", "lease", "request_id", "message"),
    [
        ("0x12", DB, 600, None, "not an address"),
        (None, 70000, 600, None, "instance type"),
        (None, DB, 0, None, "lease must be"),
        (None, DB, 600, b"short", "request id must be 32 bytes"),
    ],
)
def test_activation_arguments_are_validated_before_sending(
    agent: Agent, actors: Actors, customer: str | None, instance_type: int, lease: int, request_id: bytes | None,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        agent.activate(customer or actors.customers[0].address, instance_type, lease, request_id=request_id)


def test_a_batch_is_decided_in_order_in_one_transaction(agent: Agent, market: Market) -> None:
    requests = [
        ActivationRequest(market.customer, DB, 600),
        ActivationRequest(market.customer, DB, 600),
        ActivationRequest(market.customer, DB, 600),  # third running instance: over the hard limit of 2
        ActivationRequest(market.stranger, DB, 600),
        ActivationRequest(market.customer2, WEB, 600),
    ]

    results = agent.activate_many(requests)

    assert [r.request_id for r in results] == [q.request_id for q in requests]
    assert [r.granted for r in results] == [True, True, False, False, True]
    assert [r.reason for r in results if isinstance(r, Denied)] == [
        DenialReason.CONCURRENCY_LIMIT_REACHED, DenialReason.CUSTOMER_NOT_ENROLLED
    ]
    assert len({r.tx_hash for r in results}) == 1

    replayed = agent.activate_many([*requests[:2], ActivationRequest(market.customer2, WEB, 600)])
    assert [r.replayed for r in replayed] == [True, True, False]
    assert agent.usage(market.customer, market.timeframe, DB).activations == 2


def test_a_batch_larger_than_the_contract_takes_is_split(agent: Agent, market: Market) -> None:
    requests = [ActivationRequest(market.customer2, WEB, 600) for _ in range(MAX_BATCH + 4)]

    results = agent.activate_many(requests)

    assert len(results) == MAX_BATCH + 4 and all(r.granted for r in results)
    assert len({r.tx_hash for r in results}) == 2
    assert agent.usage(market.customer2, market.timeframe, WEB).activations == MAX_BATCH + 4


# ---------------------------------------------------------------------- renewals


def test_renewal_extends_the_lease_from_now(agent: Agent, market: Market, chain: Chain) -> None:
    granted = _granted(agent.activate(market.customer, DB, 300))
    chain.set_next_timestamp(granted.started_at + 200)  # type: ignore[operator]

    renewed = agent.renew(granted.instance_id, 300)

    assert isinstance(renewed, Renewed)
    assert renewed.lease_end == granted.started_at + 500  # type: ignore[operator]
    assert agent.instance(granted.instance_id).lease_end == renewed.lease_end


def test_renewal_of_a_suspended_customer_is_denied(
    agent: Agent, provider: Provider, market: Market
) -> None:
    granted = _granted(agent.activate(market.customer, DB, 300))
    provider.suspend_customer(market.customer)

    denied = agent.renew(granted.instance_id, 300)

    assert isinstance(denied, RenewalDenied)
    assert (denied.reason, denied.expired_at) == (DenialReason.CUSTOMER_SUSPENDED, None)


def test_renewal_after_the_lease_ran_out_is_denied_and_closes_it(agent: Agent, market: Market, chain: Chain) -> None:
    granted = _granted(agent.activate(market.customer, DB, 300))
    chain.advance(400)

    denied = agent.renew(granted.instance_id, 300)

    assert isinstance(denied, RenewalDenied)
    assert (denied.reason, denied.expired_at) == (DenialReason.LEASE_EXPIRED, granted.lease_end)
    assert agent.instance(granted.instance_id).status == InstanceStatus.CLOSED


def test_a_lease_that_reached_the_timeframe_end_continues_as_its_successor(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    nxt = _next_timeframe(provider, market)
    chain.set_next_timestamp(market.end - 100)
    granted = _granted(agent.activate(market.customer, DB, 600))
    assert granted.lease_end == market.end  # capped at the timeframe's end
    chain.set_next_timestamp(market.end + 5)

    continued = agent.renew(granted.instance_id, 600)

    assert isinstance(continued, Continued)
    assert continued.previous_id == granted.instance_id
    assert continued.instance_id == successor_of(granted.instance_id)
    assert continued.ended_at == market.end
    assert (continued.successor.timeframe, continued.successor.started_at) == (nxt, market.end + 5)
    assert continued.lease_end == market.end + 605


def test_a_continuation_into_a_timeframe_without_rules_is_denied(
    agent: Agent, provider: Provider, market: Market, chain: Chain
) -> None:
    _next_timeframe(provider, market, with_rules=False)
    chain.set_next_timestamp(market.end - 100)
    granted = _granted(agent.activate(market.customer, DB, 600))
    chain.set_next_timestamp(market.end + 5)

    result = agent.renew(granted.instance_id, 600)

    assert isinstance(result, ContinuationDenied)
    assert result.reason == DenialReason.NO_RULES_FOR_TYPE
    assert result.denied.request_id == successor_of(granted.instance_id)


# ---------------------------------------------------------------------- closing


def test_deactivation_stops_billing_now(agent: Agent, market: Market, chain: Chain) -> None:
    granted = _granted(agent.activate(market.customer, DB, 600))
    chain.set_next_timestamp(granted.started_at + 42)  # type: ignore[operator]

    closed = agent.deactivate(granted.instance_id)

    assert isinstance(closed, Deactivated) and closed.stopped_at == granted.started_at + 42  # type: ignore[operator]
    usage = agent.usage(market.customer, market.timeframe, DB)
    assert (usage.active, usage.leased_seconds) == (0, 42)


def test_deactivating_after_the_lease_ran_out_reports_an_expiry(agent: Agent, market: Market, chain: Chain) -> None:
    granted = _granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)

    closed = agent.deactivate(granted.instance_id)

    assert isinstance(closed, Expired) and closed.lease_end == granted.lease_end


def test_deactivating_a_closed_instance_is_refused(agent: Agent, market: Market) -> None:
    granted = _granted(agent.activate(market.customer, DB, 60))
    agent.deactivate(granted.instance_id)
    with pytest.raises(ContractRevertError, match=r"MeteringInstanceNotOpen.*status CLOSED"):
        agent.deactivate(granted.instance_id)


def test_expire_closes_only_the_leases_that_ran_out(agent: Agent, market: Market, chain: Chain) -> None:
    short = [_granted(agent.activate(market.customer, WEB, 60)) for _ in range(2)]
    long = _granted(agent.activate(market.customer, WEB, 600))
    chain.advance(100)

    closed = agent.expire([g.instance_id for g in (*short, long)])

    assert closed == 2
    assert agent.instance(long.instance_id).status == InstanceStatus.OPEN
    assert agent.expire([]) == 0


# ---------------------------------------------------------------------- retries after timeouts


def test_an_activation_retried_after_a_timeout_is_replayed_not_counted_twice(
    node: LocalNode, meter: Contract, actors: Actors, market: Market
) -> None:
    flaky = FlakyProvider(node.rpc_url)
    w3 = Web3(flaky)
    agent = Agent(w3, meter.address, actors.agent, sender=_fast(w3, actors.agent, receipt_timeout=0.3))
    # Every receipt read is lost until the agent sends its second transaction: the first send times out.
    flaky.always["eth_getTransactionReceipt"] = "lose"
    sends: list[int] = []

    def second_send_heals() -> None:
        sends.append(1)
        if len(sends) == 2:
            flaky.always.clear()

    flaky.before_forward["eth_sendRawTransaction"] = second_send_heals

    result = _granted(agent.activate(market.customer, DB, 600))

    assert result.replayed
    assert len(set(flaky.raw_sends())) == 2  # two transactions, one request id
    assert result.started_at is not None and result.overage is False  # the first decision, found in its event
    assert agent.usage(market.customer, market.timeframe, DB).activations == 1


def test_a_deactivation_retried_after_a_timeout_returns_the_closed_result(
    node: LocalNode, meter: Contract, actors: Actors, market: Market, agent: Agent
) -> None:
    granted = _granted(agent.activate(market.customer, DB, 600))
    flaky = FlakyProvider(node.rpc_url)
    w3 = Web3(flaky)
    slow = Agent(w3, meter.address, actors.agent, sender=_fast(w3, actors.agent, receipt_timeout=0.3))
    flaky.always["eth_getTransactionReceipt"] = "lose"  # the deactivation is mined, but we never see it

    closed = slow.deactivate(granted.instance_id)

    assert isinstance(closed, Deactivated) and closed.replayed
    assert closed.instance_id == granted.instance_id
    assert len(flaky.raw_sends()) == 1  # the retry found it closed at estimation and sent nothing
    assert closed.tx_hash == Web3.keccak(hexstr=flaky.raw_sends()[0]).to_0x_hex()


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, b"\x01" * 31])
def test_malformed_instance_ids_are_refused_before_sending(agent: Agent, bad: bytes | str) -> None:
    with pytest.raises(ConfigError, match="instance id must be 32 bytes"):
        agent.deactivate(bad)
    with pytest.raises(ConfigError, match="instance id must be 32 bytes"):
        agent.renew(bad, 60)
