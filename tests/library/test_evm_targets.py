"""EVM targets: the node's EVM is probed before deploying, the build it runs is chosen, and a build it is too old
for is refused in one sentence instead of failing with "invalid opcode"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from web3 import Web3
from web3.providers.base import BaseProvider

from metering.chain.evm import EvmTarget, choose_target, load_artifact, parse_target, probe_node
from metering.chain.sender import Call, TransactionSender
from metering.errors import ConfigError, RpcUnavailableError, TransactionFailedError, UnsupportedEvmTargetError
from metering.provider import Provider

if TYPE_CHECKING:
    from tests.conftest import Actors, HardforkNodes

from tests.cli.helpers import free_port


def _w3(url: str) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))


@pytest.mark.parametrize(
    ("hardfork", "newest", "missing"),
    [
        ("paris", EvmTarget.PARIS, "PUSH0"),
        ("shanghai", EvmTarget.SHANGHAI, "TLOAD"),
        ("cancun", EvmTarget.CANCUN, None),
    ],
)
def test_probe_finds_the_newest_target_a_node_runs(
    hardfork_node: HardforkNodes, hardfork: str, newest: EvmTarget, missing: str | None
) -> None:
    found = probe_node(_w3(hardfork_node(hardfork).rpc_url))
    assert found.newest is newest
    assert found.missing_opcode == missing


def test_probe_on_a_node_newer_than_every_target_reports_the_newest_target(w3: Web3) -> None:
    assert probe_node(w3).newest is EvmTarget.CANCUN  # the session's anvil runs its newest hardfork


def test_cancun_bytecode_is_refused_on_a_paris_node_in_one_sentence(hardfork_node: HardforkNodes) -> None:
    with pytest.raises(UnsupportedEvmTargetError) as raised:
        choose_target(_w3(hardfork_node("paris").rpc_url), "cancun")
    message = str(raised.value)
    assert "runs EVM paris at most" in message
    assert "PUSH0" in message
    assert "--evm-version paris" in message
    assert "\n" not in message
    assert isinstance(raised.value, ConfigError)


def test_without_a_choice_the_newest_build_the_node_runs_is_chosen(hardfork_node: HardforkNodes, w3: Web3) -> None:
    assert choose_target(_w3(hardfork_node("paris").rpc_url)) is EvmTarget.PARIS
    assert choose_target(_w3(hardfork_node("shanghai").rpc_url)) is EvmTarget.SHANGHAI
    assert choose_target(w3) is EvmTarget.CANCUN
    assert choose_target(w3, "paris") is EvmTarget.PARIS  # an older build runs on a newer node


def test_provider_deploys_the_paris_build_on_a_paris_node(hardfork_node: HardforkNodes, actors: Actors) -> None:
    w3 = _w3(hardfork_node("paris").rpc_url)
    provider = Provider.deploy(w3, actors.customers[5])
    assert provider.evm_target is EvmTarget.PARIS
    assert w3.eth.get_code(provider.address).to_0x_hex() == load_artifact("paris")["deployedBytecode"]
    assert provider.timeframe_count() == 0


def test_the_cancun_build_really_fails_on_a_paris_node(hardfork_node: HardforkNodes, actors: Actors) -> None:
    """Why the probe exists: sent anyway, the deployment fails with the node's bare opcode error."""
    w3 = _w3(hardfork_node("paris").rpc_url)
    sender = TransactionSender(w3, actors.customers[4])
    init = bytes.fromhex(load_artifact("cancun")["bytecode"].removeprefix("0x")) + bytes(12) + bytes.fromhex(
        actors.customers[4].address[2:]
    ) + bytes(32)
    with pytest.raises(TransactionFailedError):
        sender.transact(Call(to=None, data=init, label="deploy cancun build"))


class _NoCreationCalls(BaseProvider):
    """A node that answers every eth_call with an error (some gateways refuse calls without ``to``)."""

    def make_request(self, method: Any, params: Any) -> Any:
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "missing 'to'"}}

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def test_a_node_that_cannot_be_probed_gets_the_paris_build_unless_told(actors: Actors) -> None:
    w3 = Web3(_NoCreationCalls())
    assert probe_node(w3).newest is None
    assert choose_target(w3) is EvmTarget.PARIS
    assert choose_target(w3, "cancun") is EvmTarget.CANCUN  # nothing known: an explicit choice is trusted


def test_probing_a_node_that_is_gone_is_an_rpc_error() -> None:
    with pytest.raises(RpcUnavailableError, match="probing its EVM version"):
        probe_node(_w3(f"http://127.0.0.1:{free_port()}"))


@pytest.mark.parametrize("text", ["london", "", "cancun2"])
def test_an_unknown_evm_version_names_the_choices(text: str) -> None:
    with pytest.raises(ConfigError, match="choose one of paris, shanghai, cancun"):
        parse_target(text)


def test_evm_versions_parse_in_any_case() -> None:
    assert parse_target("Shanghai") is EvmTarget.SHANGHAI
    assert parse_target(EvmTarget.PARIS) is EvmTarget.PARIS
