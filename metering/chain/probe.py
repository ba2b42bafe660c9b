"""The first question to an RPC URL, asked without web3, so that each way it can go wrong gets its own words.

A URL can be wrong in more ways than "no node answers": nothing listens (refused), the host name does not resolve,
a server accepts the connection and never answers (a firewall, a wedged proxy: web3 would wait and retry for minutes),
or a web server answers with an HTML page or JSON that is not JSON-RPC (a typo'd path, an explorer's URL). One
``eth_chainId`` over plain HTTP tells them apart within one stated timeout.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from metering.errors import RpcUnavailableError

__all__ = ["MAX_ANSWER_BYTES", "probe_chain_id"]

#: An eth_chainId answer is a few dozen bytes; a server sending more is not a node (and must not fill memory).
MAX_ANSWER_BYTES = 64 * 1024

_HINT = "start one with `metering node`, or set -r/--rpc-url, ETH_RPC_URL or rpc_url in metering.toml"
_REQUEST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()


def probe_chain_id(rpc_url: str, timeout: float) -> int:
    """The chain id the node at ``rpc_url`` reports; :class:`RpcUnavailableError` saying what answered instead.

    ``timeout`` bounds the connection and each read (METERING_RPC_TIMEOUT in the CLI).
    """
    request = urllib.request.Request(rpc_url, data=_REQUEST, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_ANSWER_BYTES + 1)
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_ANSWER_BYTES + 1) if exc.fp is not None else b""
        if not _is_json_rpc(body):
            raise RpcUnavailableError(
                f"the server at {rpc_url} answered HTTP {exc.code} {exc.reason}, not JSON-RPC: check the URL's "
                "path and port"
            ) from None
        kind = "application/json"
    except urllib.error.URLError as exc:
        raise RpcUnavailableError(_unreachable(rpc_url, exc.reason, timeout)) from None
    except TimeoutError as exc:
        raise RpcUnavailableError(_unreachable(rpc_url, exc, timeout)) from None
    except OSError as exc:
        raise RpcUnavailableError(f"no node answers at {rpc_url}: {_HINT} ({exc})") from None
    return _chain_id(rpc_url, body, kind)


def _unreachable(rpc_url: str, reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return (
            f"the server at {rpc_url} did not answer within {timeout:g} s (it accepts connections but says "
            "nothing): check the URL, or allow longer with METERING_RPC_TIMEOUT or rpc_timeout in metering.toml"
        )
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host of {rpc_url} ({reason.strerror}): check the URL"
    if isinstance(reason, ConnectionRefusedError):
        return f"no node answers at {rpc_url}: {_HINT} (connection refused)"
    return f"no node answers at {rpc_url}: {_HINT} ({reason})"


def _is_json_rpc(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("jsonrpc") == "2.0" and ("result" in data or "error" in data)


def _chain_id(rpc_url: str, body: bytes, kind: str) -> int:
    if len(body) > MAX_ANSWER_BYTES:
        raise RpcUnavailableError(f"the server at {rpc_url} answered over {MAX_ANSWER_BYTES} bytes to eth_chainId: "
                                  "not a JSON-RPC node")
    text = body.lstrip()[:1]
    if kind == "text/html" or text == b"<":
        raise RpcUnavailableError(f"the server at {rpc_url} answered with an HTML page, not JSON-RPC: it is a web "
                                  "site, not a node's RPC endpoint")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RpcUnavailableError(f"the server at {rpc_url} answered {kind} that is not JSON: not a JSON-RPC "
                                  "node") from None
    if not (isinstance(data, dict) and data.get("jsonrpc") == "2.0" and ("result" in data or "error" in data)):
        raise RpcUnavailableError(f"the server at {rpc_url} answered JSON that is not JSON-RPC 2.0: not a node")
    if "error" in data:
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise RpcUnavailableError(f"the node at {rpc_url} refused eth_chainId: {message}")
    result = data["result"]
    try:
        return int(result, 16) if isinstance(result, str) else int(result)
    except (TypeError, ValueError):
        raise RpcUnavailableError(f"the node at {rpc_url} answered eth_chainId with {result!r}, not a "
                                  "number") from None
