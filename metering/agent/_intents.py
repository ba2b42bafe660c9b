"""Activations whose outcome is unknown (a timeout or a lost answer), by what the caller meant to do.

A caller that times out and calls ``activate`` again usually means the same instance, not a second one. So the
agent remembers the request id of each activation whose outcome it does not know, keyed by (customer, instance type,
intent), and the next ``activate`` with that key and no request id sends the *same* request id: the contract
replays it if the first attempt landed (the first decision comes back, counted once) and decides it if not. The
entry goes once a decision for that request id is known. ``intent`` (any hashable, default ``None``) tells apart
two activations the caller really means for the same customer and type.

Adversary and bound: a caller that loses many answers holds one entry (and one reserved seat) per key, never more
than the number of distinct keys it used; a decided request frees both.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

__all__ = ["InFlight", "IntentKey"]

#: (customer, instance type, intent)
IntentKey = tuple[str, int, Hashable]


class InFlight:
    """The unresolved request id per intent; thread-safe."""

    def __init__(self) -> None:
        self._by_key: dict[IntentKey, int] = {}
        self._lock = threading.Lock()

    def pending(self, key: IntentKey) -> int | None:
        """The request id of an activation with ``key`` whose outcome is unknown, if any."""
        with self._lock:
            return self._by_key.get(key)

    def unknown(self, key: IntentKey, request: int) -> None:
        """The activation ``request`` for ``key`` ended without a known outcome."""
        with self._lock:
            self._by_key[key] = request

    def decided(self, request: int) -> None:
        """A decision for ``request`` is known (first or replayed): its intent is resolved."""
        with self._lock:
            for key in [k for k, r in self._by_key.items() if r == request]:
                del self._by_key[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)
