"""``metering watch``: rules files refused with one line, notifications only from confirmed blocks, and a reorg that
removes the triggering event before it is confirmed sends nothing (we wait; we never retract)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metering.audit.store import Store

from .helpers import Cli, Market, denied, fails, ok

pytest.importorskip("standardwebhooks", reason="the watch needs the watch extra: pip install 'metering[watch]'")

RULES = """
name: t
confirmations: 2
sinks:
  out: {stdout: true}
rules:
  - {name: denials, kind: denial}
"""


def _rules(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _notes(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("text", "fragment"), [
    ("sinks: {a: {stdout: true}}\nrules: [{kind: nope}]", "unknown kind 'nope'"),
    ("sinks: {a: {stdout: true}}\nrules: [{kind: denial, sinks: [b]}]", "unknown sink(s) b"),
    ("sinks: {a: {webhook: 'http://127.0.0.1:9/x', secret: whsec_c2hvcnQ=}}\nrules: [{kind: denial}]",
     "at least 24 random bytes"),
    ("sinks: {a: {webhook: 'http://127.0.0.1:9/x', secret_env: NOT_SET_ANYWHERE}}\nrules: [{kind: denial}]",
     "NOT_SET_ANYWHERE is not set"),
    ("sinks: {a: {stdout: true}}\nrules: [{kind: cap, percent: [0]}]", "percent must be whole numbers"),
    ("sinks: {a: {stdout: true}}\nrules: [{kind: denial}, {kind: denial}]", "two rules are named 'denial'"),
    ("sinks: {a: {stdout: true}}\nrules: [{kind: denial, reasons: [bogus]}]", "unknown denial reason"),
    ("sinks: {a: {command: 'rm -rf /'}}\nrules: [{kind: denial}]", "list of strings (no shell)"),
])
def test_a_bad_rules_file_is_one_line_and_exit_3(cli: Cli, tmp_path: Path, text: str, fragment: str) -> None:
    fails(cli("watch", str(_rules(tmp_path, text)), "--once"), 3, fragment)


def test_a_missing_rules_file_is_one_line_and_exit_3(cli: Cli, tmp_path: Path) -> None:
    fails(cli("watch", str(tmp_path / "nope.yaml"), "--once"), 3, "cannot read the watch rules file")


def test_a_denial_is_notified_once_confirmed_and_a_reorg_before_that_sends_nothing(
    cli: Cli, market: Market, tmp_path: Path
) -> None:
    rules = _rules(tmp_path)
    stranger = cli.actors.customers[2].address  # never enrolled: denied
    ok(cli("watch", str(rules), "--once"))  # a new watch starts at the confirmed head

    # 1. A denial that a reorg removes while it is still 1 block deep: nothing is ever sent about it.
    before = cli.chain.snapshot()
    denied(cli.as_agent("activate", "--customer", stranger, "--type", "1"), "CUSTOMER_NOT_ENROLLED")
    first = ok(cli("watch", str(rules), "--once"))
    assert _notes(first.stdout) == []  # not confirmed yet
    cli.chain.revert(before)  # the block with the denial is replaced by other blocks
    for _ in range(4):
        cli.chain.mine()
    after_reorg = ok(cli("watch", str(rules), "--once"))
    assert _notes(after_reorg.stdout) == []

    # 2. A denial that stays: sent once it is 2 blocks deep, and only once.
    denied(cli.as_agent("activate", "--customer", stranger, "--type", "2"), "CUSTOMER_NOT_ENROLLED")
    assert _notes(ok(cli("watch", str(rules), "--once")).stdout) == []
    cli.chain.mine()
    cli.chain.mine()
    notes = _notes(ok(cli("watch", str(rules), "--once")).stdout)
    assert [(n["type"], n["data"]["reason"], n["data"]["instance_type"]) for n in notes] == [  # type: ignore[index]
        ("activation.denied", "customer_not_enrolled", 2)]
    assert str(notes[0]["id"]).startswith("denials:0x")
    assert _notes(ok(cli("watch", str(rules), "--once")).stdout) == []  # delivered: not again
    with Store(tmp_path / "events.sqlite") as store:
        assert store.query("SELECT state, COUNT(*) FROM outbox GROUP BY state") == [("delivered", 1)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_serve_with_workers_and_the_watch_notifies_and_stops_quietly_on_ctrl_c(
    cli: Cli, market: Market, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL the workers open the database's URL (``store.url``), and the outbox is there too."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    rules = _rules(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METERING_", "ETH_"))}
    env.update({k: v for k, v in cli.env().items() if v is not None})
    metering = str(Path(sys.executable).with_name("metering"))
    db = ["--db", request.getfixturevalue("postgres").new_url()] if backend == "postgres" else []
    proc = subprocess.Popen([metering, "serve", "--workers", "2", "--port", "0", "--interval", "0.2",
                             "--watch", str(rules), *db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stderr is not None

    def line(timeout: float) -> str:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return proc.stdout.readline() if ready else ""  # type: ignore[union-attr]

    try:
        first = line(60)
        assert "2 worker(s)" in first, first + proc.stderr.read() if proc.poll() is not None else first
        url = first.split()[4].rstrip("/")
        stranger = cli.actors.customers[2].address
        denied(cli.as_agent("activate", "--customer", stranger, "--type", "1"), "CUSTOMER_NOT_ENROLLED")
        cli.chain.mine()
        cli.chain.mine()
        deadline, notes = time.monotonic() + 30, []
        while not notes and time.monotonic() < deadline:
            notes = _notes(line(1))
        assert notes and notes[0]["type"] == "activation.denied"
        with urllib.request.urlopen(url + "/events", timeout=30) as response:
            assert response.status == 200 and "ActivationDenied" in response.read().decode()
        with urllib.request.urlopen(url + "/metrics/", timeout=30) as response:  # counted from that database
            metrics = response.read().decode()
        assert 'metering_events_total{event="ActivationDenied"} 1.0' in metrics, metrics
        assert 'metering_denials_total{reason="customer_not_enrolled"} 1.0' in metrics, metrics
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    stderr = proc.stderr.read()
    assert code == 0 and "Traceback" not in stderr, stderr
