"""``metering node`` (run as a real process: it waits for a signal) and ``metering demo`` end to end."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account
from rich.console import Console
from typer.testing import CliRunner

from metering.chain.node import LocalNode
from metering.cli import app
from metering.contract import DenialReason
from metering.demo import run_demo

from .helpers import ENV_VARS, flat, ok

REPO = Path(__file__).resolve().parents[2]


def _metering(*args: str) -> subprocess.Popen[str]:
    """``metering ARGS`` as a child process, from the repository (where the pinned anvil is), no METERING_* env."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return subprocess.Popen(
        [sys.executable, "-c", "from metering.cli import main; main()", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop a child still running after a failed test: SIGTERM first, so it can stop its anvil too."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _lines(stream: io.TextIOBase) -> queue.Queue[str | None]:
    """The stream's lines as they come (``None`` at its end), read by a thread so a test can time out."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _chain_id(url: str) -> str:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=2) as response:
        return str(json.loads(response.read())["result"])


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_node_prints_its_url_and_stops_on_a_signal(stop_signal: signal.Signals) -> None:
    process = _metering("node", "--port", "0")
    try:
        assert process.stdout is not None
        lines = _lines(process.stdout)
        seen: list[str] = []
        deadline = time.monotonic() + 180  # a condition with a generous bound: imports take seconds under load
        while not any("Ctrl-C stops anvil" in line for line in seen):  # the last line before it waits
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"metering node ended early: {''.join(seen)}"
            seen.append(line)
        match = re.search(r"anvil running at (http://127\.0\.0\.1:(\d+)) \(pid (\d+), chain id 31337\)", seen[0])
        assert match, seen[0]
        url, port, anvil_pid = match.group(1), int(match.group(2)), int(match.group(3))
        assert port != 0
        assert f"export ETH_RPC_URL={url}" in "".join(seen)
        keys = re.findall(r"  METERING_PRIVATE_KEY=(0x[0-9a-f]+)\n", "".join(seen))
        assert len(keys) == 3
        assert all(len(key) == 66 for key in keys)  # each on one line, whole
        # each key's address is printed above it, with the role it would need
        addresses = re.findall(r"#\d (0x[0-9a-fA-F]{40})  (provider|agent|customer): ", "".join(seen))
        assert [role for _, role in addresses] == ["provider", "agent", "customer"]
        assert [a for a, _ in addresses] == [Account.from_key(k).address for k in keys]
        assert f"metering agent grant {addresses[1][0]}" in "".join(seen)
        assert _chain_id(url) == "0x7a69"

        process.send_signal(stop_signal)
        assert process.wait(timeout=60) == 0
        rest = []
        while (line := lines.get(timeout=60)) is not None:
            rest.append(line)
        assert "stopping anvil" in "".join(rest)
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
        with pytest.raises(ProcessLookupError):  # anvil was stopped and reaped, not orphaned
            os.kill(anvil_pid, 0)
        with pytest.raises(OSError):
            _chain_id(url)
    finally:
        _stop(process)


def test_node_on_a_busy_port_exits_4(node: LocalNode) -> None:
    process = _metering("node", "--port", str(node.port))
    try:
        _, err = process.communicate(timeout=30)
    finally:
        _stop(process)
    assert process.returncode == 4, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0] == (f"error: port {node.port} on 127.0.0.1 is in use (another node?): choose another --port, "
                        "or 0 for any")


def _check_demo_files(out: Path) -> None:
    for name in ("acme", "globex", "initech"):
        document = json.loads((out / f"invoice-{name}-tf1.json").read_text())
        assert document["final"] is True
        csv = (out / f"invoice-{name}-tf1.csv").read_text()
        assert csv.startswith("instance_type,")


def test_demo_command(tmp_path: Path) -> None:
    started = time.monotonic()
    out = tmp_path / "demo"
    result = ok(CliRunner().invoke(app, ["demo", "--out", str(out)], env=dict.fromkeys(ENV_VARS)))
    assert time.monotonic() - started < 120
    _check_demo_files(out)
    text = flat(result.stdout)
    assert "CONCURRENCY_LIMIT_REACHED" in text
    assert "auditor: tampered copy caught" in text
    assert text.count("verified (lines, on-chain counters, anchored hash)") == 3
    assert "NOT verified" not in text


def test_run_demo_result(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "provider.sqlite").parent.mkdir()
    (out / "provider.sqlite").write_text("stale database of an earlier run")  # the demo starts afresh
    result = run_demo(out, Console(file=io.StringIO(), width=120))
    assert result.seconds < 120
    assert set(result.invoices) == {"acme", "globex", "initech"}
    assert all(path.is_file() and path.with_suffix(".csv").is_file() for path in result.invoices.values())
    _check_demo_files(out)
    assert len(result.honest_reports) == 3
    assert all(report.ok for report in result.honest_reports)
    assert not result.tampered_report.ok
    assert "lines[line=1#seconds].quantity" in {d.where for d in result.tampered_report.differences}
    reasons = {d.reason for d in result.denials}
    assert {DenialReason.CONCURRENCY_LIMIT_REACHED, DenialReason.AGENT_NOT_APPROVED} <= reasons
    assert DenialReason.SPENDING_CAP_REACHED in reasons  # globex's cap: a new start refused near the end
    assert DenialReason.DEPOSIT_EXHAUSTED in reasons  # initech's second ml-worker: beyond its deposit
    assert result.settlement is not None
    assert result.settlement.settled.amount == result.totals["initech"] == result.settlement.invoice_total
    assert result.settlement.payouts[0].paid is not None
    assert result.settlement.payouts[0].paid.units == result.settlement.settled.tokens
    assert result.settlement.withdrawn.units == (50 + 500) * 10_000 - result.settlement.settled.tokens
    assert (out / "statement-acme-tf2.json").is_file()
    assert result.overage_grants > 0
    assert result.expired_by_third_party > 0
    assert sum(result.totals.values()) > 0


def test_node_deploy_sets_up_a_meter_ready_to_try(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["METERING_DEPLOYMENTS"] = str(tmp_path / "deployments")
    process = subprocess.Popen(
        [sys.executable, "-c", "from metering.cli import main; main()", "node", "--port", "0", "--deploy"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        lines = _lines(process.stdout)
        seen: list[str] = []
        deadline = time.monotonic() + 180
        while not any("Ctrl-C stops anvil" in line for line in seen):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"metering node --deploy ended early: {''.join(seen)}"
            seen.append(line)
        text = "".join(seen)
        exports = re.search(r"export ETH_RPC_URL=(\S+) METERING_CONTRACT=(0x[0-9a-fA-F]{40}) "
                            r"METERING_PRIVATE_KEY=(0x[0-9a-f]{64})\n", text)
        assert exports, text
        url, contract, key = exports.groups()
        addresses = re.findall(r"#\d (0x[0-9a-fA-F]{40})  ", text)
        run_env = {"ETH_RPC_URL": url, "METERING_CONTRACT": contract, "METERING_PRIVATE_KEY": key,
                   "METERING_DEPLOYMENTS": env["METERING_DEPLOYMENTS"], "METERING_DB": str(tmp_path / "db.sqlite")}
        runner = CliRunner()
        status = runner.invoke(app, ["customer", "status", addresses[2], "--json"], env=run_env)
        assert json.loads(status.stdout)["status"] == "ENROLLED", status.output
        roles = runner.invoke(app, ["role", "show", addresses[0], addresses[1], "--json"], env=run_env)
        held = json.loads(roles.stdout)["roles"]
        assert set(held[addresses[0]]) == {"DEFAULT_ADMIN_ROLE", "RULES_MANAGER_ROLE"}
        assert held[addresses[1]] == ["AGENT_ROLE"]
        assert list((tmp_path / "deployments").glob(f"*-{contract}.json"))  # recorded, with its block
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        _stop(process)
