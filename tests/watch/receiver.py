"""A real webhook receiver on a loopback port that verifies with ``standardwebhooks`` and misbehaves on purpose:
it fails a share of requests (HTTP 500), is slow for some, and can be taken down and brought back on its port."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str, *, fail_rate: float = 0.0, slow_rate: float = 0.0, slow_seconds: float = 0.2,
                 seed: int = 17) -> None:
        self.verifier = Webhook(secret)
        self.fail_rate = fail_rate
        self.slow_rate = slow_rate
        self.slow_seconds = slow_seconds
        self.rng = random.Random(seed)
        self.accepted: dict[str, Any] = {}  # webhook-id -> verified JSON body (first time it was accepted)
        self.accepts: Counter[str] = Counter()  # how often each id was answered 2xx (redeliveries show here)
        self.rejected_signatures = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    roll, slow = receiver.rng.random(), receiver.rng.random()
                if slow < receiver.slow_rate:
                    time.sleep(receiver.slow_seconds)
                try:
                    data = receiver.verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.rejected_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if roll < receiver.fail_rate:
                    with receiver.lock:
                        receiver.failed += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver.lock:
                    wid = self.headers["webhook-id"]
                    receiver.accepted.setdefault(wid, data)
                    receiver.accepts[wid] += 1
                self.send_response(204)
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until :meth:`start` again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
