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
from metering.cli.commercial_cmds import DirectoryOpt
from metering.errors import ConfigError

__all__ = ["check_listen", "serve"]


def check_listen(host: str, port: int) -> None:
    """:class:`ConfigError` unless a server could listen on ``host``:``port`` now (the host resolves to an address
    of this machine, and the port is free there)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"cannot listen on --host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is in use: choose another --port (0: any free one)") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host {host} is not an address of this machine") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


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
    directory: DirectoryOpt = None,
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

    names = None
    if directory is not None:  # names of customers and types from the provider's books, checked before serving
        from metering.business.directory import load_directory

        names = load_directory(directory)
    rules = None
    if watch is not None:  # a bad rules file: one line now, before the sync and the server
        from metering.watch.config import load_watch_config

        rules = load_watch_config(watch)
    check_listen(host, port)  # a busy port or a bad host: one line now, not a server traceback after the sync
    w3 = connect(rpc_url)
    address = require_contract(contract)
    with open_store(w3, address, db) as store:
        location = store.url  # what the workers open again (a PostgreSQL URL with its password)
    serve_until_interrupted(w3, address, location, host=host, port=port, confirmations=confirmations, interval=interval,
                            type_names=dict(names.type_names) if names else None,
                            customer_names={a: p.name for a, p in names.customers.items()} if names else None,
                            workers=workers or default_workers(), rpc_url=rpc_url, watch=rules, settlement=settlement)
