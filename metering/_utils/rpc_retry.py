"""Which RPC failures are worth retrying, and the one retry loop every request to the node goes through.

Sends (:class:`~metering.chain.sender.TransactionSender`) and view calls (:class:`~metering._utils.client.MeterClient`)
share it, so a dropped connection or an overloaded node during ``Agent.activate`` is retried the same way whether
it hit ``eth_estimateGas`` or an ``eth_call``, and what reaches the caller is our
:class:`~metering.errors.RpcUnavailableError`, never a raw ``requests`` exception.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from metering.errors import RpcUnavailableError

__all__ = ["DEFAULT_ATTEMPTS", "DEFAULT_BACKOFF", "is_transient", "retry_transient", "rpc_code", "rpc_message"]

log = logging.getLogger("metering.rpc")

_T = TypeVar("_T")

#: Tries per request, and the first pause between them in seconds (doubling: 0.25, 0.5, 1, 2).
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = 0.25


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure worth retrying: no answer, a timeout, a rate limit, or a server error.

    requests' exceptions are ``OSError`` subclasses; an HTTP error is transient only for 429 and 5xx, because a
    401 or 404 will not change by waiting. web3's own exceptions are looked at only when web3 is loaded (none can
    have been raised otherwise): the CLI's reads go without it (:mod:`metering.chain.lean`).
    """
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", getattr(exc, "status", None))
        return status is None or status == 429 or status >= 500
    if "web3.exceptions" not in sys.modules:
        return False
    from web3.exceptions import (
        ProviderConnectionError,
        RequestTimedOut,
        TooManyRequests,
        TransactionNotFound,
        Web3RPCError,
    )

    if isinstance(exc, RequestTimedOut | ProviderConnectionError | TooManyRequests):
        return True
    if isinstance(exc, Web3RPCError) and not isinstance(exc, TransactionNotFound):
        message = rpc_message(exc).lower()
        code = rpc_code(exc)
        return code in (-32005, 429) or "rate limit" in message or "too many requests" in message
    return False


def retry_transient(
    request: Callable[[], _T],
    what: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
) -> _T:
    """``request()``, tried up to ``attempts`` times while it fails transiently, with exponential backoff.

    Other errors pass through as they are (a revert is an answer), except a non-transient ``OSError`` (e.g. HTTP
    401), which becomes :class:`RpcUnavailableError` too.

    :raises RpcUnavailableError: the node did not answer ``what`` after ``attempts`` tries, or refused it.
    """
    last: BaseException | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            return request()
        except Exception as exc:
            if not is_transient(exc):
                if isinstance(exc, OSError):  # e.g. HTTP 401/404: waiting will not help
                    raise RpcUnavailableError(f"the node refused {what}: {exc}") from exc
                raise
            log.warning("%s failed (%s); attempt %d/%d", what, exc, attempt + 1, attempts)
            last = exc
    raise RpcUnavailableError(f"the node did not answer {what} after {attempts} attempts: {last}") from last


def _rpc_error(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict):
        error = response.get("error")
        if isinstance(error, dict):
            return error
    return {}


def rpc_message(exc: BaseException) -> str:
    """The JSON-RPC error message of ``exc`` (or its text)."""
    message = _rpc_error(exc).get("message")
    if isinstance(message, str):
        return message
    return getattr(exc, "message", None) or str(exc)


def rpc_code(exc: BaseException) -> int | None:
    """The JSON-RPC error code of ``exc``, if the node gave one."""
    code = _rpc_error(exc).get("code")
    return code if isinstance(code, int) else None
