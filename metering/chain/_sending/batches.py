"""Broadcasts many signed transactions in JSON-RPC batch requests, and settles the rare refusals one by one.

A friend of :class:`~metering.chain.sender.TransactionSender`: it runs under the sender's lock and uses its nonce,
signing and single-broadcast steps, so a batch follows the same rules as one call at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from web3.exceptions import Web3RPCError

from metering._utils.rpc import error_from_response
from metering._utils.rpc_retry import is_transient
from metering.errors import RpcUnavailableError, TransactionFailedError

from .calls import Call, SendOutcome, Signed
from .refusals import RejectedError, accepted, raise_rejection

if TYPE_CHECKING:
    from metering.chain.sender import TransactionSender

__all__ = ["BatchBroadcaster"]

log = logging.getLogger("metering.chain.sender")

#: The most bytes of signed transactions (as hex) per batch request: nodes cap request bodies (anvil refuses a few
#: MB as an "Invalid request"); and the bytes counted per transaction besides its calldata.
_BATCH_BYTES = 1_000_000
_TX_OVERHEAD_BYTES = 400
#: Gas of the zero-value transfer that fills a nonce left free inside a batch (see ``_fill_gap``).
_TRANSFER_GAS = 21_000

Placed = list[tuple[int, Signed]]
Outcomes = list[SendOutcome | None]


class BatchBroadcaster:
    """Sends the calls of one ``send_all`` with consecutive nonces, ``sender.batch_size`` per request."""

    def __init__(self, sender: TransactionSender) -> None:
        self._s = sender

    def broadcast(
        self, calls: Sequence[Call], gases: Sequence[int], signed: Placed, outcomes: Outcomes
    ) -> None:
        """Under the sender's lock: signs ``calls`` with consecutive nonces and broadcasts them in batches.

        Appends ``(index, signed)`` for each call the node has, and records refusals in ``outcomes``; after a
        refusal nothing more is sent (as with one call at a time)."""
        s = self._s
        fees = s._current_fees()
        begin = 0
        while begin < len(calls):
            end, size = begin, 0
            while end < len(calls) and end - begin < s.batch_size:
                size += 2 * len(calls[end].data) + _TX_OVERHEAD_BYTES
                if end > begin and size > _BATCH_BYTES:
                    break
                end += 1
            indices = range(begin, end)
            first = s._next_nonce()
            chunk = [s._sign(calls[i], first + k, gases[i], fees) for k, i in enumerate(indices)]
            if self._chunk(list(indices), chunk, signed, outcomes):
                for i in range(end, len(calls)):
                    outcomes[i] = TransactionFailedError(
                        f"{calls[i].label} was not sent: an earlier transaction of the same batch was refused"
                    )
                return
            fees = s._current_fees()
            begin = end

    def _chunk(self, indices: list[int], chunk: list[Signed], signed: Placed, outcomes: Outcomes) -> bool:
        """One batch request for ``chunk``; the rare refusals are settled one by one. Returns whether one failed."""
        s = self._s
        try:
            answers: list[Mapping[str, Any] | None] = list(
                s._rpc_raw.batch([("eth_sendRawTransaction", [t.raw_hex]) for t in chunk])
            )
        except Exception as exc:
            if not is_transient(exc):
                if isinstance(exc, Web3RPCError | OSError) and len(chunk) > 1:
                    # The node refused the batch as a whole (too large, say), so nothing in it was processed: the
                    # same transactions in two halves.
                    log.warning("the node refused a batch of %d transactions (%s); sending it in halves", len(chunk),
                                exc)
                    half = len(chunk) // 2
                    return self._chunk(indices[:half], chunk[:half], signed, outcomes) or \
                        self._chunk(indices[half:], chunk[half:], signed, outcomes)
                raise
            log.warning("a batch of %d transactions got no answer (%s); checking them one by one", len(chunk), exc)
            answers = [None] * len(chunk)  # unknown: each may have reached the node
        taken = [accepted(answer) for answer in answers]
        if all(taken):
            signed.extend(zip(indices, chunk, strict=True))
            s._nonce = chunk[-1].nonce + 1
            return False
        return self._settle(indices, chunk, answers, taken, signed, outcomes)

    def _settle(
        self, indices: list[int], chunk: list[Signed], answers: list[Mapping[str, Any] | None],
        taken: list[bool], signed: Placed, outcomes: Outcomes,
    ) -> bool:
        """A batch with refusals or lost answers, in nonce order: a lost answer is checked and the same bytes are
        sent again; a fee refusal is signed again at the same nonce with fresh fees; a nonce taken by another
        program is given up and the call signed again after the batch with a fresh nonce; any other refusal is that
        call's failure, and its nonce is filled with a zero-value transfer to ourselves if a later transaction of
        the batch was accepted (it would wait for that nonce forever)."""
        s = self._s
        later: list[int] = []  # positions whose nonce another program took: re-signed after the batch
        failed = False
        for k, (index, item, answer) in enumerate(zip(indices, chunk, answers, strict=True)):
            if failed:
                if taken[k]:
                    signed.append((index, item))  # sent although an earlier one failed: await it
                elif answer is None:
                    s._nonce = None
                    outcomes[index] = s._unanswered(item, "the batch request got no answer")
                continue
            if taken[k]:
                signed.append((index, item))
                continue
            try:
                if answer is None:
                    s._broadcast(item, maybe_sent=True)
                    signed.append((index, item))
                    continue
                refusal = error_from_response("eth_sendRawTransaction", answer)
                if is_transient(refusal):
                    s._broadcast(item, maybe_sent=False)
                    signed.append((index, item))
                    continue
                try:
                    raise_rejection(refusal, maybe_sent=False)
                except RejectedError as rejected:
                    if rejected.kind in ("nonce", "replacement"):
                        later.append(k)
                        continue
                    if rejected.kind == "fee":
                        again = s._sign(item.call, item.nonce, item.gas, s._current_fees(refresh=True))
                        s._broadcast(again)
                        signed.append((index, again))
                        continue
                    outcomes[index] = s._refusal(item.call, item.gas, item.fees, rejected)
                    failed = True
                    if any(taken[k + 1:]):
                        self._fill_gap(item)
                    else:
                        s._nonce = item.nonce
                    continue
                signed.append((index, item))  # "already known"
            except RejectedError as rejected:  # a re-signed or re-sent transaction refused again
                outcomes[index] = s._refusal(item.call, item.gas, item.fees, rejected)
                failed = True
                s._nonce = None
            except (TransactionFailedError, RpcUnavailableError) as exc:
                outcomes[index] = exc
                failed = True
        if not failed and s._nonce is not None:
            s._nonce = max(s._nonce, chunk[-1].nonce + 1)
        if later:
            s.resync_nonce()
            for k in later:
                if failed:
                    outcomes[indices[k]] = TransactionFailedError(
                        f"{chunk[k].call.label} was not sent: an earlier transaction of the same batch was refused"
                    )
                    continue
                log.warning("nonce %d was taken by another program; sending %s again", chunk[k].nonce,
                            chunk[k].call.label)
                try:
                    signed.append((indices[k], s._sign_and_broadcast(chunk[k].call, chunk[k].gas,
                                                                     s._current_fees())))
                except (TransactionFailedError, RpcUnavailableError) as exc:
                    outcomes[indices[k]] = exc
                    failed = True
        signed.sort(key=lambda pair: pair[0])
        return failed

    def _fill_gap(self, refused: Signed) -> None:
        """Sends a zero-value transfer to ourselves at ``refused``'s nonce, so the accepted transactions after it
        in the same batch are not left waiting for that nonce."""
        s = self._s
        filler = Call(to=s.address, data=b"", label=f"nonce filler for the refused {refused.call.label}")
        try:
            s._broadcast(s._sign(filler, refused.nonce, _TRANSFER_GAS, s._current_fees(refresh=True)))
        except (RejectedError, TransactionFailedError, RpcUnavailableError) as exc:
            log.warning("could not fill nonce %d (%s): later transactions of the batch wait for it", refused.nonce,
                        exc)
        s._nonce = None  # read again, whatever happened
