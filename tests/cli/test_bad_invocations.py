"""A new user's mistakes, as a table: each bad invocation ends with one ``error:`` line (or, with ``--json``, one
JSON object ``{"code", "error"}`` on stdout), the documented exit code, and never a traceback.

The adversary is every first-day mistake (a typo'd URL, a missing folder, ``/dev/zero`` as a rules file, the zero
address, a clock moved 190,000 years) and every server that is not a node (silent, HTML, JSON that is not
JSON-RPC). Most rows need no chain: they fail before connecting, or at a dead port or one of the small servers
started here. The rows that need a node use the session's anvil and a contract that is not a Meter.

Each row runs twice: as written, and with ``--json`` where the command has that option (and for every usage
error, which the root reports as JSON whatever the command).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

from metering.chain.accounts import create_keystore
from metering.cli import app

from .helpers import ENV_VARS, EXAMPLE_RULES, clean, free_port, key_hex, plain, progress_free

if TYPE_CHECKING:
    from web3.contract import Contract

    from tests.conftest import Actors, Chain

ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ZERO = "0x" + "0" * 40
ID = "0x" + "ab" * 20 + "00" * 4 + "ab" * 8  # seat address, 4 zero bytes, request id
KEY = "0x" + "11" * 32


@dataclass(frozen=True)
class Bad:
    """One bad invocation: the arguments (``{placeholders}`` filled per run), the exit code, a fragment of the one
    error line, extra environment, and whether the ``--json`` form applies (False where ``--json`` itself changes
    what is wrong)."""

    args: tuple[str, ...]
    code: int
    says: str
    env: tuple[tuple[str, str], ...] = ()
    json_form: bool = True

    @property
    def id(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env)
        return " ".join(filter(None, (env, *self.args)))


def bad(*args: str, code: int, says: str, env: dict[str, str] | None = None, json_form: bool = True) -> Bad:
    return Bad(tuple(args), code, says, tuple((env or {}).items()), json_form)


# ---------------------------------------------------------------------------------------------------- the rows

#: Every chain command with arguments that are right but for the node: the generated rows below give each a
#: malformed URL (3), a dead one (4) and an unknown option (2).
CHAIN_COMMANDS: list[tuple[str, ...]] = [
    ("deploy",),
    ("timeframe", "create", "--currency", "EUR", "--starts-in", "1h", "--duration", "1d"),
    ("timeframe", "list"),
    ("rules", "set", "{rules}"),
    ("rules", "show", "--timeframe", "1", "--type", "1"),
    ("customer", "enroll", ADDR),
    ("customer", "suspend", ADDR),
    ("customer", "status", ADDR),
    ("customer", "approve", ADDR),
    ("customer", "revoke", ADDR),
    ("customer", "restrict", "on"),
    ("customer", "cap", "5", "--currency", "EUR"),
    ("customer", "account", ADDR),
    ("customer", "list"),
    ("agent", "grant", ADDR),
    ("agent", "revoke", ADDR),
    ("role", "show"),
    ("role", "grant-manager", ADDR),
    ("role", "revoke-manager", ADDR),
    ("role", "begin-admin-transfer", ADDR),
    ("role", "accept-admin"),
    ("role", "cancel-admin-transfer"),
    ("instance", "show", ID),
    ("instance", "close", ID),
    ("activate", "--customer", ADDR, "--type", "1"),
    ("renew", ID),
    ("deactivate", ID),
    ("expire", ID),
    ("usage", "--customer", ADDR, "--timeframe", "1", "--type", "1"),
    ("events",),
    ("index",),
    ("invoice", "--customer", ADDR, "--timeframe", "1"),
    ("verify", "{empty_json}"),
    ("verify-source",),
    ("dev", "advance", "1h"),
    ("dev", "mine"),
    ("serve", "--port", "0"),
]

GENERATED = [
    row
    for command in CHAIN_COMMANDS
    for row in (
        bad(*command, "-r", "127.0.0.1:8545", code=3, says="not an RPC URL"),
        bad(*command, "-r", "{dead}", code=4, says="no node answers at http://127.0.0.1:"),
        bad(*command, "--bogus", code=2, says="No such option: --bogus"),
    )
]

USAGE = [
    bad("no-such-command", code=2, says="No such command 'no-such-command'"),
    bad("--bogus", code=2, says="No such option: --bogus"),
    bad("timeframe", "bogus", code=2, says="No such command 'bogus'"),
    bad("rules", "bogus", code=2, says="No such command 'bogus'"),
    bad("customer", "bogus", code=2, says="No such command 'bogus'"),
    bad("role", "bogus", code=2, says="No such command 'bogus'"),
    bad("dev", "bogus", code=2, says="No such command 'bogus'"),
    bad("agent", "bogus", code=2, says="No such command 'bogus'"),
    bad("instance", "bogus", code=2, says="No such command 'bogus'"),
    bad("account", "bogus", code=2, says="No such command 'bogus'"),
    bad("rules", "show", "--type", "1", code=2, says="Missing option '--timeframe'"),
    bad("rules", "show", "--timeframe", "x", "--type", "1", code=2,
        says="'--timeframe': Input should be a valid integer"),
    bad("rules", "show", "--timeframe", "70000", "--type", "1", code=2,
        says="'--timeframe': Input should be less than or equal to 65535"),
    bad("rules", "show", "--timeframe", "1", "--type", "-1", code=2,
        says="'--type': Input should be greater than or equal to 0"),
    bad("rules", "set", code=2, says="Missing argument 'file'"),
    bad("customer", "enroll", code=2, says="Missing argument"),
    bad("customer", "status", code=2, says="Missing argument"),
    bad("customer", "restrict", code=2, says="Missing argument"),
    bad("customer", "restrict", "maybe", code=2, says="say on or off"),
    bad("customer", "account", ADDR, "--timeframe", "0", code=2,
        says="'--timeframe': Input should be greater than or equal to 1"),
    bad("customer", "cap", code=2, says="Missing argument"),
    bad("agent", "grant", code=2, says="Missing argument"),
    bad("role", "grant-manager", code=2, says="Missing argument"),
    bad("role", "begin-admin-transfer", code=2, says="Missing argument"),
    bad("instance", "show", code=2, says="Missing argument"),
    bad("instance", "close", code=2, says="Missing argument"),
    bad("account", "new", code=2, says="Missing argument"),
    bad("activate", "--type", "1", code=2, says="Missing option '--customer'"),
    bad("activate", "--customer", ADDR, "--type", "abc", code=2, says="'--type': Input should be a valid integer"),
    bad("activate", "--customer", ADDR, "--type", "1", "--request-id", "0", code=2,
        says="'--request-id': Input should be greater than or equal to 1"),
    bad("renew", code=2, says="Missing argument"),
    bad("deactivate", code=2, says="Missing argument"),
    bad("expire", code=2, says="Missing argument"),
    bad("usage", "--customer", ADDR, "--type", "1", code=2, says="Missing option '--timeframe'"),
    bad("usage", "--customer", ADDR, "--timeframe", "99999", "--type", "1", code=2,
        says="less than or equal to 65535"),
    bad("invoice", "--timeframe", "1", code=2, says="Missing option '--customer'"),
    bad("invoice", "--customer", ADDR, "--timeframe", "z", code=2,
        says="'--timeframe': Input should be a valid integer"),
    bad("anchor", code=2, says="Missing argument"),
    bad("verify", code=2, says="Missing argument"),
    bad("dev", "advance", code=2, says="Missing argument"),
    bad("dev", "mine", "0", code=2, says="'blocks': Input should be greater than or equal to 1"),
    bad("dev", "mine", "10001", code=2, says="'blocks': Input should be less than or equal to 10000"),
    bad("deploy", "--evm-version", "frontier", code=2, says="'frontier' is not one of"),
    bad("deploy", "--admin-delay", "soon", code=2, says="'--admin-delay': Input should be a valid integer"),
    bad("verify-source", "--evm-version", "frontier", code=2, says="'frontier' is not one of"),
    bad("index", "--confirmations", "-1", code=2, says="'--confirmations': Input should be greater than or equal to 0"),
    bad("index", "--from-block", "-5", code=2, says="'--from-block': Input should be greater than or equal to 0"),
    bad("serve", "--port", "70000", code=2, says="'--port': Input should be less than or equal to 65535"),
    bad("serve", "--interval", "0", code=2, says="'--interval': Input should be greater than or equal to 0.1"),
    bad("timeframe", "create", "--starts-in", "1h", "--duration", "1d", code=2, says="Missing option '--currency'"),
    bad("node", "--bogus", code=2, says="No such option: --bogus"),
    bad("demo", "--bogus", code=2, says="No such option: --bogus"),
    bad("account", "new", "k.json", "--bogus", code=2, says="No such option: --bogus"),
    bad("timeframe", "list", "-r", code=2, says="Option '-r' requires an argument", json_form=False),
]

INPUT = [
    # addresses: checked before anything is sent; the zero address is nobody's
    bad("customer", "approve", ZERO, code=3, says="the zero address"),
    bad("customer", "revoke", ZERO, code=3, says="the zero address"),
    bad("customer", "enroll", ADDR, ZERO, code=3, says="the zero address"),
    bad("customer", "suspend", ZERO, code=3, says="the zero address"),
    bad("agent", "grant", ZERO, code=3, says="the zero address"),
    bad("agent", "revoke", ZERO, code=3, says="the zero address"),
    bad("role", "grant-manager", ZERO, code=3, says="the zero address"),
    bad("customer", "enroll", ADDR, "junk", code=3, says="not an address: junk"),
    bad("customer", "approve", "0xabc", code=3, says="not an address: 0xabc"),
    bad("agent", "grant", ADDR.replace("C8", "c8"), code=3, says="wrong EIP-55 checksum"),
    bad("invoice", "--customer", "junk", "--timeframe", "1", code=3, says="not an address: junk"),
    # durations and times
    bad("dev", "advance", "10000000w", code=3, says="more than the 3650 days"),
    bad("dev", "advance", "3651d", code=3, says="more than the 3650 days"),
    bad("dev", "advance", "soon", code=3, says="is not a duration"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-in", "1h", code=3,
        says="give exactly one of --ends-at and --duration"),
    bad("timeframe", "create", "--currency", "EUR", "--duration", "1h", code=3,
        says="give exactly one of --starts-at and --starts-in"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-in", "1h", "--starts-at", "2030-01-01T00:00Z",
        "--duration", "1h", code=3, says="give exactly one of --starts-at and --starts-in"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-in", "1h", "--duration", "0s", code=3,
        says="--duration must be longer than 0s"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-in", "1h", "--duration", "5x", code=3,
        says="is not a duration"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-at", "next tuesday", "--duration", "1h", code=3,
        says="--starts-at"),
    bad("renew", ID, "--lease", "forever", code=3, says="is not a duration"),
    bad("activate", "--customer", ADDR, "--type", "1", "--lease", "10x", code=3, says="is not a duration"),
    # instance ids
    bad("instance", "close", "junk", code=3, says="instance id"),
    bad("expire", "0x1234", code=3, says="instance id must be 32 bytes, got 2"),
    bad("expire", ID, "xyz", code=3, says="instance id must be 32 bytes of hex"),
    # money
    bad("customer", "cap", "10", code=3, says="give the cap's --currency"),
    bad("customer", "cap", "ten", "--currency", "EUR", code=3, says="not a number"),
    bad("customer", "cap", "--currency", "EUR", "--", "-5", code=3, says="non-negative"),
    bad("customer", "cap", "0.001", "--currency", "EUR", code=3, says="finer than the currency's minor unit"),
    bad("customer", "cap", "5", "--currency", "XYZ", code=3, says="unknown currency code"),
    # bounded input files
    bad("rules", "set", "/dev/zero", code=3, says="not a regular file"),
    bad("rules", "set", "{big}", code=3, says="over the 1,048,576 a rules file may have"),
    bad("rules", "set", "{tmp}", code=3, says="is a folder, not a rules file"),
    bad("rules", "set", "{tmp}/missing.yaml", code=3, says="no such file"),
    bad("rules", "set", "{not_yaml}", code=3, says="not_yaml.yaml"),
    bad("verify", "/dev/zero", code=3, says="not a regular file"),
    bad("verify", "{tmp}", code=3, says="is a folder, not a invoice file"),
    bad("verify", "{huge}", code=3, says="a invoice file may have"),
    bad("verify", "{tmp}/missing.json", code=3, says="no such file"),
    bad("anchor", "/dev/zero", code=3, says="not a regular file"),
    bad("anchor", "{tmp}/missing.json", code=3, says="no such file"),
    bad("anchor", "{empty_json}", code=3, says="invoice is missing"),
    # output files: refused before any work
    *[
        bad("invoice", "--customer", ADDR, "--timeframe", "1", "--format", fmt, "-o", target, code=3, says=says,
            json_form=fmt == "json")
        for fmt in ("pdf", "csv", "json")
        for target, says in (("{tmp}/no/such/folder/out", "no folder"), ("{tmp}", "it is a folder"),
                             ("{file}/out", "is a file, not a folder"))
    ],
    bad("invoice", "--customer", ADDR, "--timeframe", "1", "--format", "xml", code=3,
        says="--format must be table, json, csv or pdf", json_form=False),
    bad("invoice", "--customer", ADDR, "--timeframe", "1", "--format", "pdf", code=3, says="-o invoice.pdf",
        json_form=False),
    bad("invoice", "--customer", ADDR, "--timeframe", "1", "-o", "x.csv", "--format", "table", code=3,
        says="--format table prints to the terminal", json_form=False),
    bad("invoice", "--customer", ADDR, "--timeframe", "1", "--final", "--as-of", "5", code=3,
        says="--final and --as-of exclude each other"),
    bad("invoice", "--customer", ADDR, "--timeframe", "1", "--as-of", "last tuesday", code=3, says="--as-of"),
    bad("deploy", "--out", "{file}", code=3, says="deployments folder"),
    # the profile and the environment
    bad("timeframe", "list", code=3, says="no profile file at", env={"METERING_PROFILE": "{tmp}/none.toml"}),
    bad("timeframe", "list", code=3, says="is not a regular file", env={"METERING_PROFILE": "/dev/zero"}),
    bad("timeframe", "list", code=3, says="is not valid TOML", env={"METERING_PROFILE": "{bad_toml}"}),
    bad("timeframe", "list", code=3, says="has a bad entry colour", env={"METERING_PROFILE": "{unknown_key}"}),
    bad("timeframe", "list", code=3, says="not a profile", env={"METERING_PROFILE": "{big_profile}"}),
    bad("timeframe", "list", code=3, says="METERING_RPC_TIMEOUT='abc'", env={"METERING_RPC_TIMEOUT": "abc"}),
    bad("timeframe", "list", code=3, says="METERING_RPC_TIMEOUT='0'", env={"METERING_RPC_TIMEOUT": "0"}),
    bad("timeframe", "list", code=3, says="not an RPC URL", env={"ETH_RPC_URL": "ftp://127.0.0.1"}),
    bad("timeframe", "list", "-r", "http://", code=3, says="not an RPC URL"),
    bad("account", "new", "{tmp}/k.json", code=3, says="no password", json_form=False),
    bad("account", "new", "{tmp}/k.json", code=3, says="not a private key", json_form=False,
        env={"ETH_PASSWORD": "pw", "METERING_PRIVATE_KEY": "0x1234"}),
    bad("account", "new", "{file}", code=3, says="already exists", json_form=False, env={"ETH_PASSWORD": "pw"}),
    # serve: the address it would listen on
    bad("serve", "--host", "no-such-host.invalid", code=3, says="cannot listen on --host 'no-such-host.invalid'"),
    bad("serve", "--port", "{busy}", code=3, says="is in use: choose another --port"),
    bad("serve", "--host", "192.0.2.1", code=3, says="is not an address of this machine"),
    # servers that are not nodes
    bad("timeframe", "list", "-r", "{silent}", code=4, says="did not answer within 0.5 s",
        env={"METERING_RPC_TIMEOUT": "0.5"}),
    bad("index", "-r", "{silent}", code=4, says="did not answer within 0.5 s", env={"METERING_RPC_TIMEOUT": "0.5"}),
    bad("timeframe", "list", "-r", "{html}", code=4, says="answered with an HTML page, not JSON-RPC"),
    bad("events", "-r", "{html}", code=4, says="answered with an HTML page, not JSON-RPC"),
    bad("timeframe", "list", "-r", "{not_rpc}", code=4, says="answered JSON that is not JSON-RPC 2.0"),
    bad("timeframe", "list", "-r", "{html}/404", code=4, says="answered HTTP 404"),
    bad("timeframe", "list", "-r", "http://no-such-host.invalid:8545", code=4, says="cannot resolve the host"),
]

ROWS = GENERATED + USAGE + INPUT


# ---------------------------------------------------------------------------------------------------- servers


class _Web(http.server.BaseHTTPRequestHandler):
    """A web server that is not a node: an HTML page, JSON that is not JSON-RPC, or a 404."""

    def do_POST(self) -> None:
        if self.path.startswith("/404"):
            self.send_error(404)
            return
        page = self.headers.get("X-Answer") or self.server.answer  # type: ignore[attr-defined]
        body, kind = (b'{"hello": "world"}', "application/json") if page == "json" else (
            b"<!doctype html><html><body>Welcome</body></html>", "text/html")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _web(answer: str) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What the ``{placeholders}`` stand for: files, folders and servers, made once for the module."""
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "big.yaml").write_bytes(b"# padding\n" * 120_000)  # 1.2 MB: over the rules file bound
    with (tmp / "huge.json").open("wb") as huge:  # 65 MiB, sparse: over the invoice bound, costs no disk
        huge.truncate(65 * 1024 * 1024)
    (tmp / "not_yaml.yaml").write_text("timeframe: [1\n", encoding="utf-8")
    (tmp / "empty.json").write_text("{}", encoding="utf-8")
    (tmp / "file").write_text("a file, not a folder", encoding="utf-8")
    (tmp / "bad.toml").write_text("rpc_url = \n", encoding="utf-8")
    (tmp / "unknown.toml").write_text('colour = "blue"\n', encoding="utf-8")
    (tmp / "big.toml").write_bytes(b"#" * 70_000)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections (the kernel does) and never answers
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    html, not_rpc = _web("html"), _web("json")
    try:
        yield {
            "tmp": str(tmp), "big": str(tmp / "big.yaml"), "huge": str(tmp / "huge.json"),
            "not_yaml": str(tmp / "not_yaml.yaml"), "empty_json": str(tmp / "empty.json"), "file": str(tmp / "file"),
            "bad_toml": str(tmp / "bad.toml"), "unknown_key": str(tmp / "unknown.toml"),
            "big_profile": str(tmp / "big.toml"), "rules": str(EXAMPLE_RULES), "dead": f"http://127.0.0.1:{free_port()}",
            "silent": f"http://127.0.0.1:{silent.getsockname()[1]}", "busy": str(busy.getsockname()[1]),
            "html": next(html), "not_rpc": next(not_rpc),
        }
    finally:
        silent.close()
        busy.close()
        for server in (html, not_rpc):
            server.close()


# ---------------------------------------------------------------------------------------------------- checks


def _fill(text: str, places: dict[str, str]) -> str:
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def _has_json_option(args: list[str]) -> bool:
    """Whether the command these arguments name takes ``--json`` (resolved through the lazy table)."""
    command: Any = get_command(app)
    ctx = click.Context(command)
    for word in args:
        if not isinstance(command, click.Group) and not hasattr(command, "commands"):
            break
        sub = command.get_command(ctx, word)
        if sub is None:  # an unknown command: the root itself answers --json
            return True
        command = sub
    return any("--json" in getattr(p, "opts", ()) for p in command.params)


def _with_json(args: list[str]) -> list[str]:
    return [*args[: args.index("--")], "--json", *args[args.index("--"):]] if "--" in args else [*args, "--json"]


def _run(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(app, args, env=env)


def _env(row: Bad, places: dict[str, str], **base: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = dict.fromkeys(ENV_VARS)
    env.update(METERING_PROFILE="", METERING_PRIVATE_KEY=KEY, METERING_CONTRACT=ADDR,
               METERING_DB=os.path.join(places["tmp"], "events.sqlite"),
               METERING_DEPLOYMENTS=os.path.join(places["tmp"], "deployments"), ETH_RPC_URL=places["dead"])
    env.update(base)
    env.update({key: _fill(value, places) for key, value in row.env})
    return env


def check(row: Bad, places: dict[str, str], **base: str | None) -> None:
    """The row as written and, where it applies, with ``--json``."""
    args = [_fill(a, places) for a in row.args]
    env = _env(row, places, **base)
    result = _run(args, env)
    assert result.exit_code == row.code, f"expected exit {row.code}, got {result.exit_code}:\n{result.output}"
    clean(result)
    lines = [ln for ln in progress_free(result.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line:\n{result.stderr}"
    assert row.says in plain(lines[0]), f"{row.says!r} not in {lines[0]!r}"
    assert not result.stdout.strip(), result.stdout
    if not row.json_form or not _has_json_option(args):
        return
    as_json = _run(_with_json(args), env)
    assert as_json.exit_code == row.code, as_json.output
    clean(as_json)
    assert not progress_free(as_json.stderr).strip(), as_json.stderr
    data = json.loads(as_json.stdout)
    assert set(data) == {"code", "error"} and data["code"] == row.code, data
    assert row.says in data["error"], data


def test_the_table_holds_at_least_150_rows_each_once() -> None:
    assert len(ROWS) >= 150
    assert len({(row.args, row.env) for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_bad_invocation(row: Bad, places: dict[str, str]) -> None:
    check(row, places)


# ---------------------------------------------------------------------------------------------------- on a node

#: Code that is not a Meter: a contract that returns one byte to any call (the dispatcher of nothing).
NOT_A_METER_CODE = "0x600160005360016000f3"


@pytest.fixture
def on_node(meter: Contract, chain: Chain, actors: Actors, tmp_path: Path) -> dict[str, str]:
    """The session's anvil with its Meter (rolled back after the test), a contract that is not a Meter, a keystore
    and a folder, as placeholders."""
    other = "0x" + "42" * 20
    chain.w3.provider.make_request("anvil_setCode", [other, NOT_A_METER_CODE])  # type: ignore[arg-type]
    keystore = tmp_path / "admin.json"
    create_keystore(keystore, "pw", key_hex(actors.admin), kdf="pbkdf2", iterations=2)
    return {"rpc": chain.node.rpc_url, "meter": meter.address, "not_meter": other, "eoa": actors.admin.address,
            "keystore": str(keystore), "admin_key": key_hex(actors.admin)}


ON_NODE = [
    bad("timeframe", "list", "--contract", "{eoa}", code=3, says="no contract code at"),
    *[
        bad(*command, "--contract", "{not_meter}", code=3, says="is not a Meter")
        for command in (("timeframe", "list"), ("rules", "show", "--timeframe", "1", "--type", "1"),
                        ("customer", "status", ADDR), ("customer", "list"), ("customer", "account", ADDR),
                        ("usage", "--customer", ADDR, "--timeframe", "1", "--type", "1"),
                        ("activate", "--customer", ADDR, "--type", "1"), ("expire", ID), ("instance", "show", ID),
                        ("events",), ("index",), ("invoice", "--customer", ADDR, "--timeframe", "1"),
                        ("role", "show"), ("serve", "--port", "0"))
    ],
    bad("rules", "show", "--timeframe", "9", "--type", "1", code=3, says="timeframe 9 does not exist"),
    bad("timeframe", "create", "--currency", "EUR", "--starts-at", "2001-01-01T00:00Z", "--duration", "1h", code=3,
        says="not after the chain's time"),
    bad("deploy", "--keystore", "{rpc_dir}", code=3, says="is a folder: name the keystore file in it",
        env={"ETH_PASSWORD": "pw"}),
    bad("deploy", code=3, says="no keystore file at", env={"ETH_KEYSTORE": "{keystore}.missing"}),
    bad("deploy", code=3, says="no password", env={"ETH_KEYSTORE": "{keystore}"}),
    bad("deploy", code=3, says="wrong password", env={"ETH_KEYSTORE": "{keystore}", "ETH_PASSWORD": "nope"}),
]


@pytest.mark.parametrize("row", ON_NODE, ids=lambda row: row.id)
def test_bad_invocation_on_a_node(row: Bad, places: dict[str, str], on_node: dict[str, str]) -> None:
    both = {**places, **on_node, "rpc_dir": places["tmp"]}
    check(row, both, ETH_RPC_URL=on_node["rpc"], METERING_CONTRACT=on_node["meter"],
          METERING_PRIVATE_KEY=on_node["admin_key"])
