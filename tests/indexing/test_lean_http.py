"""The indexer's lean eth_getLogs transport is used only where it changes nothing but speed: a plain HTTPProvider
with no credentials or session options; it answers what web3's transport answers."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from web3 import HTTPProvider, Web3

from metering._utils.lean_http import LeanHttpError, lean_rpc_for
from metering.chain.node import LocalNode


class Subclassed(HTTPProvider):
    pass


def test_only_a_plain_http_provider_without_credentials_gets_the_lean_transport() -> None:
    assert lean_rpc_for(Web3(HTTPProvider("http://127.0.0.1:8545"))) is not None
    assert lean_rpc_for(Web3(Subclassed("http://127.0.0.1:8545"))) is None
    assert lean_rpc_for(Web3(HTTPProvider("http://user:pw@127.0.0.1:8545"))) is None
    assert lean_rpc_for(Web3(HTTPProvider("http://127.0.0.1:8545", request_kwargs={"auth": ("u", "p")}))) is None


def test_the_lean_transport_answers_what_web3_answers(node: LocalNode, w3: Web3) -> None:
    lean = lean_rpc_for(w3)
    assert lean is not None
    params = [{"fromBlock": "0x0", "toBlock": "latest"}]
    assert lean.request("eth_getLogs", params)["result"] == w3.provider.make_request("eth_getLogs", params)["result"]
    assert lean.request("eth_blockNumber", [])["result"] == hex(w3.eth.block_number)  # the same connection again


@pytest.fixture
def refusing_server() -> Iterator[str]:
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(413)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_error_status_is_an_error_the_indexer_can_halve_a_range_for(refusing_server: str) -> None:
    lean = lean_rpc_for(Web3(HTTPProvider(refusing_server)))
    assert lean is not None
    with pytest.raises(LeanHttpError, match="413"):
        lean.request("eth_getLogs", [{}])
