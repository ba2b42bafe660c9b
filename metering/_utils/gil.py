"""A short GIL switch interval while an indexer's reader thread and its decoding loop share the interpreter.

Why: the reader thread spends a range's read waiting on the node's socket, and each time an answer (or the next
piece of a large one) arrives it needs the GIL back, while the loop decodes the range before in Python. A thread
asking for the GIL gets it only after its holder has had it for the switch interval (5 ms by default), so every
socket read of the reader waited up to 5 ms: a range's read took as long as the store it overlapped, and the loop
then waited for it. At 0.5 ms the reader's waits are short and the loop is interrupted no more often than the
reader has something to do. ``bench/indexing.py`` I2 (median of 11, alternating): 180 against 191 ms.

The interval is the interpreter's, so it is set while at least one sync reads ahead in a thread and restored when
the last one ends (several syncs in one process, a web view's and a watcher's, may overlap); a program that set a
shorter interval keeps it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QUICK_SWITCH_SECONDS", "quick_switches"]

#: The switch interval while a sync reads ahead in a thread.
QUICK_SWITCH_SECONDS = 0.0005

_lock = threading.Lock()
_holders: list[float] = []  # the interval before the first holder, once per holder


@contextmanager
def quick_switches() -> Iterator[None]:
    """Run the body with a GIL switch interval of at most :data:`QUICK_SWITCH_SECONDS`."""
    with _lock:
        before = _holders[0] if _holders else sys.getswitchinterval()
        _holders.append(before)
        if before > QUICK_SWITCH_SECONDS:  # a shorter one is left alone
            sys.setswitchinterval(QUICK_SWITCH_SECONDS)
    try:
        yield
    finally:
        with _lock:
            _holders.pop()
            if not _holders and before > QUICK_SWITCH_SECONDS:
                sys.setswitchinterval(before)
