"""What the agent's calls return: small frozen results decoded from the events of their receipts.

A business decision is a result, never an exception: :class:`Granted` or :class:`Denied` for an activation,
:class:`Renewed`, :class:`RenewalDenied`, :class:`Continued` or :class:`ContinuationDenied` for a renewal, and
:class:`Deactivated` or :class:`Expired` for a stop. ``replayed=True`` marks a result that a retry found already
decided on chain (the fields are then those of the first decision).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from metering.contract import DenialReason

__all__ = [
    "ActivationRequest",
    "ActivationResult",
    "ContinuationDenied",
    "Continued",
    "Deactivated",
    "DeactivationResult",
    "Denied",
    "Expired",
    "Granted",
    "RenewResult",
    "RenewalDenied",
    "Renewed",
]


@dataclass(frozen=True)
class ActivationRequest:
    """One activation request for :meth:`Agent.activate_many`. ``request_id`` is chosen by the agent when ``None``;
    keep the one in the result to retry it safely."""

    customer: str
    instance_type: int
    lease_seconds: int
    request_id: int | None = None


@dataclass(frozen=True)
class Granted:
    """The instance may run from ``started_at`` until ``lease_end`` unless renewed.

    ``overage`` marks a grant beyond a soft limit. For a replayed request (``replayed=True``) the fields are those
    of the first decision; ``started_at`` and ``overage`` are ``None`` only if that decision is older than the
    agent's look-back window, and ``lease_end`` is then the record's current one. ``tx_hash`` is the transaction
    that carried this call.
    """

    instance_id: bytes
    request_id: int
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    started_at: int | None
    lease_end: int
    overage: bool | None
    tx_hash: str
    replayed: bool = False

    granted = True


@dataclass(frozen=True)
class Denied:
    """The request was refused and recorded; ``reason`` says why (``timeframe`` is 0 when none was active)."""

    instance_id: bytes
    request_id: int
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    reason: DenialReason
    tx_hash: str
    replayed: bool = False

    granted = False


ActivationResult = Granted | Denied


@dataclass(frozen=True)
class Renewed:
    """The lease now runs until ``lease_end`` (capped at the end of its timeframe)."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    lease_end: int
    tx_hash: str


@dataclass(frozen=True)
class RenewalDenied:
    """The lease was not extended. The customer is suspended, revoked this agent, or would cross its spending cap
    (the lease keeps its expiry); or it had already run out before its timeframe's end (``reason``
    ``LEASE_EXPIRED``; the instance is then closed, billed until ``expired_at``)."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    reason: DenialReason
    expired_at: int | None
    tx_hash: str
    replayed: bool = False


@dataclass(frozen=True)
class Continued:
    """The lease ran to the end of its timeframe (``ended_at``) and goes on in the next one under its rules, with
    the same instance id, billed from that timeframe's start (``started_at``) until ``lease_end``."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    ended_at: int
    started_at: int
    lease_end: int
    overage: bool
    tx_hash: str


@dataclass(frozen=True)
class ContinuationDenied:
    """The lease ran to the end of its timeframe (``ended_at``) and the next timeframe refused to continue it (or
    none started there): stop the instance."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    ended_at: int
    reason: DenialReason
    tx_hash: str


RenewResult = Renewed | RenewalDenied | Continued | ContinuationDenied


@dataclass(frozen=True)
class Deactivated:
    """The instance was stopped at ``stopped_at``, before its lease ran out; billing stopped there.
    ``by_provider`` is true when the provider closed it (found by a retried deactivation)."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    stopped_at: int
    tx_hash: str
    replayed: bool = False
    by_provider: bool = False


@dataclass(frozen=True)
class Expired:
    """The lease had already run out when the instance was closed; billing stopped at ``lease_end``."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    lease_end: int
    tx_hash: str
    replayed: bool = False


DeactivationResult = Deactivated | Expired
