"""The interpreter's settings while a sync reads ahead: a short GIL switch interval, and the cyclic garbage
collector leaving alone the objects that were there before the sync.

Why the switch interval: the reader thread spends a range's read waiting on the node's socket, and each time an
answer (or the next piece of a large one) arrives it needs the GIL back, while the loop decodes the range before in
Python. A thread asking for the GIL gets it only after its holder has had it for the switch interval (5 ms by
default), so every socket read of the reader waited up to 5 ms: a range's read took as long as the store it
overlapped, and the loop then waited for it. At 0.5 ms the reader's waits are short, and the loop is interrupted no
more often than the reader has something to do. ``bench/indexing.py`` I2 (median of 11, alternating): 180 against
191 ms.

Why the collector: a range's logs are parsed into dicts and lists that live while the range is decoded, so some
survive the young collections, and every so often their number sets off a full collection, which walks every object
of the program (web3, the store's drivers...): 37-47 ms each in the bench's process, against 40 ms to store a range
of 3,000 logs. None of those objects are garbage the sync makes, so while it runs they are frozen (``gc.freeze``):
collections, full ones included, look only at what the sync allocated, and cycles among those are still found. A
sync of 40,000 events in 8 ranges: 623 against 659 ms (median of 5, alternating, one full collection in each).

Both are the interpreter's, so they are set while at least one sync runs and restored when the last one ends
(several syncs in one process, a web view's and a watcher's, may overlap). A program that chose otherwise keeps its
choice: a shorter interval is left as it is, and a collector that is disabled or already has frozen objects (a
server that froze them before forking) is not touched.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["QUICK_SWITCH_SECONDS", "sync_runtime"]

#: The switch interval while a sync runs.
QUICK_SWITCH_SECONDS = 0.0005


@dataclass(frozen=True)
class _Before:
    """What the first holder found: the switch interval to restore, and whether it froze the collector's objects."""

    interval: float
    froze: bool


class _Holders:
    """The syncs running now, and what the first of them found (restored when the last one ends)."""

    count = 0
    before = _Before(0.0, froze=False)


_lock = threading.Lock()


@contextmanager
def sync_runtime() -> Iterator[None]:
    """Run the body with a switch interval of at most :data:`QUICK_SWITCH_SECONDS` and the collector's objects
    frozen (see the module's docstring)."""
    with _lock:
        if _Holders.count == 0:
            before = _Before(sys.getswitchinterval(), gc.isenabled() and gc.get_freeze_count() == 0)
            if before.interval > QUICK_SWITCH_SECONDS:
                sys.setswitchinterval(QUICK_SWITCH_SECONDS)
            if before.froze:
                gc.freeze()
            _Holders.before = before
        _Holders.count += 1
    try:
        yield
    finally:
        with _lock:
            _Holders.count -= 1
            if _Holders.count == 0:
                before = _Holders.before
                if before.interval > QUICK_SWITCH_SECONDS:
                    sys.setswitchinterval(before.interval)
                if before.froze:
                    gc.unfreeze()
