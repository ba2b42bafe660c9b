"""What the chain recorded about an instance, for a retry whose first attempt may have decided it already.

A request id the contract has seen is answered ``ActivationReplayed`` without the first decision, and a stop or
renewal of a closed instance reverts; the first outcome is then read from the instance's record and, within a
look-back window, from the event that decided it. An instance whose seat has moved on to a later generation has no
record any more (``Unknown``): it ended, and its closing event says how.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from eth_typing import HexStr
from web3.exceptions import Web3Exception
from web3.types import EventData, FilterParams

from metering._utils.client import MeterClient
from metering.chain import checksum
from metering.contract import DenialReason, InstanceStatus
from metering.errors import ContractRevertError, MeteringError

from ._decode import deactivated, expired, granted, hex_of, request_of
from .results import Deactivated, Denied, Expired, Granted, RenewalDenied

__all__ = ["Records"]

log = logging.getLogger("metering.agent")


class Records:
    """Reads the first outcome of an instance through ``client``, ``lookback_blocks`` back at most."""

    def __init__(self, client: MeterClient, lookback_blocks: int) -> None:
        self._client = client
        self.lookback_blocks = lookback_blocks

    def replayed(self, raw: bytes, tx_hash: str) -> Granted | Denied:
        """The first decision on ``raw``, for a request the contract had already decided."""
        record = self._client.instance(raw)
        if record.status == InstanceStatus.DENIED:
            return Denied(
                raw, request_of(raw), record.customer, record.instance_type, record.timeframe, record.reason,
                tx_hash, replayed=True,
            )
        original = self.find_event("ActivationGranted", raw)
        if original is not None:
            return replace(granted(original["args"], tx_hash), replayed=True)
        return Granted(
            raw, request_of(raw), record.customer, record.instance_type, record.timeframe, None, record.lease_end,
            None, tx_hash, replayed=True,
        )

    def renewal_denied(self, raw: bytes) -> RenewalDenied | None:
        """The denial of a renewal that closed ``raw`` (our first attempt's), if there was one."""
        found = self.find_event("LeaseRenewalDenied", raw)
        if found is None:
            return None
        args = found["args"]
        expiry = self.find_event("LeaseExpired", raw)
        return RenewalDenied(
            raw, checksum(args["customer"]), int(args["instanceType"]), int(args["timeframe"]),
            DenialReason(int(args["reason"])), int(expiry["args"]["leaseEnd"]) if expiry else None,
            hex_of(bytes(found["transactionHash"])), replayed=True,
        )

    def closure(self, raw: bytes, cause: ContractRevertError, attempted: list[str]) -> Deactivated | Expired:
        """How ``raw`` was closed (by our earlier attempt, by an expiry in between, or by the provider); ``cause``
        is raised if it is not closed. Only this agent can deactivate its instance, so an ``InstanceDeactivated``
        for it is our own earlier success."""
        record = self._client.instance(raw)
        reused = record.status == InstanceStatus.UNKNOWN and self.seat_moved_on(raw)
        if record.status != InstanceStatus.CLOSED and not reused:
            raise cause
        for name in ("InstanceDeactivated", "InstanceClosedByProvider", "InstanceStoppedByCustomer", "LeaseExpired"):
            found = self.find_event(name, raw)
            if found is None:
                continue
            tx_hash = hex_of(bytes(found["transactionHash"]))
            args = found["args"]
            if name == "LeaseExpired":
                return replace(expired(args, tx_hash), replayed=True)
            return replace(deactivated(args, tx_hash), replayed=True, by_provider=name != "InstanceDeactivated")
        if reused:
            raise self._beyond_lookback(raw)
        return Deactivated(
            raw, record.customer, record.instance_type, record.timeframe, record.lease_end,
            attempted[0] if attempted else "", replayed=True,
        )

    def expiry_of_reused(self, raw: bytes, cause: ContractRevertError) -> RenewalDenied:
        """A renewal of ``raw`` found no instance (``MeteringInstanceNotOpen(Unknown)``): if its seat moved on, its
        lease had run out and a later activation on the seat closed it (``LeaseExpired``). That is what a renewal
        of an expired lease answers (``LEASE_EXPIRED``, billed until ``expired_at``); anything else raises
        ``cause``."""
        if not self.seat_moved_on(raw):
            raise cause
        found = self.find_event("LeaseExpired", raw)
        if found is None:
            raise self._beyond_lookback(raw)
        args = found["args"]
        return RenewalDenied(
            raw, checksum(args["customer"]), int(args["instanceType"]), int(args["timeframe"]),
            DenialReason.LEASE_EXPIRED, int(args["leaseEnd"]), hex_of(bytes(found["transactionHash"])),
            replayed=True,
        )

    def seat_moved_on(self, raw: bytes) -> bool:
        """Whether the seat of ``raw`` holds a later generation now: the contract then forgets ``raw``'s record
        (its ``instance`` view says ``Unknown``), though the instance existed and has ended."""
        request = request_of(raw)
        if request & 0xFF == 0:
            return False
        current = self._client.seat(checksum(hex_of(raw[:20])), request >> 8).generation
        return current > request & 0xFF

    def _beyond_lookback(self, raw: bytes) -> MeteringError:
        return MeteringError(
            f"instance {hex_of(raw)} has ended and its seat was reused, but its closing event is more than "
            f"{self.lookback_blocks} blocks back: raise replay_lookback_blocks to find how it ended"
        )

    def find_event(self, name: str, raw: bytes) -> EventData | None:
        """The latest ``name`` event for ``raw`` (its first indexed field) within the look-back window."""
        client = self._client
        topic = hex_of(client.event_topic(name))
        latest = int(client._read(lambda: client.w3.eth.block_number, "eth_blockNumber"))
        params: FilterParams = {
            "address": client.address,
            "fromBlock": max(0, latest - self.lookback_blocks),
            "toBlock": latest,
            "topics": [HexStr(topic), HexStr(hex_of(raw))],
        }
        try:
            logs = client.w3.eth.get_logs(params)
        except (Web3Exception, OSError, ValueError) as exc:  # e.g. a provider that caps log ranges
            log.warning("could not look up the %s event of %s: %s", name, hex_of(raw), exc)
            return None
        decoded = [e for e in client.events(logs) if e["event"] == name]
        return decoded[-1] if decoded else None
