"""The commercial invoice as CSV rows for accounting imports: one row per line, amounts in the currency's major
unit with its decimals, and the document's header repeated on each row so any row can be booked alone.

The last row of a document is its total (``line`` = ``total``), so an import can check it summed the lines right.
Tax per line is filled when the directory rounds tax per line; when it rounds on the total, the total row carries
the tax and line rows leave it empty rather than show a number that was never rounded.

Text that a spreadsheet would run as a formula (a name starting with ``=``, ``+``, ``-`` or ``@``, which whoever
types a customer's self-declared name into the directory could pass on) is prefixed with an apostrophe, the usual
guard against CSV formula injection; amounts never start with one of those.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from metering.business.commercial import CommercialInvoice
from metering.money import format_micro, format_minor

__all__ = ["CSV_COLUMNS", "to_accounting_csv"]

CSV_COLUMNS = (
    "document_type", "number", "issue_date", "due_date", "credits_number", "seller_vat_id", "buyer_name",
    "buyer_vat_id", "buyer_country", "customer_address", "line", "description", "quantity", "unit", "unit_price",
    "price_per", "net", "vat_category", "vat_rate", "vat", "gross", "currency", "canonical_hash", "chain_id",
    "contract", "settlement_tx",
)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Text as a spreadsheet will show it, never as a formula it would run."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def to_accounting_csv(documents: Iterable[CommercialInvoice]) -> str:
    """CSV text with a header row, then each document's lines and its total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for doc in documents:
        cur = doc.currency
        proof = doc.proof
        header = {
            "document_type": doc.kind.value, "number": doc.number, "issue_date": doc.issue_date.isoformat(),
            "due_date": doc.due_date.isoformat(), "credits_number": doc.original_number or "",
            "seller_vat_id": doc.seller.vat_id or "", "buyer_name": _text(doc.buyer.name),
            "buyer_vat_id": doc.buyer.vat_id or "", "buyer_country": doc.buyer.country,
            "customer_address": proof.customer,
            "vat_category": doc.tax.category, "vat_rate": doc.tax.rule.rate_text, "currency": cur,
            "canonical_hash": "0x" + proof.canonical_hash.hex(), "chain_id": str(proof.chain_id),
            "contract": proof.contract,
            "settlement_tx": "" if proof.settlement_tx is None else "0x" + proof.settlement_tx.hex(),
        }
        for line in doc.lines:
            row = {
                **header, "line": str(line.position), "description": _text(line.description),
                "quantity": str(line.quantity), "unit": line.unit_code,
                "unit_price": format_micro(line.unit_price, cur),
                "price_per": str(line.per), "net": format_minor(line.net, cur),
                "vat": "" if line.tax is None else format_minor(line.tax, cur),
                "gross": "" if line.tax is None else format_minor(line.net + line.tax, cur),
            }
            writer.writerow([row.get(column, "") for column in CSV_COLUMNS])
        total = {**header, "line": "total", "net": format_minor(doc.net_total, cur),
                 "vat": format_minor(doc.tax_total, cur), "gross": format_minor(doc.gross_total, cur)}
        writer.writerow([total.get(column, "") for column in CSV_COLUMNS])
    return out.getvalue()
