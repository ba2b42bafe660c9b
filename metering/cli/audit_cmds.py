"""Commands for customers and auditors (and the provider's billing run): index, invoice, anchor, verify."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from metering.cli._common import (
    MAX_INVOICE_BYTES,
    ExitCode,
    chain_id_of,
    console,
    err_console,
    fitting_table,
    input_file,
    new_sender,
    output_file,
    print_json,
    signer,
    write_output,
)
from metering.cli._on_chain import OnChain, on_chain
from metering.cli.commercial_cmds import CommercialOpt, DirectoryOpt, NumbersOpt, SettlementOpt, commercial_plan
from metering.cli.settlement_cmds import SettlementOpt as SettlementContractOpt
from metering.cli.settlement_cmds import paid_note, settlement_check, show_settlement_check
from metering.errors import ConfigError, InvoiceError

if TYPE_CHECKING:
    from metering.audit.blocktime import BlockClock
    from metering.audit.indexer import IndexResult
    from metering.audit.invoice import Invoice, Line
    from metering.audit.store import Store
    from metering.audit.verify import VerificationReport

__all__ = ["anchor", "index", "invoice", "invoice_table", "parse_as_of", "report_table", "verify"]

_UNIT_NAMES = {1: "second", 60: "minute", 3_600: "hour", 86_400: "day"}


def money(amount: int, currency: str) -> str:
    """Minor units shown in the currency's major unit with its ISO 4217 decimals (integers only)."""
    from metering.money import format_minor

    return f"{format_minor(amount, currency)} {currency}"


def when(timestamp: int) -> str:
    """A block timestamp as UTC ISO 8601 (``2025-01-31T12:00:00Z``)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _unit_price(line: Line, currency: str) -> str:
    from metering.audit.invoice import Charge
    from metering.money import format_micro

    price = f"{format_micro(line.unit_price, currency)} {currency}"
    if line.charge is Charge.ACTIVATIONS:
        return f"{price} / activation"
    if line.charge is Charge.CONTINUATIONS:
        return f"{price} / continuation"
    return f"{price} / {_UNIT_NAMES.get(line.per, f'{line.per} s')}"


def invoice_table(inv: Invoice, names: dict[int, str] | None = None, customer: str | None = None) -> Table:
    """A person's view of an invoice: a row per charge of each instance type (a continuations row only when
    there were continuations), unit prices at full precision, amounts rounded as the document states."""
    from metering.audit.invoice import Charge

    cur = inv.currency
    who = customer or inv.customer
    if inv.final:
        title = f"invoice of {who}, timeframe {inv.timeframe.id} (final)"
    else:
        title = f"statement of {who}, timeframe {inv.timeframe.id}, as of {when(inv.as_of)} (running, not final)"
    caption = [f"total {money(inv.total, cur)}"]
    if not inv.final:
        caption.append(f"committed by open leases {money(inv.committed_total, cur)}")
    caption += [
        f"{inv.customer} · blocks {inv.evidence.from_block}-{inv.evidence.to_block} · "
        f"{len(inv.evidence.events)} events",
        f"amounts: billable x unit price, rounded down once per line to {money(1, cur)}",
    ]
    headers = ["type", "charge", "quantity", "included", "billable", "unit price", "amount"]
    if not inv.final:
        headers.append("committed")
    table = fitting_table(*headers, title=title, caption="\n".join(caption))
    for line in inv.lines:
        if line.charge is Charge.CONTINUATIONS and line.quantity == 0:
            continue
        label = (names or {}).get(line.instance_type, "")
        suffix = " s" if line.charge is Charge.SECONDS else ""
        overage = f" ({line.overage} overage)" if line.overage else ""
        row = [
            f"{line.instance_type} {label}".strip(),
            str(line.charge),
            f"{line.quantity}{suffix}{overage}",
            f"{line.included}{suffix}",
            f"{line.billable}{suffix}",
            _unit_price(line, cur),
            money(line.amount, cur),
        ]
        if not inv.final:
            row.append(f"{line.committed} s, {money(line.committed_amount, cur)}" if line.committed else "")
        table.add_row(*row)
    return table


def _show(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def report_table(report: VerificationReport) -> Table:
    table = Table(title=f"{len(report.differences)} difference(s)")
    for header in ("where", "chain says", "invoice says"):
        table.add_column(header, overflow="fold")
    for d in report.differences:
        table.add_row(Text(d.where), Text(_show(d.expected)), Text(_show(d.found)))
    return table


def parse_as_of(text: str) -> tuple[int | None, int | None]:
    """``--as-of``: a block number, or an ISO 8601 time with a time zone. Returns (block, timestamp), one set."""
    value = text.strip()
    if value.isdigit():
        return int(value), None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--as-of must be a block number or an ISO 8601 time such as 2025-01-31T12:00:00Z, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"--as-of {text!r} has no time zone: add one, e.g. Z for UTC")
    return None, int(moment.timestamp())


def _as_of_timestamp(clock: BlockClock, block: int | None, timestamp: int | None) -> int:
    if timestamp is not None:
        return timestamp
    assert block is not None
    head = clock.head()
    if block > head:
        raise ConfigError(f"--as-of block {block} is beyond the latest block {head}")
    return clock.timestamp(block)


@on_chain(indexes=True)
def index(on: OnChain) -> None:
    """Copy the contract's events into the SQLite event database (resumes where it stopped)."""
    with on.indexed(quiet=on.json, lean=True) as (store, result):
        if on.answer({"database": str(store.path), **{k: getattr(result, k) for k in (
                "from_block", "to_block", "head", "events", "requests", "refused", "reorgs", "dropped_events")}}):
            return
        console.print(
            f"indexed blocks {result.from_block}-{result.to_block} (head {result.head}): {result.events} new events "
            f"in {result.requests} requests, {result.reorgs} reorgs handled; database {store.path}"
        )


@on_chain(indexes=True)
def invoice(
    on: OnChain,
    customer: Annotated[str, typer.Option(help="Customer address.")],
    timeframe: Annotated[int, typer.Option(help="Timeframe id.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="table, json, csv or pdf (default: table, json with -o; pdf needs -o); "
                     "with --commercial: pdf, facturx, xml or csv."),
    ]
    = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="A running statement as of this block number or ISO 8601 time (e.g. 2025-01-31T12:00:00Z): "
            "seconds up to then, what open leases commit beyond. Default: the final invoice once the timeframe "
            "has ended, else a statement as of the latest indexed block.",
            show_default=False,
        ),
    ] = None,
    final: Annotated[
        bool, typer.Option("--final", help="Refuse anything but the final invoice.", metavar="")
    ] = False,
    commercial: CommercialOpt = False,
    directory: DirectoryOpt = None,
    numbers: NumbersOpt = None,
    settlement_tx: SettlementOpt = None,
    settlement: SettlementContractOpt = None,
) -> None:
    """Compute a customer's invoice (or a running statement) for a timeframe from the contract's events."""
    from metering.audit.billing import final_invoice, invoice_from_store, statement
    from metering.audit.blocktime import NodeClock
    from metering.audit.invoice import to_csv, to_json
    from metering.chain import checksum

    json_out = on.json
    if json_out and fmt not in (None, "json"):
        raise ConfigError(f"--json prints the invoice as JSON: drop --format {fmt}, or drop --json")
    plan = commercial_plan(commercial, directory, numbers, settlement_tx, fmt, output, json_out=json_out, as_of=as_of)
    chosen = "commercial" if plan else "json" if json_out else fmt or ("json" if output else "table")
    if not plan and chosen not in ("table", "json", "csv", "pdf"):
        raise ConfigError(f"--format must be table, json, csv or pdf, not {chosen!r}")
    if chosen == "table" and output:
        raise ConfigError("--format table prints to the terminal; use json, csv or pdf with -o")
    if chosen == "pdf" and not output:
        raise ConfigError("--format pdf writes a file: give it with -o invoice.pdf")
    if final and as_of is not None:
        raise ConfigError("--final and --as-of exclude each other: a statement as of a point in time is not final")
    point = parse_as_of(as_of) if as_of is not None else None
    customer = checksum(customer, what="customer")
    if output is not None:
        output_file(output)  # a missing folder, a folder, a file as folder: said now, not after indexing
    with on.indexed(lean=True) as (store, indexed):
        clock = NodeClock(on.node, store)
        if point is not None:
            inv = statement(store, customer, timeframe, clock, as_of=_as_of_timestamp(clock, *point))
            if inv.final:
                err_console.print(f"--as-of is at or after the end of timeframe {timeframe}: that is its final invoice")
        elif final or plan:
            inv = final_invoice(store, customer, timeframe, clock)
        else:
            inv = invoice_from_store(store, customer, timeframe, clock)
    _indexed_first(indexed, store, json_out)
    if plan:
        from metering.cli.commercial_cmds import write_commercial

        write_commercial(plan, inv)
        return
    if chosen == "table":
        console.print(invoice_table(inv))
        return
    if chosen == "pdf":
        from metering.audit.invoice_pdf import invoice_pdf

        assert output is not None
        paid = paid_note(on.rpc_url, settlement, inv)  # with --settlement: "paid" and its transaction
        write_output(output, invoice_pdf(inv, paid=paid))
        kind = "final invoice" if inv.final else f"running statement as of {when(inv.as_of)} (not final)"
        err_console.print(f"{kind} written to {output} (PDF; its canonical JSON is what verifies)")
        return
    text = to_json(inv).decode() if chosen == "json" else to_csv(inv)
    if output:
        write_output(output, (text + ("" if text.endswith("\n") else "\n")).encode("utf-8"))
        kind = "final invoice" if inv.final else f"running statement as of {when(inv.as_of)} (not final)"
        err_console.print(f"{kind} written to {output}")
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def _indexed_first(result: IndexResult, store: Store, quiet: bool) -> None:
    """Say that ``invoice`` brought the event database up to date first, so a later ``metering index`` finding
    nothing new does not look like a no-op."""
    if not quiet:
        err_console.print(f"indexed {result.events} new events first (blocks up to {result.to_block}, database "
                          f"{store.path})", highlight=False)


def _same_chain(node_chain: int, inv: Invoice, invoice_file: Path, rpc_url: str) -> None:
    """An invoice of one chain checked against a node (of chain ``node_chain``) of another would find nothing it
    expects: say so."""
    if inv.evidence.chain_id != node_chain:
        raise InvoiceError(f"{invoice_file} is an invoice of chain {inv.evidence.chain_id}, but the node at {rpc_url} "
                           f"is chain {node_chain}: use an RPC URL of chain {inv.evidence.chain_id}")


@on_chain(signs=True, indexes=True)
def anchor(
    on: OnChain,
    invoice_file: Annotated[Path, typer.Argument(help="Final invoice JSON file (from `metering invoice -o`).")],
    correct: Annotated[
        bool, typer.Option("--correct", help="Supersede an invoice already anchored (kept visible on chain).",
                           metavar="")
    ] = False,
    skip_verify: Annotated[
        bool,
        typer.Option("--skip-verify", help="Anchor without recomputing the invoice from the chain first.", metavar=""),
    ] = False,
) -> None:
    """Anchor a final invoice's keccak-256 hash and total on chain (after its timeframe ended).

    Refuses a running statement, an invoice of another contract or chain, a non-customer, and (unless
    --skip-verify) an invoice that does not match the chain.
    """
    from metering.audit.invoice import read_invoice
    from metering.provider.anchoring import anchor_invoice, check_anchorable

    as_written = read_invoice(input_file(invoice_file, MAX_INVOICE_BYTES, "invoice file"), check_hash=False)
    w3, address = on.w3, on.address
    # the wrong chain first: it explains any other mismatch
    _same_chain(chain_id_of(w3), as_written, invoice_file, on.rpc_url)
    inv = read_invoice(invoice_file)  # now with its hash checked: a changed file is never anchored
    check_anchorable(w3, address, inv)
    if not skip_verify:
        from metering.audit.verify import verify_invoice

        with on.indexed() as (store, _):
            report = verify_invoice(w3, address, store, invoice_file, confirmations=on.confirmations,
                                    require_final=True)
        wrong = [d for d in report.differences if not d.where.startswith("anchor")]
        if wrong:
            first = wrong[0]
            raise InvoiceError(
                f"{invoice_file} does not match the chain ({len(wrong)} differences; {first.where}: the chain says "
                f"{_show(first.expected)}, the invoice {_show(first.found)}): see `metering verify {invoice_file}`"
            )
    account = signer(on.keystore)
    done = anchor_invoice(w3, address, account, inv, correct=correct, sender=new_sender(w3, account))
    if on.answer({"customer": done.customer, "timeframe": done.timeframe, "invoice_hash": done.invoice_hash,
                  "total": done.total, "currency": inv.currency, "revision": done.revision, "tx_hash": done.tx_hash,
                  "changed": done.changed}):
        return
    if not done.changed:
        console.print(f"already anchored: 0x{done.invoice_hash.hex()}")
    else:
        console.print(
            f"anchored 0x{done.invoice_hash.hex()} (total {money(inv.total, inv.currency)}, revision {done.revision})"
        )


@on_chain(indexes=True)
def verify(
    on: OnChain,
    invoice_file: Annotated[Path, typer.Argument(help="Invoice JSON file to check.")],
    require_anchor: Annotated[
        bool, typer.Option("--require-anchor", help="Count a missing on-chain anchor, or a statement, as a difference.",
                           metavar="")
    ] = False,
    require_final: Annotated[
        bool, typer.Option("--require-final", help="Count a running statement as a difference.", metavar="")
    ] = False,
    settlement: SettlementContractOpt = None,
) -> None:
    """Recompute an invoice from the chain and compare it field by field, with the counters and the anchor.

    A final invoice is compared with the canonical one (block range, evidence, lines), a statement with the
    statement as of its time. Exits 1 when anything differs.
    """
    from metering.audit.invoice import read_invoice
    from metering.audit.verify import verify_invoice

    # read here only for its chain; its hash is not checked: a tampered file is a difference that verify reports
    # (exit 1), and a malformed one is reported by verify_invoice in its own words
    try:
        inv: Invoice | None = read_invoice(input_file(invoice_file, MAX_INVOICE_BYTES, "invoice file"),
                                           check_hash=False)
    except InvoiceError:
        inv = None
    if inv is not None:
        _same_chain(chain_id_of(on.node), inv, invoice_file, on.rpc_url)
    # a new database starts at the deployment block (or --from-block), not at block 0
    with on.indexed(lean=True) as (store, _):
        report = verify_invoice(on.node, on.address, store, invoice_file, confirmations=on.confirmations,
                                require_anchor=require_anchor, require_final=require_final)
    settled = settlement_check(on.rpc_url, settlement, invoice_file)  # with --settlement: against its payment
    kind = "final invoice" if report.recomputed.final else "statement"
    if on.json:
        print_json({
            "ok": report.ok, "customer": report.customer, "timeframe": report.timeframe,
            "invoice_hash": report.invoice_hash, "recomputed_hash": report.recomputed_hash,
            "anchor": report.anchor.name, "anchored_hash": report.anchored_hash,
            "differences": [{"where": d.where, "expected": d.expected, "found": d.found} for d in report.differences],
            "settlement": None if settled is None else {
                "settled": settled.event is not None, "differences": list(settled.differences),
                "tx": settled.event.tx_hash if settled.event else None},
        })
    elif report.ok:
        console.print(
            f"[green]verified[/]: {invoice_file} matches the chain ({kind}; anchor: {report.anchor.name.lower()})"
        )
    else:
        console.print(report_table(report))
        console.print(f"[red]NOT verified[/]: {invoice_file} (anchor: {report.anchor.name.lower()})")
    if not on.json:
        show_settlement_check(settled)
    if not report.ok or (settled is not None and not settled.ok):
        raise typer.Exit(int(ExitCode.DIFFERENCES))
