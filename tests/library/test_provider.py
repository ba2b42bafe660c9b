"""The provider's operations, as a provider sees them: what the chain recorded after each call."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.agent import Agent, Deactivated, Expired
from metering.chain.node import LocalNode
from metering.contract import CustomerStatus, InstanceStatus, LimitMode
from metering.errors import ConfigError, ContractRevertError, RulesFileError
from metering.provider import AGENT_ROLE, RULES_MANAGER_ROLE, Provider
from metering.provider.rules_file import RulesFile, TypeRules
from metering.types import Rules, rules_hash

from .conftest import DB, DB_RULES, Market, granted, open_timeframe

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


def test_deploy_makes_the_signer_admin_and_rules_manager(w3: Web3, meter: Contract, actors: Actors) -> None:
    deployer = actors.customers[5]
    provider = Provider.deploy(w3, deployer, admin_transfer_delay=3600)

    assert provider.deployment is not None and provider.deployment.contract_address == provider.address
    assert provider.contract.functions.defaultAdmin().call() == deployer.address
    assert provider.contract.functions.defaultAdminDelay().call() == 3600
    assert provider.has_role(RULES_MANAGER_ROLE, deployer.address)
    assert provider.timeframe_count() == 0


def test_create_timeframe_returns_the_id_the_chain_assigned(provider: Provider, chain: Chain) -> None:
    start = chain.now() + 1000
    first = provider.create_timeframe(start, start + 100, "EUR")
    second = provider.create_timeframe(start + 100, start + 200, "usd")

    assert (first, second) == (1, 2)
    timeframe = provider.timeframe(second)
    assert (timeframe.start, timeframe.end, timeframe.currency) == (start + 100, start + 200, "USD")


def test_create_timeframe_in_the_past_is_refused_with_the_decoded_error(provider: Provider, chain: Chain) -> None:
    now = chain.now()
    with pytest.raises(ContractRevertError) as caught:
        provider.create_timeframe(now - 10, now + 100, "EUR")
    assert caught.value.name == "MeteringTimeframeStartsInPast"
    assert caught.value.args_["start"] == now - 10
    assert "choose a start in the future" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "currency", "message"),
    [
        (10, 5, "EUR", "must be after its start"),
        (10, 20, "EURO!", "currency code"),
        (10, 20, "USDC", "unknown currency code 'USDC'"),
        (-1, 5, "EUR", "timestamp"),
    ],
)
def test_create_timeframe_rejects_bad_input_before_sending(
    provider: Provider, start: int, end: int, currency: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        provider.create_timeframe(start, end, currency)


def test_set_rules_returns_the_hash_the_contract_computes(provider: Provider, chain: Chain) -> None:
    timeframe = provider.create_timeframe(chain.now() + 100, chain.now() + 200, "EUR")

    returned = provider.set_rules(timeframe, DB, DB_RULES)

    assert returned == rules_hash(timeframe, DB, DB_RULES)
    assert provider.rules_hash_on_chain(timeframe, DB) == returned
    assert provider.rules(timeframe, DB) == DB_RULES
    assert provider.rules(timeframe, 99) is None


def test_rules_with_a_time_unit_of_zero_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="time_unit_seconds"):
        Rules(price_per_time_unit=12_000_000, time_unit_seconds=0)


def test_rules_are_frozen_once_the_timeframe_started(provider: Provider, chain: Chain) -> None:
    timeframe = open_timeframe(provider, chain)
    chain.mine(provider.timeframe(timeframe).start)

    with pytest.raises(ContractRevertError) as caught:
        provider.set_rules(timeframe, DB, DB_RULES)
    assert caught.value.name == "MeteringRulesFrozen"
    assert "frozen" in str(caught.value)


def test_apply_rules_file_sets_each_type_and_skips_unchanged_ones(provider: Provider, chain: Chain) -> None:
    timeframe = provider.create_timeframe(chain.now() + 100, chain.now() + 200, "EUR")
    web = Rules(price_per_time_unit=1_000_000, time_unit_seconds=1, max_concurrent=10, mode=LimitMode.SOFT)
    types = (TypeRules("db-server", DB, DB_RULES), TypeRules("web-worker", 2, web))
    parsed = RulesFile("rules.yaml", timeframe, "EUR", types)

    first = provider.apply_rules_file(parsed)
    again = provider.apply_rules_file(parsed)

    assert [(r.name, r.instance_type, r.changed) for r in first] == [("db-server", 1, True), ("web-worker", 2, True)]
    assert all(r.tx_hash is not None for r in first)
    assert [(r.changed, r.tx_hash) for r in again] == [(False, None), (False, None)]
    assert [r.rules_hash for r in again] == [r.rules_hash for r in first]
    assert provider.rules(timeframe, 2) == web
    assert first[0].rules_hash == provider.rules_hash_on_chain(timeframe, 1) == rules_hash(timeframe, DB, DB_RULES)


def test_apply_rules_file_sends_only_what_changed(provider: Provider, chain: Chain) -> None:
    timeframe = provider.create_timeframe(chain.now() + 100, chain.now() + 200, "EUR")
    provider.set_rules(timeframe, DB, DB_RULES)
    cheaper = Rules(price_per_time_unit=6_000_000, time_unit_seconds=3600)
    parsed = RulesFile("rules.yaml", timeframe, "EUR", (TypeRules("db", DB, DB_RULES), TypeRules("cheap", 3, cheaper)))

    applied = provider.apply_rules_file(parsed)

    assert [r.changed for r in applied] == [False, True]
    assert provider.rules(timeframe, 3) == cheaper


def test_apply_rules_file_reports_a_missing_file_before_sending(provider: Provider, tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match=r"nope\.yaml"):
        provider.apply_rules_file(tmp_path / "nope.yaml")
    assert provider.timeframe_count() == 0


def test_enroll_and_suspend_report_whether_anything_changed(provider: Provider, actors: Actors) -> None:
    customer = actors.customers[0].address

    first = provider.enroll_customer(customer.lower())
    again = provider.enroll_customer(customer)
    suspended = provider.suspend_customer(customer)

    assert (first.customer, first.changed, again.changed) == (customer, True, False)
    assert (suspended.status, suspended.changed) == (CustomerStatus.SUSPENDED, True)
    assert provider.customer_status(customer) == CustomerStatus.SUSPENDED


def test_enroll_customers_reports_each_change_in_order(provider: Provider, actors: Actors) -> None:
    alice, bob, carol = (c.address for c in actors.customers[:3])
    provider.enroll_customer(bob)

    changes = provider.enroll_customers([alice.lower(), bob, carol])

    assert [(c.customer, c.status, c.changed) for c in changes] == [
        (alice, CustomerStatus.ENROLLED, True), (bob, CustomerStatus.ENROLLED, False),
        (carol, CustomerStatus.ENROLLED, True),
    ]
    assert len({c.tx_hash for c in changes}) == 3
    assert [provider.customer_status(a) for a in (alice, bob, carol)] == [CustomerStatus.ENROLLED] * 3
    assert provider.enroll_customers([]) == []


def test_enroll_customers_checks_every_address_before_sending(provider: Provider, actors: Actors) -> None:
    with pytest.raises(ConfigError, match="not an address: bob"):
        provider.enroll_customers([actors.customers[0].address, "bob"])
    assert provider.customer_status(actors.customers[0].address) == CustomerStatus.NONE


def test_enroll_customers_sends_all_before_waiting_for_any(
    provider: Provider, node: LocalNode, actors: Actors, w3: Web3
) -> None:
    """Pipelined: with mining paused, all transactions reach the pool before the first is mined (one block each
    would cost a block time per customer on a real chain)."""
    customers = [c.address for c in actors.customers[:4]]
    provider.sender.poll_interval = 0.05
    node.rpc("evm_setAutomine", False)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(provider.enroll_customers(customers)), daemon=True)
    try:
        worker.start()
        deadline = time.monotonic() + 120  # a condition: ends as soon as all are pending
        pending = 0
        while time.monotonic() < deadline and pending < len(customers):
            pending = int(node.rpc("txpool_status")["pending"], 16)
            time.sleep(0.02)
        assert pending == len(customers), f"only {pending} of {len(customers)} sent before the first was mined"
        node.rpc("evm_mine")
        worker.join(10)
    finally:
        node.rpc("evm_setAutomine", True)
        node.rpc("evm_mine")
        worker.join(10)
    assert done, "enroll_customers did not finish"
    blocks = {w3.eth.get_transaction_receipt(c.tx_hash)["blockNumber"] for c in done[0]}  # type: ignore[attr-defined]
    assert len(blocks) == 1


def test_suspending_an_unknown_customer_is_refused(provider: Provider, actors: Actors) -> None:
    with pytest.raises(ContractRevertError) as caught:
        provider.suspend_customer(actors.customers[3].address)
    assert caught.value.name == "MeteringInvalidCustomer"


@pytest.mark.parametrize("bad", ["0x1234", "not-an-address", "0x" + "g" * 40])
def test_addresses_are_validated_before_sending(provider: Provider, bad: str) -> None:
    with pytest.raises(ConfigError, match="not an address: "):
        provider.enroll_customer(bad)


def test_grant_and_revoke_agent(provider: Provider, actors: Actors) -> None:
    newcomer = actors.customers[4].address

    granted = provider.grant_agent(newcomer)
    revoked = provider.revoke_agent(newcomer)

    assert (granted.role, granted.holds, granted.changed) == ("AGENT_ROLE", True, True)
    assert (revoked.holds, revoked.changed) == (False, True)
    assert not provider.has_role(AGENT_ROLE, newcomer)


def test_only_the_admin_grants_roles(w3: Web3, meter: Contract, actors: Actors) -> None:
    impostor = Provider(w3, meter.address, actors.outsider)
    with pytest.raises(ContractRevertError) as caught:
        impostor.grant_agent(actors.outsider.address)
    assert caught.value.name == "AccessControlUnauthorizedAccount"
    assert caught.value.args_["account"] == actors.outsider.address
    assert "DEFAULT_ADMIN_ROLE" in str(caught.value)


def test_anchor_then_correct_an_invoice(provider: Provider, chain: Chain, actors: Actors) -> None:
    customer = actors.customers[0].address
    provider.enroll_customer(customer)
    timeframe = open_timeframe(provider, chain, length=50)
    with pytest.raises(ContractRevertError) as early:
        provider.anchor_invoice(customer, timeframe, b"\x01" * 32, 1234)
    assert early.value.name == "MeteringTimeframeNotEnded"
    chain.mine(provider.timeframe(timeframe).end)

    anchored = provider.anchor_invoice(customer, timeframe, "0x" + "01" * 32, 1234)
    corrected = provider.correct_invoice(customer, timeframe, b"\x02" * 32, 1200)

    assert (anchored.invoice_hash, anchored.total, anchored.revision) == (b"\x01" * 32, 1234, 0)
    assert (corrected.previous_hash, corrected.revision, corrected.total) == (b"\x01" * 32, 1, 1200)
    record = provider.invoice_anchor(customer, timeframe)
    assert record is not None and (record.invoice_hash, record.revision) == (b"\x02" * 32, 1)
    assert provider.invoice_anchor(actors.customers[1].address, timeframe) is None
    with pytest.raises(ContractRevertError) as stranger:
        provider.anchor_invoice(actors.customers[1].address, timeframe, b"\x03" * 32, 1)
    assert stranger.value.name == "MeteringInvalidCustomer"  # never enrolled: nobody to invoice


@pytest.mark.parametrize(("invoice_hash", "total"), [(b"\x01" * 31, 1), (b"\x01" * 32, -1), (b"\x01" * 32, 1.5)])
def test_invoice_arguments_are_validated(provider: Provider, invoice_hash: bytes, total: int) -> None:
    with pytest.raises(ConfigError):
        provider.anchor_invoice("0x" + "11" * 20, 1, invoice_hash, total)


def test_a_read_only_provider_reads_but_refuses_to_send(w3: Web3, meter: Contract) -> None:
    viewer = Provider(w3, meter.address, None)
    assert viewer.timeframe_count() == 0
    with pytest.raises(Exception, match="read-only"):
        viewer.enroll_customer("0x" + "11" * 20)


def test_unknown_timeframe_read_is_a_decoded_error(provider: Provider) -> None:
    with pytest.raises(ContractRevertError) as caught:
        provider.timeframe(42)
    assert caught.value.name == "MeteringUnknownTimeframe"


# ---------------------------------------------------------------------- closing instances


def test_the_provider_closes_an_instance_its_agent_cannot(
    provider: Provider, agent: Agent, market: Market, chain: Chain, actors: Actors
) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    assert first.started_at is not None
    chain.set_next_timestamp(first.started_at + 30)

    closure = provider.close_instance("0x" + first.instance_id.hex())

    assert (closure.instance_id, closure.expired) == (first.instance_id, False)
    assert closure.stopped_at == first.started_at + 30
    events = provider.events(provider.w3.eth.get_transaction_receipt(closure.tx_hash)["logs"])
    assert [e["event"] for e in events] == ["InstanceClosedByProvider"]
    assert events[0]["args"]["operator"] == actors.admin.address
    assert agent.instance(first.instance_id).status == InstanceStatus.CLOSED
    assert agent.usage(market.customer, market.timeframe, DB).leased_seconds == 30  # billing stopped then
    # the agent, retrying its own deactivation, learns who closed it
    seen = agent.deactivate(first.instance_id)
    assert isinstance(seen, Deactivated) and seen.replayed and seen.by_provider
    assert (seen.stopped_at, seen.tx_hash) == (closure.stopped_at, closure.tx_hash)


def test_closing_an_instance_whose_lease_ran_out_records_an_expiry(
    provider: Provider, agent: Agent, market: Market, chain: Chain
) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    chain.advance(100)

    closure = provider.close_instance(first.instance_id)

    assert (closure.stopped_at, closure.expired) == (first.lease_end, True)
    seen = agent.deactivate(first.instance_id)
    assert isinstance(seen, Expired) and seen.replayed and seen.lease_end == first.lease_end


def test_closing_a_closed_or_unknown_instance_is_refused(provider: Provider, agent: Agent, market: Market) -> None:
    first = granted(agent.activate(market.customer, DB, 60))
    provider.close_instance(first.instance_id)

    with pytest.raises(ContractRevertError, match=r"MeteringInstanceNotOpen.*status CLOSED"):
        provider.close_instance(first.instance_id)
    with pytest.raises(ContractRevertError, match=r"MeteringInstanceNotOpen.*status UNKNOWN"):
        provider.close_instance(agent.instance_id_of(first.request_id + 1))
    with pytest.raises(ConfigError, match="instance id"):
        provider.close_instance("0x1234")


def test_only_a_rules_manager_closes_instances(
    w3: Web3, meter: Contract, actors: Actors, agent: Agent, market: Market
) -> None:
    first = granted(agent.activate(market.customer, DB, 600))
    with pytest.raises(ContractRevertError) as caught:
        Provider(w3, meter.address, actors.agent).close_instance(first.instance_id)
    assert caught.value.name == "AccessControlUnauthorizedAccount"
    assert agent.instance(first.instance_id).status == InstanceStatus.OPEN

