"""The conventions of the ecosystem and of our own outputs: ``-r``, ``ETH_KEYSTORE``/``ETH_PASSWORD`` as cast reads
them, the profile file ``metering.toml`` (flag > environment > profile), money with its currency, JSON integers as
numbers, and tables that fit 80 columns without cutting a header.

The adversary of the precedence rule is a stale profile: a value on the command line or in the environment must
always beat it, or a provider would act on the contract of last month's file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from metering.chain.accounts import create_keystore
from metering.cli._common import fitting_table
from metering.cli._profile import find_profile, load_profile
from metering.errors import ConfigError

from .helpers import Cli, Market, as_json, fails, flat, free_port, key_hex, ok


def _profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "metering.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_profile_fills_what_neither_flag_nor_environment_gives(cli: Cli, market: Market) -> None:
    profile = _profile(cli.tmp_path, f'rpc_url = "{cli.node.rpc_url}"\ncontract = "{market.contract}"\n')
    listed = as_json(ok(cli("timeframe", "list", "--json", ETH_RPC_URL=None, METERING_CONTRACT=None,
                            METERING_PROFILE=profile)))
    assert [frame["id"] for frame in listed] == [market.timeframe]


def test_flag_beats_environment_beats_profile(cli: Cli, market: Market) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    stale = _profile(cli.tmp_path, f'rpc_url = "{dead}"\ncontract = "{cli.actors.admin.address}"\n')
    # the environment beats the profile: the node and contract of the environment are used
    ok(cli("timeframe", "list", METERING_PROFILE=stale))
    # the flag beats the environment
    fails(cli("timeframe", "list", "-r", dead, METERING_PROFILE=stale), 4, dead)
    fails(cli("timeframe", "list", "--contract", cli.actors.admin.address, METERING_PROFILE=stale), 3,
          "no contract code at")
    # with neither, the profile is what is used
    fails(cli("timeframe", "list", ETH_RPC_URL=None, METERING_PROFILE=stale), 4, dead)


def test_the_profile_in_the_current_folder_and_relative_paths(tmp_path: Path) -> None:
    _profile(tmp_path, 'keystore = "keys/admin.json"\ndb = "events.sqlite"\nrpc_timeout = 5\n')
    found = find_profile({}, cwd=tmp_path)
    assert found == tmp_path / "metering.toml"
    profile = load_profile(found)
    assert profile.defaults() == {"keystore": str(tmp_path / "keys" / "admin.json"),
                                  "db": str(tmp_path / "events.sqlite")}
    assert profile.get("rpc_timeout") == 5.0
    assert find_profile({"METERING_PROFILE": ""}, cwd=tmp_path) is None  # set but empty: none at all


@pytest.mark.parametrize(("text", "says"), [
    ("rpc_timeout = -1\n", "bad entry rpc_timeout"),
    ("contract = 5\n", "bad entry contract"),
    ("[section]\nrpc_url = 'x'\n", "bad entry section"),
    ("rpc_url = 'a' 'b'\n", "not valid TOML"),
])
def test_a_bad_profile_is_refused_naming_the_file(tmp_path: Path, text: str, says: str) -> None:
    path = Path(_profile(tmp_path, text))
    with pytest.raises(ConfigError, match=says) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)


def test_eth_keystore_and_eth_password_as_cast_reads_them(cli: Cli) -> None:
    keystore = cli.tmp_path / "admin.json"
    create_keystore(keystore, "correct horse", key_hex(cli.actors.admin), kdf="pbkdf2", iterations=2)
    data = as_json(ok(cli("deploy", "--json", METERING_PRIVATE_KEY=None, ETH_KEYSTORE=str(keystore),
                          ETH_PASSWORD="correct horse")))
    tx = cli.chain.w3.eth.get_transaction(data["tx_hash"])
    assert tx["from"] == cli.actors.admin.address
    # ETH_* wins over METERING_* (the first one set, in cast's order)
    fails(cli("deploy", METERING_PRIVATE_KEY=None, ETH_KEYSTORE=str(keystore), ETH_PASSWORD="nope",
              METERING_PASSWORD="correct horse"), 3, "wrong password")


def test_r_is_rpc_url(cli: Cli, market: Market) -> None:
    listed = as_json(ok(cli("timeframe", "list", "--json", "-r", cli.node.rpc_url, ETH_RPC_URL=None)))
    assert listed[0]["currency"] == "EUR"


def test_events_json_integers_are_numbers_and_money_has_its_currency(cli: Cli, market: Market) -> None:
    ok(cli("customer", "cap", "2.50", "--currency", "EUR",
           METERING_PRIVATE_KEY=key_hex(cli.actors.customers[0])))
    data = as_json(ok(cli("events", "--json")))
    created = next(e for e in data if e["event"] == "TimeframeCreated")
    assert isinstance(created["start"], int) and isinstance(created["block_number"], int)
    assert isinstance(created["block_time"], int) and created["currency"] == "EUR"
    rules = next(e for e in data if e["event"] == "RulesSet")
    assert isinstance(rules["price_per_activation"], int) and rules["mode"] in ("HARD", "SOFT")
    cap = next(e for e in data if e["event"] == "SpendingCapSet")
    assert (cap["cap"], cap["currency"]) == (250, "EUR")  # a cap carries its currency (contract v3)
    text = flat(ok(cli("events")).stdout)
    assert "cap=2.50 EUR" in text
    assert "0.50 EUR/start" in text  # the rules' prices with their currency
    # every timeframe is in EUR: the cap is shown in it by `customer list`, and named in its JSON
    assert "spending cap 2.50 EUR per timeframe" in flat(ok(cli("customer", "list")).stdout)
    listed = as_json(ok(cli("customer", "list", "--json")))
    assert {(r["spending_cap_minor"], r["currency"]) for r in listed if r["customer"] == market.customer} == {
        (250, "EUR")}


def test_customer_account_shows_the_cap_in_the_timeframes_currency(cli: Cli, market: Market) -> None:
    as_customer = key_hex(cli.actors.customers[0])
    ok(cli("customer", "cap", "2.50", "--currency", "EUR", METERING_PRIVATE_KEY=as_customer))
    ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1"))
    text = flat(ok(cli("customer", "account", market.customer)).stdout)
    assert "cap 2.50 EUR per timeframe" in text and f"committed 0.00 EUR in timeframe {market.timeframe}" in text
    data = as_json(ok(cli("customer", "account", market.customer, "--json")))
    assert (data["spending_cap_minor"], data["currency"]) == (250, "EUR")


def _render(table: object, *, soft_wrap: bool = False) -> str:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None, soft_wrap=soft_wrap).print(table)
    return out.getvalue()


HEADERS = ["type", "charge", "quantity", "included", "billable", "unit price", "amount", "committed"]


def test_a_statement_table_fits_80_columns_with_every_header_whole() -> None:
    table = fitting_table(*HEADERS, title="statement of acme, timeframe 1")
    table.add_row("1 db-server", "activations", "3 (1 overage)", "10", "0", "0.50 EUR / activation", "0.00 EUR", "")
    table.add_row("1 db-server", "seconds", "5400 s", "36000 s", "0 s", "0.12 EUR / hour", "0.00 EUR",
                  "600 s, 0.02 EUR")
    rendered = _render(table)
    assert max(len(line) for line in rendered.splitlines()) <= 80, rendered
    assert "…" not in rendered
    assert {word for header in HEADERS for word in header.split()} <= set(rendered.split()), rendered


def test_cells_too_long_for_80_columns_wrap_and_cut_no_header() -> None:
    """Content wider than the terminal: the CLI's console (soft wrap) lets the terminal wrap the lines; nothing is
    cut to an ellipsis, header or cell."""
    table = fitting_table(*HEADERS)
    table.add_row("1 db-server", "seconds", "123456789 s (4 overage)", "36000 s", "123420789 s",
                  "0.000003333333 EUR / second", "411.40 EUR", "600 s, 0.02 EUR")
    rendered = _render(table, soft_wrap=True)
    assert "…" not in rendered
    assert {word for header in HEADERS for word in header.split()} <= set(rendered.split()), rendered


def test_verify_of_an_invoice_of_another_chain_names_both_chains(cli: Cli, market: Market) -> None:
    path = cli.tmp_path / "statement.json"
    ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(path)))
    document = json.loads(path.read_text(encoding="utf-8"))
    document["evidence"]["chain_id"] = 5
    path.write_text(json.dumps(document), encoding="utf-8")
    fails(cli("verify", str(path)), 3, "is an invoice of chain 5", "is chain 31337")
    fails(cli("anchor", str(path)), 3, "is an invoice of chain 5", "is chain 31337")


def test_invoice_says_it_indexed_first(cli: Cli, market: Market) -> None:
    result = ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe)))
    assert "indexed" in result.stderr and "new events first" in result.stderr
    assert ": 0 new events" in flat(ok(cli("index")).stdout)  # the invoice had, and said so


def test_timeframe_create_refuses_an_overlap_and_suggests_the_end_of_the_latest(cli: Cli, market: Market) -> None:
    from metering.timeparse import format_instant

    line = fails(cli("timeframe", "create", "--currency", "EUR", "--starts-at", str(market.end - 60),
                     "--duration", "1h"), 3, "before the latest timeframe ends")
    suggested = line.rsplit("--starts-at ", 1)[1]
    assert suggested == format_instant(market.end)
    created = as_json(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-at", suggested, "--duration", "1h",
                             "--json")))
    assert created["start"] == market.end
    # after moving the clock past every timeframe, the suggestion is in the chain's future, not in the past
    cli.chain.advance(3 * 3600)
    line = fails(cli("timeframe", "create", "--currency", "EUR", "--starts-in", "1m", "--duration", "1h"), 3,
                 "start it later, e.g. --starts-at ")
    suggested = line.rsplit("--starts-at ", 1)[1]
    assert suggested > format_instant(cli.chain.now())
    ok(cli("timeframe", "create", "--currency", "EUR", "--starts-at", suggested, "--duration", "1h"))


@pytest.mark.parametrize(("error", "types", "values", "iso"), [
    ("MeteringTimeframeStartsInPast", ["uint40", "uint256"], [1_796_083_200, 1_796_083_260],
     ["1796083200 (2026-12-01T00:00:00Z)", "1796083260 (2026-12-01T00:01:00Z)"]),
    ("MeteringTimeframeOverlap", ["uint40", "uint40"], [1_796_083_200, 1_796_090_400],
     ["2026-12-01T00:00:00Z", "2026-12-01T02:00:00Z"]),
    ("MeteringTimeframeNotEnded", ["uint16", "uint40"], [1, 1_796_083_200], ["2026-12-01T00:00:00Z"]),
])
def test_reverts_print_iso_times(error: str, types: list[str], values: list[int], iso: list[str]) -> None:
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    from metering._utils.abi_errors import meter_error_decoder

    data = keccak(text=f"{error}({','.join(types)})")[:4] + encode(types, values)
    decoded = meter_error_decoder().decode(data)
    assert decoded is not None and decoded.name == error
    for text in iso:
        assert text in str(decoded), str(decoded)
