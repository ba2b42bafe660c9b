"""Customer and auditor commands: index, invoice (table, JSON, CSV), anchor (and corrections), verify."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import DB, WEB, Cli, Market, as_json, clean, fails, flat, ok, plain


@dataclass(frozen=True)
class Billed:
    """A market whose timeframe has ended, with usage of both types by ``customer`` and an invoice file of it."""

    market: Market
    invoice: Path
    db_seconds: int

    @property
    def customer(self) -> str:
        return self.market.customer


def _use(cli: Cli, market: Market) -> int:
    """db-server: one instance stopped after 100 s, one left to its 600 s lease; web-worker: one 60 s lease.

    Returns the db-server seconds to bill.
    """
    first = as_json(ok(cli.as_agent("activate", "--customer", market.customer, "--type", str(DB), "--json")))
    ok(cli.as_agent("activate", "--customer", market.customer, "--type", str(DB), "--json"))
    ok(cli.as_agent("activate", "--customer", market.customer, "--type", str(WEB), "--lease", "60", "--json"))
    cli.chain.advance(100)
    stopped = as_json(ok(cli.as_agent("deactivate", first["instance_id"], "--json")))
    return int(stopped["stopped_at"]) - int(first["started_at"]) + 600


@pytest.fixture
def billed(cli: Cli, market: Market) -> Billed:
    db_seconds = _use(cli, market)
    cli.chain.mine(market.end + 1)
    path = cli.tmp_path / "invoice.json"
    ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(path)))
    return Billed(market, path, db_seconds)


def _tamper(source: Path, target: Path, *, keep_hash: bool = True) -> Path:
    """A copy of an invoice with 100 more seconds on its first line; its hash field kept stale, or dropped."""
    document = json.loads(source.read_text())
    document["lines"][0]["seconds"] += 100
    if not keep_hash:
        document.pop("hash")
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


# ---------------------------------------------------------------------------------------------------- index


def test_index_resumes_where_it_stopped(cli: Cli, market: Market) -> None:
    data = as_json(ok(cli("index", "--json")))
    assert data["database"] == str(cli.tmp_path / "events.sqlite")
    assert data["events"] > 0  # deployment, timeframe, rules, enrollments, role grants
    assert data["to_block"] == data["head"] == cli.chain.w3.eth.block_number
    assert (data["reorgs"], data["dropped_events"]) == (0, 0)

    _use(cli, market)
    again = as_json(ok(cli("index", "--json")))
    assert again["from_block"] == data["to_block"] + 1
    assert again["events"] >= 4  # three grants and a deactivation
    out = flat(ok(cli("index")).stdout)
    assert out.startswith("indexed blocks ")
    assert "0 new events" in out


def test_index_bad_database(cli: Cli, market: Market) -> None:
    garbage = cli.tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not sqlite at all " * 100)
    fails(cli("index", METERING_DB=str(garbage)), 3, "not a metering event database")
    fails(cli("index", "--db", str(cli.tmp_path)), 3, "cannot open the event database", str(cli.tmp_path))
    # a mistyped contract is refused before the database is created, so it is not bound to the wrong address
    fails(cli("index", "--contract", cli.actors.outsider.address), 3, "no contract code at", "METERING_CONTRACT")
    ok(cli("index"))
    other = cli.deploy()  # the database belongs to the first Meter
    fails(cli("index", "--contract", other), 3, str(cli.tmp_path / "events.sqlite"), "holds events of contract")


# ---------------------------------------------------------------------------------------------------- invoice


def test_invoice_table_json_and_csv(cli: Cli, billed: Billed) -> None:
    customer, timeframe = billed.customer, str(billed.market.timeframe)
    document = json.loads(billed.invoice.read_text())
    assert document["customer"] == customer
    assert document["final"] is True
    lines = {line["instance_type"]: line for line in document["lines"]}
    assert (lines[DB]["activations"], lines[WEB]["activations"], lines[WEB]["seconds"]) == (2, 1, 60)
    assert lines[DB]["seconds"] == billed.db_seconds
    assert document["hash"].startswith("0x")

    table = flat(ok(cli("invoice", "--customer", customer, "--timeframe", timeframe)).stdout)
    assert f"invoice of {customer}, timeframe {timeframe} (final)" in table
    assert "total " in table
    assert " EUR" in table

    explicit = cli.tmp_path / "explicit.json"
    result = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "json", "-o",
                    str(explicit)))
    assert f"invoice written to {explicit}" in flat(result.stderr)
    assert result.stdout == ""
    assert explicit.read_text() == billed.invoice.read_text()  # deterministic
    printed = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "json")).stdout
    assert json.loads(printed) == document

    csv = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "csv")).stdout
    rows = [row.split(",") for row in csv.strip().splitlines()]
    assert rows[0][:3] == ["instance_type", "rules_hash", "activations"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "total"]
    assert rows[-1][rows[0].index("total")] == str(document["total"])
    out = cli.tmp_path / "invoice.csv"
    ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "csv", "--output", str(out)))
    assert out.read_text() == csv


def test_invoice_of_a_running_timeframe_is_a_statement(cli: Cli, market: Market) -> None:
    _use(cli, market)
    table = flat(ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe))).stdout)
    assert "(running statement)" in table


def test_invoice_bad_input(cli: Cli, market: Market) -> None:
    args = ["invoice", "--customer", market.customer, "--timeframe", str(market.timeframe)]
    fails(cli(*args, "--format", "xml"), 3, "--format must be table, json or csv", "'xml'")
    fails(cli(*args, "--format", "table", "-o", str(cli.tmp_path / "x.txt")), 3, "use json or csv with -o")
    fails(cli("invoice", "--customer", market.customer, "--timeframe", "42"), 3, "timeframe 42")
    fails(cli("invoice", "--customer", "0xnope", "--timeframe", "1"), 3, "not an address: 0xnope")


# ---------------------------------------------------------------------------------------------------- anchor


def test_anchor_again_and_correct(cli: Cli, billed: Billed) -> None:
    out = flat(ok(cli("anchor", str(billed.invoice))).stdout)
    digest = json.loads(billed.invoice.read_text())["hash"]
    assert out.startswith(f"anchored {digest} (total ")
    assert out.endswith("revision 0)")

    assert flat(ok(cli("anchor", str(billed.invoice))).stdout) == f"already anchored: {digest}"
    assert as_json(ok(cli("anchor", str(billed.invoice), "--json")))["changed"] is False

    other = _tamper(billed.invoice, cli.tmp_path / "other.json", keep_hash=False)
    fails(cli("anchor", str(other)), 3, "another invoice", digest, "--correct")
    corrected = as_json(ok(cli("anchor", str(other), "--correct", "--json")))
    assert (corrected["revision"], corrected["changed"], corrected["customer"]) == (1, True, billed.customer)
    assert corrected["invoice_hash"] != digest

    # the honest invoice no longer matches the anchor: verify says so
    result = cli("verify", str(billed.invoice))
    assert result.exit_code == 1
    assert "anchor.hash" in flat(result.stdout)


def test_anchor_before_the_timeframe_ended(cli: Cli, market: Market) -> None:
    _use(cli, market)
    path = cli.tmp_path / "early.json"
    ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(path)))
    fails(cli("anchor", str(path)), 5, "MeteringTimeframeNotEnded")


def test_anchor_bad_input(cli: Cli, billed: Billed) -> None:
    missing = cli.tmp_path / "missing.json"
    fails(cli("anchor", str(missing)), 3, "cannot read the invoice file", str(missing))
    stale = _tamper(billed.invoice, cli.tmp_path / "stale.json")
    fails(cli("anchor", str(stale)), 3, "does not match its content")
    broken = cli.tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    fails(cli("anchor", str(broken)), 3, "not valid JSON")


# ---------------------------------------------------------------------------------------------------- verify


def test_verify_an_honest_anchored_invoice(cli: Cli, billed: Billed) -> None:
    ok(cli("anchor", str(billed.invoice)))
    auditor_db = str(cli.tmp_path / "auditor.sqlite")  # the auditor indexes on its own
    out = flat(ok(cli("verify", str(billed.invoice), "--require-anchor", METERING_DB=auditor_db)).stdout)
    assert out == f"verified: {billed.invoice} matches the chain (anchor: matches)"
    data = as_json(ok(cli("verify", str(billed.invoice), "--json")))
    assert (data["ok"], data["anchor"], data["differences"]) == (True, "MATCHES", [])
    assert data["invoice_hash"] == data["recomputed_hash"] == data["anchored_hash"]
    assert data["timeframe"] == billed.market.timeframe


def test_verify_catches_a_tampered_invoice(cli: Cli, billed: Billed) -> None:
    ok(cli("anchor", str(billed.invoice)))
    tampered = _tamper(billed.invoice, cli.tmp_path / "tampered.json")
    result = cli("verify", str(tampered))
    assert result.exit_code == 1
    clean(result)
    out = flat(result.stdout)
    assert "lines[type=1].seconds" in out
    assert f"NOT verified: {tampered}" in out
    assert "anchor: differs" in out

    result = cli("verify", str(tampered), "--json")
    assert result.exit_code == 1
    clean(result)
    data = as_json(result)
    assert (data["ok"], data["anchor"]) == (False, "DIFFERS")
    where = {d["where"]: d for d in data["differences"]}
    seconds = where["lines[type=1].seconds"]
    assert seconds["found"] == seconds["expected"] + 100
    assert {"hash", "anchor.hash", "usage[type=1].seconds (on-chain counter)"} <= set(where)


def test_verify_an_unanchored_invoice(cli: Cli, billed: Billed) -> None:
    out = flat(ok(cli("verify", str(billed.invoice))).stdout)
    assert "(anchor: not_anchored)" in out
    result = cli("verify", str(billed.invoice), "--require-anchor")
    assert result.exit_code == 1
    clean(result)
    assert "NOT verified" in plain(result.stdout)


def test_verify_bad_input(cli: Cli, billed: Billed) -> None:
    fails(cli("verify", str(cli.tmp_path / "missing.json")), 3, "cannot read the invoice file")
    broken = cli.tmp_path / "broken.json"
    broken.write_text('{"version": 1}', encoding="utf-8")
    fails(cli("verify", str(broken)), 3, "the invoice file is malformed")
    fails(cli("verify", str(billed.invoice), "--contract", "0x12"), 3, "not an address")
