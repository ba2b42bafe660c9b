"""The demo's last step: the provider's books. A directory file for the demo's three customers, then acme's
commercial invoice as a PDF and as Factur-X, numbered from a numbers file in the demo's folder.

acme is French and pays French VAT; globex is German (reverse charge); initech is American (outside EU VAT). The
demo's output folder is reused between runs, so the numbers file is too: running the demo again on the same chain
finds acme's number, a fresh chain gets the next one (never a reused one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from metering.audit.invoice import Invoice

__all__ = ["DIRECTORY_YAML", "write_books"]

DIRECTORY_YAML = """\
# The provider's directory (format: metering/business/directory.py): its books, never on chain.
seller:
  name: Meterworks SAS
  address: ["12 rue de la Paix"]
  postcode: "75002"
  city: Paris
  country: FR
  vat_id: FR40123456824
  email: billing@meterworks.example
  iban: FR7630006000011234567890189
  bic: AGRIFRPP
series: INV
credit_note_series: CN
payment_terms_days: 30
tax_rounding: per_total
types: {{1: db-server, 2: ml-worker}}
tax:
  FR: {{treatment: standard, rate: "20"}}
  DE: {{treatment: reverse_charge}}
  default: {{treatment: exempt, reason: "Outside the scope of EU VAT: services to a business outside the EU"}}
customers:
  "{acme}":
    name: Acme Robotique SARL
    address: ["3 quai Voltaire"]
    postcode: "69002"
    city: Lyon
    country: FR
    vat_id: FR83404833048
    email: ap@acme.example
  "{globex}":
    name: Globex GmbH
    address: ["Hauptstrasse 1"]
    postcode: "10115"
    city: Berlin
    country: DE
    vat_id: DE123456789
  "{initech}":
    name: Initech Inc.
    address: ["4120 Freidrich Lane"]
    postcode: "78744"
    city: Austin
    country: US
"""


def write_books(out: Path, addresses: Mapping[str, str], acme: Invoice, say: Callable[[str], None]) -> dict[str, Path]:
    """Write ``directory.yaml`` and acme's commercial PDF and Factur-X into ``out``; returns the files by kind."""
    from metering.business.commercial import issue_invoice
    from metering.business.directory import load_directory
    from metering.business.facturx import facturx_pdf
    from metering.business.numbering import NumberStore
    from metering.business.pdf import commercial_pdf
    from metering.money import format_minor

    directory_path = out / "directory.yaml"
    directory_path.write_text(DIRECTORY_YAML.format(**addresses), encoding="utf-8")
    directory = load_directory(directory_path)
    doc = issue_invoice(acme, directory, NumberStore(out / "invoice-numbers.sqlite"))
    pdf_path = out / f"invoice-acme-tf{acme.timeframe.id}-commercial.pdf"
    facturx_path = out / f"invoice-acme-tf{acme.timeframe.id}-facturx.pdf"
    pdf_path.write_bytes(commercial_pdf(doc))
    facturx_path.write_bytes(facturx_pdf(doc))
    say(f"acme's commercial invoice {doc.number} to {doc.buyer.name}: net {format_minor(doc.net_total, doc.currency)}"
        f" {doc.currency} (the canonical total), VAT {doc.tax.rule.rate_text} % "
        f"{format_minor(doc.tax_total, doc.currency)} {doc.currency}, due {doc.due_date}: {pdf_path.name}, and "
        f"{facturx_path.name} (PDF/A-3 with its EN 16931 XML)")
    return {"directory": directory_path, "pdf": pdf_path, "facturx": facturx_path}
