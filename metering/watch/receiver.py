"""A small local webhook receiver that verifies Standard Webhooks signatures: for the demo, and for trying a rules
file before pointing it at a real endpoint. Binds 127.0.0.1 only; keeps what it accepted, deduplicated by
``webhook-id`` (what every receiver should do: delivery is at least once)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LocalReceiver"]


class LocalReceiver:
    """``with LocalReceiver(secret) as r:`` serves ``r.url``; ``r.received`` lists (id, body) in arrival order."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self._verifier = Webhook(secret)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"

    def __enter__(self) -> LocalReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                from standardwebhooks.webhooks import WebhookVerificationError

                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    data = receiver._verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                wid = str(self.headers["webhook-id"])
                with receiver._lock:
                    if wid not in receiver._seen:
                        receiver._seen.add(wid)
                        receiver.received.append((wid, json.loads(json.dumps(data))))
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="metering-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
