"""``metering serve``: the auditor's web view on this machine."""

from __future__ import annotations

import ipaddress
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
) -> None:
    """Serve a read-only web view of usage, invoices and their proofs; syncs from the node in the background."""
    import socket

    import uvicorn

    from metering.web.app import WebConfig, create_app
    from metering.web.sync import BackgroundSync

    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        path = Path(store.path)
    if not _loopback(host):
        err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach this machine on port "
                          f"{port} can read every customer's usage and invoices", highlight=False)
    sync = BackgroundSync(w3, address, path, confirmations=confirmations, interval=interval)
    sync.sync_once()
    sync.start()
    app = create_app(WebConfig(db=path, contract=address, w3=w3))
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    shown = f"[{host}]" if ":" in host else host
    print(f"metering web view at http://{shown}:{sock.getsockname()[1]}/  (database {path}; Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sync.stop()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
