"""What a node means when it answers ``eth_sendRawTransaction`` (or a receipt request) with an error.

Nodes word the same refusal differently (geth, anvil, reth, erigon, nethermind, Hardhat), so the sender classifies
the message once, here: a transaction the node already holds is not a refusal, a nonce conflict may be retried with
a fresh nonce, a fee refusal with fresh fees, and the rest fails that call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metering._utils.rpc_retry import rpc_message

__all__ = ["FUNDS", "RejectedError", "accepted", "classify", "indexing", "raise_rejection"]

#: What nodes (geth, anvil, reth, erigon, nethermind) say when they already hold this exact transaction.
ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already exists", "alreadyknown")
#: What a Hardhat node (automine, ``throwOnTransactionFailures``, its default) answers to ``eth_sendRawTransaction``
#: of a transaction it has just mined and that reverted: not a refusal, the nonce is used and the receipt exists.
MINED_AND_REVERTED = ("vm exception while processing transaction",)
NONCE = ("nonce too low", "nonce too high", "invalid nonce", "nonce has already been used", "oldnonce")
REPLACEMENT = ("replacement transaction underpriced", "replacement fee too low")
FEE = ("max fee per gas less than block base fee", "fee cap less than block base fee", "feecap too low",
       "maxfeepergas too low", "transaction underpriced", "gas price too low")
FUNDS = ("insufficient funds", "insufficient balance")


class RejectedError(Exception):
    """The node answered and refused the transaction: nothing was sent, the nonce is still free."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def classify(lowered: str) -> str:
    """The kind of a refusal: ``funds``, ``nonce``, ``replacement``, ``fee`` or ``other``."""
    if any(s in lowered for s in FUNDS):
        return "funds"
    if any(s in lowered for s in NONCE):
        return "nonce"
    if any(s in lowered for s in REPLACEMENT):
        return "replacement"
    if any(s in lowered for s in FEE):
        return "fee"
    return "other"


def raise_rejection(exc: BaseException, *, maybe_sent: bool) -> None:
    """Returns if a refusal of ``eth_sendRawTransaction`` means the node has (or mined) the transaction; else raises
    :class:`RejectedError` with its kind. ``maybe_sent``: an earlier attempt may have reached the node, so a nonce
    refusal means it was probably mined (the receipt wait will tell)."""
    message = rpc_message(exc)
    lowered = message.lower()
    if any(s in lowered for s in ALREADY_KNOWN + MINED_AND_REVERTED):
        return  # the receipt wait finds it (a failed one is re-simulated for its reason)
    if maybe_sent and any(s in lowered for s in NONCE + REPLACEMENT):
        return
    raise RejectedError(classify(lowered), message) from exc


def accepted(answer: Mapping[str, Any] | None) -> bool:
    """Whether one answer of a batch of ``eth_sendRawTransaction`` means the node has the transaction."""
    if answer is None:
        return False
    if "error" not in answer:
        return True
    error = answer["error"]
    message = str(error.get("message", "")) if isinstance(error, Mapping) else str(error)
    return any(s in message.lower() for s in ALREADY_KNOWN)


def indexing(exc: BaseException) -> bool:
    """A node still indexing transactions answers receipt requests with an error for a while: not yet known."""
    message = rpc_message(exc).lower()
    return "index" in message and "progress" in message
