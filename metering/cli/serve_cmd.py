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
    settlement: Annotated[
        str | None,
        typer.Option("--settlement", envvar="METERING_SETTLEMENT", help="Settlement contract: show escrows.",
                     show_default=False),
    ] = None,
) -> None:
    """Serve a read-only web view of usage, invoices and their proofs; syncs from the node in the background."""
    from metering.web.serve import serve_until_interrupted

    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        path = Path(store.path)
    serve_until_interrupted(w3, address, path, host=host, port=port, confirmations=confirmations, interval=interval,
                           settlement=settlement)
