"""The demo's settlement chapter: one customer prepays, is refused beyond its deposit, and is settled after day 1.

Kept apart from :mod:`metering.demo` so the story there only calls two functions: :func:`open_escrow` before the
timeframe starts, and :func:`settle_and_withdraw` once its final invoice is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from metering.audit.invoice import from_json
from metering.audit.invoice_pdf import invoice_pdf
from metering.errors import VerificationError
from metering.settlement.amounts import TokenAmount
from metering.settlement.check import check_settlement
from metering.settlement.client import SettledEvent, SettlementClient
from metering.settlement.deploy import deploy_settlement, deploy_test_token
from metering.settlement.payouts import Payout, payouts

__all__ = ["SettlementStory", "open_escrow", "settle_and_withdraw", "top_up"]

#: The test coin's ``mint``: anyone may mint it on a local chain.
_MINT_ABI = [{
    "type": "function", "name": "mint", "stateMutability": "nonpayable", "outputs": [],
    "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
}]
#: A 6-decimal EUR coin: 10,000 token units per cent.
EUR_UNITS_PER_CENT = 10_000


@dataclass(frozen=True)
class SettlementStory:
    """What the chapter did: the contract, the settlement, the provider's payouts and the refund."""

    settlement: str
    settled: SettledEvent
    invoice_total: int
    payouts: tuple[Payout, ...]
    withdrawn: TokenAmount
    pdf: Path


def open_escrow(
    w3: Web3, provider: LocalAccount, meter: str, customer: LocalAccount, cents: int, say: Callable[[str], None]
) -> SettlementClient:
    """The provider deploys the Settlement contract and a EUR test coin; ``customer`` gets ``cents`` of it and
    deposits them all, becoming prepaid. Returns the customer's client."""
    address = deploy_settlement(w3, provider, meter, provider.address)
    token = deploy_test_token(w3, provider, "EURC", 6)
    SettlementClient(w3, address, provider).set_currency_token("EUR", token, EUR_UNITS_PER_CENT)
    say(f"settlement contract {address} deployed beside the Meter; EUR is paid in EURC {token} (6 decimals)")
    mint = w3.eth.contract(address=token, abi=_MINT_ABI)
    units = cents * EUR_UNITS_PER_CENT
    tx = mint.functions.mint(customer.address, units).transact({"from": provider.address})
    w3.eth.wait_for_transaction_receipt(tx)
    me = SettlementClient(w3, address, customer)
    deposited, escrow, _ = me.deposit("EUR", units)
    say(f"initech deposits {deposited} and becomes prepaid: agents are granted only what it covers "
        f"(available {escrow.amount(escrow.available)})")
    return me


def top_up(customer: SettlementClient, provider: LocalAccount, cents: int, say: Callable[[str], None]) -> None:
    """``customer`` gets ``cents`` more of the coin and deposits them: its cap rises at once."""
    token = customer.currency_token("EUR")
    mint = customer.w3.eth.contract(address=token.token, abi=_MINT_ABI)
    units = cents * EUR_UNITS_PER_CENT
    tx = mint.functions.mint(customer.sender.address, units).transact({"from": provider.address})
    customer.w3.eth.wait_for_transaction_receipt(tx)
    deposited, escrow, _ = customer.deposit("EUR", units)
    say(f"initech tops up its deposit by {deposited}: {escrow.amount(escrow.available)} available, "
        f"{escrow.amount(escrow.committed)} held for what its agents were granted")


def settle_and_withdraw(
    customer: SettlementClient, third_party: LocalAccount, timeframe: int, invoice_path: Path, out: Path,
    say: Callable[[str], None],
) -> SettlementStory:
    """A third party settles the customer's ended timeframe; the amount must be the final invoice's total. Then
    the provider's payouts are listed and the customer withdraws what is left. Writes the PDF marked paid."""
    invoice = from_json(invoice_path.read_bytes())
    anyone = SettlementClient(customer.w3, customer.address, third_party)
    event = anyone.settle(invoice.customer, timeframe)
    paid = anyone.currency_token("EUR").amount(event.tokens)
    say(f"a third party settles initech for timeframe {timeframe}: the contract computed {paid} from its own "
        f"counters and the frozen rules, paid to the provider {event.payee} (tx {event.tx_hash})")
    check = check_settlement(invoice, anyone)
    if not check.ok:
        raise VerificationError("; ".join(check.differences))
    say(f"the settled amount equals initech's final invoice total ({invoice.total} cents), and the event carries "
        f"the anchored invoice hash 0x{(event.invoice_hash or b'').hex()[:16]}…")
    listed = tuple(payouts(anyone, timeframe=timeframe))
    for p in listed:
        say(f"provider payouts: timeframe {p.event.timeframe} {p.event.customer} {p.paid}")
    taken, escrow, tx = customer.withdraw()
    say(f"initech withdraws the rest, {taken} (tx {tx}); its escrow now holds {escrow.amount(escrow.balance)}")
    pdf = out / f"invoice-initech-tf{timeframe}.pdf"
    note = f"{paid} settled on chain by {customer.address}, transaction {event.tx_hash}"
    pdf.write_bytes(invoice_pdf(invoice, paid=note))
    say(f"initech's invoice PDF says paid, with the settlement transaction: {pdf.name}")
    return SettlementStory(customer.address, event, invoice.total, listed, taken, pdf)
