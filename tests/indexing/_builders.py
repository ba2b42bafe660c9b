"""Hand-made event histories for the pure invoice tests: each call appends the next event in chain order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from metering.contract import DenialReason, InstanceStatus
from metering.events import (
    ActivationDenied,
    ActivationGranted,
    ActivationReplayed,
    InstanceDeactivated,
    LeaseExpired,
    LeaseRenewalDenied,
    LeaseRenewed,
    MeterEvent,
)

CUSTOMER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
OTHER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def ident(label: str) -> bytes:
    """A 32-byte id that reads as its label in test failures."""
    return hashlib.sha256(label.encode()).digest()


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
            "block_hash": ident(f"block{self.block}"),
            "tx_hash": ident(f"tx{self.block}"),
            "log_index": 0,
        }

    def grant(
        self, name: str, kind: int, started_at: int, lease_end: int, *, overage: bool = False, customer: str = "",
        timeframe: int = 0,
    ) -> ActivationGranted:
        event = ActivationGranted(
            **self._where(),
            instance_id=ident(name),
            customer=customer or self.customer,
            instance_type=kind,
            timeframe=timeframe or self.timeframe,
            started_at=started_at,
            lease_end=lease_end,
            overage=overage,
        )
        self.events.append(event)
        return event

    def renew(self, name: str, kind: int, lease_end: int, *, customer: str = "") -> LeaseRenewed:
        event = LeaseRenewed(
            **self._where(),
            instance_id=ident(name), customer=customer or self.customer, instance_type=kind,
            timeframe=self.timeframe, lease_end=lease_end,
        )
        self.events.append(event)
        return event

    def deactivate(self, name: str, kind: int, stopped_at: int) -> InstanceDeactivated:
        event = InstanceDeactivated(
            **self._where(),
            instance_id=ident(name), customer=self.customer, instance_type=kind, timeframe=self.timeframe,
            stopped_at=stopped_at,
        )
        self.events.append(event)
        return event

    def expire(self, name: str, kind: int, lease_end: int) -> LeaseExpired:
        event = LeaseExpired(
            **self._where(),
            instance_id=ident(name), customer=self.customer, instance_type=kind, timeframe=self.timeframe,
            lease_end=lease_end,
        )
        self.events.append(event)
        return event

    def deny(self, name: str, kind: int, reason: DenialReason = DenialReason.ACTIVATION_QUOTA_REACHED) -> None:
        self.events.append(
            ActivationDenied(
                **self._where(),
                request_id=ident(name), customer=self.customer, instance_type=kind, timeframe=self.timeframe,
                reason=reason,
            )
        )

    def deny_renewal(self, name: str, kind: int) -> None:
        self.events.append(
            LeaseRenewalDenied(
                **self._where(),
                instance_id=ident(name), customer=self.customer, instance_type=kind, timeframe=self.timeframe,
                reason=DenialReason.CUSTOMER_SUSPENDED,
            )
        )

    def replay(self, name: str) -> None:
        self.events.append(
            ActivationReplayed(
                **self._where(),
                request_id=ident(name), customer=self.customer, status=InstanceStatus.OPEN, reason=DenialReason.NONE,
            )
        )
