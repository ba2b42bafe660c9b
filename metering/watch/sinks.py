"""Where notifications go: a signed HTTP webhook, a local command, or a line of JSON on stdout.

Webhooks follow Standard Webhooks (https://www.standardwebhooks.com): the headers ``webhook-id`` (the notification's
chain-derived id, the same on every retry, so receivers dedupe on it), ``webhook-timestamp`` (unix seconds of this
attempt, so a receiver can refuse replays outside its tolerance) and ``webhook-signature`` (``v1,`` + base64
HMAC-SHA256 of ``id.timestamp.body`` with the endpoint's own secret). Signing is the ``standardwebhooks`` package's
own, so what we send is what its verifier accepts. Any 2xx status is success; anything else, a timeout or a refused
connection is a :class:`DeliveryError`, and the outbox tries again later.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TextIO

from metering.errors import DeliveryError, MissingDependencyError, WatchConfigError

__all__ = ["CommandSink", "Sink", "StdoutSink", "WebhookSink", "check_secret"]


class Sink(Protocol):
    """Delivers one notification body; raises :class:`DeliveryError` when it was not accepted."""

    @property
    def name(self) -> str: ...

    def deliver(self, notification_id: str, payload: str) -> None: ...


def _webhook(secret: str) -> object:
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError as exc:
        raise MissingDependencyError('signed webhooks need standardwebhooks: pip install "metering[watch]"') from exc
    return Webhook(secret)


def check_secret(name: str, secret: str) -> str:
    """A Standard Webhooks secret (``whsec_`` + base64 of at least 24 random bytes), or :class:`WatchConfigError`.

    The bound: a short secret can be guessed offline from one signed body, so fewer than 24 bytes is refused."""
    import base64
    import binascii

    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "==", validate=False)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 24:
        raise WatchConfigError(
            f"sink {name!r}: the webhook secret must be 'whsec_' + base64 of at least 24 random bytes "
            "(make one with: python -c \"import os,base64;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\")"
        )
    return secret


@dataclass(frozen=True)
class WebhookSink:
    """POSTs the body to ``url`` with Standard Webhooks headers signed with ``secret``."""

    name: str
    url: str
    secret: str = field(repr=False)
    timeout: float = 10.0

    def deliver(self, notification_id: str, payload: str) -> None:
        now = datetime.now(UTC)
        signature = _webhook(self.secret).sign(notification_id, now, payload)  # type: ignore[attr-defined]
        request = urllib.request.Request(
            self.url,
            data=payload.encode(),
            method="POST",
            headers={
                "content-type": "application/json",
                "user-agent": "metering-watch",
                "webhook-id": notification_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": str(signature),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"{self.name}: {self.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{self.name}: {self.url} unreachable ({reason})") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"{self.name}: {self.url} answered HTTP {status}")


@dataclass(frozen=True)
class CommandSink:
    """Runs ``argv`` with the body on stdin and ``WEBHOOK_ID`` in the environment; exit status 0 is success."""

    name: str
    argv: tuple[str, ...]
    timeout: float = 30.0

    def deliver(self, notification_id: str, payload: str) -> None:
        try:
            done = subprocess.run(
                self.argv, input=payload.encode(), capture_output=True, timeout=self.timeout, check=False,
                env={**os.environ, "WEBHOOK_ID": notification_id},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeliveryError(f"{self.name}: {self.argv[0]} did not run ({exc})") from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise DeliveryError(f"{self.name}: {self.argv[0]} exited {done.returncode} {tail[0]}".rstrip())


@dataclass(frozen=True)
class StdoutSink:
    """Prints ``{"id": ..., "type": ..., "timestamp": ..., "data": ...}`` as one line of JSON."""

    name: str
    stream: TextIO | None = None

    def deliver(self, notification_id: str, payload: str) -> None:
        body = json.loads(payload)
        out = self.stream if self.stream is not None else sys.stdout
        out.write(json.dumps({"id": notification_id, **body}, sort_keys=True, separators=(",", ":")) + "\n")
        out.flush()
