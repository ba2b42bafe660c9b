"""Deploying the Settlement contract beside a Meter, and the test token for local chains."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3

from metering.chain import checksum
from metering.chain.sender import Call, TransactionSender
from metering.contract import abi as meter_abi
from metering.contract import artifact
from metering.errors import TransactionFailedError
from metering.settlement.artifacts import SETTLEMENT, TOKEN, error_decoder

__all__ = ["SETTLEMENT_ROLE", "deploy_settlement", "deploy_test_token"]

SETTLEMENT_ROLE = keccak(text="SETTLEMENT_ROLE")


def _deploy(w3: Web3, sender: TransactionSender, name: str, args: list[object]) -> ChecksumAddress:
    """Deploys the shipped artifact ``name`` with constructor ``args``."""
    factory = w3.eth.contract(abi=artifact(name)["abi"], bytecode=artifact(name)["bytecode"])
    data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
    sent = sender.transact(Call(to=None, data=data, gas=None, min_gas=1_000_000, label=f"deploy {name}"))
    if sent.contract_address is None:
        raise TransactionFailedError(f"deploying {name} returned no contract address (tx {sent.tx_hash})")
    return sent.contract_address


def deploy_settlement(w3: Web3, admin: LocalAccount, meter: str, payee: str) -> ChecksumAddress:
    """Deploys a Settlement for ``meter`` owned by ``admin`` (the Meter's admin), paying ``payee``, and grants it
    the Meter's ``SETTLEMENT_ROLE`` (so it alone sets its prepaid customers' caps)."""
    sender = TransactionSender(w3, admin, error_decoder=error_decoder())
    meter_address = checksum(meter, what="the Meter contract")
    address = _deploy(w3, sender, SETTLEMENT, [meter_address, admin.address, checksum(payee, what="payee")])
    m = w3.eth.contract(address=meter_address, abi=meter_abi())
    data = bytes.fromhex(m.encode_abi("grantRole", args=[SETTLEMENT_ROLE, address])[2:])
    sender.transact(Call(to=meter_address, data=data, gas=None, min_gas=60_000, label="grantRole SETTLEMENT_ROLE"))
    return address


def deploy_test_token(w3: Web3, deployer: LocalAccount, symbol: str, decimals: int) -> ChecksumAddress:
    """Deploys OpenZeppelin's ERC20 test token (anyone may mint) for local chains."""
    sender = TransactionSender(w3, deployer, error_decoder=error_decoder())
    return _deploy(w3, sender, TOKEN, [symbol, decimals])
