"""Run the web view: bind, print the URL, serve until Ctrl-C, with the background sync (and watch) alongside.

Several worker processes share one listening socket (uvicorn's supervisor): pages are CPU-bound Python, so one
process serves one page at a time however many clients wait. The socket is bound here, in the parent, before the
workers start; the indexer and the watch run once, in the parent, and the workers only read the store. Workers are
spawned, so each builds its app from the environment (:func:`worker_app`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from web3 import Web3

    from metering.watch.config import WatchConfig

from metering.audit.stores.location import shown_location

__all__ = ["default_workers", "is_loopback", "serve_store", "serve_until_interrupted", "worker_app"]

_ENV = "METERING_SERVE_WORKER"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_workers() -> int:
    """One worker per core, at most 8 (pages are CPU-bound; more processes than cores only queue)."""
    return max(1, min(8, os.cpu_count() or 1))


def worker_app() -> Starlette:
    """The app of one worker process, from what the parent put in the environment (uvicorn factory)."""
    from metering.web.app import WebConfig, create_app

    spec = json.loads(os.environ[_ENV])
    w3 = None
    if spec.get("rpc_url"):
        from metering.chain import connect

        w3 = connect(spec["rpc_url"])
    names = {int(k): str(v) for k, v in (spec.get("type_names") or {}).items()}
    customers = {str(k): str(v) for k, v in (spec.get("customer_names") or {}).items()}
    return create_app(WebConfig(db=spec["db"], contract=spec["contract"], w3=w3, type_names=names or None,
                                customer_names=customers or None, page_cache=int(spec["page_cache"]),
                                settlement=spec.get("settlement"),
                                shared_pages=Path(spec["pages"]) if spec["pages"] else None))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, said to be TCP (``IPPROTO_TCP``, not 0): asyncio turns Nagle's algorithm off on the
    connections it accepts only when the socket says so; with it on, every response after the first on a keep-alive
    connection waited about 40 ms for the client's delayed ACK before its body left (bench/web_load.py's ceiling)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections wait in the backlog until a worker accepts: none is refused while workers start
    return sock


def serve_store(
    db: str | Path,
    contract: str,
    *,
    rpc_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    type_names: dict[int, str] | None = None,
    customer_names: dict[str, str] | None = None,
    w3: Web3 | None = None,
    page_cache: int = 256,
    settlement: str | None = None,
) -> None:
    """Serve ``db`` (a SQLite path or a PostgreSQL URL, which the workers open again) with ``workers`` processes
    (1: in this process) until Ctrl-C; prints the URL first (without a URL's password).

    ``rpc_url`` lets each worker reach the node (verification, block times); ``w3`` is used by a single worker;
    ``page_cache``: pages kept per head (0: every request computes its page, as the benchmark's baseline);
    ``settlement``: the Settlement contract, for the customer page's escrow card."""
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine on port {port} can read every "
              "customer's usage and invoices", file=sys.stderr, flush=True)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    where = shown_location(db)  # a URL's password stays out of the terminal
    print(f"metering web view at http://{shown}:{sock.getsockname()[1]}/  ({workers} worker(s), database {where}; "
          "Ctrl-C stops)", flush=True)
    try:
        _run(db, contract, rpc_url, workers, (type_names, customer_names), w3, page_cache, sock, settlement)
    except KeyboardInterrupt:  # Ctrl-C: the servers have stopped; nothing to report
        pass
    finally:
        sock.close()


def _run(db: str | Path, contract: str, rpc_url: str | None, workers: int,
         names: tuple[dict[int, str] | None, dict[str, str] | None], w3: Web3 | None, page_cache: int,
         sock: socket.socket, settlement: str | None = None) -> None:
    """Run the server(s) on ``sock`` until they stop; ``names``: the directory's type and customer names."""
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers <= 1:
        from metering.web.app import WebConfig, create_app

        app: Any = create_app(WebConfig(db=db, contract=contract, w3=w3, type_names=names[0],
                                        customer_names=names[1], page_cache=page_cache, settlement=settlement))
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
        return
    with tempfile.TemporaryDirectory(prefix="metering-pages-") as pages:  # removed when the server stops
        os.environ[_ENV] = json.dumps({"db": str(db), "contract": contract, "rpc_url": rpc_url,
                                       "type_names": names[0] or {}, "customer_names": names[1] or {},
                                       "pages": pages if page_cache else None, "settlement": settlement,
                                       "page_cache": page_cache})
        config = uvicorn.Config("metering.web.serve:worker_app", factory=True, workers=workers, log_level="warning",
                                lifespan="off")
        Multiprocess(config, sockets=[sock]).run()


def serve_until_interrupted(
    w3: Web3,
    contract: str,
    db: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    confirmations: int = 0,
    interval: float = 2.0,
    type_names: dict[int, str] | None = None,
    customer_names: dict[str, str] | None = None,
    workers: int = 1,
    rpc_url: str | None = None,
    watch: WatchConfig | None = None,
    settlement: str | None = None,
) -> None:
    """Index once, then serve ``db`` at ``host:port`` and keep indexing (and watching, with ``watch``) in the
    background; returns on Ctrl-C."""
    from metering.web.sync import BackgroundSync

    sync = BackgroundSync(w3, contract, db, confirmations=confirmations, interval=interval)
    sync.sync_once()
    sync.start()
    loop = None
    if watch is not None:
        from metering.watch.loop import WatchLoop

        loop = WatchLoop(watch, db, w3=w3, interval=interval).start()
    try:
        serve_store(db, contract, rpc_url=rpc_url, host=host, port=port, workers=workers, type_names=type_names,
                    customer_names=customer_names, w3=w3, settlement=settlement)
    finally:
        if loop is not None:
            loop.stop()
        sync.stop()
