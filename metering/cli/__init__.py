"""The ``metering`` command line: thin shells over the library, for providers, agents and auditors.

Exit codes: 0 ok; 1 verification found differences; 2 bad command line; 3 bad input (address, rules or invoice
file, key, password, database); 4 no node at the RPC URL; 5 a transaction failed or reverted; 6 the contract denied
the activation or renewal (and recorded it); 130 interrupted (Ctrl-C). Errors are one line on stderr; under
``--json`` they are one JSON object ``{"code": ..., "error": ...}`` on stdout, with the same exit code.

Commands load lazily: :data:`COMMANDS` maps each name to where it lives, and a module is imported only when its
command runs (or its own ``--help`` is asked for), so ``metering --help`` and ``--version`` stay instant (a test
guards the import graph). **To add a command**, write it in its own module under ``metering/cli/`` (heavy imports
inside the function body) and add one line here::

    "watch": LazyCommand("metering.cli.watch_cmd:watch", AUDIT, "Follow the contract's events and post webhooks."),

The target is a function (a command) or a ``typer.Typer`` (a group of subcommands); the help line must equal the
first line of the command's own help (``tests/cli/test_lazy_cli.py`` checks it, and that every target loads). A
command with its own Click class names it too, as Typer's ``cls=`` would:
``LazyCommand("metering.cli.audit_cmds:invoice", AUDIT, "...", cls="metering.cli.commercial_cmds:InvoiceCommand")``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metering import __version__
from metering.cli._exit_codes import ExitCode
from metering.cli._lazy import LazyCommand, LazyGroup

__all__ = ["COMMANDS", "ExitCode", "app", "main"]

LOCAL, PROVIDER, AGENT, AUDIT = "Local chain", "Provider", "Agent", "Customers and auditors"

COMMANDS: dict[str, LazyCommand] = {
    "node": LazyCommand("metering.cli.node_cmd:node", LOCAL, "Start a local node and print its RPC URL and funded "
                        "dev accounts (address, key, role); Ctrl-C stops it."),
    "demo": LazyCommand("metering.cli.demo_cmd:demo", LOCAL, "Deploy, set rules, run concurrent agents over "
                        "simulated time, bill, anchor, verify, catch a tampered bill."),
    "dev": LazyCommand("metering.cli.dev_cmds:dev_app", LOCAL, "Move time on a local development chain (anvil, "
                       "Hardhat, Ganache); refused anywhere else."),
    "deploy": LazyCommand("metering.cli.provider_cmds:deploy", PROVIDER,
                          "Deploy a Meter; the signer becomes its admin and rules manager."),
    "timeframe": LazyCommand("metering.cli.provider_cmds:timeframe_app", PROVIDER, "Create and list billing periods."),
    "rules": LazyCommand("metering.cli.provider_cmds:rules_app", PROVIDER,
                         "Set and show the billing rules of a timeframe."),
    "customer": LazyCommand("metering.cli.provider_cmds:customer_app", PROVIDER, "Enroll and suspend customers "
                            "(provider); approve agents and cap spending (the customer, with its own key)."),
    "agent": LazyCommand("metering.cli.provider_cmds:agent_app", PROVIDER, "Grant and revoke the agent role."),
    "role": LazyCommand("metering.cli.role_cmds:role_app", PROVIDER, "Grant and revoke the rules-manager role; hand "
                        "the admin role over in two steps (begin, accept)."),
    "instance": LazyCommand("metering.cli.provider_cmds:instance_app", PROVIDER,
                            "Show an instance, or close one whose agent cannot."),
    "account": LazyCommand("metering.cli.provider_cmds:account_app", PROVIDER,
                           "Create an encrypted keystore for a signing key."),
    "settlement": LazyCommand("metering.cli.settlement_cmds:settlement_app", PROVIDER, "Deploy the Settlement "
                              "contract and name a token per currency (provider)."),
    "provider": LazyCommand("metering.cli.settlement_cmds:provider_app", PROVIDER,
                            "The provider's view of settlements."),
    "activate": LazyCommand("metering.cli.agent_cmds:activate", AGENT, "Ask the contract to authorize one instance; "
                            "exits 6 when denied (the denial is recorded on chain)."),
    "renew": LazyCommand("metering.cli.agent_cmds:renew", AGENT, "Extend a running instance's lease; exits 6 when "
                         "the renewal or continuation is denied."),
    "deactivate": LazyCommand("metering.cli.agent_cmds:deactivate", AGENT, "Stop a running instance now (or close "
                              "it as expired if its lease already ran out)."),
    "expire": LazyCommand("metering.cli.agent_cmds:expire", AGENT, "Close instances whose lease ran out (anyone "
                          "may); billing of each stopped at its lease end."),
    "usage": LazyCommand("metering.cli.agent_cmds:usage", AGENT,
                         "Show the on-chain usage counters the next decision reads."),
    "events": LazyCommand("metering.cli.events_cmd:events", AUDIT, "List the contract's events, decoded (enums by "
                          "name, currencies as text, times in ISO); --follow watches."),
    "index": LazyCommand("metering.cli.audit_cmds:index", AUDIT, "Copy the contract's events into the SQLite event "
                         "database (resumes where it stopped)."),
    "invoice": LazyCommand("metering.cli.audit_cmds:invoice", AUDIT, "Compute a customer's invoice (or a running "
                           "statement) for a timeframe from the contract's events.",
                           cls="metering.cli.commercial_cmds:InvoiceCommand"),
    "anchor": LazyCommand("metering.cli.audit_cmds:anchor", AUDIT, "Anchor a final invoice's keccak-256 hash and "
                          "total on chain (after its timeframe ended)."),
    "settle": LazyCommand("metering.cli.settlement_cmds:settle", AUDIT, "Settle ended timeframes from escrow (anyone "
                          "may): the contract pays each final invoice's total."),
    "db": LazyCommand("metering.cli.db_cmds:db_app", AUDIT, "The event database: status, schema upgrades, copying a "
                      "history to another database."),
    "verify": LazyCommand("metering.cli.audit_cmds:verify", AUDIT, "Recompute an invoice from the chain and compare "
                          "it field by field, with the counters and the anchor."),
    "verify-source": LazyCommand("metering.cli.source_cmds:verify_source", AUDIT, "Check the contract's code on "
                                 "chain against the shipped sources, locally: perfect match or exit 1."),
    "serve": LazyCommand("metering.cli.serve_cmd:serve", AUDIT, "Serve a read-only web view of usage, invoices and "
                         "their proofs; syncs from the node in the background."),
    "watch": LazyCommand("metering.cli.watch_cmd:watch", AUDIT, "Watch confirmed events and notify: caps crossed, "
                         "denials, quotas, expiring leases, final and anchored invoices."),
}


class _Root(LazyGroup):
    table = COMMANDS


app = typer.Typer(
    name="metering",
    cls=_Root,
    help="Usage metering on an Ethereum-compatible chain: rules, activations, invoices anyone can verify.\n\n"
    "Options come from the command line, else the environment (ETH_RPC_URL, METERING_CONTRACT, ETH_KEYSTORE / "
    "ETH_PASSWORD, METERING_PRIVATE_KEY, METERING_DB), else the profile file metering.toml.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # the root help is Click's plain text from the table: no Rich help renderer to import
    epilog="Exit codes: 0 ok, 1 differences found, 2 usage, 3 bad input, 4 no node, 5 transaction failed, "
    "6 denied, 130 interrupted.",
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


def main() -> None:
    """Console-script entry point."""
    app()
