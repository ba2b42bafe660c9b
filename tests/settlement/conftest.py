"""Fixtures of the settlement tests: a Settlement and test tokens beside the session's Meter, rolled back per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering.contract import currency_to_bytes
from metering.settlement.artifacts import settlement_abi, token_abi
from metering.settlement.deploy import deploy_settlement, deploy_test_token

PAYEE = "0x000000000000000000000000000000000000fee1"


@dataclass(frozen=True)
class Escrowed:
    """The session Meter, a Settlement beside it, and one token per currency: (token contract, units per minor)."""

    meter: Contract
    settlement: Contract
    tokens: dict[str, tuple[Contract, int]]


#: (currency, token decimals): a 6-decimal EUR coin, an 18-decimal USD coin, and JPY (no minor digits) at 18.
CURRENCIES = {"EUR": 6, "USD": 18, "JPY": 18}
MINOR_DIGITS = {"EUR": 2, "USD": 2, "JPY": 0}


@pytest.fixture(scope="session")
def escrowed_session(w3: Web3, deployed_meter: Contract, actors: Any) -> Escrowed:
    address = deploy_settlement(w3, actors.admin, deployed_meter.address, PAYEE)
    settlement = w3.eth.contract(address=address, abi=settlement_abi())
    tokens: dict[str, tuple[Contract, int]] = {}
    for currency, decimals in CURRENCIES.items():
        token = w3.eth.contract(address=deploy_test_token(w3, actors.admin, currency + "T", decimals), abi=token_abi())
        upm = 10 ** (decimals - MINOR_DIGITS[currency])
        tx = settlement.functions.setCurrencyToken(currency_to_bytes(currency), token.address, upm).transact(
            {"from": actors.admin.address}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        tokens[currency] = (token, upm)
    return Escrowed(deployed_meter, settlement, tokens)


@pytest.fixture
def escrowed(escrowed_session: Escrowed, chain: Any) -> Iterator[Escrowed]:
    snapshot = chain.snapshot()
    try:
        yield escrowed_session
    finally:
        chain.revert(snapshot)
