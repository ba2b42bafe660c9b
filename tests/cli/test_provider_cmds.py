"""Provider commands: deploy, timeframe create/list, rules set/show, customer enroll/suspend/status, agent
grant/revoke, account new (and signing with the keystore it writes)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from web3 import Web3

from .helpers import DB, WEB, Cli, Market, as_json, fails, flat, key_hex, ok, plain, write_rules

# ---------------------------------------------------------------------------------------------------- deploy


def test_deploy_prints_the_address_and_the_export_line(cli: Cli) -> None:
    out = plain(ok(cli("deploy")).stdout)
    assert "Meter deployed at 0x" in out
    address = out.split("export METERING_CONTRACT=")[1].split()[0]
    assert Web3.is_checksum_address(address)
    assert len(cli.chain.w3.eth.get_code(address)) > 0


def test_deploy_json(cli: Cli) -> None:
    data = as_json(ok(cli("deploy", "--json")))
    assert set(data) == {"address", "chain_id", "tx_hash", "block_number"}
    assert data["chain_id"] == 31337
    receipt = cli.chain.w3.eth.get_transaction_receipt(data["tx_hash"])
    assert receipt["contractAddress"] == data["address"]
    assert receipt["blockNumber"] == data["block_number"]


def test_deploy_with_a_bad_admin_delay(cli: Cli) -> None:
    fails(cli("deploy", "--admin-delay", "-1"), 3, "admin transfer delay")


# ---------------------------------------------------------------------------------------------------- timeframes


def test_timeframe_create_relative_and_list(cli: Cli) -> None:
    cli.deploy()
    now = cli.chain.now()
    before = int(time.time())
    out = plain(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-in", "100", "--duration", "3600")).stdout)
    after = int(time.time())
    assert out.startswith("timeframe 1: [")
    assert "in EUR, 1h" in out
    created = as_json(ok(cli("timeframe", "create", "--currency", "USD", "--start", str(now + 10_000),
                             "--end", str(now + 20_000), "--json")))
    assert created == {"timeframe": 2, "start": now + 10_000, "end": now + 20_000, "currency": "USD"}

    frames = as_json(ok(cli("timeframe", "list", "--json")))
    assert [f["id"] for f in frames] == [1, 2]
    first = frames[0]
    assert first["end"] - first["start"] == 3600
    assert before + 100 <= first["start"] <= after + 100  # this machine's clock when the command ran, plus 100
    assert (first["currency"], first["active"]) == ("EUR", False)

    cli.chain.mine(first["start"])
    frames = as_json(ok(cli("timeframe", "list", "--json")))
    assert [f["active"] for f in frames] == [True, False]
    table = plain(ok(cli("timeframe", "list")).stdout)
    assert "USD" in table
    assert "yes" in table


def test_timeframe_list_of_a_new_meter_is_empty(cli: Cli) -> None:
    cli.deploy()
    assert as_json(ok(cli("timeframe", "list", "--json"))) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "99999999999", "--starts-in", "60", "--duration", "60"],
         "exactly one of --starts-at and --starts-in"),
        (["--duration", "60"], "exactly one of --starts-at and --starts-in"),
        (["--starts-in", "60", "--end", "99999999999", "--duration", "60"], "exactly one of --ends-at and --duration"),
        (["--starts-in", "60"], "exactly one of --ends-at and --duration"),
        (["--starts-in", "2 minutes", "--duration", "60"], "--starts-in '2 minutes' is not a duration"),
        (["--starts-at", "2026-12-01T00:00", "--duration", "60"], "has no timezone"),
        (["--starts-in", "2m", "--duration", "0s"], "--duration must be longer than 0s"),
    ],
)
def test_timeframe_create_needs_one_start_and_one_end(cli: Cli, args: list[str], message: str) -> None:
    cli.deploy()
    fails(cli("timeframe", "create", "--currency", "EUR", *args), 3, message)
    assert as_json(ok(cli("timeframe", "list", "--json"))) == []


def test_timeframe_starting_in_the_past_is_refused_before_sending(cli: Cli) -> None:
    cli.deploy()
    line = fails(cli("timeframe", "create", "--currency", "EUR", "--start", "1", "--duration", "60"), 3,
                 "would start at 1 (1970-01-01T00:00:01Z), not after the chain's time", "--starts-at 20")
    assert "ahead of this machine" not in line
    assert as_json(ok(cli("timeframe", "list", "--json"))) == []


def test_timeframe_create_takes_iso_times_and_durations_in_units(cli: Cli) -> None:
    cli.deploy()
    start = cli.chain.now() + 86_400 - cli.chain.now() % 86_400 + 86_400  # midnight UTC, a day or two ahead
    iso = datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
    created = as_json(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-at", iso, "--duration", "30d",
                             "--json")))
    assert (created["start"], created["end"]) == (start, start + 30 * 86_400)
    paris = datetime.fromtimestamp(start + 31 * 86_400, tz=UTC).astimezone(timezone(timedelta(hours=1)))
    out = flat(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-at", paris.isoformat(),
                      "--ends-at", str(start + 32 * 86_400))).stdout)
    assert f"[{start + 31 * 86_400} ({datetime.fromtimestamp(start + 31 * 86_400, tz=UTC):%Y-%m-%dT%H:%M:%S}Z)" in out
    assert out.endswith("in EUR, 1d")
    table = flat(ok(cli("timeframe", "list")).stdout)
    assert str(start) in table and f"({iso[:-1]}:00Z)" in table  # the cell may wrap between the two


def test_starts_in_is_refused_when_the_chain_is_ahead_of_the_wall_clock(cli: Cli) -> None:
    cli.deploy()
    cli.chain.advance(3 * 3600)  # a dev chain moved forward: "in 2 minutes" is already its past
    line = fails(cli("timeframe", "create", "--currency", "EUR", "--starts-in", "2m", "--duration", "1h"), 3,
                 "not after the chain's time", "ahead of this machine's", "--starts-at")
    suggested = line.rsplit("--starts-at ", 1)[1]
    ok(cli("timeframe", "create", "--currency", "EUR", "--starts-at", suggested, "--duration", "1h"))


def test_timeframe_create_needs_the_currency(cli: Cli) -> None:
    cli.deploy()
    result = cli("timeframe", "create", "--starts-in", "60", "--duration", "60")
    assert result.exit_code == 2
    assert "--currency" in plain(result.stderr)


# ---------------------------------------------------------------------------------------------------- rules


def _timeframe(cli: Cli) -> int:
    cli.deploy()
    data = as_json(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-in", "600", "--duration", "3600",
                          "--json")))
    return int(data["timeframe"])


def test_rules_set_from_the_example_file_and_show(cli: Cli) -> None:
    timeframe = _timeframe(cli)
    rules = write_rules(cli.tmp_path / "rules.yaml", timeframe)
    out = flat(ok(cli("rules", "set", str(rules))).stdout)
    assert "type 1 (db-server): rules hash 0x" in out
    assert out.count("set in 0x") == 2
    assert f"rules of timeframe {timeframe} set from" in out

    again = as_json(ok(cli("rules", "set", str(rules), "--json")))
    assert [(a["instance_type"], a["name"], a["changed"]) for a in again] == [
        (DB, "db-server", False), (WEB, "web-worker", False)]

    shown = as_json(ok(cli("rules", "show", "--timeframe", str(timeframe), "--type", "1", "--type", "2",
                           "--type", "3", "--json")))
    assert [row["instance_type"] for row in shown] == [1, 2, 3]
    db = shown[0]["rules"]
    assert (db["price_per_activation"], db["price_per_second"], db["included_activations"]) == (500, 2, 10)
    assert (db["included_seconds"], db["max_concurrent"], db["max_activations"]) == (36000, 3, 100)
    assert db["mode"] == "HARD"
    assert shown[1]["rules"]["mode"] == "SOFT"
    assert shown[2]["rules"] is None

    table = plain(ok(cli("rules", "show", "--timeframe", str(timeframe), "--type", "1", "--type", "3")).stdout)
    assert "36000" in table
    assert "hard" in table
    assert "no rules" in table


def test_rules_set_from_json(cli: Cli) -> None:
    timeframe = _timeframe(cli)
    path = cli.tmp_path / "rules.json"
    path.write_text(json.dumps({"timeframe": timeframe, "types": {"gpu": {
        "id": 7, "price_per_activation": 1, "price_per_second": 3, "mode": "soft"}}}), encoding="utf-8")
    ok(cli("rules", "set", str(path)))
    shown = as_json(ok(cli("rules", "show", "--timeframe", str(timeframe), "--type", "7", "--json")))
    assert shown[0]["rules"]["price_per_second"] == 3


@pytest.mark.parametrize(
    ("replace", "fragments"),
    [
        ({"max_concurrent: 3": "max_concurent: 3"}, ["types.db-server", "max_concurent"]),
        ({"price_per_second: 2 ": "price_per_second: 0.5 "}, ["types.db-server.price_per_second"]),
        ({"mode: hard": "mode: strict"}, ["types.db-server.mode", "strict"]),
        ({"    id: 2": "    id: 1"}, ["types.web-worker.id"]),
    ],
    ids=["misspelt-key", "float-price", "unknown-mode", "duplicate-id"],
)
def test_a_malformed_rules_file_names_the_field(cli: Cli, replace: dict[str, str], fragments: list[str]) -> None:
    timeframe = _timeframe(cli)
    rules = write_rules(cli.tmp_path / "rules.yaml", timeframe, replace)
    fails(cli("rules", "set", str(rules)), 3, f"error: {rules.name}: ", *fragments)
    shown = as_json(ok(cli("rules", "show", "--timeframe", str(timeframe), "--type", "1", "--json")))
    assert shown[0]["rules"] is None  # nothing was sent


def test_rules_set_with_a_missing_file(cli: Cli) -> None:
    cli.deploy()
    missing = cli.tmp_path / "nope.yaml"
    fails(cli("rules", "set", str(missing)), 3, str(missing))


def test_rules_are_frozen_once_the_timeframe_started(cli: Cli, market: Market) -> None:
    rules = write_rules(cli.tmp_path / "later.yaml", market.timeframe, {"price_per_second: 2 ": "price_per_second: 3 "})
    fails(cli("rules", "set", str(rules)), 5, "contract reverted: Metering")


def test_rules_show_bad_input(cli: Cli) -> None:
    cli.deploy()
    result = cli("rules", "show", "--timeframe", "1")
    assert result.exit_code == 2
    assert "--type" in plain(result.stderr)
    fails(cli("rules", "show", "--timeframe", "1", "--type", "1", "--contract", "0xdead"), 3, "not an address")
    result = cli("rules", "show", "--timeframe", "-1", "--type", "1")  # ids are uint16
    assert result.exit_code == 2
    assert "Invalid value for '--timeframe'" in plain(result.stderr)


# ---------------------------------------------------------------------------------------------------- customers


def test_customer_enroll_suspend_status(cli: Cli) -> None:
    cli.deploy()
    alice, bob = cli.actors.customers[0].address, cli.actors.customers[1].address
    assert as_json(ok(cli("customer", "status", alice, "--json"))) == {"customer": alice, "status": "NONE"}

    out = plain(ok(cli("customer", "enroll", alice, bob.lower())).stdout)
    assert f"{alice}: enrolled" in out
    assert f"{bob}: enrolled" in out  # checksummed
    assert "(unchanged)" in plain(ok(cli("customer", "enroll", alice)).stdout)
    assert plain(ok(cli("customer", "status", alice)).stdout).strip() == f"{alice}: enrolled"

    assert f"{bob}: suspended" in plain(ok(cli("customer", "suspend", bob)).stdout)
    assert as_json(ok(cli("customer", "status", bob, "--json")))["status"] == "SUSPENDED"
    assert "enrolled" in plain(ok(cli("customer", "enroll", bob)).stdout)  # reinstated
    assert as_json(ok(cli("customer", "status", bob, "--json")))["status"] == "ENROLLED"


@pytest.mark.parametrize("action", ["enroll", "suspend", "status"])
def test_customer_commands_refuse_a_bad_address(cli: Cli, action: str) -> None:
    cli.deploy()
    fails(cli("customer", action, "0x1234"), 3, "not an address: 0x1234")


def test_customer_enroll_checks_every_address_before_sending(cli: Cli) -> None:
    cli.deploy()
    alice = cli.actors.customers[0].address
    fails(cli("customer", "enroll", alice, "bob"), 3, "not an address: bob")


def test_an_outsider_cannot_enroll(cli: Cli) -> None:
    cli.deploy()
    result = cli("customer", "enroll", cli.actors.customers[0].address,
                 METERING_PRIVATE_KEY=key_hex(cli.actors.outsider))
    fails(result, 5, "AccessControlUnauthorizedAccount")


# ---------------------------------------------------------------------------------------------------- agents


def test_agent_grant_and_revoke(cli: Cli) -> None:
    cli.deploy()
    agent, agent2 = cli.actors.agent.address, cli.actors.agent2.address
    out = plain(ok(cli("agent", "grant", agent, agent2)).stdout)
    assert f"{agent} holds AGENT_ROLE" in out
    assert f"{agent2} holds AGENT_ROLE" in out
    assert "(unchanged)" in plain(ok(cli("agent", "grant", agent)).stdout)
    assert f"{agent} does not hold AGENT_ROLE" in plain(ok(cli("agent", "revoke", agent)).stdout)
    assert "(unchanged)" in plain(ok(cli("agent", "revoke", agent)).stdout)


def test_agent_grant_bad_address_and_outsider(cli: Cli) -> None:
    cli.deploy()
    fails(cli("agent", "grant", "agent-1"), 3, "not an address: agent-1")
    fails(cli("agent", "revoke", "0xabc"), 3, "not an address: 0xabc")
    outsider = key_hex(cli.actors.outsider)
    fails(cli("agent", "grant", cli.actors.outsider.address, METERING_PRIVATE_KEY=outsider), 5,
          "AccessControlUnauthorizedAccount")


# ---------------------------------------------------------------------------------------------------- keystores


def test_account_new_then_sign_with_the_keystore(cli: Cli) -> None:
    keystore = cli.tmp_path / "keys" / "admin.json"
    out = plain(ok(cli("account", "new", str(keystore), METERING_PASSWORD="correct horse")).stdout)
    assert f"keystore for {cli.actors.admin.address} written to" in out  # METERING_PRIVATE_KEY was encrypted
    assert json.loads(keystore.read_text())["address"].lower() == cli.actors.admin.address.lower()[2:]
    assert keystore.stat().st_mode & 0o077 == 0

    data = as_json(ok(cli("deploy", "--json", "--keystore", str(keystore), METERING_PRIVATE_KEY=None,
                          METERING_PASSWORD="correct horse")))
    tx = cli.chain.w3.eth.get_transaction(data["tx_hash"])
    assert tx["from"] == cli.actors.admin.address

    fails(cli("deploy", "--keystore", str(keystore), METERING_PRIVATE_KEY=None, METERING_PASSWORD="wrong"), 3,
          "wrong password", str(keystore))
    # METERING_KEYSTORE is the option's fallback; without METERING_PASSWORD the password is prompted for, hidden
    result = ok(cli("deploy", "--json", METERING_PRIVATE_KEY=None, METERING_KEYSTORE=str(keystore),
                    input="correct horse\n"))
    assert "correct horse" not in result.output
    assert Web3.is_checksum_address(json.loads(result.stdout.split("\n", 1)[1])["address"])
    fails(cli("deploy", METERING_PRIVATE_KEY=None, METERING_KEYSTORE=str(keystore), input="nope\n"), 3,
          "wrong password")


def test_account_new_with_a_prompted_password_and_a_random_key(cli: Cli) -> None:
    keystore = cli.tmp_path / "agent.json"
    result = ok(cli("account", "new", str(keystore), METERING_PRIVATE_KEY=None, input="s3cret\ns3cret\n"))
    assert "s3cret" not in result.output
    address = Web3.to_checksum_address(json.loads(keystore.read_text())["address"])
    assert f"keystore for {address} written to" in plain(result.stdout)
    assert address != cli.actors.admin.address
    # the new account holds no ether: deploying with it fails as a transaction, after the key was unlocked
    fails(cli("deploy", "--keystore", str(keystore), METERING_PRIVATE_KEY=None, METERING_PASSWORD="s3cret"), 5)


def test_account_new_refuses_to_overwrite_and_a_bad_key(cli: Cli) -> None:
    keystore = cli.tmp_path / "admin.json"
    keystore.write_text("{}", encoding="utf-8")
    fails(cli("account", "new", str(keystore), METERING_PASSWORD="pw"), 3, "already exists")
    assert keystore.read_text() == "{}"
    fails(cli("account", "new", str(cli.tmp_path / "x.json"), METERING_PASSWORD="pw", METERING_PRIVATE_KEY="0xzz"), 3,
          "not a private key")
    fails(cli("deploy", "--keystore", str(cli.tmp_path / "missing.json"), METERING_PASSWORD="pw"), 3,
          "keystore not found")
    fails(cli("deploy", "--keystore", str(keystore), METERING_PASSWORD="pw"), 3, "not an Ethereum keystore")
