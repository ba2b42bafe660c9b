"""The provider's operations, as a provider sees them: what the chain recorded after each call."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.contract import CustomerStatus, LimitMode
from metering.errors import ConfigError, ContractRevertError, RulesFileError
from metering.provider import AGENT_ROLE, RULES_MANAGER_ROLE, Provider
from metering.types import Rules, rules_hash

from .conftest import DB, DB_RULES, open_timeframe

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain

ROOT = Path(__file__).resolve().parents[2]


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
    second = provider.create_timeframe(start + 100, start + 200, "USDC")

    assert (first, second) == (1, 2)
    timeframe = provider.timeframe(second)
    assert (timeframe.start, timeframe.end, timeframe.currency) == (start + 100, start + 200, "USDC")


def test_create_timeframe_in_the_past_is_refused_with_the_decoded_error(provider: Provider, chain: Chain) -> None:
    now = chain.now()
    with pytest.raises(ContractRevertError) as caught:
        provider.create_timeframe(now - 10, now + 100, "EUR")
    assert caught.value.name == "MeteringTimeframeStartsInPast"
    assert caught.value.args_["start"] == now - 10
    assert "choose a start in the future" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "currency", "message"),
    [(10, 5, "EUR", "must be after its start"), (10, 20, "EURO!", "currency code"), (-1, 5, "EUR", "timestamp")],
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


def test_rules_are_frozen_once_the_timeframe_started(provider: Provider, chain: Chain) -> None:
    timeframe = open_timeframe(provider, chain)
    chain.mine(provider.timeframe(timeframe).start)

    with pytest.raises(ContractRevertError) as caught:
        provider.set_rules(timeframe, DB, DB_RULES)
    assert caught.value.name == "MeteringRulesFrozen"
    assert "frozen" in str(caught.value)


def test_apply_rules_file_sets_each_type_and_skips_unchanged_ones(
    provider: Provider, chain: Chain, tmp_path: Path
) -> None:
    timeframe = provider.create_timeframe(chain.now() + 100, chain.now() + 200, "EUR")
    text = (ROOT / "examples" / "rules.yaml").read_text().replace("timeframe: 1 ", f"timeframe: {timeframe} ")
    path = tmp_path / "rules.yaml"
    path.write_text(text)

    first = provider.apply_rules_file(path)
    again = provider.apply_rules_file(path)

    assert [(r.name, r.instance_type, r.changed) for r in first] == [("db-server", 1, True), ("web-worker", 2, True)]
    assert all(r.tx_hash is not None for r in first)
    assert [r.changed for r in again] == [False, False]
    assert [r.rules_hash for r in again] == [r.rules_hash for r in first]
    web = provider.rules(timeframe, 2)
    assert web == Rules(price_per_activation=0, price_per_second=1, max_concurrent=10, mode=LimitMode.SOFT)
    assert first[0].rules_hash == provider.rules_hash_on_chain(timeframe, 1)


def test_apply_rules_file_reports_a_bad_file_before_sending(provider: Provider, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("timeframe: 1\ntypes:\n  db:\n    id: 1\n    price_per_activation: 1\n    price_per_second: 0.5\n")
    with pytest.raises(RulesFileError, match=r"bad.yaml: types.db.price_per_second"):
        provider.apply_rules_file(path)


def test_enroll_and_suspend_report_whether_anything_changed(provider: Provider, actors: Actors) -> None:
    customer = actors.customers[0].address

    first = provider.enroll_customer(customer.lower())
    again = provider.enroll_customer(customer)
    suspended = provider.suspend_customer(customer)

    assert (first.customer, first.changed, again.changed) == (customer, True, False)
    assert (suspended.status, suspended.changed) == (CustomerStatus.SUSPENDED, True)
    assert provider.customer_status(customer) == CustomerStatus.SUSPENDED


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
