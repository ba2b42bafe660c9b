"""Anchoring an invoice's hash on chain, only when it is the kind of invoice an anchor stands for.

The contract checks what it can cheaply (a non-zero hash, a customer, an ended timeframe), but it cannot tell a
running statement from a final invoice, nor an invoice of another contract. :func:`check_anchorable` refuses those
before anything is sent, each with one line that says what to do; the CLI also recomputes the invoice
(:func:`metering.audit.verify.verify_invoice`) so only an invoice that verifies is anchored.

>>> check_anchorable(w3, meter_address, invoice)                       # doctest: +SKIP
>>> anchor_invoice(w3, meter_address, signer, invoice).invoice_hash    # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from metering.audit.events import InvoiceAnchored, InvoiceCorrected, decode_log
from metering.audit.invoice import Invoice, invoice_hash
from metering.contract import CustomerStatus, abi
from metering.errors import InvoiceError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from metering.chain.sender import TransactionSender

__all__ = ["AnchorResult", "anchor_invoice", "check_anchorable"]


@dataclass(frozen=True)
class AnchorResult:
    """The anchor of (customer, timeframe) after :func:`anchor_invoice`; ``changed`` is False when that hash was
    already anchored (then ``tx_hash`` is None)."""

    customer: str
    timeframe: int
    invoice_hash: bytes
    total: int
    revision: int
    changed: bool
    tx_hash: str | None


def check_anchorable(w3: Web3, address: str, invoice: Invoice) -> None:
    """Refuse anything but a final invoice of the contract at ``address`` on this chain, for one of its customers.

    :raises InvoiceError: a running statement, another chain or contract, or an address that is not a customer.
    """
    meter = to_checksum_address(address)
    if not invoice.final:
        raise InvoiceError(
            f"only a final invoice can be anchored, and this is a running statement as of {invoice.as_of} "
            f"(blocks {invoice.evidence.from_block}-{invoice.evidence.to_block}): compute the invoice again after "
            f"timeframe {invoice.timeframe.id} has ended"
        )
    chain_id = int(w3.eth.chain_id)
    if invoice.evidence.chain_id != chain_id:
        raise InvoiceError(
            f"the invoice is for chain {invoice.evidence.chain_id}, but the node is chain {chain_id}: check --rpc-url"
        )
    if invoice.evidence.contract != meter:
        raise InvoiceError(
            f"the invoice is for contract {invoice.evidence.contract}, not {meter}: check --contract"
        )
    contract = w3.eth.contract(address=meter, abi=abi())
    status = CustomerStatus(contract.functions.customerStatus(invoice.customer).call())
    if status is CustomerStatus.NONE:
        raise InvoiceError(f"{invoice.customer} is not a customer of {meter}: nothing can be anchored for it")


def anchor_invoice(
    w3: Web3,
    address: str,
    signer: LocalAccount,
    invoice: Invoice,
    *,
    correct: bool = False,
    sender: TransactionSender | None = None,
) -> AnchorResult:
    """Anchor ``invoice``'s hash and total (``anchorInvoice``), or supersede an anchored one with ``correct``
    (``correctInvoice``), after :func:`check_anchorable`. Anchoring the hash already anchored changes nothing.

    :raises InvoiceError: not anchorable, or another invoice is anchored and ``correct`` is False.
    :raises ContractRevertError: the contract refused (e.g. ``MeteringTimeframeNotEnded``).
    """
    from metering.chain.sender import Call, TransactionSender

    check_anchorable(w3, address, invoice)
    meter = w3.eth.contract(address=to_checksum_address(address), abi=abi())
    digest = invoice_hash(invoice)
    current, _total, revision = meter.functions.invoiceAnchor(invoice.customer, invoice.timeframe.id).call()
    current = bytes(current)
    if current == digest:
        return AnchorResult(invoice.customer, invoice.timeframe.id, digest, invoice.total, int(revision), False, None)
    if current != bytes(32) and not correct:
        raise InvoiceError(
            f"another invoice (0x{current.hex()}) is anchored for {invoice.customer} in timeframe "
            f"{invoice.timeframe.id}: pass --correct to supersede it"
        )
    function = "correctInvoice" if current != bytes(32) else "anchorInvoice"
    args = [invoice.customer, invoice.timeframe.id, digest, invoice.total]
    data = bytes.fromhex(meter.encode_abi(function, args=args)[2:])
    sender = sender or TransactionSender(w3, signer)
    sent = sender.transact(Call(to=meter.address, data=data, label=function))
    for log in sent.logs:
        event = decode_log(log) if str(log["address"]).lower() == meter.address.lower() else None
        if isinstance(event, InvoiceAnchored | InvoiceCorrected):
            revision_now = event.revision if isinstance(event, InvoiceCorrected) else 0
            return AnchorResult(
                event.customer, event.timeframe, event.invoice_hash, event.total, revision_now, True, sent.tx_hash
            )
    raise InvoiceError(f"transaction {sent.tx_hash} emitted no InvoiceAnchored event: is {meter.address} a Meter?")
