"""Settlement commands (issue 16): ``customer deposit/withdraw/balance``, ``settle``, ``provider payouts`` and the
provider's ``settlement deploy/token``. Heavy imports wait until a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ContractOpt,
    DbOpt,
    FromBlockOpt,
    JsonOpt,
    KeystoreOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    print_json,
    require_contract,
    signer,
)

if TYPE_CHECKING:
    from metering.settlement import SettlementClient
    from metering.settlement.client import Escrow

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


def _client(rpc_url: str, settlement: str | None, keystore: Path | None, *, write: bool) -> SettlementClient:
    from metering.errors import ConfigError
    from metering.settlement import SettlementClient

    if not settlement:
        raise ConfigError("no Settlement contract: give --settlement or set METERING_SETTLEMENT")
    w3 = connect(rpc_url)
    return SettlementClient(w3, settlement, signer(keystore) if write else None)


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


@command
def customer_deposit(
    amount: Annotated[str, typer.Argument(help="How much, in the currency (e.g. 25.00), or in token units.")],
    currency: CurrencyOpt,
    units: UnitsOpt = False,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    settlement: SettlementOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """As the customer: deposit into your escrow. The first deposit makes you prepaid: from then on agents are
    granted only what your deposit covers, and each ended timeframe is settled from it."""
    client = _client(rpc_url, settlement, keystore, write=True)
    paid, escrow, tx = client.deposit(currency, _units(client, amount, currency, units))
    if json_out:
        print_json({"deposited": paid.as_dict(), "escrow": _escrow_dict(escrow), "tx": tx})
        return
    console.print(f"deposited {paid}  tx {tx}", highlight=False)
    _show_escrow(escrow)


@command
def customer_withdraw(
    amount: Annotated[str | None, typer.Argument(help="How much (default: everything available).")] = None,
    units: UnitsOpt = False,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    settlement: SettlementOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """As the customer: withdraw what no granted, unsettled usage holds."""
    client = _client(rpc_url, settlement, keystore, write=True)
    wanted = None
    if amount is not None:
        mine = client.escrow(client.sender.address)
        if mine.token is None:
            from metering.errors import ConfigError

            raise ConfigError(f"{mine.customer} never deposited: there is nothing to withdraw")
        wanted = _units(client, amount, mine.token.currency, units)
    taken, escrow, tx = client.withdraw(wanted)
    if json_out:
        print_json({"withdrawn": taken.as_dict(), "escrow": _escrow_dict(escrow), "tx": tx})
        return
    console.print(f"withdrew {taken}  tx {tx}", highlight=False)
    _show_escrow(escrow)


@command
def customer_balance(
    customer: Annotated[str, typer.Argument(help="Customer address.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    settlement: SettlementOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a customer's escrow: balance, what granted usage holds, what it may withdraw."""
    escrow = _client(rpc_url, settlement, None, write=False).escrow(customer)
    if json_out:
        print_json(_escrow_dict(escrow))
        return
    _show_escrow(escrow)


@command
def settle(
    customers: Annotated[list[str] | None, typer.Argument(help="Customers to settle (default: with --all).")] = None,
    timeframe: Annotated[int, typer.Option("--timeframe", "-t", help="The ended timeframe to settle.")] = 0,
    all_customers: Annotated[
        bool, typer.Option("--all", help="Every enrolled customer (the postpaid ones are skipped).", metavar="")
    ] = False,
    batch: Annotated[int, typer.Option(help="Customers per transaction.")] = 100,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    settlement: SettlementOpt = None,
    keystore: KeystoreOpt = None,
    db: DbOpt = None,
    from_block: FromBlockOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Settle ended timeframes from escrow (anyone may): the contract pays each final invoice's total.

    The contract computes each canonical final invoice's total from its own counters and the frozen rules, pays it
    to the provider and releases the rest of the customer's commitment."""
    from metering.errors import ConfigError

    if timeframe <= 0:
        raise ConfigError("give the ended timeframe to settle: --timeframe N")
    if bool(customers) == all_customers:
        raise ConfigError("give customer addresses, or --all (not both)")
    client = _client(rpc_url, settlement, keystore, write=True)
    if all_customers:
        targets = _enrolled(rpc_url, contract, db, from_block, json_out)
        events = client.settle_many(targets, timeframe, batch=batch)
    elif customers and len(customers) == 1:
        events = [client.settle(customers[0], timeframe)]
    else:
        events = client.settle_many(customers or [], timeframe, batch=batch)
    rows = [_settled_dict(client, e) for e in events]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['customer']} timeframe {row['timeframe']}: paid {row['paid_text']} to {row['payee']}"
                      f"  tx {row['tx']}", highlight=False)
    console.print(f"[dim]{len(rows)} settlement(s)[/]", highlight=False)


def _enrolled(rpc_url: str, contract: str | None, db: str | None, from_block: int | None, quiet: bool) -> list[str]:
    from metering.audit.events import CustomerEnrolled
    from metering.cli._common import open_store, sync_store

    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        sync_store(w3, address, store, quiet=quiet, from_block=from_block)
        return sorted({e.customer for e in store.events(names=[CustomerEnrolled.name])
                       if isinstance(e, CustomerEnrolled)})


def _settled_dict(client: SettlementClient, e: Any) -> dict[str, Any]:
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
@command
def provider_payouts(
    timeframe: Annotated[int | None, typer.Option("--timeframe", "-t", help="Only this timeframe.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.", show_default=False)] = None,
    from_block: FromBlockOpt = None,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    settlement: SettlementOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What settlements paid the provider, per customer and timeframe, with the totals per currency and token."""
    from metering.settlement.payouts import payouts, totals

    client = _client(rpc_url, settlement, None, write=False)
    items = payouts(client, from_block=from_block or 0, timeframe=timeframe, customer=customer)
    rows = [_settled_dict(client, p.event) for p in items]
    sums = totals(items)
    if json_out:
        print_json({"payouts": rows, "totals": {c: t.as_dict() for c, t in sums.items()}})
        return
    for row in rows:
        console.print(f"timeframe {row['timeframe']}  {row['customer']}  {row['paid_text']}  tx {row['tx']}",
                      highlight=False)
    for currency, total in sums.items():
        console.print(f"total {currency}: {total}", highlight=False)
    if not rows:
        console.print("[dim]no settlement yet[/]", highlight=False)


@settlement_app.command("deploy")
@command
def settlement_deploy(
    payee: Annotated[str | None, typer.Option(help="Where payouts go (default: the signer).", show_default=False)]
    = None,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """As the Meter's admin: deploy the Settlement contract beside the Meter and grant it the settlement role."""
    from metering.settlement.deploy import deploy_settlement

    w3 = connect(rpc_url)
    admin = signer(keystore)
    address = deploy_settlement(w3, admin, require_contract(contract), payee or admin.address)
    if json_out:
        print_json({"settlement": address})
        return
    console.print(f"settlement {address} (export METERING_SETTLEMENT={address})", highlight=False)


@settlement_app.command("token")
@command
def settlement_token(
    currency: Annotated[str, typer.Argument(help="ISO 4217 currency, e.g. EUR.")],
    token: Annotated[str, typer.Argument(help="The ERC-20 token's address.")],
    units_per_minor: Annotated[int, typer.Argument(help="Token units per minor unit (6-decimal token, EUR: 10000).")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    settlement: SettlementOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """As the provider: name the token of a currency (once; it never changes, balances are held in it)."""
    client = _client(rpc_url, settlement, keystore, write=True)
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

    return check_settlement(read_invoice(invoice_file), _client(rpc_url, settlement, None, write=False))


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

    client = _client(rpc_url, settlement, None, write=False)
    check = check_settlement(invoice, client)
    if check.event is None:
        return None
    if not check.ok:
        raise InvoiceError("the settlement on chain does not match this invoice: " + "; ".join(check.differences))
    e = check.event
    paid = client.currency_token(e.currency).amount(e.tokens)
    return (f"{paid} settled on chain to {e.payee} by the Settlement contract {client.address}, "
            f"transaction {e.tx_hash} (block {e.block_number})")
