"""``metering invoice --format pdf``: a document whose text carries the same totals, lines and hash as the JSON."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from metering.audit.invoice import invoice_hash, read_invoice
from metering.audit.invoice_pdf import invoice_pdf
from metering.cli import app
from metering.money import format_minor

from .conftest import World

pypdf = __import__("pytest").importorskip("pypdf", reason="pypdf is a dev dependency: ./run setup")


def _text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages)


def test_the_pdf_written_by_the_cli_states_the_json_total_and_hash(world: World, tmp_path: Path) -> None:
    invoice = world.invoice("acme")
    json_path, pdf_path = tmp_path / "acme.json", tmp_path / "acme.pdf"
    common = ["--customer", invoice.customer, "--timeframe", "1", "--rpc-url", world.rpc_url,
              "--contract", world.contract, "--db", str(tmp_path / "events.sqlite")]

    made_json = CliRunner().invoke(app, ["invoice", *common, "--format", "json", "-o", str(json_path)])
    made_pdf = CliRunner().invoke(app, ["invoice", *common, "--format", "pdf", "-o", str(pdf_path)])

    assert made_json.exit_code == 0, made_json.output
    assert made_pdf.exit_code == 0, made_pdf.output
    assert pdf_path.read_bytes().startswith(b"%PDF")
    text = _text(pdf_path)
    final = read_invoice(json_path)
    total = re.search(r"Total\s+([0-9.]+) EUR", text)
    assert total is not None and total.group(1) == format_minor(final.total, "EUR")
    assert "0x" + invoice_hash(final).hex() in text.replace("\n", "")
    assert world.contract in text
    assert "metering verify invoice.json" in text
    for line in final.lines:
        if line.amount:
            assert f"{format_minor(line.amount, 'EUR')} EUR" in text


def test_a_running_statement_says_on_its_face_that_it_is_not_final(world: World, tmp_path: Path) -> None:
    path = tmp_path / "statement.pdf"
    statement = read_invoice(world.out / "statement-acme-tf2.json")

    path.write_bytes(invoice_pdf(statement))

    text = _text(path)
    assert "Running statement (not final)" in text
    assert "Committed by open leases" in text


def test_pdf_without_an_output_file_is_refused_in_one_line(world: World) -> None:
    result = CliRunner().invoke(app, ["invoice", "--customer", world.invoice("acme").customer, "--timeframe", "1",
                                      "--rpc-url", world.rpc_url, "--contract", world.contract, "--format", "pdf"])

    assert result.exit_code == 3
    assert "-o invoice.pdf" in result.output and "Traceback" not in result.output
