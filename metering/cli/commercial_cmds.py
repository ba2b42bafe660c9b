"""``metering invoice ... --commercial``, ``metering invoice number`` and ``metering invoice credit-note``.

The commercial invoice is written from the final canonical invoice that ``metering invoice`` computes; this module
holds everything else: checking the options and the directory before the chain is read (so a bad directory gives
its errors and no document, and takes no number), issuing the number, and writing PDF, Factur-X, XML or CSV.
Heavy imports (fpdf2, lxml, factur-x) wait until a document is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from metering.cli._common import JsonOpt, command, console, err_console, print_json
from metering.cli._flags import _hide_metavar as hide_help_metavar
from metering.errors import ConfigError

if TYPE_CHECKING:
    from metering.audit.invoice import Invoice
    from metering.business.commercial import CommercialInvoice
    from metering.business.directory import Directory
    from metering.business.numbering import NumberStore

__all__ = [
    "COMMERCIAL_FORMATS",
    "CommercialOpt",
    "CommercialPlan",
    "DirectoryOpt",
    "InvoiceCommand",
    "NumbersOpt",
    "SettlementOpt",
    "commercial_plan",
    "write_commercial",
]

COMMERCIAL_FORMATS = ("pdf", "facturx", "xml", "csv")
#: The numbers file next to the directory file, unless --numbers says otherwise.
DEFAULT_NUMBERS_NAME = "invoice-numbers.sqlite"

CommercialOpt = Annotated[
    bool,
    typer.Option("--commercial", help="Write the commercial invoice (number, names, tax) of the final invoice, "
                 "with --directory and --format pdf, facturx, xml or csv.", metavar=""),
]
DirectoryOpt = Annotated[
    Path | None,
    typer.Option("--directory", help="The provider's directory file (YAML): parties, type names, tax, terms.",
                 envvar="METERING_DIRECTORY", show_default=False),
]
NumbersOpt = Annotated[
    Path | None,
    typer.Option("--numbers", help=f"Invoice numbers file (SQLite; default: {DEFAULT_NUMBERS_NAME} beside the "
                 "directory file).", show_default=False),
]
SettlementOpt = Annotated[
    str | None,
    typer.Option("--settlement-tx", help="The transaction that settled the invoice on chain: states it as paid.",
                 show_default=False),
]


@dataclass(frozen=True)
class CommercialPlan:
    """What to write, checked before the chain is read: the directory, the numbers file, the format, the file."""

    directory: Directory
    numbers: Path
    fmt: str
    output: Path | None
    settlement_tx: bytes | None


def _settlement(text: str | None) -> bytes | None:
    if text is None:
        return None
    body = text[2:] if text.startswith("0x") else text
    if len(body) != 64 or not all(c in "0123456789abcdefABCDEF" for c in body):
        raise ConfigError(f"--settlement-tx must be a transaction hash (0x and 64 hex digits), not {text!r}")
    return bytes.fromhex(body)


def _numbers_path(directory_file: Path, numbers: Path | None) -> Path:
    return numbers if numbers is not None else directory_file.parent / DEFAULT_NUMBERS_NAME


def _load(directory_file: Path | None) -> Directory:
    from metering.business.directory import load_directory

    if directory_file is None:
        raise ConfigError("a commercial invoice needs the provider's directory: add --directory directory.yaml")
    return load_directory(directory_file)


def _format(fmt: str | None, output: Path | None) -> str:
    chosen = fmt or "pdf"
    if chosen not in COMMERCIAL_FORMATS:
        raise ConfigError(f"--commercial --format must be pdf, facturx, xml or csv, not {chosen!r}")
    if chosen in ("pdf", "facturx") and output is None:
        raise ConfigError(f"--format {chosen} writes a file: give it with -o invoice.pdf")
    return chosen


def commercial_plan(
    commercial: bool, directory: Path | None, numbers: Path | None, settlement_tx: str | None, fmt: str | None,
    output: Path | None, *, json_out: bool, as_of: str | None,
) -> CommercialPlan | None:
    """The checked plan of ``metering invoice --commercial``, or None without ``--commercial``.

    :raises ConfigError: an option that does not fit (checked before the directory is read).
    :raises DirectoryError: the directory has errors, one line each.
    """
    if not commercial:
        for flag, value in (("--directory", directory), ("--numbers", numbers), ("--settlement-tx", settlement_tx)):
            if value is not None:
                raise ConfigError(f"{flag} is for commercial invoices: add --commercial")
        return None
    if json_out:
        raise ConfigError("--commercial writes pdf, facturx, xml or csv: drop --json")
    if as_of is not None:
        raise ConfigError("a commercial invoice is issued for the final invoice only: drop --as-of")
    chosen = _format(fmt, output)
    paid = _settlement(settlement_tx)
    loaded = _load(directory)
    assert directory is not None
    return CommercialPlan(loaded, _numbers_path(directory, numbers), chosen, output, paid)


def _render(doc: CommercialInvoice, fmt: str) -> bytes:
    if fmt == "pdf":
        from metering.business.pdf import commercial_pdf

        return commercial_pdf(doc)
    if fmt == "facturx":
        from metering.business.facturx import facturx_pdf

        return facturx_pdf(doc)
    if fmt == "xml":
        from metering.business.cii import to_cii_xml

        return to_cii_xml(doc)
    from metering.business.csv_export import to_accounting_csv

    return to_accounting_csv([doc]).encode()


def _emit(doc: CommercialInvoice, fmt: str, output: Path | None) -> None:
    data = _render(doc, fmt)  # rendered (and the XML validated) before anything is written
    if output is None:
        typer.echo(data.decode(), nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    from metering.money import format_minor

    err_console.print(
        f"{doc.kind.heading.lower()} {doc.number} of {doc.buyer.name}: {format_minor(doc.gross_total, doc.currency)} "
        f"{doc.currency} (net {format_minor(doc.net_total, doc.currency)}) written to {output} ({fmt})"
    )


def write_commercial(plan: CommercialPlan, inv: Invoice) -> None:
    """Issue (or find) the number of ``inv`` and write its commercial invoice as the plan says."""
    from metering.business.commercial import issue_invoice
    from metering.business.numbering import NumberStore

    doc = issue_invoice(inv, plan.directory, NumberStore(plan.numbers), settlement_tx=plan.settlement_tx)
    _emit(doc, plan.fmt, plan.output)


# ---------------------------------------------------------------------- subcommands of `metering invoice`

invoice_subcommands = typer.Typer(no_args_is_help=True)


def _store(directory_file: Path, numbers: Path | None) -> NumberStore:
    from metering.business.numbering import NumberStore

    return NumberStore(_numbers_path(directory_file, numbers))


@invoice_subcommands.command("number")
@command
def number(
    directory: Annotated[Path, typer.Option("--directory", help="The provider's directory file (YAML).",
                                            envvar="METERING_DIRECTORY")],
    numbers: NumbersOpt = None,
    credit_notes: Annotated[
        bool, typer.Option("--credit-notes", help="The credit note series instead of the invoice series.",
                           metavar="")
    ] = False,
    reserve: Annotated[
        bool, typer.Option("--reserve", help="Take the next number for a document made elsewhere (recorded, never "
                           "reused).", metavar="")
    ] = False,
    note: Annotated[str, typer.Option("--note", help="What a reserved number is for.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Show the next invoice number of the directory's seller and series, or reserve it with --reserve."""
    from metering.business.commercial import seller_key, today
    from metering.business.numbering import format_number

    loaded = _load(directory)
    series = loaded.credit_note_series if credit_notes else loaded.series
    store = _store(directory, numbers)
    if reserve:
        issued = store.reserve(seller_key(loaded), series, today(), note)
        shown, verb = issued.text, "reserved"
    else:
        shown, verb = format_number(series, store.next_number(seller_key(loaded), series)), "next"
    if json_out:
        print_json({"seller": seller_key(loaded), "series": series, "number": shown, "reserved": reserve,
                    "numbers_file": str(store.path)})
    else:
        console.print(f"{verb}: {shown} (seller {seller_key(loaded)}, series {series}, {store.path})")


@invoice_subcommands.command("credit-note")
@command
def credit_note(
    original: Annotated[str, typer.Argument(help="The number of the invoice to credit, e.g. INV-000042.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is corrected, e.g. 'wrong tax treatment'.")],
    directory: Annotated[Path, typer.Option("--directory", help="The provider's directory file (YAML).",
                                            envvar="METERING_DIRECTORY")],
    numbers: NumbersOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="pdf, facturx, xml or csv (default pdf).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Cancel an issued invoice with a credit note referencing its number (an invoice is never edited); then
    issue the corrected invoice, which takes the next number."""
    from metering.business.commercial import issue_credit_note

    chosen = _format(fmt, output)
    loaded = _load(directory)
    note = issue_credit_note(original, loaded, _store(directory, numbers), reason)
    _emit(note, chosen, output)


class InvoiceCommand(TyperCommand):
    """``metering invoice`` that also answers ``metering invoice number`` and ``metering invoice credit-note``.

    ``invoice`` is a command with required options, so it cannot simply become a group; instead the first word
    picks the subcommand's context, which click then invokes (``sub_ctx.command.invoke``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["epilog"] = kwargs.get("epilog") or (
            "Also: metering invoice number (show or reserve the next invoice number); metering invoice credit-note "
            "NUMBER (cancel an issued invoice)."
        )
        super().__init__(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if args and args[0] in ("number", "credit-note"):
            group: Any = typer.main.get_command(invoice_subcommands)
            sub = group.commands[args[0]]
            hide_help_metavar(sub.get_help_option(typer.Context(sub)))  # --help is parsed in make_context
            return sub.make_context(f"{info_name} {args[0]}", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)
