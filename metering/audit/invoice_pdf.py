"""The invoice as a PDF a customer can file: lines, totals, rules hashes, a chart of what it is made of, and how to
verify it yourself.

The PDF is a rendering, not the evidence: the canonical JSON is. So the PDF prints the JSON's keccak-256 hash and
the one command that recomputes the invoice from the chain and compares it, with the contract's address. Drawn
with fpdf2 (pure Python, maintained) and its built-in Helvetica, so nothing is fetched and no font file is needed;
text stays Latin-1 (no arrows or ellipses) for that reason.

>>> Path("invoice.pdf").write_bytes(invoice_pdf(inv))     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from metering.audit.invoice import Charge, Invoice, invoice_hash, rounding_rule
from metering.money import format_micro, format_minor

__all__ = ["invoice_pdf", "rpc_placeholder"]

_BAR_COLOURS = [(36, 87, 197), (15, 123, 61), (161, 92, 0), (107, 114, 128), (180, 35, 24)]


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _per(seconds: int) -> str:
    for size, name in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds == size:
            return name
        if seconds % size == 0:
            return f"{seconds // size} {name}s"
    return "second" if seconds == 1 else f"{seconds} seconds"


def rpc_placeholder(chain_id: int) -> str:
    """What a document prints where a node's RPC URL goes: the reader's own node of that chain."""
    return f"<RPC URL of a chain {chain_id} node>"


def invoice_pdf(
    inv: Invoice,
    *,
    type_names: Mapping[int, str] | None = None,
    paid: str | None = None,
) -> bytes:
    """The PDF bytes of ``inv`` (a final invoice or a running statement, which says so on its face). ``paid``
    says how it was paid (the settlement's amount, token and transaction) when the contract settled it.

    Its "verify it yourself" command names the contract and the chain id with a placeholder for the node
    (:func:`rpc_placeholder`), never the RPC URL the document was made with: provider URLs carry API keys in their
    path or query, and a document is sent to customers."""
    from fpdf import FPDF

    names = dict(type_names or {})
    currency = inv.timeframe.currency
    digest = "0x" + invoice_hash(inv).hex()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"Invoice {inv.customer} timeframe {inv.timeframe.id}")
    pdf.set_creator("metering")
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Invoice" if inv.final else "Running statement (not final)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    facts = [
        ("Customer", inv.customer),
        ("Timeframe", f"{inv.timeframe.id}: {_when(inv.timeframe.start)} to {_when(inv.timeframe.end)}"),
        ("As of", _when(inv.as_of) + ("" if inv.final else " (bills what ran up to then)")),
        ("Contract", f"{inv.evidence.contract} on chain {inv.evidence.chain_id}"),
        ("Evidence", f"blocks {inv.evidence.from_block} to {inv.evidence.to_block}, "
                     f"{len(inv.evidence.events)} events"),
        ("Currency", f"{currency}; {rounding_rule(currency)}"),
    ]
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(24, 5, label)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(3)

    headers = ["Type", "Charge", "Quantity", "Included", "Billable", "Unit price", "Amount", "Rules hash"]
    widths = [28, 24, 20, 18, 20, 34, 22, 24]
    pdf.set_font("Helvetica", "B", 8)
    pdf.set_fill_color(238, 241, 246)
    for header, width in zip(headers, widths, strict=True):
        pdf.cell(width, 6, header, border="B", fill=True, align="R" if header in ("Quantity", "Included",
                 "Billable", "Amount") else "L")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for line in inv.lines:
        unit = "s" if line.charge == Charge.SECONDS else ""
        price = f"{format_micro(line.unit_price, currency)} {currency}"
        if line.charge == Charge.SECONDS:
            price += f" / {_per(line.per)}"
        charge = str(line.charge) + (f" ({line.overage} overage)" if line.overage else "")
        cells = [
            f"{line.instance_type} {names.get(line.instance_type, '')}".strip(),
            charge,
            f"{line.quantity}{unit}",
            f"{line.included}{unit}",
            f"{line.billable}{unit}",
            price,
            f"{format_minor(line.amount, currency)} {currency}",
            "0x" + line.rules_hash.hex()[:8] + "...",
        ]
        for k, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            pdf.cell(width, 5, cell, border="B", align="R" if k in (2, 3, 4, 6) else "L")
        pdf.ln()
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(sum(widths[:6]), 8, "Total", align="R")
    pdf.cell(widths[6], 8, f"{format_minor(inv.total, currency)} {currency}", align="R")
    pdf.ln()
    if not inv.final:
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(sum(widths[:6]), 5, "Committed by open leases beyond this point", align="R")
        pdf.cell(widths[6], 5, f"{format_minor(inv.committed_total, currency)} {currency}", align="R")
        pdf.ln()
    if paid is not None:
        pdf.set_font("Helvetica", "B", 11)
        pdf.set_text_color(15, 123, 61)
        pdf.multi_cell(0, 6, "PAID: " + paid, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    _composition_chart(pdf, inv, names)

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Verify it yourself", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, (
        "This document renders the canonical JSON invoice whose keccak-256 hash is " + digest + ". Anyone can "
        "recompute it from the contract's events on the chain, with nothing from the provider but the JSON file, "
        "and compare it line by line, with the on-chain usage counters and with the hash the provider anchored "
        "on chain:"
    ), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("Courier", "", 8)
    pdf.multi_cell(0, 4.5, (
        f"metering verify invoice.json --rpc-url {rpc_placeholder(inv.evidence.chain_id)} "
        f"--contract {inv.evidence.contract}"
        + (" --require-anchor" if inv.final else "")
    ), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, (
        "Each line names the hash of the rules it was priced under; the rules are frozen on chain from the "
        "timeframe's start."
    ), new_x="LMARGIN", new_y="NEXT", align="L")
    return bytes(pdf.output())


def _composition_chart(pdf: object, inv: Invoice, names: Mapping[int, str]) -> None:
    """Horizontal bars: what each type and charge adds to the total (the usage that is billed)."""
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    parts = [line for line in inv.lines if line.amount > 0]
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "What the total is made of", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    if not parts:
        pdf.cell(0, 5, "Nothing billable: all usage is within the included quotas.", new_x="LMARGIN", new_y="NEXT")
        return
    largest = max(line.amount for line in parts)
    left, label_width, bar_max = pdf.l_margin, 55, 100
    for k, line in enumerate(parts):
        y = pdf.get_y()
        label = f"{line.instance_type} {names.get(line.instance_type, '')} {line.charge}".strip()
        pdf.set_xy(left, y)
        pdf.cell(label_width, 5, label)
        width = max(0.5, bar_max * line.amount / largest)
        pdf.set_fill_color(*_BAR_COLOURS[k % len(_BAR_COLOURS)])
        pdf.rect(left + label_width, y + 0.8, width, 3.4, style="F")
        pdf.set_xy(left + label_width + width + 2, y)
        pdf.cell(30, 5, f"{format_minor(line.amount, inv.timeframe.currency)} {inv.timeframe.currency}")
        pdf.ln(6)
