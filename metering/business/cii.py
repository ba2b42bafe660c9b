"""The commercial invoice as UN/CEFACT Cross Industry Invoice XML, EN 16931 profile (Factur-X / ZUGFeRD).

One XML serves twice: alone, for systems that import e-invoices, and embedded in the Factur-X PDF/A-3. It is
checked against the XSD the ``factur-x`` library ships (:func:`check_xml`) before it is written anywhere, so a
malformed document is never handed to a customer. The on-chain proof travels in the XML itself: the canonical
invoice's keccak-256 hash as an additional referenced document (BT-122), the contract and chain as the contract
reference (BT-12), and the settlement transaction, once paid, as the payment reference's note.

Amounts are the currency's minor units written with its ISO 4217 decimals (``15.50`` EUR, ``1550`` JPY); unit
prices keep their full precision (``0.0004``), with the base quantity they are per (3600 seconds for an hour).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from metering.business.commercial import CommercialInvoice, DocumentKind
from metering.business.directory import Party
from metering.errors import InvoiceError, MissingDependencyError
from metering.money import format_micro, format_minor

__all__ = ["EN16931_GUIDELINE", "check_xml", "to_cii_xml"]

#: BT-24: the specification the document follows (the Factur-X EN 16931 profile).
EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
#: UNTDID 4461 payment means: SEPA credit transfer when the seller gives an IBAN, else "instrument not defined".
_CREDIT_TRANSFER, _NOT_DEFINED = "58", "1"


def _lxml() -> Any:
    try:
        from lxml import etree
    except ImportError as exc:  # pragma: no cover - lxml comes with the business extra
        raise MissingDependencyError('e-invoices need lxml: pip install "metering[business]"') from exc
    return etree


class _Builder:
    """Appends namespaced children: ``b.add(parent, "ram:Name", "text", unitCode="SEC")``."""

    def __init__(self) -> None:
        self.etree = _lxml()

    def tag(self, name: str) -> str:
        prefix, local = name.split(":")
        return f"{{{_NS[prefix]}}}{local}"

    def add(self, parent: Any, name: str, text: str | None = None, **attributes: str) -> Any:
        node = self.etree.SubElement(parent, self.tag(name), attrib=attributes or None)
        if text is not None:
            node.text = text
        return node

    def date(self, parent: Any, name: str, day: date, *, qualified: bool = False) -> None:
        holder = self.add(parent, name)
        self.add(holder, "qdt:DateTimeString" if qualified else "udt:DateTimeString", day.strftime("%Y%m%d"),
                 format="102")

    def party(self, parent: Any, name: str, party: Party) -> None:
        node = self.add(parent, name)
        self.add(node, "ram:Name", party.name)
        address = self.add(node, "ram:PostalTradeAddress")
        self.add(address, "ram:PostcodeCode", party.postcode)
        for tag, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), party.address, strict=False):
            self.add(address, tag, line)
        self.add(address, "ram:CityName", party.city)
        self.add(address, "ram:CountryID", party.country)
        if party.email:
            contact = self.add(node, "ram:URIUniversalCommunication")
            self.add(contact, "ram:URIID", party.email, schemeID="EM")
        if party.vat_id:
            registration = self.add(node, "ram:SpecifiedTaxRegistration")
            self.add(registration, "ram:ID", party.vat_id, schemeID="VA")


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def to_cii_xml(doc: CommercialInvoice) -> bytes:
    """The CII XML bytes of ``doc`` (UTF-8, with an XML declaration), checked against the EN 16931 XSD.

    :raises InvoiceError: the XML does not pass the schema (a bug here, reported with the schema's message).
    """
    b = _Builder()
    cur = doc.currency
    proof = doc.proof
    root = b.etree.Element(b.tag("rsm:CrossIndustryInvoice"), nsmap=_NS)
    context = b.add(root, "rsm:ExchangedDocumentContext")
    b.add(b.add(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", EN16931_GUIDELINE)

    header = b.add(root, "rsm:ExchangedDocument")
    b.add(header, "ram:ID", doc.number)
    b.add(header, "ram:TypeCode", doc.kind.type_code)
    b.date(header, "ram:IssueDateTime", doc.issue_date)
    notes = [
        f"Usage metered on chain {proof.chain_id} by contract {proof.contract} for customer {proof.customer}, "
        f"timeframe {proof.timeframe}, blocks {proof.from_block} to {proof.to_block}. The canonical invoice's "
        f"keccak-256 hash is 0x{proof.canonical_hash.hex()}: anyone can recompute it from the chain "
        "(metering verify).",
    ]
    if doc.tax.reason:
        notes.append(doc.tax.reason)
    if doc.kind is DocumentKind.CREDIT_NOTE:
        notes.append(f"Credit note for invoice {doc.original_number}: {doc.reason}")
    if proof.settlement_tx is not None:
        notes.append(f"Paid on chain: settlement transaction 0x{proof.settlement_tx.hex()}.")
    for text in notes:
        b.add(b.add(header, "ram:IncludedNote"), "ram:Content", text)

    trade = b.add(root, "rsm:SupplyChainTradeTransaction")
    for line in doc.lines:
        item = b.add(trade, "ram:IncludedSupplyChainTradeLineItem")
        b.add(b.add(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(line.position))
        product = b.add(item, "ram:SpecifiedTradeProduct")
        b.add(product, "ram:SellerAssignedID", f"{line.instance_type}/{line.charge.value}")
        b.add(product, "ram:Name", line.description)
        agreement = b.add(item, "ram:SpecifiedLineTradeAgreement")
        price = b.add(agreement, "ram:NetPriceProductTradePrice")
        b.add(price, "ram:ChargeAmount", format_micro(line.unit_price, cur))
        b.add(price, "ram:BasisQuantity", str(line.per), unitCode=line.unit_code)
        delivery = b.add(item, "ram:SpecifiedLineTradeDelivery")
        b.add(delivery, "ram:BilledQuantity", str(line.quantity), unitCode=line.unit_code)
        settlement = b.add(item, "ram:SpecifiedLineTradeSettlement")
        tax = b.add(settlement, "ram:ApplicableTradeTax")
        b.add(tax, "ram:TypeCode", "VAT")
        b.add(tax, "ram:CategoryCode", doc.tax.category)
        b.add(tax, "ram:RateApplicablePercent", doc.tax.rule.rate_text)
        summation = b.add(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        b.add(summation, "ram:LineTotalAmount", format_minor(line.net, cur))

    agreement = b.add(trade, "ram:ApplicableHeaderTradeAgreement")
    b.party(agreement, "ram:SellerTradeParty", doc.seller)
    b.party(agreement, "ram:BuyerTradeParty", doc.buyer)
    b.add(b.add(agreement, "ram:ContractReferencedDocument"), "ram:IssuerAssignedID",
          f"chain {proof.chain_id} contract {proof.contract}")
    reference = b.add(agreement, "ram:AdditionalReferencedDocument")
    b.add(reference, "ram:IssuerAssignedID", "0x" + proof.canonical_hash.hex())
    b.add(reference, "ram:TypeCode", "916")  # UNTDID 1001: a supporting document
    b.add(reference, "ram:Name", "Canonical JSON invoice (keccak-256), verifiable on chain")

    delivery = b.add(trade, "ram:ApplicableHeaderTradeDelivery")
    b.date(b.add(delivery, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", _day(proof.period_end))

    settlement = b.add(trade, "ram:ApplicableHeaderTradeSettlement")
    b.add(settlement, "ram:PaymentReference", doc.number)
    b.add(settlement, "ram:InvoiceCurrencyCode", cur)
    means = b.add(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
    b.add(means, "ram:TypeCode", _CREDIT_TRANSFER if doc.iban else _NOT_DEFINED)
    if doc.iban:
        b.add(b.add(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", doc.iban)
        if doc.bic:
            b.add(b.add(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", doc.bic)
    tax = b.add(settlement, "ram:ApplicableTradeTax")
    b.add(tax, "ram:CalculatedAmount", format_minor(doc.tax.tax, cur))
    b.add(tax, "ram:TypeCode", "VAT")
    if doc.tax.reason:
        b.add(tax, "ram:ExemptionReason", doc.tax.reason)
    b.add(tax, "ram:BasisAmount", format_minor(doc.tax.basis, cur))
    b.add(tax, "ram:CategoryCode", doc.tax.category)
    if doc.tax.category == "AE":
        b.add(tax, "ram:ExemptionReasonCode", "VATEX-EU-AE")
    b.add(tax, "ram:RateApplicablePercent", doc.tax.rule.rate_text)
    period = b.add(settlement, "ram:BillingSpecifiedPeriod")
    b.date(period, "ram:StartDateTime", _day(proof.period_start))
    b.date(period, "ram:EndDateTime", _day(proof.period_end))
    terms = b.add(settlement, "ram:SpecifiedTradePaymentTerms")
    b.add(terms, "ram:Description", doc.payment_terms)
    if doc.kind is DocumentKind.INVOICE and not doc.paid:
        b.date(terms, "ram:DueDateDateTime", doc.due_date)
    totals = b.add(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    b.add(totals, "ram:LineTotalAmount", format_minor(doc.net_total, cur))
    b.add(totals, "ram:TaxBasisTotalAmount", format_minor(doc.net_total, cur))
    b.add(totals, "ram:TaxTotalAmount", format_minor(doc.tax_total, cur), currencyID=cur)
    b.add(totals, "ram:GrandTotalAmount", format_minor(doc.gross_total, cur))
    prepaid = doc.gross_total if doc.paid else 0
    b.add(totals, "ram:TotalPrepaidAmount", format_minor(prepaid, cur))
    b.add(totals, "ram:DuePayableAmount", format_minor(doc.gross_total - prepaid, cur))
    if doc.kind is DocumentKind.CREDIT_NOTE and doc.original_number and doc.original_issue_date:
        original = b.add(settlement, "ram:InvoiceReferencedDocument")
        b.add(original, "ram:IssuerAssignedID", doc.original_number)
        b.date(original, "ram:FormattedIssueDateTime", doc.original_issue_date, qualified=True)

    xml: bytes = b.etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    check_xml(xml)
    return xml


def check_xml(xml: bytes) -> None:
    """Validate ``xml`` against the Factur-X EN 16931 XSD shipped with the ``factur-x`` library.

    :raises InvoiceError: it does not validate (the schema's first complaint is in the message).
    """
    try:
        import facturx
    except ImportError as exc:
        raise MissingDependencyError('e-invoices need factur-x: pip install "metering[business]"') from exc
    import logging

    logging.getLogger("factur-x").setLevel(logging.CRITICAL)  # it logs the failure we report ourselves
    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as exc:  # the library raises a bare Exception with the schema's message
        raise InvoiceError(f"the CII XML does not pass the EN 16931 schema: {exc}") from exc
