"""The Settlement contract's and the test token's shipped artifacts, and the error decoder of settlement calls."""

from __future__ import annotations

from functools import cache
from typing import Any

from metering._utils.abi_errors import ErrorDecoder
from metering.contract import abi as meter_abi
from metering.contract import artifact

__all__ = ["SETTLEMENT", "TOKEN", "error_decoder", "settlement_abi", "token_abi"]

SETTLEMENT = "Settlement"
#: OpenZeppelin's ERC20 at any decimals, anyone may mint: for local chains, the demo and the tests.
TOKEN = "TestToken"


def settlement_abi() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = artifact(SETTLEMENT)["abi"]
    return result


def token_abi() -> list[dict[str, Any]]:
    """An ERC-20's ABI (the test token's is a superset of the standard one, ``mint`` aside)."""
    result: list[dict[str, Any]] = artifact(TOKEN)["abi"]
    return result


@cache
def error_decoder() -> ErrorDecoder:
    """Decodes what a settlement transaction may revert with: its own errors, the Meter's (its hook reverts are
    bubbled up), and the token's (OpenZeppelin ``ERC20InsufficientAllowance`` and friends)."""
    return ErrorDecoder([*settlement_abi(), *meter_abi(), *token_abi()])
