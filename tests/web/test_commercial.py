"""Commercial invoices from the command line, the demo and the web view, over the demo's chain.

``metering invoice --commercial`` writes the provider's documents from the final canonical invoice; the customer's
``metering verify`` still needs only the JSON; a broken directory stops everything before a number is taken.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from metering.audit.invoice import invoice_hash
from metering.cli import app
from metering.money import format_minor
from metering.web.app import WebConfig, create_app

from .conftest import World

pypdf = pytest.importorskip("pypdf")
facturx = pytest.importorskip("facturx")


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def books(world: World, tmp_path: Path) -> Path:
    """A copy of the demo's directory file in a folder of its own (so numbers start afresh beside it)."""
    path = tmp_path / "directory.yaml"
    shutil.copy(world.result.books["directory"], path)
    return path


def _invoice(world: World, tmp_path: Path, *args: str) -> Any:
    acme = world.invoice("acme")
    return CliRunner().invoke(app, [
        "invoice", "--customer", acme.customer, "--timeframe", "1", "--rpc-url", world.rpc_url,
        "--contract", world.contract, "--db", str(tmp_path / "events.sqlite"), *args,
    ])


def test_the_demo_wrote_a_commercial_pdf_and_a_factur_x_for_acme(world: World) -> None:
    acme = world.invoice("acme")
    pdf, factur_x = world.result.books["pdf"], world.result.books["facturx"]

    text = _text(pdf.read_bytes())

    assert "Acme Robotique SARL" in text and "Meterworks SAS" in text
    assert f"Net total {format_minor(acme.total, 'EUR')} EUR" in text
    assert "0x" + invoice_hash(acme).hex() in text.replace("\n", "")
    xml = facturx.get_xml_from_pdf(factur_x.read_bytes(), check_xsd=False)[1]
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")


def test_the_cli_writes_each_format_and_issuing_again_keeps_the_number(world: World, books: Path,
                                                                      tmp_path: Path) -> None:
    acme = world.invoice("acme")
    written = {}
    for fmt in ("pdf", "facturx", "xml", "csv"):
        out = tmp_path / f"acme.{fmt}"
        result = _invoice(world, tmp_path, "--commercial", "--directory", str(books), "--format", fmt, "-o", str(out))
        assert result.exit_code == 0, result.output
        written[fmt] = out.read_bytes()

    assert "INV-000001" in _text(written["pdf"]) and "INV-000001" in _text(written["facturx"])
    assert b"<ram:ID>INV-000001</ram:ID>" in written["xml"]
    assert b"INV-000001," in written["csv"] and format_minor(acme.total, "EUR").encode() in written["csv"]
    facturx.xml_check_xsd(written["xml"], flavor="factur-x", level="en16931")
    shown = CliRunner().invoke(app, ["invoice", "number", "--directory", str(books)])
    assert shown.exit_code == 0, shown.output
    assert "next: INV-000002" in shown.output
    reserved = CliRunner().invoke(app, ["invoice", "number", "--directory", str(books), "--reserve", "--json"])
    assert reserved.exit_code == 0 and '"number": "INV-000002"' in reserved.output


def test_a_settlement_transaction_makes_the_invoice_paid(world: World, books: Path, tmp_path: Path) -> None:
    tx = "0x" + "cd" * 32

    result = _invoice(world, tmp_path, "--commercial", "--directory", str(books), "--format", "xml",
                      "--settlement-tx", tx)

    assert result.exit_code == 0, result.output
    assert f"settlement transaction {tx}" in result.output
    assert "<ram:DuePayableAmount>0.00</ram:DuePayableAmount>" in result.output


def test_a_broken_directory_gives_one_line_per_error_no_document_and_no_number(world: World, books: Path,
                                                                              tmp_path: Path) -> None:
    text = books.read_text().replace('rate: "20"', "rate: 20.0").replace("city: Berlin", "city: ''")
    books.write_text(text)
    out = tmp_path / "acme.pdf"

    result = _invoice(world, tmp_path, "--commercial", "--directory", str(books), "-o", str(out))

    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in result.output
    assert "directory.yaml: tax.FR.rate:" in lines[0] and "directory.yaml: customers." in lines[1]
    assert not out.exists()
    assert not (books.parent / "invoice-numbers.sqlite").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--commercial", "-o", "x.pdf"], "needs the provider's directory"),
    (["--commercial", "--directory", "d.yaml", "--format", "json"], "pdf, facturx, xml or csv"),
    (["--commercial", "--directory", "d.yaml", "--format", "facturx"], "-o invoice.pdf"),
    (["--commercial", "--directory", "d.yaml", "--as-of", "3"], "final invoice only"),
    (["--directory", "d.yaml"], "add --commercial"),
    (["--commercial", "--directory", "d.yaml", "--format", "xml", "--settlement-tx", "0x12"], "64 hex digits"),
])
def test_bad_commercial_options_are_one_line_before_the_chain_is_read(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["invoice", "--customer", "0x" + "11" * 20, "--timeframe", "1",
                                      "--rpc-url", "http://127.0.0.1:9", *args])

    assert result.exit_code == 3, result.output
    assert message in result.output and "Traceback" not in result.output


def test_the_customers_verify_still_works_from_the_json_alone(world: World, books: Path, tmp_path: Path) -> None:
    issued = _invoice(world, tmp_path, "--commercial", "--directory", str(books), "--format", "xml")
    assert issued.exit_code == 0

    result = CliRunner().invoke(app, ["verify", str(world.result.invoices["acme"]), "--rpc-url", world.rpc_url,
                                      "--contract", world.contract, "--db", str(tmp_path / "customer.sqlite")])

    assert result.exit_code == 0, result.output
    assert "verified" in result.output


def test_a_credit_note_from_the_cli_references_the_original(world: World, books: Path, tmp_path: Path) -> None:
    issued = _invoice(world, tmp_path, "--commercial", "--directory", str(books), "--format", "xml")
    assert issued.exit_code == 0

    result = CliRunner().invoke(app, ["invoice", "credit-note", "INV-000001", "--directory", str(books),
                                      "--reason", "wrong tax treatment", "--format", "xml"])
    again = CliRunner().invoke(app, ["invoice", "credit-note", "INV-000001", "--directory", str(books),
                                     "--reason", "twice", "--format", "xml"])

    assert result.exit_code == 0, result.output
    assert "<ram:ID>CN-000001</ram:ID>" in result.output and "<ram:TypeCode>381</ram:TypeCode>" in result.output
    assert "<ram:IssuerAssignedID>INV-000001</ram:IssuerAssignedID>" in result.output
    assert again.exit_code == 3 and "already credited" in again.output


def test_the_web_view_shows_names_the_directory_gives(world: World) -> None:
    from metering.business.directory import load_directory

    directory = load_directory(world.result.books["directory"])
    client = TestClient(create_app(WebConfig(
        db=world.db, contract=world.contract, w3=world.w3, type_names=dict(directory.type_names),
        customer_names={address: party.name for address, party in directory.customers.items()},
    )))
    acme = world.invoice("acme")

    assert "Acme Robotique SARL" in client.get("/customers").text
    assert "Acme Robotique SARL" in client.get(f"/customers/{acme.customer}?timeframe=1").text
    assert "Acme Robotique SARL" in client.get(f"/invoices/{acme.customer}/1").text
    assert "Acme Robotique SARL" not in TestClient(create_app(WebConfig(db=world.db, contract=world.contract))) \
        .get("/customers").text
