"""A customer's own choices, in its own transactions: which agents may bill it, and how much per timeframe.

Prices of the WEB type (conftest.py): no activation fee, 1,000,000 micro-units (one cent) per second, no included
seconds: a lease of 5 s commits 5 cents. A cap is in minor units (cents), compared with micro-units on chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Deactivated, RenewalDenied, Renewed
from metering.agent.keeper import LeaseKeeper
from metering.contract import CustomerStatus, DenialReason
from metering.customer import Customer
from metering.errors import ConfigError, ContractRevertError
from metering.money import PRICE_SCALE
from metering.provider import Provider

from .conftest import DB, WEB, Market, denied, granted

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


# ---------------------------------------------------------------------- approvals


def test_by_default_every_provider_agent_may_bill(me: Customer, agent: Agent, agent2: Agent, market: Market,
                                                  actors: Actors) -> None:
    account = me.account()
    assert (account.customer, account.status, account.restricted, account.spending_cap) == (
        market.customer, CustomerStatus.ENROLLED, False, 0
    )
    assert me.may_bill(market.customer, actors.agent.address) and me.may_bill(market.customer, actors.agent2.address)
    assert agent.activate(market.customer, DB, 600).granted and agent2.activate(market.customer, DB, 600).granted


def test_approving_an_agent_restricts_billing_to_the_approved_agents(
    me: Customer, agent: Agent, agent2: Agent, market: Market, actors: Actors
) -> None:
    approval = me.approve_agent(actors.agent.address.lower())

    assert (approval.customer, approval.agent, approval.approved, approval.restricted) == (
        market.customer, actors.agent.address, True, True
    )
    assert me.agent_approved(market.customer, actors.agent.address)
    assert not me.may_bill(market.customer, actors.agent2.address)
    refused = denied(agent2.activate(market.customer, DB, 600))
    assert (refused.reason, refused.customer) == (DenialReason.AGENT_NOT_APPROVED, market.customer)
    assert agent.activate(market.customer, DB, 600).granted
    assert agent2.activate(market.customer2, DB, 600).granted  # another customer's choice is its own


def test_a_revoked_agent_can_neither_activate_nor_renew(
    me: Customer, agent: Agent, market: Market, actors: Actors
) -> None:
    me.approve_agent(actors.agent.address)
    running = granted(agent.activate(market.customer, DB, 600))

    revoked = me.revoke_agent(actors.agent.address)

    assert (revoked.approved, revoked.restricted) == (False, True)  # revoking every agent stops all billing
    assert denied(agent.activate(market.customer, DB, 600)).reason == DenialReason.AGENT_NOT_APPROVED
    renewal = agent.renew(running.instance_id, 600)
    assert isinstance(renewal, RenewalDenied) and renewal.reason == DenialReason.AGENT_NOT_APPROVED
    assert agent.instance(running.instance_id).lease_end == running.lease_end  # it runs to its end, no further


def test_lifting_the_restriction_lets_every_agent_bill_again(
    me: Customer, agent2: Agent, market: Market, actors: Actors
) -> None:
    me.approve_agent(actors.agent.address)
    assert denied(agent2.activate(market.customer, DB, 600)).reason == DenialReason.AGENT_NOT_APPROVED

    change = me.set_agent_restriction(False)

    assert (change.customer, change.restricted) == (market.customer, False)
    assert not me.account().restricted
    assert agent2.activate(market.customer, DB, 600).granted
    me.set_agent_restriction(True)  # back on: the approvals made before still hold
    assert denied(agent2.activate(market.customer, DB, 600)).reason == DenialReason.AGENT_NOT_APPROVED


def test_the_keeper_reports_a_revoked_agent_and_stops_renewing(
    me: Customer, agent: Agent, market: Market, actors: Actors, chain: Chain
) -> None:
    keeper = LeaseKeeper(agent, lease_seconds=300, renew_before=100)
    keeper.track(granted(agent.activate(market.customer, DB, 300)))
    me.approve_agent(actors.agent2.address)  # restricts the customer to agent2
    chain.advance(250)

    events = keeper.tick()

    assert len(events) == 1 and isinstance(events[0], RenewalDenied)
    assert events[0].reason == DenialReason.AGENT_NOT_APPROVED
    assert keeper.tracked() == {}


def test_only_a_customer_makes_its_own_choices(w3: Web3, meter: Contract, actors: Actors, market: Market) -> None:
    stranger = Customer(w3, meter.address, actors.customers[2])  # never enrolled
    for call in (lambda: stranger.approve_agent(actors.agent.address), lambda: stranger.set_spending_cap(100, "EUR"),
                 lambda: stranger.set_agent_restriction(True), lambda: stranger.revoke_agent(actors.agent.address)):
        with pytest.raises(ContractRevertError) as caught:
            call()
        assert caught.value.name == "MeteringNotCustomer"
        assert caught.value.args_["caller"] == actors.customers[2].address


def test_the_provider_cannot_approve_for_a_customer(provider: Provider, market: Market, actors: Actors) -> None:
    """The provider's key calls approveAgent for itself, and it is no customer: customers decide alone."""
    as_customer = Customer(provider.w3, provider.address, actors.admin)
    with pytest.raises(ContractRevertError, match="MeteringNotCustomer"):
        as_customer.approve_agent(actors.agent.address)
    assert not provider.agent_approved(market.customer, actors.agent.address)


@pytest.mark.parametrize("bad", ["agent-1", "0x1234"])
def test_agent_addresses_are_checked_before_sending(me: Customer, bad: str) -> None:
    with pytest.raises(ConfigError, match="not an address"):
        me.approve_agent(bad)
    with pytest.raises(ConfigError, match="not an address"):
        me.revoke_agent(bad)


# ---------------------------------------------------------------------- spending caps


def test_an_activation_beyond_the_cap_is_denied(me: Customer, agent: Agent, market: Market) -> None:
    change = me.set_spending_cap(10, "EUR")  # 10 cents per timeframe

    results = [agent.activate(market.customer, WEB, 5) for _ in range(3)]  # 5 cents each

    assert (change.customer, change.cap) == (market.customer, 10)
    assert [r.granted for r in results] == [True, True, False]
    assert denied(results[2]).reason == DenialReason.SPENDING_CAP_REACHED
    account = me.account()
    assert (account.spending_cap, account.spent_timeframe, account.spent) == (10, market.timeframe, 10 * PRICE_SCALE)
    assert me.spent(market.customer, market.timeframe) == 10 * PRICE_SCALE
    usage = agent.usage(market.customer, market.timeframe, WEB)
    assert (usage.activations, usage.leased_seconds) == (2, 10)  # the denial counted nothing


def test_activation_fees_count_toward_the_cap(me: Customer, agent: Agent, market: Market) -> None:
    me.set_spending_cap(52, "EUR")  # EUR 0.52
    # DB: the first activation is included, the second costs EUR 0.50; time: 0.12 EUR/h beyond 60 s.
    first = granted(agent.activate(market.customer, DB, 60))  # free: included activation and seconds
    second = denied(agent.activate(market.customer, DB, 3600))  # 50 cents + 12 cents for the hour > 52 cents

    third = granted(agent.activate(market.customer, DB, 60))  # 50 cents + 60 s * 0.12/3600 = 50.2 cents

    assert first.overage is False and second.reason == DenialReason.SPENDING_CAP_REACHED
    assert third.lease_end - (third.started_at or 0) == 60
    assert me.account().spent == 50 * PRICE_SCALE + 60 * 12_000_000 // 3600


def test_a_renewal_beyond_the_cap_is_denied_and_the_lease_keeps_its_end(
    me: Customer, agent: Agent, market: Market, chain: Chain
) -> None:
    me.set_spending_cap(10, "EUR")
    first = granted(agent.activate(market.customer, WEB, 5))
    assert first.started_at is not None
    # The renewal's block is pinned one second after the start: left to the wall clock, a loaded machine put it
    # seconds later, and the lease it asked for then cost more than the cap (seen under stress-ng).
    chain.set_next_timestamp(first.started_at + 1)

    allowed = agent.renew(first.instance_id, 9)  # to 10 s after the start: 10 cents, exactly the cap
    too_far = agent.renew(first.instance_id, 60)

    assert isinstance(allowed, Renewed)
    assert isinstance(too_far, RenewalDenied) and too_far.reason == DenialReason.SPENDING_CAP_REACHED
    assert (too_far.expired_at, agent.instance(first.instance_id).lease_end) == (None, allowed.lease_end)


def test_stopping_early_gives_back_what_the_rest_of_the_lease_committed(
    me: Customer, agent: Agent, market: Market, chain: Chain
) -> None:
    me.set_spending_cap(100, "EUR")
    first = granted(agent.activate(market.customer, WEB, 90))
    assert denied(agent.activate(market.customer, WEB, 20)).reason == DenialReason.SPENDING_CAP_REACHED
    assert first.started_at is not None
    chain.set_next_timestamp(first.started_at + 30)

    stopped = agent.deactivate(first.instance_id)

    assert isinstance(stopped, Deactivated)
    assert me.account().spent == 30 * PRICE_SCALE  # the 60 s it did not run are given back
    assert agent.activate(market.customer, WEB, 20).granted


def test_removing_the_cap_lifts_the_limit(me: Customer, agent: Agent, market: Market) -> None:
    me.set_spending_cap(1, "EUR")
    assert denied(agent.activate(market.customer, WEB, 5)).reason == DenialReason.SPENDING_CAP_REACHED

    assert me.set_spending_cap(0, "EUR").cap == 0

    assert agent.activate(market.customer, WEB, 5).granted
    assert me.account().spending_cap == 0


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, True, "10"])
def test_a_cap_that_is_not_a_whole_number_of_minor_units_is_refused(me: Customer, bad: object) -> None:
    with pytest.raises(ConfigError, match="spending cap must be"):
        me.set_spending_cap(bad, "EUR")  # type: ignore[arg-type]
    assert me.account().spending_cap == 0


def test_a_read_only_customer_reads_but_cannot_choose(w3: Web3, meter: Contract, market: Market) -> None:
    viewer = Customer(w3, meter.address, None)
    assert viewer.customer_account(market.customer).status == CustomerStatus.ENROLLED
    with pytest.raises(Exception, match="read-only"):
        viewer.set_spending_cap(5, "EUR")
