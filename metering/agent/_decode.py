"""Pure decoding of the Meter's events into the agent's results, and the checks of the agent's inputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from web3.types import EventData

from metering.chain import checksum
from metering.contract import DenialReason
from metering.errors import ConfigError, MeteringError
from metering.types import UINT32_MAX

from .results import (
    ContinuationDenied,
    Continued,
    Deactivated,
    Denied,
    Expired,
    Granted,
    RenewalDenied,
    Renewed,
    RenewResult,
)

__all__ = ["deactivated", "denied", "expired", "granted", "hex_of", "lease", "renew_result", "request_of"]


def hex_of(value: bytes) -> str:
    return "0x" + value.hex()


def request_of(raw: bytes) -> int:
    """The request id inside an instance id (its last 8 bytes)."""
    return int.from_bytes(raw[24:], "big")


def lease(lease_seconds: int) -> int:
    """``lease_seconds`` if it is a lease the contract takes, else a :class:`ConfigError`."""
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) or not 1 <= lease_seconds <= UINT32_MAX:
        raise ConfigError(f"lease must be 1..{UINT32_MAX} seconds, got {lease_seconds!r}")
    return lease_seconds


def granted(args: Any, tx_hash: str) -> Granted:
    raw = bytes(args["instanceId"])
    return Granted(
        raw, request_of(raw), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["startedAt"]), int(args["leaseEnd"]), bool(args["overage"]), tx_hash,
    )


def denied(args: Any, tx_hash: str) -> Denied:
    raw = bytes(args["instanceId"])
    return Denied(
        raw, request_of(raw), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), DenialReason(int(args["reason"])), tx_hash,
    )


def deactivated(args: Any, tx_hash: str) -> Deactivated:
    return Deactivated(
        bytes(args["instanceId"]), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["stoppedAt"]), tx_hash,
    )


def expired(args: Any, tx_hash: str) -> Expired:
    return Expired(
        bytes(args["instanceId"]), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["leaseEnd"]), tx_hash,
    )


def renew_result(raw: bytes, events: Iterable[EventData], tx_hash: str) -> RenewResult:
    """What a ``renewLease`` transaction decided for ``raw``, from its events."""
    expired_at: int | None = None
    for event in events:
        name, args = event["event"], event["args"]
        if bytes(args.get("instanceId", b"")) != raw:
            continue
        customer = checksum(args["customer"]) if "customer" in args else None
        if name == "LeaseRenewed":
            assert customer is not None
            return Renewed(
                raw, customer, int(args["instanceType"]), int(args["timeframe"]), int(args["leaseEnd"]), tx_hash,
            )
        if name == "LeaseExpired":
            expired_at = int(args["leaseEnd"])
        elif name == "LeaseContinued":
            assert customer is not None
            return Continued(
                raw, customer, int(args["instanceType"]), int(args["timeframe"]), expired_at or 0,
                int(args["startedAt"]), int(args["leaseEnd"]), bool(args["overage"]), tx_hash,
            )
        elif name == "LeaseRenewalDenied":
            assert customer is not None
            reason = DenialReason(int(args["reason"]))
            if expired_at is not None and reason != DenialReason.LEASE_EXPIRED:
                return ContinuationDenied(
                    raw, customer, int(args["instanceType"]), int(args["timeframe"]), expired_at, reason, tx_hash,
                )
            return RenewalDenied(
                raw, customer, int(args["instanceType"]), int(args["timeframe"]), reason, expired_at, tx_hash,
            )
    raise MeteringError(f"renewal {tx_hash} of {hex_of(raw)} emitted no renewal event")
