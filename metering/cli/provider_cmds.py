"""Provider commands: deploy, timeframes, rules, customers, agents, keystores."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from metering.chain.deployment import DEPLOYMENTS_ENV
from metering.chain.evm import EvmTarget
from metering.cli._common import (
    MAX_RULES_BYTES,
    UINT16_MAX,
    ask_password,
    command,
    console,
    input_file,
    new_sender,
)
from metering.cli._flags import FlagHelpGroup
from metering.cli._on_chain import OnChain, checked_addresses, for_each, on_chain
from metering.errors import ConfigError, ContractRevertError

if TYPE_CHECKING:
    from metering._utils.reads import MeterReads
    from metering.provider import CustomerChange, Provider, RoleChange

__all__ = ["account_app", "agent_app", "customer_app", "deploy", "instance_app", "rules_app", "timeframe_app"]

def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, cls=FlagHelpGroup)


timeframe_app = _group("Create and list billing periods.")
rules_app = _group("Set and show the billing rules of a timeframe.")
customer_app = _group(
    "Enroll and suspend customers (provider); approve agents and cap spending (the customer, with its own key)."
)
instance_app = _group("Show an instance, or close one whose agent cannot.")
agent_app = _group("Grant and revoke the agent role.")
account_app = _group("Create an encrypted keystore for a signing key.")



def _show_customer(change: CustomerChange) -> str:
    note = "" if change.changed else " (unchanged)"
    return f"{change.customer}: {change.status.name.lower()}{note}  tx {change.tx_hash}"


def _show_role(change: RoleChange) -> str:
    state = "holds" if change.holds else "does not hold"
    note = "" if change.changed else " (unchanged)"
    return f"{change.account} {state} {change.role}{note}  tx {change.tx_hash}"


@on_chain(signs=True, meter=False)
def deploy(
    on: OnChain,
    admin_delay: Annotated[
        int, typer.Option(help="Seconds a new admin waits to accept an admin transfer (default 3 days; 0 for tests).")
    ] = 259_200,
    evm_version: Annotated[
        EvmTarget | None,
        typer.Option(
            "--evm-version",
            case_sensitive=False,
            help="The build to deploy. Default: the newest the node runs (probed; nothing is sent to find out).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar=DEPLOYMENTS_ENV,
            help="Folder for the deployment file and its Sourcify files "
            "(default: the user data directory, metering/deployments).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Deploy a Meter; the signer becomes its admin and rules manager.

    Writes the deployment file (with its block) and, beside it, the files an explorer needs to verify the source.
    """
    from metering.chain.deployment import (
        default_deployments_dir,
        describe_deployment,
        prepare_directory,
        write_deployment,
    )
    from metering.provider import Provider

    directory = prepare_directory(out or default_deployments_dir())  # fail before anything is sent
    w3 = on.w3
    account = on.signer()
    provider = Provider.deploy(w3, account, admin_transfer_delay=admin_delay, evm_target=evm_version,
                               sender=new_sender(w3, account))
    assert provider.deployment is not None and provider.evm_target is not None  # set by Provider.deploy
    files = write_deployment(
        describe_deployment(w3, provider.address, provider.deployment.tx_hash, provider.evm_target), directory
    )
    record = files.deployment
    if on.answer({
        "address": provider.address,
        "chain_id": record.chain_id,
        "tx_hash": record.tx_hash,
        "block_number": record.block_number,
        "evm_version": record.evm_version,
        "constructor_args": record.constructor_args,
        "deployment_file": files.record,
        "sourcify_dir": files.sourcify,
    }):
        return
    console.print(
        f"Meter deployed at [bold]{provider.address}[/] on chain {record.chain_id} "
        f"(block {record.block_number}, {record.evm_version} build)",
        soft_wrap=True,
    )
    console.print(f"  transaction: {record.tx_hash}", soft_wrap=True, highlight=False)
    console.print(f"  constructor arguments: {record.constructor_args}", soft_wrap=True, highlight=False)
    console.print(f"  deployment file: {files.record}", soft_wrap=True, highlight=False)
    console.print(f"  Sourcify files: {files.sourcify}", soft_wrap=True, highlight=False)
    console.print(f"  export METERING_CONTRACT={provider.address}", soft_wrap=True, highlight=False)


@timeframe_app.command("create")
@on_chain(signs=True)
def timeframe_create(
    on: OnChain,
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
) -> None:
    """Create the billing period [start, end); rules must be set before it starts.

    Times are written as people write them: --starts-at 2026-12-01T00:00Z, --starts-in 2m, --duration 30d.
    """
    from metering.provider import Provider
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
    provider = on.build(Provider)
    previous_end = _previous_end(provider)
    _check_start(begin, provider.chain_time(), previous_end, relative=starts_in is not None)
    try:
        timeframe_id = provider.create_timeframe(begin, finish, currency)
    except ContractRevertError as exc:
        if exc.name != "MeteringTimeframeStartsInPast":
            raise
        # The latest block's time can lag the chain's clock: on an idle dev chain whose clock was moved
        # (evm_increaseTime) no block shows it yet. The contract's own time, from the error, is the one that counts.
        _check_start(begin, int(exc.args_["currentTime"]), previous_end, relative=starts_in is not None)
        raise
    if not on.answer({"timeframe": timeframe_id, "start": begin, "end": finish, "currency": currency}):
        console.print(f"timeframe {timeframe_id}: [{with_iso(begin)}, {with_iso(finish)}) in {currency}, "
                      f"{format_duration(finish - begin)}", highlight=False)


def _previous_end(provider: Provider) -> int:
    """When the latest timeframe ends (0 when there is none): a new one may not start before it."""
    count = provider.timeframe_count()
    return provider.timeframe(count).end if count else 0


def _check_start(begin: int, chain_now: int, previous_end: int, *, relative: bool) -> None:
    """Refuse a start the contract would revert (``MeteringTimeframeStartsInPast``, ``MeteringTimeframeOverlap``),
    saying why and suggesting a start that neither is in the chain's past nor overlaps the latest timeframe.

    ``--starts-in`` counts from this machine's clock; a dev chain moved forward (``metering dev advance``) or a
    node with a skewed clock can be ahead of it, and then "in 2 minutes" is already the chain's past.
    """
    from metering.timeparse import format_duration, format_instant, with_iso

    suggestion = f"--starts-at {format_instant(max(chain_now + 120, previous_end))}"
    if begin < previous_end:
        raise ConfigError(f"the timeframe would start at {with_iso(begin)}, before the latest timeframe ends at "
                          f"{with_iso(previous_end)}: start it later, e.g. {suggestion}")
    if begin > chain_now:
        return
    why = ""
    if relative and chain_now > time.time():
        why = f" (the chain's clock is {format_duration(chain_now - int(time.time()))} ahead of this machine's)"
    raise ConfigError(
        f"the timeframe would start at {with_iso(begin)}, not after the chain's time {with_iso(chain_now)}{why}: "
        f"start it later, e.g. {suggestion}"
    )


@timeframe_app.command("list")
@on_chain()
def timeframe_list(on: OnChain) -> None:
    """List every timeframe and which one is active."""
    from metering.timeparse import with_iso

    provider = on.reader()
    active = provider.active_timeframe()
    frames = [provider.timeframe(i) for i in range(1, provider.timeframe_count() + 1)]
    if on.answer([{**vars(f), "active": f.id == active} for f in frames]):
        return
    table = Table("id", "start", "end", "currency", "active")
    for f in frames:
        table.add_row(str(f.id), with_iso(f.start), with_iso(f.end), f.currency, "yes" if f.id == active else "")
    console.print(table)


@rules_app.command("set")
@on_chain(signs=True)
def rules_set(
    on: OnChain,
    file: Annotated[Path, typer.Argument(help="YAML or JSON rules file (see examples/rules.yaml).")],
) -> None:
    """Set the rules of a timeframe from a file (validated first; unchanged rules are skipped)."""
    from metering.provider import Provider
    from metering.provider.rules_file import load_rules_file

    parsed = load_rules_file(input_file(file, MAX_RULES_BYTES, "rules file"))
    applied = on.build(Provider).apply_rules_file(parsed)
    if on.answer([vars(a) for a in applied]):
        return
    for item in applied:
        state = f"set in {item.tx_hash}" if item.changed else "unchanged"
        console.print(f"  type {item.instance_type} ({item.name}): rules hash 0x{item.rules_hash.hex()} {state}")
    console.print(f"rules of timeframe {parsed.timeframe} set from {file}")


def _currency_of(provider: MeterReads, timeframe: int) -> str:
    """The currency of ``timeframe``; a timeframe that does not exist is the user's mistake (exit 3)."""
    try:
        return provider.timeframe(timeframe).currency
    except ContractRevertError as exc:
        if exc.name != "MeteringUnknownTimeframe":
            raise
        raise ConfigError(f"timeframe {timeframe} does not exist (see `metering timeframe list`)") from None


@rules_app.command("show")
@on_chain()
def rules_show(
    on: OnChain,
    timeframe: Annotated[int, typer.Option(help="Timeframe id.", min=0, max=UINT16_MAX)],
    instance_type: Annotated[
        list[int], typer.Option("--type", help="Instance type id (repeatable).", min=0, max=UINT16_MAX)
    ],
) -> None:
    """Show the rules of instance types in a timeframe, as the chain holds them (prices in its currency)."""
    from metering.money import format_micro

    provider = on.reader()
    currency = _currency_of(provider, timeframe)
    rows: list[dict[str, Any]] = []
    for kind in instance_type:
        rules = provider.rules(timeframe, kind)
        rows.append({"timeframe": timeframe, "instance_type": kind, "currency": currency,
                     "rules": None if rules is None else vars(rules)})
    if on.answer(rows):
        return

    def price(micro: int) -> str:
        return f"{format_micro(micro, currency)} {currency}"

    console.print(f"rules of timeframe {timeframe} (prices in {currency}; a limit of 0 is no limit)", highlight=False)
    for row in rows:
        r = row["rules"]
        if r is None:
            console.print(f"  type {row['instance_type']}: no rules", highlight=False)
            continue
        console.print(
            f"  type {row['instance_type']}: {price(r['price_per_activation'])} per start, "
            f"{price(r['price_per_continuation'])} per continuation, "
            f"{price(r['price_per_time_unit'])} per {r['time_unit_seconds']} s; included "
            f"{r['included_activations']} starts and {r['included_seconds']} s; at most {r['max_concurrent']} "
            f"running and {r['max_activations']} starts ({r['mode'].name.lower()})",
            highlight=False,
        )


CustomersArg = Annotated[list[str], typer.Argument(help="Customer addresses.")]
AgentsArg = Annotated[list[str], typer.Argument(help="Agent addresses.")]


@customer_app.command("enroll")
@on_chain(signs=True, json=False)
def customer_enroll(on: OnChain, customers: CustomersArg) -> None:
    """Enroll customers (or reinstate suspended ones); the transactions are sent together."""
    from metering.provider import Provider

    addresses = _addresses(customers, "customer")
    for_each(on.build(Provider).enroll_customers(addresses), lambda change: change, _show_customer)


@customer_app.command("suspend")
@on_chain(signs=True, json=False)
def customer_suspend(on: OnChain, customers: CustomersArg) -> None:
    """Suspend customers: their new activations and renewals are denied."""
    from metering.provider import Provider

    addresses = _addresses(customers, "customer")
    for_each(on.build(Provider).suspend_customers(addresses), lambda change: change, _show_customer)


@customer_app.command("status")
@on_chain()
def customer_status(on: OnChain, customer: Annotated[str, typer.Argument(help="Customer address.")]) -> None:
    """Show whether a customer is enrolled, suspended or unknown."""

    status = on.reader().customer_status(customer)
    if not on.answer({"customer": customer, "status": status.name}):
        console.print(f"{customer}: {status.name.lower()}")


def _addresses(values: list[str], what: str) -> list[str]:
    return checked_addresses(values, what)


@customer_app.command("approve")
@on_chain(signs=True, json=False)
def customer_approve(on: OnChain, agents: Annotated[list[str], typer.Argument(help="Agent addresses the customer "
                                                                                   "accepts.")]) -> None:
    """As the customer (its own key): let these agents bill you, and only the agents you approved."""
    from metering.customer import Customer

    addresses = _addresses(agents, "agent")
    for_each(addresses, on.build(Customer).approve_agent,
             lambda c: f"{c.customer} approves {c.agent} (only approved agents)  tx {c.tx_hash}")


@customer_app.command("revoke")
@on_chain(signs=True, json=False)
def customer_revoke(on: OnChain, agents: AgentsArg) -> None:
    """As the customer: stop these agents from activating or renewing for you, restricted or not (their leases end
    at their lease end; `metering customer stop ID` stops one now)."""
    from metering.customer import Customer

    addresses = _addresses(agents, "agent")
    for_each(addresses, on.build(Customer).revoke_agent, lambda c: f"{c.customer} revoked {c.agent}  tx {c.tx_hash}")


@customer_app.command("restrict")
@on_chain(signs=True, json=False)
def customer_restrict(
    on: OnChain,
    restricted: Annotated[bool, typer.Argument(help="on: only approved agents may bill you; off: every provider agent.",
                                               parser=lambda v: _on_off(v), metavar="on|off")],
) -> None:
    """As the customer: accept only the agents you approved (on), or every agent of the provider (off)."""
    from metering.customer import Customer

    change = on.build(Customer).set_agent_restriction(restricted)
    state = "only approved agents" if change.restricted else "every provider agent"
    console.print(f"  {change.customer} accepts {state}  tx {change.tx_hash}")


def _on_off(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise typer.BadParameter(f"say on or off, not {value!r}")


@customer_app.command("cap")
@on_chain(signs=True, json=False)
def customer_cap(
    on: OnChain,
    amount: Annotated[str, typer.Argument(help="Most you commit per timeframe, e.g. 50.00 (0 removes the cap).")],
    currency: Annotated[str | None, typer.Option(help="Currency of the amount (ISO 4217, e.g. EUR).")] = None,
) -> None:
    """As the customer: cap what agents may commit for you per timeframe (activation fees and leased time).

    The cap's currency must be the one of the timeframe it bounds now (the active one, or the next to start):
    another is refused before anything is sent, with a message naming both."""
    from metering.customer import Customer
    from metering.money import parse_amount

    removing = amount.strip() in ("0", "0.0", "0.00")
    try:
        minor = 0 if removing else parse_amount(amount, _need_currency(currency))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    me = on.build(Customer)
    # Removing the cap needs no currency from the user: any valid code is accepted with a cap of 0.
    code = currency if currency is not None else (me.cap_timeframe_currency() or "EUR")
    change = me.set_spending_cap(minor, code)
    shown = "no cap" if change.cap == 0 else f"{amount} {change.currency} ({change.cap} minor units)"
    console.print(f"  {change.customer} spending cap per timeframe: {shown}  tx {change.tx_hash}")


def _need_currency(currency: str | None) -> str:
    if currency is None:
        raise ConfigError("give the cap's --currency (e.g. --currency EUR): the cap is in that currency's units")
    return currency


@customer_app.command("account")
@on_chain()
def customer_account(
    on: OnChain,
    customer: Annotated[str, typer.Argument(help="Customer address.")],
    timeframe: Annotated[
        int | None, typer.Option(help="Show what it committed in this timeframe.", min=1, max=UINT16_MAX)
    ] = None,
) -> None:
    """Show a customer's status, agent restriction, spending cap and committed spending."""
    from metering.money import format_micro, format_minor

    reader = on.reader()
    account = reader.customer_account(customer)
    shown_timeframe = timeframe if timeframe is not None else account.spent_timeframe
    currency = _currency_of(reader, shown_timeframe) if shown_timeframe else None
    committed = reader.spent(customer, timeframe) if timeframe is not None else account.spent
    if on.answer({
        "customer": account.customer, "status": account.status.name, "restricted": account.restricted,
        "spending_cap_minor": account.spending_cap, "spent_timeframe": shown_timeframe, "spent_micro": committed,
        "currency": currency,
    }):
        return
    if account.spending_cap == 0:
        cap = "none"
    elif currency is None:  # the cap is in minor units of whichever timeframe's currency: none known yet
        cap = f"{account.spending_cap} minor units (of a timeframe's currency) per timeframe"
    else:
        cap = f"{format_minor(account.spending_cap, currency)} {currency} per timeframe"
    agents = "only approved agents" if account.restricted else "every provider agent"
    if currency is None:
        spent = "nothing committed yet"
    else:
        spent = f"committed {format_micro(committed, currency)} {currency} in timeframe {shown_timeframe}"
    console.print(f"{account.customer}: {account.status.name.lower()}, accepts {agents}, cap {cap}, {spent}",
                  highlight=False)


@instance_app.command("show")
@on_chain()
def instance_show(on: OnChain, instance_id: Annotated[str, typer.Argument(help="Instance id (0x...).")]) -> None:
    """Show an instance's record: agent, customer, type, timeframe, status and lease end."""
    from metering.timeparse import with_iso

    record = on.reader().instance(instance_id)
    if on.answer({"instance_id": "0x" + record.instance_id.hex(), "agent": record.agent, "customer": record.customer,
                  "instance_type": record.instance_type, "timeframe": record.timeframe,
                  "status": record.status.name, "reason": record.reason.name, "lease_end": record.lease_end}):
        return
    denied = f", denied: {record.reason.name}" if record.reason else ""
    console.print(f"0x{record.instance_id.hex()}: {record.status.name.lower()}, agent {record.agent}, customer "
                  f"{record.customer}, type {record.instance_type}, timeframe {record.timeframe}, "
                  f"lease end {with_iso(record.lease_end)}{denied}", highlight=False)


@instance_app.command("close")
@on_chain(signs=True, json=False)
def instance_close(on: OnChain, instance_ids: Annotated[list[str], typer.Argument(help="Instance ids (0x...).")]
                   ) -> None:
    """As the provider: stop instances whose agent cannot (dead agent, lost key); recorded on chain as such."""
    from metering._utils.client import as_instance_id
    from metering.provider import Provider
    from metering.timeparse import with_iso

    ids = [as_instance_id(i) for i in instance_ids]  # all checked before anything is sent
    for_each(ids, on.build(Provider).close_instance,
             lambda c: f"0x{c.instance_id.hex()} {'had expired at' if c.expired else 'closed at'} "
                       f"{with_iso(c.stopped_at)}  tx {c.tx_hash}")


@agent_app.command("grant")
@on_chain(signs=True, json=False)
def agent_grant(on: OnChain, agents: AgentsArg) -> None:
    """Grant the agent role (admin only); the transactions are sent together."""
    from metering.provider import Provider

    addresses = _addresses(agents, "agent")
    for_each(on.build(Provider).grant_agents(addresses), lambda change: change, _show_role)


@agent_app.command("revoke")
@on_chain(signs=True, json=False)
def agent_revoke(on: OnChain, agents: AgentsArg) -> None:
    """Revoke the agent role (admin only); the transactions are sent together."""
    from metering.provider import Provider

    addresses = _addresses(agents, "agent")
    for_each(on.build(Provider).revoke_agents(addresses), lambda change: change, _show_role)


@account_app.command("new")
@command
def account_new(
    keystore: Annotated[Path, typer.Argument(help="Keystore file to write.")],
) -> None:
    """Encrypt a key into a keystore: METERING_PRIVATE_KEY if set, else a new random key.

    The password comes from ETH_PASSWORD or METERING_PASSWORD, else a hidden prompt (asked twice), else stdin.
    """
    from metering.chain.accounts import create_keystore

    password = ask_password("New keystore password", twice=True)
    address = create_keystore(keystore, password, os.environ.get("METERING_PRIVATE_KEY"))
    console.print(f"keystore for {address} written to {keystore}")


def _register_customer_list() -> None:
    from metering.cli.customer_list_cmd import customer_list
    from metering.cli.customer_stop_cmd import customer_stop

    customer_app.command("list")(customer_list)
    customer_app.command("stop")(customer_stop)
    from metering.cli import settlement_cmds

    customer_app.command("deposit")(settlement_cmds.customer_deposit)
    customer_app.command("withdraw")(settlement_cmds.customer_withdraw)
    customer_app.command("balance")(settlement_cmds.customer_balance)


_register_customer_list()
