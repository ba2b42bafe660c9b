"""``metering dev advance`` / ``metering dev mine`` on the test anvil, and refused on a node that is not a
development chain (here: anvil behind a proxy that says it is geth on mainnet)."""

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
from metering.timeparse import format_duration

from .helpers import DB, Cli, as_json, fails, flat, ok, write_rules


class GethDisguise:
    """An HTTP JSON-RPC proxy on a free loopback port: forwards to anvil, but answers ``web3_clientVersion`` as geth
    and ``eth_chainId`` as mainnet, and records every method it forwarded."""

    def __init__(self, upstream: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer: dict[str, Any]
                if body["method"] == "web3_clientVersion":
                    answer = {"jsonrpc": "2.0", "id": body["id"], "result": "Geth/v1.14.12-stable/linux-amd64/go1.23"}
                elif body["method"] == "eth_chainId":
                    answer = {"jsonrpc": "2.0", "id": body["id"], "result": "0x1"}
                else:
                    proxy.forwarded.append(body["method"])
                    request = urllib.request.Request(upstream, data=json.dumps(body).encode(),
                                                     headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(request, timeout=10) as response:
                        answer = json.loads(response.read())
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.forwarded: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def geth(node: LocalNode) -> Iterator[GethDisguise]:
    proxy = GethDisguise(node.rpc_url)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


def test_dev_advance_moves_the_chain_clock_by_a_duration(cli: Cli) -> None:
    before = cli.chain.now()
    data = as_json(ok(cli("dev", "advance", "1h30m", "--json")))
    assert data["timestamp"] == cli.chain.now() >= before + 5400
    assert data["moved_seconds"] >= 5400
    out = flat(ok(cli("dev", "advance", "2m")).stdout)
    assert out.startswith("advanced 2m: block ")
    assert "Z) (2m" in out  # the new block time in ISO, and how far it moved


def test_dev_mine_mines_blocks(cli: Cli) -> None:
    before = cli.chain.w3.eth.block_number
    assert as_json(ok(cli("dev", "mine", "--json")))["block"] == before + 1
    assert as_json(ok(cli("dev", "mine", "3", "--json")))["block"] == before + 4


def test_dev_commands_refuse_a_node_that_is_not_a_dev_chain(cli: Cli, geth: GethDisguise) -> None:
    before = cli.chain.now()
    fails(cli("dev", "advance", "1h", ETH_RPC_URL=geth.url), ExitCode.INPUT, "not a development chain",
          "Geth/v1.14.12", "chain id 1")
    fails(cli("dev", "mine", "5", ETH_RPC_URL=geth.url), ExitCode.INPUT, "not a development chain")
    assert not any(m.startswith("evm_") for m in geth.forwarded), geth.forwarded
    assert cli.chain.now() == before


def test_dev_advance_bad_duration_is_bad_input(cli: Cli) -> None:
    fails(cli("dev", "advance", "soon"), ExitCode.INPUT, "'soon' is not a duration")
    result = cli("dev", "mine", "0")
    assert result.exit_code == ExitCode.USAGE


def test_a_timeframe_starting_in_two_minutes_can_be_used_after_dev_advance(cli: Cli) -> None:
    """The README's local flow: create a timeframe that starts soon, move the dev chain's clock, activate."""
    cli.deploy()
    created = as_json(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-in", "2m", "--duration", "30d",
                             "--json")))
    ok(cli("rules", "set", str(write_rules(cli.tmp_path / "rules.yaml", created["timeframe"]))))
    customer = cli.actors.customers[0].address
    ok(cli("customer", "enroll", customer))
    ok(cli("agent", "grant", cli.actors.agent.address))
    # on a fresh anvil the chain's clock is the wall clock and `dev advance 2m` reaches the start; the test session's
    # anvil may lag behind it (snapshots restore older times), so move by what is left, written as a duration
    ok(cli("dev", "advance", format_duration(max(created["start"] - cli.chain.now(), 1))))
    out = flat(ok(cli.as_agent("activate", "--customer", customer, "--type", str(DB), "--lease", "600")).stdout)
    assert out.startswith("granted instance 0x")
    assert "Z)" in out  # the lease end with its ISO time
