"""The directory file: every problem on its own line naming the file and the field, and nothing issued from it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from metering.business.commercial import issue_invoice, seller_key
from metering.business.directory import Directory, TaxRounding, Treatment, load_directory, parse_directory
from metering.business.numbering import NumberStore
from metering.errors import DirectoryError

from .conftest import DIRECTORY_YAML, FRENCH_BUYER, GERMAN_BUYER, UNKNOWN_BUYER, canonical_invoice


def test_a_valid_directory_names_parties_types_and_tax_by_country(directory: Directory) -> None:
    assert directory.seller.name == "Meterworks SAS"
    assert directory.customer(FRENCH_BUYER.lower()).name == "Acme France SARL"
    assert directory.customer(GERMAN_BUYER).vat_id == "DE123456789"  # written lower-case in the file
    assert directory.type_names == {1: "db-server", 2: "web-worker"}
    assert directory.tax_rule("FR").rate == 200_000 and directory.tax_rule("FR").rate_text == "20"
    assert directory.tax_rule("DE").treatment is Treatment.REVERSE_CHARGE
    assert directory.tax_rule("US").treatment is Treatment.EXEMPT  # the default
    assert directory.tax_rounding is TaxRounding.PER_TOTAL and directory.payment_terms_days == 30


def test_a_directory_with_errors_gives_one_line_per_error_naming_file_and_field() -> None:
    broken = (DIRECTORY_YAML
              .replace('rate: "20"', "rate: 19.6")
              .replace("country: DE\n    vat_id: DE123456789", "country: DE")
              .replace("city: Lyon", "city: Lyon\n    phone: 123")
              .replace("payment_terms_days: 30", "payment_terms_days: 300000")
              .replace("country: FR\n    vat_id: FR83", "country: XX\n    vat_id: FR83"))

    with pytest.raises(DirectoryError) as caught:
        parse_directory(broken, source="directory.yaml")

    lines = str(caught.value).splitlines()
    assert lines == list(caught.value.problems)
    assert len(lines) == 5, lines
    assert all(line.startswith("directory.yaml: ") for line in lines)
    fields = sorted(line.split(": ")[1] for line in lines)
    assert fields == sorted([
        "tax.FR.rate", f"customers.{GERMAN_BUYER.lower()}.vat_id", f"customers.{FRENCH_BUYER}.phone",
        "payment_terms_days", f"customers.{FRENCH_BUYER}.country",
    ])
    assert any("quoted text" in line for line in lines)  # a YAML float is never a tax rate
    assert any("reverse charge" in line for line in lines)


@pytest.mark.parametrize(("change", "field"), [
    (('rate: "20"', 'rate: "100"'), "tax.FR.rate"),
    (('rate: "20"', 'rate: "5.555"'), "tax.FR.rate"),
    (("{treatment: reverse_charge}", '{treatment: reverse_charge, rate: "20"}'), "tax.DE.rate"),
    (("treatment: exempt, reason: \"Outside the scope of EU VAT (services to a non-EU business)\"",
      "treatment: exempt"), "tax.default.reason"),
    (("series: INV", "series: inv-2026"), "series"),
    (("credit_note_series: CN", "credit_note_series: INV"), "credit_note_series"),
    (("vat_id: FR40123456824", "vat_id: 40123456824"), "seller.vat_id"),
    ((f'"{FRENCH_BUYER}"', '"0x1234"'), "customers.0x1234"),
    (("email: ap@acme.example", "email: nobody"), f"customers.{FRENCH_BUYER}.email"),
    (("tax_rounding: per_total", "tax_rounding: per_invoice"), "tax_rounding"),
])
def test_each_bad_field_is_refused_by_name(change: tuple[str, str], field: str) -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory(DIRECTORY_YAML.replace(*change), source="d.yaml")

    assert [line.split(": ")[1] for line in caught.value.problems] == [field]


def test_a_duplicate_key_and_a_missing_file_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match=r"^d\.yaml: duplicate key 'series' \(line \d+\)$"):
        parse_directory(DIRECTORY_YAML + "series: CN\n", source="d.yaml")
    with pytest.raises(DirectoryError, match="no such directory file"):
        load_directory(tmp_path / "missing.yaml")


def test_an_unknown_customer_is_refused_before_a_number_is_taken(directory: Directory, tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "numbers.sqlite")

    with pytest.raises(DirectoryError, match=f"no entry for {UNKNOWN_BUYER}"):
        issue_invoice(canonical_invoice(UNKNOWN_BUYER, "EUR"), directory, store, issue_date=date(2026, 12, 7))

    assert store.next_number(seller_key(directory), "INV") == 1


def test_the_example_directory_is_valid_and_names_the_demo_customers() -> None:
    directory = load_directory(Path(__file__).parents[2] / "examples" / "directory.yaml")

    assert len(directory.customers) == 3 and directory.type_names == {1: "db-server", 2: "ml-worker"}


def test_a_name_is_one_line_of_bounded_length(directory: Directory) -> None:
    """Whoever edits the file (or pastes a customer's self-declared name) cannot break the documents' layout or
    smuggle a second line into a CSV cell."""
    for bad in ("x" * 201, "Acme\\nTotal due: 0.00 EUR"):
        with pytest.raises(DirectoryError, match=rf"customers\.{FRENCH_BUYER}\.name: must be one line"):
            parse_directory(DIRECTORY_YAML.replace("name: Acme France SARL", f'name: "{bad}"'), source="d.yaml")
