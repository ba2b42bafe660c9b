"""The Settlement contract for one account: deposits, withdrawals, settlements, and what they emitted.

A customer deposits with its own key (the enrolled address); anyone may settle; the provider (owner) names tokens.
Every amount that leaves this module carries its currency and token (:class:`TokenAmount`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import FilterParams

from metering._utils.abi_errors import revert_data_from_exception
from metering.chain import checksum
from metering.chain.sender import Call, SentTransaction, TransactionSender
from metering.contract import currency_to_bytes
from metering.errors import ConfigError, ContractRevertError, SigningKeyError
from metering.settlement.amounts import CurrencyToken, TokenAmount
from metering.settlement.artifacts import error_decoder, settlement_abi, token_abi
from metering.settlement.reads import SettlementReads
from metering.settlement.types import Escrow, SettledEvent

__all__ = ["Escrow", "SettledEvent", "SettlementClient"]

#: A settlement of up to 32 types per timeframe costs well under this per customer; batches scale it.
_SETTLE_GAS_PER_CUSTOMER = 120_000
_GAS = 200_000


class SettlementClient(SettlementReads):
    """The Settlement contract at ``address``; ``signer=None`` gives a read-only client. Its reads (escrow, tokens,
    ``Settled`` events) are :class:`~metering.settlement.reads.SettlementReads`', over web3."""

    def __init__(
        self, w3: Web3, address: str, signer: LocalAccount | None, *, sender: TransactionSender | None = None
    ) -> None:
        self.w3 = w3
        self.address: ChecksumAddress = checksum(address, what="the Settlement contract")
        if not w3.eth.get_code(self.address):
            raise ConfigError(f"no contract at {self.address} on this chain: check --settlement")
        self.contract: Contract = w3.eth.contract(address=self.address, abi=settlement_abi())
        if sender is None and signer is not None:
            sender = TransactionSender(w3, signer, error_decoder=error_decoder())
        self._sender = sender
        self._tokens: dict[str, CurrencyToken] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def sender(self) -> TransactionSender:
        if self._sender is None:
            raise SigningKeyError("this client is read-only: give it a signing key (keystore or METERING_PRIVATE_KEY)")
        return self._sender

    def _send(self, function: str, *args: Any, to: Contract | None = None, gas: int = _GAS) -> SentTransaction:
        target = to if to is not None else self.contract
        data = bytes.fromhex(target.encode_abi(function, args=list(args))[2:])
        return self.sender.transact(Call(to=target.address, data=data, gas=None, min_gas=gas // 2, label=function))

    def _view(self, function: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, function)(*args).call()
        except ContractLogicError as exc:
            decoded = error_decoder().decode(revert_data_from_exception(exc))
            raise decoded or ContractRevertError("unknown", {}, message=f"{function} reverted: {exc}") from exc

    def _token_view(self, token: ChecksumAddress, function: str) -> Any:
        return getattr(self.w3.eth.contract(address=token, abi=token_abi()).functions, function)().call()

    def _logs(self, query: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        return self.w3.eth.get_logs(FilterParams(**query))  # type: ignore[typeddict-item]

    def _settled_events(self, tx_hash: str) -> list[SettledEvent]:
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        return [SettledEvent.from_event(e) for e in self.contract.events.Settled().process_receipt(receipt, DISCARD)]

    # ------------------------------------------------------------------ customers

    def deposit(self, currency: str, units: int) -> tuple[TokenAmount, Escrow, str]:
        """Deposits ``units`` of ``currency``'s token (approving the contract first if needed). The first deposit
        makes the customer prepaid. Returns what was deposited, the escrow after, and the deposit's tx hash."""
        token = self.currency_token(currency)
        _positive(units, "deposit")
        erc20 = self.w3.eth.contract(address=token.token, abi=token_abi())
        me = self.sender.address
        have = int(erc20.functions.balanceOf(me).call())
        if have < units:
            raise ConfigError(f"{me} holds {token.amount(have)}, less than the {token.amount(units)} to deposit")
        if int(erc20.functions.allowance(me, self.address).call()) < units:
            self._send("approve", self.address, units, to=erc20, gas=60_000)
        sent = self._send("deposit", currency_to_bytes(currency), units)
        return token.amount(units), self.escrow(me), sent.tx_hash

    def withdraw(self, units: int | None = None) -> tuple[TokenAmount, Escrow, str]:
        """Withdraws ``units`` (all that is available when None) of the caller's escrow."""
        before = self.escrow(self.sender.address)
        amount = before.available if units is None else units
        _positive(amount, "withdrawal")
        if amount > before.available:
            raise ConfigError(
                f"only {before.amount(before.available)} is free to withdraw; "
                f"{before.amount(before.committed)} is held for granted, unsettled usage"
            )
        sent = self._send("withdraw", amount)
        return before.amount(amount), self.escrow(self.sender.address), sent.tx_hash

    # ------------------------------------------------------------------ anyone

    def settle(self, customer: str, timeframe: int) -> SettledEvent:
        """Settles (customer, timeframe); raises the contract's error when it is not due (not ended, settled,
        postpaid)."""
        sent = self._send("settle", checksum(customer, what="customer"), timeframe, gas=_SETTLE_GAS_PER_CUSTOMER)
        (event,) = self._settled_events(sent.tx_hash)
        return event

    def settle_many(self, customers: Sequence[str], timeframe: int, *, batch: int = 100) -> list[SettledEvent]:
        """Settles every due customer of ``customers`` for ``timeframe``, ``batch`` per transaction (skipping
        those not prepaid, settled, or postpaid for it)."""
        if not 1 <= batch <= 256:
            raise ConfigError(f"batch must be 1..256 customers per transaction, got {batch}")
        addresses = [checksum(c, what="customer") for c in customers]
        done: list[SettledEvent] = []
        for chunk in _chunks(addresses, batch):
            sent = self._send("settleMany", list(chunk), timeframe, gas=_SETTLE_GAS_PER_CUSTOMER * len(chunk))
            done.extend(self._settled_events(sent.tx_hash))
        return done

    # ------------------------------------------------------------------ provider

    def set_currency_token(self, currency: str, token: str, units_per_minor: int) -> str:
        """Names ``token`` for ``currency`` (once, owner only): ``units_per_minor`` token units per minor unit."""
        _positive(units_per_minor, "units per minor unit")
        sent = self._send("setCurrencyToken", currency_to_bytes(currency), checksum(token, what="token"),
                          units_per_minor)
        return sent.tx_hash


def _positive(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{what} must be a positive number of token units, got {value!r}")


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
