"""Turns what went wrong into an actionable error: a revert into the contract's named custom error, a failed
receipt into its reason (by re-simulating the transaction), a lack of funds into what is had and what is needed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from web3.exceptions import ContractLogicError, Web3RPCError

from metering._utils.abi_errors import ErrorDecoder, revert_data_from_exception
from metering._utils.rpc_retry import rpc_message
from metering.errors import ContractRevertError, RpcUnavailableError, TransactionFailedError

from .calls import Call, Signed, hex_of

__all__ = ["failure_after_mining", "insufficient_funds", "revert_error"]


def revert_error(
    decoder: ErrorDecoder, exc: BaseException, call: Call, *, tx_hash: str | None
) -> TransactionFailedError:
    """The decoded custom error of a revert (a :class:`ContractRevertError`), or the node's refusal."""
    decoded = decoder.decode(revert_data_from_exception(exc), tx_hash=tx_hash)
    if decoded is not None:
        return decoded
    message = rpc_message(exc) if isinstance(exc, Web3RPCError) else (getattr(exc, "message", None) or str(exc))
    if isinstance(exc, ContractLogicError):
        return ContractRevertError(
            "unknown", {}, message=f"{call.label} reverted: {message or 'no reason given'}", tx_hash=tx_hash
        )
    return TransactionFailedError(f"the node refused {call.label}: {message}", tx_hash=tx_hash)


def failure_after_mining(
    signed: Signed, receipt: Mapping[str, Any], *, sender: str, decoder: ErrorDecoder,
    simulate: Callable[[dict[str, Any], str], Any],
) -> TransactionFailedError:
    """Re-simulates a failed transaction (``simulate(params, block)`` is an ``eth_call``) to recover the revert
    reason: on the state before its block (exact when it was the block's first transaction), then on the state after
    it (the reason usually persists)."""
    block_number = int(receipt["blockNumber"], 16)
    params: dict[str, Any] = {
        "from": sender, "data": hex_of(signed.call.data), "value": hex(signed.call.value), "gas": hex(signed.gas),
    }
    if signed.call.to is not None:
        params["to"] = signed.call.to
    for at in dict.fromkeys((max(block_number - 1, 0), block_number)):
        try:
            simulate(params, hex(at))
        except (ContractLogicError, Web3RPCError) as exc:
            error = revert_error(decoder, exc, signed.call, tx_hash=signed.tx_hash)
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


def insufficient_funds(
    call: Call, *, address: str, chain_id: int, balance: int | None, gas: int | None, fees: dict[str, int] | None
) -> TransactionFailedError:
    """What the account has and what ``call`` may cost, and what to do."""
    have = f"has {balance} wei" if balance is not None else "has too little"
    need = ""
    if gas is not None and fees is not None:
        price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
        need = f", and {call.label} may cost up to {gas * price + call.value} wei (gas {gas} at {price} wei/gas)"
    return TransactionFailedError(
        f"insufficient funds: {address} {have} on chain {chain_id}{need}; fund the account to pay for gas"
    )
