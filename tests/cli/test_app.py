"""The app as a whole: help and exit codes, and the failures every chain command shares (no node, no contract,
no key, no role), each one line on stderr with its documented exit code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metering.cli import ExitCode, app

from .helpers import Cli, Market, clean, fails, flat, free_port, key_hex, ok, plain

REPO = Path(__file__).resolve().parents[2]

COMMANDS = [
    ["node"], ["demo"], ["dev", "advance"], ["dev", "mine"], ["deploy"],
    ["timeframe", "create"], ["timeframe", "list"],
    ["rules", "set"], ["rules", "show"],
    ["customer", "enroll"], ["customer", "suspend"], ["customer", "status"],
    ["agent", "grant"], ["agent", "revoke"],
    ["account", "new"],
    ["activate"], ["renew"], ["deactivate"], ["expire"], ["usage"],
    ["index"], ["invoice"], ["anchor"], ["verify"],
]


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = ok(CliRunner().invoke(app, ["--help"]))
    out = plain(result.stdout)
    for name in {path[0] for path in COMMANDS}:
        assert f" {name} " in out, name
    epilog = ("Exit codes: 0 ok, 1 differences found, 2 usage, 3 bad input, 4 no node, 5 transaction failed, "
              "6 denied, 130 interrupted.")
    assert epilog in flat(result.stdout)  # wrapped to the terminal's width in the output
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 130]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_every_command_has_help(path: list[str]) -> None:
    result = ok(CliRunner().invoke(app, [*path, "--help"]))
    assert "Usage:" in plain(result.stdout)


def test_unknown_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["timeframe", "list", "--no-such-option"])
    assert result.exit_code == ExitCode.USAGE
    clean(result)
    assert "No such option" in plain(result.stderr)


def test_no_node_at_the_url_exits_4_naming_the_url(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    fails(cli("deploy", ETH_RPC_URL=url), ExitCode.UNREACHABLE, f"no node answers at {url}", "metering node")
    fails(cli("timeframe", "list", "--contract", cli.actors.admin.address, "--rpc-url", url), 4, url)


def test_a_malformed_rpc_url_is_bad_input(cli: Cli) -> None:
    fails(cli("deploy", ETH_RPC_URL="127.0.0.1:8545"), ExitCode.INPUT, "not an RPC URL")


def test_missing_contract_exits_3_naming_the_variable(cli: Cli) -> None:
    for args in (["timeframe", "list"], ["customer", "enroll", cli.actors.customers[0].address],
                 ["usage", "--customer", cli.actors.customers[0].address, "--timeframe", "1", "--type", "1"],
                 ["index"]):
        fails(cli(*args), ExitCode.INPUT, "no contract address", "METERING_CONTRACT")


def test_contract_that_is_not_a_meter(cli: Cli) -> None:
    fails(cli("timeframe", "list", "--contract", "junk"), 3, "not an address: junk")
    fails(cli("timeframe", "list", "--contract", cli.actors.admin.address), 3, "no contract code at")


def test_no_signing_key_exits_3(cli: Cli) -> None:
    line = fails(cli("deploy", METERING_PRIVATE_KEY=None), ExitCode.INPUT, "no signing key", "METERING_PRIVATE_KEY")
    assert "--keystore" in line


def test_a_malformed_key_is_refused_without_echoing_it(cli: Cli) -> None:
    secret = "12" * 31  # 62 hex digits: two short
    line = fails(cli("deploy", METERING_PRIVATE_KEY=secret), 3, "not a private key")
    assert secret not in line


def test_an_outsider_cannot_create_a_timeframe(cli: Cli) -> None:
    cli.deploy()
    result = cli("timeframe", "create", "--currency", "EUR", "--starts-in", "60", "--duration", "60",
                 METERING_PRIVATE_KEY=key_hex(cli.actors.outsider))
    fails(result, ExitCode.TX_FAILED, "AccessControlUnauthorizedAccount", cli.actors.outsider.address)


def test_an_outsider_cannot_activate(cli: Cli, market: Market) -> None:
    result = cli("activate", "--customer", market.customer, "--type", "1",
                 METERING_PRIVATE_KEY=key_hex(cli.actors.outsider))
    fails(result, 5, "AccessControlUnauthorizedAccount", "AGENT_ROLE")


def _named_commands(text: str) -> list[list[str]]:
    """The command paths (``rules set``) of every ``metering ...`` command written in ``text``."""
    found: list[list[str]] = []
    for match in re.finditer(r"(?:^|`)metering ((?:[a-z][a-z-]* ?)+)", text, flags=re.M):
        words = match.group(1).split()
        found.append(words[:2] if words[0] in {"timeframe", "rules", "customer", "agent", "account", "dev", "role"}
                     else words[:1])
    return found


@pytest.mark.parametrize("source", ["README.md", "examples/rules.yaml"])
def test_every_metering_command_the_docs_name_exists(source: str) -> None:
    text = (REPO / source).read_text(encoding="utf-8")
    named = _named_commands(text)
    assert named, source
    for path in named:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"{source} names `metering {' '.join(path)}`: {plain(result.output)[-300:]}"
