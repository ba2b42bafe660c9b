"""Waiting shows progress: each sending command prints its transaction hashes on stderr as soon as they are sent,
and a spinner counts blocks until they are mined; under --json nothing extra appears."""

from __future__ import annotations

import io

from rich.console import Console

from metering.cli._progress import TxProgress

from .helpers import Cli, Market, as_json, ok, plain, sent_hashes


def test_sending_commands_print_each_transaction_hash_on_stderr(cli: Cli) -> None:
    deployed = ok(cli("deploy"))
    assert len(sent_hashes(deployed.stderr)) == 2  # the deployment, then the rules-manager grant
    assert sent_hashes(deployed.stderr)[0] in plain(deployed.stdout)  # the deployment's transaction line
    cli.contract = plain(deployed.stdout).split("export METERING_CONTRACT=")[1].split()[0]
    customers = [c.address for c in cli.actors.customers[:3]]
    enrolled = ok(cli("customer", "enroll", *customers))
    hashes = sent_hashes(enrolled.stderr)
    assert len(hashes) == 3
    assert [line.rsplit("tx ", 1)[1] for line in plain(enrolled.stdout).splitlines()] == hashes
    granted = ok(cli("agent", "grant", cli.actors.agent.address, cli.actors.agent2.address))
    assert len(sent_hashes(granted.stderr)) == 2
    assert all(h in granted.stdout for h in sent_hashes(granted.stderr))


def test_json_output_has_nothing_on_stderr(cli: Cli, market: Market) -> None:
    result = ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--json"))
    assert result.stderr == ""
    assert as_json(result)["result"] == "Granted"


def test_the_spinner_counts_blocks_until_the_transaction_is_mined() -> None:
    out = io.StringIO()
    progress = TxProgress(Console(file=out, force_terminal=True, width=120))
    tx_hash = "0x" + "ab" * 32
    progress.sent(tx_hash, "enrollCustomer")
    progress.waiting(tx_hash, 0)
    progress.waiting(tx_hash, 2)
    progress.mined(tx_hash, 7)
    shown = plain(out.getvalue())
    assert f"sent enrollCustomer: {tx_hash}" in shown
    assert "waiting for 0xabababab… to be mined" in shown
    assert "2 blocks since" in shown
    progress.close()  # closing twice is harmless
