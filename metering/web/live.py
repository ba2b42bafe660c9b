"""Live pages: a Server-Sent Events stream that says when the indexed chain moved, so pages refresh their content.

Why this shape: a page already knows how to render itself on the server; the stream only says "the head moved to
position P" and the page's script fetches its own URL again and swaps the main content in place (no reload, scroll
and filters kept). One small query per second per open page (the newest event position and the cursor), whatever
the store's size.

When the connection drops, the page keeps what it shows, its marker turns to "reconnecting", and the browser's
``EventSource`` reconnects after ``retry`` milliseconds sending ``Last-Event-ID``; if the head moved meanwhile, the
first message tells it at once, so nothing is missed. When the server stops (Ctrl-C), sse-starlette ends the open
streams, and the pages say "reconnecting" until it is back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["RETRY_MS", "live_endpoint"]

#: How long a browser waits before reconnecting, and how often the stream looks at the store.
RETRY_MS = 1_000
POLL_SECONDS = 0.25
PING_SECONDS = 15


def live_endpoint(head: Callable[[], tuple[int, int]]) -> Callable[[Request], Any]:
    """The ``/live`` endpoint; ``head()`` answers (cursor block, newest event position) from the store."""
    from sse_starlette import EventSourceResponse, ServerSentEvent

    async def stream(request: Request) -> AsyncIterator[ServerSentEvent]:
        seen = request.headers.get("last-event-id", "")
        while not await request.is_disconnected():
            block, position = await asyncio.to_thread(head)
            marker = f"{block}:{position}"
            if marker != seen:
                payload = json.dumps({"block": block, "position": position})
                yield ServerSentEvent(payload, event="head", id=marker, retry=RETRY_MS)
                seen = marker
            await asyncio.sleep(POLL_SECONDS)

    async def endpoint(request: Request) -> Response:
        return EventSourceResponse(stream(request), ping=PING_SECONDS, headers={"cache-control": "no-store"})

    return endpoint
