"""`metering deploy` leaves a deployment file and Sourcify-ready files and picks the build the node runs;
`metering verify-source` tells a perfect match from a partial match and a mismatch, each in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from eth_abi.abi import encode
from web3 import Web3

from metering._utils.bytecode import decode_metadata_trailer, split_metadata
from metering.chain.evm import load_artifact
from metering.provider import DEFAULT_ADMIN_TRANSFER_DELAY
from metering.provider.deployment import find_deployment

from .helpers import Cli, as_json, fails, flat, ok, plain

if TYPE_CHECKING:
    from tests.conftest import HardforkNodes


def _deploy_raw(cli: Cli, init: bytes) -> str:
    """Deploy creation code from the admin's (unlocked) anvil account; returns the new address."""
    w3 = cli.chain.w3
    tx = w3.eth.send_transaction({"from": cli.actors.admin.address, "data": "0x" + init.hex()})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def _meter_init(cli: Cli, target: str = "cancun") -> bytes:
    code = bytes.fromhex(load_artifact(target)["bytecode"].removeprefix("0x"))
    return code + encode(["address", "uint48"], [cli.actors.admin.address, 0])


# ---------------------------------------------------------------------------------------------------- deploy files


def test_deploy_writes_the_deployment_file_with_its_block_and_the_sourcify_files(cli: Cli) -> None:
    data = as_json(ok(cli("deploy", "--json")))
    record_path, folder = Path(data["deployment_file"]), Path(data["sourcify_dir"])
    assert record_path.parent == folder.parent == cli.tmp_path / "deployments"

    record = json.loads(record_path.read_text())
    receipt = cli.chain.w3.eth.get_transaction_receipt(data["tx_hash"])
    assert record["block_number"] == receipt["blockNumber"] == data["block_number"]
    assert record["address"] == data["address"] and record["chain_id"] == 31337
    assert record["evm_version"] == "cancun" and record["contract"] == "contracts/Meter.sol:Meter"

    build = load_artifact("cancun")
    assert (folder / "metadata.json").read_bytes() == build["metadata"].encode()  # byte for byte: it is hashed
    metadata = json.loads(build["metadata"])
    for unit in metadata["sources"]:
        assert (folder / "sources" / unit).is_file(), unit
    assert json.loads((folder / "standard-input.json").read_text()) == load_artifact("cancun", "standard-input")
    # `metering deploy` defaults to a 3-day admin transfer delay (contract v3's protective default).
    args = encode(["address", "uint48"], [cli.actors.admin.address, DEFAULT_ADMIN_TRANSFER_DELAY])
    assert (folder / "constructor-args.txt").read_text().strip() == "0x" + args.hex() == data["constructor_args"]
    request = json.loads((folder / "sourcify-request.json").read_text())
    assert request["stdJsonInput"] == load_artifact("cancun", "standard-input")
    assert request["compilerVersion"] == metadata["compiler"]["version"] == "0.8.28+commit.7893614a"
    assert request["contractIdentifier"] == "contracts/Meter.sol:Meter"
    assert request["creationTransactionHash"] == data["tx_hash"]


def test_deploy_prints_the_constructor_arguments_and_where_the_files_are(cli: Cli) -> None:
    out = flat(ok(cli("deploy")).stdout)
    args = encode(["address", "uint48"], [cli.actors.admin.address, DEFAULT_ADMIN_TRANSFER_DELAY]).hex()
    assert f"constructor arguments: 0x{args}" in out
    assert "deployment file: " in out and ".sourcify" in out
    assert "cancun build" in out


def test_the_recorded_deployment_block_is_found_by_chain_and_address(cli: Cli) -> None:
    data = as_json(ok(cli("deploy", "--json")))
    found = find_deployment(31337, data["address"].lower(), cli.tmp_path / "deployments")
    assert found is not None and found.block_number == data["block_number"]
    assert find_deployment(1, data["address"], cli.tmp_path / "deployments") is None


def test_deploy_into_a_folder_that_cannot_exist_fails_before_sending(cli: Cli) -> None:
    blocker = cli.tmp_path / "a-file"
    blocker.write_text("")
    nonce = cli.chain.w3.eth.get_transaction_count(cli.actors.admin.address)
    fails(cli("deploy", "--out", str(blocker / "deployments")), 3, "cannot create the deployments folder")
    assert cli.chain.w3.eth.get_transaction_count(cli.actors.admin.address) == nonce


# ---------------------------------------------------------------------------------------------------- EVM targets


def test_deploy_refuses_cancun_bytecode_on_a_paris_node_in_one_line(cli: Cli, hardfork_node: HardforkNodes) -> None:
    paris = hardfork_node("paris")
    w3 = Web3(Web3.HTTPProvider(paris.rpc_url))
    nonce = w3.eth.get_transaction_count(cli.actors.admin.address)
    line = fails(cli("deploy", "--evm-version", "cancun", ETH_RPC_URL=paris.rpc_url), 3, "runs EVM paris at most",
                 "PUSH0", "--evm-version paris")
    assert "invalid opcode" not in line.lower()
    assert w3.eth.get_transaction_count(cli.actors.admin.address) == nonce  # nothing was sent
    assert not list((cli.tmp_path / "deployments").glob("*.json"))


def test_deploy_picks_the_paris_build_on_a_paris_node_and_it_verifies(cli: Cli, hardfork_node: HardforkNodes) -> None:
    paris = hardfork_node("paris")
    data = as_json(ok(cli("deploy", "--json", ETH_RPC_URL=paris.rpc_url)))
    assert data["evm_version"] == "paris"
    w3 = Web3(Web3.HTTPProvider(paris.rpc_url))
    assert w3.eth.get_code(data["address"]).to_0x_hex() == load_artifact("paris")["deployedBytecode"]
    out = flat(ok(cli("verify-source", "--contract", data["address"], ETH_RPC_URL=paris.rpc_url)).stdout)
    assert out.startswith("perfect match:") and "paris build" in out


def test_an_explicit_older_build_deploys_on_a_newer_node(cli: Cli) -> None:
    data = as_json(ok(cli("deploy", "--json", "--evm-version", "Shanghai")))
    assert data["evm_version"] == "shanghai"


def test_an_unknown_evm_version_is_a_usage_error(cli: Cli) -> None:
    result = cli("deploy", "--evm-version", "london")
    assert result.exit_code == 2
    assert "london" in plain(result.output)


# ---------------------------------------------------------------------------------------------------- verify-source


def test_verify_source_reports_a_perfect_match_for_a_deployed_meter(cli: Cli) -> None:
    cli.deploy()
    out = flat(ok(cli("verify-source")).stdout)
    assert out.startswith(f"perfect match: {cli.contract} on chain 31337 runs the shipped contracts/Meter.sol:Meter")
    assert "cancun build" in out and "solc 0.8.28+commit.7893614a" in out


def test_verify_source_json_names_the_build_and_both_metadata_hashes(cli: Cli) -> None:
    cli.deploy()
    data = as_json(ok(cli("verify-source", "--json")))
    assert data["match"] == "perfect" and data["evm_version"] == "cancun"
    assert data["onchain_metadata"] == data["shipped_metadata"]
    assert data["onchain_metadata"].startswith("ipfs://Qm")


def test_verify_source_reports_a_partial_match_when_only_the_metadata_differs(cli: Cli) -> None:
    init = _meter_init(cli)
    _, trailer = split_metadata(bytes.fromhex(load_artifact("cancun")["deployedBytecode"].removeprefix("0x")))
    shipped_hash = decode_metadata_trailer(trailer)["ipfs"]
    assert isinstance(shipped_hash, bytes) and init.count(shipped_hash) == 1  # in the runtime code the init returns
    address = _deploy_raw(cli, init.replace(shipped_hash, shipped_hash[:2] + bytes(32)))

    result = cli("verify-source", "--contract", address)
    assert result.exit_code == 1, result.output
    out = flat(result.stdout)
    assert out.startswith(f"partial match: {address} on chain 31337 runs the code of the shipped cancun build")
    assert "metadata differs" in out


def test_verify_source_reports_a_mismatch_for_other_code(cli: Cli) -> None:
    address = _deploy_raw(cli, bytes.fromhex("600a600c600039600a6000f3") + bytes.fromhex("602a60005260206000f300"))
    result = cli("verify-source", "--contract", address)
    assert result.exit_code == 1
    assert flat(result.stdout).startswith(f"mismatch: the code at {address} on chain 31337 is none of the shipped")


def test_verify_source_against_one_build_only_reports_a_mismatch_for_another(cli: Cli) -> None:
    cli.deploy()
    result = cli("verify-source", "--evm-version", "paris")
    assert result.exit_code == 1
    assert flat(result.stdout).startswith("mismatch:")


def test_verify_source_without_code_at_the_address_is_bad_input(cli: Cli) -> None:
    fails(cli("verify-source", "--contract", "0x" + "12" * 20), 3, "no contract code at")


def test_verify_source_without_a_contract_is_bad_input(cli: Cli) -> None:
    fails(cli("verify-source"), 3, "no contract address")
