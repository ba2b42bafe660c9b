"""Settlement commands (issue 16): ``customer deposit/withdraw/balance``, ``settle``, ``provider payouts`` and the
provider's ``settlement deploy/token``. Heavy imports wait until a command runs.

Each command takes its node, Meter, signer and ``--json`` from :func:`~metering.cli._on_chain.on_chain` and declares
only its own options, among them ``--settlement`` (the Settlement contract, METERING_SETTLEMENT)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metering.cli._common import DbOpt, FromBlockOpt, console, open_store, sync_store
from metering.cli._on_chain import OnChain, on_chain

if TYPE_CHECKING:
    from metering.settlement import SettlementClient
    from metering.settlement.reads import SettlementReads
    from metering.settlement.types import Escrow

__all__ = [
    "customer_balance",
    "customer_deposit",
    "customer_withdraw",
    "provider_app",
    "settle",
    "settlement_app",
]

SettlementOpt = Annotated[
    str | None,
    typer.Option("--settlement", envvar="METERING_SETTLEMENT", help="Address of the Settlement contract.",
                 show_default=False),
]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="The escrow's currency (ISO 4217), e.g. EUR.")]
UnitsOpt = Annotated[
    bool, typer.Option("--units", help="AMOUNT is in token units, not in the currency.", metavar="")
]

provider_app = typer.Typer(help="The provider's view of settlements.", no_args_is_help=True)
settlement_app = typer.Typer(help="Deploy the Settlement contract and name a token per currency (provider).",
                             no_args_is_help=True)


def _client(on: OnChain, settlement: str | None, *, write: bool) -> SettlementClient:
    """The Settlement contract at ``settlement`` on ``on``'s node, signing with the command's key when ``write``."""
    from metering.errors import ConfigError
    from metering.settlement import SettlementClient

    if not settlement:
        raise ConfigError("no Settlement contract: give --settlement or set METERING_SETTLEMENT")
    w3 = on.w3
    return SettlementClient(w3, settlement, on.signer() if write else None)


def _reader(on: OnChain, settlement: str | None) -> SettlementReads:
    """The Settlement contract's reads at ``settlement`` over ``on``'s node, without web3 (issue 20)."""
    from metering.errors import ConfigError
    from metering.settlement.lean import LeanSettlement

    if not settlement:
        raise ConfigError("no Settlement contract: give --settlement or set METERING_SETTLEMENT")
    return LeanSettlement(on.node, settlement)


def _units(client: SettlementClient, amount: str, currency: str, raw_units: bool) -> int:
    from metering.errors import ConfigError
    from metering.money import parse_amount

    if raw_units:
        if not amount.isdigit():
            raise ConfigError(f"with --units, AMOUNT is a whole number of token units, not {amount!r}")
        return int(amount)
    return parse_amount(amount, currency) * client.currency_token(currency).units_per_minor


def _escrow_dict(e: Escrow) -> dict[str, Any]:
    if e.token is None:
        return {"customer": e.customer, "prepaid": False}
    return {"customer": e.customer, "prepaid": True, "since": e.since, "balance": e.amount(e.balance).as_dict(),
            "committed": e.amount(e.committed).as_dict(), "available": e.amount(e.available).as_dict()}


def _show_escrow(e: Escrow) -> None:
    if e.token is None:
        console.print(f"{e.customer}: postpaid (never deposited)", highlight=False)
        return
    console.print(f"{e.customer}: balance {e.amount(e.balance)}, committed {e.amount(e.committed)}, "
                  f"available {e.amount(e.available)}", highlight=False)


def _answer_escrow(on: OnChain, moved: Any, escrow: Escrow, tx: str, *, key: str, verb: str) -> None:
    """The ending of ``deposit`` and ``withdraw``: what moved (JSON ``key``, text ``verb``), the escrow after it,
    and the transaction."""
    if on.answer({key: moved.as_dict(), "escrow": _escrow_dict(escrow), "tx": tx}):
        return
    console.print(f"{verb} {moved}  tx {tx}", highlight=False)
    _show_escrow(escrow)


@on_chain(signs=True, meter=False)
def customer_deposit(
    on: OnChain,
    amount: Annotated[str, typer.Argument(help="How much, in the currency (e.g. 25.00), or in token units.")],
    currency: CurrencyOpt,
    units: UnitsOpt = False,
    settlement: SettlementOpt = None,
) -> None:
    """As the customer: deposit into your escrow. The first deposit makes you prepaid: from then on agents are
    granted only what your deposit covers, and each ended timeframe is settled from it."""
    client = _client(on, settlement, write=True)
    paid, escrow, tx = client.deposit(currency, _units(client, amount, currency, units))
    _answer_escrow(on, paid, escrow, tx, key="deposited", verb="deposited")


@on_chain(signs=True, meter=False)
def customer_withdraw(
    on: OnChain,
    amount: Annotated[str | None, typer.Argument(help="How much (default: everything available).")] = None,
    units: UnitsOpt = False,
    settlement: SettlementOpt = None,
) -> None:
    """As the customer: withdraw what no granted, unsettled usage holds."""
    client = _client(on, settlement, write=True)
    wanted = None
    if amount is not None:
        mine = client.escrow(client.sender.address)
        if mine.token is None:
            from metering.errors import ConfigError

            raise ConfigError(f"{mine.customer} never deposited: there is nothing to withdraw")
        wanted = _units(client, amount, mine.token.currency, units)
    taken, escrow, tx = client.withdraw(wanted)
    _answer_escrow(on, taken, escrow, tx, key="withdrawn", verb="withdrew")


@on_chain(meter=False)
def customer_balance(
    on: OnChain,
    customer: Annotated[str, typer.Argument(help="Customer address.")],
    settlement: SettlementOpt = None,
) -> None:
    """Show a customer's escrow: balance, what granted usage holds, what it may withdraw."""
    escrow = _reader(on, settlement).escrow(customer)
    if on.answer(_escrow_dict(escrow)):
        return
    _show_escrow(escrow)


@on_chain(signs=True)
def settle(
    on: OnChain,
    customers: Annotated[list[str] | None, typer.Argument(help="Customers to settle (default: with --all).")] = None,
    timeframe: Annotated[int, typer.Option("--timeframe", "-t", help="The ended timeframe to settle.")] = 0,
    all_customers: Annotated[
        bool, typer.Option("--all", help="Every enrolled customer (the postpaid ones are skipped).", metavar="")
    ] = False,
    batch: Annotated[int, typer.Option(help="Customers per transaction.")] = 100,
    settlement: SettlementOpt = None,
    db: DbOpt = None,
    from_block: FromBlockOpt = None,
) -> None:
    """Settle ended timeframes from escrow (anyone may): the contract pays each final invoice's total.

    The contract computes each canonical final invoice's total from its own counters and the frozen rules, pays it
    to the provider and releases the rest of the customer's commitment."""
    from metering.errors import ConfigError

    if timeframe <= 0:
        raise ConfigError("give the ended timeframe to settle: --timeframe N")
    if bool(customers) == all_customers:
        raise ConfigError("give customer addresses, or --all (not both)")
    client = _client(on, settlement, write=True)
    if all_customers:
        targets = _enrolled(on, db, from_block)
        events = client.settle_many(targets, timeframe, batch=batch)
    elif customers and len(customers) == 1:
        events = [client.settle(customers[0], timeframe)]
    else:
        events = client.settle_many(customers or [], timeframe, batch=batch)
    rows = [_settled_dict(client, e) for e in events]
    if on.answer(rows):
        return
    for row in rows:
        console.print(f"{row['customer']} timeframe {row['timeframe']}: paid {row['paid_text']} to {row['payee']}"
                      f"  tx {row['tx']}", highlight=False)
    console.print(f"[dim]{len(rows)} settlement(s)[/]", highlight=False)


def _enrolled(on: OnChain, db: str | None, from_block: int | None) -> list[str]:
    """Every customer the Meter enrolled, from the event database brought up to date (quiet with ``--json``).

    ``settle`` has ``--db`` and ``--from-block`` but no ``--confirmations``, so it reads the database itself
    rather than through :meth:`OnChain.indexed`."""
    from metering.audit.events import CustomerEnrolled

    w3 = on.w3
    address = on.address
    with open_store(w3, address, db) as store:
        sync_store(w3, address, store, quiet=on.json, from_block=from_block)
        return sorted({e.customer for e in store.events(names=[CustomerEnrolled.name])
                       if isinstance(e, CustomerEnrolled)})


def _settled_dict(client: SettlementReads, e: Any) -> dict[str, Any]:
    from metering.money import format_minor

    paid = client.currency_token(e.currency).amount(e.tokens) if e.token is not None else None
    return {
        "customer": e.customer, "timeframe": e.timeframe, "currency": e.currency,
        "amount": format_minor(e.amount, e.currency), "amount_minor": e.amount,
        "paid": paid.as_dict() if paid else None,
        "paid_text": str(paid) if paid else f"nothing ({e.currency} is not the escrow's currency: released unpaid)",
        "payee": e.payee, "invoice_hash": "0x" + e.invoice_hash.hex() if e.invoice_hash else None,
        "settled_by": e.settled_by, "tx": e.tx_hash, "block": e.block_number,
    }


@provider_app.command("payouts")
@on_chain(meter=False)
def provider_payouts(
    on: OnChain,
    timeframe: Annotated[int | None, typer.Option("--timeframe", "-t", help="Only this timeframe.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.", show_default=False)] = None,
    from_block: FromBlockOpt = None,
    settlement: SettlementOpt = None,
) -> None:
    """What settlements paid the provider, per customer and timeframe, with the totals per currency and token."""
    from metering.settlement.payouts import payouts, totals

    client = _reader(on, settlement)
    items = payouts(client, from_block=from_block or 0, timeframe=timeframe, customer=customer)
    rows = [_settled_dict(client, p.event) for p in items]
    sums = totals(items)
    if on.answer({"payouts": rows, "totals": {c: t.as_dict() for c, t in sums.items()}}):
        return
    for row in rows:
        console.print(f"timeframe {row['timeframe']}  {row['customer']}  {row['paid_text']}  tx {row['tx']}",
                      highlight=False)
    for currency, total in sums.items():
        console.print(f"total {currency}: {total}", highlight=False)
    if not rows:
        console.print("[dim]no settlement yet[/]", highlight=False)


@settlement_app.command("deploy")
@on_chain(signs=True)
def settlement_deploy(
    on: OnChain,
    payee: Annotated[str | None, typer.Option(help="Where payouts go (default: the signer).", show_default=False)]
    = None,
) -> None:
    """As the Meter's admin: deploy the Settlement contract beside the Meter and grant it the settlement role."""
    from metering.settlement.deploy import deploy_settlement

    w3 = on.w3
    admin = on.signer()
    address = deploy_settlement(w3, admin, on.address, payee or admin.address)
    if on.answer({"settlement": address}):
        return
    console.print(f"settlement {address} (export METERING_SETTLEMENT={address})", highlight=False)


@settlement_app.command("token")
@on_chain(signs=True, json=False, meter=False)
def settlement_token(
    on: OnChain,
    currency: Annotated[str, typer.Argument(help="ISO 4217 currency, e.g. EUR.")],
    token: Annotated[str, typer.Argument(help="The ERC-20 token's address.")],
    units_per_minor: Annotated[int, typer.Argument(help="Token units per minor unit (6-decimal token, EUR: 10000).")],
    settlement: SettlementOpt = None,
) -> None:
    """As the provider: name the token of a currency (once; it never changes, balances are held in it)."""
    client = _client(on, settlement, write=True)
    tx = client.set_currency_token(currency, token, units_per_minor)
    console.print(f"{currency.upper()}: {client.currency_token(currency).symbol} at {token}, {units_per_minor} "
                  f"units per minor unit  tx {tx}", highlight=False)


def settlement_check(rpc_url: str, settlement: str | None, invoice_file: Path) -> Any:
    """For ``verify --settlement``: the invoice file against its (customer, timeframe)'s ``Settled`` event, or None
    when no Settlement contract was given. Returns a :class:`metering.settlement.check.SettlementCheck`."""
    if not settlement:
        return None
    from metering.audit.invoice import read_invoice
    from metering.settlement.check import check_settlement

    return check_settlement(read_invoice(invoice_file), _reader(OnChain(rpc_url=rpc_url), settlement))


def show_settlement_check(check: Any) -> None:
    """One line per finding of :func:`settlement_check` (nothing when it was not asked for)."""
    if check is None:
        return
    if check.event is None:
        console.print("settlement: not settled on chain yet", highlight=False)
    elif check.ok:
        console.print(f"[green]settled[/]: the contract paid exactly this invoice's total  tx {check.event.tx_hash}",
                      highlight=False)
    for difference in check.differences:
        console.print(f"[red]{difference}[/]", highlight=False)


def paid_note(rpc_url: str, settlement: str | None, invoice: Any) -> str | None:
    """For ``invoice --format pdf --settlement``: the PDF's "paid" line when the contract settled this final
    invoice for exactly its total, else None (not settled yet, or not asked)."""
    if not settlement or not invoice.final:
        return None
    from metering.errors import InvoiceError
    from metering.settlement.check import check_settlement

    client = _reader(OnChain(rpc_url=rpc_url), settlement)
    check = check_settlement(invoice, client)
    if check.event is None:
        return None
    if not check.ok:
        raise InvoiceError("the settlement on chain does not match this invoice: " + "; ".join(check.differences))
    e = check.event
    paid = client.currency_token(e.currency).amount(e.tokens)
    return (f"{paid} settled on chain to {e.payee} by the Settlement contract {client.address}, "
            f"transaction {e.tx_hash} (block {e.block_number})")
