"""What the node itself can take for the same transactions: the ceilings our client is measured against.

Each ceiling sends the same calls as the path it bounds (``requestActivation`` one per transaction, or
``requestActivations`` of 100), presigned before the clock starts (with eth-account, independent of our signer), with
nothing between the bench and the node but the provider's own transport (``w3.provider.make_request`` and
``make_batch_request``: the HTTP client our sender uses too, so the ratio measures our client's own work). Receipts
are polled in a tight loop without sleeping. The ceilings send from an agent account of their own, so they can take
turns with our paths in short rounds on one chain; every repetition is checked against the contract's usage counters.

- sequential: ``eth_sendRawTransactionSync`` (EIP-7966: the node answers with the receipt, one round trip) where
  the node has it (anvil 1.7 does), else ``eth_sendRawTransaction`` then ``eth_getTransactionReceipt`` until it
  answers; one transaction at a time (:data:`sequential_method` says which the last run used);
- batched: the transactions in JSON-RPC batch requests of 500, then their receipts in batches of 500 until all are
  there;
- activations: ``requestActivations`` transactions of 100 requests each, sent and confirmed as in "batched".

anvil handles the requests of a batch concurrently and can then leave a transaction unmined until the next one
arrives (foundry-rs/foundry#10122); like our sender (the same ``receipts.StrandWatch``), a ceiling mines a block
when its account's next transaction sits ready in anvil's pool at two looks ``QUICK_STALL`` apart with no receipt
between (then at each poll while the ones promoted behind it sit there alike), and when its receipts stall for a
quarter of a second, so neither hangs and a stall costs both about the same.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import throughput as tp
from eth_account import Account
from web3.types import RPCEndpoint

from metering._utils import gas_limits
from metering._utils.calldata import meter_call_encoder
from metering.chain._sending import receipts

BATCH = 500  # transactions per JSON-RPC batch request
BATCH_BYTES = 1_000_000  # and at most about this many bytes of them (as hex)
PER_TX = 100  # activation requests per requestActivations transaction
STALL = 0.25  # seconds without a new receipt before a block is mined by hand (see the module doc)


class _Stall:
    """Mines a block when the account's next transaction is stranded in anvil's pool (our sender's
    ``StrandWatch``), or when no receipt arrived for ``STALL`` seconds, after sending the waiting transactions'
    bytes again: under load anvil can also drop one transaction of a batch, leaving every later nonce queued behind
    the gap (our sender resends the transaction at the account's next nonce; any client must, or wait forever)."""

    def __init__(self, market: tp.Market) -> None:
        self.market = market
        self.since = time.monotonic()
        self.strands = receipts.StrandWatch(self.since)

    def progress(self) -> None:
        self.since = time.monotonic()
        self.strands.progressed()

    def check(self, waiting: Sequence[str] = ()) -> None:
        now = time.monotonic()
        if waiting and self.strands.due(now, self.since) and self.strands.seen(now, self._next_one_waits_in_pool()):
            self.market.node.rpc("evm_mine")
            self.since = time.monotonic()
            self.strands.mined()
            return
        if now - self.since >= STALL:
            if waiting:
                provider: Any = self.market.w3.provider
                provider.make_batch_request([(RPCEndpoint("eth_sendRawTransaction"), [raw]) for raw in waiting])
            self.market.node.rpc("evm_mine")
            self.since = time.monotonic()

    def _next_one_waits_in_pool(self) -> bool:
        """Whether the ceiling account's next nonce is ready ("pending") in anvil's pool (one batch request)."""
        agent = self.market.ceiling_agent.address
        provider: Any = self.market.w3.provider
        mined, pool = provider.make_batch_request([
            (RPCEndpoint("eth_getTransactionCount"), [agent, "latest"]), (RPCEndpoint("txpool_inspect"), []),
        ])
        return receipts.ready_in_pool(_result(pool), agent, int(_result(mined), 16))


def presign(market: tp.Market, calls: Sequence[tuple[bytes, int]]) -> list[tuple[str, str]]:
    """``(raw hex, hash hex)`` of ``(calldata, gas)`` transactions to the Meter from the ceiling's own agent
    account, consecutive nonces."""
    w3, agent = market.w3, market.ceiling_agent
    nonce = int(w3.eth.get_transaction_count(agent.address, "pending"))
    base = int(w3.eth.get_block("latest")["baseFeePerGas"] or 0)
    tip = 10**9
    signed = []
    for k, (data, gas) in enumerate(calls):
        tx = {
            "chainId": int(w3.eth.chain_id), "nonce": nonce + k, "gas": gas, "maxFeePerGas": 2 * base + tip,
            "maxPriorityFeePerGas": tip, "to": market.meter.address, "value": 0, "data": data,
        }
        one = Account.sign_transaction(tx, agent.key)
        signed.append(("0x" + bytes(one.raw_transaction).hex(), "0x" + bytes(one.hash).hex()))
    return signed


def _single_calls(market: tp.Market, n: int, tag: str, start: int) -> list[tuple[bytes, int]]:
    encoder = meter_call_encoder()
    return [
        (encoder.encode("requestActivation", [market.customer(i), tp.INSTANCE_TYPE, tp.request_id(tag, i), tp.LEASE]),
         tp.ACTIVATION_GAS)
        for i in range(start, start + n)
    ]


def _ok(receipt: Mapping[str, Any]) -> None:
    if receipt["status"] != "0x1":
        raise RuntimeError(f"ceiling transaction {receipt['transactionHash']} failed")


def _result(answer: Mapping[str, Any]) -> Any:
    if "error" in answer:
        raise RuntimeError(f"the node refused a ceiling request: {answer['error']}")
    return answer["result"]


#: What the last :func:`sequential` ceiling used: ``eth_sendRawTransactionSync``, or send then poll the receipt.
sequential_method = "eth_sendRawTransactionSync"
_NO_SUCH_METHOD = (-32601, -32600)


def _sync_refused(answer: Mapping[str, Any]) -> bool:
    """The node does not know ``eth_sendRawTransactionSync`` (and so did nothing with the transaction)."""
    error = answer.get("error")
    if not isinstance(error, Mapping):
        return False
    message = str(error.get("message", "")).lower()
    return error.get("code") in _NO_SUCH_METHOD or "not found" in message or "not supported" in message \
        or "unknown method" in message


def sequential(market: tp.Market, n: int, start: int = 0) -> tp.Timing:
    """Presigned ``requestActivation`` transactions one at a time: ``eth_sendRawTransactionSync`` where the node
    answers it, else send one, poll its receipt until it is there, next."""
    signed = presign(market, _single_calls(market, n, "ceiling-seq", start))
    provider = market.w3.provider

    def run() -> None:
        global sequential_method
        stall = _Stall(market)
        first = provider.make_request(RPCEndpoint("eth_sendRawTransactionSync"), [signed[0][0]])
        if not _sync_refused(first):
            sequential_method = "eth_sendRawTransactionSync"
            _ok(_result(first))
            for raw, _ in signed[1:]:
                _ok(_result(provider.make_request(RPCEndpoint("eth_sendRawTransactionSync"), [raw])))
            return
        sequential_method = "eth_sendRawTransaction, then its receipt"
        for raw, tx_hash in signed:
            _result(provider.make_request(RPCEndpoint("eth_sendRawTransaction"), [raw]))
            while (receipt := _result(provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash]))) \
                    is None:
                stall.check()
            stall.progress()
            _ok(receipt)

    seconds, requests, _ = tp.timed_on(market, run)
    return tp.counted(market, n, seconds, requests, n)


def _batches(signed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """``signed`` in batches of at most 500 transactions and about 1 MB of hex (nodes cap request bodies), as our
    sender splits them."""
    batches: list[list[tuple[str, str]]] = [[]]
    size = 0
    for item in signed:
        size += len(item[0]) + 400
        if batches[-1] and (len(batches[-1]) == BATCH or size > BATCH_BYTES):
            batches.append([])
            size = len(item[0]) + 400
        batches[-1].append(item)
    return batches


def _send_and_confirm_in_batches(market: tp.Market, signed: list[tuple[str, str]]) -> None:
    provider: Any = market.w3.provider
    for chunk in _batches(signed):
        answers = provider.make_batch_request([(RPCEndpoint("eth_sendRawTransaction"), [raw]) for raw, _ in chunk])
        if not isinstance(answers, list):
            raise RuntimeError(f"the node refused a batch of {len(chunk)} transactions: {answers}")
        for answer in answers:
            _result(answer)
    raw_of = {tx_hash: raw for raw, tx_hash in signed}
    pending = [tx_hash for _, tx_hash in signed]
    stall = _Stall(market)
    while pending:
        stall.check([raw_of[tx_hash] for tx_hash in pending[:BATCH]])
        waiting = []
        for begin in range(0, len(pending), BATCH):
            chunk = pending[begin:begin + BATCH]
            answers = provider.make_batch_request(
                [(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash]) for tx_hash in chunk]
            )
            for tx_hash, answer in zip(chunk, answers, strict=True):
                receipt = _result(answer)
                if receipt is None:
                    waiting.append(tx_hash)
                else:
                    _ok(receipt)
                    stall.progress()
        pending = waiting


def batched(market: tp.Market, n: int, start: int = 0) -> tp.Timing:
    """Presigned ``requestActivation`` transactions in JSON-RPC batches of 500, then their receipts in batches."""
    signed = presign(market, _single_calls(market, n, "ceiling-batch", start))
    seconds, requests, _ = tp.timed_on(market, lambda: _send_and_confirm_in_batches(market, signed))
    return tp.counted(market, n, seconds, requests, n)


def activations(market: tp.Market, n: int, start: int = 0) -> tp.Timing:
    """Presigned ``requestActivations`` transactions of 100 requests each (``n`` requests in all), sent and
    confirmed in JSON-RPC batches."""
    encoder = meter_call_encoder()
    calls = []
    for begin in range(start, start + n, PER_TX):
        size = min(PER_TX, start + n - begin)
        payload = [
            (market.customer(i), tp.INSTANCE_TYPE, tp.request_id("ceiling-many", i), tp.LEASE)
            for i in range(begin, begin + size)
        ]
        calls.append((encoder.encode("requestActivations", [payload]), gas_limits.BATCH_ACTIVATION.limit(size)))
    signed = presign(market, calls)
    seconds, requests, _ = tp.timed_on(market, lambda: _send_and_confirm_in_batches(market, signed))
    return tp.counted(market, n, seconds, requests, len(calls))
