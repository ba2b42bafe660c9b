"""Reads retried like sends: a lost answer to a view call must not escape as a raw ``requests`` error.

A read has no side effect, so repeating it is always safe. Transient failures (no answer, a timeout, HTTP 429 or
5xx, a rate limit; see :func:`metering.sender.is_transient`) are retried with exponential backoff; anything else
passes through unchanged, so a revert still reaches the caller's decoder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from metering.errors import RpcUnavailableError
from metering.sender import is_transient

__all__ = ["retry_read"]

log = logging.getLogger("metering.rpc")

_T = TypeVar("_T")


def retry_read(request: Callable[[], _T], what: str, *, attempts: int = 5, backoff: float = 0.25) -> _T:
    """``request()``, tried up to ``attempts`` times while it fails transiently (sleeping ``backoff * 2**n``).

    :raises RpcUnavailableError: no answer after every attempt, or an HTTP error that waiting will not cure.
    """
    last: BaseException | None = None
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            return request()
        except Exception as exc:
            if not is_transient(exc):
                if isinstance(exc, OSError):  # e.g. HTTP 401/404
                    raise RpcUnavailableError(f"the node refused {what}: {exc}") from exc
                raise
            log.warning("%s failed (%s); attempt %d/%d", what, exc, attempt + 1, attempts)
            last = exc
    raise RpcUnavailableError(f"the node did not answer {what} after {attempts} attempts: {last}")
