"""Inputs that used to end in a traceback, strict address checksums, and the machine-readable side of the CLI:
``--version``, flags shown as flags, ``--json`` errors as one JSON object, ``invoice --json``."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from metering import __version__
from metering.cli import ExitCode, app

from .helpers import Cli, Market, as_json, clean, fails, ok, plain

COUNTERFEIT = "0x5fbDB2315678afecb367f032d93F642f64180aa3"  # the checksummed 0x5FbDB... with one letter's case flipped


def json_error(result: object, code: int, *fragments: str) -> str:
    """Under --json a failure prints exactly one JSON object {"error", "code"} on stdout, nothing on stderr."""
    assert result.exit_code == code, f"expected exit {code}, got {result.exit_code}:\n{result.output}"  # type: ignore[attr-defined]
    clean(result)  # type: ignore[arg-type]
    document = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert document == {"error": document["error"], "code": code}, document
    assert result.stderr.strip() == "", result.stderr  # type: ignore[attr-defined]
    for fragment in fragments:
        assert fragment in document["error"], document
    return str(document["error"])


# ---------------------------------------------------------------------- inputs that gave a traceback


def test_a_keystore_of_random_bytes_is_bad_input_not_a_traceback(cli: Cli) -> None:
    keystore = cli.tmp_path / "random.json"
    keystore.write_bytes(os.urandom(256) + b"\xff\xfe")
    fails(cli("deploy", "--keystore", str(keystore), METERING_PASSWORD="x"), ExitCode.INPUT, str(keystore),
          "not a keystore")


def test_negative_confirmations_are_a_usage_error(cli: Cli, market: Market) -> None:
    result = cli("index", "--confirmations", "-5")
    assert result.exit_code == ExitCode.USAGE, result.output
    clean(result)
    assert "--confirmations" in plain(result.stderr)


def test_invoice_into_a_missing_directory_is_bad_input(cli: Cli, market: Market) -> None:
    target = cli.tmp_path / "no" / "such" / "dir" / "invoice.json"
    fails(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(target)),
          ExitCode.INPUT, "cannot write", str(target))


# ---------------------------------------------------------------------- addresses


def test_an_address_with_a_wrong_mixed_case_checksum_is_refused(cli: Cli, market: Market) -> None:
    fails(cli("customer", "enroll", COUNTERFEIT), ExitCode.INPUT, "wrong EIP-55 checksum", COUNTERFEIT)
    fails(cli("customer", "status", COUNTERFEIT), ExitCode.INPUT, "wrong EIP-55 checksum")
    fails(cli("timeframe", "list", "--contract", COUNTERFEIT), ExitCode.INPUT, "wrong EIP-55 checksum")


@pytest.mark.parametrize("spelling", [str.lower, str.upper, lambda a: a], ids=["lower", "upper", "checksummed"])
def test_single_case_and_checksummed_addresses_are_accepted(cli: Cli, market: Market, spelling: object) -> None:
    address = cli.actors.customers[2].address
    hex_part = spelling(address[2:])  # type: ignore[operator]
    ok(cli("customer", "enroll", "0x" + hex_part))
    assert as_json(ok(cli("customer", "status", address, "--json")))["status"] == "ENROLLED"


# ---------------------------------------------------------------------- --version and flags


def test_version_prints_the_package_version() -> None:
    result = ok(CliRunner().invoke(app, ["--version"]))
    assert result.stdout.strip() == f"metering {__version__}"


@pytest.mark.parametrize("path", [["usage"], ["verify"], ["anchor"], ["invoice"], ["timeframe", "list"]])
def test_boolean_options_are_shown_as_flags_without_a_value(path: list[str]) -> None:
    out = plain(ok(CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})).stdout)
    assert "<bool>" not in out, out
    assert "--no-" not in out, out
    assert "--json" in out


# ---------------------------------------------------------------------- --json errors


def test_json_errors_are_one_json_object_with_the_exit_code(cli: Cli, market: Market) -> None:
    json_error(cli("customer", "status", COUNTERFEIT, "--json"), ExitCode.INPUT, "wrong EIP-55 checksum")
    json_error(cli("timeframe", "list", "--json", METERING_CONTRACT=None), ExitCode.INPUT, "METERING_CONTRACT")
    json_error(cli("timeframe", "list", "--json", ETH_RPC_URL="http://127.0.0.1:9"), ExitCode.UNREACHABLE,
               "no node answers")


def test_json_usage_errors_are_json_too(cli: Cli) -> None:
    json_error(cli("index", "--json", "--confirmations", "-5"), ExitCode.USAGE, "--confirmations")
    json_error(cli("timeframe", "list", "--json", "--no-such-option"), ExitCode.USAGE, "--no-such-option")


def test_without_json_errors_stay_one_line_on_stderr(cli: Cli, market: Market) -> None:
    fails(cli("customer", "status", COUNTERFEIT), ExitCode.INPUT, "wrong EIP-55 checksum")


# ---------------------------------------------------------------------- invoice --json


def test_invoice_json_flag_prints_the_canonical_json(cli: Cli, market: Market) -> None:
    args = ("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe))
    by_flag = ok(cli(*args, "--json")).stdout
    by_format = ok(cli(*args, "--format", "json")).stdout
    assert by_flag == by_format
    assert json.loads(by_flag)["customer"] == market.customer
    json_error(cli(*args, "--json", "--format", "csv"), ExitCode.INPUT, "--json")
