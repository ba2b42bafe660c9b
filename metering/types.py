"""Small immutable values shared by the provider, agent, indexer and invoice code.

Money is always an integer, never a float: invoice amounts in minor units of the timeframe's currency (cents for
EUR), prices in micro-units (millionths of the minor unit, see :mod:`metering.money`). Times are block-timestamp
seconds. Ids mirror the contract: a timeframe id and an instance type are small integers; an agent's request id is
``seat << 8 | generation`` (a uint64), and the instance id of a request is the agent's address followed by it
(:func:`instance_id`), so an instance id names the agent that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

from metering.contract import LimitMode

__all__ = [
    "MAX_CONCURRENT",
    "MAX_GENERATION",
    "InstanceId",
    "Rules",
    "Timeframe",
    "Usage",
    "instance_id",
    "request_id",
    "rules_hash",
    "split_instance_id",
]

#: An instance id: 32 bytes, ``agent (20 bytes) | 4 zero bytes | request id (8 bytes)``.
InstanceId = bytes

UINT128_MAX = 2**128 - 1
UINT64_MAX = 2**64 - 1
UINT56_MAX = 2**56 - 1
UINT48_MAX = 2**48 - 1
UINT32_MAX = 2**32 - 1
UINT24_MAX = 2**24 - 1
UINT16_MAX = 2**16 - 1
#: The largest ``max_concurrent`` rules may set (``IMeter.MAX_CONCURRENT``).
MAX_CONCURRENT = 99
#: A seat is used by generations 1 to 255, then the agent moves to another seat.
MAX_GENERATION = 255

RULES_ABI = "(uint48,uint48,uint48,uint24,uint32,uint32,uint16,uint32,uint8,uint32)"


@dataclass(frozen=True)
class Rules:
    """Billing rules of one instance type in one timeframe (as in ``IMeteringTypes.Rules``).

    Prices are micro-units of the timeframe's currency; running time costs ``price_per_time_unit`` per
    ``time_unit_seconds`` (0.12 EUR per hour: ``Rules(price_per_time_unit=12_000_000, time_unit_seconds=3600)``).
    A limit of 0 means "no limit". ``mode`` decides what a request beyond a limit gets. A continuation into the
    next timeframe costs ``price_per_continuation`` and is not an activation. ``max_lease_seconds`` bounds every
    lease granted, renewed or continued (0: the timeframe's end only): how long an instance may run past its agent's
    last renewal, so past a revoke too.
    """

    price_per_activation: int = 0
    price_per_time_unit: int = 0
    time_unit_seconds: int = 1
    included_activations: int = 0
    included_seconds: int = 0
    max_concurrent: int = 0
    max_activations: int = 0
    mode: LimitMode = LimitMode.HARD
    price_per_continuation: int = 0
    max_lease_seconds: int = 0

    def __post_init__(self) -> None:
        bounds = {
            "price_per_activation": (0, UINT48_MAX),
            "price_per_continuation": (0, UINT48_MAX),
            "price_per_time_unit": (0, UINT48_MAX),
            "time_unit_seconds": (1, UINT24_MAX),
            "included_activations": (0, UINT32_MAX),
            "included_seconds": (0, UINT32_MAX),
            "max_concurrent": (0, MAX_CONCURRENT),
            "max_activations": (0, UINT32_MAX),
            "max_lease_seconds": (0, UINT32_MAX),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer (micro-units / seconds / counts), got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")
        object.__setattr__(self, "mode", LimitMode(self.mode))

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int, int, int, int]:
        """The ABI tuple the contract's ``setRules`` takes (field order of ``IMeteringTypes.Rules``)."""
        return (
            self.price_per_activation,
            self.price_per_continuation,
            self.price_per_time_unit,
            self.time_unit_seconds,
            self.included_activations,
            self.included_seconds,
            self.max_concurrent,
            self.max_activations,
            int(self.mode),
            self.max_lease_seconds,
        )

    @classmethod
    def from_tuple(cls, values: tuple[int, ...] | list[int]) -> Rules:
        """The rules from the contract's ABI tuple (a ``rules()`` view or a ``RulesSet`` event)."""
        (activation, continuation, time_price, unit, included_act, included_sec, concurrent, activations, mode,
         max_lease) = (int(v) for v in values)
        return cls(
            price_per_activation=activation,
            price_per_continuation=continuation,
            price_per_time_unit=time_price,
            time_unit_seconds=unit,
            included_activations=included_act,
            included_seconds=included_sec,
            max_concurrent=concurrent,
            max_activations=activations,
            mode=LimitMode(mode),
            max_lease_seconds=max_lease,
        )


def rules_hash(timeframe: int, instance_type: int, rules: Rules) -> bytes:
    """``keccak256(abi.encode(timeframe, instanceType, rules))``, exactly as the contract computes it.

    Remembered per (timeframe, type, rules), which are immutable: every invoice pass checks each ``RulesSet`` of its
    timeframe against its hash and prints the hash on each line, and eth_abi's encoder takes some 35 us a call, a
    fixed cost that is most of a small timeframe's setup; a process meets few distinct rules."""
    return _rules_hash(timeframe, instance_type, rules)


@lru_cache(maxsize=1024, typed=True)
def _rules_hash(timeframe: int, instance_type: int, rules: Rules) -> bytes:
    return keccak(encode(["uint16", "uint16", RULES_ABI], [timeframe, instance_type, rules.as_tuple()]))


def request_id(seat: int, generation: int) -> int:
    """An agent's request id: ``seat << 8 | generation`` (generation 1 to 255)."""
    if not 0 <= seat <= UINT56_MAX:
        raise ValueError(f"seat must be between 0 and {UINT56_MAX}, got {seat}")
    if not 1 <= generation <= MAX_GENERATION:
        raise ValueError(f"generation must be between 1 and {MAX_GENERATION}, got {generation}")
    return (seat << 8) | generation


def instance_id(agent: str | bytes, request: int) -> bytes:
    """The instance id of ``agent``'s request ``request``: ``bytes32(uint160(agent)) << 96 | request``."""
    raw = bytes.fromhex(agent[2:] if agent.startswith("0x") else agent) if isinstance(agent, str) else bytes(agent)
    if len(raw) != 20:
        raise ValueError(f"an agent address has 20 bytes, got {len(raw)}")
    if not 0 <= request <= UINT64_MAX:
        raise ValueError(f"a request id is a uint64, got {request}")
    return raw + b"\0" * 4 + request.to_bytes(8, "big")


def split_instance_id(instance: bytes) -> tuple[ChecksumAddress, int, int]:
    """The agent (checksummed), seat and generation an instance id is made of.

    :raises ValueError: not 32 bytes, or not made by :func:`instance_id`.
    """
    from eth_utils.address import to_checksum_address

    if len(instance) != 32 or instance[20:24] != b"\0\0\0\0":
        raise ValueError(f"not an instance id: 0x{bytes(instance).hex()}")
    request = int.from_bytes(instance[24:], "big")
    return to_checksum_address(instance[:20]), request >> 8, request & 0xFF


@dataclass(frozen=True)
class Timeframe:
    """A billing period ``[start, end)`` priced in ``currency`` (an ISO 4217 code, e.g. "EUR")."""

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
    timeframe ends it equals the seconds on the invoice whether or not expired leases were closed. ``running``
    counts seats held by leases that have not ended (types with a concurrency limit only).
    """

    activations: int
    overage_activations: int
    leased_seconds: int
    running: int
