"""The explorer-like view in the terminal: ``metering events`` (list, filters, --json, --follow), ``metering customer
list`` and ``metering role`` (rules-manager role, two-step admin transfer)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for

from .helpers import DB, WEB, Cli, Market, as_json, fails, flat, key_hex, ok, plain

REPO = Path(__file__).resolve().parents[2]


def _activate(cli: Cli, market: Market, customer: str, kind: int) -> str:
    granted = as_json(ok(cli.as_agent("activate", "--customer", customer, "--type", str(kind), "--json")))
    return str(granted["instance_id"])


def test_events_lists_decoded_events_with_names_text_and_iso_times(cli: Cli, market: Market) -> None:
    instance = _activate(cli, market, market.customer, DB)
    out = flat(ok(cli("events", "--limit", "0")).stdout)
    for name in ("TimeframeCreated", "RulesSet", "CustomerEnrolled", "ActivationGranted"):
        assert name in out, name
    assert "currency=EUR" in out  # the currency code as text, not bytes8 hex
    assert "mode=HARD" in out or "HARD" in out  # the limit mode by name
    assert f"{cli.actors.agent.address[:6]}…{cli.actors.agent.address[-4:]} #" in out  # agent #request
    assert "Z" in out and "T" in out  # block numbers with their ISO time
    data = as_json(ok(cli("events", "--json", "--event", "ActivationGranted")))
    assert [e["event"] for e in data] == ["ActivationGranted"]
    granted = data[0]
    assert granted["instance_id"] == instance
    assert granted["agent"] == cli.actors.agent.address
    assert granted["customer"] == market.customer
    assert granted["block_time_iso"].endswith("Z")
    assert granted["overage"] is False


def test_events_filters_by_customer_type_timeframe_and_blocks(cli: Cli, market: Market) -> None:
    _activate(cli, market, market.customer, DB)
    _activate(cli, market, market.customer2, WEB)
    mine = as_json(ok(cli("events", "--json", "--customer", market.customer)))
    assert mine and all(e["customer"] == market.customer for e in mine)
    web = as_json(ok(cli("events", "--json", "--type", str(WEB))))
    assert web and all(e["instance_type"] == WEB for e in web)
    assert {e["event"] for e in web} >= {"RulesSet", "ActivationGranted"}
    in_frame = as_json(ok(cli("events", "--json", "--timeframe", str(market.timeframe))))
    assert in_frame and all(e["timeframe"] == market.timeframe for e in in_frame)
    last = int(in_frame[-1]["block_number"])
    only_last = as_json(ok(cli("events", "--json", "--from-block", str(last), "--to-block", str(last))))
    assert only_last and {e["block_number"] for e in only_last} == {last}
    assert as_json(ok(cli("events", "--json", "--limit", "1"))) == [in_frame[-1]]


def test_events_bad_input_is_one_line(cli: Cli, market: Market) -> None:
    fails(cli("events", "--event", "Nope"), 3, "no event named 'Nope'", "ActivationGranted")
    fails(cli("events", "--customer", "0x123"), 3, "customer")
    fails(cli("events", "--from-block", "9", "--to-block", "3"), 3, "--to-block 3 is before --from-block 9")
    fails(cli("events", "--follow", "--to-block", "3"), 3, "drop --to-block")
    json_error = cli("events", "--event", "Nope", "--json")
    assert json_error.exit_code == 3 and json.loads(json_error.stdout)["code"] == 3


def _indexed_up_to(db: Path) -> int | None:
    """The last block the follower's event database holds (None before its first pass has committed)."""
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        try:
            row = con.execute("SELECT last_block FROM cursor WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # the schema is not there yet
            return None
    return None if row is None else int(row[0])


def test_events_follow_prints_new_events_as_json_lines(cli: Cli, market: Market) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERING_")}
    env.update({k: v for k, v in cli.env().items() if v is not None})
    head = cli.chain.w3.eth.block_number
    follower = subprocess.Popen(
        [sys.executable, "-c", "from metering.cli import main; main()", "events", "--follow", "--json",
         "--interval", "0.2", "--event", "ActivationGranted"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Ready when its first pass has indexed the chain as it is (no grant yet): only then is the grant below
        # new to it. A condition, not a sleep: an import can take seconds on a loaded machine.
        db = Path(env["METERING_DB"])
        wait_for(lambda: (_indexed_up_to(db) or -1) >= head or follower.poll() is not None, timeout=120,
                 what="the follower's first indexing pass")
        assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
        instance = _activate(cli, market, market.customer, DB)
        assert follower.stdout is not None
        line = follower.stdout.readline()  # blocks until the new event is printed
        event = json.loads(line)
        assert (event["event"], event["instance_id"]) == ("ActivationGranted", instance)
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""


def test_customer_list_shows_every_enrolled_customer_with_its_status(cli: Cli, market: Market) -> None:
    ok(cli("customer", "suspend", market.customer2))
    ok(cli("customer", "approve", cli.actors.agent.address,
           METERING_PRIVATE_KEY=key_hex(cli.actors.customers[0])))
    rows = {r["customer"]: r for r in as_json(ok(cli("customer", "list", "--json")))}
    assert set(rows) == {market.customer, market.customer2}
    assert (rows[market.customer]["status"], rows[market.customer]["restricted"]) == ("ENROLLED", True)
    assert rows[market.customer2]["status"] == "SUSPENDED"
    assert [r["customer"] for r in as_json(ok(cli("customer", "list", "--status", "suspended", "--json")))] == [
        market.customer2]
    table = flat(ok(cli("customer", "list")).stdout)
    assert f"{market.customer} enrolled since block " in table and "accepts approved agents only" in table
    assert f"{market.customer2} suspended since block " in table and "2 customer(s)" in table
    fails(cli("customer", "list", "--status", "gone"), 3, "--status must be enrolled or suspended")


def test_role_grant_and_revoke_the_rules_manager_role(cli: Cli, market: Market) -> None:
    manager = cli.actors.outsider.address
    granted = as_json(ok(cli("role", "grant-manager", manager, "--json")))
    assert granted[0]["role"] == "RULES_MANAGER_ROLE" and granted[0]["holds"] and granted[0]["changed"]
    ok(cli("customer", "enroll", cli.actors.customers[3].address, METERING_PRIVATE_KEY=key_hex(cli.actors.outsider)))
    shown = as_json(ok(cli("role", "show", manager, "--json")))
    assert shown["roles"] == {manager: ["RULES_MANAGER_ROLE"]}
    ok(cli("role", "revoke-manager", manager))
    fails(cli("customer", "enroll", cli.actors.customers[4].address,
              METERING_PRIVATE_KEY=key_hex(cli.actors.outsider)), 5, "lacks RULES_MANAGER_ROLE")
    fails(cli("role", "grant-manager", manager, METERING_PRIVATE_KEY=key_hex(cli.actors.outsider)), 5,
          "lacks DEFAULT_ADMIN_ROLE")


def test_the_admin_role_moves_in_two_steps(cli: Cli, market: Market) -> None:
    admin, new_admin = cli.actors.admin.address, cli.actors.outsider.address
    before = as_json(ok(cli("role", "show", "--json")))
    assert (before["admin"], before["pending_admin"]) == (admin, None)
    begun = flat(ok(cli("role", "begin-admin-transfer", new_admin)).stdout)
    assert f"admin transfer to {new_admin} begun" in begun
    pending = as_json(ok(cli("role", "show", "--json")))
    assert pending["pending_admin"] == new_admin and pending["accept_after"] is not None
    ok(cli("role", "cancel-admin-transfer"))
    assert as_json(ok(cli("role", "show", "--json")))["pending_admin"] is None
    fails(cli("role", "accept-admin", METERING_PRIVATE_KEY=key_hex(cli.actors.outsider)), 5,
          "is not the pending admin")
    ok(cli("role", "begin-admin-transfer", new_admin))
    cli.chain.advance(1)  # the delay of this deployment is 0 s: the schedule must have passed
    accepted = flat(ok(cli("role", "accept-admin", METERING_PRIVATE_KEY=key_hex(cli.actors.outsider))).stdout)
    assert f"{new_admin} is now the admin" in accepted
    after = as_json(ok(cli("role", "show", admin, new_admin, "--json")))
    assert after["admin"] == new_admin
    assert "DEFAULT_ADMIN_ROLE" in after["roles"][new_admin]
    assert "DEFAULT_ADMIN_ROLE" not in after["roles"][admin]
    assert "pending" not in plain(ok(cli("role", "show")).stdout).split("\n")[1]
