"""The end-to-end story, on a local anvil this module starts and stops itself.

A provider deploys the contract, publishes the rules of two consecutive one-day timeframes for two products (one
hard-limited, one soft, priced as people write prices: EUR 0.12 per hour, EUR 0.0004 per start), and enrolls three
customers. The customers protect themselves in their own transactions: acme accepts only its own agent, globex
caps its spending. Three platform agents run concurrently over simulated time (anvil time travel): they activate,
renew through their lease keepers and deactivate. One customer hits a hard limit, another goes into soft overage
and then reaches its cap, an agent acme never approved is refused (every denial is recorded), and one agent dies,
so its leases run out and a third party closes them. A leaked agent key bills initech, a customer that never chose
its agents: initech revokes that agent (its renewal and next start are denied) and stops the instance with its own
key, so billing stops at once. A lease runs across the end of the first day and continues into the second, billed
from the second day's start; a third party's attempt to close it at the boundary is skipped, so it cannot force a
restart. After the first day ends, the events are indexed, each
customer's final invoice is computed, written as JSON and CSV, anchored on chain and verified by an auditor with a
database of its own; a tampered copy of an invoice is caught. Initech prepays EUR 0.50 in a EUR coin: a request
beyond its deposit is denied (DEPOSIT_EXHAUSTED, recorded), and after the first day a third party settles it on chain
for exactly its final invoice's total; the provider's payout is listed and initech withdraws the rest.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.rule import Rule

from metering.agent import Agent, ContinuationDenied, Continued, Denied, Granted, RenewalDenied, Renewed
from metering.agent.keeper import LeaseKeeper
from metering.audit.billing import invoices_for_timeframe, statement
from metering.audit.blocktime import NodeClock
from metering.audit.invoice import Charge, from_json, line_amount, to_csv, to_json
from metering.audit.store import Store
from metering.audit.verify import VerificationReport, verify_invoice
from metering.chain import connect
from metering.chain.node import LocalNode, dev_private_keys
from metering.customer import Customer
from metering.errors import MeteringError
from metering.provider import Provider
from metering.provider.anchoring import anchor_invoice, check_anchorable
from metering.settlement.story import SettlementStory, open_escrow, settle_and_withdraw, top_up

__all__ = ["DemoResult", "run_demo"]

LEASE = 600  # seconds; agents renew through their keepers before this runs out
ROUND = 300  # simulated seconds between rounds
DAY = 86_400
TYPE_NAMES = {1: "db-server", 2: "ml-worker"}

#: The rules of both days, as the provider writes them: prices in euros as text, exact to a millionth of a cent.
RULES_YAML = """\
# Rules of timeframe {timeframe}, applied with `metering rules set` (format: metering/provider/rules_file.py).
timeframe: {timeframe}
currency: EUR
types:
  db-server:
    id: 1
    price_per_activation: "0.50"   # EUR 0.50 per start
    price_per_time_unit: "0.12"    # EUR 0.12 per hour running
    time_unit: hour
    included_activations: 2
    included_seconds: 1800         # half an hour free
    max_concurrent: 2              # per customer
    max_activations: 6
    mode: hard                     # deny beyond a limit
  ml-worker:
    id: 2
    price_per_activation: "0.0004" # EUR 0.0004 per start
    price_per_time_unit: "1.80"    # EUR 1.80 per hour running
    time_unit: hour
    max_concurrent: 1
    max_activations: 4
    max_lease_seconds: 3600        # a lease lasts at most an hour, however long an agent asks
    mode: soft                     # grant beyond a limit, marked as overage
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
    #: acme's commercial invoice (PDF and Factur-X) and the directory it was made with; empty without the
    #: business extra.
    books: dict[str, Path] = field(default_factory=dict)
    webhooks: tuple[dict[str, Any], ...] = ()  # what the demo's local receiver got from the watch
    settlement: SettlementStory | None = None


@dataclass
class _Customer:
    name: str
    key: LocalAccount
    agent: Agent
    keeper: LeaseKeeper
    running: dict[int, list[bytes]] = field(default_factory=lambda: {1: [], 2: []})

    @property
    def address(self) -> str:
        return str(self.key.address)


class _Story:
    """Holds the cast and prints each step."""

    def __init__(self, node: LocalNode, out: Path, console: Console) -> None:
        self.node = node
        self.out = out
        self.console = console
        self.w3 = connect(node.rpc_url)
        keys = [Account.from_key(k) for k in dev_private_keys(8)]
        self.provider_key: LocalAccount = keys[0]
        self.agent_keys = keys[1:4]
        self.customer_keys = keys[4:7]
        self.third_party: LocalAccount = keys[7]
        self.denials: list[Denied] = []
        self.overage = 0

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def travel(self, seconds: int) -> int:
        """Move the chain's clock forward and mine a block; returns the new chain time."""
        self.node.rpc("evm_increaseTime", seconds)
        self.node.rpc("evm_mine")
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def activate(self, c: _Customer, kind: int, agent: Agent | None = None) -> Granted | Denied:
        result = (agent or c.agent).activate(c.address, kind, LEASE)
        label = f"{c.name:8} {TYPE_NAMES[kind]:9}"
        if isinstance(result, Granted):
            c.running[kind].append(result.instance_id)
            c.keeper.track(result)
            flag = "  [yellow]overage (soft limit)[/]" if result.overage else ""
            self.overage += bool(result.overage)
            self.say(f"  [green]granted[/] {label} instance 0x{result.instance_id.hex()[:10]}…"
                     f"{result.instance_id.hex()[-6:]} (request {result.request_id}){flag}")
        else:
            self.denials.append(result)
            self.say(f"  [red]denied [/] {label} {result.reason.name} (recorded on chain, tx {result.tx_hash[:12]}…)")
        return result

    def deactivate(self, c: _Customer, kind: int, times: int = 1) -> None:
        for _ in range(times):
            if not c.running[kind]:
                return
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


def run_demo(
    out: Path,
    console: Console | None = None,
    *,
    then: Callable[[LocalNode, DemoResult], None] | None = None,
) -> DemoResult:
    """Run the whole story and return what it produced; stops its anvil even when a step fails.

    ``then`` runs while the node is still up (``./run demo --serve`` serves the web view from there, tests look at
    the chain); the node stops when it returns.
    """
    console = console or Console()
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("provider.sqlite", "auditor.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (out / f"{stale}{suffix}").unlink(missing_ok=True)
    with LocalNode() as node:
        console.print(Rule("1. a provider deploys and publishes its rules"))
        story = _Story(node, out, console)
        result = _run(story, started)
        if then is not None:
            then(node, result)
        return result


def _run(story: _Story, started: float) -> DemoResult:
    say, w3, out = story.say, story.w3, story.out
    say(f"local anvil at {story.node.rpc_url} (chain {w3.eth.chain_id}), started by the demo")
    provider = Provider.deploy(w3, story.provider_key)
    say(f"Meter deployed at [bold]{provider.address}[/]")
    start = provider.chain_time() + 60
    first = provider.create_timeframe(start, start + DAY, "EUR")
    second = provider.create_timeframe(start + DAY, start + 2 * DAY, "EUR")
    say(f"timeframes {first} and {second}: two consecutive days from {start}, prices in EUR")
    for timeframe in (first, second):
        rules_path = out / f"rules-tf{timeframe}.yaml"
        rules_path.write_text(RULES_YAML.format(timeframe=timeframe), encoding="utf-8")
        for applied in provider.apply_rules_file(rules_path):
            say(f"timeframe {timeframe}: rules of {applied.name} (type {applied.instance_type}) set from "
                f"{rules_path.name}, hash 0x{applied.rules_hash.hex()[:16]}…")
    say("db-server: EUR 0.50 per start, EUR 0.12 per hour, 2 starts and 30 minutes included, hard limits;")
    say("ml-worker: EUR 0.0004 per start, EUR 1.80 per hour, soft limits (prices exact: micro-units of a cent)")

    names = ("acme", "globex", "initech")
    addresses = [key.address for key in story.customer_keys]
    provider.enroll_customers(addresses)
    customers: list[_Customer] = []
    for name, key, agent_key in zip(names, story.customer_keys, story.agent_keys, strict=True):
        provider.grant_agent(agent_key.address)
        agent = Agent(w3, provider.address, agent_key)
        customers.append(_Customer(name, key, agent, LeaseKeeper(agent, LEASE, renew_before=ROUND)))
        say(f"customer {name} {key.address} enrolled; served by agent {agent_key.address}")
    acme, globex, initech = customers

    story.console.print(Rule("2. customers protect themselves, in their own transactions"))
    approval = Customer(w3, provider.address, acme.key).approve_agent(acme.agent.sender.address)
    say(f"acme approves only its own agent {approval.agent}: no other agent may bill it")
    cap = Customer(w3, provider.address, globex.key).set_spending_cap(2_00, "EUR")
    say(f"globex caps what it commits per timeframe at {cap.currency} {cap.cap / 100:.2f}: the contract denies "
        "beyond it (a cap in another currency than the timeframe's is refused)")
    escrow = open_escrow(w3, story.provider_key, provider.address, initech.key, 50, say)

    story.console.print(Rule("3. agents run instances over simulated time"))
    story.travel(start - provider.chain_time())
    say("the timeframe has started: rules are frozen from now on")
    now = provider.chain_time()
    script: dict[int, list[Callable[[], Any]]] = {
        0: [lambda: (story.activate(acme, 1), story.activate(acme, 1)),
            lambda: story.activate(globex, 2),
            lambda: (story.activate(initech, 1), story.activate(initech, 2))],
        1: [lambda: story.activate(acme, 1),  # a third concurrent db-server: the hard limit denies it
            lambda: story.activate(globex, 2),  # a second ml-worker: the soft limit grants it as overage
            lambda: story.activate(initech, 2)],  # beyond initech's EUR 0.50 deposit: DEPOSIT_EXHAUSTED
        2: [lambda: story.activate(acme, 2, agent=globex.agent)],  # an agent acme never approved
        4: [lambda: story.deactivate(acme, 1), lambda: story.deactivate(globex, 2)],
        5: [lambda: story.activate(acme, 1), lambda: story.activate(globex, 2)],
        9: [lambda: story.deactivate(acme, 1), lambda: story.deactivate(globex, 2, times=2)],
        10: [lambda: story.activate(globex, 2)],  # globex's cap is nearly used up
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

    story.console.print(Rule("4. a revoke stops billing: a leaked agent key bills a passive customer"))
    top_up(escrow, story.provider_key, 500, say)  # so the leaked key's hour-long start is covered
    rogue = _revoke_and_stop(story, provider, initech)

    story.console.print(Rule("5. a lease runs across the end of the day: it continues, billed from the next start"))
    end = start + DAY
    for instance_id in acme.running[1]:  # acme keeps its db-server running through the night
        renewed = acme.agent.renew(instance_id, DAY)
        acme.keeper.track(instance_id, renewed.lease_end if isinstance(renewed, Renewed) else end)
        say(f"  acme renews db-server 0x{instance_id.hex()[:10]}… until {end}: a lease never crosses a timeframe")
    now = story.travel(end + 60 - provider.chain_time())
    closed = rogue.expire(acme.running[1])  # anyone may call it, hoping to force a costly restart
    say(f"  a third party asks the contract to close acme's boundary lease(s) a minute into the new day: {closed} "
        "closed; a lease that ran to the boundary stays continuable for its 15-minute grace")
    for event in acme.keeper.tick():
        if isinstance(event, Continued):
            say(f"  acme's db-server 0x{event.instance_id.hex()[:10]}… continued into timeframe {event.timeframe}: "
                f"timeframe {first} billed it up to {event.ended_at}, timeframe {event.timeframe} from "
                f"{event.started_at}, not from the renewal at {now}; no new start, no start fee")
        else:
            story.say(f"  keeper: {type(event).__name__} {event}")
    timeframe = first

    story.console.print(Rule("6. the first day has ended; invoices are computed from the events"))
    say(f"chain time {now}: timeframe {timeframe} has ended and every lease in it is past its end")
    invoices, totals = _bill(story, provider, timeframe, second, acme.address)

    story.console.print(Rule("7. anchor, verify, and catch a tampered invoice"))
    for name, path in invoices.items():
        inv = from_json(path.read_bytes())
        anchored = anchor_invoice(w3, provider.address, story.provider_key, inv, sender=provider.sender)
        say(f"anchored {name}'s final invoice hash 0x{anchored.invoice_hash.hex()[:16]}… (tx {anchored.tx_hash})")
    statement_path = out / f"statement-acme-tf{second}.json"
    try:
        check_anchorable(w3, provider.address, from_json(statement_path.read_bytes()))
    except MeteringError as exc:
        say(f"acme's running statement is refused for anchoring: {exc}")
    honest = []
    with Store(out / "auditor.sqlite", chain_id=w3.eth.chain_id, contract=provider.address) as auditor:
        for name, path in invoices.items():
            report = verify_invoice(w3, provider.address, auditor, path, require_anchor=True)
            honest.append(report)
            mark = "[green]verified[/]" if report.ok else "[red]NOT verified[/]"
            say(f"auditor: {name}'s invoice {mark} (lines, on-chain counters, anchored hash)")
        tampered_path = _tamper(invoices["acme"], out)
        say(f"someone edits a copy of acme's invoice ({tampered_path.name}): 600 seconds fewer, amounts and hash "
            "recomputed")
        tampered = verify_invoice(w3, provider.address, auditor, tampered_path, require_anchor=True)
    from metering.cli.audit_cmds import report_table

    story.console.print(report_table(tampered))
    say(f"auditor: tampered copy {'[red]caught[/]' if not tampered.ok else 'NOT caught'}: "
        f"{len(tampered.differences)} difference(s)")
    books = _books(story, invoices["acme"])
    webhooks = _watch(story, provider)

    story.console.print(Rule("10. settlement: the prepaid customer's day is paid on chain, the rest withdrawn"))
    settled = settle_and_withdraw(escrow, story.third_party, timeframe, invoices["initech"], out, say)
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
        books=books,
        webhooks=webhooks,
        settlement=settled,
    )


def _books(story: _Story, acme_invoice: Path) -> dict[str, Path]:
    """acme's commercial invoice from the provider's directory (needs the business extra; skipped without it)."""
    story.console.print(Rule("8. the provider's books: a commercial invoice and a Factur-X for acme"))
    try:
        from metering.business.demo_books import write_books

        addresses = dict(zip(("acme", "globex", "initech"), (k.address for k in story.customer_keys), strict=True))
        return write_books(story.out, addresses, from_json(acme_invoice.read_bytes()), story.say)
    except ImportError as exc:
        story.say(f"skipped: {exc.name} is not installed (pip install 'metering[business]')")
        return {}


def _revoke_and_stop(story: _Story, provider: Provider, initech: _Customer) -> Agent:
    """A key the provider granted the agent role leaks: it starts an ml-worker for initech, which never restricted
    its agents. initech revokes that agent (a revoke always takes effect, restricted or not), and stops the instance
    itself: billing stops at that second. Returns the rogue agent (it acts as the third party later)."""
    say, w3 = story.say, story.w3
    provider.grant_agent(story.third_party.address)
    rogue = Agent(w3, provider.address, story.third_party)
    started = rogue.activate(initech.address, 2, 7 * DAY)  # asks a week: the rules give at most an hour
    if not isinstance(started, Granted):
        story.denials.append(started)
        say(f"  the leaked key's start for initech was denied: {started.reason.name}")
        return rogue
    say(f"  a leaked agent key {rogue.sender.address} starts an ml-worker for initech, asking a week's lease: "
        f"granted until {started.lease_end} (the rules' max_lease_seconds: one hour)")
    story.travel(60)  # a minute, not a round: the other customers' keepers are not ticking meanwhile
    me = Customer(w3, provider.address, initech.key)
    me.revoke_agent(rogue.sender.address)
    say(f"  initech revokes {rogue.sender.address}: from this block it may not start, renew or continue for initech")
    renewal = rogue.renew(started.instance_id, 3600)
    if isinstance(renewal, RenewalDenied):
        say(f"  [red]renewal denied[/] {renewal.reason.name} (recorded on chain)")
    again = rogue.activate(initech.address, 2, 600)
    if isinstance(again, Denied):
        story.denials.append(again)
        say(f"  [red]denied [/] a new start by the revoked agent: {again.reason.name}")
    stop = me.stop_instance(started.instance_id)
    ran = stop.stopped_at - (started.started_at if started.started_at is not None else stop.stopped_at)
    say(f"  initech stops the instance with its own key: billing stopped at {stop.stopped_at}, {ran} s after its "
        f"start, not at its lease end {started.lease_end}")
    return rogue


def _renew(story: _Story, keeper: LeaseKeeper) -> None:
    for event in keeper.tick():
        if isinstance(event, RenewalDenied | ContinuationDenied):
            story.say(f"  [red]renewal denied[/] 0x{event.instance_id.hex()[:10]}… {event.reason.name}: "
                      "the instance must stop when its lease ends (recorded on chain)")
        elif not isinstance(event, Renewed):
            story.say(f"  keeper: {type(event).__name__}")


def _bill(
    story: _Story, provider: Provider, timeframe: int, running: int, customer: str
) -> tuple[dict[str, Path], dict[str, int]]:
    from metering.cli._common import sync_store
    from metering.cli.audit_cmds import invoice_table

    w3, out = story.w3, story.out
    names = {key.address: name for name, key in zip(("acme", "globex", "initech"), story.customer_keys, strict=True)}
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
        now = provider.chain_time()
        current = statement(store, customer, running, NodeClock(w3, store), as_of=now)
        story.say(f"beside the final ones, acme's running statement for timeframe {running} as of {now}: not final, "
                  "it cannot be anchored; it bills what ran so far and shows what open leases commit")
        story.console.print(invoice_table(current, TYPE_NAMES, customer="acme"))
        path = out / f"statement-acme-tf{running}.json"
        path.write_bytes(to_json(current) + b"\n")
    return invoices, totals


def _watch(story: _Story, provider: Provider) -> tuple[dict[str, Any], ...]:
    """Replay the whole story through `metering watch`'s rules into a small local receiver, and show what it got:
    the cap crossing 80%, every denial, the final invoices (and their anchors), each a signed webhook."""
    import base64
    import os

    try:
        from metering.watch.receiver import LocalReceiver
    except ImportError:
        story.say("(the watch needs the watch extra: pip install 'metering[watch]'; skipped)")
        return ()
    from metering.cli._common import sync_store
    from metering.money import format_minor
    from metering.watch.config import parse_watch_config
    from metering.watch.loop import WatchLoop

    story.console.print(Rule("9. the watch: notifications from the chain, as signed webhooks"))
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    names = {key.address: name for name, key in zip(("acme", "globex", "initech"), story.customer_keys, strict=True)}
    db = story.out / "provider.sqlite"
    with Store(db, chain_id=story.w3.eth.chain_id, contract=provider.address) as store:
        sync_store(story.w3, provider.address, store, quiet=True)
    with LocalReceiver(secret) as receiver:
        config = parse_watch_config({
            "name": "demo", "confirmations": 0,
            "sinks": {"receiver": {"webhook": receiver.url, "secret": secret}},
            "rules": [{"name": "cap", "kind": "cap", "percent": [80, 100]}, {"name": "denials", "kind": "denial"},
                      {"name": "final", "kind": "invoice_final"}, {"name": "anchored", "kind": "invoice_anchored"}],
        })
        loop = WatchLoop(config, db, w3=story.w3, start_block=0)
        loop.run_once()
        got = tuple(body for _, body in receiver.received)
        story.say(f"a local receiver at {receiver.url} got {len(got)} webhook(s), each verified with the "
                  f"standardwebhooks library ({receiver.refused} refused):")
    for body in got:
        data = body["data"]
        who = names.get(data.get("customer", ""), data.get("customer", ""))
        def money(amount: int, currency: str) -> str:
            return f"{format_minor(int(amount), currency)} {currency}"

        detail = {
            "cap.crossed": lambda d: f"committed {d['percent']}% of its cap of {money(d['cap'], d['currency'])}",
            "activation.denied": lambda d: f"activation denied: {d['reason']}",
            "renewal.denied": lambda d: f"renewal denied: {d['reason']}",
            "invoice.final": lambda d: f"final invoice of timeframe {d['timeframe']}: "
                                       f"{money(d['total'], d['currency'])}, hash {d['invoice_hash'][:18]}…",
            "invoice.anchored": lambda d: f"invoice of timeframe {d['timeframe']} anchored: "
                                          f"{money(d['total'], d['currency'])}",
        }.get(body["type"], lambda d: str(d))(data)
        story.say(f"  {body['timestamp']}  {body['type']:<18} {who}: {detail}")
    return got


def _tamper(original: Path, out: Path) -> Path:
    """A careful forger: 600 seconds fewer on the first running-time line with that many, the line's amount and the
    total recomputed, and the file's own hash made to match."""
    invoice = from_json(original.read_bytes())
    lines = list(invoice.lines)
    k = next(i for i, ln in enumerate(lines) if ln.charge == Charge.SECONDS and ln.billable >= 600)
    line = lines[k]
    billable = line.billable - 600
    amount = line_amount(billable, line.unit_price, line.per)
    lines[k] = replace(line, quantity=line.quantity - 600, billable=billable, amount=amount)
    forged = replace(invoice, lines=tuple(lines), total=invoice.total - (line.amount - amount))
    path = out / "invoice-acme-TAMPERED.json"
    path.write_bytes(to_json(forged) + b"\n")
    return path
