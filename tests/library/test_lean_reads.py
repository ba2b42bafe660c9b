"""The CLI's lean reader (no web3) answers exactly as the library's web3 client, on one chain state.

:class:`~metering.chain.lean.LeanMeter` and :class:`~metering._utils.client.MeterClient` share the typed parsing
(:class:`~metering._utils.reads.MeterReads`); what differs is the transport and the ABI coding, so every read is
compared value for value, reverts and refusals included, and the indexer, the block clock and the deployment search
are compared on both transports too.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web3 import Web3
from web3.contract import Contract

from metering._utils.client import AGENT_ROLE, DEFAULT_ADMIN_ROLE, RULES_MANAGER_ROLE
from metering.agent import Agent
from metering.audit.blocktime import NodeClock
from metering.audit.indexer import Indexer, find_deployment_block
from metering.audit.store import Store
from metering.chain import connect, meter_contract
from metering.chain.lean import LeanMeter, LeanNode, NodeRefusedError, lean_connect
from metering.chain.node import LocalNode
from metering.customer import Customer
from metering.errors import ConfigError, ContractRevertError, RpcUnavailableError
from metering.provider import Provider
from metering.provider.roles import Roles

from .conftest import DB, WEB, Market, granted

if TYPE_CHECKING:
    from tests.conftest import Actors


@pytest.fixture
def lean(node: LocalNode, meter: Contract) -> LeanMeter:
    return LeanMeter.at(lean_connect(node.rpc_url, timeout=10), meter.address)


@pytest.fixture
def busy_market(market: Market, agent: Agent, me: Customer, actors: Actors) -> Market:
    """The market with an instance running, a cap, a restriction and an approval: every read has a value to show."""
    granted(agent.activate(market.customer, DB, 600))
    me.set_spending_cap(12_345, "EUR")
    me.set_agent_restriction(True)
    me.approve_agent(actors.agent.address)
    return market


def test_every_typed_read_is_the_same_on_both_transports(
    lean: LeanMeter, provider: Provider, busy_market: Market, actors: Actors
) -> None:
    m = busy_market
    assert lean.timeframe_count() == provider.timeframe_count() >= 1
    assert lean.active_timeframe() == provider.active_timeframe() == m.timeframe
    assert lean.timeframe(m.timeframe) == provider.timeframe(m.timeframe)
    assert lean.cap_timeframe_currency() == provider.cap_timeframe_currency() == "EUR"
    for kind in (DB, WEB, 9):
        assert lean.rules(m.timeframe, kind) == provider.rules(m.timeframe, kind)
        assert lean.rules_hash_on_chain(m.timeframe, kind) == provider.rules_hash_on_chain(m.timeframe, kind)
        for who in (m.customer, m.customer2, m.stranger):
            assert lean.usage(who, m.timeframe, kind) == provider.usage(who, m.timeframe, kind)
    assert lean.usage(m.customer, m.timeframe, DB).running == 1  # the comparison saw a non-empty record
    for who in (m.customer, m.customer2, m.stranger):
        assert lean.customer_status(who) == provider.customer_status(who)
        assert lean.customer_account(who) == provider.customer_account(who)
        assert lean.spent(who, m.timeframe) == provider.spent(who, m.timeframe)
        assert lean.may_bill(who, actors.agent.address) == provider.may_bill(who, actors.agent.address)
        assert lean.agent_approved(who, actors.agent.address) == provider.agent_approved(who, actors.agent.address)
    assert lean.customer_account(m.customer).spending_cap == 12_345
    assert lean.seat(actors.agent.address, 0) == provider.seat(actors.agent.address, 0)
    seat = provider.seat(actors.agent.address, 0)
    from metering.types import instance_id

    running = instance_id(actors.agent.address, seat.generation)
    assert lean.instance(running) == provider.instance(running) and lean.instance(running).customer == m.customer
    unknown = instance_id(actors.agent.address, 77 << 8 | 1)
    assert lean.instance(unknown) == provider.instance(unknown)
    for role in (DEFAULT_ADMIN_ROLE, RULES_MANAGER_ROLE, AGENT_ROLE):
        for account in (actors.admin.address, actors.agent.address, actors.outsider.address):
            assert lean.has_role(role, account) == provider.has_role(role, account)
    assert lean.max_batch() == provider.max_batch()
    roles = Roles(provider.w3, provider.address, None)
    assert lean.admin_state() == roles.admin_state() and lean.admin_state().admin == actors.admin.address
    for account in (actors.admin.address, actors.agent.address, actors.outsider.address):
        assert lean.roles_of(account) == roles.roles_of(account)
    assert lean.roles_of(actors.agent.address) == ["AGENT_ROLE"]
    assert lean.chain_time() == provider.chain_time()


def test_a_revert_is_the_same_decoded_error(lean: LeanMeter, provider: Provider, market: Market) -> None:
    with pytest.raises(ContractRevertError) as web3_error:
        provider.timeframe(999)
    with pytest.raises(ContractRevertError) as lean_error:
        lean.timeframe(999)
    assert web3_error.value.name == lean_error.value.name == "MeteringUnknownTimeframe"
    assert str(lean_error.value) == str(web3_error.value)
    assert lean_error.value.args_ == web3_error.value.args_


def test_bad_input_is_refused_with_the_same_words(lean: LeanMeter, provider: Provider) -> None:
    for call in (lambda r: r.usage("0xnope", 1, 1), lambda r: r.instance("0x1234"),
                 lambda r: r.customer_account("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293Bc")):
        with pytest.raises(ConfigError) as web3_error:
            call(provider)
        with pytest.raises(ConfigError) as lean_error:
            call(lean)
        assert str(lean_error.value) == str(web3_error.value)


def test_the_meter_checks_say_what_meter_contract_says(node: LocalNode, w3: Web3, meter: Contract,
                                                        actors: Actors) -> None:
    lean_node = lean_connect(node.rpc_url, timeout=10)
    for address in (actors.outsider.address, "0x" + "0" * 40, "not-an-address"):
        with pytest.raises(ConfigError) as web3_error:
            meter_contract(w3, address)
        with pytest.raises(ConfigError) as lean_error:
            LeanMeter.at(lean_node, address)
        assert str(lean_error.value) == str(web3_error.value)
    assert LeanMeter.at(lean_node, meter.address.lower()).address == meter.address


def test_connecting_fails_with_the_same_words(node: LocalNode) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    for url in ("ftp://127.0.0.1:1", f"http://127.0.0.1:{free}"):
        with pytest.raises((ConfigError, RpcUnavailableError)) as web3_error:
            connect(url, timeout=2)
        with pytest.raises((ConfigError, RpcUnavailableError)) as lean_error:
            lean_connect(url, timeout=2)
        assert type(lean_error.value) is type(web3_error.value)
        assert str(lean_error.value) == str(web3_error.value)


def test_a_node_that_stops_answering_is_retried_then_named(node: LocalNode, meter: Contract) -> None:
    """A node that accepts and closes (or never answers) after the connection check: retried, then one
    :class:`RpcUnavailableError` naming the call, never a raw socket error."""
    reader = LeanMeter.at(lean_connect(node.rpc_url, timeout=10), meter.address)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        stop = threading.Event()

        def hang_up() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        reader.node = LeanNode(f"http://127.0.0.1:{server.getsockname()[1]}", 2, chain_id=31337)
        try:
            with pytest.raises(RpcUnavailableError, match="did not answer eth_call timeframeCount after 5 attempts"):
                reader.timeframe_count()
        finally:
            stop.set()
            thread.join()


def test_a_refusal_that_is_no_revert_stays_a_refusal(node: LocalNode) -> None:
    lean_node = lean_connect(node.rpc_url, timeout=10)
    with pytest.raises(NodeRefusedError, match="the node refused no_such_method"):
        lean_node.request("no_such_method", [])


def test_indexing_clock_and_deployment_search_agree_on_both_transports(
    node: LocalNode, w3: Web3, meter: Contract, busy_market: Market, tmp_path: Path
) -> None:
    lean_node = lean_connect(node.rpc_url, timeout=10)
    assert find_deployment_block(lean_node, meter.address) == find_deployment_block(w3, meter.address)
    start = find_deployment_block(w3, meter.address)
    stores = []
    for name, via in (("web3", w3), ("lean", lean_node)):
        store = Store(tmp_path / f"{name}.sqlite", chain_id=31337, contract=meter.address)
        result = Indexer(via, meter.address, store, start_block=start).sync()
        assert result.events > 0
        stores.append(store)
    web3_store, lean_store = stores
    assert lean_store.events() == web3_store.events()
    assert lean_store.last_block == web3_store.last_block
    head = w3.eth.block_number
    clocks = (NodeClock(w3), NodeClock(lean_node))
    assert clocks[0].head() == clocks[1].head() == head
    for number in (0, start, head):
        assert clocks[0].timestamp(number) == clocks[1].timestamp(number)
    for store in stores:
        store.close()
