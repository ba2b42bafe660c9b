"""``metering serve``: the auditor's web view on this machine."""

from __future__ import annotations

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
    open_store,
    require_contract,
)

__all__ = ["serve"]


@command
def serve(
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    host: Annotated[
        str,
        typer.Option(help="Interface to listen on. The default, 127.0.0.1, keeps the page on this machine: usage "
                     "and invoices are business data, so another interface needs a deliberate choice."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8000,
    confirmations: Annotated[int, typer.Option(help="Blocks to wait before indexing a block.", min=0)] = 0,
    interval: Annotated[float, typer.Option(help="Seconds between background syncs.", min=0.1)] = 2.0,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes serving pages (default: one per core, at most 8).", min=1, max=64,
                     show_default=False),
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option("--watch", help="Also run `metering watch` with this rules file in the background.",
                     show_default=False),
    ] = None,
) -> None:
    """Serve a read-only web view of usage, invoices and their proofs; syncs from the node in the background."""
    from metering.web.serve import default_workers, serve_until_interrupted

    rules = None
    if watch is not None:
        from metering.watch.config import load_watch_config

        rules = load_watch_config(watch)
    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        path = Path(store.path)
    serve_until_interrupted(w3, address, path, host=host, port=port, confirmations=confirmations, interval=interval,
                            workers=workers or default_workers(), rpc_url=rpc_url, watch=rules)
