"""Waiting for a condition instead of for a time: the one way a test waits here.

A fixed sleep is either too long on a quiet machine or too short on a loaded one (the suite runs on 2 busy cores in
CI); a condition polled with a generous deadline is fast when things are fast and still right when they are slow.
The deadline is only there so that a broken condition fails with its name instead of hanging the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_for"]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` every ``interval`` seconds until it is truthy.

    :raises AssertionError: it was still false after ``timeout`` seconds (naming ``what`` was awaited).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)
