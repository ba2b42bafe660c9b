"""Provider commands: deploy, timeframes, rules, customers, agents, keystores."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from metering.cli._common import (
    DEFAULT_RPC_URL,
    UINT16_MAX,
    ContractOpt,
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
from metering.cli._flags import FlagHelpGroup
from metering.errors import ConfigError

if TYPE_CHECKING:
    from metering.provider import CustomerChange, Provider, RoleChange

__all__ = ["account_app", "agent_app", "customer_app", "deploy", "rules_app", "timeframe_app"]

def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, cls=FlagHelpGroup)


timeframe_app = _group("Create and list billing periods.")
rules_app = _group("Set and show the billing rules of a timeframe.")
customer_app = _group("Enroll and suspend customers.")
agent_app = _group("Grant and revoke the agent role.")
account_app = _group("Create an encrypted keystore for a signing key.")



def _provider(rpc_url: str, contract: str | None, keystore: Path | None, *, read_only: bool = False) -> Provider:
    from metering.provider import Provider

    w3 = connect(rpc_url)
    return Provider(w3, require_contract(contract), None if read_only else signer(keystore))


def _show_customer(change: CustomerChange) -> None:
    note = "" if change.changed else " (unchanged)"
    console.print(f"  {change.customer}: {change.status.name.lower()}{note}")


def _show_role(change: RoleChange) -> None:
    state = "holds" if change.holds else "does not hold"
    note = "" if change.changed else " (unchanged)"
    console.print(f"  {change.account} {state} {change.role}{note}")


@command
def deploy(
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    keystore: KeystoreOpt = None,
    admin_delay: Annotated[int, typer.Option(help="Seconds a new admin waits to accept an admin transfer.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Deploy a Meter contract; the signer becomes its admin and rules manager."""
    from metering.provider import Provider

    w3 = connect(rpc_url)
    provider = Provider.deploy(w3, signer(keystore), admin_transfer_delay=admin_delay)
    deployment = provider.deployment
    if json_out:
        print_json(
            {
                "address": provider.address,
                "chain_id": int(w3.eth.chain_id),
                "tx_hash": deployment.tx_hash if deployment else None,
                "block_number": deployment.block_number if deployment else None,
            }
        )
        return
    console.print(f"Meter deployed at [bold]{provider.address}[/] on chain {w3.eth.chain_id}")
    console.print(f"  export METERING_CONTRACT={provider.address}")


@timeframe_app.command("create")
@command
def timeframe_create(
    currency: Annotated[str, typer.Option(help="Currency code of the prices, e.g. EUR.")],
    starts_at: Annotated[
        str | None,
        typer.Option("--starts-at", "--start", help="Start: ISO 8601 with a timezone (2026-12-01T00:00Z) or unix "
                     "seconds; after the chain's time.", show_default=False),
    ] = None,
    starts_in: Annotated[
        str | None,
        typer.Option(help="Start this long from now (wall-clock), e.g. 2m, 1h30m, 1d; checked against the chain's "
                     "time.", show_default=False),
    ] = None,
    ends_at: Annotated[
        str | None,
        typer.Option("--ends-at", "--end", help="End (exclusive): ISO 8601 or unix seconds.", show_default=False),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Length instead of --ends-at, e.g. 30d, 1h, 90s.", show_default=False)
    ] = None,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create the billing period [start, end); rules must be set before it starts.

    Times are written as people write them: --starts-at 2026-12-01T00:00Z, --starts-in 2m, --duration 30d.
    """
    from metering.timeparse import format_duration, parse_duration, parse_instant, with_iso

    if (starts_at is None) == (starts_in is None):
        raise ConfigError("give exactly one of --starts-at and --starts-in")
    if (ends_at is None) == (duration is None):
        raise ConfigError("give exactly one of --ends-at and --duration")
    if starts_at is not None:
        begin = parse_instant(starts_at, what="--starts-at")
    else:
        begin = int(time.time()) + parse_duration(starts_in or "", what="--starts-in")
    if ends_at is not None:
        finish = parse_instant(ends_at, what="--ends-at")
    else:
        length = parse_duration(duration or "", what="--duration")
        if length == 0:
            raise ConfigError("--duration must be longer than 0s")
        finish = begin + length
    provider = _provider(rpc_url, contract, keystore)
    _check_start_after_chain_time(begin, provider.chain_time(), relative=starts_in is not None)
    timeframe_id = provider.create_timeframe(begin, finish, currency)
    if json_out:
        print_json({"timeframe": timeframe_id, "start": begin, "end": finish, "currency": currency})
    else:
        console.print(f"timeframe {timeframe_id}: [{with_iso(begin)}, {with_iso(finish)}) in {currency}, "
                      f"{format_duration(finish - begin)}", highlight=False)


def _check_start_after_chain_time(begin: int, chain_now: int, *, relative: bool) -> None:
    """Refuse a start the contract would revert (``MeteringTimeframeStartsInPast``), saying why and what to give.

    ``--starts-in`` counts from this machine's clock; a dev chain moved forward (``metering dev advance``) or a
    node with a skewed clock can be ahead of it, and then "in 2 minutes" is already the chain's past.
    """
    from metering.timeparse import format_duration, format_instant, with_iso

    if begin > chain_now:
        return
    why = ""
    if relative and chain_now > time.time():
        why = f" (the chain's clock is {format_duration(chain_now - int(time.time()))} ahead of this machine's)"
    raise ConfigError(
        f"the timeframe would start at {with_iso(begin)}, not after the chain's time {with_iso(chain_now)}{why}: "
        f"start it later, e.g. --starts-at {format_instant(chain_now + 120)}"
    )


@timeframe_app.command("list")
@command
def timeframe_list(
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL, contract: ContractOpt = None, json_out: JsonOpt = False
) -> None:
    """List every timeframe and which one is active."""
    from metering.timeparse import with_iso

    provider = _provider(rpc_url, contract, None, read_only=True)
    active = provider.active_timeframe()
    frames = [provider.timeframe(i) for i in range(1, provider.timeframe_count() + 1)]
    if json_out:
        print_json([{**vars(f), "active": f.id == active} for f in frames])
        return
    table = Table("id", "start", "end", "currency", "active")
    for f in frames:
        table.add_row(str(f.id), with_iso(f.start), with_iso(f.end), f.currency, "yes" if f.id == active else "")
    console.print(table)


@rules_app.command("set")
@command
def rules_set(
    file: Annotated[Path, typer.Argument(help="YAML or JSON rules file (see examples/rules.yaml).")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set the rules of a timeframe from a file (validated first; unchanged rules are skipped)."""
    from metering.rules_file import load_rules_file

    parsed = load_rules_file(file)
    applied = _provider(rpc_url, contract, keystore).apply_rules_file(parsed)
    if json_out:
        print_json([vars(a) for a in applied])
        return
    for item in applied:
        state = f"set in {item.tx_hash}" if item.changed else "unchanged"
        console.print(f"  type {item.instance_type} ({item.name}): rules hash 0x{item.rules_hash.hex()} {state}")
    console.print(f"rules of timeframe {parsed.timeframe} set from {file}")


@rules_app.command("show")
@command
def rules_show(
    timeframe: Annotated[int, typer.Option(help="Timeframe id.", min=0, max=UINT16_MAX)],
    instance_type: Annotated[
        list[int], typer.Option("--type", help="Instance type id (repeatable).", min=0, max=UINT16_MAX)
    ],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the rules of instance types in a timeframe, as the chain holds them."""
    provider = _provider(rpc_url, contract, None, read_only=True)
    rows: list[dict[str, Any]] = []
    for kind in instance_type:
        rules = provider.rules(timeframe, kind)
        rows.append({"timeframe": timeframe, "instance_type": kind, "rules": None if rules is None else vars(rules)})
    if json_out:
        print_json(rows)
        return
    table = Table("type", "per activation", "per second", "incl. act.", "incl. s", "max conc.", "max act.", "mode",
                  title=f"rules of timeframe {timeframe} (prices in minor units)")
    for row in rows:
        r = row["rules"]
        if r is None:
            table.add_row(str(row["instance_type"]), "[dim]no rules[/]", "", "", "", "", "", "")
            continue
        table.add_row(str(row["instance_type"]), *(str(r[k]) for k in (
            "price_per_activation", "price_per_second", "included_activations", "included_seconds",
            "max_concurrent", "max_activations")), r["mode"].name.lower())
    console.print(table)


@customer_app.command("enroll")
@command
def customer_enroll(
    customers: Annotated[list[str], typer.Argument(help="Customer addresses.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """Enroll customers (or reinstate suspended ones)."""
    provider = _provider(rpc_url, contract, keystore)
    for customer in customers:
        _show_customer(provider.enroll_customer(customer))


@customer_app.command("suspend")
@command
def customer_suspend(
    customers: Annotated[list[str], typer.Argument(help="Customer addresses.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """Suspend customers: their new activations and renewals are denied."""
    provider = _provider(rpc_url, contract, keystore)
    for customer in customers:
        _show_customer(provider.suspend_customer(customer))


@customer_app.command("status")
@command
def customer_status(
    customer: Annotated[str, typer.Argument(help="Customer address.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show whether a customer is enrolled, suspended or unknown."""
    status = _provider(rpc_url, contract, None, read_only=True).customer_status(customer)
    if json_out:
        print_json({"customer": customer, "status": status.name})
    else:
        console.print(f"{customer}: {status.name.lower()}")


@agent_app.command("grant")
@command
def agent_grant(
    agents: Annotated[list[str], typer.Argument(help="Agent addresses.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """Grant the agent role (admin only)."""
    provider = _provider(rpc_url, contract, keystore)
    for agent in agents:
        _show_role(provider.grant_agent(agent))


@agent_app.command("revoke")
@command
def agent_revoke(
    agents: Annotated[list[str], typer.Argument(help="Agent addresses.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """Revoke the agent role (admin only)."""
    provider = _provider(rpc_url, contract, keystore)
    for agent in agents:
        _show_role(provider.revoke_agent(agent))


@account_app.command("new")
@command
def account_new(
    keystore: Annotated[Path, typer.Argument(help="Keystore file to write.")],
) -> None:
    """Encrypt a key into a keystore: METERING_PRIVATE_KEY if set, else a new random key.

    The password comes from METERING_PASSWORD or a hidden prompt (asked twice).
    """
    from metering.accounts import create_keystore

    password = os.environ.get("METERING_PASSWORD")
    if password is None:
        password = typer.prompt("New keystore password", hide_input=True, confirmation_prompt=True)
    address = create_keystore(keystore, password, os.environ.get("METERING_PRIVATE_KEY"))
    console.print(f"keystore for {address} written to {keystore}")
