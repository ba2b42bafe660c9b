"""Issue 20: a read command answers without importing web3, and prints what the web3 path printed.

Each read command runs as the console script does, in a fresh interpreter against the session's anvil with a Meter
set up through the CLI; ``METERING_DUMP_MODULES`` makes the entry point write ``sys.modules`` when it ends, which
must hold neither web3 nor eth_account nor aiohttp. The same command then runs in-process on the library's web3
client (``OnChain.reader`` giving a read-only :class:`~metering.provider.Provider`, ``events`` connecting with
:func:`metering.chain.connect`), as every read did before, and both outputs, text and ``--json``, must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metering.chain import connect
from metering.cli._on_chain import OnChain
from metering.provider import Provider

from .helpers import Cli, Market, as_json, ok

#: What a read must not import: web3 itself, and the two that cost the most of its import time.
FORBIDDEN = ("web3", "eth_account", "aiohttp")

_ENTRY = "import sys\nsys.argv = ['metering', *sys.argv[1:]]\nfrom metering._entry import main\nmain()\n"


def _reads(market: Market, instance: str) -> dict[str, list[str]]:
    tf, who = str(market.timeframe), market.customer
    return {
        "usage": ["usage", "--customer", who, "--timeframe", tf, "--type", "1", "--type", "2"],
        "timeframe list": ["timeframe", "list"],
        "rules show": ["rules", "show", "--timeframe", tf, "--type", "1", "--type", "2", "--type", "9"],
        "instance show": ["instance", "show", instance],
        "customer account": ["customer", "account", who],
        "customer account --timeframe": ["customer", "account", who, "--timeframe", tf],
        "customer status": ["customer", "status", who],
        "customer list": ["customer", "list"],
        "events": ["events", "--limit", "0"],
        "role show": ["role", "show", who, market.contract],
        "verify-source": ["verify-source"],
    }


@pytest.fixture
def running(cli: Cli, market: Market) -> str:
    """The market with one instance running (its id), activated by the agent through the CLI."""
    granted = as_json(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--json")))
    return str(granted["instance_id"])


def _subprocess(cli: Cli, args: list[str], dump: Path, code: int = 0) -> tuple[str, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METERING_", "ETH_"))}
    env.update({k: v for k, v in cli.env().items() if v is not None})
    env.update(METERING_DUMP_MODULES=str(dump), COLUMNS="200")
    done = subprocess.run([sys.executable, "-c", _ENTRY, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == code, done.stderr
    return done.stdout, set(dump.read_text(encoding="utf-8").split())


def _through_web3(cli: Cli, args: list[str], monkeypatch: pytest.MonkeyPatch, code: int = 0) -> str:
    """The command in-process, every read through web3 (the path it took before issue 20)."""
    with monkeypatch.context() as patch:
        patch.setattr(OnChain, "reader", lambda self: Provider(self.w3, self.address, None))
        patch.setattr("metering.chain.lean.lean_connect", lambda url, timeout: connect(url, timeout=timeout))
        result = cli(*args, COLUMNS="200")
        if code == 0:
            ok(result)
        assert result.exit_code == code, result.output
        return result.stdout


def _same_without_web3(cli: Cli, args: list[str], dump: Path, monkeypatch: pytest.MonkeyPatch, code: int = 0) -> str:
    """``metering ARGS`` in a fresh process loads no web3 and prints what the web3 path prints; its output."""
    lean, modules = _subprocess(cli, args, dump, code)
    assert not [m for m in FORBIDDEN if m in modules], f"`metering {' '.join(args)}` imported web3"
    assert "metering.cli._common" in modules
    assert lean == _through_web3(cli, args, monkeypatch, code), args
    assert lean.strip(), args
    return lean


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_each_read_imports_no_web3_and_prints_what_the_web3_path_prints(
    cli: Cli, market: Market, running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_out: bool
) -> None:
    for name, args in _reads(market, running).items():
        if name == "customer list" and not json_out:
            continue  # its text shows block times read by the node (below, without web3 and with the times)
        argv = [*args, "--json"] if json_out else args
        lean, modules = _subprocess(cli, argv, tmp_path / f"{name}-{json_out}.txt")
        assert not [m for m in FORBIDDEN if m in modules], f"`metering {' '.join(argv)}` imported web3"
        assert "metering.cli._common" in modules  # the dump is of a command that ran, not of an empty interpreter
        assert lean == _through_web3(cli, argv, monkeypatch), name
        assert lean.strip(), name
        if json_out:
            json.loads(lean)


def test_the_reads_show_the_chain_state(cli: Cli, market: Market, running: str, tmp_path: Path) -> None:
    """Known values, so that the equality above is not of two empty answers."""
    reads = _reads(market, running)
    usage = json.loads(_subprocess(cli, [*reads["usage"], "--json"], tmp_path / "u")[0])
    assert (usage[0]["instance_type"], usage[0]["running"], usage[0]["activations"]) == (1, 1, 1)
    assert (usage[1]["instance_type"], usage[1]["running"]) == (2, 0)
    record = json.loads(_subprocess(cli, [*reads["instance show"], "--json"], tmp_path / "i")[0])
    assert record["customer"] == market.customer and record["status"] == "OPEN"
    frames = json.loads(_subprocess(cli, [*reads["timeframe list"], "--json"], tmp_path / "t")[0])
    assert [(f["id"], f["currency"], f["active"]) for f in frames] == [(market.timeframe, "EUR", True)]
    text, modules = _subprocess(cli, reads["customer list"], tmp_path / "l")
    assert "web3" not in modules
    assert market.customer in text and market.customer2 in text and "2 customer(s)" in text
    assert "since block" in text and "Z)" in text  # the block's time, read without web3
    events = json.loads(_subprocess(cli, [*reads["events"], "--json"], tmp_path / "e")[0])
    assert "ActivationGranted" in {e["event"] for e in events}


def test_the_module_dump_sees_web3_when_a_command_loads_it(cli: Cli, market: Market, tmp_path: Path) -> None:
    """The check can fail: a command that sends a transaction loads web3."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METERING_", "ETH_"))}
    env.update({k: v for k, v in cli.env().items() if v is not None})
    env.update(METERING_DUMP_MODULES=str(tmp_path / "m"))
    subprocess.run([sys.executable, "-c", _ENTRY, "customer", "enroll", market.customer2], env=env,
                   capture_output=True, text=True, timeout=120, check=False)
    assert "web3" in (tmp_path / "m").read_text(encoding="utf-8").split()


def test_index_invoice_and_verify_import_no_web3_and_print_what_the_web3_path_prints(
    cli: Cli, market: Market, running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor's reads: ``index`` (into a fresh database each, so both do the same work), ``invoice`` in each
    format and ``--as-of``, and ``verify`` of a statement (matching, and tampered: exit 1)."""
    who, tf = market.customer, str(market.timeframe)
    lean_db, web3_db = tmp_path / "lean.sqlite", tmp_path / "web3.sqlite"
    lean, modules = _subprocess(cli, ["index", "--json", "--db", str(lean_db)], tmp_path / "index")
    assert not [m for m in FORBIDDEN if m in modules]
    web3 = _through_web3(cli, ["index", "--json", "--db", str(web3_db)], monkeypatch)
    indexed = json.loads(lean)
    assert indexed.pop("database") == str(lean_db) and indexed["events"] > 0
    assert indexed == {k: v for k, v in json.loads(web3).items() if k != "database"}
    # ``db copy`` reads only block times from the node (to recompute the invoices on both sides)
    copied, modules = _subprocess(cli, ["db", "copy", str(lean_db), str(tmp_path / "copy-lean.sqlite"), "--json"],
                                  tmp_path / "copy")
    assert not [m for m in FORBIDDEN if m in modules]
    by_web3 = _through_web3(cli, ["db", "copy", str(lean_db), str(tmp_path / "copy-web3.sqlite"), "--json"],
                            monkeypatch)
    assert json.loads(copied)["identical"] and json.loads(copied)["invoices"] > 0
    assert copied.replace("copy-lean", "copy-web3") == by_web3

    invoice = ["invoice", "--customer", who, "--timeframe", tf]
    statement = json.loads(_same_without_web3(cli, [*invoice, "--json"], tmp_path / "ij", monkeypatch))
    assert statement["customer"] == who and not statement["final"]
    _same_without_web3(cli, invoice, tmp_path / "it", monkeypatch)
    _same_without_web3(cli, [*invoice, "--format", "csv"], tmp_path / "ic", monkeypatch)
    as_of = str(statement["evidence"]["to_block"])
    _same_without_web3(cli, [*invoice, "--as-of", as_of, "--json"], tmp_path / "ia", monkeypatch)

    document = tmp_path / "statement.json"
    _subprocess(cli, [*invoice, "--as-of", as_of, "-o", str(document)], tmp_path / "io")
    for json_out in ([], ["--json"]):
        verified = _same_without_web3(cli, ["verify", str(document), *json_out], tmp_path / "v", monkeypatch)
        assert "NOT verified" not in verified and ('"ok": true' in verified or "verified" in verified)
    tampered = tmp_path / "tampered.json"
    data = json.loads(document.read_text(encoding="utf-8"))
    data["total"] = "1.00" if data["total"] != "1.00" else "2.00"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    for json_out in ([], ["--json"]):
        said = _same_without_web3(cli, ["verify", str(tampered), *json_out], tmp_path / "vt", monkeypatch, code=1)
        assert "total" in said
