"""Small immutable values shared by the provider, agent, indexer and invoice code.

Money is always an integer number of minor units of the timeframe's currency (cents for EUR), never a float.
Times are block-timestamp seconds. Ids mirror the contract: a timeframe id and an instance type are small
integers, an instance id is the agent's 32-byte request id.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from metering.contract import LimitMode

__all__ = ["InstanceId", "Rules", "Timeframe", "Usage", "rules_hash"]

#: A request id / instance id: 32 bytes.
InstanceId = bytes

UINT128_MAX = 2**128 - 1
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class Rules:
    """Billing rules of one instance type in one timeframe (as in ``IMeteringTypes.Rules``).

    A limit of 0 means "no limit". ``mode`` decides what a request beyond a limit gets.
    """

    price_per_activation: int
    price_per_second: int
    included_activations: int = 0
    included_seconds: int = 0
    max_concurrent: int = 0
    max_activations: int = 0
    mode: LimitMode = LimitMode.HARD

    def __post_init__(self) -> None:
        bounds = {
            "price_per_activation": UINT128_MAX,
            "price_per_second": UINT128_MAX,
            "included_activations": UINT64_MAX,
            "included_seconds": UINT64_MAX,
            "max_concurrent": UINT32_MAX,
            "max_activations": UINT32_MAX,
        }
        for name, bound in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer (minor units / counts), got {value!r}")
            if not 0 <= value <= bound:
                raise ValueError(f"{name} must be between 0 and {bound}, got {value}")
        object.__setattr__(self, "mode", LimitMode(self.mode))

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        """The ABI tuple the contract's ``setRules`` takes."""
        return (
            self.price_per_activation,
            self.price_per_second,
            self.included_activations,
            self.included_seconds,
            self.max_concurrent,
            self.max_activations,
            int(self.mode),
        )


def rules_hash(timeframe: int, instance_type: int, rules: Rules) -> bytes:
    """``keccak256(abi.encode(timeframe, instanceType, rules))``, exactly as the contract computes it."""
    encoded = encode(
        ["uint16", "uint16", "(uint128,uint128,uint64,uint64,uint32,uint32,uint8)"],
        [timeframe, instance_type, rules.as_tuple()],
    )
    return keccak(encoded)


@dataclass(frozen=True)
class Timeframe:
    """A billing period ``[start, end)`` priced in ``currency`` (e.g. "EUR")."""

    id: int
    start: int
    end: int
    currency: str

    def contains(self, timestamp: int) -> bool:
        return self.start <= timestamp < self.end


@dataclass(frozen=True)
class Usage:
    """The on-chain counters of (customer, timeframe, instance type).

    ``leased_seconds`` counts closed intervals plus open leases up to their current expiry, so after the
    timeframe ends it equals the seconds on the invoice whether or not expired leases were closed.
    """

    active: int
    activations: int
    overage_activations: int
    leased_seconds: int
