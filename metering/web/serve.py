"""Run the web view: bind, print the URL, serve until Ctrl-C, with the background sync alongside."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

from web3 import Web3

__all__ = ["is_loopback", "serve_until_interrupted"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_until_interrupted(
    w3: Web3,
    contract: str,
    db: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    confirmations: int = 0,
    interval: float = 2.0,
    type_names: dict[int, str] | None = None,
    settlement: str | None = None,
) -> None:
    """Index once, then serve ``db`` at ``host:port`` and keep indexing in the background; returns on Ctrl-C."""
    import uvicorn

    from metering.web.app import WebConfig, create_app
    from metering.web.sync import BackgroundSync

    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine on port {port} can read every "
              "customer's usage and invoices", file=sys.stderr, flush=True)
    sync = BackgroundSync(w3, contract, db, confirmations=confirmations, interval=interval)
    sync.sync_once()
    sync.start()
    app = create_app(WebConfig(db=db, contract=contract, w3=w3, type_names=type_names,
                                     settlement=settlement))
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    shown = f"[{host}]" if ":" in host else host
    print(f"metering web view at http://{shown}:{sock.getsockname()[1]}/  (database {db}; Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sync.stop()
        sock.close()
