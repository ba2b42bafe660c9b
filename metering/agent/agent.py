"""The platform agent: ask before starting an instance, renew its lease, stop it, close expired leases.

See the package docstring for request ids, seats and safe retries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from metering._utils import gas_limits
from metering._utils.client import MeterClient, as_instance_id, chunks
from metering._utils.logdecode import DecodedEvent
from metering.chain import checksum
from metering.chain.sender import Call, SendOutcome, SentTransaction, TransactionSender
from metering.errors import (
    ConfigError,
    ContractRevertError,
    MeteringError,
    RpcUnavailableError,
    TransactionTimeoutError,
)
from metering.types import MAX_GENERATION, UINT64_MAX, instance_id

from ._decode import deactivated, denied, expired, granted, hex_of, lease, renew_result, request_of
from ._intents import InFlight
from ._records import Records
from ._retry import NotOpenAfterRetryError, send_with_retries
from .results import (
    ActivationRequest,
    ContinuationDenied,
    Continued,
    Deactivated,
    Denied,
    Expired,
    Granted,
    Renewed,
    RenewResult,
)
from .seats import SeatAllocator

__all__ = ["MAX_BATCH", "Agent"]

log = logging.getLogger("metering.agent")

#: The most requests (or ids to expire) the contract takes in one transaction (``IMeter.MAX_BATCH``).
MAX_BATCH = 256

_UINT16_MAX = 2**16 - 1

#: ``_request``'s intent for batch requests, which never reuse an unresolved request by intent.
_NO_INTENT = object()
#: The events by which the contract answers an activation request, one per request.
_DECISIONS = frozenset({"ActivationGranted", "ActivationDenied", "ActivationReplayed"})


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
        self.records = Records(self, replay_lookback_blocks)
        self._in_flight = InFlight()
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
        *,
        intent: Hashable = None,
    ) -> Granted | Denied:
        """Asks whether ``customer`` may start an instance of ``instance_type`` for ``lease_seconds``.

        ``request_id`` defaults to the next free seat's next generation, chosen once for this call; pass a request
        id again to retry without the risk of counting twice (the answer then has ``replayed=True``).

        Calling again after an error that left the outcome unknown (a timeout, a lost answer) is safe too, with or
        without the request id: without it, the call reuses the unresolved request of the same customer, instance
        type and ``intent``, so the first decision comes back if it landed and nothing counts twice. Pass another
        ``intent`` (any hashable) to ask for a second instance meanwhile. Give a retry the same lease.
        """
        request = self._request(customer, instance_type, lease_seconds, request_id, intent=intent)
        assert request.request_id is not None
        gas = gas_limits.ACTIVATION.limit()
        call = self._call(
            "requestActivation", request.customer, request.instance_type, request.request_id, request.lease_seconds,
            min_gas=gas, gas=gas,
        )
        what = f"activation request {request.request_id} ({hex_of(self.instance_id_of(request.request_id))})"
        try:
            sent = self._send_activation(call, [request], what)
        except (TransactionTimeoutError, RpcUnavailableError):
            self._in_flight.unknown((request.customer, request.instance_type, intent), request.request_id)
            raise
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
        with the same id: the result is then :class:`Continued` or :class:`ContinuationDenied`. A lease that ran out
        is :class:`RenewalDenied` with ``LEASE_EXPIRED``, also once a later activation reused its seat.
        """
        raw = as_instance_id(instance_id)
        seconds = lease(lease_seconds)
        try:
            gas = gas_limits.RENEWAL.limit()
            call = self._call("renewLease", raw, seconds, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"renewal of {hex_of(raw)}", not_open_ok=True)
        except NotOpenAfterRetryError as exc:
            return self._renewal_from_records(raw, exc)
        except ContractRevertError as exc:
            if exc.name != "MeteringInstanceNotOpen":
                raise
            expiry = self.records.expiry_of_reused(raw, exc)
            self.seats.released(request_of(raw))
            return expiry
        result = renew_result(raw, self.events(sent.logs), sent.tx_hash)
        if isinstance(result, Renewed | Continued):
            self.seats.granted(request_of(raw), result.lease_end, hold=self._ends_timeframe(result))
        elif isinstance(result, ContinuationDenied) or result.expired_at is not None:
            self.seats.released(request_of(raw))  # it ended: its seat takes the next generation
        return result

    def deactivate(self, instance_id: bytes | str) -> Deactivated | Expired:
        """Stops a running instance now; if its lease had already run out it is closed as :class:`Expired`.

        A deactivation that finds its instance already closed (for example a retry after a lost response, or an
        expired lease whose seat a later activation reused) returns how it was closed, with ``replayed=True``.
        """
        raw = as_instance_id(instance_id)
        try:
            gas = gas_limits.DEACTIVATION.limit()
            call = self._call("deactivate", raw, min_gas=gas, gas=gas)
            sent = self._send(call, what=f"deactivation of {hex_of(raw)}", not_open_ok=True)
        except NotOpenAfterRetryError as exc:
            return self._closure_from_records(raw, exc)
        except ContractRevertError as exc:
            if exc.name != "MeteringInstanceNotOpen":
                raise
            return self._closure_from_records(raw, NotOpenAfterRetryError(exc, []))
        for event in self.events(sent.logs):
            args = event["args"]
            if event["event"] == "InstanceDeactivated" and bytes(args["instanceId"]) == raw:
                self.seats.released(request_of(raw))
                return deactivated(args, sent.tx_hash)
            if event["event"] == "LeaseExpired" and bytes(args["instanceId"]) == raw:
                self.seats.released(request_of(raw))
                return expired(args, sent.tx_hash)
        raise MeteringError(f"deactivation {sent.tx_hash} of {hex_of(raw)} emitted no closing event")

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
                    self.seats.released(request_of(raw))  # e.g. a lease held for a continuation that never came
        return closed

    # ------------------------------------------------------------------ sending with safe retries

    def _send(
        self, call: Call, *, what: str, not_open_ok: bool = False, first: SendOutcome | None = None
    ) -> SentTransaction:
        return send_with_retries(
            self.sender, call, what=what, retries=self.timeout_retries, not_open_ok=not_open_ok, first=first
        )

    def _send_activation(
        self, call: Call, requests: list[ActivationRequest], what: str, first: SendOutcome | None = None
    ) -> SentTransaction:
        try:
            return self._send(call, what=what, first=first)
        except (TransactionTimeoutError, RpcUnavailableError):
            # The requests may have been decided, or may still be: their seats stay reserved (a later activation
            # must not take the next generation, or a retry with these ids could no longer replay) until a
            # decision for them is seen.
            raise
        except MeteringError:
            # Refused or reverted: nothing was decided; their seats are read from the chain before reuse.
            for request in requests:
                assert request.request_id is not None
                self.seats.forget(request.request_id)
            raise

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
        self, customer: str, instance_type: int, lease_seconds: int, request: int | None,
        *, intent: Hashable = _NO_INTENT,
    ) -> ActivationRequest:
        """The checked request; without a request id, the unresolved one of the same ``intent`` (see
        :meth:`activate`) or the allocator's next."""
        valid_type = isinstance(instance_type, int) and not isinstance(instance_type, bool)
        if not valid_type or not 0 <= instance_type <= _UINT16_MAX:
            raise ConfigError(f"instance type must be an integer 0..{_UINT16_MAX}, got {instance_type!r}")
        address = checksum(customer, what="customer")
        seconds = lease(lease_seconds)
        if request is None and intent is not _NO_INTENT:
            request = self._in_flight.pending((address, instance_type, intent))
        if request is None:
            request = self.seats.next()
        elif isinstance(request, bool) or not isinstance(request, int) or not 0 <= request <= UINT64_MAX:
            raise ConfigError(f"request id must be an integer seat << 8 | generation, got {request!r}")
        elif request & 0xFF == 0:
            raise ConfigError(f"request id {request} has generation 0: generations run from 1 to {MAX_GENERATION}")
        return ActivationRequest(address, instance_type, seconds, request)

    def _activation_results(self, sent: SentTransaction, requests: list[ActivationRequest]) -> list[Granted | Denied]:
        decisions = self._decisions(sent.logs)
        if len(decisions) != len(requests):
            raise MeteringError(
                f"transaction {sent.tx_hash} holds {len(decisions)} decisions for {len(requests)} requests"
            )
        results: list[Granted | Denied] = []
        for request, event in zip(requests, decisions, strict=True):
            assert request.request_id is not None
            expected = self.instance_id_of(request.request_id)
            if bytes(event.args["instanceId"]) != expected:
                raise MeteringError(f"transaction {sent.tx_hash}: decision for {hex_of(expected)} out of order")
            result = self._decision(event, sent.tx_hash)
            self._in_flight.decided(request.request_id)
            if isinstance(result, Granted):
                self.seats.granted(
                    request.request_id, result.lease_end, result.started_at, hold=self._ends_timeframe(result)
                )
            else:
                self.seats.released(request.request_id)
            results.append(result)
        return results

    def _decisions(self, logs: Sequence[Mapping[str, Any]]) -> list[DecodedEvent]:
        """The activation decisions among a receipt's logs, in log order, as the precompiled decoder gives them (a
        batch's receipt holds one per request: none needs web3's ``EventData`` shape that :meth:`events` builds)."""
        return [event for _entry, event in self.decoded(logs) if event.name in _DECISIONS]

    def _decision(self, event: DecodedEvent, tx_hash: str) -> Granted | Denied:
        args = event.args
        if event.name == "ActivationGranted":
            return granted(args, tx_hash)
        if event.name == "ActivationDenied":
            return denied(args, tx_hash)
        return self.records.replayed(bytes(args["instanceId"]), tx_hash)

    def _renewal_from_records(self, raw: bytes, exc: NotOpenAfterRetryError) -> RenewResult:
        """A retried renewal found the instance closed: if our first attempt was denied, report that."""
        found = self.records.renewal_denied(raw) or self.records.expiry_of_reused(raw, exc.cause)
        self.seats.released(request_of(raw))
        return found

    def _closure_from_records(self, raw: bytes, exc: NotOpenAfterRetryError) -> Deactivated | Expired:
        """A deactivation found the instance closed: how it was closed (see :meth:`Records.closure`)."""
        result = self.records.closure(raw, exc.cause, exc.attempted)
        self.seats.released(request_of(raw))
        return result

