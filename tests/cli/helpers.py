"""Helpers of the CLI tests: the ``metering`` app run in-process with Typer's CliRunner against the session's anvil.

Every test that touches the chain goes through the ``cli`` fixture (conftest.py), which runs between
``evm_snapshot`` and ``evm_revert``: a test deploys its own Meter with ``metering deploy --json`` (or gets one from
``market``), and whatever it did is gone afterwards. The environment is spelled out for each run (``ETH_RPC_URL``,
``METERING_PRIVATE_KEY``, ``METERING_DB``, ``METERING_CONTRACT``...), and variables a test does not set are removed, so
a developer's own ``METERING_*`` settings never leak in.

The assertion helpers :func:`ok` and :func:`fails` check what a user sees: the exit code, no traceback, no exception
escaping the command, and for a failure exactly one ``error:`` line on stderr naming the problem.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result

from metering.chain.node import LocalNode
from metering.cli import app
from metering.contract import LimitMode
from metering.types import Rules

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain

#: Every variable the CLI reads; each run sets the ones it wants and removes the others.
ENV_VARS = (
    "ETH_RPC_URL",
    "METERING_CONTRACT",
    "METERING_KEYSTORE",
    "METERING_PASSWORD",
    "METERING_PRIVATE_KEY",
    "METERING_DB",
    "METERING_DEPLOYMENTS",
)

EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"

#: Instance types of examples/rules.yaml: db-server (hard limits, 3 concurrent) and web-worker (soft, 10 concurrent).
DB = 1
WEB = 2

#: The market's rules (the products of examples/rules.yaml; prices in micro-units of the euro cent). They are set
#: through the library, so the agent and customer tests do not depend on the rules file format.
MARKET_RULES = {
    DB: Rules(
        price_per_activation=50_000_000,  # EUR 0.50
        price_per_time_unit=12_000_000,  # EUR 0.12 per hour
        time_unit_seconds=3600,
        included_activations=10,
        included_seconds=36_000,
        max_concurrent=3,
        max_activations=100,
        mode=LimitMode.HARD,
    ),
    WEB: Rules(price_per_time_unit=1_000_000, time_unit_seconds=1, max_concurrent=10, mode=LimitMode.SOFT),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: The line a sending command prints on stderr as soon as the node has a transaction (metering/cli/_progress.py).
_SENT = re.compile(r"^sent .+: 0x[0-9a-f]{64}$")


def key_hex(account: LocalAccount) -> str:
    return "0x" + account.key.hex().removeprefix("0x")


def plain(text: str) -> str:
    return _ANSI.sub("", text)


def flat(text: str) -> str:
    """The text without colours and with every run of whitespace as one space (rich wraps lines at 80 columns)."""
    return " ".join(plain(text).split())


def clean(result: Result) -> None:
    """Nothing escaped the command: no traceback printed, no exception other than the exit itself."""
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (
            f"the command raised {result.exception!r}:\n{result.output}"
        )


def ok(result: Result) -> Result:
    """The run succeeded (exit 0) without a traceback or an error line."""
    assert result.exit_code == 0, f"exit {result.exit_code}:\n{result.output}"
    clean(result)
    assert "error:" not in result.stderr, result.stderr
    return result


def fails(result: Result, code: int, *fragments: str) -> str:
    """The run failed with exit ``code`` and one ``error: ...`` line on stderr containing every fragment.

    Returns that line.
    """
    assert result.exit_code == code, f"expected exit {code}, got {result.exit_code}:\n{result.output}"
    clean(result)
    lines = [ln for ln in plain(result.stderr).splitlines() if ln.strip() and not _SENT.match(ln)]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def denied(result: Result, reason: str) -> str:
    """The contract denied the request: exit 6, the reason on stdout, no error line (a denial is an answer)."""
    assert result.exit_code == 6, f"expected exit 6, got {result.exit_code}:\n{result.output}"
    clean(result)
    assert not progress_free(result.stderr).strip(), result.stderr
    out = flat(result.stdout)
    assert reason in out, out
    return out


def progress_free(stderr: str) -> str:
    """``stderr`` without the ``sent <what>: <tx hash>`` lines of sending commands."""
    return "\n".join(ln for ln in plain(stderr).splitlines() if not _SENT.match(ln))


def sent_hashes(stderr: str) -> list[str]:
    """The transaction hashes a command reported as sent, in order."""
    return [ln.rsplit(": ", 1)[1] for ln in plain(stderr).splitlines() if _SENT.match(ln)]


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def free_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cli:
    """Runs ``metering ARGS`` with a fresh environment built from the defaults here and per-call overrides.

    Defaults: the session node's URL, the admin's key, this test's database and deployments folder and, once set,
    ``contract``.
    """

    runner: CliRunner
    node: LocalNode
    actors: Actors
    chain: Chain
    tmp_path: Path
    contract: str | None = None

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = dict.fromkeys(ENV_VARS)
        env.update(
            ETH_RPC_URL=self.node.rpc_url,
            METERING_PRIVATE_KEY=key_hex(self.actors.admin),
            METERING_DB=str(self.tmp_path / "events.sqlite"),
            METERING_DEPLOYMENTS=str(self.tmp_path / "deployments"),
            METERING_CONTRACT=self.contract,
        )
        env.update(overrides)
        return env

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        return self.runner.invoke(app, list(args), input=input, env=self.env(**env))

    def as_agent(self, *args: str, **env: str | None) -> Result:
        """Run as the agent (dev account #1, granted by ``market``)."""
        return self(*args, METERING_PRIVATE_KEY=key_hex(self.actors.agent), **env)

    def deploy(self) -> str:
        """``metering deploy --json --admin-delay 0`` (the default is 3 days; tests move the admin role at once); the
        new Meter becomes the default contract of later runs."""
        data = as_json(ok(self("deploy", "--json", "--admin-delay", "0")))
        self.contract = str(data["address"])
        return self.contract


@dataclass(frozen=True)
class Market:
    """A Meter deployed and set up through the CLI, with its timeframe in force."""

    contract: str
    timeframe: int
    start: int
    end: int
    customer: str
    customer2: str


def write_rules(path: Path, timeframe: int, replace: dict[str, str] | None = None) -> Path:
    """examples/rules.yaml adapted to ``timeframe``; ``replace`` maps a text of the file to its replacement."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8").replace("timeframe: 1 ", f"timeframe: {timeframe} ", 1)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def setup_market(
    cli: Cli,
    *,
    starts_in: int = 60,
    duration: int = 3600,
    start_now: bool = True,
    rules: dict[int, Rules] | None = None,
) -> Market:
    """Deploy, create a timeframe, set :data:`MARKET_RULES` (with ``rules`` replacing some types'), enroll two
    customers and grant the agent, through the CLI but for the rules; with ``start_now`` the timeframe starts at the
    latest block."""
    from metering.provider import Provider

    contract = cli.deploy()
    created = as_json(ok(cli("timeframe", "create", "--currency", "EUR", "--starts-in", str(starts_in),
                             "--duration", str(duration), "--json")))
    provider = Provider(cli.chain.w3, contract, cli.actors.admin)
    for kind, type_rules in {**MARKET_RULES, **(rules or {})}.items():
        provider.set_rules(created["timeframe"], kind, type_rules)
    customer, customer2 = cli.actors.customers[0].address, cli.actors.customers[1].address
    ok(cli("customer", "enroll", customer, customer2))
    ok(cli("agent", "grant", cli.actors.agent.address))
    if start_now:
        cli.chain.mine(created["start"])
    return Market(contract, created["timeframe"], created["start"], created["end"], customer, customer2)
