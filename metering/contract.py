"""The Meter contract as Python sees it: the shipped ABI and bytecode, and its enums and ids.

Agents install ``metering`` without a compiler; everything they need to talk to the contract is read from
``metering/artifacts/``, which ``tools/compile_contracts.py`` produces (a test proves it matches the sources).
"""

from __future__ import annotations

import json
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Any

from metering.money import normalize_currency

__all__ = [
    "CONTRACT_NAME",
    "CustomerStatus",
    "DenialReason",
    "InstanceStatus",
    "LimitMode",
    "abi",
    "artifact",
    "bytecode",
    "currency_from_bytes",
    "currency_to_bytes",
    "deployed_bytecode",
]

CONTRACT_NAME = "Meter"


class LimitMode(IntEnum):
    """What a request beyond ``maxConcurrent``/``maxActivations`` gets: HARD denies, SOFT grants as overage."""

    HARD = 0
    SOFT = 1


class DenialReason(IntEnum):
    """Why the contract denied a request (codes as in ``IMeteringTypes.DenialReason``); NONE means granted."""

    NONE = 0
    NO_ACTIVE_TIMEFRAME = 1
    NO_RULES_FOR_TYPE = 2
    CUSTOMER_NOT_ENROLLED = 3
    CUSTOMER_SUSPENDED = 4
    CONCURRENCY_LIMIT_REACHED = 5
    ACTIVATION_QUOTA_REACHED = 6
    LEASE_EXPIRED = 7
    AGENT_NOT_APPROVED = 8
    SPENDING_CAP_REACHED = 9
    CAP_CURRENCY_MISMATCH = 10
    DEPOSIT_EXHAUSTED = 11


class InstanceStatus(IntEnum):
    """Lifecycle of an instance id on chain."""

    UNKNOWN = 0
    OPEN = 1
    CLOSED = 2
    DENIED = 3


class CustomerStatus(IntEnum):
    NONE = 0
    ENROLLED = 1
    SUSPENDED = 2


@cache
def artifact(name: str = CONTRACT_NAME) -> dict[str, Any]:
    """The compiled artifact shipped in the package (ABI, bytecode, metadata)."""
    text = resources.files("metering").joinpath("artifacts", f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def abi() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = artifact()["abi"]
    return result


def bytecode() -> str:
    return str(artifact()["bytecode"])


def deployed_bytecode() -> str:
    return str(artifact()["deployedBytecode"])


def currency_to_bytes(code: str) -> bytes:
    """An ISO 4217 currency code ("EUR", or "eur") as the contract's right-padded ``bytes8`` (``b"EUR\\0..."``).

    :raises ValueError: not an ISO 4217 code.
    """
    return normalize_currency(code).encode("ascii").ljust(8, b"\0")


def currency_from_bytes(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii")
