"""``metering db``: a SQLite history moved to PostgreSQL and proved by its invoices, schema upgrades, status, and
one clear line for each bad database; ``--db postgresql://...`` on the commands that read a history."""

from __future__ import annotations

import sqlite3

from _postgres import PostgresServer

from metering.audit.store import SCHEMA_VERSION

from .helpers import Cli, Market, as_json, fails, flat, ok
from .test_audit_cmds import market, use

__all__ = ["market"]  # the fixture of test_audit_cmds (its Market knows the contract object)


def test_a_sqlite_history_copied_to_postgresql_gives_the_same_invoices(
    cli: Cli, market: Market, postgres: PostgresServer
) -> None:
    use(cli, market)
    cli.chain.mine(market.end + 1)
    ok(cli("index"))
    sqlite_url = f"sqlite://{cli.tmp_path / 'events.sqlite'}"
    target = postgres.new_url()
    out = flat(ok(cli("db", "copy", sqlite_url, target)).stdout)
    assert out.startswith("copied ") and "identical" in out, out
    status = as_json(ok(cli("db", "status", target, "--json")))
    source = as_json(ok(cli("db", "status", sqlite_url, "--json")))
    assert {k: v for k, v in status.items() if k != "database"} == {k: v for k, v in source.items() if k != "database"}
    assert status["schema_version"] == SCHEMA_VERSION and status["events"] >= 10

    invoice = ["invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "--format", "json"]
    assert ok(cli(*invoice, "--db", target)).stdout == ok(cli(*invoice)).stdout  # the same bytes
    cli.chain.advance(10)
    ok(cli("index", METERING_DB=target))  # the PostgreSQL copy is indexed on from where the file stopped
    fails(cli("db", "copy", sqlite_url, target), 3, "already holds events", "new, empty database")

    again = as_json(ok(cli("db", "copy", target, str(cli.tmp_path / "back.sqlite"), "--json")))
    assert again["identical"] is True and again["invoices"] >= 2 and not again["differences"]


def test_an_older_database_is_refused_until_db_migrate_upgrades_it(cli: Cli, market: Market) -> None:
    ok(cli("index"))
    path = cli.tmp_path / "events.sqlite"
    with sqlite3.connect(path) as db:
        for table in ("ranges", "watch_cursor", "watch_marks", "outbox"):  # what versions 4 and 5 added
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    fails(cli("index"), 3, "schema version 3", f"metering db migrate {path}")
    upgraded = f"upgraded {path} from schema version 3 to {SCHEMA_VERSION}"
    assert flat(ok(cli("db", "migrate", str(path))).stdout) == upgraded
    assert "nothing to do" in flat(ok(cli("db", "migrate", str(path))).stdout)
    ok(cli("index"))


def test_bad_databases_are_one_line_each(cli: Cli) -> None:
    fails(cli("db", "status", "mysql://db/x"), 3, "mysql:// is not a database metering can use")
    fails(cli("db", "status", str(cli.tmp_path / "none.sqlite")), 3, "no event database at")
    fails(cli("db", "migrate", "postgresql://u:hunter2@127.0.0.1:9/x?connect_timeout=2"), 3,
          "cannot connect to the event database postgresql://u:***@127.0.0.1:9/x")
    result = cli("db", "copy", "sqlite:///nowhere.sqlite", "postgresql://127.0.0.1:9/x")
    fails(result, 3, "no event database at /nowhere.sqlite")
