"""Property test: random sequences of operations agree with a plain Python model of the v2 contract.

Each hypothesis example runs a random sequence of activations (single and batched; new generations, replays, and
requests on busy seats) by two agents, renewals (also continuations into the next timeframe), deactivations, the
provider's closes, expiries, suspensions, customer approvals of agents, spending caps and clock jumps, over three
customers (one never enrolled) and two instance types (hard and soft limits, priced in micro-units with included
quotas) in two adjacent timeframes with different rules, followed by no timeframe at all. After every operation the
returned values and the emitted events must equal what the model predicts; after every example the on-chain
counters, spending and records must equal the model's, and the counters and spending must equal the sums of the
events.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_reached
from hypothesis import strategies as st

from metering.contract import CustomerStatus, DenialReason, InstanceStatus, LimitMode
from metering.types import Rules, instance_id, split_instance_id

from .conftest import SetupTimeframe
from .helpers import EUR, HARD, NO_SEAT, SOFT, AccountView, Harness, InstanceView, SeatView, UsageView

PRICE_SCALE = 1_000_000
ZERO = "0x0000000000000000000000000000000000000000"

# ---------------------------------------------------------------------------------------------- the model


def time_cost(seconds: int, rules: Rules) -> int:
    """What ``seconds`` of a type's running time commit: the ceiling of the exact price beyond the included."""
    billable = max(0, seconds - rules.included_seconds)
    return -(-billable * rules.price_per_time_unit // rules.time_unit_seconds)


@dataclass
class Record:
    """What an agent's seat holds: its current generation's instance."""

    generation: int
    customer: str
    instance_type: int
    timeframe: int
    status: InstanceStatus
    lease_end: int
    reason: DenialReason
    seat: int  # the concurrency seat, NO_SEAT when none


@dataclass
class Account:
    status: CustomerStatus
    restricted: bool = False
    cap: int = 0
    spent_timeframe: int = 0
    spent: int = 0
    cap_currency: bytes = b"\0" * 8
    revoked_any: bool = False

    def spent_in(self, tf: int) -> int:
        return self.spent if self.spent_timeframe == tf else 0


@dataclass
class Outcome:
    reason: DenialReason = DenialReason.NONE
    overage: bool = False
    seat: int = NO_SEAT
    lease_end: int = 0
    billed_from: int = 0


#: IMeter.CONTINUATION_GRACE_SECONDS: how long after its timeframe's end a boundary lease may still be continued.
GRACE = 15 * 60

Events = list[tuple[str, dict[str, Any]]]


@dataclass
class Model:
    """The contract's documented behaviour, written out plainly. Events are ``(name, args)`` like the decoded logs."""

    timeframes: list[tuple[int, int, int]]  # (id, start, end)
    rules: dict[tuple[int, int], Rules]
    accounts: dict[str, Account]
    operator: str
    approved: set[tuple[str, str]] = field(default_factory=set)
    revoked: set[tuple[str, str]] = field(default_factory=set)
    usage: dict[tuple[str, int, int], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    seats: dict[tuple[str, int, int], list[int]] = field(default_factory=dict)  # lease end held by each seat
    records: dict[tuple[str, int], Record] = field(default_factory=dict)  # (agent, seat index) -> record
    known: list[bytes] = field(default_factory=list)  # every instance id ever decided, in order

    # -------------------------------------------------------------- time

    def active(self, now: int) -> tuple[int, int, int]:
        for tf_id, start, end in self.timeframes:
            if start <= now < end:
                return tf_id, start, end
        return 0, 0, 0

    def bounds(self, tf_id: int) -> tuple[int, int]:
        return next((start, end) for i, start, end in self.timeframes if i == tf_id)

    # -------------------------------------------------------------- decisions

    def barred(self, customer: str, agent: str) -> bool:
        """v3: restricted customers accept their approved agents; any customer refuses the agents it revoked."""
        if self.accounts[customer].restricted:
            return (customer, agent) not in self.approved
        return (customer, agent) in self.revoked

    def _seats(self, key: tuple[str, int, int], rules: Rules) -> list[int]:
        return self.seats.setdefault(key, [0] * rules.max_concurrent)

    def decide(
        self, agent: str, customer: str, itype: int, tf: tuple[int, int, int], lease: int, now: int,
        continuation: bool,
    ) -> Outcome:
        tf_id, start, end = tf
        rules = self.rules.get((tf_id, itype))
        account = self.accounts[customer]
        if rules is None:
            return Outcome(DenialReason.NO_RULES_FOR_TYPE)
        if account.status == CustomerStatus.NONE:
            return Outcome(DenialReason.CUSTOMER_NOT_ENROLLED)
        if account.status == CustomerStatus.SUSPENDED:
            return Outcome(DenialReason.CUSTOMER_SUSPENDED)
        if self.barred(customer, agent):
            return Outcome(DenialReason.AGENT_NOT_APPROVED)
        key = (customer, tf_id, itype)
        u = self.usage[key]
        seats = self._seats(key, rules)
        seat = next((k for k, lease_end in enumerate(seats) if lease_end <= now), NO_SEAT)
        reason, overage = DenialReason.NONE, False
        if rules.max_concurrent and seat == NO_SEAT:
            reason = DenialReason.CONCURRENCY_LIMIT_REACHED
        elif not continuation and rules.max_activations and u[0] >= rules.max_activations:
            reason = DenialReason.ACTIVATION_QUOTA_REACHED
        if reason != DenialReason.NONE and rules.mode == LimitMode.SOFT:
            reason, overage = DenialReason.NONE, True
        if reason != DenialReason.NONE:
            return Outcome(reason)
        if rules.max_lease_seconds:
            lease = min(lease, rules.max_lease_seconds)
        lease_end = min(now + lease, end)
        # A continuation is billed from the timeframe's start, or from when its seat became free if a lease held it.
        billed_from = max(start, seats[seat]) if continuation and seat != NO_SEAT else (start if continuation else now)
        leased = u[2] + lease_end - billed_from
        cost = time_cost(leased, rules) - time_cost(u[2], rules)
        if continuation:
            cost += rules.price_per_continuation
        elif u[0] >= rules.included_activations:
            cost += rules.price_per_activation
        committed = account.spent_in(tf_id) + cost
        if account.cap and committed > account.cap * PRICE_SCALE:
            return Outcome(DenialReason.SPENDING_CAP_REACHED)
        if not continuation:
            u[0] += 1
            u[1] += int(overage)
        u[2] = leased
        if seat != NO_SEAT:
            seats[seat] = lease_end
        account.spent_timeframe, account.spent = tf_id, committed
        return Outcome(DenialReason.NONE, overage, seat, lease_end, billed_from)

    def busy(self, agent: str, seat: int, now: int) -> Record | None:
        """The record that makes a new request on this seat revert ``MeteringSeatBusy``, if any."""
        record = self.records.get((agent, seat))
        if record is not None and record.status == InstanceStatus.OPEN and now < record.lease_end:
            return record
        return None

    def activate(
        self, agent: str, customer: str, itype: int, seat: int, generation: int, lease: int, now: int, events: Events
    ) -> tuple[bool, int]:
        iid = instance_id(agent, seat << 8 | generation)
        record = self.records.get((agent, seat))
        current = record.generation if record else 0
        if record is not None and generation == current:
            assert (record.customer, record.instance_type) == (customer, itype), "the test replays whole requests"
            events.append(("ActivationReplayed", {
                "instanceId": iid, "customer": customer, "status": record.status, "reason": record.reason,
            }))
            return record.status != InstanceStatus.DENIED, record.reason
        assert generation == current + 1 and self.busy(agent, seat, now) is None, "the test sends valid requests"
        if record is not None and record.status == InstanceStatus.OPEN:
            events.append(("LeaseExpired", self._ids(instance_id(agent, seat << 8 | current), record)
                           | {"leaseEnd": record.lease_end}))
        self.known.append(iid)
        tf = self.active(now)
        outcome = self.decide(agent, customer, itype, tf, lease, now, False) if tf[0] else Outcome(
            DenialReason.NO_ACTIVE_TIMEFRAME
        )
        ids = {"instanceId": iid, "customer": customer, "instanceType": itype, "timeframe": tf[0]}
        if outcome.reason != DenialReason.NONE:
            self.records[(agent, seat)] = Record(
                generation, customer, itype, tf[0], InstanceStatus.DENIED, 0, outcome.reason, NO_SEAT
            )
            events.append(("ActivationDenied", ids | {"reason": outcome.reason}))
            return False, outcome.reason
        self.records[(agent, seat)] = Record(
            generation, customer, itype, tf[0], InstanceStatus.OPEN, outcome.lease_end, DenialReason.NONE, outcome.seat
        )
        events.append(("ActivationGranted", ids | {
            "startedAt": now, "leaseEnd": outcome.lease_end, "overage": outcome.overage,
        }))
        return True, DenialReason.NONE

    # -------------------------------------------------------------- leases

    @staticmethod
    def _ids(iid: bytes, record: Record) -> dict[str, Any]:
        return {"instanceId": iid, "customer": record.customer, "instanceType": record.instance_type,
                "timeframe": record.timeframe}

    def _record(self, iid: bytes) -> tuple[str, Record]:
        agent, seat, _ = split_instance_id(iid)
        return agent, self.records[(agent, seat)]

    def _close_expired(self, iid: bytes, record: Record, events: Events) -> None:
        record.status = InstanceStatus.CLOSED
        events.append(("LeaseExpired", self._ids(iid, record) | {"leaseEnd": record.lease_end}))

    def renew(self, iid: bytes, lease: int, now: int, events: Events) -> tuple[bool, int, int]:
        agent, record = self._record(iid)
        account = self.accounts[record.customer]
        if now < record.lease_end:
            reason = DenialReason.NONE
            if account.status != CustomerStatus.ENROLLED:
                reason = DenialReason.CUSTOMER_SUSPENDED
            elif self.barred(record.customer, agent):
                reason = DenialReason.AGENT_NOT_APPROVED
            else:
                key = (record.customer, record.timeframe, record.instance_type)
                rules, u = self.rules[(record.timeframe, record.instance_type)], self.usage[key]
                if rules.max_lease_seconds:
                    lease = min(lease, rules.max_lease_seconds)
                new_end = max(min(now + lease, self.bounds(record.timeframe)[1]), record.lease_end)
                leased = u[2] + new_end - record.lease_end
                committed = account.spent_in(record.timeframe) + time_cost(leased, rules) - time_cost(u[2], rules)
                if account.cap and committed > account.cap * PRICE_SCALE:
                    reason = DenialReason.SPENDING_CAP_REACHED
                else:
                    u[2] = leased
                    if record.seat != NO_SEAT:
                        self.seats[key][record.seat] = new_end
                    account.spent_timeframe, account.spent = record.timeframe, committed
                    record.lease_end = new_end
                    events.append(("LeaseRenewed", self._ids(iid, record) | {"leaseEnd": new_end}))
                    return True, DenialReason.NONE, new_end
            events.append(("LeaseRenewalDenied", self._ids(iid, record) | {"reason": reason}))
            return False, reason, 0
        self._close_expired(iid, record, events)
        tf_end = self.bounds(record.timeframe)[1]
        active = self.active(now)
        if record.lease_end < tf_end or now >= tf_end + GRACE:
            outcome = Outcome(DenialReason.LEASE_EXPIRED)
        elif active[0] != record.timeframe + 1 or active[1] != tf_end:
            outcome = Outcome(DenialReason.NO_ACTIVE_TIMEFRAME if active[0] == 0 else DenialReason.LEASE_EXPIRED)
        else:
            outcome = self.decide(agent, record.customer, record.instance_type, active, lease, now, True)
        ids = self._ids(iid, record) | {"timeframe": active[0]}
        if outcome.reason != DenialReason.NONE:
            events.append(("LeaseRenewalDenied", ids | {"reason": outcome.reason}))
            return False, outcome.reason, 0
        record.timeframe, record.status = active[0], InstanceStatus.OPEN
        record.lease_end, record.seat = outcome.lease_end, outcome.seat
        events.append(("LeaseContinued", ids | {
            "startedAt": outcome.billed_from, "leaseEnd": outcome.lease_end, "overage": outcome.overage,
        }))
        return True, DenialReason.NONE, outcome.lease_end

    def stop(self, iid: bytes, now: int, events: Events, by_provider: bool) -> None:
        _, record = self._record(iid)
        if now >= record.lease_end:
            self._close_expired(iid, record, events)
            return
        key = (record.customer, record.timeframe, record.instance_type)
        rules, u, account = self.rules[(record.timeframe, record.instance_type)], self.usage[key], self.accounts[
            record.customer
        ]
        leased = u[2] - (record.lease_end - now)
        account.spent -= time_cost(u[2], rules) - time_cost(leased, rules)
        u[2] = leased
        if record.seat != NO_SEAT:
            self.seats[key][record.seat] = now
        record.lease_end, record.status = now, InstanceStatus.CLOSED
        if by_provider:
            events.append(("InstanceClosedByProvider", self._ids(iid, record) | {
                "stoppedAt": now, "operator": self.operator,
            }))
        else:
            events.append(("InstanceDeactivated", self._ids(iid, record) | {"stoppedAt": now}))

    def expire(self, ids: list[bytes], now: int, events: Events) -> int:
        closed = 0
        for iid in ids:
            agent, seat, generation = split_instance_id(iid)
            record = self.records.get((agent, seat))
            if (
                record is not None and record.generation == generation and record.status == InstanceStatus.OPEN
                and now >= record.lease_end and not self.continuable(record, now)
            ):
                self._close_expired(iid, record, events)
                closed += 1
        return closed

    def continuable(self, record: Record, now: int) -> bool:
        """v3: a lease that ran to its timeframe's end stays open for its holder during the grace."""
        return record.lease_end == self.bounds(record.timeframe)[1] and now < record.lease_end + GRACE

    def open_ids(self, to_the_end: bool = False) -> list[bytes]:
        """Open instances; with ``to_the_end``, only those whose lease runs to their timeframe's end."""
        return [
            instance_id(agent, seat << 8 | r.generation)
            for (agent, seat), r in sorted(self.records.items())
            if r.status == InstanceStatus.OPEN and (not to_the_end or r.lease_end == self.bounds(r.timeframe)[1])
        ]

    # -------------------------------------------------------------- views

    def usage_view(self, key: tuple[str, int, int], now: int) -> UsageView:
        activations, overage, leased = self.usage.get(key, [0, 0, 0])
        running = sum(1 for lease_end in self.seats.get(key, []) if lease_end > now)
        return UsageView(activations, overage, leased, running)


# ---------------------------------------------------------------------------------------------- sums of the events


def sums_of_events(events: list[Any], rules: dict[tuple[int, int], Rules]) -> tuple[
    dict[tuple[str, int, int], tuple[int, int, int]], dict[tuple[str, int], int]
]:
    """Counters and committed spending rebuilt from the event log alone, as an auditor would.

    Returns ``(activations, overage activations, leased seconds)`` per (customer, timeframe, type), and the spending
    per (customer, timeframe): activation fees beyond the included activations, continuation fees, and the ceiling
    of each type's time cost.
    """
    totals: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # ..., continuations
    key_of: dict[bytes, tuple[str, int, int]] = {}
    end_of: dict[bytes, int] = {}
    for event in events:
        a = event.args
        if event.name in ("ActivationGranted", "LeaseContinued"):
            key = (a["customer"], a["timeframe"], a["instanceType"])
            key_of[a["instanceId"]], end_of[a["instanceId"]] = key, a["leaseEnd"]
            t = totals[key]
            if event.name == "ActivationGranted":
                t[0] += 1
                t[1] += int(a["overage"])
            else:
                t[3] += 1
            t[2] += a["leaseEnd"] - a["startedAt"]
        elif event.name == "LeaseRenewed":
            totals[key_of[a["instanceId"]]][2] += a["leaseEnd"] - end_of[a["instanceId"]]
            end_of[a["instanceId"]] = a["leaseEnd"]
        elif event.name in ("InstanceDeactivated", "InstanceClosedByProvider"):
            totals[key_of[a["instanceId"]]][2] -= end_of[a["instanceId"]] - a["stoppedAt"]
            end_of[a["instanceId"]] = a["stoppedAt"]
        elif event.name == "LeaseExpired":
            assert a["leaseEnd"] == end_of[a["instanceId"]], "an expiry bills up to the last lease end"
    spending: dict[tuple[str, int], int] = defaultdict(int)
    for (customer, tf, itype), (activations, _, leased, continuations) in totals.items():
        r = rules[(tf, itype)]
        spending[(customer, tf)] += (
            max(0, activations - r.included_activations) * r.price_per_activation
            + continuations * r.price_per_continuation
            + time_cost(leased, r)
        )
    return {key: (t[0], t[1], t[2]) for key, t in totals.items()}, spending


# ---------------------------------------------------------------------------------------------- the test

CENT = PRICE_SCALE
FIRST_RULES = {
    HARD: Rules(price_per_activation=CENT, price_per_time_unit=CENT, time_unit_seconds=60, included_activations=1,
                included_seconds=50, max_concurrent=2, max_activations=3),
    SOFT: Rules(price_per_activation=CENT // 2, price_per_time_unit=7, time_unit_seconds=3, max_concurrent=1,
                max_activations=2, mode=LimitMode.SOFT),
}
SECOND_RULES = {  # no rules for SOFT: its continuations are denied NoRulesForType
    HARD: Rules(price_per_activation=2 * CENT, price_per_continuation=300_000, price_per_time_unit=CENT,
                time_unit_seconds=100, max_concurrent=1, max_activations=3),
}
AGENT_SEATS = 4

#: Mostly short leases; some long enough to run to the end of the timeframe (then a renewal may continue them).
LEASES = st.integers(1, 200) | st.integers(1, 200) | st.integers(300, 800)
AGENT = st.sampled_from([0, 0, 1])
CUSTOMER = st.sampled_from([0, 0, 0, 1, 1, 2])  # mostly enrolled customers; customer 2 is never enrolled
#: (seat, customer index, type, lease seconds, "next" generation or "replay" the current one)
REQUEST = st.tuples(
    st.integers(0, AGENT_SEATS - 1), CUSTOMER, st.sampled_from([HARD, SOFT]), LEASES,
    st.sampled_from(["next", "next", "replay"]),
)
PICK = st.integers(0, 60)
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 150))
ACTIVATE = st.tuples(st.just("activate"), AGENT, REQUEST)
RENEW = st.tuples(st.just("renew"), PICK, LEASES)
#: Wait until one of the leases that run to the end of their timeframe ran out (and a few seconds more), then renew
#: it: a continuation if the next timeframe is active.
RENEW_ENDED = st.tuples(st.just("renew_ended"), PICK, LEASES, st.integers(0, 20))
#: Move the clock to the first timeframe's end plus a few seconds (if it is not past that already).
JUMP = st.tuples(st.just("jump"), st.integers(0, 30))
#: Customer 1 chooses its agents: approving one restricts it to its approved agents.
CHOICES = ["approve agent", "approve agent2", "revoke agent", "revoke agent2", "unrestrict"]
# one_of picks each alternative equally often, so listing one twice doubles its weight.
OPERATION = st.one_of(
    ADVANCE,
    ADVANCE,
    ACTIVATE,
    ACTIVATE,
    ACTIVATE,
    st.tuples(st.just("batch"), AGENT, st.lists(REQUEST, min_size=1, max_size=4)),
    RENEW,
    RENEW,
    RENEW_ENDED,
    RENEW_ENDED,
    JUMP,
    st.tuples(st.just("deactivate"), PICK),
    st.tuples(st.just("close"), PICK),
    st.tuples(st.just("expire"), st.lists(PICK, min_size=1, max_size=4)),
    st.tuples(st.just("toggle_suspension"), st.just(1)),
    st.tuples(st.just("choice"), st.sampled_from(CHOICES)),
    st.tuples(st.just("cap"), st.sampled_from([0, 2, 5, 10])),  # customer 0's cap, in cents
)


def _chain_events(h: Harness, receipt: Any) -> Events:
    return [(e.name, e.args) for e in h.events(receipt)]


def _note(kind: str, expected: Events) -> None:
    """Shown by --hypothesis-show-statistics: which outcomes the examples reached."""
    for name, args in expected:
        label = f"{name}:{DenialReason(args['reason']).name}" if "reason" in args else name
        if args.get("overage"):
            label += ":overage"
        note_reached(f"{kind}/{label}")


#: Examples per run: few enough for CI on 2 cores; set METERING_MODEL_EXAMPLES=500 for a thorough run.
EXAMPLES = int(os.environ.get("METERING_MODEL_EXAMPLES", "12"))
#: Where the examples start, in seconds from the first timeframe's start (it lasts 400): anywhere, and often late,
#: so that leases run into the end of the timeframe and continue into the next one.
START_OFFSET = st.integers(0, 420) | st.integers(250, 400)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start_offset=START_OFFSET, operations=st.lists(OPERATION, min_size=10, max_size=30))
def test_random_operation_sequences_match_the_model_and_the_event_sums(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, start_offset: int, operations: list[Any]
) -> None:
    if h.fn.timeframeCount().call() == 0:  # first example: build the scenario once; later ones revert to it
        start = h.chain.now() + 100
        first = setup_timeframe(start=start, length=400, rules=FIRST_RULES, enter=False)
        setup_timeframe(start=first.end, length=300, rules=SECOND_RULES, enter=False)
        h.chain.mine(start)
    t1, t2 = h.fn.timeframe(1).call(), h.fn.timeframe(2).call()
    addresses = [c.address for c in customers[:3]]
    agents = [h.agent, h.agent2]
    rules = {(1, t): r for t, r in FIRST_RULES.items()} | {(2, t): r for t, r in SECOND_RULES.items()}

    snapshot = h.chain.snapshot()
    first_block = h.w3.eth.block_number
    try:
        model = Model(
            timeframes=[(1, t1[0], t1[1]), (2, t2[0], t2[1])],
            rules=rules,
            accounts={
                addresses[0]: Account(CustomerStatus.ENROLLED),
                addresses[1]: Account(CustomerStatus.ENROLLED),
                addresses[2]: Account(CustomerStatus.NONE),
            },
            operator=h.admin.address,
        )
        now = h.chain.now() + start_offset  # from the first timeframe's start to past its end

        def resolve(agent: str, request: Any) -> tuple[str, int, int, int, int] | None:
            """A valid request for the model's current state: the seat's next generation, or a replay of its
            current one (with the recorded customer and type); None when the seat is busy (a new request there
            reverts, which the caller checks or avoids)."""
            seat, customer_index, itype, lease, mode = request
            record = model.records.get((agent, seat))
            if record is not None and (mode == "replay" or model.busy(agent, seat, now)):
                if mode != "replay":
                    return None
                return record.customer, record.instance_type, seat, record.generation, lease
            return addresses[customer_index], itype, seat, (record.generation if record else 0) + 1, lease

        for op in operations:
            kind = op[0]
            expected: Events = []
            if kind == "advance":
                now += op[1]
                continue
            if kind == "jump":
                now = max(now, t1[1] + op[1])
                continue
            if kind == "activate":
                agent = agents[op[1]]
                resolved = resolve(agent.address, op[2])
                if resolved is None:  # a new request on a seat whose lease still runs
                    seat = op[2][0]
                    occupant = model.busy(agent.address, seat, now)
                    assert occupant is not None
                    request = seat << 8 | (occupant.generation + 1)
                    fn = h.fn.requestActivation(addresses[op[2][1]], op[2][2], request, op[2][3])
                    h.assert_reverts(
                        fn, agent, "MeteringSeatBusy", instance_id(agent.address, seat << 8 | occupant.generation),
                        occupant.lease_end, at=now,
                    )
                    note_reached("activate/MeteringSeatBusy")
                    continue
                customer, itype, seat, generation, lease = resolved
                want = model.activate(agent.address, customer, itype, seat, generation, lease, now, expected)
                got, receipt = h.activate(customer, itype, seat << 8 | generation, lease, at=now, sender=agent)
                assert got == want
            elif kind == "batch":
                agent = agents[op[1]]
                batch: list[tuple[str, int, int, int]] = []
                wants = []
                for request in op[2]:
                    resolved = resolve(agent.address, request)
                    if resolved is None:  # make it a replay: a busy seat would revert the whole batch
                        resolved = resolve(agent.address, (*request[:4], "replay"))
                    assert resolved is not None
                    customer, itype, seat, generation, lease = resolved
                    wants.append(model.activate(agent.address, customer, itype, seat, generation, lease, now, expected))
                    batch.append((customer, itype, seat << 8 | generation, lease))
                gots, receipt = h.activate_many(batch, at=now, sender=agent)
                assert gots == wants
            elif kind in ("renew", "renew_ended", "deactivate", "close"):
                open_ids = model.open_ids(to_the_end=kind == "renew_ended")
                if not open_ids:
                    continue
                iid = open_ids[op[1] % len(open_ids)]
                if kind == "renew_ended":  # wait until it ran out, and a few seconds more
                    now = max(now, model.records[split_instance_id(iid)[:2]].lease_end + op[3])
                holder = agents[[a.address for a in agents].index(split_instance_id(iid)[0])]
                if kind in ("renew", "renew_ended"):
                    want_renewal = model.renew(iid, op[2], now, expected)
                    got_renewal, receipt = h.renew(iid, op[2], at=now, sender=holder)
                    assert got_renewal == want_renewal
                elif kind == "deactivate":
                    model.stop(iid, now, expected, by_provider=False)
                    receipt = h.deactivate(iid, at=now, sender=holder)
                else:
                    model.stop(iid, now, expected, by_provider=True)
                    receipt = h.close(iid, at=now)
            elif kind == "expire":
                ids = [model.known[i % len(model.known)] if model.known else b"\0" * 32 for i in op[1]]
                want_closed = model.expire(ids, now, expected)
                got_closed, receipt = h.expire(ids, at=now)
                assert got_closed == want_closed
            elif kind == "toggle_suspension":
                address = addresses[op[1]]
                account = model.accounts[address]
                if account.status == CustomerStatus.ENROLLED:
                    account.status = CustomerStatus.SUSPENDED
                    receipt = h.send(h.fn.suspendCustomer(address), h.admin, at=now)
                    expected.append(("CustomerSuspended", {"customer": address}))
                else:
                    account.status = CustomerStatus.ENROLLED
                    receipt = h.send(h.fn.enrollCustomer(address), h.admin, at=now)
                    expected.append(("CustomerEnrolled", {"customer": address}))
            elif kind == "choice":
                customer = customers[1]
                account = model.accounts[customer.address]
                verb, _, which = op[1].partition(" ")
                agent_address = (h.agent if which == "agent" else h.agent2).address
                pair = {"customer": customer.address, "agent": agent_address}
                if verb == "approve":
                    model.approved.add((customer.address, agent_address))
                    model.revoked.discard((customer.address, agent_address))
                    receipt = h.approve(customer, agent_address, at=now)
                    expected.append(("AgentApproved", pair))
                    if not account.restricted:
                        account.restricted = True
                        expected.append(("AgentRestrictionSet", {"customer": customer.address, "restricted": True}))
                elif verb == "revoke":
                    model.approved.discard((customer.address, agent_address))
                    model.revoked.add((customer.address, agent_address))
                    account.revoked_any = True
                    receipt = h.revoke(customer, agent_address, at=now)
                    expected.append(("AgentRevoked", pair))
                else:
                    account.restricted = False
                    receipt = h.restrict(customer, False, at=now)
                    expected.append(("AgentRestrictionSet", {"customer": customer.address, "restricted": False}))
            else:  # cap
                model.accounts[addresses[0]].cap = op[1]
                model.accounts[addresses[0]].cap_currency = EUR
                receipt = h.set_cap(customers[0], op[1], at=now)
                expected.append(("SpendingCapSet", {"customer": addresses[0], "cap": op[1], "currency": EUR}))
            assert _chain_events(h, receipt) == expected, f"after {op}"
            _note(kind, expected)

        # Counters, spending and records: on chain == model, and counters and spending == sums of the events.
        now += 1
        h.chain.mine(now)
        counted, spending = sums_of_events(h.logs_since(first_block), rules)
        for customer in addresses:
            for tf_id in (1, 2):
                for itype in (HARD, SOFT):
                    key = (customer, tf_id, itype)
                    on_chain = h.usage(customer, tf_id, itype)
                    assert on_chain == model.usage_view(key, now), key
                    assert (on_chain.activations, on_chain.overage_activations, on_chain.leased_seconds) == (
                        counted.get(key, (0, 0, 0))
                    ), key
            account = model.accounts[customer]
            assert h.account(customer) == AccountView(
                account.status, account.restricted, account.cap, account.spent_timeframe, account.spent,
                account.cap_currency, account.revoked_any,
            ), customer
            if account.spent_timeframe:
                assert h.spent(customer, account.spent_timeframe) == spending[(customer, account.spent_timeframe)]
        for agent in agents:
            for seat in range(AGENT_SEATS):
                record = model.records.get((agent.address, seat))
                if record is None:
                    assert h.seat(seat, agent) == SeatView(0, InstanceStatus.UNKNOWN, 0)
                    continue
                assert h.seat(seat, agent) == SeatView(record.generation, record.status, record.lease_end)
                assert h.instance(instance_id(agent.address, seat << 8 | record.generation)) == InstanceView(
                    record.customer, record.lease_end, record.timeframe, record.instance_type, record.status,
                    record.reason, record.seat,
                )
                if record.generation > 1:  # a superseded generation names nothing
                    stale = h.instance(instance_id(agent.address, seat << 8 | (record.generation - 1)))
                    assert stale == InstanceView(ZERO, 0, 0, 0, InstanceStatus.UNKNOWN, 0, 0)
    finally:
        h.chain.revert(snapshot)
