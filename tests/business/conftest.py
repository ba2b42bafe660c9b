"""Canonical invoices made by hand (the commercial layer reads only the Invoice) and directories for them.

Two currencies (EUR with 2 decimals, JPY with 0) and two tax treatments (domestic VAT in France, reverse charge for
a German buyer), so the golden files cover the rounding and the wording that differ between them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from metering.audit.invoice import Charge, Evidence, EvidenceEvent, Invoice, Line, line_amount
from metering.business.directory import Directory, parse_directory
from metering.business.numbering import IssuedNumber
from metering.types import Timeframe

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
FRENCH_BUYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
GERMAN_BUYER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
UNKNOWN_BUYER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
SELLER_VAT = "FR40123456824"
ISSUED_ON = date(2026, 12, 7)

DIRECTORY_YAML = f"""
seller:
  name: Meterworks SAS
  address: ["12 rue de la Paix", "Batiment B"]
  postcode: "75002"
  city: Paris
  country: FR
  vat_id: {SELLER_VAT}
  email: billing@meterworks.example
  iban: FR7630006000011234567890189
  bic: AGRIFRPP
series: INV
credit_note_series: CN
payment_terms_days: 30
tax_rounding: per_total
types:
  1: db-server
  2: web-worker
tax:
  FR: {{treatment: standard, rate: "20"}}
  DE: {{treatment: reverse_charge}}
  default: {{treatment: exempt, reason: "Outside the scope of EU VAT (services to a non-EU business)"}}
customers:
  "{FRENCH_BUYER}":
    name: Acme France SARL
    address: ["3 quai Voltaire"]
    postcode: "69002"
    city: Lyon
    country: FR
    vat_id: FR83404833048
    email: ap@acme.example
  "{GERMAN_BUYER.lower()}":
    name: Globex GmbH
    address: ["Hauptstrasse 1"]
    postcode: "10115"
    city: Berlin
    country: DE
    vat_id: DE123456789
"""


def canonical_invoice(customer: str, currency: str) -> Invoice:
    """A final invoice of two types: db-server 0.50/activation (10 included), 0.12/hour; web-worker per minute.
    In JPY the prices are 50 yen per activation and 12 yen per hour."""
    if currency == "JPY":  # micro-units of the minor unit
        act, hour, minute = 50 * 1_000_000, 12 * 1_000_000, 1_000_000
    else:
        act, hour, minute = 50 * 1_000_000, 12 * 1_000_000, 1 * 1_000_000  # 0.50, 0.12, 0.01 EUR
    digest = bytes(range(32))
    timeframe = Timeframe(id=3, start=1_796_083_200, end=1_798_761_600, currency=currency)

    def line(kind: int, charge: Charge, quantity: int, included: int, price: int, per: int) -> Line:
        billable = max(0, quantity - included)
        return Line(kind, charge, digest, quantity, 0, included, billable, price, per,
                    line_amount(billable, price, per))

    lines = (
        line(1, Charge.ACTIVATIONS, 17, 10, act, 1),
        line(1, Charge.CONTINUATIONS, 0, 0, 0, 1),
        line(1, Charge.SECONDS, 187_263, 36_000, hour, 3600),
        line(2, Charge.ACTIVATIONS, 4, 0, 40_000 if currency == "EUR" else 400_000, 1),
        line(2, Charge.CONTINUATIONS, 2, 0, 0, 1),
        line(2, Charge.SECONDS, 9_137, 0, minute, 60),
    )
    event = EvidenceEvent(41, 0, bytes([7]) * 32, "ActivationGranted",
                          bytes.fromhex(customer[2:].lower()) + bytes(12), 1)
    return Invoice(
        customer=customer, timeframe=timeframe, lines=lines, total=sum(x.amount for x in lines),
        committed_total=0, final=True, as_of=timeframe.end,
        evidence=Evidence(31337, CONTRACT, 12, 4096, (event,)),
    )


@pytest.fixture
def directory() -> Directory:
    return parse_directory(DIRECTORY_YAML, source="directory.yaml")


def number(n: int, series: str = "INV", day: date = ISSUED_ON) -> IssuedNumber:
    return IssuedNumber(SELLER_VAT, series, n, f"test:{n}", day)


GOLDEN = Path(__file__).parent / "golden"
