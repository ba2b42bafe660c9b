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
* asks for the receipt at once after sending and then at short intervals that grow with the time waited (a tenth
  of it, from 0.5 ms up to ``poll_interval``), so a receipt is seen at most about 10 % after the node has it;
  re-broadcasts now and then in case a node dropped the transaction, and turns ``status == 0`` into an exception;
* :meth:`send_many` sends presigned transactions in JSON-RPC batch requests and fetches their receipts in batches.

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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    Web3Exception,
    Web3RPCError,
)

from metering._utils.abi_errors import ErrorDecoder, meter_error_decoder, revert_data_from_exception
from metering._utils.rpc import RawRpc, error_from_response
from metering._utils.rpc_retry import is_transient, retry_transient
from metering._utils.rpc_retry import rpc_message as _rpc_message
from metering._utils.txsign import Eip1559Signer
from metering.errors import (
    ContractRevertError,
    RpcUnavailableError,
    TransactionFailedError,
    TransactionTimeoutError,
)

__all__ = ["Call", "RawLog", "SendOutcome", "SentTransaction", "TransactionSender", "is_transient"]

log = logging.getLogger("metering.chain.sender")

_T = TypeVar("_T")

#: A log as the node returned it in a receipt: JSON-RPC hex strings (``topics``, ``data``, ``blockNumber``...).
RawLog = Mapping[str, Any]

#: What nodes (geth, anvil, reth, erigon, nethermind) say when they already hold this exact transaction.
#: What a Hardhat node (automine, ``throwOnTransactionFailures``, its default) answers to ``eth_sendRawTransaction``
#: of a transaction it has just mined and that reverted: not a refusal, the nonce is used and the receipt exists.
_MINED_AND_REVERTED = ("vm exception while processing transaction",)
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already exists", "alreadyknown")
_NONCE = ("nonce too low", "nonce too high", "invalid nonce", "nonce has already been used", "oldnonce")
_REPLACEMENT = ("replacement transaction underpriced", "replacement fee too low")
_FEE = ("max fee per gas less than block base fee", "fee cap less than block base fee", "feecap too low",
        "maxfeepergas too low", "transaction underpriced", "gas price too low")
_FUNDS = ("insufficient funds", "insufficient balance")

#: The shortest wait before asking for a receipt again, and the fraction of the time waited so far that the wait
#: grows to (up to ``poll_interval``).
_FIRST_POLL = 0.0005
_POLL_FRACTION = 0.1
#: Seconds without a new receipt after which a development node is checked for stranded transactions.
_STALL = 0.25
#: The most bytes of signed transactions (as hex) per batch request: nodes cap request bodies (anvil refuses a few
#: MB as an "Invalid request"); and the bytes counted per transaction besides its calldata.
_BATCH_BYTES = 1_000_000
_TX_OVERHEAD_BYTES = 400
#: Gas of the zero-value transfer that fills a nonce left free inside a batch (see ``_fill_gap``).
_TRANSFER_GAS = 21_000


@dataclass(frozen=True)
class Call:
    """A transaction to send: ``data`` to contract ``to`` (``None`` deploys ``data`` as init code).

    ``gas`` is a known gas limit: no estimate is made (the fast path; also for pipelines, where later calls depend
    on earlier ones). A call that would revert is then mined and fails, and its error is decoded by re-simulating
    it. Without ``gas`` the call is estimated first, with ``min_gas`` as a floor for the estimate, for calls whose
    cost depends on the block they land in (an estimate is made against the latest block; a renewal mined after its
    timeframe ended continues the lease and costs more). Unused gas is not charged, so a generous limit costs
    nothing. ``label`` names the call in error messages.
    """

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None
    min_gas: int = 0
    label: str = "transaction"


@dataclass(frozen=True)
class SentTransaction:
    """A mined, successful transaction: its hash, where it landed, what it cost, and its logs (as the node sent
    them: JSON-RPC hex strings; :mod:`metering._utils.logdecode` decodes them)."""

    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[RawLog, ...] = field(repr=False)
    contract_address: ChecksumAddress | None = None


#: The outcome of one call of :meth:`TransactionSender.send_all`: what it sent, or why it did not succeed.
SendOutcome = SentTransaction | TransactionFailedError | RpcUnavailableError


@dataclass(frozen=True)
class _Signed:
    call: Call
    nonce: int
    gas: int
    fees: dict[str, int]
    raw: bytes
    tx_hash: str

    @property
    def raw_hex(self) -> str:
        return "0x" + self.raw.hex()


class _RejectedError(Exception):
    """The node answered and refused the transaction: nothing was sent, the nonce is still free."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith(("0x", "0X")) else address)
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address!r}")
    return raw


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
        #: Progress hooks (e.g. the CLI's hash-at-once and spinner): ``on_sent(tx_hash, label)`` as soon as the node
        #: has a transaction; ``on_wait(tx_hash, blocks)`` while its receipt is awaited (0 at the start, then when
        #: the number of blocks since the wait began changes); ``on_mined(tx_hash, block_number)`` once it is mined.
        self.on_sent = on_sent
        self.on_wait = on_wait
        self.on_mined = on_mined
        self._rpc_raw = RawRpc(w3)
        self._signer = Eip1559Signer(bytes(account.key))
        self._lock = threading.RLock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._fees: tuple[float, int, dict[str, int]] | None = None  # (read at, block, fee fields)
        self._head = -1  # the highest block number seen in a receipt
        self._dev_node: bool | None = None  # whether the node is anvil (see _nudge_dev_node)

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
        signed: list[tuple[int, _Signed]] = []
        with self._lock:
            if len(calls) == 1:
                try:
                    signed.append((0, self._sign_and_broadcast(calls[0], gases[0], self._current_fees())))
                except (TransactionFailedError, RpcUnavailableError) as exc:
                    outcomes[0] = exc
            else:
                self._broadcast_batches(calls, gases, signed, outcomes)
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
        params: dict[str, Any] = {"from": self.address, "data": _hex(call.data), "value": hex(call.value)}
        if call.to is not None:
            params["to"] = call.to
        try:
            estimate = int(self._call("eth_estimateGas", [params]), 16)
        except (ContractLogicError, Web3RPCError) as exc:
            message = _rpc_message(exc)
            if any(s in message.lower() for s in _FUNDS):
                raise self._insufficient_funds(call, gas=None, fees=None) from exc
            raise self._revert_error(exc, call, tx_hash=None) from exc
        return max(estimate * (100 + self.gas_margin_percent) // 100, call.min_gas)

    def find(self, tx_hash: str) -> SentTransaction | None:
        """The transaction ``tx_hash`` if it is mined by now, else ``None``; e.g. to see whether a transaction that
        timed out landed after all.

        :raises TransactionFailedError: it was mined but failed.
        """
        receipt = self._receipt_or_none(tx_hash)
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

    def _current_fees(self, *, refresh: bool = False) -> dict[str, int]:
        cached = self._fees
        now = time.monotonic()
        if (
            cached is not None
            and not refresh
            and now - cached[0] < self.fee_ttl
            and self._head < cached[1] + self.fee_blocks
        ):
            return cached[2]
        requests: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        if self.priority_fee is None:
            requests.append(("eth_maxPriorityFeePerGas", []))
        answers = self._rpc(lambda: self._rpc_raw.batch(requests), "eth_getBlockByNumber")
        if "result" not in answers[0] or answers[0]["result"] is None:
            raise RpcUnavailableError(f"the node did not return its latest block: {answers[0].get('error')}")
        block = answers[0]["result"]
        number = int(block["number"], 16)
        self._head = max(self._head, number)
        base = block.get("baseFeePerGas")
        fees: dict[str, int]
        if base is None:
            fees = {"gasPrice": int(self._call("eth_gasPrice", []), 16)}
        else:
            tip = self.priority_fee
            if tip is None:
                answer = answers[1]
                # A node without the method: a common default tip of 1 gwei.
                tip = int(answer["result"], 16) if answer.get("result") is not None else 10**9
            fees = {"maxFeePerGas": 2 * int(base, 16) + tip, "maxPriorityFeePerGas": tip}
        self._fees = (now, number, fees)
        return fees

    def _sign(self, call: Call, nonce: int, gas: int, fees: dict[str, int]) -> _Signed:
        if "maxFeePerGas" in fees:
            to = None if call.to is None else _address_bytes(call.to)
            raw, tx_hash = self._signer.sign(
                self.chain_id, nonce, fees["maxPriorityFeePerGas"], fees["maxFeePerGas"], gas, to, call.value,
                call.data,
            )
            return _Signed(call, nonce, gas, fees, raw, _hex(tx_hash))
        tx: dict[str, Any] = {
            "chainId": self.chain_id, "nonce": nonce, "gas": gas, "value": call.value, "data": _hex(call.data), **fees,
        }
        if call.to is not None:
            tx["to"] = Web3.to_checksum_address(call.to)
        signed = self.account.sign_transaction(tx)
        return _Signed(call, nonce, gas, fees, bytes(signed.raw_transaction), _hex(signed.hash))

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
                    raise self._refusal(call, gas, fees, rejected) from None
                self._nonce = signed.nonce + 1
                return signed
            raise TransactionFailedError(
                f"the node kept refusing {call.label} from {self.address} (nonce or fee conflicts): is another "
                "program sending from this account?"
            )

    def _refusal(self, call: Call, gas: int, fees: dict[str, int], rejected: _RejectedError) -> TransactionFailedError:
        if rejected.kind == "funds":
            return self._insufficient_funds(call, gas=gas, fees=fees)
        return TransactionFailedError(f"the node refused {call.label} from {self.address}: {rejected.message}")

    def _broadcast(self, signed: _Signed, *, maybe_sent: bool = False) -> None:
        """Sends the signed bytes; on a transient failure, checks for a receipt and sends the same bytes again.

        ``maybe_sent``: an earlier attempt may have reached the node (so "nonce too low" means it was mined)."""
        last: BaseException | None = None
        for attempt in range(self.attempts):
            if attempt or maybe_sent:
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                if self._receipt_or_none(signed.tx_hash) is not None:
                    return
            try:
                # Not through _call: its retries would re-send without knowing that an attempt may have landed.
                self._rpc_raw.call("eth_sendRawTransaction", [signed.raw_hex])
                return
            except Web3RPCError as exc:
                if is_transient(exc):
                    last, maybe_sent = exc, True
                    continue
                self._raise_rejection(exc, maybe_sent=maybe_sent)
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

    def _unanswered(self, signed: _Signed, last: BaseException | str | None) -> RpcUnavailableError:
        return RpcUnavailableError(
            f"the node did not answer while sending {signed.call.label} (tx {signed.tx_hash}, nonce {signed.nonce}) "
            f"after {self.attempts} attempts: {last}; it may still be mined, so check that hash before retrying"
        )

    @staticmethod
    def _raise_rejection(exc: BaseException, *, maybe_sent: bool) -> None:
        """Returns if a refusal of ``eth_sendRawTransaction`` means the node has (or mined) the transaction; else
        raises :class:`_RejectedError` with its kind."""
        message = _rpc_message(exc)
        lowered = message.lower()
        if any(s in lowered for s in _ALREADY_KNOWN + _MINED_AND_REVERTED):
            return  # the receipt wait finds it (a failed one is re-simulated for its reason)
        if maybe_sent and any(s in lowered for s in _NONCE + _REPLACEMENT):
            # Our earlier attempt probably got through and was mined; the receipt wait will tell.
            return
        raise _RejectedError(_classify(lowered), message) from exc

    # ------------------------------------------------------------------ batches

    def _broadcast_batches(
        self, calls: Sequence[Call], gases: Sequence[int], signed: list[tuple[int, _Signed]],
        outcomes: list[SendOutcome | None],
    ) -> None:
        """Under the lock: signs ``calls`` with consecutive nonces and broadcasts them ``batch_size`` at a time.

        Appends ``(index, signed)`` for each call the node has, and records refusals in ``outcomes``; after a
        refusal nothing more is sent (as with one call at a time)."""
        fees = self._current_fees()
        begin = 0
        while begin < len(calls):
            end, size = begin, 0
            while end < len(calls) and end - begin < self.batch_size:
                size += 2 * len(calls[end].data) + _TX_OVERHEAD_BYTES
                if end > begin and size > _BATCH_BYTES:
                    break
                end += 1
            indices = range(begin, end)
            first = self._next_nonce()
            chunk = [self._sign(calls[i], first + k, gases[i], fees) for k, i in enumerate(indices)]
            failure = self._broadcast_chunk(list(indices), chunk, signed, outcomes)
            if failure:
                for i in range(end, len(calls)):
                    outcomes[i] = TransactionFailedError(
                        f"{calls[i].label} was not sent: an earlier transaction of the same batch was refused"
                    )
                return
            fees = self._current_fees()
            begin = end

    def _broadcast_chunk(
        self, indices: list[int], chunk: list[_Signed], signed: list[tuple[int, _Signed]],
        outcomes: list[SendOutcome | None],
    ) -> bool:
        """One batch request for ``chunk``; the rare refusals are settled one by one. Returns whether one failed."""
        try:
            answers: list[Mapping[str, Any] | None] = list(
                self._rpc_raw.batch([("eth_sendRawTransaction", [s.raw_hex]) for s in chunk])
            )
        except Exception as exc:
            if not is_transient(exc):
                if isinstance(exc, Web3RPCError | OSError) and len(chunk) > 1:
                    # The node refused the batch as a whole (too large, say), so nothing in it was processed: the
                    # same transactions in two halves.
                    log.warning("the node refused a batch of %d transactions (%s); sending it in halves", len(chunk),
                                exc)
                    half = len(chunk) // 2
                    return self._broadcast_chunk(indices[:half], chunk[:half], signed, outcomes) or \
                        self._broadcast_chunk(indices[half:], chunk[half:], signed, outcomes)
                raise
            log.warning("a batch of %d transactions got no answer (%s); checking them one by one", len(chunk), exc)
            answers = [None] * len(chunk)  # unknown: each may have reached the node
        accepted = [self._accepted(answer) for answer in answers]
        if all(accepted):
            signed.extend(zip(indices, chunk, strict=True))
            self._nonce = chunk[-1].nonce + 1
            return False
        return self._settle_chunk(indices, chunk, answers, accepted, signed, outcomes)

    @staticmethod
    def _accepted(answer: Mapping[str, Any] | None) -> bool:
        if answer is None:
            return False
        if "error" not in answer:
            return True
        error = answer["error"]
        message = str(error.get("message", "")) if isinstance(error, Mapping) else str(error)
        return any(s in message.lower() for s in _ALREADY_KNOWN)

    def _settle_chunk(
        self, indices: list[int], chunk: list[_Signed], answers: list[Mapping[str, Any] | None],
        accepted: list[bool], signed: list[tuple[int, _Signed]], outcomes: list[SendOutcome | None],
    ) -> bool:
        """A batch with refusals or lost answers, in nonce order: a lost answer is checked and the same bytes are
        sent again; a fee refusal is signed again at the same nonce with fresh fees; a nonce taken by another
        program is given up and the call signed again after the batch with a fresh nonce; any other refusal is that
        call's failure, and its nonce is filled with a zero-value transfer to ourselves if a later transaction of
        the batch was accepted (it would wait for that nonce forever)."""
        later: list[int] = []  # positions whose nonce another program took: re-signed after the batch
        failed = False
        for k, (index, item, answer) in enumerate(zip(indices, chunk, answers, strict=True)):
            if failed:
                if accepted[k]:
                    signed.append((index, item))  # sent although an earlier one failed: await it
                elif answer is None:
                    self._nonce = None
                    outcomes[index] = self._unanswered(item, "the batch request got no answer")
                continue
            if accepted[k]:
                signed.append((index, item))
                continue
            try:
                if answer is None:
                    self._broadcast(item, maybe_sent=True)
                    signed.append((index, item))
                    continue
                refusal = error_from_response("eth_sendRawTransaction", answer)
                if is_transient(refusal):
                    self._broadcast(item, maybe_sent=False)
                    signed.append((index, item))
                    continue
                try:
                    self._raise_rejection(refusal, maybe_sent=False)
                except _RejectedError as rejected:
                    if rejected.kind in ("nonce", "replacement"):
                        later.append(k)
                        continue
                    if rejected.kind == "fee":
                        again = self._sign(item.call, item.nonce, item.gas, self._current_fees(refresh=True))
                        self._broadcast(again)
                        signed.append((index, again))
                        continue
                    outcomes[index] = self._refusal(item.call, item.gas, item.fees, rejected)
                    failed = True
                    if any(accepted[k + 1:]):
                        self._fill_gap(item)
                    else:
                        self._nonce = item.nonce
                    continue
                signed.append((index, item))  # "already known"
            except _RejectedError as rejected:  # a re-signed or re-sent transaction refused again
                outcomes[index] = self._refusal(item.call, item.gas, item.fees, rejected)
                failed = True
                self._nonce = None
            except (TransactionFailedError, RpcUnavailableError) as exc:
                outcomes[index] = exc
                failed = True
        if not failed and self._nonce is not None:
            self._nonce = max(self._nonce, chunk[-1].nonce + 1)
        if later:
            self.resync_nonce()
            for k in later:
                if failed:
                    outcomes[indices[k]] = TransactionFailedError(
                        f"{chunk[k].call.label} was not sent: an earlier transaction of the same batch was refused"
                    )
                    continue
                log.warning("nonce %d was taken by another program; sending %s again", chunk[k].nonce,
                            chunk[k].call.label)
                try:
                    signed.append((indices[k], self._sign_and_broadcast(chunk[k].call, chunk[k].gas,
                                                                        self._current_fees())))
                except (TransactionFailedError, RpcUnavailableError) as exc:
                    outcomes[indices[k]] = exc
                    failed = True
        signed.sort(key=lambda pair: pair[0])
        return failed

    def _fill_gap(self, refused: _Signed) -> None:
        """Sends a zero-value transfer to ourselves at ``refused``'s nonce, so the accepted transactions after it
        in the same batch are not left waiting for that nonce."""
        filler = Call(to=self.address, data=b"", label=f"nonce filler for the refused {refused.call.label}")
        try:
            self._broadcast(self._sign(filler, refused.nonce, _TRANSFER_GAS, self._current_fees(refresh=True)))
        except (_RejectedError, TransactionFailedError, RpcUnavailableError) as exc:
            log.warning("could not fill nonce %d (%s): later transactions of the batch wait for it", refused.nonce,
                        exc)
        self._nonce = None  # read again, whatever happened

    # ------------------------------------------------------------------ receipts

    def _receipt_or_none(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            receipt: dict[str, Any] | None = self._rpc_raw.call("eth_getTransactionReceipt", [tx_hash])
            return receipt
        except Exception as exc:
            if is_transient(exc) or _indexing(exc):
                return None
            raise

    def _receipts(self, pending: Sequence[_Signed]) -> list[dict[str, Any] | None]:
        """The receipts of ``pending`` known to the node so far (``None`` for the others), in batches."""
        if len(pending) == 1:
            return [self._receipt_or_none(pending[0].tx_hash)]
        found: list[dict[str, Any] | None] = []
        for begin in range(0, len(pending), self.batch_size):
            found.extend(self._receipt_batch(pending[begin:begin + self.batch_size]))
        return found

    def _receipt_batch(self, chunk: Sequence[_Signed]) -> list[dict[str, Any] | None]:
        try:
            answers = self._rpc_raw.batch([("eth_getTransactionReceipt", [s.tx_hash]) for s in chunk])
        except Exception as exc:
            if is_transient(exc):
                return [None] * len(chunk)
            if isinstance(exc, Web3RPCError | OSError) and len(chunk) > 1:  # refused as a whole: in halves
                half = len(chunk) // 2
                return self._receipt_batch(chunk[:half]) + self._receipt_batch(chunk[half:])
            raise
        found: list[dict[str, Any] | None] = []
        for answer in answers:
            if "error" in answer:
                error = error_from_response("eth_getTransactionReceipt", answer)
                if not (is_transient(error) or _indexing(error)):
                    raise error
            found.append(answer.get("result"))
        return found

    def _rebroadcast(self, pending: Sequence[_Signed]) -> None:
        """Sends the same bytes again (already known / nonce too low (mined) / node busy: keep waiting)."""
        try:
            self._rpc_raw.batch([("eth_sendRawTransaction", [s.raw_hex]) for s in pending])
        except Exception as exc:
            log.debug("re-broadcast of %d transactions: %s", len(pending), exc)

    def _confirm_all(self, signed: Sequence[_Signed]) -> list[SendOutcome]:
        """Waits for the receipts of ``signed``: at once, then at growing intervals; the outcome of each, in order."""
        receipts: dict[str, dict[str, Any]] = {}
        pending = list(signed)
        start = time.monotonic()
        deadline = start + self.receipt_timeout
        last_broadcast = start
        progress = start
        first_block: int | None = None
        shown = -1
        while pending:
            for item, receipt in zip(pending, self._receipts(pending), strict=True):
                if receipt is not None:
                    receipts[item.tx_hash] = receipt
                    if self.on_mined is not None:
                        self.on_mined(item.tx_hash, int(receipt["blockNumber"], 16))
            if self.on_wait is not None and pending and any(s.tx_hash not in receipts for s in pending):
                head = self._head_or_none()
                if head is not None:
                    first_block = head if first_block is None else first_block
                    if head - first_block != shown:
                        shown = head - first_block
                        for item in pending:
                            if item.tx_hash not in receipts:
                                self.on_wait(item.tx_hash, shown)
            now = time.monotonic()
            if len(receipts) > len(signed) - len(pending):
                progress = now
            pending = [s for s in pending if s.tx_hash not in receipts]
            if not pending:
                break
            if now - progress >= _STALL:
                progress = now
                self._nudge_dev_node()
            if now >= deadline:
                with self._lock:
                    self._nonce = None  # read again: a transaction may have been dropped, leaving a nonce gap
                break
            if now - last_broadcast >= self.rebroadcast_after:
                last_broadcast = now
                self._rebroadcast(pending)
            # Wait about a tenth of the time waited so far (at least 0.5 ms, at most poll_interval): a receipt is
            # then seen at most ~10 % after the node has it, with few requests during a long wait.
            delay = min(self.poll_interval, max(_FIRST_POLL, (now - start) * _POLL_FRACTION))
            time.sleep(min(delay, max(0.0, deadline - now)))
        outcomes: list[SendOutcome] = []
        for item in signed:
            receipt = receipts.get(item.tx_hash)
            if receipt is None:
                outcomes.append(TransactionTimeoutError(
                    f"{item.call.label} was sent as {item.tx_hash} (nonce {item.nonce}) but not mined within "
                    f"{self.receipt_timeout:g} s; it may still be mined: check that hash before sending it again",
                    tx_hash=item.tx_hash,
                ))
            elif int(receipt["status"], 16) != 1:
                outcomes.append(self._failure_after_mining(item, receipt))
            else:
                outcomes.append(self._sent(item.tx_hash, item.nonce, receipt))
        return outcomes

    def _head_or_none(self) -> int | None:
        """The latest block number for progress reports, or None when the node did not answer (the receipt wait
        notices a node that is gone; progress is only a courtesy)."""
        try:
            return int(self.w3.eth.block_number)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return None

    def _nudge_dev_node(self) -> None:
        """anvil in automine mode mines each transaction as it arrives, but it handles the requests of a JSON-RPC
        batch concurrently, and transactions of one sender that reach its pool out of nonce order can be left there
        unmined until another transaction comes (foundry-rs/foundry#10122). So when receipts stall (``_STALL``) on anvil
        with automine on, mine one block: what automine would have done. Any other node is left alone."""
        if self._dev_node is None:
            try:
                version = str(self._rpc_raw.call("web3_clientVersion", []))
            except Exception:
                version = ""
            self._dev_node = version.lower().startswith("anvil")
        if not self._dev_node:
            return
        try:
            if self._rpc_raw.call("anvil_getAutomine", []) is True:
                log.warning("anvil left transactions of %s unmined; mining a block", self.address)
                self._rpc_raw.call("evm_mine", [])
        except Exception as exc:
            log.debug("could not nudge anvil: %s", exc)

    def _sent(self, tx_hash: str, nonce: int, receipt: Mapping[str, Any]) -> SentTransaction:
        block_number = int(receipt["blockNumber"], 16)
        if block_number > self._head:
            self._head = block_number
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

    def _failure_after_mining(self, signed: _Signed, receipt: Mapping[str, Any]) -> TransactionFailedError:
        """Re-simulates a failed transaction to recover the revert reason: on the state before its block (exact
        when it was the block's first transaction), then on the state after it (the reason usually persists)."""
        block_number = int(receipt["blockNumber"], 16)
        params: dict[str, Any] = {
            "from": self.address, "data": _hex(signed.call.data), "value": hex(signed.call.value),
            "gas": hex(signed.gas),
        }
        if signed.call.to is not None:
            params["to"] = signed.call.to
        for at in dict.fromkeys((max(block_number - 1, 0), block_number)):
            try:
                self._call("eth_call", [params, hex(at)])
            except (ContractLogicError, Web3RPCError) as exc:
                error = self._revert_error(exc, signed.call, tx_hash=signed.tx_hash)
                if isinstance(error, ContractRevertError):
                    return error
                break
            except RpcUnavailableError:
                break
        gas_used = int(receipt["gasUsed"], 16)
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
            balance: int | None = int(self._call("eth_getBalance", [self.address, "latest"]), 16)
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

    def _call(self, method: str, params: list[Any]) -> Any:
        """The result of one raw JSON-RPC request, retried on transient failures."""
        return self._rpc(lambda: self._rpc_raw.call(method, params), method)

    def _rpc(self, request: Callable[[], _T], what: str) -> _T:
        """``request()`` retried on transient failures with exponential backoff; other errors pass through."""
        return retry_transient(request, what, attempts=self.attempts, backoff=self.backoff)


def _indexing(exc: BaseException) -> bool:
    """A node still indexing transactions answers receipt requests with an error for a while: not yet known."""
    message = _rpc_message(exc).lower()
    return "index" in message and "progress" in message


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
