"""Customer and auditor commands: index, invoice (final, statements --as-of, table, JSON, CSV), anchor (only final
invoices of this contract that verify), verify, and anchor + verify on a history with late expiries.

The chain history is made with web3 directly (deploy, timeframe, rules from examples/rules.yaml, requests with
uint64 request ids), so these tests depend on the auditor's commands only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from metering import contract as artifacts
from metering.contract import currency_to_bytes
from metering.provider.rules_file import load_rules_file
from metering.types import instance_id, request_id

from .helpers import DB, EXAMPLE_RULES, WEB, Cli, as_json, clean, fails, flat, ok, plain

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Market:
    """A Meter deployed with web3, one timeframe of an hour in force, the example rules, two customers."""

    meter: Contract
    timeframe: int
    start: int
    end: int
    customer: str
    customer2: str


def send(cli: Cli, fn: Any, sender: str, at: int | None = None) -> Any:
    if at is not None:
        cli.chain.set_next_timestamp(at)
    receipt = cli.chain.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def deploy(cli: Cli) -> Contract:
    w3: Web3 = cli.chain.w3
    admin = cli.actors.admin.address
    factory = w3.eth.contract(abi=artifacts.abi(), bytecode=artifacts.bytecode())
    receipt = send(cli, factory.constructor(admin, 0), admin)
    meter = w3.eth.contract(address=receipt["contractAddress"], abi=artifacts.abi())
    send(cli, meter.functions.grantRole(meter.functions.RULES_MANAGER_ROLE().call(), admin), admin)
    send(cli, meter.functions.grantRole(meter.functions.AGENT_ROLE().call(), cli.actors.agent.address), admin)
    return meter


@pytest.fixture
def market(cli: Cli) -> Market:
    meter = deploy(cli)
    admin = cli.actors.admin.address
    start = cli.chain.now() + 60
    send(cli, meter.functions.createTimeframe(start, start + 3_600, currency_to_bytes("EUR")), admin)
    for entry in load_rules_file(EXAMPLE_RULES).types:
        send(cli, meter.functions.setRules(1, entry.instance_type, entry.rules.as_tuple()), admin)
    customer, customer2 = cli.actors.customers[0].address, cli.actors.customers[1].address
    for address in (customer, customer2):
        send(cli, meter.functions.enrollCustomer(address), admin)
    cli.chain.mine(start)
    cli.contract = meter.address
    return Market(meter, 1, start, start + 3_600, customer, customer2)


def request(name: str) -> int:
    return request_id(sum(name.encode()), 1)


def activate(cli: Cli, market: Market, name: str, kind: int, lease: int, customer: str | None = None) -> Any:
    fn = market.meter.functions.requestActivation(customer or market.customer, kind, request(name), lease)
    return send(cli, fn, cli.actors.agent.address)


def ident(cli: Cli, name: str) -> bytes:
    return instance_id(cli.actors.agent.address, request(name))


def use(cli: Cli, market: Market) -> int:
    """db-server: one instance stopped after 100 s, one left to its 600 s lease; web-worker: one 60 s lease; and
    the second customer's db-server. Returns the first customer's db-server seconds to bill."""
    first = activate(cli, market, "db-1", DB, 600)
    activate(cli, market, "db-2", DB, 600)
    activate(cli, market, "web-1", WEB, 60)
    activate(cli, market, "theirs", DB, 300, customer=market.customer2)
    started = cli.chain.w3.eth.get_block(first["blockNumber"])["timestamp"]
    cli.chain.advance(100)
    stopped = send(cli, market.meter.functions.deactivate(ident(cli, "db-1")), cli.actors.agent.address)
    return int(cli.chain.w3.eth.get_block(stopped["blockNumber"])["timestamp"]) - int(started) + 600


@dataclass(frozen=True)
class Billed:
    """A market whose timeframe has ended, with usage of both types by ``customer`` and its final invoice file."""

    market: Market
    invoice: Path
    db_seconds: int

    @property
    def customer(self) -> str:
        return self.market.customer


@pytest.fixture
def billed(cli: Cli, market: Market) -> Billed:
    db_seconds = use(cli, market)
    cli.chain.mine(market.end + 1)
    path = cli.tmp_path / "invoice.json"
    ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(path)))
    return Billed(market, path, db_seconds)


def tamper(source: Path, target: Path, *, keep_hash: bool = True) -> Path:
    """A copy of an invoice with 100 more seconds on its db-server time line; its hash field kept stale, or dropped."""
    document = json.loads(source.read_text())
    line = next(ln for ln in document["lines"] if (ln["instance_type"], ln["charge"]) == (DB, "seconds"))
    line["quantity"] += 100
    if not keep_hash:
        document.pop("hash")
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def lines_of(document: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    return {(line["instance_type"], line["charge"]): line for line in document["lines"]}


# ---------------------------------------------------------------------------------------------------- index


def test_index_resumes_where_it_stopped(cli: Cli, market: Market) -> None:
    data = as_json(ok(cli("index", "--json")))
    assert data["database"] == str(cli.tmp_path / "events.sqlite")
    assert data["events"] > 0  # timeframe, rules, enrollments
    assert data["to_block"] == data["head"] == cli.chain.w3.eth.block_number
    assert (data["reorgs"], data["dropped_events"]) == (0, 0)

    use(cli, market)
    again = as_json(ok(cli("index", "--json")))
    assert again["from_block"] == data["to_block"] + 1
    assert again["events"] >= 5  # four grants and a deactivation
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
    other = deploy(cli).address  # the database belongs to the first Meter
    fails(cli("index", "--contract", other), 3, str(cli.tmp_path / "events.sqlite"), "holds events of contract")


# ---------------------------------------------------------------------------------------------------- invoice


def test_invoice_table_json_and_csv(cli: Cli, billed: Billed) -> None:
    customer, timeframe = billed.customer, str(billed.market.timeframe)
    document = json.loads(billed.invoice.read_text())
    assert document["customer"] == customer
    assert document["final"] is True
    lines = lines_of(document)
    assert (lines[(DB, "activations")]["quantity"], lines[(WEB, "activations")]["quantity"]) == (2, 1)
    assert lines[(WEB, "seconds")]["quantity"] == 60
    assert lines[(DB, "seconds")]["quantity"] == billed.db_seconds
    assert (lines[(DB, "seconds")]["unit_price"], lines[(DB, "seconds")]["per"]) == ("0.12", 3_600)
    assert lines[(WEB, "activations")]["unit_price"] == "0.0004"
    assert document["hash"].startswith("0x")

    table = flat(ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, COLUMNS="200")).stdout)
    assert f"invoice of {customer}, timeframe {timeframe} (final)" in table
    assert "0.12 EUR / hour" in table
    assert "0.0004 EUR / activation" in table
    assert "rounded down once per line to 0.01 EUR" in table

    explicit = cli.tmp_path / "explicit.json"
    result = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--final", "--format", "json",
                    "-o", str(explicit)))
    assert f"final invoice written to {explicit}" in flat(result.stderr)
    assert result.stdout == ""
    assert explicit.read_text() == billed.invoice.read_text()  # deterministic
    printed = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "json")).stdout
    assert json.loads(printed) == document

    csv = ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "csv")).stdout
    rows = [row.split(",") for row in csv.strip().splitlines()]
    assert rows[0][:3] == ["instance_type", "charge", "quantity"]
    assert [row[0] for row in rows[1:]] == ["1", "1", "1", "2", "2", "2", "total"]
    assert rows[-1][rows[0].index("amount")] == document["total"]
    out = cli.tmp_path / "invoice.csv"
    ok(cli("invoice", "--customer", customer, "--timeframe", timeframe, "--format", "csv", "--output", str(out)))
    assert out.read_text() == csv


def test_invoice_of_a_running_timeframe_is_a_statement_of_the_seconds_run_so_far(cli: Cli, market: Market) -> None:
    use(cli, market)
    args = ["invoice", "--customer", market.customer, "--timeframe", str(market.timeframe)]
    table = flat(ok(cli(*args)).stdout)
    assert "(running, not final)" in table
    assert "committed by open leases" in table
    document = as_json(ok(cli(*args, "--format", "json")))
    assert document["final"] is False
    seconds = lines_of(document)[(DB, "seconds")]
    assert seconds["quantity"] < 600 < seconds["quantity"] + seconds["committed"]
    fails(cli(*args, "--final"), 3, "has not ended on chain")


def test_invoice_as_of_a_past_block_or_time(cli: Cli, market: Market) -> None:
    use(cli, market)
    w3 = cli.chain.w3
    cli.chain.mine(market.end + 1)
    block = w3.eth.block_number - 3  # before the deactivation: both db-server instances running
    args = ["invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "--format", "json"]
    at_block = as_json(ok(cli(*args, "--as-of", str(block))))
    timestamp = int(w3.eth.get_block(block)["timestamp"])
    assert (at_block["final"], at_block["as_of"], at_block["evidence"]["to_block"]) == (False, timestamp, block)
    iso = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    assert as_json(ok(cli(*args, "--as-of", iso))) == at_block
    seconds = lines_of(at_block)[(DB, "seconds")]
    elapsed = timestamp - market.start
    assert seconds["quantity"] <= 2 * elapsed  # only the seconds run up to then, never the whole leases
    assert seconds["committed"] > 0
    table = flat(ok(cli(*args[:-2], "--as-of", iso)).stdout)
    assert f"as of {iso} (running, not final)" in table


def test_invoice_bad_input(cli: Cli, market: Market) -> None:
    args = ["invoice", "--customer", market.customer, "--timeframe", str(market.timeframe)]
    fails(cli(*args, "--format", "xml"), 3, "--format must be table, json, csv or pdf", "'xml'")
    fails(cli(*args, "--format", "table", "-o", str(cli.tmp_path / "x.txt")), 3, "use json, csv or pdf with -o")
    fails(cli("invoice", "--customer", market.customer, "--timeframe", "42"), 3, "timeframe 42")
    fails(cli("invoice", "--customer", "0xnope", "--timeframe", "1"), 3, "not an address: 0xnope")
    fails(cli(*args, "--as-of", "yesterday"), 3, "--as-of must be a block number or an ISO 8601 time")
    fails(cli(*args, "--as-of", "2025-01-31T12:00:00"), 3, "has no time zone")
    fails(cli(*args, "--as-of", "99999999"), 3, "beyond the latest block")
    fails(cli(*args, "--as-of", "2999-01-01T00:00:00Z"), 3, "cannot see the future")
    fails(cli(*args, "--as-of", "1", "--final"), 3, "exclude each other")


# ---------------------------------------------------------------------------------------------------- anchor


def test_anchor_again_and_correct(cli: Cli, billed: Billed) -> None:
    out = flat(ok(cli("anchor", str(billed.invoice))).stdout)
    digest = json.loads(billed.invoice.read_text())["hash"]
    assert out.startswith(f"anchored {digest} (total ")
    assert out.endswith("revision 0)")

    assert flat(ok(cli("anchor", str(billed.invoice))).stdout) == f"already anchored: {digest}"
    assert as_json(ok(cli("anchor", str(billed.invoice), "--json")))["changed"] is False

    other = tamper(billed.invoice, cli.tmp_path / "other.json", keep_hash=False)
    fails(cli("anchor", str(other)), 3, "does not match the chain", "lines[line=1#seconds].quantity")
    fails(cli("anchor", str(other), "--skip-verify"), 3, "another invoice", digest, "--correct")
    corrected = as_json(ok(cli("anchor", str(other), "--skip-verify", "--correct", "--json")))
    assert (corrected["revision"], corrected["changed"], corrected["customer"]) == (1, True, billed.customer)
    assert corrected["invoice_hash"] != digest

    # the honest invoice no longer matches the anchor: verify says so
    result = cli("verify", str(billed.invoice))
    assert result.exit_code == 1
    assert "anchor.hash" in flat(result.stdout)


def test_anchor_refuses_a_running_statement(cli: Cli, market: Market) -> None:
    use(cli, market)
    path = cli.tmp_path / "early.json"
    result = ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(path)))
    assert "running statement as of" in flat(result.stderr)
    fails(cli("anchor", str(path)), 3, "only a final invoice can be anchored", "running statement")
    cli.chain.mine(market.end + 1)  # even once the timeframe has ended
    fails(cli("anchor", str(path)), 3, "only a final invoice can be anchored")
    assert market.meter.functions.invoiceAnchor(market.customer, market.timeframe).call()[0] == bytes(32)


def test_anchor_refuses_an_invoice_of_another_contract(cli: Cli, billed: Billed) -> None:
    elsewhere = deploy(cli).address
    fails(cli("anchor", str(billed.invoice), "--contract", elsewhere), 3,
          f"the invoice is for contract {billed.market.meter.address}, not {elsewhere}")


def test_anchor_refuses_a_non_customer(cli: Cli, billed: Billed) -> None:
    document = json.loads(billed.invoice.read_text())
    document["customer"] = cli.actors.outsider.address
    document.pop("hash")
    stranger = cli.tmp_path / "stranger.json"
    stranger.write_text(json.dumps(document), encoding="utf-8")
    fails(cli("anchor", str(stranger)), 3, f"{cli.actors.outsider.address} is not a customer")


def test_anchor_bad_input(cli: Cli, billed: Billed) -> None:
    missing = cli.tmp_path / "missing.json"
    fails(cli("anchor", str(missing)), 3, "cannot read the invoice file", str(missing))
    stale = tamper(billed.invoice, cli.tmp_path / "stale.json")
    fails(cli("anchor", str(stale)), 3, "does not match its content")
    broken = cli.tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    fails(cli("anchor", str(broken)), 3, "not valid JSON")


# ---------------------------------------------------------------------------------------------------- verify


def test_verify_an_honest_anchored_invoice(cli: Cli, billed: Billed) -> None:
    ok(cli("anchor", str(billed.invoice)))
    auditor_db = str(cli.tmp_path / "auditor.sqlite")  # the auditor indexes on its own
    out = flat(ok(cli("verify", str(billed.invoice), "--require-anchor", METERING_DB=auditor_db)).stdout)
    assert out == f"verified: {billed.invoice} matches the chain (final invoice; anchor: matches)"
    data = as_json(ok(cli("verify", str(billed.invoice), "--json")))
    assert (data["ok"], data["anchor"], data["differences"]) == (True, "MATCHES", [])
    assert data["invoice_hash"] == data["recomputed_hash"] == data["anchored_hash"]
    assert data["timeframe"] == billed.market.timeframe


def test_anchor_and_verify_after_late_expiries(cli: Cli, billed: Billed) -> None:
    """The provider anchors; much later a third party closes the expired leases; an auditor who indexes only now
    computes the same final invoice, byte for byte, and both copies verify against the anchor."""
    ok(cli("anchor", str(billed.invoice)))
    cli.chain.advance(3_600)
    expired = [ident(cli, name) for name in ("db-2", "web-1", "theirs")]
    send(cli, billed.market.meter.functions.expireLeases(expired), cli.actors.outsider.address)
    cli.chain.advance(60)
    auditor_db = str(cli.tmp_path / "auditor.sqlite")
    later = cli.tmp_path / "later.json"
    ok(cli("invoice", "--customer", billed.customer, "--timeframe", str(billed.market.timeframe), "-o", str(later),
           METERING_DB=auditor_db))
    assert later.read_bytes() == billed.invoice.read_bytes()
    for path in (billed.invoice, later):
        out = flat(ok(cli("verify", str(path), "--require-anchor", METERING_DB=auditor_db)).stdout)
        assert out.endswith("(final invoice; anchor: matches)")


def test_verify_catches_a_tampered_invoice(cli: Cli, billed: Billed) -> None:
    ok(cli("anchor", str(billed.invoice)))
    tampered = tamper(billed.invoice, cli.tmp_path / "tampered.json")
    result = cli("verify", str(tampered), COLUMNS="200")
    assert result.exit_code == 1
    clean(result)
    out = flat(result.stdout)
    assert "lines[line=1#seconds].quantity" in out
    assert f"NOT verified: {tampered}" in out
    assert "anchor: differs" in out

    result = cli("verify", str(tampered), "--json")
    assert result.exit_code == 1
    clean(result)
    data = as_json(result)
    assert (data["ok"], data["anchor"]) == (False, "DIFFERS")
    where = {d["where"]: d for d in data["differences"]}
    seconds = where["lines[line=1#seconds].quantity"]
    assert seconds["found"] == seconds["expected"] + 100
    assert {"hash", "anchor.hash", "usage[type=1].seconds (on-chain counter)"} <= set(where)


def test_verify_an_unanchored_invoice_and_a_statement(cli: Cli, billed: Billed) -> None:
    out = flat(ok(cli("verify", str(billed.invoice))).stdout)
    assert "(final invoice; anchor: not_anchored)" in out
    result = cli("verify", str(billed.invoice), "--require-anchor")
    assert result.exit_code == 1
    clean(result)
    assert "NOT verified" in plain(result.stdout)
    early = cli.tmp_path / "early.json"
    ok(cli("invoice", "--customer", billed.customer, "--timeframe", str(billed.market.timeframe), "--as-of",
           str(cli.chain.w3.eth.block_number - 2), "-o", str(early)))
    assert "(statement; anchor: not_anchored)" in flat(ok(cli("verify", str(early))).stdout)
    result = cli("verify", str(early), "--require-final")
    assert result.exit_code == 1
    assert "final (only a final invoice can be anchored)" in flat(result.stdout)


def test_verify_bad_input(cli: Cli, billed: Billed) -> None:
    fails(cli("verify", str(cli.tmp_path / "missing.json")), 3, "cannot read the invoice file")
    broken = cli.tmp_path / "broken.json"
    broken.write_text('{"version": 2}', encoding="utf-8")
    fails(cli("verify", str(broken)), 3, "the invoice file is malformed")
    fails(cli("verify", str(billed.invoice), "--contract", "0x12"), 3, "not an address")
