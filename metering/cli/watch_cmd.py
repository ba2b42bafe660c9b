"""``metering watch RULES_FILE``: notifications from confirmed chain events to webhooks, commands or stdout."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ContractOpt,
    DbOpt,
    RpcUrlOpt,
    command,
    connect,
    err_console,
    open_store,
    require_contract,
    sync_store,
)

__all__ = ["watch"]


@command
def watch(
    rules_file: Annotated[Path, typer.Argument(help="YAML (or JSON) file of sinks and rules; see the README.",
                                               show_default=False)],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    interval: Annotated[float, typer.Option(help="Seconds between passes.", min=0.1)] = 2.0,
    from_block: Annotated[
        int | None,
        typer.Option("--from-block", min=0, show_default=False,
                     help="For a new watch (no cursor yet under its name): evaluate from this block. Default: from "
                     "the confirmed head, so a new watch does not replay history."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One pass (index, evaluate, deliver what is due), then exit.")]
    = False,
    retry_dead: Annotated[bool, typer.Option("--retry-dead", help="Give notifications that ran out of attempts "
                                                                  "a new round first.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics of deliveries on 127.0.0.1:PORT/metrics.", min=1, max=65535,
                     show_default=False),
    ] = None,
) -> None:
    """Watch confirmed events and notify: caps crossed, denials, quotas, expiring leases, final and anchored invoices.

    Each notification is kept in the event database's outbox until its sinks took it."""
    import time

    from metering.watch.config import load_watch_config
    from metering.watch.loop import WatchLoop
    from metering.watch.outbox import Outbox

    config = load_watch_config(rules_file)
    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        sync_store(w3, address, store, quiet=True)
        url, shown = store.url, store.path  # url opens it again (a PostgreSQL password included); shown is printed
        if retry_dead:
            err_console.print(f"{Outbox(store).retry_dead(int(time.time() * 1000))} dead notification(s) retried")
    on_result = None
    if metrics_port is not None:
        from metering.watch.metrics import DeliveryMetrics

        on_result = DeliveryMetrics.serve(metrics_port).observe
    loop = WatchLoop(config, url, w3=w3, index=True, interval=interval, start_block=from_block, on_result=on_result)
    if once:
        queued, delivered = loop.run_once()
        err_console.print(f"{queued} notification(s) queued, {delivered} delivered")
        return
    err_console.print(f"watching {address} with {len(config.rules)} rule(s), {config.confirmations} confirmation(s) "
                      f"deep (database {shown}; Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_forever()
