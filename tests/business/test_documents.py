"""The documents: PDF text and CII XML against golden files (EUR and JPY, domestic VAT and reverse charge), the
Factur-X PDF/A-3 validated with the factur-x library's own XSD check, and the accounting CSV.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import csv
import io
import os
import re

import pytest

from metering.business.cii import check_xml, to_cii_xml
from metering.business.commercial import CommercialInvoice, build_invoice, credit_note
from metering.business.csv_export import to_accounting_csv
from metering.business.directory import Directory
from metering.business.facturx import embedded_xml, facturx_pdf
from metering.business.pdf import commercial_pdf
from metering.errors import InvoiceError
from metering.money import format_minor

from .conftest import FRENCH_BUYER, GERMAN_BUYER, GOLDEN, canonical_invoice, number

pypdf = pytest.importorskip("pypdf")
facturx = pytest.importorskip("facturx")

CASES = {
    "eur-domestic-vat": (FRENCH_BUYER, "EUR"),
    "eur-reverse-charge": (GERMAN_BUYER, "EUR"),
    "jpy-domestic-vat": (FRENCH_BUYER, "JPY"),
    "jpy-reverse-charge": (GERMAN_BUYER, "JPY"),
}


def _document(directory: Directory, case: str) -> CommercialInvoice:
    customer, currency = CASES[case]
    return build_invoice(canonical_invoice(customer, currency), directory, number(42))


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages) + "\n"


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed: UPDATE_GOLDEN=1 and review the diff"


@pytest.mark.parametrize("case", sorted(CASES))
def test_pdf_text_matches_its_golden_file(directory: Directory, case: str) -> None:
    doc = _document(directory, case)

    text = _pdf_text(commercial_pdf(doc))

    _golden(f"{case}.pdf.txt", text)
    assert f"Net total {format_minor(doc.net_total, doc.currency)} {doc.currency}" in text
    assert "<your node's RPC URL>" in text and "http" not in text.replace("http://www.color.org", "")


@pytest.mark.parametrize("case", sorted(CASES))
def test_xml_matches_its_golden_file_and_the_en16931_schema(directory: Directory, case: str) -> None:
    xml = to_cii_xml(_document(directory, case))

    _golden(f"{case}.xml", xml.decode())
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")


def test_the_factur_x_pdf_is_pdf_a_3_with_the_validated_xml_embedded(directory: Directory) -> None:
    doc = _document(directory, "eur-domestic-vat")

    data = facturx_pdf(doc)

    xml = embedded_xml(data)
    assert xml == to_cii_xml(doc)
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")  # the library's own check
    assert facturx.get_level(facturx.facturx.etree.fromstring(xml)) == "en16931"
    reader = pypdf.PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part>3<|pdfaid:part=\"3\"", xmp) and re.search(r"pdfaid:conformance>B<|"
                                                                           r"pdfaid:conformance=\"B\"", xmp)
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert root["/AF"][0].get_object()["/AFRelationship"] == "/Data"
    assert "/ID" in reader.trailer
    fonts = [font.get_object() for page in reader.pages for font in page["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                         for font in fonts)  # PDF/A: every font embedded
    assert "Invoice INV-000042" in _pdf_text(data)


def test_a_credit_note_references_the_original_in_its_xml(directory: Directory) -> None:
    note = credit_note(_document(directory, "eur-domestic-vat"), number(3, "CN"), "wrong tax treatment")

    xml = to_cii_xml(note).decode()

    assert "<ram:TypeCode>381</ram:TypeCode>" in xml
    assert re.search(r"<ram:InvoiceReferencedDocument>\s*<ram:IssuerAssignedID>INV-000042<", xml)
    assert "Credit note CN-000003" in _pdf_text(commercial_pdf(note))


def test_xml_that_breaks_the_schema_is_refused(directory: Directory) -> None:
    xml = to_cii_xml(_document(directory, "eur-domestic-vat"))
    broken = xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:Kind>380</ram:Kind>")

    with pytest.raises(InvoiceError, match="EN 16931 schema"):
        check_xml(broken)


def test_the_csv_rows_add_up_to_the_total_row(directory: Directory) -> None:
    docs = [_document(directory, case) for case in sorted(CASES)]

    rows = list(csv.DictReader(io.StringIO(to_accounting_csv(docs))))

    for doc in docs:
        mine = [row for row in rows if row["number"] == doc.number and row["currency"] == doc.currency
                and row["buyer_name"] == doc.buyer.name]
        lines, total = mine[:-1], mine[-1]
        assert total["line"] == "total" and len(lines) == len(doc.lines)
        assert total["net"] == format_minor(doc.net_total, doc.currency)
        assert total["gross"] == format_minor(doc.gross_total, doc.currency)
        assert total["canonical_hash"] == "0x" + doc.proof.canonical_hash.hex()
        nets = sum(int(row["net"].replace(".", "")) for row in lines)
        assert nets == doc.net_total


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text(directory: Directory) -> None:
    from dataclasses import replace

    doc = _document(directory, "eur-domestic-vat")
    doc = replace(doc, buyer=replace(doc.buyer, name='=HYPERLINK("http://evil.example","Acme")'))

    rows = list(csv.DictReader(io.StringIO(to_accounting_csv([doc]))))

    assert {row["buyer_name"] for row in rows} == {"'=HYPERLINK(\"http://evil.example\",\"Acme\")"}
