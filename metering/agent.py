"""The platform agent's side: ask before starting an instance, renew its lease, stop it, close expired leases.

Every call returns a small frozen result decoded from the events of its receipt, so the agent acts on what the chain
decided: :class:`Granted` (start the instance, until ``lease_end`` unless renewed) or :class:`Denied` (do not, and
``reason`` says why). A business denial is never an exception: the contract records it as an event.

Retries are safe by construction. The request id is the idempotency key of an activation: the agent keeps it in the
result (and you may pass your own), and the contract answers a request id it has seen with ``ActivationReplayed``,
counting nothing. If a transaction's receipt does not arrive in time
(:class:`~metering.errors.TransactionTimeoutError`), the agent first looks whether the earlier transaction landed
after all, and otherwise sends the same request again (same request id; for a deactivation, a retry that finds the
instance already closed returns the closed result). Such replayed results carry ``replayed=True``.

>>> agent = Agent(w3, meter_address, signer)                   # doctest: +SKIP
>>> decision = agent.activate(customer, 1, lease_seconds=600)  # doctest: +SKIP
>>> if isinstance(decision, Granted):                          # doctest: +SKIP
...     start_instance(decision.instance_id)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import EventData, FilterParams

from metering._utils import gas_limits
from metering._utils.client import InstanceRecord, MeterClient, as_bytes32, chunks, successor_of
from metering.chain import checksum
from metering.contract import DenialReason, InstanceStatus
from metering.errors import (
    ConfigError,
    ContractRevertError,
    MeteringError,
    TransactionTimeoutError,
)
from metering.sender import Call, SendOutcome, SentTransaction, TransactionSender
from metering.types import UINT32_MAX

__all__ = [
    "MAX_BATCH",
    "ActivationRequest",
    "ActivationResult",
    "Agent",
    "ContinuationDenied",
    "Continued",
    "Deactivated",
    "DeactivationResult",
    "Denied",
    "Expired",
    "Granted",
    "InstanceRecord",
    "RenewResult",
    "RenewalDenied",
    "Renewed",
    "new_request_id",
    "successor_of",
]

log = logging.getLogger("metering.agent")

#: The most requests (or ids to expire) the contract takes in one transaction (``IMeter.MAX_BATCH``).
MAX_BATCH = 256

_UINT16_MAX = 2**16 - 1

def new_request_id() -> bytes:
    """A fresh 32-byte request id (random): the idempotency key of one activation request."""
    return os.urandom(32)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# ---------------------------------------------------------------------- results


@dataclass(frozen=True)
class ActivationRequest:
    """One activation request for :meth:`Agent.activate_many`; keep ``request_id`` to retry it safely."""

    customer: str
    instance_type: int
    lease_seconds: int
    request_id: bytes = field(default_factory=new_request_id)


@dataclass(frozen=True)
class Granted:
    """The instance may run from ``started_at`` until ``lease_end`` unless renewed; its id is the request id.

    ``overage`` marks a grant beyond a soft limit. For a replayed request (``replayed=True``) the fields are those
    of the first decision; ``started_at`` and ``overage`` are ``None`` only if that decision is older than the
    agent's look-back window, and ``lease_end`` is then the record's current one. ``tx_hash`` is the transaction
    that carried this call.
    """

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    started_at: int | None
    lease_end: int
    overage: bool | None
    tx_hash: str
    replayed: bool = False

    granted = True

    @property
    def request_id(self) -> bytes:
        return self.instance_id


@dataclass(frozen=True)
class Denied:
    """The request was refused and recorded; ``reason`` says why (``timeframe`` is 0 when none was active)."""

    request_id: bytes
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
    """The lease was not extended: the customer is suspended (the lease keeps its expiry), or it had already run
    out (``reason`` ``LEASE_EXPIRED``; the instance is then closed, billed until ``expired_at``)."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    reason: DenialReason
    expired_at: int | None
    tx_hash: str


@dataclass(frozen=True)
class Continued:
    """The lease ran to the end of its timeframe and goes on under the next one's rules, as a new instance id
    (:func:`successor_of` the old one). Stop using ``previous_id``; ``successor`` is the new grant."""

    previous_id: bytes
    ended_at: int
    successor: Granted
    tx_hash: str
    replayed: bool = False

    @property
    def instance_id(self) -> bytes:
        return self.successor.instance_id

    @property
    def lease_end(self) -> int:
        return self.successor.lease_end


@dataclass(frozen=True)
class ContinuationDenied:
    """The lease ran to the end of its timeframe and the next timeframe refused to continue it: stop the instance."""

    previous_id: bytes
    ended_at: int
    denied: Denied
    tx_hash: str
    replayed: bool = False

    @property
    def reason(self) -> DenialReason:
        return self.denied.reason


RenewResult = Renewed | RenewalDenied | Continued | ContinuationDenied


@dataclass(frozen=True)
class Deactivated:
    """The instance was stopped at ``stopped_at``, before its lease ran out; billing stopped there."""

    instance_id: bytes
    customer: ChecksumAddress
    instance_type: int
    timeframe: int
    stopped_at: int
    tx_hash: str
    replayed: bool = False


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


class _NotOpenAfterRetryError(MeteringError):
    """A retried call found the instance already closed: resolve it from the chain's records."""

    def __init__(self, cause: ContractRevertError, attempted: list[str]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attempted = attempted


# ---------------------------------------------------------------------- agent


class Agent(MeterClient):
    """A platform agent's operations; ``signer`` needs ``AGENT_ROLE``.

    :param timeout_retries: how often a call whose receipt timed out is tried again (safely, see the module doc).
    :param replay_lookback_blocks: how far back to look for the original event of a replayed request.
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: LocalAccount | None,
        *,
        sender: TransactionSender | None = None,
        timeout_retries: int = 1,
        replay_lookback_blocks: int = 10_000,
    ) -> None:
        super().__init__(w3, address, signer, sender=sender)
        self.timeout_retries = timeout_retries
        self.replay_lookback_blocks = replay_lookback_blocks

    # ------------------------------------------------------------------ activation

    def activate(
        self,
        customer: str,
        instance_type: int,
        lease_seconds: int,
        request_id: bytes | str | None = None,
    ) -> Granted | Denied:
        """Asks whether ``customer`` may start an instance of ``instance_type`` for ``lease_seconds``.

        ``request_id`` (32 bytes) defaults to a fresh random one; pass the same one again to retry without the risk
        of counting twice (the answer then has ``replayed=True``).
        """
        request = self._request(customer, instance_type, lease_seconds, request_id)
        gas = gas_limits.ACTIVATION.limit()
        call = self._call(
            "requestActivation", request.customer, request.instance_type, request.request_id, request.lease_seconds,
            min_gas=gas, gas=gas,
        )
        sent = self._send(call, what=f"activation request {_hex(request.request_id)}")
        return self._activation_results(sent, [request])[0]

    def activate_many(
        self, requests: Sequence[ActivationRequest], *, batch_size: int = MAX_BATCH
    ) -> list[Granted | Denied]:
        """Decides many requests with ``requestActivations``, ``batch_size`` (at most :data:`MAX_BATCH`) per
        transaction, in order: each sees the counters as updated by the ones before it. Returns one result per
        request, in the same order.

        The transactions are sent pipelined (consecutive nonces, JSON-RPC batches). If one fails, its error is
        raised once all are settled; the other transactions' requests may have been decided, so retry with the same
        request ids (they replay, never count twice).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ConfigError(f"batch size must be 1..{MAX_BATCH}, got {batch_size!r}")
        checked = [self._request(r.customer, r.instance_type, r.lease_seconds, r.request_id) for r in requests]
        batches = [list(batch) for batch in chunks(checked, batch_size)]
        calls = []
        for batch in batches:
            payload = [(r.customer, r.instance_type, r.request_id, r.lease_seconds) for r in batch]
            gas = gas_limits.BATCH_ACTIVATION.limit(len(batch))
            calls.append(self._call("requestActivations", payload, min_gas=gas, gas=gas))
        outcomes = self.sender.send_all(calls) if calls else []
        results: list[Granted | Denied] = []
        failure: BaseException | None = None
        for batch, call, outcome in zip(batches, calls, outcomes, strict=True):
            try:
                sent = self._send(call, what=f"a batch of {len(batch)} activation requests", first=outcome)
            except MeteringError as exc:
                failure = failure or exc
                continue
            results.extend(self._activation_results(sent, batch))
        if failure is not None:
            raise failure
        return results

    # ------------------------------------------------------------------ leases

    def renew(self, instance_id: bytes | str, lease_seconds: int) -> RenewResult:
        """Extends a running instance's lease to ``lease_seconds`` from now (capped at its timeframe's end).

        A lease that already ran to the end of its timeframe is continued under the next timeframe's rules as
        :func:`successor_of` it: the result is then :class:`Continued` or :class:`ContinuationDenied`.
        """
        raw = as_bytes32(instance_id, what="instance id")
        seconds = _lease(lease_seconds)
        try:
            gas = gas_limits.RENEWAL.limit()
            call = self._call("renewLease", raw, seconds, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"renewal of {_hex(raw)}", not_open_ok=True)
        except _NotOpenAfterRetryError as exc:
            return self._renewal_from_records(raw, exc)
        return self._renew_result(raw, sent)

    def deactivate(self, instance_id: bytes | str) -> Deactivated | Expired:
        """Stops a running instance now; if its lease had already run out it is closed as :class:`Expired`."""
        raw = as_bytes32(instance_id, what="instance id")
        try:
            gas = gas_limits.DEACTIVATION.limit()
            call = self._call("deactivate", raw, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"deactivation of {_hex(raw)}", not_open_ok=True)
        except _NotOpenAfterRetryError as exc:
            return self._closure_from_records(raw, exc)
        for event in self.events(sent.logs):
            args = event["args"]
            if event["event"] == "InstanceDeactivated" and bytes(args["instanceId"]) == raw:
                return _deactivated(args, sent.tx_hash)
            if event["event"] == "LeaseExpired" and bytes(args["instanceId"]) == raw:
                return _expired(args, sent.tx_hash)
        raise MeteringError(f"deactivation {sent.tx_hash} of {_hex(raw)} emitted no closing event")

    def expire(self, instance_ids: Sequence[bytes | str]) -> int:
        """Closes the listed instances whose lease has run out (others are skipped); returns how many were closed.

        Anyone may call this; billing of each stops at its lease end, not now. Sent :data:`MAX_BATCH` ids per
        transaction.
        """
        raws = [as_bytes32(i, what="instance id") for i in instance_ids]
        calls = [
            self._call(
                "expireLeases", list(batch), min_gas=gas_limits.EXPIRY.limit(len(batch)),
                gas=gas_limits.EXPIRY.limit(len(batch)),
            )
            for batch in chunks(raws, MAX_BATCH)
        ]
        closed = 0
        for sent in self.sender.send_many(calls):
            closed += sum(1 for e in self.events(sent.logs) if e["event"] == "LeaseExpired")
        return closed

    # ------------------------------------------------------------------ sending with safe retries

    def _send(
        self, call: Call, *, what: str, not_open_ok: bool = False, first: SendOutcome | None = None
    ) -> SentTransaction:
        """Sends ``call`` (``first``: the outcome of a first attempt already made), retrying after a timeout.

        A retry is estimated first, with the known limit as its floor: the state is uncertain then, and a call that
        would now revert (an instance the first attempt already closed) costs nothing."""
        attempted: list[str] = []
        for attempt in range(self.timeout_retries + 1):
            try:
                if attempt == 0 and first is not None:
                    if isinstance(first, SentTransaction):
                        return first
                    raise first
                return self.sender.transact(call if attempt == 0 else replace(call, gas=None))
            except TransactionTimeoutError as exc:
                if exc.tx_hash:
                    attempted.append(exc.tx_hash)
                landed = self._landed(attempted)
                if landed is not None:
                    return landed
                if attempt == self.timeout_retries:
                    raise TransactionTimeoutError(
                        f"{what}: {exc}; retrying with the same ids is safe", tx_hash=exc.tx_hash
                    ) from exc
                log.warning("%s timed out (%s); trying again with the same ids", what, exc)
            except ContractRevertError as exc:
                if not_open_ok and attempted and exc.name == "MeteringInstanceNotOpen":
                    landed = self._landed(attempted)
                    if landed is not None:
                        return landed
                    raise _NotOpenAfterRetryError(exc, attempted) from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _landed(self, attempted: list[str]) -> SentTransaction | None:
        for tx_hash in attempted:
            try:
                found = self.sender.find(tx_hash)
            except MeteringError:
                continue
            if found is not None:
                return found
        return None

    # ------------------------------------------------------------------ decoding

    def _request(
        self, customer: str, instance_type: int, lease_seconds: int, request_id: bytes | str | None
    ) -> ActivationRequest:
        valid_type = isinstance(instance_type, int) and not isinstance(instance_type, bool)
        if not valid_type or not 0 <= instance_type <= _UINT16_MAX:
            raise ConfigError(f"instance type must be an integer 0..{_UINT16_MAX}, got {instance_type!r}")
        rid = new_request_id() if request_id is None else as_bytes32(request_id, what="request id")
        return ActivationRequest(checksum(customer, what="customer"), instance_type, _lease(lease_seconds), rid)

    def _activation_results(self, sent: SentTransaction, requests: list[ActivationRequest]) -> list[Granted | Denied]:
        decisions = [
            e for e in self.events(sent.logs)
            if e["event"] in ("ActivationGranted", "ActivationDenied", "ActivationReplayed")
        ]
        if len(decisions) != len(requests):
            raise MeteringError(
                f"transaction {sent.tx_hash} holds {len(decisions)} decisions for {len(requests)} requests"
            )
        results: list[Granted | Denied] = []
        for request, event in zip(requests, decisions, strict=True):
            args = event["args"]
            rid = bytes(args["instanceId"] if event["event"] == "ActivationGranted" else args["requestId"])
            if rid != request.request_id:
                raise MeteringError(f"transaction {sent.tx_hash}: decision for {_hex(rid)} out of order")
            results.append(self._decision(event, sent.tx_hash))
        return results

    def _decision(self, event: EventData, tx_hash: str) -> Granted | Denied:
        args = event["args"]
        if event["event"] == "ActivationGranted":
            return _granted(args, tx_hash)
        if event["event"] == "ActivationDenied":
            return Denied(
                bytes(args["requestId"]), checksum(args["customer"]), int(args["instanceType"]),
                int(args["timeframe"]), DenialReason(int(args["reason"])), tx_hash,
            )
        return self._replayed(bytes(args["requestId"]), tx_hash)

    def _replayed(self, request_id: bytes, tx_hash: str) -> Granted | Denied:
        """The first decision on ``request_id``, for a request the contract had already decided."""
        record = self.instance(request_id)
        if record.status == InstanceStatus.DENIED:
            return Denied(
                request_id, record.customer, record.instance_type, record.timeframe, record.reason, tx_hash,
                replayed=True,
            )
        original = self._find_event("ActivationGranted", request_id)
        if original is not None:
            first = _granted(original["args"], tx_hash)
            return Granted(
                first.instance_id, first.customer, first.instance_type, first.timeframe, first.started_at,
                first.lease_end, first.overage, tx_hash, replayed=True,
            )
        return Granted(
            request_id, record.customer, record.instance_type, record.timeframe, None, record.lease_end, None,
            tx_hash, replayed=True,
        )

    def _renew_result(self, instance_id: bytes, sent: SentTransaction) -> RenewResult:
        expired_at: int | None = None
        for event in self.events(sent.logs):
            name, args = event["event"], event["args"]
            if name == "LeaseRenewed" and bytes(args["instanceId"]) == instance_id:
                return Renewed(
                    instance_id, checksum(args["customer"]), int(args["instanceType"]),
                    int(args["timeframe"]), int(args["leaseEnd"]), sent.tx_hash,
                )
            if name == "LeaseExpired" and bytes(args["instanceId"]) == instance_id:
                expired_at = int(args["leaseEnd"])
            elif name == "LeaseRenewalDenied" and bytes(args["instanceId"]) == instance_id:
                return RenewalDenied(
                    instance_id, checksum(args["customer"]), int(args["instanceType"]),
                    int(args["timeframe"]), DenialReason(int(args["reason"])), expired_at, sent.tx_hash,
                )
            elif name in ("ActivationGranted", "ActivationDenied", "ActivationReplayed"):
                decision = self._decision(event, sent.tx_hash)
                ended = expired_at if expired_at is not None else 0
                if isinstance(decision, Granted):
                    return Continued(instance_id, ended, decision, sent.tx_hash)
                return ContinuationDenied(instance_id, ended, decision, sent.tx_hash)
        raise MeteringError(f"renewal {sent.tx_hash} of {_hex(instance_id)} emitted no renewal event")

    def _renewal_from_records(self, instance_id: bytes, exc: _NotOpenAfterRetryError) -> RenewResult:
        """A retried renewal found the instance closed: if our first attempt continued it, report that."""
        successor = successor_of(instance_id)
        if self.instance(successor).status == InstanceStatus.UNKNOWN:
            raise exc.cause
        ended = self.instance(instance_id).lease_end
        tx_hash = exc.attempted[0]
        decision = self._replayed(successor, tx_hash)
        if isinstance(decision, Granted):
            return Continued(instance_id, ended, decision, tx_hash, replayed=True)
        return ContinuationDenied(instance_id, ended, decision, tx_hash, replayed=True)

    def _closure_from_records(self, instance_id: bytes, exc: _NotOpenAfterRetryError) -> Deactivated | Expired:
        """A retried deactivation found the instance closed: return how it was closed (by our first attempt, or by
        an expiry in between)."""
        record = self.instance(instance_id)
        if record.status != InstanceStatus.CLOSED:
            raise exc.cause
        for name in ("InstanceDeactivated", "LeaseExpired"):
            found = self._find_event(name, instance_id)
            if found is not None:
                tx_hash = "0x" + bytes(found["transactionHash"]).hex()
                args = found["args"]
                if name == "InstanceDeactivated":
                    return _replace_replayed(_deactivated(args, tx_hash))
                return _replace_replayed(_expired(args, tx_hash))
        return Deactivated(
            instance_id, record.customer, record.instance_type, record.timeframe, record.lease_end,
            exc.attempted[0], replayed=True,
        )

    def _find_event(self, name: str, instance_id: bytes) -> EventData | None:
        """The latest ``name`` event for ``instance_id`` (its first indexed field) within the look-back window."""
        topic = _hex(self.event_topic(name))
        latest = int(self.w3.eth.block_number)
        params: FilterParams = {
            "address": self.address,
            "fromBlock": max(0, latest - self.replay_lookback_blocks),
            "toBlock": latest,
            "topics": [HexStr(topic), HexStr(_hex(instance_id))],
        }
        try:
            logs = self.w3.eth.get_logs(params)
        except (Web3Exception, OSError, ValueError) as exc:  # e.g. a provider that caps log ranges
            log.warning("could not look up the %s event of %s: %s", name, _hex(instance_id), exc)
            return None
        decoded = [e for e in self.events(logs) if e["event"] == name]
        return decoded[-1] if decoded else None



# ---------------------------------------------------------------------- helpers


def _lease(lease_seconds: int) -> int:
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) or not 1 <= lease_seconds <= UINT32_MAX:
        raise ConfigError(f"lease must be 1..{UINT32_MAX} seconds, got {lease_seconds!r}")
    return lease_seconds


def _granted(args: Any, tx_hash: str) -> Granted:
    return Granted(
        bytes(args["instanceId"]), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["startedAt"]), int(args["leaseEnd"]), bool(args["overage"]), tx_hash,
    )


def _deactivated(args: Any, tx_hash: str) -> Deactivated:
    return Deactivated(
        bytes(args["instanceId"]), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["stoppedAt"]), tx_hash,
    )


def _expired(args: Any, tx_hash: str) -> Expired:
    return Expired(
        bytes(args["instanceId"]), checksum(args["customer"]), int(args["instanceType"]),
        int(args["timeframe"]), int(args["leaseEnd"]), tx_hash,
    )


def _replace_replayed(result: Deactivated | Expired) -> Deactivated | Expired:
    return replace(result, replayed=True)

