"""Keep granted instances alive: renew each lease shortly before it runs out, by the chain's clock.

An agent that starts an instance with a short lease must renew it, or billing (and permission) stops at the lease
end. :class:`LeaseKeeper` does that for every instance it tracks. It reads time from the latest block, not the wall
clock, because the contract decides by block timestamps (and so the keeper follows anvil's time travel in tests and
the demo). Use it either synchronously, calling :meth:`LeaseKeeper.tick` (one pass), or in the background with
:meth:`LeaseKeeper.start`/:meth:`LeaseKeeper.stop` or as a context manager.

A lease that ran to the end of its timeframe is continued in the next timeframe (same instance id, billed from that
timeframe's start): the keeper renews it once it has run out, which continues it. Denials, and errors that end
tracking (the instance was closed elsewhere), are reported through ``on_event`` and :attr:`LeaseKeeper.events`;
transient errors are reported too and retried on the next pass.

>>> with LeaseKeeper(agent, lease_seconds=300) as keeper:     # doctest: +SKIP
...     keeper.track(agent.activate(customer, 1, 300))
...     run_the_workload()
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from metering.agent import (
    Agent,
    ContinuationDenied,
    Continued,
    Granted,
    RenewalDenied,
    Renewed,
    RenewResult,
)
from metering.errors import ContractRevertError, MeteringError

__all__ = ["KeeperError", "KeeperEvent", "LeaseKeeper"]

log = logging.getLogger("metering.agent.keeper")


@dataclass(frozen=True)
class KeeperError:
    """Renewing ``instance_id`` failed with ``error``; ``dropped`` says whether the keeper stopped tracking it
    (the instance is no longer open) or will try again on the next pass."""

    instance_id: bytes
    error: MeteringError
    dropped: bool


KeeperEvent = Renewed | RenewalDenied | Continued | ContinuationDenied | KeeperError


@dataclass
class _Lease:
    lease_end: int
    capped: bool = False  # the last renewal could not extend it (it ends with its timeframe)


class LeaseKeeper:
    """Renews tracked leases ``renew_before`` seconds (chain time) before they end, to ``lease_seconds`` from then.

    :param agent: the agent whose instances these are (its key holds ``AGENT_ROLE``).
    :param lease_seconds: the lease each renewal asks for.
    :param renew_before: how long before the lease end to renew; default a third of ``lease_seconds``.
    :param interval: seconds between passes of the background thread.
    :param on_event: called (from the keeper's thread when running in the background) with every renewal result
        and error; exceptions it raises are logged and otherwise ignored.
    :param max_events: how many of the latest events :attr:`events` keeps (a keeper may run for months).
    """

    def __init__(
        self,
        agent: Agent,
        lease_seconds: int,
        *,
        renew_before: int | None = None,
        interval: float = 1.0,
        on_event: Callable[[KeeperEvent], None] | None = None,
        max_events: int = 10_000,
    ) -> None:
        if lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        self.agent = agent
        self.lease_seconds = lease_seconds
        self.renew_before = renew_before if renew_before is not None else max(1, lease_seconds // 3)
        if not 0 < self.renew_before <= lease_seconds:
            raise ValueError("renew_before must be between 1 and lease_seconds")
        self.interval = interval
        self.on_event = on_event
        self._leases: dict[bytes, _Lease] = {}
        self._events: deque[KeeperEvent] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ tracking

    def track(self, granted: Granted | Continued | bytes, lease_end: int | None = None) -> None:
        """Keeps renewing this instance: pass the :class:`Granted` (or :class:`Continued`) result, or an instance id
        with its current ``lease_end``."""
        if isinstance(granted, Granted | Continued):
            instance_id, end = granted.instance_id, granted.lease_end
        else:
            if lease_end is None:
                raise ValueError("give the lease end of an instance tracked by id")
            instance_id, end = bytes(granted), lease_end
        with self._lock:
            self._leases[instance_id] = _Lease(end)

    def untrack(self, instance_id: bytes) -> None:
        """Stops renewing ``instance_id`` (e.g. before deactivating it). Unknown ids are ignored."""
        with self._lock:
            self._leases.pop(bytes(instance_id), None)

    def tracked(self) -> dict[bytes, int]:
        """The tracked instance ids and their current lease ends."""
        with self._lock:
            return {instance_id: lease.lease_end for instance_id, lease in self._leases.items()}

    @property
    def events(self) -> list[KeeperEvent]:
        """The latest results and errors (up to ``max_events``), oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    # ------------------------------------------------------------------ one pass

    def tick(self, now: int | None = None) -> list[KeeperEvent]:
        """Renews every tracked lease due at chain time ``now`` (default: the latest block's timestamp); returns what
        happened in this pass. Safe to call while the background thread runs (passes never overlap)."""
        return self._pass(now, background=False)

    def _pass(self, now: int | None, *, background: bool) -> list[KeeperEvent]:
        with self._tick_lock:
            current = self.agent.chain_time() if now is None else now
            with self._lock:
                due = [instance_id for instance_id, lease in self._leases.items() if self._is_due(lease, current)]
            happened: list[KeeperEvent] = []
            for instance_id in due:
                if background and self._stop.is_set():
                    break  # stop() waits for us: finish the renewal in flight, not the whole pass
                happened.append(self._renew(instance_id, current))
            return happened

    def _is_due(self, lease: _Lease, current: int) -> bool:
        if lease.capped:
            return current >= lease.lease_end
        return lease.lease_end - current <= self.renew_before

    def _renew(self, instance_id: bytes, current: int) -> KeeperEvent:
        event: KeeperEvent
        try:
            result: RenewResult = self.agent.renew(instance_id, self.lease_seconds)
        except MeteringError as exc:
            closed = isinstance(exc, ContractRevertError) and exc.name == "MeteringInstanceNotOpen"
            event = KeeperError(instance_id, exc, dropped=closed)
            with self._lock:
                if closed:
                    self._leases.pop(instance_id, None)
            log.warning("renewing %s failed: %s", "0x" + instance_id.hex(), exc)
        else:
            event = result
            with self._lock:
                self._leases.pop(instance_id, None)
                if isinstance(result, Renewed):
                    # The renewal was mined at or after `current`; a lease shorter than asked for was capped at the
                    # end of its timeframe: renew it again only once it has run out (that continues it).
                    capped = result.lease_end < current + self.lease_seconds
                    self._leases[instance_id] = _Lease(result.lease_end, capped=capped)
                elif isinstance(result, Continued):
                    self._leases[result.instance_id] = _Lease(result.lease_end)
                # RenewalDenied (suspended customer, or expired) and ContinuationDenied: nothing left to renew.
        with self._lock:
            self._events.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("the keeper's on_event callback failed")
        return event

    # ------------------------------------------------------------------ background

    def start(self) -> LeaseKeeper:
        """Runs :meth:`tick` every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metering-lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stops the background thread and waits for it (a renewal in flight is finished first). Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._pass(None, background=True)
            except Exception:  # e.g. the node is unreachable for a moment: try again next pass
                log.exception("lease keeper pass failed")
            self._stop.wait(self.interval)

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

