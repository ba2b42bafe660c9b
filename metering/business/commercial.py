"""The commercial invoice: the canonical final invoice, plus what a business needs to book it.

The canonical JSON invoice stays the evidence (anyone recomputes it from the chain; ``metering verify`` reads the
JSON alone). This module never changes it: it reads its lines and total and adds a number, dates, the parties'
names and addresses, type names, tax and payment terms from the provider's :mod:`directory
<metering.business.directory>`, and points back at the proof (the canonical hash, contract, chain id, and the
settlement transaction once paid). Its net total is the canonical total to the minor unit; :func:`check_net` is
run on every document built, and raises if that ever failed.

A wrong invoice is never edited after issue: :func:`credit_note` cancels it in full, referencing its number, and a
new invoice is issued under the next number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from metering.audit.invoice import Charge, Invoice, invoice_hash
from metering.business.directory import Directory, Party, TaxRule, Treatment
from metering.business.numbering import IssuedNumber, NumberStore
from metering.business.tax import TaxSubtotal, line_taxes, tax_subtotal
from metering.errors import InvoiceError

__all__ = [
    "CommercialInvoice",
    "CommercialLine",
    "DocumentKind",
    "Proof",
    "build_invoice",
    "check_net",
    "credit_note",
    "from_record",
    "issue_credit_note",
    "issue_invoice",
    "seller_key",
    "to_record",
    "today",
]


class DocumentKind(StrEnum):
    """An invoice or a credit note, with its UNTDID 1001 type code (380, 381) for EN 16931."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"

    @property
    def type_code(self) -> str:
        return "380" if self is DocumentKind.INVOICE else "381"

    @property
    def heading(self) -> str:
        return "Invoice" if self is DocumentKind.INVOICE else "Credit note"


#: UN/ECE Recommendation 20 unit codes: a second, and "one" (a count of activations or continuations).
UNIT_CODE = {Charge.SECONDS: "SEC", Charge.ACTIVATIONS: "C62", Charge.CONTINUATIONS: "C62"}
_CHARGE_WORDS = {Charge.ACTIVATIONS: "activations", Charge.CONTINUATIONS: "leases carried over",
                 Charge.SECONDS: "running time"}


@dataclass(frozen=True)
class CommercialLine:
    """One billed line: the canonical line's billable quantity, unit price (micro-units per ``per`` units) and
    amount, named for people; ``tax`` is set when tax is rounded per line."""

    position: int
    instance_type: int
    type_name: str
    charge: Charge
    quantity: int
    unit_price: int
    per: int
    net: int
    tax: int | None

    @property
    def description(self) -> str:
        return f"{self.type_name}: {_CHARGE_WORDS[self.charge]}"

    @property
    def unit_code(self) -> str:
        return UNIT_CODE[self.charge]


@dataclass(frozen=True)
class Proof:
    """Where the numbers come from: the canonical invoice's hash, its contract and chain, the customer's address,
    the timeframe and block range, and the settlement transaction once the invoice is paid on chain."""

    canonical_hash: bytes
    contract: str
    chain_id: int
    customer: str
    timeframe: int
    period_start: int
    period_end: int
    from_block: int
    to_block: int
    settlement_tx: bytes | None = None


@dataclass(frozen=True)
class CommercialInvoice:
    """An invoice or credit note as a business books it; amounts are integers in the currency's minor unit."""

    kind: DocumentKind
    number: str
    issue_date: date
    due_date: date
    seller: Party
    buyer: Party
    iban: str | None
    bic: str | None
    currency: str
    lines: tuple[CommercialLine, ...]
    tax: TaxSubtotal
    net_total: int
    tax_total: int
    gross_total: int
    payment_terms_days: int
    proof: Proof
    original_number: str | None = None
    original_issue_date: date | None = None
    reason: str | None = None

    @property
    def paid(self) -> bool:
        return self.proof.settlement_tx is not None

    @property
    def amount_due(self) -> int:
        """What is left to pay: nothing once settled on chain (and nothing on a credit note)."""
        return 0 if self.paid or self.kind is DocumentKind.CREDIT_NOTE else self.gross_total

    @property
    def payment_terms(self) -> str:
        if self.kind is DocumentKind.CREDIT_NOTE:
            return f"Credits invoice {self.original_number}; nothing to pay."
        if self.paid:
            assert self.proof.settlement_tx is not None
            return f"Paid on chain: settlement transaction 0x{self.proof.settlement_tx.hex()}."
        days = self.payment_terms_days
        return f"Payable within {days} days of the issue date, by {self.due_date.isoformat()}."


def check_net(document: CommercialInvoice, canonical_total: int) -> None:
    """Refuse a document whose net is not the canonical total to the minor unit, or whose totals do not add up.

    :raises InvoiceError: a bug, never a user error: the commercial document would not match the proof.
    """
    lines = sum(line.net for line in document.lines)
    if not lines == document.net_total == canonical_total == document.tax.basis:
        raise InvoiceError(
            f"{document.number}: net {document.net_total} (lines {lines}, tax basis {document.tax.basis}) is not "
            f"the canonical total {canonical_total} {document.currency}: refusing to issue it"
        )
    if document.gross_total != document.net_total + document.tax_total or document.tax_total != document.tax.tax:
        raise InvoiceError(f"{document.number}: gross {document.gross_total} is not net plus tax")


def _lines(inv: Invoice) -> list[tuple[int, Charge, int, int, int, int]]:
    """The canonical lines a clerk needs, in the canonical order: every line but a type's carried-over leases when
    there were none (every type has a running-time line, so there is always one)."""
    return [
        (line.instance_type, line.charge, line.billable, line.unit_price, line.per, line.amount)
        for line in inv.lines
        if line.charge is not Charge.CONTINUATIONS or line.quantity > 0 or line.amount > 0
    ]


def build_invoice(
    inv: Invoice, directory: Directory, number: IssuedNumber, *, settlement_tx: bytes | None = None
) -> CommercialInvoice:
    """The commercial invoice of the final invoice ``inv`` under ``number`` (its issue date included).

    :raises InvoiceError: ``inv`` is a running statement, or in another currency than it says.
    :raises DirectoryError: the directory does not name the customer or has no tax treatment for its country.
    """
    if not inv.final:
        raise InvoiceError(
            "a commercial invoice is issued for a final invoice only: this is a running statement "
            f"(timeframe {inv.timeframe.id} as of {inv.as_of}); wait for the timeframe to end"
        )
    if settlement_tx is not None and len(settlement_tx) != 32:
        raise InvoiceError("the settlement transaction hash must be 32 bytes (0x and 64 hex digits)")
    buyer = directory.customer(inv.customer)
    rule = directory.tax_rule(buyer.country)
    chosen = _lines(inv)
    nets = [amount for *_, amount in chosen]
    taxes = line_taxes(nets, rule, directory.tax_rounding)
    lines = tuple(
        CommercialLine(
            position=k + 1, instance_type=kind, type_name=directory.type_names.get(kind, f"type {kind}"),
            charge=charge, quantity=billable, unit_price=price, per=per, net=amount, tax=tax,
        )
        for k, ((kind, charge, billable, price, per, amount), tax) in enumerate(zip(chosen, taxes, strict=True))
    )
    subtotal = tax_subtotal(nets, rule, directory.tax_rounding)
    net = sum(nets)
    document = CommercialInvoice(
        kind=DocumentKind.INVOICE,
        number=number.text,
        issue_date=number.issue_date,
        due_date=number.issue_date + timedelta(days=directory.payment_terms_days),
        seller=directory.seller,
        buyer=buyer,
        iban=directory.iban,
        bic=directory.bic,
        currency=inv.currency,
        lines=lines,
        tax=subtotal,
        net_total=net,
        tax_total=subtotal.tax,
        gross_total=net + subtotal.tax,
        payment_terms_days=directory.payment_terms_days,
        proof=Proof(
            canonical_hash=invoice_hash(inv), contract=inv.evidence.contract, chain_id=inv.evidence.chain_id,
            customer=inv.customer, timeframe=inv.timeframe.id, period_start=inv.timeframe.start,
            period_end=inv.timeframe.end, from_block=inv.evidence.from_block, to_block=inv.evidence.to_block,
            settlement_tx=settlement_tx,
        ),
    )
    check_net(document, inv.total)
    return document


def seller_key(directory: Directory) -> str:
    """Who numbers the series: the seller's VAT id (required by the directory), stable across renames."""
    assert directory.seller.vat_id is not None
    return directory.seller.vat_id


def today() -> date:
    """The issue date of a new document: today in UTC (a stored number keeps the date it was issued on)."""
    return datetime.now(UTC).date()


def issue_invoice(
    inv: Invoice, directory: Directory, store: NumberStore, *, issue_date: date | None = None,
    settlement_tx: bytes | None = None,
) -> CommercialInvoice:
    """Build the commercial invoice of ``inv`` under the number its canonical hash already has in ``store``, or
    the next number of the directory's series (issued today, or on ``issue_date``).

    Checks everything that can be checked first, so a refused invoice consumes no number. Asking again gives the
    same number and date; but if the document would now say something else than what was issued under that number
    (the directory changed: a name, a tax treatment), it is refused, because an issued invoice is never edited:
    credit it, and the next request issues the corrected invoice under a new number.

    :raises InvoiceError: the invoice would differ from what was issued under its number.
    """
    seller = seller_key(directory)
    probe = IssuedNumber(seller, directory.series, 0, "", issue_date or today())
    build_invoice(inv, directory, probe, settlement_tx=settlement_tx)  # raises before any number is taken
    document = _document_key(inv, directory, store)
    number = store.issue(seller, directory.series, document, issue_date or today())
    built = build_invoice(inv, directory, number, settlement_tx=settlement_tx)
    stored = store.document_of(seller, number.text)
    if stored is None:
        store.record(number, json.dumps(to_record(built), sort_keys=True))
    else:
        _refuse_edits(json.loads(stored), to_record(built), number.text)
    return built


def _document_key(inv: Invoice, directory: Directory, store: NumberStore) -> str:
    """What a number is issued for: the canonical hash, and which issue of it once earlier ones were credited."""
    seller, base = seller_key(directory), f"invoice:0x{invoice_hash(inv).hex()}"
    key, attempt = base, 1
    while True:
        issued = store.find(seller, directory.series, key)
        if issued is None or store.find(seller, directory.credit_note_series, f"credit:{issued.text}") is None:
            return key
        attempt += 1
        key = f"{base}#{attempt}"


def _refuse_edits(issued: dict[str, Any], now: dict[str, Any], number: str) -> None:
    """Refuse a document that differs from the one issued under ``number`` in anything but being paid."""
    for record in (issued, now):
        record["proof"] = {**record["proof"], "settlement_tx": None}
    changed = sorted(key for key in issued.keys() | now.keys() if issued.get(key) != now.get(key))
    if changed:
        raise InvoiceError(
            f"{number} was issued with other {', '.join(changed)} than the directory gives now: an issued invoice "
            f"is never edited; credit it (metering invoice credit-note {number} --reason ...), then issue again "
            "for the next number"
        )


def credit_note(original: CommercialInvoice, number: IssuedNumber, reason: str) -> CommercialInvoice:
    """A credit note cancelling ``original`` in full: the same lines, tax and totals (positive, as EN 16931 type
    381 states them), its own number and date, and the original's number and date as the reference."""
    if original.kind is not DocumentKind.INVOICE:
        raise InvoiceError(f"{original.number} is a credit note: only an invoice can be credited")
    if not reason.strip():
        raise InvoiceError("a credit note must say why the invoice is corrected (e.g. wrong tax treatment)")
    note = replace(
        original, kind=DocumentKind.CREDIT_NOTE, number=number.text, issue_date=number.issue_date,
        due_date=number.issue_date, original_number=original.number, original_issue_date=original.issue_date,
        reason=reason.strip(),
    )
    check_net(note, original.net_total)
    return note


def issue_credit_note(
    original_number: str, directory: Directory, store: NumberStore, reason: str, *, issue_date: date | None = None
) -> CommercialInvoice:
    """Credit the invoice issued as ``original_number`` exactly as it was issued (from the record kept with its
    number, not recomputed with today's directory), under the next credit note number."""
    original = store.document_of(seller_key(directory), original_number)
    if original is None:
        raise InvoiceError(f"no invoice {original_number} was issued from this numbers file: check the number")
    issued = from_record(json.loads(original))
    if store.find(seller_key(directory), directory.credit_note_series, f"credit:{issued.number}") is not None:
        raise InvoiceError(f"{issued.number} is already credited: a credit note is issued once")
    credit_note(issued, IssuedNumber("", directory.credit_note_series, 1, "", issue_date or today()), reason)
    number = store.issue(seller_key(directory), directory.credit_note_series, f"credit:{issued.number}",
                         issue_date or today())
    note = credit_note(issued, number, reason)
    store.record(number, json.dumps(to_record(note), sort_keys=True))
    return note


# ---------------------------------------------------------------------- the record kept with each number


def _party(data: dict[str, Any]) -> Party:
    return Party(data["name"], tuple(data["address"]), data["postcode"], data["city"], data["country"],
                 data["vat_id"], data["email"])


def _party_record(party: Party) -> dict[str, Any]:
    return {"name": party.name, "address": list(party.address), "postcode": party.postcode, "city": party.city,
            "country": party.country, "vat_id": party.vat_id, "email": party.email}


def to_record(doc: CommercialInvoice) -> dict[str, Any]:
    """The document as plain JSON values, kept beside its number: what was issued, so a credit note can cancel
    exactly that even after the directory changed."""
    proof = doc.proof
    return {
        "kind": doc.kind.value, "number": doc.number, "issue_date": doc.issue_date.isoformat(),
        "due_date": doc.due_date.isoformat(), "seller": _party_record(doc.seller),
        "buyer": _party_record(doc.buyer), "iban": doc.iban, "bic": doc.bic, "currency": doc.currency,
        "lines": [
            {"position": ln.position, "instance_type": ln.instance_type, "type_name": ln.type_name,
             "charge": ln.charge.value, "quantity": ln.quantity, "unit_price": ln.unit_price, "per": ln.per,
             "net": ln.net, "tax": ln.tax}
            for ln in doc.lines
        ],
        "tax": {"treatment": doc.tax.rule.treatment.value, "rate": doc.tax.rule.rate, "reason": doc.tax.rule.reason,
                "category": doc.tax.category, "basis": doc.tax.basis, "tax": doc.tax.tax},
        "net_total": doc.net_total, "tax_total": doc.tax_total, "gross_total": doc.gross_total,
        "payment_terms_days": doc.payment_terms_days,
        "proof": {
            "canonical_hash": "0x" + proof.canonical_hash.hex(), "contract": proof.contract,
            "chain_id": proof.chain_id, "customer": proof.customer, "timeframe": proof.timeframe,
            "period_start": proof.period_start, "period_end": proof.period_end, "from_block": proof.from_block,
            "to_block": proof.to_block,
            "settlement_tx": None if proof.settlement_tx is None else "0x" + proof.settlement_tx.hex(),
        },
        "original_number": doc.original_number,
        "original_issue_date": None if doc.original_issue_date is None else doc.original_issue_date.isoformat(),
        "reason": doc.reason,
    }


def from_record(data: dict[str, Any]) -> CommercialInvoice:
    """The document :func:`to_record` kept (written by this module only, so read without second-guessing)."""
    tax = data["tax"]
    proof = data["proof"]
    doc = CommercialInvoice(
        kind=DocumentKind(data["kind"]), number=data["number"], issue_date=date.fromisoformat(data["issue_date"]),
        due_date=date.fromisoformat(data["due_date"]), seller=_party(data["seller"]), buyer=_party(data["buyer"]),
        iban=data["iban"], bic=data["bic"], currency=data["currency"],
        lines=tuple(
            CommercialLine(ln["position"], ln["instance_type"], ln["type_name"], Charge(ln["charge"]), ln["quantity"],
                           ln["unit_price"], ln["per"], ln["net"], ln["tax"])
            for ln in data["lines"]
        ),
        tax=TaxSubtotal(tax["category"], TaxRule(Treatment(tax["treatment"]), tax["rate"], tax["reason"]),
                        tax["basis"], tax["tax"]),
        net_total=data["net_total"], tax_total=data["tax_total"], gross_total=data["gross_total"],
        payment_terms_days=data["payment_terms_days"],
        proof=Proof(
            bytes.fromhex(proof["canonical_hash"][2:]), proof["contract"], proof["chain_id"], proof["customer"],
            proof["timeframe"], proof["period_start"], proof["period_end"], proof["from_block"], proof["to_block"],
            None if proof["settlement_tx"] is None else bytes.fromhex(proof["settlement_tx"][2:]),
        ),
        original_number=data["original_number"],
        original_issue_date=None if data["original_issue_date"] is None
        else date.fromisoformat(data["original_issue_date"]),
        reason=data["reason"],
    )
    check_net(doc, doc.net_total)
    return doc

