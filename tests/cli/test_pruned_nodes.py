"""A node that keeps no old history (pruned, like many public RPCs): ``index``, ``invoice`` and ``verify`` start at
the deployment block recorded by ``metering deploy``, or at ``--from-block``, and a refusal names that option.

The pruned node is the session's anvil behind a proxy that refuses state and logs of blocks before a given one,
with the messages geth and hosted RPCs use."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from metering.chain.node import LocalNode
from metering.cli import ExitCode

from .helpers import Cli, Market, as_json, fails, ok

_STATE_AT_BLOCK = {"eth_getCode": 1, "eth_call": 1, "eth_getBalance": 1, "eth_getStorageAt": 2}


class PrunedNode:
    """Forwards to ``upstream`` but refuses state before block ``keeps_from`` ("missing trie node") and logs that
    start before it ("history has been pruned")."""

    def __init__(self, upstream: str) -> None:
        self.keeps_from = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = proxy.refusal(body) or proxy.forward(upstream, body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        method, params = body["method"], body.get("params") or []
        message = None
        if method in _STATE_AT_BLOCK and len(params) > _STATE_AT_BLOCK[method]:
            block = params[_STATE_AT_BLOCK[method]]
            if isinstance(block, str) and block.startswith("0x") and int(block, 16) < self.keeps_from:
                message = f"missing trie node {'ab' * 32} (path ) state {'cd' * 32} is not available"
        if method == "eth_getLogs" and int(params[0].get("fromBlock", "0x0"), 16) < self.keeps_from:
            message = "history has been pruned for this block range"
        if message is None:
            return None
        return {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32000, "message": message}}

    @staticmethod
    def forward(upstream: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(upstream, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer


@pytest.fixture
def pruned(node: LocalNode) -> Iterator[PrunedNode]:
    proxy = PrunedNode(node.rpc_url)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


def _deployment_block(cli: Cli, market: Market) -> int:
    files = list((cli.tmp_path / "deployments").glob(f"*-{market.contract}.json"))
    assert len(files) == 1, files
    return int(json.loads(files[0].read_text())["block_number"])


def test_index_starts_at_the_deployment_block_recorded_at_deploy_time(cli: Cli, market: Market,
                                                                      pruned: PrunedNode) -> None:
    pruned.keeps_from = _deployment_block(cli, market)
    data = as_json(ok(cli("index", "--json", ETH_RPC_URL=pruned.url)))
    assert data["from_block"] == pruned.keeps_from
    assert data["events"] > 0


def test_without_a_record_a_pruned_node_is_refused_with_a_hint_to_from_block(cli: Cli, market: Market,
                                                                            pruned: PrunedNode) -> None:
    deployed = _deployment_block(cli, market)
    pruned.keeps_from = deployed
    elsewhere = str(cli.tmp_path / "no-records")  # another machine: no deployment file
    fails(cli("index", ETH_RPC_URL=pruned.url, METERING_DEPLOYMENTS=elsewhere), ExitCode.INPUT,
          "cannot find the deployment block", "--from-block")
    data = as_json(ok(cli("index", "--from-block", str(deployed), "--json", ETH_RPC_URL=pruned.url,
                          METERING_DEPLOYMENTS=elsewhere)))
    assert data["from_block"] == deployed


def test_a_from_block_the_node_pruned_is_refused_naming_the_option(cli: Cli, market: Market,
                                                                  pruned: PrunedNode) -> None:
    pruned.keeps_from = _deployment_block(cli, market)
    fails(cli("index", "--from-block", str(pruned.keeps_from - 1), ETH_RPC_URL=pruned.url), ExitCode.INPUT,
          f"keeps no history at block {pruned.keeps_from - 1}", "history has been pruned", "--from-block")


def test_invoice_and_verify_take_from_block_on_a_pruned_node(cli: Cli, market: Market, pruned: PrunedNode) -> None:
    deployed = _deployment_block(cli, market)
    pruned.keeps_from = deployed
    cli.chain.mine(market.end)
    elsewhere = str(cli.tmp_path / "no-records")
    invoice = cli.tmp_path / "invoice.json"
    ok(cli("invoice", "--customer", market.customer, "--timeframe", str(market.timeframe), "-o", str(invoice),
           "--from-block", str(deployed), ETH_RPC_URL=pruned.url, METERING_DEPLOYMENTS=elsewhere))
    fresh_db = str(cli.tmp_path / "auditor.sqlite")  # an auditor's own database, on another machine
    fails(cli("verify", str(invoice), ETH_RPC_URL=pruned.url, METERING_DEPLOYMENTS=elsewhere, METERING_DB=fresh_db),
          ExitCode.INPUT, "--from-block")
    ok(cli("verify", str(invoice), "--from-block", str(deployed), ETH_RPC_URL=pruned.url,
           METERING_DEPLOYMENTS=elsewhere, METERING_DB=fresh_db))


def test_a_from_block_before_the_databases_start_is_refused(cli: Cli, market: Market) -> None:
    deployed = _deployment_block(cli, market)
    ok(cli("index"))
    fails(cli("index", "--from-block", str(deployed - 1)), ExitCode.INPUT, f"starts at block {deployed}",
          "--db")
    ok(cli("index", "--from-block", str(deployed)))
