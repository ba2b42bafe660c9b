"""Prepaid escrow and on-chain settlement (issue 16): the ``Settlement`` contract beside the Meter, from Python.

The money flow (token units of the customer's escrow currency; the Meter's spending is in micro-units):

============  ===================  =================================================================
step          who                  effect
============  ===================  =================================================================
deposit       the customer         token -> escrow; the Meter cap becomes what the balance covers
grant         an agent (Meter)     granted only while every unsettled commitment fits in the cap,
                                   else denied ``DEPOSIT_EXHAUSTED`` (recorded like every denial)
withdraw      the customer         escrow -> customer, never below what granted usage committed
settle        anyone               escrow -> provider's payee: the canonical final invoice's total,
                                   computed on chain; the rest of the timeframe's commitment released
============  ===================  =================================================================

Modules: :mod:`.artifacts` (ABIs, bytecode, error decoding), :mod:`.amounts` (token amounts shown with their
currency and token), :mod:`.types` (an escrow, a ``Settled`` event), :mod:`.reads` (the typed reads, one parsing
path), :mod:`.client` (:class:`SettlementClient`, web3), :mod:`.lean` (the CLI's reads without web3),
:mod:`.payouts` (the provider's payouts from the ``Settled`` events), :mod:`.check` (an invoice against its
settlement event), :mod:`.deploy`.

``SettlementClient`` loads when first used (PEP 562): importing :mod:`.lean` must not import web3 through this
package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metering.settlement.amounts import CurrencyToken, TokenAmount
from metering.settlement.payouts import Payout, payouts
from metering.settlement.types import Escrow, SettledEvent

if TYPE_CHECKING:
    from metering.settlement.client import SettlementClient


def __getattr__(name: str) -> Any:
    if name == "SettlementClient":
        from metering.settlement.client import SettlementClient

        return SettlementClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CurrencyToken", "Escrow", "Payout", "SettledEvent", "SettlementClient", "TokenAmount", "payouts"]
