"""The ``metering`` command line: thin shells over the library, for providers, agents and auditors.

Exit codes: 0 ok; 1 verification found differences; 2 bad command line; 3 bad input (address, rules or invoice
file, key, password, database); 4 no node at the RPC URL; 5 a transaction failed or reverted; 6 the contract denied
the activation or renewal (and recorded it). Errors are one line on stderr; under ``--json`` they are one JSON object
``{"code": ..., "error": ...}`` on stdout, with the same exit code.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metering import __version__
from metering.cli import agent_cmds, audit_cmds, provider_cmds, settlement_cmds, source_cmds
from metering.cli._common import ExitCode
from metering.cli._json_errors import JsonErrorsGroup
from metering.cli.customer_list_cmd import customer_list
from metering.cli.customer_stop_cmd import customer_stop
from metering.cli.demo_cmd import demo
from metering.cli.dev_cmds import dev_app
from metering.cli.events_cmd import events
from metering.cli.node_cmd import node
from metering.cli.role_cmds import role_app
from metering.cli.serve_cmd import serve

__all__ = ["ExitCode", "app", "main"]

app = typer.Typer(
    name="metering",
    cls=JsonErrorsGroup,
    help="Usage metering on an Ethereum-compatible chain: rules, activations, invoices anyone can verify.\n\n"
    "Options fall back to ETH_RPC_URL, METERING_CONTRACT, METERING_KEYSTORE / METERING_PASSWORD, "
    "METERING_PRIVATE_KEY and METERING_DB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    epilog="Exit codes: 0 ok, 1 differences found, 2 usage, 3 bad input, 4 no node, 5 transaction failed, 6 denied.",
)



def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"metering {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True,
                     metavar=""),
    ] = False,
) -> None:
    """Usage metering on an Ethereum-compatible chain."""


app.command(rich_help_panel="Local chain")(node)
app.command(rich_help_panel="Local chain")(demo)
app.add_typer(dev_app, name="dev", rich_help_panel="Local chain")
app.command(rich_help_panel="Provider")(provider_cmds.deploy)
app.add_typer(provider_cmds.timeframe_app, name="timeframe", rich_help_panel="Provider")
app.add_typer(provider_cmds.rules_app, name="rules", rich_help_panel="Provider")
app.add_typer(provider_cmds.customer_app, name="customer", rich_help_panel="Provider")
provider_cmds.customer_app.command("list")(customer_list)
provider_cmds.customer_app.command("stop")(customer_stop)
provider_cmds.customer_app.command("deposit")(settlement_cmds.customer_deposit)
provider_cmds.customer_app.command("withdraw")(settlement_cmds.customer_withdraw)
provider_cmds.customer_app.command("balance")(settlement_cmds.customer_balance)
app.add_typer(settlement_cmds.settlement_app, name="settlement", rich_help_panel="Provider")
app.add_typer(settlement_cmds.provider_app, name="provider", rich_help_panel="Provider")
app.command(rich_help_panel="Customers and auditors")(settlement_cmds.settle)
app.add_typer(provider_cmds.agent_app, name="agent", rich_help_panel="Provider")
app.add_typer(role_app, name="role", rich_help_panel="Provider")
app.add_typer(provider_cmds.instance_app, name="instance", rich_help_panel="Provider")
app.add_typer(provider_cmds.account_app, name="account", rich_help_panel="Provider")
app.command(rich_help_panel="Agent")(agent_cmds.activate)
app.command(rich_help_panel="Agent")(agent_cmds.renew)
app.command(rich_help_panel="Agent")(agent_cmds.deactivate)
app.command(rich_help_panel="Agent")(agent_cmds.expire)
app.command(rich_help_panel="Agent")(agent_cmds.usage)
app.command(rich_help_panel="Customers and auditors")(events)
app.command(rich_help_panel="Customers and auditors")(audit_cmds.index)
app.command(rich_help_panel="Customers and auditors")(audit_cmds.invoice)
app.command(rich_help_panel="Customers and auditors")(audit_cmds.anchor)
app.command(rich_help_panel="Customers and auditors")(audit_cmds.verify)
app.command("verify-source", rich_help_panel="Customers and auditors")(source_cmds.verify_source)
app.command(rich_help_panel="Customers and auditors")(serve)


def main() -> None:
    """Console-script entry point."""
    app()
