"""The auditor's view: a read-only web app over one contract's event database, with the proof next to each number.

Pages are rendered on the server (Starlette and Jinja2 templates); the only script is ours plus uPlot, shipped in
the package, so the page loads nothing from outside the machine. Endpoints do their I/O themselves and hand plain
values to templates (tests read ``response.context``). Each request opens the SQLite file on its own connection,
so pages stay consistent while the background sync writes.

Pages: ``/timeframes`` (rules at full precision with their hash and block), ``/customers`` and
``/customers/{address}`` (usage charts, limits, cap, denials), ``/invoices/{address}/{timeframe}`` (lines, how each
amount is computed, evidence, verification), ``/events`` (the decoded stream with filters). ``POST /api/verify``
takes an invoice JSON dropped on the page and answers with the verification report. ``/live`` is the Server-Sent
Events stream that keeps the customer, timeframe and event pages current (:mod:`metering.web.live`); ``/metrics`` is
Prometheus' view of the store (:mod:`metering.web.metrics`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from web3 import Web3

from metering.audit.store import Store
from metering.errors import MeteringError
from metering.web import data, views
from metering.web.escrow import escrow_card
from metering.web.live import live_endpoint
from metering.web.metrics import metrics_endpoint
from metering.web.pagecache import PageCache

__all__ = ["WebConfig", "create_app"]

log = logging.getLogger("metering.web")

#: Events per page of the event stream.
PAGE_SIZE = 50
#: Customers per timeframe and page of /customers, and named on /timeframes (a timeframe may have thousands).
CUSTOMERS_PAGE_SIZE = 200
SHOWN_CUSTOMERS = 20
#: Pages that follow the chain while open (``/live``): the invoice page is a document, not a feed.
LIVE_PAGES = frozenset({"timeframes", "customers", "customer", "events"})


@dataclass(frozen=True)
class WebConfig:
    """Where the app reads from: the event database, and the node (for verification and block times)."""

    db: str | Path
    contract: str
    w3: Web3 | None = None
    type_names: dict[int, str] | None = None
    #: Legal names by checksummed address, from the provider's directory file (``metering serve --directory``).
    customer_names: dict[str, str] | None = None
    page_cache: int = 256  # pages kept per process until the indexed head moves (0: none)
    shared_pages: Path | None = None  # a directory the worker processes share rendered pages through
    settlement: str | None = None  # the Settlement contract, for the customer page's escrow card


class _Clock:
    """Block timestamps for denials: from the database when known, else from the node (and remembered)."""

    def __init__(self, config: WebConfig) -> None:
        self._config = config
        self._cache: dict[int, int | None] = {}
        self._lock = threading.Lock()

    def __call__(self, number: int) -> int | None:
        with self._lock:
            if number in self._cache:
                return self._cache[number]
        value: int | None = None
        if self._config.w3 is not None:
            try:
                value = int(self._config.w3.eth.get_block(number)["timestamp"])
            except Exception:  # no node at the moment: the denial is listed without its time
                value = None
        with self._lock:
            self._cache[number] = value
        return value


def create_app(config: WebConfig) -> Starlette:
    """The web app over ``config.db``; it never writes to the database (the background sync does)."""
    env = Environment(loader=PackageLoader("metering.web", "templates"), autoescape=select_autoescape())
    env.filters.update(views.FILTERS)
    templates = Jinja2Templates(env=env)
    clock = _Clock(config)
    names = config.type_names or {}
    customer_names = config.customer_names or {}
    env.globals["name_of"] = lambda address: customer_names.get(str(address))

    @contextmanager
    def store(*, snapshot: bool = True) -> Iterator[Store]:
        """The database for one request: a read-only page sees one state of it whatever the indexer commits
        meanwhile; the invoice pages may sync it (verification), so they read query by query."""
        with Store(config.db) as opened:
            if not snapshot:
                yield opened
                return
            with opened.snapshot():
                yield opened

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        page = name.removesuffix(".html")
        live = ":".join(map(str, head())) if page in LIVE_PAGES else None
        base = {"contract": config.contract, "type_names": names, "page": page, "live": live}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def timeframes(request: Request) -> Response:
        with store() as s:
            rows = data.timeframe_rows(s, customers=slice(0, SHOWN_CUSTOMERS))
            head = s.last_block
        return render(request, "timeframes.html", {"timeframes": rows, "indexed_to": head, "shown": SHOWN_CUSTOMERS})

    def customers(request: Request) -> Response:
        chosen = views.int_param(request, "timeframe", default=-1)
        page = views.int_param(request, "page", default=0)
        window = slice(page * CUSTOMERS_PAGE_SIZE, (page + 1) * CUSTOMERS_PAGE_SIZE)
        with store() as s:
            rows = [row for row in data.timeframe_rows(s, customers=window) if chosen in (-1, row.timeframe.id)]
        return render(request, "customers.html", {
            "timeframes": rows, "customer_page": page,
            "page_size": CUSTOMERS_PAGE_SIZE,
        })

    def customer(request: Request) -> Response:
        address = views.address(request.path_params["address"])
        with store() as s:
            rows = {row.timeframe.id: row for row in data.timeframe_rows(s, customers=slice(0, 0))}
            if not rows:
                return render(request, "error.html", {"message": "nothing indexed yet"}, status=404)
            chosen = views.int_param(request, "timeframe", default=max(rows))
            if chosen not in rows:
                return render(request, "error.html", {"message": f"no timeframe {chosen}"}, status=404)
            row = rows[chosen]
            until = views.chain_time(config.w3, row.timeframe.end)
            usage = data.customer_usage(
                s, row.timeframe, {r.instance_type: r.rules for r in row.rules}, address, until=until,
                block_time=clock,
            )
            account = views.account(config.w3, config.contract, address)
        charts = views.charts(usage, row, account)
        return render(request, "customer.html", {
            "customer": address, "row": row, "timeframes": sorted(rows), "usage": usage, "charts": charts,
            "charts_json": json.dumps(charts), "account": account,
            "escrow": escrow_card(config.w3, config.settlement, address),
        })

    def invoice_page(request: Request) -> Response:
        address = views.address(request.path_params["address"])
        timeframe_id = int(request.path_params["timeframe"])
        try:
            with store(snapshot=False) as s:
                shown = views.invoice_view(config.w3, config.contract, s, address, timeframe_id)
        except MeteringError as exc:
            return render(request, "error.html", {"message": str(exc)}, status=404)
        return render(request, "invoice.html", shown)

    def invoice_json(request: Request) -> Response:
        from metering.audit.invoice import to_json

        address = views.address(request.path_params["address"])
        timeframe_id = int(request.path_params["timeframe"])
        try:
            with store(snapshot=False) as s:
                shown = views.invoice_view(config.w3, config.contract, s, address, timeframe_id, verify=False)
        except MeteringError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return Response(to_json(shown["invoice"]), media_type="application/json")

    def events(request: Request) -> Response:
        filters = views.event_filters(request)
        with store() as s:
            page, total = views.event_page(s, filters, PAGE_SIZE)
        return render(request, "events.html", {"events": page, "filters": filters, "total": total,
                                                "page_size": PAGE_SIZE})

    def head() -> tuple[int, int]:
        with store() as s:
            rows = s.query("SELECT (SELECT last_block FROM cursor WHERE id = 1), (SELECT MAX(position) FROM events)")
        block, position = rows[0]
        return (-1 if block is None else int(block), -1 if position is None else int(position))

    def node_head() -> int | None:
        if config.w3 is None:
            return None
        try:
            return int(config.w3.eth.block_number)
        except Exception:  # no node at the moment: the lag is unknown, not zero
            return None

    async def verify(request: Request) -> Response:
        body = await request.body()
        return await _in_thread(lambda: _verify(config, body))

    pages = PageCache(head, size=config.page_cache, directory=config.shared_pages)
    routes = [
        Route("/", lambda request: RedirectResponse("/timeframes")),
        Route("/timeframes", pages(timeframes)),
        Route("/customers", pages(customers)),
        Route("/customers/{address}", pages(customer)),
        Route("/invoices/{address}/{timeframe:int}.json", invoice_json),
        Route("/invoices/{address}/{timeframe:int}", invoice_page),
        Route("/events", pages(events)),
        Route("/api/verify", verify, methods=["POST"]),
        Route("/live", live_endpoint(head)),
        Mount("/metrics", metrics_endpoint(config.db, node_head)),
        Mount("/static", StaticFiles(packages=[("metering.web", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={views.BadRequestError: _bad_request})
    app.state.config = config
    app.state.pages = pages
    return app


async def _in_thread(work: Callable[[], Response]) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


def _verify(config: WebConfig, body: bytes) -> Response:
    """Verify a dropped invoice against the chain and this database; the answer names every differing field."""
    from metering.audit.verify import verify_invoice

    if config.w3 is None:
        return JSONResponse({"error": "no node: start `metering serve` with --rpc-url to verify"}, status_code=503)
    try:
        with Store(config.db) as s:
            report = verify_invoice(config.w3, config.contract, s, body, require_anchor=False)
    except MeteringError as exc:
        return JSONResponse({"ok": False, "error": str(exc), "differences": []}, status_code=200)
    return JSONResponse(views.report_json(report))


def _bad_request(request: Request, exc: Exception) -> Response:
    return HTMLResponse(f"<p>{views.escape(str(exc))}</p>", status_code=400)
