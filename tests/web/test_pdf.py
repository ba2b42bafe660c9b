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


class _PathProxy:
    """A loopback HTTP proxy that forwards any path to the node, as a provider's URL with a key in it would reach
    the provider's node."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        import urllib.request

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = urllib.request.Request(upstream, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as answer:
                    data = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_pdf_never_carries_the_rpc_url_it_was_made_with(world: World, tmp_path: Path) -> None:
    """A provider's RPC URL holds its API key (in the path or the query): a document sent to a customer must name
    the contract and the chain, and leave the node to the reader."""
    invoice = world.invoice("acme")
    proxy = _PathProxy(world.rpc_url)
    try:
        secret_url = f"{proxy.url}/v3/PATHSECRET0123456789?apikey=QUERYSECRET987"
        pdf_path = tmp_path / "acme.pdf"
        made = CliRunner().invoke(app, [
            "invoice", "--customer", invoice.customer, "--timeframe", "1", "--rpc-url", secret_url,
            "--contract", world.contract, "--db", str(tmp_path / "events.sqlite"), "--format", "pdf",
            "-o", str(pdf_path),
        ])
    finally:
        proxy.close()

    assert made.exit_code == 0, made.output
    raw = pdf_path.read_bytes()
    text = _text(pdf_path).replace("\n", "")
    for secret in ("PATHSECRET0123456789", "QUERYSECRET987", proxy.url.split("//")[1]):
        assert secret not in text and secret.encode() not in raw
    chain = invoice.evidence.chain_id
    squeezed = re.sub(r"\s+", "", text)
    assert f"--rpc-url<RPCURLofachain{chain}node>--contract{world.contract}" in squeezed
    assert f"{world.contract}onchain{chain}" in squeezed
