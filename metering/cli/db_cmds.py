"""``metering db``: the event database itself: its status, schema upgrades, and moving a history to another one.

Why commands of their own: a shared PostgreSQL history outlives the program versions that read it, so upgrading
its schema is a deliberate step (every reader refuses an older schema and names ``metering db migrate``), and a
provider who outgrows one machine moves its SQLite history to PostgreSQL with ``metering db copy``, which proves
the copy by recomputing every invoice on both sides. Heavy imports (the store, psycopg, web3) wait until a command
runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ExitCode,
    JsonOpt,
    RpcUrlOpt,
    command,
    console,
    print_json,
    rpc_timeout,
)

__all__ = ["db_app"]

db_app = typer.Typer(help="The event database: status, schema upgrades, copying a history to another database.",
                     no_args_is_help=True)

DbArg = Annotated[str, typer.Argument(help="A SQLite file (a path or sqlite:///path) or postgresql://...",
                                      show_default=False)]


@db_app.command("status")
@command
def status(db: DbArg, json_out: JsonOpt = False) -> None:
    """What a database holds: its chain, contract and schema, how far it is indexed, and who wrote its ranges."""
    from metering.audit.store import Store

    with Store(db) as store:
        ranges = store.ranges()
        writers = sorted({r.writer for r in ranges})
        data = {
            "database": str(store.path), "chain_id": store.chain_id, "contract": store.contract,
            "schema_version": store.schema_version, "first_block": store.first_block, "last_block": store.last_block,
            "events": store.event_count(), "ranges": len(ranges), "writers": writers,
        }
    if json_out:
        print_json(data)
        return
    console.print(
        f"{data['database']}: contract {data['contract']} on chain {data['chain_id']}, "
        f"schema {data['schema_version']}; "
        f"{data['events']} events, blocks {data['first_block']}-{data['last_block']} in {data['ranges']} ranges "
        f"written by {len(writers)} indexer(s)"
    )


@db_app.command("migrate")
@command
def migrate(db: DbArg, json_out: JsonOpt = False) -> None:
    """Upgrade a database to this version's schema, in one transaction (readers of the old version must stop)."""
    from metering.audit.store import Store

    with Store(db, upgrade=True) as store:
        after = store.schema_version
        before = store.upgraded_from if store.upgraded_from is not None else after
        shown = str(store.path)
    if json_out:
        print_json({"database": shown, "from_version": before, "to_version": after})
    elif before == after:
        console.print(f"{shown} is at schema version {after} already: nothing to do")
    else:
        console.print(f"upgraded {shown} from schema version {before} to {after}")


@db_app.command("copy")
@command
def copy(
    source: Annotated[str, typer.Argument(help="The database to copy from.", show_default=False)],
    target: Annotated[str, typer.Argument(help="A new or empty database to copy into.", show_default=False)],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    json_out: JsonOpt = False,
) -> None:
    """Copy a history (e.g. sqlite:///events.sqlite to postgresql://...), then recompute every invoice on both
    sides and compare them byte for byte (block times come from the node at --rpc-url)."""
    from metering.audit.blocktime import NodeClock
    from metering.audit.stores.copy import compare_invoices, copy_history
    from metering.chain.lean import lean_connect

    w3 = lean_connect(rpc_url, timeout=rpc_timeout())  # it only reads block times: no web3 (issue 20)
    origin, destination, copied = copy_history(source, target)
    with origin, destination:
        check = compare_invoices(origin, destination, NodeClock(w3))
        data = {
            "source": str(origin.path), "target": str(destination.path), "events": copied,
            "timeframes": check.timeframes, "invoices": check.invoices, "identical": check.identical,
            "differences": list(check.differences),
        }
    if json_out:
        print_json(data)
    else:
        console.print(
            f"copied {copied} events from {data['source']} to {data['target']}; recomputed {check.invoices} invoices "
            f"of {check.timeframes} timeframes on both sides: "
            + ("identical" if check.identical else f"{len(check.differences)} differences")
        )
        for difference in check.differences:
            console.print(f"  {difference}")
    if not check.identical:
        raise typer.Exit(int(ExitCode.DIFFERENCES))
