"""Send transactions safely: sign locally, own the nonces, retry what is safe to retry, decode what went wrong.

Why not ``contract.functions.f().transact()``? That asks the node to sign (it holds no keys on a real chain), asks
the node for a nonce per transaction (two agents threads then collide), and on a network error leaves the caller
not knowing whether the transaction went out. :class:`TransactionSender` instead:

* signs with eth-account in-process (fast with coincurve), so keys never leave the machine;
* keeps the account's next nonce itself, starting from ``eth_getTransactionCount(address, "pending")``; a lock
  makes nonce assignment and broadcast atomic, so threads sharing a sender never reuse a nonce; after a nonce
  error, or a transaction whose fate is unknown, the nonce is read from the node again;
* prices transactions with EIP-1559 fees (``2 * base fee + tip``), or a legacy gas price on chains without base fee;
* estimates gas first, so a call that would revert fails before it costs anything, with the contract's custom
  error decoded into :class:`~metering.errors.ContractRevertError` (name, arguments and what to do);
* retries transient RPC failures (connection errors, timeouts, HTTP 429 and 5xx) with exponential backoff. Once a
  transaction is signed it is never re-signed with another nonce after a failure that might have reached the node:
  it checks for the receipt of that transaction hash and broadcasts the *same* signed bytes again, so a lost
  response can never turn one call into two transactions;
* waits for the receipt (re-broadcasting now and then, in case a node dropped it) and turns ``status == 0`` into an
  exception, re-simulating the call at the block to recover the revert reason.

>>> sender = TransactionSender(w3, account)                     # doctest: +SKIP
>>> sent = sender.transact(Call(to=meter.address, data=data))   # doctest: +SKIP
>>> sent.tx_hash, sent.gas_used                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import LogReceipt, TxParams, TxReceipt, Wei

from metering._utils.abi_errors import ErrorDecoder, meter_error_decoder, revert_data_from_exception
from metering._utils.rpc_retry import is_transient, retry_transient
from metering._utils.rpc_retry import rpc_message as _rpc_message
from metering.errors import (
    ContractRevertError,
    RpcUnavailableError,
    TransactionFailedError,
    TransactionTimeoutError,
)

__all__ = ["Call", "SentTransaction", "TransactionSender", "is_transient"]

log = logging.getLogger("metering.sender")

_T = TypeVar("_T")

#: What nodes (geth, anvil, reth, erigon, nethermind) say when they already hold this exact transaction.
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already exists", "alreadyknown")
_NONCE = ("nonce too low", "nonce too high", "invalid nonce", "nonce has already been used", "oldnonce")
_REPLACEMENT = ("replacement transaction underpriced", "replacement fee too low")
_FEE = ("max fee per gas less than block base fee", "fee cap less than block base fee", "feecap too low",
        "maxfeepergas too low", "transaction underpriced", "gas price too low")
_FUNDS = ("insufficient funds", "insufficient balance")
#: What a Hardhat node (automine, ``throwOnTransactionFailures``, its default) answers to ``eth_sendRawTransaction``
#: of a transaction it has just mined and that reverted: not a refusal, the nonce is used and the receipt exists.
_MINED_AND_REVERTED = ("vm exception while processing transaction",)


@dataclass(frozen=True)
class Call:
    """A transaction to send: ``data`` to contract ``to`` (``None`` deploys ``data`` as init code).

    ``gas`` skips estimation when given (useful in pipelines, where later calls depend on earlier ones).
    ``min_gas`` is a floor for the estimate, for calls whose cost depends on the block they land in (an estimate is
    made against the latest block; a renewal mined after its timeframe ended continues the lease and costs more).
    Unused gas is not charged, so a generous floor costs nothing. ``label`` names the call in error messages.
    """

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None
    min_gas: int = 0
    label: str = "transaction"


@dataclass(frozen=True)
class SentTransaction:
    """A mined, successful transaction: its hash, where it landed, what it cost, and its logs (as web3 returns them)."""

    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[LogReceipt, ...] = field(repr=False)
    contract_address: ChecksumAddress | None = None


@dataclass(frozen=True)
class _Signed:
    call: Call
    nonce: int
    gas: int
    fees: dict[str, int]
    raw: bytes
    tx_hash: str


class _RejectedError(Exception):
    """The node answered and refused the transaction: nothing was sent, the nonce is still free."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class TransactionSender:
    """Signs, sends and confirms transactions of one account; safe to share between threads.

    :param w3: the connection (see :func:`metering.chain.connect`).
    :param account: the local signing account (see :func:`metering.accounts.load_signer`).
    :param error_decoder: decodes revert data; defaults to the Meter's errors.
    :param receipt_timeout: seconds to wait for a receipt before :class:`TransactionTimeoutError`.
    :param attempts: tries per RPC request on transient failures (backoff ``backoff * 2**n`` seconds).
    :param gas_margin_percent: added to the gas estimate, since state may move between estimate and inclusion.
    :param priority_fee: tip in wei; default: ask the node (``eth_maxPriorityFeePerGas``).
    :param rebroadcast_after: seconds without a receipt after which the same signed bytes are sent again.
    :param on_sent: called as ``on_sent(tx_hash, label)`` as soon as the node has a transaction, before its receipt
        is awaited (e.g. to show the hash at once on a slow chain).
    :param on_wait: called as ``on_wait(tx_hash, blocks)`` while a receipt is awaited: once at the start (0), then
        whenever a new block appeared without it, with the number of blocks since the wait began (e.g. for a
        spinner). Without it, waiting asks the node for nothing but the receipt.
    :param on_mined: called as ``on_mined(tx_hash, block_number)`` once its receipt is there (failed or not).
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        error_decoder: ErrorDecoder | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = 1.0,
        attempts: int = 5,
        backoff: float = 0.25,
        gas_margin_percent: int = 25,
        priority_fee: int | None = None,
        rebroadcast_after: float = 15.0,
        fee_ttl: float = 2.0,
        on_sent: Callable[[str, str], None] | None = None,
        on_wait: Callable[[str, int], None] | None = None,
        on_mined: Callable[[str, int], None] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
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
        self.on_sent = on_sent
        self.on_wait = on_wait
        self.on_mined = on_mined
        self._lock = threading.RLock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._fees: tuple[float, dict[str, int]] | None = None

    # ------------------------------------------------------------------ public

    @property
    def address(self) -> ChecksumAddress:
        address: ChecksumAddress = self.account.address
        return address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self.w3.eth.chain_id, "eth_chainId"))
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
        """Sends ``calls`` pipelined: signs them with consecutive nonces, broadcasts all, then waits for all receipts.

        Gas is estimated for each against the current state before anything is sent, so give ``Call.gas`` for calls
        whose estimate depends on an earlier call of the same batch. If a broadcast is refused, the calls before it
        are still awaited (they are on their way) and the error is raised afterwards; so is the first failure among
        the receipts.
        """
        if not calls:
            return []
        gases = [call.gas if call.gas is not None else self.estimate_gas(call) for call in calls]
        fees = self._current_fees()
        signed: list[_Signed] = []
        failure: BaseException | None = None
        with self._lock:
            for call, gas in zip(calls, gases, strict=True):
                try:
                    signed.append(self._sign_and_broadcast(call, gas, fees))
                except (TransactionFailedError, RpcUnavailableError) as exc:
                    failure = exc
                    break
                if self.on_sent is not None:
                    self.on_sent(signed[-1].tx_hash, call.label)
        results: list[SentTransaction] = []
        for item in signed:
            try:
                results.append(self._confirm(item))
            except (TransactionFailedError, RpcUnavailableError) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return results

    def estimate_gas(self, call: Call) -> int:
        """Gas for ``call`` with the safety margin (and at least ``call.min_gas``); a revert raises the decoded
        :class:`ContractRevertError`."""
        params: TxParams = {"from": self.address, "data": HexStr(_hex(call.data)), "value": Wei(call.value)}
        if call.to is not None:
            params["to"] = Web3.to_checksum_address(call.to)
        try:
            estimate = self._rpc(lambda: self.w3.eth.estimate_gas(params), "eth_estimateGas")
        except (ContractLogicError, Web3RPCError) as exc:
            message = _rpc_message(exc)
            if any(s in message.lower() for s in _FUNDS):
                raise self._insufficient_funds(call, gas=None, fees=None) from exc
            raise self._revert_error(exc, call, tx_hash=None) from exc
        return max(int(estimate) * (100 + self.gas_margin_percent) // 100, call.min_gas)

    def find(self, tx_hash: str) -> SentTransaction | None:
        """The transaction ``tx_hash`` if it is mined by now, else ``None``; e.g. to see whether a transaction that
        timed out landed after all.

        :raises TransactionFailedError: it was mined but failed.
        """
        receipt = self._receipt_or_none(tx_hash)
        if receipt is None:
            return None
        if receipt["status"] != 1:
            raise TransactionFailedError(
                f"transaction {tx_hash} failed in block {receipt['blockNumber']}", tx_hash=tx_hash
            )
        tx = self._rpc(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)), "eth_getTransactionByHash")
        return _sent(tx_hash, int(tx["nonce"]), receipt)

    def resync_nonce(self) -> int:
        """Reads the next nonce from the node again (``pending``); use after sending from this account elsewhere."""
        with self._lock:
            self._nonce = int(
                self._rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "eth_getTransactionCount")
            )
            return self._nonce

    # ------------------------------------------------------------------ building and broadcasting

    def _next_nonce(self) -> int:
        if self._nonce is None:
            return self.resync_nonce()
        return self._nonce

    def _current_fees(self, *, refresh: bool = False) -> dict[str, int]:
        cached = self._fees
        now = time.monotonic()
        if cached is not None and not refresh and now - cached[0] < self.fee_ttl:
            return cached[1]
        block = self._rpc(lambda: self.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        base = block.get("baseFeePerGas")
        fees: dict[str, int]
        if base is None:
            fees = {"gasPrice": int(self._rpc(lambda: self.w3.eth.gas_price, "eth_gasPrice"))}
        else:
            tip = self.priority_fee
            if tip is None:
                try:
                    tip = int(self._rpc(lambda: self.w3.eth.max_priority_fee, "eth_maxPriorityFeePerGas"))
                except Web3RPCError:  # a node without the method: a common default tip of 1 gwei
                    tip = 10**9
            fees = {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip}
        self._fees = (now, fees)
        return fees

    def _sign(self, call: Call, nonce: int, gas: int, fees: dict[str, int]) -> _Signed:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "value": call.value,
            "data": _hex(call.data),
            **fees,
        }
        if call.to is not None:
            tx["to"] = Web3.to_checksum_address(call.to)
        signed = self.account.sign_transaction(tx)
        return _Signed(call, nonce, gas, dict(fees), bytes(signed.raw_transaction), _hex(signed.hash))

    def _sign_and_broadcast(self, call: Call, gas: int, fees: dict[str, int]) -> _Signed:
        """Under the lock: assign the next nonce, sign, broadcast; the nonce advances only once the node has it."""
        with self._lock:
            for _ in range(3):
                signed = self._sign(call, self._next_nonce(), gas, fees)
                try:
                    self._broadcast(signed)
                except _RejectedError as rejected:
                    if rejected.kind in ("nonce", "replacement"):
                        # Someone else used this account's nonce; our bytes never entered the pool, so a fresh
                        # nonce is safe.
                        log.warning("nonce %d refused (%s); reading the nonce again", signed.nonce, rejected.message)
                        self.resync_nonce()
                        continue
                    if rejected.kind == "fee":
                        fees = self._current_fees(refresh=True)
                        continue
                    if rejected.kind == "funds":
                        raise self._insufficient_funds(call, gas=gas, fees=fees) from None
                    raise TransactionFailedError(
                        f"the node refused {call.label} from {self.address}: {rejected.message}"
                    ) from None
                self._nonce = signed.nonce + 1
                return signed
            raise TransactionFailedError(
                f"the node kept refusing {call.label} from {self.address} (nonce or fee conflicts): is another "
                "program sending from this account?"
            )

    def _broadcast(self, signed: _Signed) -> None:
        """Sends the signed bytes; on a transient failure, checks for a receipt and sends the same bytes again."""
        maybe_sent = False
        last: BaseException | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
                if self._receipt_or_none(signed.tx_hash) is not None:
                    return
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                return
            except Web3RPCError as exc:
                if is_transient(exc):
                    last, maybe_sent = exc, True
                    continue
                message = _rpc_message(exc)
                lowered = message.lower()
                if any(s in lowered for s in _ALREADY_KNOWN + _MINED_AND_REVERTED):
                    return  # the receipt wait finds it (a failed one is re-simulated for its reason)
                if maybe_sent and any(s in lowered for s in _NONCE + _REPLACEMENT):
                    # Our earlier attempt probably got through and was mined; the receipt wait will tell.
                    return
                raise _RejectedError(_classify(lowered), message) from exc
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("broadcast of %s failed (%s); attempt %d/%d", signed.tx_hash, exc, attempt + 1,
                            self.attempts)
                last, maybe_sent = exc, True
        # No answer at all. The node may hold the transaction, so its nonce stays used until read again.
        self._nonce = None
        raise RpcUnavailableError(
            f"the node did not answer while sending {signed.call.label} (tx {signed.tx_hash}, nonce {signed.nonce}) "
            f"after {self.attempts} attempts: {last}; it may still be mined, so check that hash before retrying"
        )

    # ------------------------------------------------------------------ receipts

    def _receipt_or_none(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        except Exception as exc:
            if is_transient(exc):
                return None
            raise

    def _wait_for_receipt(self, signed: _Signed) -> TxReceipt:
        start = time.monotonic()
        deadline = start + self.receipt_timeout
        last_broadcast = start
        delay = 0.005
        watch = _BlockWatch(self, signed.tx_hash) if self.on_wait is not None else None
        while True:
            receipt = self._receipt_or_none(signed.tx_hash)
            if receipt is not None:
                return receipt
            if watch is not None:
                watch.poll()
            now = time.monotonic()
            if now >= deadline:
                with self._lock:
                    self._nonce = None  # read again: the transaction may have been dropped, leaving a nonce gap
                raise TransactionTimeoutError(
                    f"{signed.call.label} was sent as {signed.tx_hash} (nonce {signed.nonce}) but not mined within "
                    f"{self.receipt_timeout:g} s; it may still be mined: check that hash before sending it again",
                    tx_hash=signed.tx_hash,
                )
            if now - last_broadcast >= self.rebroadcast_after:
                last_broadcast = now
                try:
                    self.w3.eth.send_raw_transaction(signed.raw)
                except Exception as exc:  # already known / nonce too low (mined) / node busy: keep waiting
                    log.debug("re-broadcast of %s: %s", signed.tx_hash, exc)
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, self.poll_interval)

    def _confirm(self, signed: _Signed) -> SentTransaction:
        receipt = self._wait_for_receipt(signed)
        if self.on_mined is not None:
            self.on_mined(signed.tx_hash, int(receipt["blockNumber"]))
        if receipt["status"] != 1:
            raise self._failure_after_mining(signed, receipt)
        return _sent(signed.tx_hash, signed.nonce, receipt)

    def _failure_after_mining(self, signed: _Signed, receipt: TxReceipt) -> TransactionFailedError:
        """Re-simulates a failed transaction on the state before its block to recover the revert reason."""
        block_number = int(receipt["blockNumber"])
        params: TxParams = {
            "from": self.address,
            "data": HexStr(_hex(signed.call.data)),
            "value": Wei(signed.call.value),
            "gas": signed.gas,
        }
        if signed.call.to is not None:
            params["to"] = Web3.to_checksum_address(signed.call.to)
        # First on the state before its block. A revert that depends on the block's time (a start "in the past")
        # only shows with that block's own timestamp, so then on the block itself: the transaction reverted, so its
        # state there is as before it, unless another transaction of the block changed it.
        for at in dict.fromkeys((max(block_number - 1, 0), block_number)):
            try:
                self._rpc(partial(self.w3.eth.call, params, at), "eth_call")
            except (ContractLogicError, Web3RPCError) as exc:
                error = self._revert_error(exc, signed.call, tx_hash=signed.tx_hash)
                if isinstance(error, ContractRevertError):
                    return error
            except RpcUnavailableError:
                break
        gas_used = int(receipt["gasUsed"])
        if gas_used >= signed.gas:
            return TransactionFailedError(
                f"{signed.call.label} ({signed.tx_hash}) ran out of gas in block {block_number} "
                f"(limit {signed.gas}): retry with a higher gas limit",
                tx_hash=signed.tx_hash,
            )
        return TransactionFailedError(
            f"{signed.call.label} ({signed.tx_hash}) reverted in block {block_number}; re-simulating it did not "
            "reproduce the revert (the state changed within that block)",
            tx_hash=signed.tx_hash,
        )

    # ------------------------------------------------------------------ errors

    def _revert_error(self, exc: BaseException, call: Call, *, tx_hash: str | None) -> TransactionFailedError:
        decoded = self.decoder.decode(revert_data_from_exception(exc), tx_hash=tx_hash)
        if decoded is not None:
            return decoded
        message = _rpc_message(exc) if isinstance(exc, Web3RPCError) else (getattr(exc, "message", None) or str(exc))
        if isinstance(exc, ContractLogicError):
            return ContractRevertError(
                "unknown", {}, message=f"{call.label} reverted: {message or 'no reason given'}", tx_hash=tx_hash
            )
        return TransactionFailedError(f"the node refused {call.label}: {message}", tx_hash=tx_hash)

    def _insufficient_funds(
        self, call: Call, *, gas: int | None, fees: dict[str, int] | None
    ) -> TransactionFailedError:
        try:
            balance: int | None = int(self._rpc(lambda: self.w3.eth.get_balance(self.address), "eth_getBalance"))
        except (RpcUnavailableError, Web3Exception):
            balance = None
        have = f"has {balance} wei" if balance is not None else "has too little"
        need = ""
        if gas is not None and fees is not None:
            price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
            need = f", and {call.label} may cost up to {gas * price + call.value} wei (gas {gas} at {price} wei/gas)"
        return TransactionFailedError(
            f"insufficient funds: {self.address} {have} on chain {self.chain_id}{need}; fund the account to pay for gas"
        )

    # ------------------------------------------------------------------ retries

    def _rpc(self, request: Callable[[], _T], what: str) -> _T:
        """``request()`` retried on transient failures with exponential backoff; other errors pass through."""
        return retry_transient(request, what, attempts=self.attempts, backoff=self.backoff)


class _BlockWatch:
    """Tells ``sender.on_wait`` how many blocks passed while a receipt is awaited (only when it changed)."""

    def __init__(self, sender: TransactionSender, tx_hash: str) -> None:
        self._sender = sender
        self._tx_hash = tx_hash
        self._first: int | None = None
        self._shown = -1

    def poll(self) -> None:
        callback = self._sender.on_wait
        try:
            head = int(self._sender.w3.eth.block_number)
        except Exception as exc:  # progress is a courtesy: a node that did not answer is noticed by the receipt wait
            if not is_transient(exc):
                raise
            return
        if self._first is None:
            self._first = head
        blocks = head - self._first
        if callback is not None and blocks != self._shown:
            self._shown = blocks
            callback(self._tx_hash, blocks)


def _sent(tx_hash: str, nonce: int, receipt: TxReceipt) -> SentTransaction:
    created = receipt.get("contractAddress")
    return SentTransaction(
        tx_hash=tx_hash,
        nonce=nonce,
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        effective_gas_price=int(receipt.get("effectiveGasPrice", 0) or 0),
        logs=tuple(receipt["logs"]),
        contract_address=Web3.to_checksum_address(created) if created else None,
    )


def _classify(lowered: str) -> str:
    if any(s in lowered for s in _FUNDS):
        return "funds"
    if any(s in lowered for s in _NONCE):
        return "nonce"
    if any(s in lowered for s in _REPLACEMENT):
        return "replacement"
    if any(s in lowered for s in _FEE):
        return "fee"
    return "other"
