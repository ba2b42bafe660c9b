"""``eth_sendRawTransactionSync`` (EIP-7966): send a signed transaction and get its receipt in one round trip.

A sequential caller otherwise pays two requests per transaction (the send, then at least one receipt request), and
the receipt request races the node's mining. Nodes that answer the method (anvil 1.7, recent geth and reth, some
L2 sequencers) hold the answer until the transaction is mined or their own timeout passes. What its answer means:

* a receipt: mined;
* "method not found" (or not supported): the node lacks it; ask once, then send the classic way;
* a confirmation timeout: the transaction is in the pool, its receipt is awaited the classic way;
* no answer at all: it may have reached the node, so the same bytes are checked and sent again;
* any other error: a refusal of ``eth_sendRawTransaction``, classified the same way.
"""

from __future__ import annotations

from enum import Enum

from metering._utils.rpc_retry import is_transient, rpc_code, rpc_message

__all__ = ["METHOD", "SyncFailure", "classify_sync_failure"]

METHOD = "eth_sendRawTransactionSync"

_UNSUPPORTED = ("method not found", "not supported", "does not exist", "not available", "unsupported",
                "unknown method", "not implemented")
_PENDING = ("timeout", "timed out", "not yet mined", "wasn't processed")


class SyncFailure(Enum):
    """What an error answer to ``eth_sendRawTransactionSync`` means for the transaction."""

    UNSUPPORTED = "the node does not answer the method: nothing was sent"
    PENDING = "sent, not mined within the node's wait: await the receipt"
    UNKNOWN = "no answer: it may have been sent"
    REFUSED = "an answer about the transaction itself (a refusal, or already known)"


def classify_sync_failure(exc: BaseException) -> SyncFailure:
    """The meaning of ``exc``, raised by an ``eth_sendRawTransactionSync`` request."""
    if is_transient(exc):
        return SyncFailure.UNKNOWN
    message = rpc_message(exc).lower()
    if rpc_code(exc) == -32601 or any(s in message for s in _UNSUPPORTED):
        return SyncFailure.UNSUPPORTED
    if rpc_code(exc) == 4 or any(s in message for s in _PENDING):
        return SyncFailure.PENDING
    return SyncFailure.REFUSED
