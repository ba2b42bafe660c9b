"""Commands for customers and auditors (and the provider's billing run): index, invoice, anchor, verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ContractOpt,
    DbOpt,
    ExitCode,
    JsonOpt,
    KeystoreOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    err_console,
    open_store,
    print_json,
    require_contract,
    signer,
    sync_store,
)
from metering.errors import ConfigError

if TYPE_CHECKING:
    from metering.invoice import Invoice
    from metering.verify import VerificationReport

__all__ = ["anchor", "index", "invoice", "invoice_table", "report_table", "verify"]

ConfirmationsOpt = Annotated[
    int, typer.Option(help="Index only blocks this deep (0 on a local chain; more on a public one).", min=0)
]


def money(amount: int, currency: str) -> str:
    """Minor units shown as a decimal amount (2 decimals), computed with integers only."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency}"


def invoice_table(inv: Invoice, names: dict[int, str] | None = None, customer: str | None = None) -> Table:
    """A person's view of an invoice: one row per instance type, amounts in the timeframe's currency."""
    state = "final" if inv.final else "running statement"
    cur = inv.currency
    table = Table(
        "type", "activations", "billed", "seconds", "billed", "amount",
        title=f"invoice of {customer or inv.customer}, timeframe {inv.timeframe.id} ({state})",
        caption=f"total {money(inv.total, cur)} · {inv.customer} · blocks {inv.evidence.from_block}-"
        f"{inv.evidence.to_block} · {len(inv.evidence.events)} events",
    )
    for line in inv.lines:
        label = (names or {}).get(line.instance_type, "")
        overage = f" ({line.overage_activations} overage)" if line.overage_activations else ""
        table.add_row(
            f"{line.instance_type} {label}".strip(),
            f"{line.activations}{overage}",
            f"{line.billable_activations} x {money(line.price_per_activation, cur)}",
            str(line.seconds),
            f"{line.billable_seconds} x {money(line.price_per_second, cur)}",
            money(line.total, cur),
        )
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


@command
def index(
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    confirmations: ConfirmationsOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Copy the contract's events into the SQLite event database (resumes where it stopped)."""
    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        result = sync_store(w3, address, store, confirmations, quiet=json_out)
        if json_out:
            print_json({"database": str(store.path), **{k: getattr(result, k) for k in (
                "from_block", "to_block", "head", "events", "requests", "refused", "reorgs", "dropped_events")}})
            return
        console.print(
            f"indexed blocks {result.from_block}-{result.to_block} (head {result.head}): {result.events} new events "
            f"in {result.requests} requests, {result.reorgs} reorgs handled; database {store.path}"
        )


@command
def invoice(
    customer: Annotated[str, typer.Option(help="Customer address.")],
    timeframe: Annotated[int, typer.Option(help="Timeframe id.")],
    fmt: Annotated[str | None, typer.Option("--format", help="table, json or csv (default: table, json with -o).")]
    = None,
    json_out: JsonOpt = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    to_block: Annotated[int | None, typer.Option(help="Last block to count (default: all indexed).")] = None,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    confirmations: ConfirmationsOpt = 0,
) -> None:
    """Compute a customer's invoice for a timeframe from the contract's events (indexing first)."""
    from metering.chain import checksum
    from metering.invoice import invoice_from_store, to_csv, to_json

    if json_out and fmt not in (None, "json"):
        raise ConfigError(f"--json prints the invoice as JSON: drop --format {fmt}, or drop --json")
    chosen = "json" if json_out else fmt or ("json" if output else "table")
    if chosen not in ("table", "json", "csv"):
        raise ConfigError(f"--format must be table, json or csv, not {chosen!r}")
    customer = checksum(customer, what="customer")
    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        sync_store(w3, address, store, confirmations, quiet=True)
        inv = invoice_from_store(store, customer, timeframe, to_block=to_block)
    if chosen == "table":
        if output:
            raise ConfigError("--format table prints to the terminal; use json or csv with -o")
        console.print(invoice_table(inv))
        return
    text = to_json(inv).decode() if chosen == "json" else to_csv(inv)
    if output:
        try:
            output.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        except OSError as exc:  # e.g. a missing directory: say which path, not a traceback
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
        err_console.print(f"invoice written to {output}")
    else:
        typer.echo(text, nl=not text.endswith("\n"))


@command
def anchor(
    invoice_file: Annotated[Path, typer.Argument(help="Invoice JSON file (from `metering invoice -o`).")],
    correct: Annotated[
        bool, typer.Option("--correct", help="Supersede an invoice already anchored (kept visible on chain).",
                           metavar="")
    ] = False,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Anchor an invoice's keccak-256 hash and total on chain (after its timeframe ended)."""
    from metering.invoice import invoice_hash, read_invoice
    from metering.provider import Provider

    inv = read_invoice(invoice_file)
    digest = invoice_hash(inv)
    provider = Provider(connect(rpc_url), require_contract(contract), signer(keystore))
    current = provider.invoice_anchor(inv.customer, inv.timeframe.id)
    if current is not None and current.invoice_hash == digest:
        result = {"customer": inv.customer, "timeframe": inv.timeframe.id, "invoice_hash": digest, "changed": False}
        print_json(result) if json_out else console.print(f"already anchored: 0x{digest.hex()}")
        return
    if current is not None and not correct:
        raise ConfigError(
            f"another invoice (0x{current.invoice_hash.hex()}) is anchored for {inv.customer} in timeframe "
            f"{inv.timeframe.id}: pass --correct to supersede it"
        )
    action = provider.correct_invoice if current is not None else provider.anchor_invoice
    done = action(inv.customer, inv.timeframe.id, digest, inv.total)
    if json_out:
        print_json({"customer": done.customer, "timeframe": done.timeframe, "invoice_hash": done.invoice_hash,
                    "total": done.total, "revision": done.revision, "tx_hash": done.tx_hash, "changed": True})
    else:
        console.print(f"anchored 0x{digest.hex()} (total {money(inv.total, inv.currency)}, revision {done.revision})")


@command
def verify(
    invoice_file: Annotated[Path, typer.Argument(help="Invoice JSON file to check.")],
    require_anchor: Annotated[
        bool, typer.Option("--require-anchor", help="Count a missing on-chain anchor as a difference.", metavar="")
    ] = False,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    confirmations: ConfirmationsOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Recompute an invoice from the chain and compare it line by line, with the counters and the anchor.

    Exits 1 when anything differs.
    """
    from metering.verify import verify_invoice

    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        report = verify_invoice(w3, address, store, invoice_file, confirmations=confirmations,
                                require_anchor=require_anchor)
    if json_out:
        print_json({
            "ok": report.ok, "customer": report.customer, "timeframe": report.timeframe,
            "invoice_hash": report.invoice_hash, "recomputed_hash": report.recomputed_hash,
            "anchor": report.anchor.name, "anchored_hash": report.anchored_hash,
            "differences": [{"where": d.where, "expected": d.expected, "found": d.found} for d in report.differences],
        })
    elif report.ok:
        console.print(f"[green]verified[/]: {invoice_file} matches the chain (anchor: {report.anchor.name.lower()})")
    else:
        console.print(report_table(report))
        console.print(f"[red]NOT verified[/]: {invoice_file} (anchor: {report.anchor.name.lower()})")
    if not report.ok:
        raise typer.Exit(int(ExitCode.DIFFERENCES))
