"""The commercial invoice as a PDF a clerk can book: parties, number, dates, named lines, tax, totals, payment
details, and where the proof is.

Fonts are embedded (DejaVu Sans, shipped in ``fonts/``, free licence) and the page carries an sRGB output intent,
because the Factur-X PDF wraps this one as PDF/A-3, where every font must be embedded and colours device
independent; the core Helvetica of the plain invoice PDF would not do. DejaVu also has the euro and yen signs.

"Verify it yourself" prints a placeholder for the RPC URL, never the provider's: the customer verifies against a
node of their own choosing, and a provider's URL may carry an API key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

from metering.audit.invoice import Charge
from metering.business.commercial import CommercialInvoice, CommercialLine, DocumentKind
from metering.business.directory import Party
from metering.errors import MissingDependencyError
from metering.money import format_micro, format_minor

__all__ = ["RPC_PLACEHOLDER", "commercial_pdf"]

#: What "verify it yourself" says instead of a URL.
RPC_PLACEHOLDER = "<your node's RPC URL>"
_FONT = "DejaVu"
_PER = {1: "second", 60: "minute", 3600: "hour", 86_400: "day"}
_GREY = (90, 90, 90)


def _money(amount: int, currency: str) -> str:
    return f"{format_minor(amount, currency)} {currency}"


def _quantity(line: CommercialLine) -> str:
    return f"{line.quantity} s" if line.charge is Charge.SECONDS else str(line.quantity)


def _unit_price(line: CommercialLine, currency: str) -> str:
    price = f"{format_micro(line.unit_price, currency)} {currency}"
    if line.charge is Charge.SECONDS:
        return f"{price} / {_PER.get(line.per, f'{line.per} s')}"
    return f"{price} / {'activation' if line.charge is Charge.ACTIVATIONS else 'lease'}"


def _new_pdf(doc: CommercialInvoice) -> Any:
    try:
        from fpdf import FPDF
        from fpdf.enums import OutputIntentSubType
        from fpdf.output import PDFICCProfile
        from PIL import ImageCms
    except ImportError as exc:
        raise MissingDependencyError('commercial PDFs need fpdf2: pip install "metering[business]"') from exc
    pdf = FPDF(format="A4")
    fonts = resources.files("metering.business") / "fonts"
    for style, name in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
        with resources.as_file(fonts / name) as path:
            pdf.add_font(_FONT, style, str(path))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pdf.add_output_intent(
        OutputIntentSubType.PDFA, output_condition_identifier="sRGB", output_condition="IEC 61966-2-1:1999",
        registry_name="http://www.color.org", dest_output_profile=PDFICCProfile(contents=profile, n=3,
                                                                                alternate="DeviceRGB"),
        info="sRGB IEC61966-2.1",
    )
    moment = datetime(doc.issue_date.year, doc.issue_date.month, doc.issue_date.day, tzinfo=UTC)
    pdf.set_creation_date(moment)  # the same document gives the same bytes
    pdf.set_lang("en")
    pdf.set_title(f"{doc.kind.heading} {doc.number}")
    pdf.set_author(doc.seller.name)
    pdf.set_creator("metering")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    return pdf


def _party_lines(party: Party) -> list[str]:
    lines = [party.name, *party.address, f"{party.postcode} {party.city}", party.country_name]
    if party.vat_id:
        lines.append(f"VAT {party.vat_id}")
    if party.email:
        lines.append(party.email)
    return lines


def commercial_pdf(doc: CommercialInvoice) -> bytes:
    """The PDF bytes of ``doc`` (an invoice or a credit note, which says so on its face)."""
    pdf = _new_pdf(doc)
    cur = doc.currency
    proof = doc.proof

    pdf.set_font(_FONT, "B", 18)
    pdf.cell(0, 10, f"{doc.kind.heading} {doc.number}", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 2
    for x, label, party in ((pdf.l_margin, "From", doc.seller), (110, "Bill to", doc.buyer)):
        pdf.set_xy(x, top)
        pdf.set_font(_FONT, "B", 8)
        pdf.set_text_color(*_GREY)
        pdf.cell(80, 5, label, new_x="LEFT", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        for k, text in enumerate(_party_lines(party)):
            pdf.set_font(_FONT, "B" if k == 0 else "", 10 if k == 0 else 9)
            pdf.cell(85, 5, text, new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 40) + 4)

    facts = [
        ("Issue date", doc.issue_date.isoformat()),
        ("Due date", doc.due_date.isoformat() if doc.kind is DocumentKind.INVOICE else "not applicable"),
        ("Service period", f"timeframe {proof.timeframe}: {_day(proof.period_start)} to {_day(proof.period_end)}"),
        ("Customer account", proof.customer),
    ]
    if doc.kind is DocumentKind.CREDIT_NOTE:
        facts.append(("Credits invoice", f"{doc.original_number} of {doc.original_issue_date}: {doc.reason}"))
    _facts(pdf, facts)
    pdf.ln(3)

    headers = ("#", "Description", "Quantity", "Unit price", "VAT", "Net amount")
    widths = (8, 62, 26, 40, 16, 30)
    right = {2, 4, 5}
    pdf.set_font(_FONT, "B", 8)
    pdf.set_fill_color(238, 241, 246)
    for k, (header, width) in enumerate(zip(headers, widths, strict=True)):
        pdf.cell(width, 6, header, border="B", fill=True, align="R" if k in right else "L")
    pdf.ln()
    pdf.set_font(_FONT, "", 8)
    rate = f"{doc.tax.rule.rate_text} %"
    for line in doc.lines:
        cells = (str(line.position), line.description, _quantity(line), _unit_price(line, cur), rate,
                 _money(line.net, cur))
        for k, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            pdf.cell(width, 5.5, cell, border="B", align="R" if k in right else "L")
        pdf.ln()
    pdf.ln(2)

    label_width, amount_width = sum(widths[:-1]), widths[-1]
    totals = [("Net total", doc.net_total), (f"VAT {doc.tax.category} {rate} on {_money(doc.tax.basis, cur)}",
                                             doc.tax_total)]
    for label, amount in totals:
        pdf.set_font(_FONT, "", 9)
        pdf.cell(label_width, 5.5, label, align="R")
        pdf.cell(amount_width, 5.5, _money(amount, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "B", 11)
    pdf.cell(label_width, 8, "Total" if doc.kind is DocumentKind.INVOICE else "Total credited", align="R")
    pdf.cell(amount_width, 8, _money(doc.gross_total, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    if doc.kind is DocumentKind.INVOICE:
        pdf.set_font(_FONT, "B", 9)
        pdf.cell(label_width, 5.5, "Amount due", align="R")
        pdf.cell(amount_width, 5.5, _money(doc.amount_due, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    if doc.tax.reason:
        pdf.set_font(_FONT, "", 8.5)
        pdf.multi_cell(0, 4.5, doc.tax.reason, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(3)

    _heading(pdf, "Payment")
    payment = [("Terms", doc.payment_terms), ("Reference", doc.number)]
    if doc.iban:
        payment.append(("IBAN", doc.iban + (f"  BIC {doc.bic}" if doc.bic else "")))
    _facts(pdf, payment)
    pdf.ln(2)

    _heading(pdf, "The proof")
    proof_facts = [
        ("Canonical hash", "0x" + proof.canonical_hash.hex()),
        ("Contract", f"{proof.contract} on chain id {proof.chain_id}"),
        ("Evidence", f"blocks {proof.from_block} to {proof.to_block}"),
    ]
    if proof.settlement_tx is not None:
        proof_facts.append(("Settlement tx", "0x" + proof.settlement_tx.hex()))
    _facts(pdf, proof_facts)
    pdf.ln(2)
    _heading(pdf, "Verify it yourself")
    pdf.set_font(_FONT, "", 8.5)
    pdf.multi_cell(0, 4.5, (
        "The amounts before tax are those of the canonical JSON invoice with the hash above, which anyone can "
        "recompute from the contract's events with nothing from us but that file:"
    ), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font(_FONT, "", 8)
    pdf.multi_cell(0, 4.5, f"metering verify invoice.json --rpc-url {RPC_PLACEHOLDER} --contract {proof.contract}",
                   new_x="LMARGIN", new_y="NEXT", align="L")
    return bytes(pdf.output())


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _heading(pdf: Any, text: str) -> None:
    pdf.set_font(_FONT, "B", 11)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")


def _facts(pdf: Any, facts: list[tuple[str, str]]) -> None:
    for label, value in facts:
        pdf.set_font(_FONT, "B", 8.5)
        pdf.cell(32, 5, label)
        pdf.set_font(_FONT, "", 8.5)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT", align="L")
