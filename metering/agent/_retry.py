"""Sends an agent's call and retries it after a timeout, safely: the contract answers a request id, renewal or
stop it has already seen without counting again, so the same call may be sent again. A retry is estimated first
(the state is uncertain then, and a call that would now revert costs nothing)."""

from __future__ import annotations

import logging
from dataclasses import replace

from metering.chain.sender import Call, SendOutcome, SentTransaction, TransactionSender
from metering.errors import ContractRevertError, MeteringError, TransactionTimeoutError

__all__ = ["NotOpenAfterRetryError", "landed", "send_with_retries"]

log = logging.getLogger("metering.agent")


class NotOpenAfterRetryError(MeteringError):
    """A retried call found the instance already closed: resolve it from the chain's records."""

    def __init__(self, cause: ContractRevertError, attempted: list[str]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attempted = attempted


def send_with_retries(
    sender: TransactionSender, call: Call, *, what: str, retries: int, not_open_ok: bool = False,
    first: SendOutcome | None = None,
) -> SentTransaction:
    """Sends ``call`` (``first``: the outcome of a first attempt already made), trying again up to ``retries``
    times after a timeout; a retry that finds the first attempt mined returns it."""
    attempted: list[str] = []
    for attempt in range(retries + 1):
        try:
            if attempt == 0 and first is not None:
                if isinstance(first, SentTransaction):
                    return first
                raise first
            return sender.transact(call if attempt == 0 else replace(call, gas=None))
        except TransactionTimeoutError as exc:
            if exc.tx_hash:
                attempted.append(exc.tx_hash)
            found = landed(sender, attempted)
            if found is not None:
                return found
            if attempt == retries:
                raise TransactionTimeoutError(
                    f"{what}: {exc}; retrying with the same ids is safe", tx_hash=exc.tx_hash
                ) from exc
            log.warning("%s timed out (%s); trying again with the same ids", what, exc)
        except ContractRevertError as exc:
            if not_open_ok and attempted and exc.name == "MeteringInstanceNotOpen":
                found = landed(sender, attempted)
                if found is not None:
                    return found
                raise NotOpenAfterRetryError(exc, attempted) from exc
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def landed(sender: TransactionSender, attempted: list[str]) -> SentTransaction | None:
    """The first of the ``attempted`` transactions that is mined by now, if any."""
    for tx_hash in attempted:
        try:
            found = sender.find(tx_hash)
        except MeteringError:
            continue
        if found is not None:
            return found
    return None
