"""A lean JSON-RPC transport for the indexer's big reads: one kept-alive HTTP connection, the answer parsed by orjson.

Why: ``eth_getLogs`` answers are the largest payloads the project reads (megabytes per range), and web3's HTTP
provider spends as long on its session, checks and ``json`` parsing as the indexer spends storing the rows. For a
plain :class:`web3.HTTPProvider` (not a subclass: a subclass may add behaviour, and tests use one to inject node
refusals) on ``http(s)://`` without credentials in the URL, the indexer posts the request itself over
``http.client`` and parses with orjson when installed (``json`` otherwise). Anything else goes through
``w3.provider.make_request`` as before. Errors come back as the provider's would: ``OSError`` (and
``TimeoutError``) when the node cannot be reached, :class:`LeanHttpError` for an HTTP status other than 200.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # web3 is imported by lean_rpc_for only: the CLI's reads use LeanRpc without it
    from web3 import Web3

__all__ = ["LeanHttpError", "LeanRpc", "lean_rpc_for", "parse"]

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - orjson is in the dev lock; the library works without it
    _loads = json.loads

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


class LeanHttpError(OSError):
    """The node answered with an HTTP error status (413 for a too-large answer, 5xx...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTPError: {status} {reason}")
        self.status = status


class LeanRpc:
    """JSON-RPC requests over one kept-alive connection (used from one thread at a time)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {**headers, "Content-Type": "application/json", "Connection": "keep-alive"}
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._ids = count(1)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        """The JSON-RPC response object (``result`` or ``error``); one retry on a connection the server closed."""
        return parse(self.request_body(method, params))

    def request_body(self, method: str, params: list[Any]) -> bytes:
        """:meth:`request`'s answer unparsed (for :func:`parse` in the thread that uses it)."""
        body = _dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request("POST", self._path, body, self._headers)
                answer = connection.getresponse()
                payload = answer.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if answer.status != 200:
                raise LeanHttpError(answer.status, answer.reason)
            return payload
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def parse(payload: bytes) -> dict[str, Any]:
    """A JSON-RPC response object from its bytes (orjson where installed)."""
    response: dict[str, Any] = _loads(payload)
    return response


def lean_rpc_for(w3: Web3) -> LeanRpc | None:
    """A :class:`LeanRpc` to the node of ``w3`` when its provider is a plain HTTPProvider that needs nothing but a
    URL, a timeout and its own headers; ``None`` otherwise."""
    from web3 import HTTPProvider

    provider = w3.provider
    if type(provider) is not HTTPProvider:
        return None
    url = str(provider.endpoint_uri or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return None
    kwargs = dict(provider.get_request_kwargs())
    headers = dict(kwargs.pop("headers", {}) or {})
    timeout = kwargs.pop("timeout", 30)
    if kwargs:  # auth, proxies, certificates...: web3's session knows how
        return None
    return LeanRpc(url, {str(k): str(v) for k, v in headers.items()}, float(timeout or 30))
