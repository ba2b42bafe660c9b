"""The end-to-end story, on a local anvil this module starts and stops itself.

A provider deploys the contract, publishes the rules of a one-day timeframe for two products (one hard-limited,
one soft), and enrolls three customers. Three platform agents run concurrently over simulated time (anvil time
travel): they activate, renew through their lease keepers and deactivate. One customer hits a hard limit (the
denial is recorded), another goes into soft overage, and one agent dies, so its leases run out and a third party
closes them. After the timeframe ends, the events are indexed, each customer's invoice is computed, written as
JSON and CSV, anchored on chain and verified by an auditor with a database of its own; finally a tampered copy of
an invoice is caught.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from rich.console import Console
from rich.rule import Rule

from metering.agent import Agent, Denied, Granted
from metering.billing import invoices_for_timeframe
from metering.blocktime import NodeClock
from metering.chain import connect
from metering.invoice import from_json, invoice_hash, to_csv, to_json
from metering.keeper import LeaseKeeper
from metering.node import LocalNode, dev_private_keys
from metering.provider import Provider
from metering.store import Store
from metering.verify import VerificationReport, verify_invoice

__all__ = ["DemoResult", "run_demo"]

LEASE = 600  # seconds; agents renew through their keepers before this runs out
ROUND = 300  # simulated seconds between rounds
DAY = 86_400
TYPE_NAMES = {1: "db-server", 2: "ml-worker"}

RULES_YAML = """\
# Rules of timeframe 1, applied with `metering rules set` (prices in euro cents).
timeframe: 1
types:
  db-server:
    id: 1
    price_per_activation: 50      # EUR 0.50 per start
    price_per_second: 1           # EUR 0.01 per second
    included_activations: 2
    included_seconds: 3600
    max_concurrent: 2             # per customer
    max_activations: 6
    mode: hard                    # deny beyond a limit
  ml-worker:
    id: 2
    price_per_activation: 200
    price_per_second: 3
    included_activations: 1
    included_seconds: 1800
    max_concurrent: 1
    max_activations: 4
    mode: soft                    # grant beyond a limit, marked as overage
"""


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: where, the invoices' hashes and totals, and the verification outcomes."""

    out: Path
    contract: str
    invoices: dict[str, Path]
    totals: dict[str, int]
    honest_reports: tuple[VerificationReport, ...]
    tampered_report: VerificationReport
    denials: tuple[Denied, ...]
    overage_grants: int
    expired_by_third_party: int
    seconds: float


@dataclass
class _Customer:
    name: str
    address: str
    agent: Agent
    keeper: LeaseKeeper
    running: dict[int, list[bytes]] = field(default_factory=lambda: {1: [], 2: []})


class _Story:
    """Holds the cast and prints each step."""

    def __init__(self, node: LocalNode, out: Path, console: Console) -> None:
        self.node = node
        self.out = out
        self.console = console
        self.w3 = connect(node.rpc_url)
        keys = dev_private_keys(8)
        self.provider_key: LocalAccount = Account.from_key(keys[0])
        self.agent_keys = [Account.from_key(k) for k in keys[1:4]]
        self.third_party: LocalAccount = Account.from_key(keys[4])
        self.denials: list[Denied] = []
        self.overage = 0

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def travel(self, seconds: int) -> int:
        """Move the chain's clock forward and mine a block; returns the new chain time."""
        self.node.rpc("evm_increaseTime", seconds)
        self.node.rpc("evm_mine")
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def activate(self, c: _Customer, kind: int) -> Granted | Denied:
        result = c.agent.activate(c.address, kind, LEASE)
        label = f"{c.name:8} {TYPE_NAMES[kind]:9}"
        if isinstance(result, Granted):
            c.running[kind].append(result.instance_id)
            c.keeper.track(result)
            flag = "  [yellow]overage (soft limit)[/]" if result.overage else ""
            self.overage += bool(result.overage)
            self.say(f"  [green]granted[/] {label} instance 0x{result.instance_id.hex()[:10]}… {flag}")
        else:
            self.denials.append(result)
            self.say(f"  [red]denied [/] {label} {result.reason.name} (recorded on chain, tx {result.tx_hash[:12]}…)")
        return result

    def deactivate(self, c: _Customer, kind: int, times: int = 1) -> None:
        for _ in range(times):
            instance_id = c.running[kind].pop(0)
            c.keeper.untrack(instance_id)
            result = c.agent.deactivate(instance_id)
            self.say(f"  stopped {c.name:8} {TYPE_NAMES[kind]:9} instance 0x{instance_id.hex()[:10]}… "
                     f"({type(result).__name__.lower()})")


def _concurrently(steps: list[Callable[[], Any]]) -> None:
    """Run the agents' steps of one round at the same time, as independent agents would."""
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        for future in [pool.submit(step) for step in steps]:
            future.result()


def run_demo(out: Path, console: Console | None = None) -> DemoResult:
    """Run the whole story and return what it produced; stops its anvil even when a step fails."""
    console = console or Console()
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("provider.sqlite", "auditor.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (out / f"{stale}{suffix}").unlink(missing_ok=True)
    with LocalNode() as node:
        console.print(Rule("1. a provider deploys and publishes its rules"))
        story = _Story(node, out, console)
        return _run(story, started)


def _run(story: _Story, started: float) -> DemoResult:
    say, w3, out = story.say, story.w3, story.out
    say(f"local anvil at {story.node.rpc_url} (chain {w3.eth.chain_id}), started by the demo")
    provider = Provider.deploy(w3, story.provider_key)
    say(f"Meter deployed at [bold]{provider.address}[/]")
    start = provider.chain_time() + 60
    timeframe = provider.create_timeframe(start, start + DAY, "EUR")
    say(f"timeframe {timeframe}: one day from {start}, prices in EUR cents")
    rules_path = out / "rules.yaml"
    rules_path.write_text(RULES_YAML, encoding="utf-8")
    for applied in provider.apply_rules_file(rules_path):
        say(f"rules of {applied.name} (type {applied.instance_type}) set, hash 0x{applied.rules_hash.hex()[:16]}…")

    names = ("acme", "globex", "initech")
    customers: list[_Customer] = []
    for name, agent_key in zip(names, story.agent_keys, strict=True):
        address = _customer_address(name)
        provider.enroll_customer(address)
        provider.grant_agent(agent_key.address)
        agent = Agent(w3, provider.address, agent_key)
        customers.append(_Customer(name, address, agent, LeaseKeeper(agent, LEASE, renew_before=ROUND)))
        say(f"customer {name} {address} enrolled; served by agent {agent_key.address}")
    acme, globex, initech = customers

    story.console.print(Rule("2. agents run instances over simulated time"))
    story.travel(start - provider.chain_time())
    say("the timeframe has started: rules are frozen from now on")
    now = provider.chain_time()
    script: dict[int, list[Callable[[], Any]]] = {
        0: [lambda: (story.activate(acme, 1), story.activate(acme, 1)),
            lambda: story.activate(globex, 2),
            lambda: (story.activate(initech, 1), story.activate(initech, 2))],
        1: [lambda: story.activate(acme, 1),  # a third concurrent db-server: the hard limit denies it
            lambda: story.activate(globex, 2)],  # a second ml-worker: the soft limit grants it as overage
        4: [lambda: story.deactivate(acme, 1), lambda: story.deactivate(globex, 2)],
        5: [lambda: story.activate(acme, 1), lambda: story.activate(globex, 2)],
        9: [lambda: story.deactivate(acme, 1, times=2), lambda: story.deactivate(globex, 2)],
    }
    expired = 0
    for round_no in range(12):
        say(f"[dim]round {round_no}, chain time {now}[/]")
        if round_no == 2:
            say("  [magenta]agent of initech dies[/]: its keeper stops, nobody renews its leases")
        if round_no in script:
            _concurrently(script[round_no])
        if round_no == 7:
            dead = initech.running[1] + initech.running[2]
            expired = customers[0].agent.expire(dead)  # anyone may close an expired lease
            say(f"  a third party closes initech's {expired} expired instance(s): billing stopped at each lease end")
        keepers = [c.keeper for c in customers if c is not initech or round_no < 2]
        _concurrently([functools.partial(_renew, story, k) for k in keepers])
        now = story.travel(ROUND)

    story.console.print(Rule("3. the timeframe ends; invoices are computed from the events"))
    now = story.travel(start + DAY - provider.chain_time() + 1)
    say(f"chain time {now}: timeframe {timeframe} has ended; globex's last ml-worker is billed until its lease end")
    invoices, totals = _bill(story, provider, timeframe)

    story.console.print(Rule("4. anchor, verify, and catch a tampered invoice"))
    for name, path in invoices.items():
        inv = from_json(path.read_bytes())
        provider.anchor_invoice(inv.customer, timeframe, invoice_hash(inv), inv.total)
        say(f"anchored {name}'s invoice hash 0x{invoice_hash(inv).hex()[:16]}…")
    honest = []
    with Store(out / "auditor.sqlite", chain_id=w3.eth.chain_id, contract=provider.address) as auditor:
        for name, path in invoices.items():
            report = verify_invoice(w3, provider.address, auditor, path, require_anchor=True)
            honest.append(report)
            mark = "[green]verified[/]" if report.ok else "[red]NOT verified[/]"
            say(f"auditor: {name}'s invoice {mark} (lines, on-chain counters, anchored hash)")
        tampered_path = _tamper(invoices["acme"], out)
        say(f"someone edits a copy of acme's invoice ({tampered_path.name}): 600 seconds fewer, hash recomputed")
        tampered = verify_invoice(w3, provider.address, auditor, tampered_path, require_anchor=True)
    from metering.cli.audit_cmds import report_table

    story.console.print(report_table(tampered))
    say(f"auditor: tampered copy {'[red]caught[/]' if not tampered.ok else 'NOT caught'}: "
        f"{len(tampered.differences)} difference(s)")
    elapsed = time.monotonic() - started
    story.console.print(Rule("done"))
    say(f"invoices (JSON and CSV), rules and event databases are in [bold]{out}/[/]; anvil stopped; {elapsed:.1f} s")
    return DemoResult(
        out=out,
        contract=provider.address,
        invoices=invoices,
        totals=totals,
        honest_reports=tuple(honest),
        tampered_report=tampered,
        denials=tuple(story.denials),
        overage_grants=story.overage,
        expired_by_third_party=expired,
        seconds=elapsed,
    )


def _renew(story: _Story, keeper: LeaseKeeper) -> None:
    for event in keeper.tick():
        kind = type(event).__name__
        if kind != "Renewed":
            story.say(f"  keeper: {kind} {event}")


def _bill(story: _Story, provider: Provider, timeframe: int) -> tuple[dict[str, Path], dict[str, int]]:
    from metering.cli._common import sync_store
    from metering.cli.audit_cmds import invoice_table

    w3, out = story.w3, story.out
    names = {_customer_address(name): name for name in ("acme", "globex", "initech")}
    invoices: dict[str, Path] = {}
    totals: dict[str, int] = {}
    with Store(out / "provider.sqlite", chain_id=w3.eth.chain_id, contract=provider.address) as store:
        result = sync_store(w3, provider.address, store, quiet=True)
        story.say(f"indexed {result.events} events from blocks {result.from_block}-{result.to_block}")
        for inv in invoices_for_timeframe(store, timeframe, NodeClock(w3, store)):
            name = names.get(inv.customer, inv.customer)
            story.console.print(invoice_table(inv, TYPE_NAMES, customer=name))
            path = out / f"invoice-{name}-tf{timeframe}.json"
            path.write_bytes(to_json(inv) + b"\n")
            (out / f"invoice-{name}-tf{timeframe}.csv").write_text(to_csv(inv), encoding="utf-8")
            invoices[name] = path
            totals[name] = inv.total
    return invoices, totals


def _customer_address(name: str) -> str:
    """A fixed address per customer name: customers never sign anything here, they are only billed."""
    return str(Account.from_key(keccak(text=f"metering demo customer {name}")).address)


def _tamper(original: Path, out: Path) -> Path:
    """A careful forger: lowers the seconds of the first billed line, fixes the amounts and the file's own hash."""
    document = json.loads(original.read_bytes())
    line = next(ln for ln in document["lines"] if ln["seconds"] >= 600)
    line["seconds"] -= 600
    line["billable_seconds"] = max(0, line["seconds"] - line["included_seconds"])
    before = line["total"]
    line["seconds_amount"] = line["billable_seconds"] * line["price_per_second"]
    line["total"] = line["activation_amount"] + line["seconds_amount"]
    document["total"] -= before - line["total"]
    document.pop("hash", None)
    forged = from_json(json.dumps(document).encode(), check_hash=False)
    path = out / "invoice-acme-TAMPERED.json"
    path.write_bytes(to_json(forged) + b"\n")
    return path
