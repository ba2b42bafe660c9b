"""The platform agent's side: ask before starting an instance, renew its lease, stop it, close expired leases.

Every call returns a small frozen result decoded from the events of its receipt, so the agent acts on what the chain
decided: :class:`Granted` (start the instance, until ``lease_end`` unless renewed) or :class:`Denied` (do not, and
``reason`` says why). A business denial is never an exception: the contract records it as an event.

**Request ids and seats.** An agent's request id is ``seat << 8 | generation``: each agent owns seats on chain, a
seat holds one instance at a time, and the next request on a seat whose instance has ended uses its next
generation. The instance id is the agent's address followed by the request id, so it names the agent that holds it
and nobody else can renew or stop it. The agent picks seats for you (:class:`SeatAllocator`): it reuses the seats
of instances that ended, and reads the chain's record of a seat before it first uses it in this process. One agent
key belongs to one process at a time, as its nonces do.

**Retries are safe by construction.** ``activate`` chooses its request id once per call and keeps it across every
internal retry; the contract answers a request id it has seen with ``ActivationReplayed``, counting nothing, and
the result then carries ``replayed=True`` and the first decision. To retry *after an exception* yourself, choose
the request id up front with :meth:`Agent.next_request_id` and pass the same one again (the error message names it
too); calling ``activate`` again without it is a new request and may count twice. A retried ``deactivate`` that
finds its instance already closed returns how it was closed (``replayed=True``).

>>> agent = Agent(w3, meter_address, signer)                   # doctest: +SKIP
>>> decision = agent.activate(customer, 1, lease_seconds=600)  # doctest: +SKIP
>>> if isinstance(decision, Granted):                          # doctest: +SKIP
...     start_instance(decision.instance_id)
>>> rid = agent.next_request_id()                              # doctest: +SKIP
>>> try:                                                       # doctest: +SKIP
...     decision = agent.activate(customer, 1, 600, request_id=rid)
... except TransactionTimeoutError:                            # it may have landed: the same id replays it
...     decision = agent.activate(customer, 1, 600, request_id=rid)
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import EventData, FilterParams

from metering._utils import gas_limits
from metering._utils.client import InstanceRecord, MeterClient, as_instance_id, chunks
from metering.chain import checksum
from metering.chain.sender import Call, SendOutcome, SentTransaction, TransactionSender
from metering.contract import DenialReason, InstanceStatus
from metering.errors import (
    ConfigError,
    ContractRevertError,
    MeteringError,
    TransactionTimeoutError,
)
from metering.types import MAX_GENERATION, UINT32_MAX, UINT64_MAX, instance_id, request_id

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
    "SeatAllocator",
]

log = logging.getLogger("metering.agent")

#: The most requests (or ids to expire) the contract takes in one transaction (``IMeter.MAX_BATCH``).
MAX_BATCH = 256

_UINT16_MAX = 2**16 - 1


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# ---------------------------------------------------------------------- results


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


class _NotOpenAfterRetryError(MeteringError):
    """A retried call found the instance already closed: resolve it from the chain's records."""

    def __init__(self, cause: ContractRevertError, attempted: list[str]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attempted = attempted


# ---------------------------------------------------------------------- seats


class SeatAllocator:
    """Chooses the request ids of one agent: the next generation of a seat whose instance has ended.

    It remembers the seats this process used: a seat is free again once its instance was denied, deactivated or
    expired, or its lease end has passed by the chain's clock as last seen in a decision. A lease that runs to the
    end of its timeframe is *held* instead: it may still be continued into the next timeframe (by a renewal after
    its end, with the same id), so its seat stays taken until the agent learns how it ended. When it knows no free
    seat, it reads the next seat it has not seen from the chain (one view call), so a restarted agent never reuses
    a generation; seats this process knows to be busy are not read again. O(log n) per request. Thread-safe: a
    keeper may renew while the application activates.
    """

    def __init__(self, client: MeterClient, agent: str) -> None:
        self._client = client
        self._agent = agent
        self._generation: dict[int, int] = {}  # seat -> its latest generation known to this process
        self._lease_end: dict[int, int] = {}  # busy seat -> the lease end of its instance (2**64 - 1: undecided)
        self._held: set[int] = set()  # busy seats whose lease ends with its timeframe: not freed by the clock
        self._free: deque[int] = deque()
        self._expiring: list[tuple[int, int]] = []  # heap of (lease end, seat) of busy seats
        self._next_unseen = 0
        self._clock: int | None = None  # the latest chain time seen
        self._lock = threading.Lock()

    def next(self) -> int:
        """A request id for a new activation; its seat stays reserved until :meth:`granted`, :meth:`released` or
        :meth:`forget` tells what became of it."""
        with self._lock:
            self._free_expired()
            while self._free:
                seat = self._free.popleft()
                if seat not in self._lease_end and self._generation[seat] < MAX_GENERATION:
                    return self._reserve(seat, self._generation[seat] + 1)
            if self._clock is None:
                self._clock = self._client.chain_time()
            while True:
                seat = self._next_unseen
                self._next_unseen += 1
                if seat in self._lease_end:
                    continue  # in flight or running: this process knows better than the chain
                record = self._client.seat(self._agent, seat)
                if record.generation >= MAX_GENERATION:
                    continue  # used up: this seat takes no more requests
                if record.status != InstanceStatus.OPEN or record.lease_end <= self._clock:
                    return self._reserve(seat, record.generation + 1)
                self._generation[seat] = record.generation
                self._busy(seat, record.lease_end)

    def granted(self, request: int, lease_end: int, now: int | None = None, *, hold: bool = False) -> None:
        """The request was granted (or its lease renewed or continued): its seat is busy until ``lease_end``, or,
        with ``hold`` (the lease ends with its timeframe and may be continued), until :meth:`released`."""
        with self._lock:
            seat, generation = request >> 8, request & 0xFF
            if self._generation.get(seat, 0) > generation:
                return  # an older instance of a seat that moved on
            self._generation[seat] = generation
            if hold:
                self._held.add(seat)
                self._lease_end[seat] = lease_end
            else:
                self._held.discard(seat)
                self._busy(seat, lease_end)
            if now is not None:
                self._clock = max(self._clock or 0, now)

    def released(self, request: int) -> None:
        """The request was denied, or its instance ended: its seat takes the next generation."""
        with self._lock:
            seat, generation = request >> 8, request & 0xFF
            if self._generation.get(seat, 0) > generation:
                return
            self._generation[seat] = generation
            self._held.discard(seat)
            if self._lease_end.pop(seat, None) is not None or seat not in self._free:
                self._free.append(seat)

    def forget(self, request: int) -> None:
        """What became of the request is unknown: read its seat from the chain before using it again."""
        with self._lock:
            seat = request >> 8
            self._generation.pop(seat, None)
            self._lease_end.pop(seat, None)
            self._held.discard(seat)
            self._next_unseen = min(self._next_unseen, seat)

    def _reserve(self, seat: int, generation: int) -> int:
        self._generation[seat] = generation
        self._lease_end[seat] = UINT64_MAX
        self._next_unseen = max(self._next_unseen, seat + 1)
        return request_id(seat, generation)

    def _busy(self, seat: int, lease_end: int) -> None:
        self._lease_end[seat] = lease_end
        heapq.heappush(self._expiring, (lease_end, seat))

    def _free_expired(self) -> None:
        while self._expiring and self._clock is not None and self._expiring[0][0] <= self._clock:
            lease_end, seat = heapq.heappop(self._expiring)
            if self._lease_end.get(seat) == lease_end and seat not in self._held:  # not renewed, ended, reused since
                del self._lease_end[seat]
                self._free.append(seat)


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
        self._seats: SeatAllocator | None = None
        self._seats_lock = threading.Lock()
        self._timeframe_ends: dict[int, int] = {}

    @property
    def seats(self) -> SeatAllocator:
        """The allocator of this agent's request ids (one per agent, also when threads ask at once)."""
        if self._seats is None:
            with self._seats_lock:
                if self._seats is None:
                    self._seats = SeatAllocator(self, self.sender.address)
        return self._seats

    def next_request_id(self) -> int:
        """A request id for a new activation: pass it to :meth:`activate` to be able to retry that very request."""
        return self.seats.next()

    def instance_id_of(self, request: int) -> bytes:
        """The instance id this agent's request ``request`` is decided under."""
        return instance_id(self.sender.address, request)

    # ------------------------------------------------------------------ activation

    def activate(
        self,
        customer: str,
        instance_type: int,
        lease_seconds: int,
        request_id: int | None = None,
    ) -> Granted | Denied:
        """Asks whether ``customer`` may start an instance of ``instance_type`` for ``lease_seconds``.

        ``request_id`` defaults to the next free seat's next generation, chosen once for this call; pass a request
        id again to retry without the risk of counting twice (the answer then has ``replayed=True``).
        """
        request = self._request(customer, instance_type, lease_seconds, request_id)
        assert request.request_id is not None
        gas = gas_limits.ACTIVATION.limit()
        call = self._call(
            "requestActivation", request.customer, request.instance_type, request.request_id, request.lease_seconds,
            min_gas=gas, gas=gas,
        )
        what = f"activation request {request.request_id} ({_hex(self.instance_id_of(request.request_id))})"
        sent = self._send_activation(call, [request], what)
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
                sent = self._send_activation(call, batch, f"a batch of {len(batch)} activation requests", outcome)
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

        A lease that already ran to the end of its timeframe is continued in the next timeframe under its rules,
        with the same id: the result is then :class:`Continued` or :class:`ContinuationDenied`.
        """
        raw = as_instance_id(instance_id)
        seconds = _lease(lease_seconds)
        try:
            gas = gas_limits.RENEWAL.limit()
            call = self._call("renewLease", raw, seconds, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"renewal of {_hex(raw)}", not_open_ok=True)
        except _NotOpenAfterRetryError as exc:
            return self._renewal_from_records(raw, exc)
        result = self._renew_result(raw, sent)
        if isinstance(result, Renewed | Continued):
            self.seats.granted(_request_of(raw), result.lease_end, hold=self._ends_timeframe(result))
        elif isinstance(result, ContinuationDenied) or result.expired_at is not None:
            self.seats.released(_request_of(raw))  # it ended: its seat takes the next generation
        return result

    def deactivate(self, instance_id: bytes | str) -> Deactivated | Expired:
        """Stops a running instance now; if its lease had already run out it is closed as :class:`Expired`.

        A deactivation that finds its instance already closed (for example a retry after a lost response) returns
        how it was closed, with ``replayed=True``.
        """
        raw = as_instance_id(instance_id)
        try:
            gas = gas_limits.DEACTIVATION.limit()
            call = self._call("deactivate", raw, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"deactivation of {_hex(raw)}", not_open_ok=True)
        except _NotOpenAfterRetryError as exc:
            return self._closure_from_records(raw, exc)
        except ContractRevertError as exc:
            if exc.name != "MeteringInstanceNotOpen":
                raise
            return self._closure_from_records(raw, _NotOpenAfterRetryError(exc, []))
        for event in self.events(sent.logs):
            args = event["args"]
            if event["event"] == "InstanceDeactivated" and bytes(args["instanceId"]) == raw:
                self.seats.released(_request_of(raw))
                return _deactivated(args, sent.tx_hash)
            if event["event"] == "LeaseExpired" and bytes(args["instanceId"]) == raw:
                self.seats.released(_request_of(raw))
                return _expired(args, sent.tx_hash)
        raise MeteringError(f"deactivation {sent.tx_hash} of {_hex(raw)} emitted no closing event")

    def expire(self, instance_ids: Sequence[bytes | str]) -> int:
        """Closes the listed instances whose lease has run out (others are skipped); returns how many were closed.

        Anyone may call this; billing of each stops at its lease end, not now. Sent :data:`MAX_BATCH` ids per
        transaction, pipelined.
        """
        raws = [as_instance_id(i) for i in instance_ids]
        calls = [
            self._call(
                "expireLeases", list(batch), min_gas=gas_limits.EXPIRY.limit(len(batch)),
                gas=gas_limits.EXPIRY.limit(len(batch)),
            )
            for batch in chunks(raws, MAX_BATCH)
        ]
        closed = 0
        mine = bytes.fromhex(self.sender.address[2:])
        for sent in self.sender.send_many(calls):
            for event in self.events(sent.logs):
                if event["event"] != "LeaseExpired":
                    continue
                closed += 1
                raw = bytes(event["args"]["instanceId"])
                if raw[:20] == mine:
                    self.seats.released(_request_of(raw))  # e.g. a lease held for a continuation that never came
        return closed

    # ------------------------------------------------------------------ sending with safe retries

    def _send_activation(
        self, call: Call, requests: list[ActivationRequest], what: str, first: SendOutcome | None = None
    ) -> SentTransaction:
        try:
            return self._send(call, what=what, first=first)
        except MeteringError:
            # Nothing is known about these requests' outcome: their seats are read from the chain before reuse.
            for request in requests:
                assert request.request_id is not None
                self.seats.forget(request.request_id)
            raise

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

    def _ends_timeframe(self, result: Granted | Renewed | Continued) -> bool:
        """Whether the lease runs to the end of its timeframe, so it may be continued into the next one."""
        end = self._timeframe_ends.get(result.timeframe)
        if end is None:
            try:
                end = self._timeframe_ends[result.timeframe] = self.timeframe(result.timeframe).end
            except MeteringError as exc:  # the decision is recorded: do not fail the call over bookkeeping
                log.warning("could not read timeframe %d: %s", result.timeframe, exc)
                return False
        return result.lease_end >= end

    def _request(
        self, customer: str, instance_type: int, lease_seconds: int, request: int | None
    ) -> ActivationRequest:
        valid_type = isinstance(instance_type, int) and not isinstance(instance_type, bool)
        if not valid_type or not 0 <= instance_type <= _UINT16_MAX:
            raise ConfigError(f"instance type must be an integer 0..{_UINT16_MAX}, got {instance_type!r}")
        address = checksum(customer, what="customer")
        seconds = _lease(lease_seconds)
        if request is None:
            request = self.seats.next()
        elif isinstance(request, bool) or not isinstance(request, int) or not 0 <= request <= UINT64_MAX:
            raise ConfigError(f"request id must be an integer seat << 8 | generation, got {request!r}")
        elif request & 0xFF == 0:
            raise ConfigError(f"request id {request} has generation 0: generations run from 1 to {MAX_GENERATION}")
        return ActivationRequest(address, instance_type, seconds, request)

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
            assert request.request_id is not None
            expected = self.instance_id_of(request.request_id)
            if bytes(event["args"]["instanceId"]) != expected:
                raise MeteringError(f"transaction {sent.tx_hash}: decision for {_hex(expected)} out of order")
            result = self._decision(event, sent.tx_hash)
            if isinstance(result, Granted):
                self.seats.granted(
                    request.request_id, result.lease_end, result.started_at, hold=self._ends_timeframe(result)
                )
            else:
                self.seats.released(request.request_id)
            results.append(result)
        return results

    def _decision(self, event: EventData, tx_hash: str) -> Granted | Denied:
        args = event["args"]
        if event["event"] == "ActivationGranted":
            return _granted(args, tx_hash)
        if event["event"] == "ActivationDenied":
            raw = bytes(args["instanceId"])
            return Denied(
                raw, _request_of(raw), checksum(args["customer"]), int(args["instanceType"]),
                int(args["timeframe"]), DenialReason(int(args["reason"])), tx_hash,
            )
        return self._replayed(bytes(args["instanceId"]), tx_hash)

    def _replayed(self, raw: bytes, tx_hash: str) -> Granted | Denied:
        """The first decision on ``raw``, for a request the contract had already decided."""
        record = self.instance(raw)
        if record.status == InstanceStatus.DENIED:
            return Denied(
                raw, _request_of(raw), record.customer, record.instance_type, record.timeframe, record.reason,
                tx_hash, replayed=True,
            )
        original = self._find_event("ActivationGranted", raw)
        if original is not None:
            return replace(_granted(original["args"], tx_hash), replayed=True)
        return Granted(
            raw, _request_of(raw), record.customer, record.instance_type, record.timeframe, None, record.lease_end,
            None, tx_hash, replayed=True,
        )

    def _renew_result(self, raw: bytes, sent: SentTransaction) -> RenewResult:
        expired_at: int | None = None
        for event in self.events(sent.logs):
            name, args = event["event"], event["args"]
            if bytes(args.get("instanceId", b"")) != raw:
                continue
            customer = checksum(args["customer"]) if "customer" in args else None
            if name == "LeaseRenewed":
                assert customer is not None
                return Renewed(
                    raw, customer, int(args["instanceType"]), int(args["timeframe"]), int(args["leaseEnd"]),
                    sent.tx_hash,
                )
            if name == "LeaseExpired":
                expired_at = int(args["leaseEnd"])
            elif name == "LeaseContinued":
                assert customer is not None
                return Continued(
                    raw, customer, int(args["instanceType"]), int(args["timeframe"]), expired_at or 0,
                    int(args["startedAt"]), int(args["leaseEnd"]), bool(args["overage"]), sent.tx_hash,
                )
            elif name == "LeaseRenewalDenied":
                assert customer is not None
                reason = DenialReason(int(args["reason"]))
                if expired_at is not None and reason != DenialReason.LEASE_EXPIRED:
                    return ContinuationDenied(
                        raw, customer, int(args["instanceType"]), int(args["timeframe"]), expired_at, reason,
                        sent.tx_hash,
                    )
                return RenewalDenied(
                    raw, customer, int(args["instanceType"]), int(args["timeframe"]), reason, expired_at,
                    sent.tx_hash,
                )
        raise MeteringError(f"renewal {sent.tx_hash} of {_hex(raw)} emitted no renewal event")

    def _renewal_from_records(self, raw: bytes, exc: _NotOpenAfterRetryError) -> RenewResult:
        """A retried renewal found the instance closed: if our first attempt was denied, report that."""
        found = self._find_event("LeaseRenewalDenied", raw)
        if found is None:
            raise exc.cause
        args = found["args"]
        expired = self._find_event("LeaseExpired", raw)
        self.seats.released(_request_of(raw))
        return RenewalDenied(
            raw, checksum(args["customer"]), int(args["instanceType"]), int(args["timeframe"]),
            DenialReason(int(args["reason"])), int(expired["args"]["leaseEnd"]) if expired else None,
            "0x" + bytes(found["transactionHash"]).hex(), replayed=True,
        )

    def _closure_from_records(self, raw: bytes, exc: _NotOpenAfterRetryError) -> Deactivated | Expired:
        """A deactivation found the instance closed: return how it was closed (by our earlier attempt, by an expiry
        in between, or by the provider). Only this agent can deactivate its instance, so an ``InstanceDeactivated``
        for it is our own earlier success."""
        record = self.instance(raw)
        if record.status != InstanceStatus.CLOSED:
            raise exc.cause
        self.seats.released(_request_of(raw))
        for name in ("InstanceDeactivated", "InstanceClosedByProvider", "InstanceStoppedByCustomer", "LeaseExpired"):
            found = self._find_event(name, raw)
            if found is None:
                continue
            tx_hash = "0x" + bytes(found["transactionHash"]).hex()
            args = found["args"]
            if name == "LeaseExpired":
                return replace(_expired(args, tx_hash), replayed=True)
            return replace(_deactivated(args, tx_hash), replayed=True, by_provider=name != "InstanceDeactivated")
        return Deactivated(
            raw, record.customer, record.instance_type, record.timeframe, record.lease_end,
            exc.attempted[0] if exc.attempted else "", replayed=True,
        )

    def _find_event(self, name: str, raw: bytes) -> EventData | None:
        """The latest ``name`` event for ``raw`` (its first indexed field) within the look-back window."""
        topic = _hex(self.event_topic(name))
        latest = int(self._read(lambda: self.w3.eth.block_number, "eth_blockNumber"))
        params: FilterParams = {
            "address": self.address,
            "fromBlock": max(0, latest - self.replay_lookback_blocks),
            "toBlock": latest,
            "topics": [HexStr(topic), HexStr(_hex(raw))],
        }
        try:
            logs = self.w3.eth.get_logs(params)
        except (Web3Exception, OSError, ValueError) as exc:  # e.g. a provider that caps log ranges
            log.warning("could not look up the %s event of %s: %s", name, _hex(raw), exc)
            return None
        decoded = [e for e in self.events(logs) if e["event"] == name]
        return decoded[-1] if decoded else None


# ---------------------------------------------------------------------- helpers


def _request_of(raw: bytes) -> int:
    return int.from_bytes(raw[24:], "big")


def _lease(lease_seconds: int) -> int:
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) or not 1 <= lease_seconds <= UINT32_MAX:
        raise ConfigError(f"lease must be 1..{UINT32_MAX} seconds, got {lease_seconds!r}")
    return lease_seconds


def _granted(args: Any, tx_hash: str) -> Granted:
    raw = bytes(args["instanceId"])
    return Granted(
        raw, _request_of(raw), checksum(args["customer"]), int(args["instanceType"]),
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
