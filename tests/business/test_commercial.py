"""The commercial invoice on top of the canonical one: net equals the canonical total, tax rounded as the currency
requires, reverse-charge wording, the proof, payment once settled, and credit notes instead of edits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.audit.invoice import invoice_hash
from metering.business.commercial import (
    CommercialInvoice,
    DocumentKind,
    build_invoice,
    credit_note,
    from_record,
    issue_credit_note,
    issue_invoice,
    to_record,
)
from metering.business.directory import Directory, TaxRounding, TaxRule, Treatment, parse_directory
from metering.business.numbering import NumberStore
from metering.business.tax import line_taxes, tax_amount, tax_subtotal
from metering.errors import InvoiceError

from .conftest import DIRECTORY_YAML, FRENCH_BUYER, GERMAN_BUYER, ISSUED_ON, canonical_invoice, number

SETTLED = bytes.fromhex("ab" * 32)


def _documents(directory: Directory) -> list[tuple[CommercialInvoice, int]]:
    """Every kind of document the module makes, each with the canonical total it must carry as its net."""
    per_line = replace(directory, tax_rounding=TaxRounding.PER_LINE)
    made = []
    for customer in (FRENCH_BUYER, GERMAN_BUYER):
        for currency in ("EUR", "JPY"):
            inv = canonical_invoice(customer, currency)
            for books in (directory, per_line):
                doc = build_invoice(inv, books, number(7))
                made += [(doc, inv.total), (credit_note(doc, number(1, "CN"), "wrong tax treatment"), inv.total),
                         (build_invoice(inv, books, number(8), settlement_tx=SETTLED), inv.total)]
    return made


def test_every_document_has_the_canonical_total_as_its_net_to_the_minor_unit(directory: Directory) -> None:
    documents = _documents(directory)

    assert len(documents) == 24
    for doc, canonical_total in documents:
        assert doc.net_total == canonical_total == sum(line.net for line in doc.lines) == doc.tax.basis
        assert doc.gross_total == doc.net_total + doc.tax_total


def test_a_domestic_invoice_charges_vat_rounded_half_up_to_the_cent(directory: Directory) -> None:
    inv = canonical_invoice(FRENCH_BUYER, "EUR")

    doc = build_invoice(inv, directory, number(1))

    assert doc.net_total == inv.total == 1006  # 10.06 EUR
    assert (doc.tax.category, doc.tax.rule.rate_text, doc.tax_total) == ("S", "20", 201)  # 2.012 -> 2.01
    assert doc.tax.reason is None
    assert doc.number == "INV-000001" and doc.issue_date == ISSUED_ON and doc.due_date == date(2027, 1, 6)
    assert doc.proof.canonical_hash == invoice_hash(inv)
    assert (doc.proof.contract, doc.proof.chain_id) == (inv.evidence.contract, inv.evidence.chain_id)
    assert [line.description for line in doc.lines][:2] == ["db-server: activations", "db-server: running time"]


def test_a_reverse_charge_invoice_has_no_vat_and_says_who_accounts_for_it(directory: Directory) -> None:
    doc = build_invoice(canonical_invoice(GERMAN_BUYER, "JPY"), directory, number(2))

    assert (doc.tax.category, doc.tax_total, doc.gross_total) == ("AE", 0, doc.net_total)
    assert doc.tax.reason is not None and "Reverse charge" in doc.tax.reason
    assert doc.buyer.vat_id == "DE123456789"


def test_jpy_tax_is_rounded_to_whole_yen() -> None:
    rule = TaxRule(Treatment.STANDARD, 100_000)  # 10 %

    assert tax_amount(1_005, rule.rate) == 101  # 100.5 yen -> 101 (half up), never 100.5
    assert tax_amount(1_004, rule.rate) == 100


@settings(max_examples=200, deadline=None)
@given(nets=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=8),
       rate=st.integers(min_value=1, max_value=9_999) .map(lambda r: r * 100))
def test_tax_matches_a_plain_decimal_model_per_line_and_per_total(nets: list[int], rate: int) -> None:
    rule = TaxRule(Treatment.STANDARD, rate)
    percent = Decimal(rate) / Decimal(10_000)

    def model(net: int) -> int:
        return int((Decimal(net) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    per_total = tax_subtotal(nets, rule, TaxRounding.PER_TOTAL)
    per_line = tax_subtotal(nets, rule, TaxRounding.PER_LINE)

    assert per_total.tax == model(sum(nets)) and per_total.basis == sum(nets)
    assert per_line.tax == sum(model(n) for n in nets)
    assert line_taxes(nets, rule, TaxRounding.PER_LINE) == tuple(model(n) for n in nets)
    assert abs(per_line.tax - per_total.tax) <= len(nets)  # rounding apart differs by at most a unit per line


def test_a_running_statement_gets_no_commercial_invoice(directory: Directory) -> None:
    statement = replace(canonical_invoice(FRENCH_BUYER, "EUR"), final=False)

    with pytest.raises(InvoiceError, match="final invoice only"):
        build_invoice(statement, directory, number(1))


def test_a_settled_invoice_states_its_transaction_and_nothing_due(directory: Directory) -> None:
    doc = build_invoice(canonical_invoice(FRENCH_BUYER, "EUR"), directory, number(3), settlement_tx=SETTLED)

    assert doc.paid and doc.amount_due == 0
    assert "0x" + SETTLED.hex() in doc.payment_terms


def test_a_wrong_net_is_refused_rather_than_issued(directory: Directory) -> None:
    inv = canonical_invoice(FRENCH_BUYER, "EUR")
    doc = build_invoice(inv, directory, number(1))
    forged = replace(doc, lines=(replace(doc.lines[0], net=doc.lines[0].net - 1), *doc.lines[1:]))

    with pytest.raises(InvoiceError, match="is not the canonical total"):
        from metering.business.commercial import check_net

        check_net(forged, inv.total)


def test_issuing_again_gives_the_same_number_and_a_new_invoice_the_next(directory: Directory, tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "numbers.sqlite")
    acme, globex = canonical_invoice(FRENCH_BUYER, "EUR"), canonical_invoice(GERMAN_BUYER, "EUR")

    first = issue_invoice(acme, directory, store, issue_date=ISSUED_ON)
    second = issue_invoice(globex, directory, store, issue_date=date(2026, 12, 8))
    again = issue_invoice(acme, directory, store, issue_date=date(2026, 12, 20))

    assert (first.number, second.number, again.number) == ("INV-000001", "INV-000002", "INV-000001")
    assert again.issue_date == ISSUED_ON


def test_a_wrong_tax_treatment_is_fixed_by_a_credit_note_and_a_new_invoice(tmp_path: Path) -> None:
    """Globex was billed French VAT by mistake (its country was typed FR); the provider fixes the directory. The
    original is never edited: re-issuing is refused, a credit note cancels exactly what the original said, then
    the right invoice gets the next number."""
    wrong = parse_directory(DIRECTORY_YAML.replace("city: Berlin\n    country: DE", "city: Berlin\n    country: FR"),
                            source="directory.yaml")
    right = parse_directory(DIRECTORY_YAML, source="directory.yaml")
    store = NumberStore(tmp_path / "numbers.sqlite")
    inv = canonical_invoice(GERMAN_BUYER, "EUR")
    original = issue_invoice(inv, wrong, store, issue_date=ISSUED_ON)
    assert original.tax.category == "S" and original.tax_total == 201

    with pytest.raises(InvoiceError, match=r"INV-000001 was issued with other .*tax.*never edited"):
        issue_invoice(inv, right, store, issue_date=ISSUED_ON)
    note = issue_credit_note(original.number, right, store, "wrong tax treatment: reverse charge applies",
                             issue_date=date(2026, 12, 9))
    replacement = issue_invoice(inv, right, store, issue_date=date(2026, 12, 9))

    assert note.kind is DocumentKind.CREDIT_NOTE and note.number == "CN-000001"
    assert (note.original_number, note.original_issue_date) == ("INV-000001", ISSUED_ON)
    assert (note.tax.category, note.tax_total, note.gross_total) == ("S", 201, original.gross_total)
    assert note.net_total == inv.total
    assert replacement.number == "INV-000002" and replacement.tax.category == "AE"
    assert issue_invoice(inv, right, store).number == "INV-000002"  # and it stays the current one
    assert from_record(json.loads(store.document_of("FR40123456824", "INV-000001") or "")) == original
    with pytest.raises(InvoiceError, match="already credited"):
        issue_credit_note(original.number, right, store, "again")
    with pytest.raises(InvoiceError, match="no invoice INV-000099"):
        issue_credit_note("INV-000099", right, store, "typo")


def test_stating_payment_later_is_not_an_edit(directory: Directory, tmp_path: Path) -> None:
    store = NumberStore(tmp_path / "numbers.sqlite")
    inv = canonical_invoice(FRENCH_BUYER, "EUR")
    unpaid = issue_invoice(inv, directory, store, issue_date=ISSUED_ON)

    paid = issue_invoice(inv, directory, store, settlement_tx=SETTLED)

    assert (paid.number, paid.issue_date, paid.paid, unpaid.paid) == (unpaid.number, ISSUED_ON, True, False)


def test_a_credit_note_needs_a_reason_and_cannot_credit_a_credit_note(directory: Directory) -> None:
    doc = build_invoice(canonical_invoice(FRENCH_BUYER, "EUR"), directory, number(1))

    with pytest.raises(InvoiceError, match="must say why"):
        credit_note(doc, number(1, "CN"), "  ")
    with pytest.raises(InvoiceError, match="only an invoice"):
        credit_note(credit_note(doc, number(1, "CN"), "wrong"), number(2, "CN"), "again")


def test_the_record_kept_with_a_number_reads_back_as_the_same_document(directory: Directory) -> None:
    for doc, _ in _documents(directory):
        assert from_record(json.loads(json.dumps(to_record(doc)))) == doc


@settings(max_examples=100, deadline=None)
@given(
    amounts=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 10**9)), min_size=1, max_size=6),
    currency=st.sampled_from(["EUR", "JPY", "BHD", "USD"]),
    buyer=st.sampled_from([FRENCH_BUYER, GERMAN_BUYER]),
    rounding=st.sampled_from(list(TaxRounding)),
)
def test_any_canonical_invoice_keeps_its_total_as_the_net(
    amounts: list[tuple[int, int]], currency: str, buyer: str, rounding: TaxRounding,
) -> None:
    from metering.audit.invoice import Charge, line_amount

    base = canonical_invoice(buyer, currency)
    lines = []
    for kind, (billable, price) in enumerate(amounts, start=1):
        for charge, per in ((Charge.ACTIVATIONS, 1), (Charge.SECONDS, 3600)):
            amount = line_amount(billable, price, per)
            lines.append(replace(base.lines[0], instance_type=kind, charge=charge, quantity=billable,
                                 billable=billable, included=0, unit_price=price, per=per, amount=amount))
    inv = replace(base, lines=tuple(lines), total=sum(line.amount for line in lines))
    books = replace(parse_directory(DIRECTORY_YAML, source="d.yaml"), tax_rounding=rounding)

    doc = build_invoice(inv, books, number(1))
    note = credit_note(doc, number(1, "CN"), "property")

    for document in (doc, note):
        assert document.net_total == inv.total == sum(line.net for line in document.lines)
        assert document.gross_total == document.net_total + document.tax_total
