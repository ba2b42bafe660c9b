"""Waits for receipts: at once after sending, then at intervals that grow with the time waited, in batches.

A receipt is asked for at once and then after about a tenth of the time waited so far (from 0.5 ms up to the
sender's ``poll_interval``), so it is seen at most about 10 % after the node has it, with few requests during a
long wait; for many transactions each poll asks the account's mined nonce and fetches only the receipts below it.
While waiting, the same signed bytes are sent again now and then in case a node dropped them. When receipts stall,
the transaction at the account's next nonce (which every later one waits for) is sent again at once rather than
waited on, and a development node that left transactions unmined is given a block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import Web3RPCError

from metering._utils.rpc import RawRpc, error_from_response
from metering._utils.rpc_retry import is_transient

from .calls import Signed
from .refusals import indexing

__all__ = ["ReceiptWaiter", "StrandWatch", "Wait", "ready_in_pool"]

log = logging.getLogger("metering.chain.sender")

#: The shortest wait before asking for a receipt again, and the fraction of the time waited so far that the wait
#: grows to (up to ``poll_interval``).
_FIRST_POLL = 0.0005
_POLL_FRACTION = 0.1
#: Seconds without a new receipt after which a development node is checked for stranded transactions.
STALL = 0.25
#: On anvil with automine on, seconds without a new receipt of a batch after which its pool is looked at: when the
#: account's next transaction sits there ready but unmined at two looks this far apart, with no receipt between,
#: anvil stranded it (see :meth:`ReceiptWaiter.nudge_dev_node`) and a block is mined for it at once, without waiting
#: for :data:`STALL`; after that, at every poll while the transactions anvil promotes behind it sit there alike. A
#: batch of 20 transactions strands in a third to a half of its sends; each stall cost 0.25 s, now about 0.06 s.
QUICK_STALL = 0.03

Receipt = dict[str, Any]


class StrandWatch:
    """When a batch's wait looks at anvil's pool for a stranded transaction, and when what it sees there calls for a
    block (see :data:`QUICK_STALL`). Shared with the bench's ceiling client, so that both treat a stranding alike."""

    def __init__(self, now: float) -> None:
        self.looked = now  # when the pool was last looked at
        self.sightings = 0  # looks in a row, with no receipt between, that found the next transaction ready but unmined
        self.nudged = False  # a block was mined for a stranded one: what anvil promotes after it is stranded alike

    def due(self, now: float, progress: float) -> bool:
        """Whether to look now, the last receipt having come at ``progress``."""
        return self.nudged or (now - progress >= QUICK_STALL and now - self.looked >= QUICK_STALL)

    def seen(self, now: float, waiting: bool) -> bool:
        """A look found the next transaction ready in the pool (``waiting``) or not; whether to mine a block now."""
        self.looked = now
        self.sightings = self.sightings + 1 if waiting else 0
        return self.sightings >= 2 or (self.nudged and self.sightings > 0)

    def mined(self) -> None:
        self.sightings = 0
        self.nudged = True

    def progressed(self) -> None:
        self.sightings = 0


def ready_in_pool(pool: Mapping[str, Any], address: str, nonce: int) -> bool:
    """Whether ``txpool_inspect``'s answer ``pool`` holds ``address``'s transaction ``nonce`` ready ("pending")."""
    ready = {str(k).lower(): v for k, v in (pool.get("pending") or {}).items()}
    return str(nonce) in (ready.get(address.lower()) or {})


@dataclass(frozen=True)
class Wait:
    """How one wait goes: its limits and the progress hooks of the sender (see ``TransactionSender``)."""

    timeout: float
    poll_interval: float
    rebroadcast_after: float
    batch_size: int
    on_wait: Callable[[str, int], None] | None = None
    on_mined: Callable[[str, int], None] | None = None


class ReceiptWaiter:
    """Receipt requests for one sender's transactions; ``address`` only names the account in log messages."""

    def __init__(self, w3: Web3, rpc: RawRpc, address: str) -> None:
        self._w3 = w3
        self._rpc = rpc
        self._address = address
        self._dev_node: bool | None = None  # whether the node is anvil (see nudge_dev_node)

    def receipt_or_none(self, tx_hash: str) -> Receipt | None:
        """The receipt of ``tx_hash``, or ``None`` while the node has none (or is briefly unreachable)."""
        try:
            receipt: Receipt | None = self._rpc.call("eth_getTransactionReceipt", [tx_hash])
            return receipt
        except Exception as exc:
            if is_transient(exc) or indexing(exc):
                return None
            raise

    def wait(self, signed: Sequence[Signed], how: Wait) -> dict[str, Receipt]:
        """The receipts of ``signed`` by transaction hash, once all are in or ``how.timeout`` passed (the missing
        ones are then absent)."""
        receipts: dict[str, Receipt] = {}
        pending = list(signed)
        start = time.monotonic()
        deadline = start + how.timeout
        last_broadcast = start
        progress = start
        first_block: int | None = None
        shown = -1
        stall = STALL
        strands = StrandWatch(start)
        while pending:
            for item, receipt in zip(pending, self._mined_receipts(pending, how.batch_size), strict=True):
                if receipt is not None:
                    receipts[item.tx_hash] = receipt
                    if how.on_mined is not None:
                        how.on_mined(item.tx_hash, int(receipt["blockNumber"], 16))
            if how.on_wait is not None and any(s.tx_hash not in receipts for s in pending):
                head = self._head_or_none()
                if head is not None:
                    first_block = head if first_block is None else first_block
                    if head - first_block != shown:
                        shown = head - first_block
                        for item in pending:
                            if item.tx_hash not in receipts:
                                how.on_wait(item.tx_hash, shown)
            now = time.monotonic()
            if len(receipts) > len(signed) - len(pending):
                progress = now
                strands.progressed()
            pending = [s for s in pending if s.tx_hash not in receipts]
            if not pending:
                break
            if (len(signed) > 1 and strands.due(now, progress)
                    and strands.seen(now, self._next_one_waits_in_pool(pending)) and self.nudge_dev_node(quietly=True)):
                progress = now
                strands.mined()
            if now - progress >= stall:
                progress = now
                self.resend_stranded(pending)
                if not self.nudge_dev_node():
                    # A slow chain is not asked every 0.25 s; an automining anvil just given a block is: it can
                    # strand the next transaction of a batch again, and each wait would then double.
                    stall = min(2 * stall, max(STALL, how.rebroadcast_after))
            if now >= deadline:
                break
            if now - last_broadcast >= how.rebroadcast_after:
                last_broadcast = now
                self.rebroadcast(pending)
            delay = min(how.poll_interval, max(_FIRST_POLL, (now - start) * _POLL_FRACTION))
            time.sleep(min(delay, max(0.0, deadline - now)))
        return receipts

    def rebroadcast(self, pending: Sequence[Signed]) -> None:
        """Sends the same bytes again (already known / nonce too low (mined) / node busy: keep waiting)."""
        try:
            self._rpc.batch([("eth_sendRawTransaction", [s.raw_hex]) for s in pending])
        except Exception as exc:
            log.debug("re-broadcast of %d transactions: %s", len(pending), exc)

    def resend_stranded(self, pending: Sequence[Signed]) -> None:
        """Sends again, at once, the transaction at the account's next nonce if it is among ``pending`` and the node
        no longer knows it.

        Every later transaction of the account waits for that nonce: a node that dropped it (a pool evicting under
        load, a batch request handled out of order) would otherwise hold the whole pipeline until the next periodic
        re-broadcast, or for good. The same signed bytes go out, so this never makes a second transaction."""
        try:
            mined = int(self._rpc.call("eth_getTransactionCount", [self._address, "latest"]), 16)
        except Exception as exc:
            log.debug("could not read the nonce of %s: %s", self._address, exc)
            return
        for item in pending:
            if item.nonce != mined:
                continue
            try:
                if self._rpc.call("eth_getTransactionByHash", [item.tx_hash]) is not None:
                    return  # the node has it: it is slow, not stranded (see nudge_dev_node)
            except Exception as exc:
                log.debug("could not look up %s: %s", item.tx_hash, exc)
            log.warning("nonce %d of %s is not mined while %d transactions wait; sending %s again", mined,
                        self._address, len(pending), item.tx_hash)
            try:
                self._rpc.call("eth_sendRawTransaction", [item.raw_hex])
            except Exception as exc:
                log.debug("re-sending %s: %s", item.tx_hash, exc)

    def nudge_dev_node(self, *, quietly: bool = False) -> bool:
        """anvil in automine mode mines each transaction as it arrives, but it handles the requests of a JSON-RPC
        batch concurrently, and transactions of one sender that reach its pool out of nonce order can be left there
        unmined until another transaction comes (foundry-rs/foundry#10122). So when receipts stall on anvil with
        automine on, mine one block: what automine would have done. Any other node is left alone. Returns whether
        a block was mined (``quietly``: logged at debug level, for a stranding seen in the pool itself)."""
        if not self._is_anvil():
            return False
        try:
            if self._rpc.call("anvil_getAutomine", []) is True:
                log.log(logging.DEBUG if quietly else logging.WARNING,
                        "anvil left transactions of %s unmined; mining a block", self._address)
                self._rpc.call("evm_mine", [])
                return True
        except Exception as exc:
            log.debug("could not nudge anvil: %s", exc)
        return False

    def _is_anvil(self) -> bool:
        if self._dev_node is None:
            try:
                version = str(self._rpc.call("web3_clientVersion", []))
            except Exception:
                version = ""
            self._dev_node = version.lower().startswith("anvil")
        return self._dev_node

    def _next_one_waits_in_pool(self, pending: Sequence[Signed]) -> bool:
        """On anvil: whether the lowest nonce of ``pending`` is in its pool, ready ("pending") and so not waiting
        for another nonce. Seen there twice :data:`QUICK_STALL` apart with no receipt between, it is taken for
        stranded: automine mines a ready transaction as it arrives (and were it being mined slowly after all, the
        block mined for it holds what automine would have mined next)."""
        if not self._is_anvil():
            return False
        try:
            return ready_in_pool(self._rpc.call("txpool_inspect", []), self._address,
                                 min(item.nonce for item in pending))
        except Exception as exc:
            log.debug("could not look at anvil's pool: %s", exc)
            return False

    def _mined_receipts(self, pending: Sequence[Signed], batch_size: int) -> list[Receipt | None]:
        """The receipts of ``pending`` known so far (``None`` for the others). For several transactions, the
        account's mined nonce is asked first and only the transactions below it are asked for their receipts: a
        transaction is mined only once every lower nonce of its account is, so a wait on hundreds of transactions
        costs one small request per poll instead of hundreds of receipt look-ups, which a node mining them would
        have to answer meanwhile."""
        if len(pending) == 1:
            return [self.receipt_or_none(pending[0].tx_hash)]
        try:
            mined = int(self._rpc.call("eth_getTransactionCount", [self._address, "latest"]), 16)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return [None] * len(pending)
        ready = [item for item in pending if item.nonce < mined]
        found = dict(zip((item.tx_hash for item in ready), self._receipts(ready, batch_size), strict=True))
        return [found.get(item.tx_hash) for item in pending]

    def _receipts(self, pending: Sequence[Signed], batch_size: int) -> list[Receipt | None]:
        """The receipts of ``pending`` known to the node so far (``None`` for the others), in batches."""
        if len(pending) == 1:
            return [self.receipt_or_none(pending[0].tx_hash)]
        found: list[Receipt | None] = []
        for begin in range(0, len(pending), batch_size):
            found.extend(self._receipt_batch(pending[begin:begin + batch_size]))
        return found

    def _receipt_batch(self, chunk: Sequence[Signed]) -> list[Receipt | None]:
        try:
            answers = self._rpc.batch([("eth_getTransactionReceipt", [s.tx_hash]) for s in chunk])
        except Exception as exc:
            if is_transient(exc):
                return [None] * len(chunk)
            if isinstance(exc, Web3RPCError | OSError) and len(chunk) > 1:  # refused as a whole: in halves
                half = len(chunk) // 2
                return self._receipt_batch(chunk[:half]) + self._receipt_batch(chunk[half:])
            raise
        found: list[Receipt | None] = []
        for answer in answers:
            if "error" in answer:
                error = error_from_response("eth_getTransactionReceipt", answer)
                if not (is_transient(error) or indexing(error)):
                    raise error
            found.append(answer.get("result"))
        return found

    def _head_or_none(self) -> int | None:
        """The latest block number for progress reports, or None when the node did not answer (the receipt wait
        notices a node that is gone; progress is only a courtesy)."""
        try:
            return int(self._w3.eth.block_number)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return None
