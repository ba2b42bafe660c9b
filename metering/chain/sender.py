"""Send transactions safely: sign locally, own the nonces, retry what is safe to retry, decode what went wrong.

Why not ``contract.functions.f().transact()``? That asks the node to sign (it holds no keys on a real chain), asks
the node for a nonce per transaction (two agents threads then collide), and on a network error leaves the caller
not knowing whether the transaction went out. :class:`TransactionSender` instead:

* signs in-process (EIP-1559 transactions built and signed with coincurve and a key parsed once, see
  :mod:`metering._utils.txsign`; legacy ones with eth-account), so keys never leave the machine;
* keeps the account's next nonce itself, starting from ``eth_getTransactionCount(address, "pending")``; a lock
  makes nonce assignment and broadcast atomic, so threads sharing a sender never reuse a nonce; after a nonce
  error, or a transaction whose fate is unknown, the nonce is read from the node again;
* prices transactions with EIP-1559 fees (``2 * base fee + tip``), or a legacy gas price on chains without base fee.
  Fees read at block ``B`` serve every transaction until the sender has seen block ``B + fee_blocks`` in a receipt
  (2x the base fee covers five full blocks of base-fee growth) or ``fee_ttl`` seconds have passed;
* takes a known gas limit when the caller gives one (``Call.gas``, e.g. from the committed gas report, see
  :mod:`metering._utils.gas_limits`) and then makes no ``eth_estimateGas`` at all. Otherwise it estimates first, so a
  call that would revert fails before it costs anything. Either way a revert ends as the contract's custom error
  decoded into :class:`~metering.errors.ContractRevertError` (name, arguments and what to do): a transaction that
  failed once mined is re-simulated at its block to recover the reason;
* retries transient RPC failures (connection errors, timeouts, HTTP 429 and 5xx) with exponential backoff. Once a
  transaction is signed it is never re-signed with another nonce after a failure that might have reached the node:
  it checks for the receipt of that transaction hash and broadcasts the *same* signed bytes again, so a lost
  response can never turn one call into two transactions;
* sends a lone transaction with ``eth_sendRawTransactionSync`` where the node answers it (one round trip for the
  transaction and its receipt; asked once, else the classic way below);
* asks for the receipt at once after sending and then at short intervals that grow with the time waited (a tenth
  of it, from 0.5 ms up to ``poll_interval``), so a receipt is seen at most about 10 % after the node has it;
  re-broadcasts now and then in case a node dropped the transaction, and turns ``status == 0`` into an exception;
* :meth:`send_many` sends presigned transactions in JSON-RPC batch requests and fetches their receipts in batches.

The class keeps the nonces and the public calls; its parts live in :mod:`metering.chain._sending` (fees, signing,
refusal classification, revert decoding, receipt waits, batches), one job each.

Requests go straight to ``w3.provider`` (:mod:`metering._utils.rpc`): web3's middleware (whose ``validation``
layer adds two ``eth_chainId`` round trips to every estimate) and result formatters are skipped, and receipts and
logs are kept as the node sent them.

>>> sender = TransactionSender(w3, account)                     # doctest: +SKIP
>>> sent = sender.transact(Call(to=meter.address, data=data, gas=160_000))   # doctest: +SKIP
>>> sent.tx_hash, sent.gas_used                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from metering._utils.abi_errors import ErrorDecoder, meter_error_decoder
from metering._utils.rpc import RawRpc
from metering._utils.rpc_retry import is_transient, retry_transient
from metering._utils.rpc_retry import rpc_message as _rpc_message
from metering.chain._sending.batches import BatchBroadcaster
from metering.chain._sending.calls import Call, RawLog, SendOutcome, SentTransaction, Signed, hex_of
from metering.chain._sending.fees import FeeCache
from metering.chain._sending.receipts import ReceiptWaiter, Wait
from metering.chain._sending.refusals import FUNDS, RejectedError, raise_rejection
from metering.chain._sending.reverts import failure_after_mining, insufficient_funds, revert_error
from metering.chain._sending.signing import TransactionSigner
from metering.chain._sending.sync import METHOD as SYNC_METHOD
from metering.chain._sending.sync import SyncFailure, classify_sync_failure
from metering.errors import (
    RpcUnavailableError,
    TransactionFailedError,
    TransactionTimeoutError,
)

__all__ = ["Call", "RawLog", "SendOutcome", "SentTransaction", "TransactionSender", "is_transient"]

log = logging.getLogger("metering.chain.sender")

_T = TypeVar("_T")


class TransactionSender:
    """Signs, sends and confirms transactions of one account; safe to share between threads.

    :param w3: the connection (see :func:`metering.chain.connect`).
    :param account: the local signing account (see :func:`metering.chain.accounts.load_signer`).
    :param error_decoder: decodes revert data; defaults to the Meter's errors.
    :param receipt_timeout: seconds to wait for a receipt before :class:`TransactionTimeoutError`.
    :param poll_interval: the longest wait between two receipt requests (the first waits are much shorter).
    :param attempts: tries per RPC request on transient failures (backoff ``backoff * 2**n`` seconds).
    :param gas_margin_percent: added to the gas estimate, since state may move between estimate and inclusion.
    :param priority_fee: tip in wei; default: ask the node (``eth_maxPriorityFeePerGas``).
    :param rebroadcast_after: seconds without a receipt after which the same signed bytes are sent again.
    :param fee_ttl: seconds fees read from the node are used for, at most.
    :param fee_blocks: blocks (seen in receipts) fees read at a block are used for, at most.
    :param batch_size: transactions (and receipt requests) per JSON-RPC batch request in :meth:`send_many` (fewer
        when their calldata passes about 1 MB of hex).
    :param sync_send: send a lone transaction with ``eth_sendRawTransactionSync`` where the node answers it (asked
        once), so it costs one round trip; not while progress hooks watch the wait. The node holds the answer until
        the transaction is mined, under the sender's lock, so threads sharing this sender then send one after
        another: on a chain with slow blocks and many threads, pass ``False`` or use :meth:`send_many`.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        error_decoder: ErrorDecoder | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.25,
        attempts: int = 5,
        backoff: float = 0.25,
        gas_margin_percent: int = 25,
        priority_fee: int | None = None,
        rebroadcast_after: float = 15.0,
        fee_ttl: float = 2.0,
        fee_blocks: int = 5,
        batch_size: int = 500,
        on_sent: Callable[[str, str], None] | None = None,
        on_wait: Callable[[str, int], None] | None = None,
        on_mined: Callable[[str, int], None] | None = None,
        sync_send: bool = True,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.w3 = w3
        self.account = account
        self.decoder = error_decoder or meter_error_decoder()
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.attempts = attempts
        self.backoff = backoff
        self.gas_margin_percent = gas_margin_percent
        self.priority_fee = priority_fee
        self.rebroadcast_after = rebroadcast_after
        self.fee_ttl = fee_ttl
        self.fee_blocks = fee_blocks
        self.batch_size = batch_size
        self.sync_send = sync_send
        #: Progress hooks (e.g. the CLI's hash-at-once and spinner): ``on_sent(tx_hash, label)`` as soon as the node
        #: has a transaction; ``on_wait(tx_hash, blocks)`` while its receipt is awaited (0 at the start, then when
        #: the number of blocks since the wait began changes); ``on_mined(tx_hash, block_number)`` once it is mined.
        self.on_sent = on_sent
        self.on_wait = on_wait
        self.on_mined = on_mined
        self._rpc_raw = RawRpc(w3)
        self._lock = threading.RLock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._signer = TransactionSigner(account, lambda: self.chain_id)
        self._fees = FeeCache(self._batch_call, self._call)
        self._receipts = ReceiptWaiter(w3, self._rpc_raw, account.address)
        self._batches = BatchBroadcaster(self)
        self._node_syncs: bool | None = None  # whether the node answers eth_sendRawTransactionSync (asked once)

    # ------------------------------------------------------------------ public

    @property
    def address(self) -> ChecksumAddress:
        address: ChecksumAddress = self.account.address
        return address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._call("eth_chainId", []), 16)
        return self._chain_id

    def transact(self, call: Call) -> SentTransaction:
        """Sends ``call`` and waits until it is mined.

        :raises ContractRevertError: the call reverts (at estimation or once mined), with the decoded error.
        :raises TransactionFailedError: the node refused it (e.g. insufficient funds) or it failed without reason.
        :raises TransactionTimeoutError: it was sent but not mined within ``receipt_timeout`` (it may still be).
        :raises RpcUnavailableError: the node did not answer, even after retries.
        """
        return self.send_many([call])[0]

    def send_many(self, calls: Sequence[Call]) -> list[SentTransaction]:
        """Sends ``calls`` pipelined: signs them with consecutive nonces, broadcasts them in JSON-RPC batch requests
        of ``batch_size``, then waits for all receipts (also in batches).

        Gas is estimated, for each call without ``Call.gas``, against the current state before anything is sent, so
        give ``Call.gas`` for calls whose estimate depends on an earlier call of the same batch. If a broadcast is
        refused, the calls before it are still awaited (they are on their way) and the error is raised afterwards;
        so is the first failure among the receipts. See :meth:`send_all` for the outcome of every call.
        """
        outcomes = self.send_all(calls)
        results: list[SentTransaction] = []
        failure: BaseException | None = None
        for outcome in outcomes:
            if isinstance(outcome, SentTransaction):
                results.append(outcome)
            elif failure is None:
                failure = outcome
        if failure is not None:
            raise failure
        return results

    def send_all(self, calls: Sequence[Call]) -> list[SendOutcome]:
        """Like :meth:`send_many`, but returns each call's outcome in its place (a :class:`SentTransaction`, or the
        error it would have raised) instead of raising the first failure; for callers that retry some calls.

        A call not sent because an earlier one was refused gets a :class:`TransactionFailedError` saying so. If
        another program uses this account's nonces while a batch is in flight, the calls the node refused for that
        reason are sent again with fresh nonces after the others, so they may land out of order.

        :raises ContractRevertError: an estimate reverted (nothing was sent).
        :raises RpcUnavailableError: the node did not answer an estimate or a fee or nonce request (nothing sent).
        """
        if not calls:
            return []
        gases = [call.gas if call.gas is not None else self.estimate_gas(call) for call in calls]
        outcomes: list[SendOutcome | None] = [None] * len(calls)
        signed: list[tuple[int, Signed]] = []
        with self._lock:
            if len(calls) == 1:
                try:
                    done = self._send_sync(calls[0], gases[0]) if self._syncs() else None
                    if isinstance(done, Signed):
                        signed.append((0, done))
                    elif done is not None:
                        return [done]
                    else:
                        signed.append((0, self._sign_and_broadcast(calls[0], gases[0], self._current_fees())))
                except (TransactionFailedError, RpcUnavailableError) as exc:
                    outcomes[0] = exc
            else:
                self._batches.broadcast(calls, gases, signed, outcomes)
        if self.on_sent is not None:
            for _, item in signed:
                self.on_sent(item.tx_hash, item.call.label)
        for index, result in zip((i for i, _ in signed), self._confirm_all([s for _, s in signed]), strict=True):
            outcomes[index] = result
        return [
            outcome if outcome is not None else TransactionFailedError(f"{call.label} was not sent")
            for call, outcome in zip(calls, outcomes, strict=True)
        ]

    def estimate_gas(self, call: Call) -> int:
        """Gas for ``call`` with the safety margin (and at least ``call.min_gas``); a revert raises the decoded
        :class:`ContractRevertError`."""
        params: dict[str, Any] = {"from": self.address, "data": hex_of(call.data), "value": hex(call.value)}
        if call.to is not None:
            params["to"] = call.to
        try:
            estimate = int(self._call("eth_estimateGas", [params]), 16)
        except (ContractLogicError, Web3RPCError) as exc:
            message = _rpc_message(exc)
            if any(s in message.lower() for s in FUNDS):
                raise self._insufficient_funds(call, gas=None, fees=None) from exc
            raise self._revert_error(exc, call, tx_hash=None) from exc
        return max(estimate * (100 + self.gas_margin_percent) // 100, call.min_gas)

    def find(self, tx_hash: str) -> SentTransaction | None:
        """The transaction ``tx_hash`` if it is mined by now, else ``None``; e.g. to see whether a transaction that
        timed out landed after all.

        :raises TransactionFailedError: it was mined but failed.
        """
        receipt = self._receipts.receipt_or_none(tx_hash)
        if receipt is None:
            return None
        if int(receipt["status"], 16) != 1:
            raise TransactionFailedError(
                f"transaction {tx_hash} failed in block {int(receipt['blockNumber'], 16)}", tx_hash=tx_hash
            )
        tx = self._call("eth_getTransactionByHash", [tx_hash])
        return self._sent(tx_hash, int(tx["nonce"], 16), receipt)

    def resync_nonce(self) -> int:
        """Reads the next nonce from the node again (``pending``); use after sending from this account elsewhere."""
        with self._lock:
            self._nonce = int(self._call("eth_getTransactionCount", [self.address, "pending"]), 16)
            return self._nonce

    # ------------------------------------------------------------------ building and broadcasting

    def _next_nonce(self) -> int:
        if self._nonce is None:
            return self.resync_nonce()
        return self._nonce

    def _syncs(self) -> bool:
        """Whether to try ``eth_sendRawTransactionSync`` for a lone call: allowed, not known to be missing, and no
        progress hook waits to see the hash before the receipt."""
        hooked = self.on_sent is not None or self.on_wait is not None or self.on_mined is not None
        return self.sync_send and self._node_syncs is not False and not hooked

    def _send_sync(self, call: Call, gas: int) -> SendOutcome | Signed | None:
        """Under the lock: one ``eth_sendRawTransactionSync``. Returns the outcome when the node answered with the
        receipt; the signed transaction when it is on its way and its receipt must be awaited; ``None`` when the
        classic send should be used instead (the node lacks the method, or the nonce or fees need the classic
        retries; nothing was sent then)."""
        fees = self._current_fees()
        signed = self._sign(call, self._next_nonce(), gas, fees)
        try:
            receipt = self._rpc_raw.call(SYNC_METHOD, [signed.raw_hex])
        except Exception as exc:
            failure = classify_sync_failure(exc)
            if failure is SyncFailure.UNSUPPORTED:
                log.info("the node does not answer %s (%s); sending the classic way", SYNC_METHOD, exc)
                self._node_syncs = False
                return None
            if failure is SyncFailure.UNKNOWN:
                self._broadcast(signed, maybe_sent=True)  # checks for a receipt, then sends the same bytes again
            elif failure is SyncFailure.REFUSED:
                try:
                    raise_rejection(exc, maybe_sent=False)
                except RejectedError as rejected:
                    if rejected.kind in ("nonce", "replacement", "fee"):
                        return None
                    raise self._refusal(call, gas, fees, rejected) from None
            self._nonce = signed.nonce + 1
            return signed
        self._node_syncs = True
        self._nonce = signed.nonce + 1
        if not isinstance(receipt, Mapping) or "status" not in receipt:
            return signed  # an answer that is not a receipt: await it the classic way
        return self._outcome(signed, receipt)

    def _sign_and_broadcast(self, call: Call, gas: int, fees: dict[str, int]) -> Signed:
        """Under the lock: assign the next nonce, sign, broadcast; the nonce advances only once the node has it."""
        with self._lock:
            for _ in range(3):
                signed = self._sign(call, self._next_nonce(), gas, fees)
                try:
                    self._broadcast(signed)
                except RejectedError as rejected:
                    if rejected.kind in ("nonce", "replacement"):
                        # Someone else used this account's nonce; our bytes never entered the pool, so a fresh
                        # nonce is safe.
                        log.warning("nonce %d refused (%s); reading the nonce again", signed.nonce, rejected.message)
                        self.resync_nonce()
                        continue
                    if rejected.kind == "fee":
                        fees = self._current_fees(refresh=True)
                        continue
                    raise self._refusal(call, gas, fees, rejected) from None
                self._nonce = signed.nonce + 1
                return signed
            raise TransactionFailedError(
                f"the node kept refusing {call.label} from {self.address} (nonce or fee conflicts): is another "
                "program sending from this account?"
            )

    def _refusal(self, call: Call, gas: int, fees: dict[str, int], rejected: RejectedError) -> TransactionFailedError:
        if rejected.kind == "funds":
            return self._insufficient_funds(call, gas=gas, fees=fees)
        return TransactionFailedError(f"the node refused {call.label} from {self.address}: {rejected.message}")

    def _broadcast(self, signed: Signed, *, maybe_sent: bool = False) -> None:
        """Sends the signed bytes; on a transient failure, checks for a receipt and sends the same bytes again.

        ``maybe_sent``: an earlier attempt may have reached the node (so "nonce too low" means it was mined)."""
        last: BaseException | None = None
        for attempt in range(self.attempts):
            if attempt or maybe_sent:
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                if self._receipts.receipt_or_none(signed.tx_hash) is not None:
                    return
            try:
                # Not through _call: its retries would re-send without knowing that an attempt may have landed.
                self._rpc_raw.call("eth_sendRawTransaction", [signed.raw_hex])
                return
            except Web3RPCError as exc:
                if is_transient(exc):
                    last, maybe_sent = exc, True
                    continue
                raise_rejection(exc, maybe_sent=maybe_sent)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("broadcast of %s failed (%s); attempt %d/%d", signed.tx_hash, exc, attempt + 1,
                            self.attempts)
                last, maybe_sent = exc, True
        # No answer at all. The node may hold the transaction, so its nonce stays used until read again.
        self._nonce = None
        raise self._unanswered(signed, last)

    def _current_fees(self, *, refresh: bool = False) -> dict[str, int]:
        return self._fees.current(
            priority_fee=self.priority_fee, ttl=self.fee_ttl, blocks=self.fee_blocks, refresh=refresh
        )

    def _sign(self, call: Call, nonce: int, gas: int, fees: dict[str, int]) -> Signed:
        return self._signer.sign(call, nonce, gas, fees)

    def _unanswered(self, signed: Signed, last: BaseException | str | None) -> RpcUnavailableError:
        return RpcUnavailableError(
            f"the node did not answer while sending {signed.call.label} (tx {signed.tx_hash}, nonce {signed.nonce}) "
            f"after {self.attempts} attempts: {last}; it may still be mined, so check that hash before retrying"
        )

    # ------------------------------------------------------------------ receipts

    def _confirm_all(self, signed: Sequence[Signed]) -> list[SendOutcome]:
        """Waits for the receipts of ``signed`` (see :class:`ReceiptWaiter`); the outcome of each, in order."""
        how = Wait(self.receipt_timeout, self.poll_interval, self.rebroadcast_after, self.batch_size, self.on_wait,
                   self.on_mined)
        receipts = self._receipts.wait(signed, how) if signed else {}
        if len(receipts) < len(signed):
            with self._lock:
                self._nonce = None  # read again: a transaction may have been dropped, leaving a nonce gap
        outcomes: list[SendOutcome] = []
        for item in signed:
            receipt = receipts.get(item.tx_hash)
            if receipt is None:
                outcomes.append(TransactionTimeoutError(
                    f"{item.call.label} was sent as {item.tx_hash} (nonce {item.nonce}) but not mined within "
                    f"{self.receipt_timeout:g} s; it may still be mined: check that hash before sending it again",
                    tx_hash=item.tx_hash,
                ))
            else:
                outcomes.append(self._outcome(item, receipt))
        return outcomes

    def _outcome(self, item: Signed, receipt: Mapping[str, Any]) -> SendOutcome:
        """What a receipt says: the sent transaction, or its failure decoded."""
        if int(receipt["status"], 16) != 1:
            return failure_after_mining(
                item, receipt, sender=self.address, decoder=self.decoder,
                simulate=lambda params, at: self._call("eth_call", [params, at]),
            )
        price = receipt.get("effectiveGasPrice")
        self._fees.saw_receipt(int(receipt["blockNumber"], 16), int(price, 16) if price else None, item.fees)
        return self._sent(item.tx_hash, item.nonce, receipt)

    def _sent(self, tx_hash: str, nonce: int, receipt: Mapping[str, Any]) -> SentTransaction:
        block_number = int(receipt["blockNumber"], 16)
        self._fees.saw_block(block_number)
        created = receipt.get("contractAddress")
        price = receipt.get("effectiveGasPrice")
        return SentTransaction(
            tx_hash=tx_hash,
            nonce=nonce,
            block_number=block_number,
            gas_used=int(receipt["gasUsed"], 16),
            effective_gas_price=int(price, 16) if price else 0,
            logs=tuple(receipt["logs"]),
            contract_address=Web3.to_checksum_address(created) if created else None,
        )

    def _revert_error(self, exc: BaseException, call: Call, *, tx_hash: str | None) -> TransactionFailedError:
        return revert_error(self.decoder, exc, call, tx_hash=tx_hash)

    def _insufficient_funds(
        self, call: Call, *, gas: int | None, fees: dict[str, int] | None
    ) -> TransactionFailedError:
        try:
            balance: int | None = int(self._call("eth_getBalance", [self.address, "latest"]), 16)
        except (RpcUnavailableError, Web3Exception):
            balance = None
        return insufficient_funds(
            call, address=self.address, chain_id=self.chain_id, balance=balance, gas=gas, fees=fees
        )

    # ------------------------------------------------------------------ retries

    def _call(self, method: str, params: list[Any]) -> Any:
        """The result of one raw JSON-RPC request, retried on transient failures."""
        return self._rpc(lambda: self._rpc_raw.call(method, params), method)

    def _rpc(self, request: Callable[[], _T], what: str) -> _T:
        """``request()`` retried on transient failures with exponential backoff; other errors pass through."""
        return retry_transient(request, what, attempts=self.attempts, backoff=self.backoff)

    def _batch_call(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Mapping[str, Any]]:
        """One JSON-RPC batch request, retried on transient failures."""
        return self._rpc(lambda: self._rpc_raw.batch(requests), "eth_getBlockByNumber")
