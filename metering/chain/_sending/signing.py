"""Builds and signs transactions in-process, so keys never leave the machine.

EIP-1559 transactions are built and signed with coincurve and a key parsed once (:mod:`metering._utils.txsign`,
the hot path); legacy ones (chains without a base fee) with eth-account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from metering._utils.txsign import Eip1559Signer

from .calls import Call, Signed, hex_of

__all__ = ["TransactionSigner"]


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith(("0x", "0X")) else address)
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address!r}")
    return raw


class TransactionSigner:
    """Signs calls of ``account`` on the chain ``chain_id()`` names (read lazily, once, by the sender)."""

    def __init__(self, account: LocalAccount, chain_id: Callable[[], int]) -> None:
        self._account = account
        self._chain_id = chain_id
        self._fast = Eip1559Signer(bytes(account.key))

    def sign(self, call: Call, nonce: int, gas: int, fees: dict[str, int]) -> Signed:
        """``call`` signed at ``nonce`` with ``gas`` and the fee fields ``fees``."""
        if "maxFeePerGas" in fees:
            to = None if call.to is None else _address_bytes(call.to)
            raw, tx_hash = self._fast.sign(
                self._chain_id(), nonce, fees["maxPriorityFeePerGas"], fees["maxFeePerGas"], gas, to, call.value,
                call.data,
            )
            return Signed(call, nonce, gas, fees, raw, hex_of(tx_hash))
        tx: dict[str, Any] = {
            "chainId": self._chain_id(), "nonce": nonce, "gas": gas, "value": call.value, "data": hex_of(call.data),
            **fees,
        }
        if call.to is not None:
            tx["to"] = Web3.to_checksum_address(call.to)
        signed = self._account.sign_transaction(tx)
        return Signed(call, nonce, gas, fees, bytes(signed.raw_transaction), hex_of(signed.hash))
