"""``serve`` with several worker processes over one socket: every page and /metrics answer, on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the web view needs the web extra")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402 - bench/ is not a package


def test_two_workers_serve_every_page_and_the_metrics(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    made = synthetic.build(tmp_path / "s.sqlite", 2_000)
    code = ("import sys; from pathlib import Path; from metering.web.serve import serve_store; "
            "serve_store(Path(sys.argv[1]), sys.argv[2], port=0, workers=2)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(made.path), synthetic.CONTRACT],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "2 worker(s)" in line and "http://127.0.0.1:" in line
        url = line.split()[4].rstrip("/")
        pages = ["/timeframes", "/customers", f"/customers/{made.heavy_customer}", "/events", "/events?page=3"]
        for page in pages:
            for _ in range(30):  # until a worker is up: connection refused is retried, nothing else
                try:
                    with urllib.request.urlopen(url + page, timeout=30) as response:
                        assert response.status == 200
                    break
                except urllib.error.URLError as exc:
                    if not isinstance(exc.reason, ConnectionRefusedError):
                        raise
                    import time

                    time.sleep(0.2)
        with urllib.request.urlopen(url + "/metrics/", timeout=30) as response:
            names = {f.name for f in text_string_to_metric_families(response.read().decode())}
        assert {"metering_events", "metering_denials", "metering_indexed_block"} <= names
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) is not None


def test_workers_share_a_page_computed_once_per_head_and_drop_older_heads(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from metering.audit.store import Store
    from metering.web.app import WebConfig, create_app

    made = synthetic.build(tmp_path / "s.sqlite", 2_000)
    shared = tmp_path / "pages"
    shared.mkdir()
    one, two = (create_app(WebConfig(db=made.path, contract=synthetic.CONTRACT, shared_pages=shared))
                for _ in range(2))
    first = TestClient(one).get("/events").text
    assert TestClient(two).get("/events").text == first
    assert (one.state.pages.misses, two.state.pages.misses, two.state.pages.shared_hits) == (1, 0, 1)
    with Store(made.path) as store:
        store.rollback_after(made.last_event_block - 10)  # the head moves (a reorg dropped the newest blocks)
    after = TestClient(two).get("/events").text
    assert after != first and two.state.pages.misses == 1
    assert len(list(shared.glob("*.html"))) == 1  # the older head's page is gone


def test_connections_accepted_on_the_serve_socket_send_without_waiting_for_acks() -> None:
    """The workers serve ``_bind``'s socket through asyncio (uvicorn), which turns Nagle's algorithm off on each
    accepted connection only when the listening socket says it is TCP. With Nagle on, every response after the first
    on a keep-alive connection waited ~40 ms for the client's delayed ACK."""
    import asyncio
    import socket

    from metering.web.serve import _bind

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listening = _bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname())
            try:
                return await asyncio.wait_for(seen, 30)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0
