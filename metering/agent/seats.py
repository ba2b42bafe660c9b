"""Chooses an agent's request ids: the next generation of a seat whose instance has ended.

An agent's request id is ``seat << 8 | generation``: each agent owns seats on chain, a seat holds one instance at a
time, and the next request on a seat whose instance has ended uses its next generation.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque

from metering._utils.client import MeterClient
from metering.contract import InstanceStatus
from metering.types import MAX_GENERATION, UINT64_MAX, request_id

__all__ = ["SeatAllocator"]


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
