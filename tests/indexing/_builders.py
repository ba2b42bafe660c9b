"""Hand-made event histories for the pure invoice tests: each call appends the next event in chain order.

Instance ids are real v2 ids (``agent | request id``) of the test agent (anvil's dev account #1, the ``agent`` of
tests/conftest.py), so the ids a pure test builds are the ones the contract emits for the same labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from metering.audit.events import (
    ActivationDenied,
    ActivationGranted,
    ActivationReplayed,
    InstanceClosedByProvider,
    InstanceDeactivated,
    LeaseContinued,
    LeaseExpired,
    LeaseRenewalDenied,
    LeaseRenewed,
    MeterEvent,
)
from metering.contract import DenialReason, InstanceStatus
from metering.types import instance_id, request_id

CUSTOMER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
OTHER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
#: anvil's dev account #1: the agent of the chain tests.
AGENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def digest(label: str) -> bytes:
    """32 bytes that read as their label in test failures (hashes, not ids)."""
    return hashlib.sha256(label.encode()).digest()


def rid(label: str, generation: int = 1) -> int:
    """The request id of a label: a seat of its own (from its hash), at ``generation``."""
    return request_id(int.from_bytes(digest(label)[:7], "big"), generation)


def ident(label: str, generation: int = 1, agent: str = AGENT) -> bytes:
    """The instance id the contract gives ``agent``'s request ``rid(label, generation)``."""
    return instance_id(agent, rid(label, generation))


@dataclass
class History:
    """Events in chain order: one block per event, one log each, deterministic hashes."""

    timeframe: int = 1
    customer: str = CUSTOMER
    events: list[MeterEvent] = field(default_factory=list)
    block: int = 10

    def _where(self) -> dict[str, object]:
        self.block += 1
        return {
            "block_number": self.block,
            "block_hash": digest(f"block{self.block}"),
            "tx_hash": digest(f"tx{self.block}"),
            "log_index": 0,
        }

    def _usage(self, name: str, kind: int, customer: str, timeframe: int) -> dict[str, object]:
        return {
            **self._where(),
            "instance_id": ident(name),
            "customer": customer or self.customer,
            "instance_type": kind,
            "timeframe": timeframe or self.timeframe,
        }

    def grant(
        self, name: str, kind: int, started_at: int, lease_end: int, *, overage: bool = False, customer: str = "",
        timeframe: int = 0,
    ) -> ActivationGranted:
        event = ActivationGranted(
            **self._usage(name, kind, customer, timeframe), started_at=started_at, lease_end=lease_end,
            overage=overage,
        )
        self.events.append(event)
        return event

    def cont(
        self, name: str, kind: int, started_at: int, lease_end: int, *, overage: bool = False, customer: str = "",
        timeframe: int = 0,
    ) -> LeaseContinued:
        event = LeaseContinued(
            **self._usage(name, kind, customer, timeframe), started_at=started_at, lease_end=lease_end,
            overage=overage,
        )
        self.events.append(event)
        return event

    def renew(self, name: str, kind: int, lease_end: int, *, customer: str = "") -> LeaseRenewed:
        event = LeaseRenewed(**self._usage(name, kind, customer, 0), lease_end=lease_end)
        self.events.append(event)
        return event

    def deactivate(self, name: str, kind: int, stopped_at: int) -> InstanceDeactivated:
        event = InstanceDeactivated(**self._usage(name, kind, "", 0), stopped_at=stopped_at)
        self.events.append(event)
        return event

    def close(self, name: str, kind: int, stopped_at: int) -> InstanceClosedByProvider:
        event = InstanceClosedByProvider(**self._usage(name, kind, "", 0), stopped_at=stopped_at, operator=PROVIDER)
        self.events.append(event)
        return event

    def expire(self, name: str, kind: int, lease_end: int) -> LeaseExpired:
        event = LeaseExpired(**self._usage(name, kind, "", 0), lease_end=lease_end)
        self.events.append(event)
        return event

    def expire_late(self, lease: ActivationGranted | LeaseContinued | LeaseRenewed) -> LeaseExpired:
        """A third party closes the lease of ``lease``'s instance, whenever that is (its billing had stopped)."""
        event = LeaseExpired(
            **self._where(), instance_id=lease.instance_id, customer=lease.customer,
            instance_type=lease.instance_type, timeframe=lease.timeframe, lease_end=lease.lease_end,
        )
        self.events.append(event)
        return event

    def deny(self, name: str, kind: int, reason: DenialReason = DenialReason.ACTIVATION_QUOTA_REACHED) -> None:
        self.events.append(ActivationDenied(**self._usage(name, kind, "", 0), reason=reason))

    def deny_renewal(self, name: str, kind: int) -> None:
        self.events.append(
            LeaseRenewalDenied(**self._usage(name, kind, "", 0), reason=DenialReason.CUSTOMER_SUSPENDED)
        )

    def replay(self, name: str) -> None:
        self.events.append(
            ActivationReplayed(
                **self._where(),
                instance_id=ident(name), customer=self.customer, status=InstanceStatus.OPEN, reason=DenialReason.NONE,
            )
        )
