"""Property test: random sequences of agent operations agree with a plain Python model of the contract.

Each hypothesis example runs a random sequence of activations (single and batched, new and replayed request ids),
renewals, deactivations, expiries, suspensions and clock jumps against the contract, over three customers (one never
enrolled) and two instance types (hard and soft limits) in two adjacent timeframes with different rules, followed by
no timeframe at all. After every operation the returned decisions and the emitted events must equal what the model
predicts; after every example the on-chain counters must equal both the model's and the sums of the events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_reached
from hypothesis import strategies as st

from metering.contract import DenialReason, InstanceStatus, LimitMode
from metering.types import Rules

from .conftest import SetupTimeframe
from .helpers import HARD, SOFT, Harness, UsageView, request_id, successor_of

# ---------------------------------------------------------------------------------------------- the model

ENROLLED, SUSPENDED, NOT_ENROLLED = "enrolled", "suspended", "none"


@dataclass
class ModelInstance:
    customer: str
    instance_type: int
    timeframe: int
    status: InstanceStatus
    lease_end: int
    reason: DenialReason


@dataclass
class Model:
    """The contract's documented behaviour, written out plainly. Events are ``(name, args)`` like the decoded logs."""

    timeframes: list[tuple[int, int, int]]  # (id, start, end)
    limits: dict[tuple[int, int], tuple[int, int, LimitMode]]  # (timeframe, type) -> (maxConcurrent, maxAct, mode)
    customers: dict[str, str]
    usage: dict[tuple[str, int, int], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    instances: dict[bytes, ModelInstance] = field(default_factory=dict)
    known: list[bytes] = field(default_factory=list)  # every request id ever decided, in order

    def active(self, now: int) -> tuple[int, int]:
        for tf_id, start, end in self.timeframes:
            if start <= now < end:
                return tf_id, end
        return 0, 0

    def end_of(self, tf_id: int) -> int:
        return next(end for i, _, end in self.timeframes if i == tf_id)

    def activate(
        self, customer: str, itype: int, rid: bytes, lease: int, now: int, events: list[Any]
    ) -> tuple[bool, int]:
        if rid in self.instances:
            record = self.instances[rid]
            assert record.customer == customer, "the test only replays ids with their own customer"
            events.append(("ActivationReplayed", {
                "requestId": rid, "customer": customer, "status": record.status, "reason": record.reason,
            }))
            return record.status != InstanceStatus.DENIED, record.reason
        self.known.append(rid)
        tf_id, end = self.active(now)
        reason = DenialReason.NONE
        overage = False
        if tf_id == 0:
            reason = DenialReason.NO_ACTIVE_TIMEFRAME
        elif (tf_id, itype) not in self.limits:
            reason = DenialReason.NO_RULES_FOR_TYPE
        elif self.customers[customer] == NOT_ENROLLED:
            reason = DenialReason.CUSTOMER_NOT_ENROLLED
        elif self.customers[customer] == SUSPENDED:
            reason = DenialReason.CUSTOMER_SUSPENDED
        else:
            max_concurrent, max_activations, mode = self.limits[(tf_id, itype)]
            u = self.usage[(customer, tf_id, itype)]
            if max_concurrent and u[0] >= max_concurrent:
                reason = DenialReason.CONCURRENCY_LIMIT_REACHED
            elif max_activations and u[1] >= max_activations:
                reason = DenialReason.ACTIVATION_QUOTA_REACHED
            if reason != DenialReason.NONE and mode == LimitMode.SOFT:
                reason, overage = DenialReason.NONE, True
        if reason != DenialReason.NONE:
            self.instances[rid] = ModelInstance(customer, itype, tf_id, InstanceStatus.DENIED, 0, reason)
            events.append(("ActivationDenied", {
                "requestId": rid, "customer": customer, "instanceType": itype, "timeframe": tf_id, "reason": reason,
            }))
            return False, reason
        lease_end = min(now + lease, end)
        u = self.usage[(customer, tf_id, itype)]
        u[0] += 1
        u[1] += 1
        u[2] += int(overage)
        u[3] += lease_end - now
        self.instances[rid] = ModelInstance(customer, itype, tf_id, InstanceStatus.OPEN, lease_end, DenialReason.NONE)
        events.append(("ActivationGranted", {
            "instanceId": rid, "customer": customer, "instanceType": itype, "timeframe": tf_id,
            "startedAt": now, "leaseEnd": lease_end, "overage": overage,
        }))
        return True, DenialReason.NONE

    def _close_expired(self, rid: bytes, events: list[Any]) -> None:
        record = self.instances[rid]
        self.usage[(record.customer, record.timeframe, record.instance_type)][0] -= 1
        record.status = InstanceStatus.CLOSED
        events.append(("LeaseExpired", {
            "instanceId": rid, "customer": record.customer, "instanceType": record.instance_type,
            "timeframe": record.timeframe, "leaseEnd": record.lease_end,
        }))

    def renew(self, rid: bytes, lease: int, now: int, events: list[Any]) -> tuple[bool, int, bytes, int]:
        record = self.instances[rid]
        key = (record.customer, record.timeframe, record.instance_type)
        ids = {"instanceId": rid, "customer": record.customer, "instanceType": record.instance_type,
               "timeframe": record.timeframe}
        if now < record.lease_end:
            if self.customers[record.customer] != ENROLLED:
                events.append(("LeaseRenewalDenied", {**ids, "reason": DenialReason.CUSTOMER_SUSPENDED}))
                return False, DenialReason.CUSTOMER_SUSPENDED, rid, 0
            new_end = max(min(now + lease, self.end_of(record.timeframe)), record.lease_end)
            self.usage[key][3] += new_end - record.lease_end
            record.lease_end = new_end
            events.append(("LeaseRenewed", {**ids, "leaseEnd": new_end}))
            return True, DenialReason.NONE, rid, new_end
        self._close_expired(rid, events)
        if record.lease_end < self.end_of(record.timeframe):
            events.append(("LeaseRenewalDenied", {**ids, "reason": DenialReason.LEASE_EXPIRED}))
            return False, DenialReason.LEASE_EXPIRED, rid, 0
        successor = successor_of(rid)
        granted, reason = self.activate(record.customer, record.instance_type, successor, lease, now, events)
        return granted, reason, successor, self.instances[successor].lease_end if granted else 0

    def deactivate(self, rid: bytes, now: int, events: list[Any]) -> None:
        record = self.instances[rid]
        if now >= record.lease_end:
            self._close_expired(rid, events)
            return
        u = self.usage[(record.customer, record.timeframe, record.instance_type)]
        u[0] -= 1
        u[3] -= record.lease_end - now
        record.lease_end = now
        record.status = InstanceStatus.CLOSED
        events.append(("InstanceDeactivated", {
            "instanceId": rid, "customer": record.customer, "instanceType": record.instance_type,
            "timeframe": record.timeframe, "stoppedAt": now,
        }))

    def expire(self, ids: list[bytes], now: int, events: list[Any]) -> int:
        closed = 0
        for rid in ids:
            record = self.instances.get(rid)
            if record is not None and record.status == InstanceStatus.OPEN and now >= record.lease_end:
                self._close_expired(rid, events)
                closed += 1
        return closed

    def open_ids(self) -> list[bytes]:
        return [rid for rid in self.known if self.instances[rid].status == InstanceStatus.OPEN]


# ---------------------------------------------------------------------------------------------- counters from events


def counters_from_events(events: list[Any]) -> dict[tuple[str, int, int], UsageView]:
    """Usage rebuilt from the event log alone, as an auditor would: no contract state is read."""
    totals: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    key_of: dict[bytes, tuple[str, int, int]] = {}
    end_of: dict[bytes, int] = {}
    for event in events:
        a = event.args
        if event.name == "ActivationGranted":
            key = (a["customer"], a["timeframe"], a["instanceType"])
            key_of[a["instanceId"]], end_of[a["instanceId"]] = key, a["leaseEnd"]
            t = totals[key]
            t[0] += 1
            t[1] += 1
            t[2] += int(a["overage"])
            t[3] += a["leaseEnd"] - a["startedAt"]
        elif event.name == "LeaseRenewed":
            totals[key_of[a["instanceId"]]][3] += a["leaseEnd"] - end_of[a["instanceId"]]
            end_of[a["instanceId"]] = a["leaseEnd"]
        elif event.name == "InstanceDeactivated":
            t = totals[key_of[a["instanceId"]]]
            t[0] -= 1
            t[3] -= end_of[a["instanceId"]] - a["stoppedAt"]
        elif event.name == "LeaseExpired":
            assert a["leaseEnd"] == end_of[a["instanceId"]], "an expiry bills up to the last lease end"
            totals[key_of[a["instanceId"]]][0] -= 1
    return {key: UsageView(*t) for key, t in totals.items()}


# ---------------------------------------------------------------------------------------------- the test

LEASES = st.integers(1, 200)
CUSTOMER = st.sampled_from([0, 0, 0, 1, 1, 2])  # mostly enrolled customers; customer 2 is never enrolled
#: (customer index, type, None for a new request id or an index into the ids seen so far, lease seconds)
REQUEST = st.tuples(CUSTOMER, st.sampled_from([HARD, SOFT]), st.none() | st.none() | st.integers(0, 60), LEASES)
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 150))
ACTIVATE = st.tuples(st.just("activate"), REQUEST)
RENEW = st.tuples(st.just("renew"), st.integers(0, 60), LEASES)
# one_of picks each alternative equally often, so listing one twice doubles its weight.
OPERATION = st.one_of(
    ADVANCE,
    ADVANCE,
    ACTIVATE,
    ACTIVATE,
    ACTIVATE,
    st.tuples(st.just("batch"), st.lists(REQUEST, min_size=1, max_size=4)),
    RENEW,
    RENEW,
    st.tuples(st.just("deactivate"), st.integers(0, 60)),
    st.tuples(st.just("expire"), st.lists(st.integers(0, 60), min_size=1, max_size=4)),
    st.tuples(st.just("toggle_suspension"), st.just(1)),
)

def _chain_events(h: Harness, receipt: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, e.args) for e in h.events(receipt)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start_offset=st.integers(0, 420), operations=st.lists(OPERATION, min_size=15, max_size=40))
def test_random_operation_sequences_match_the_model_and_the_event_sums(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any, start_offset: int, operations: list[Any]
) -> None:
    if h.fn.timeframeCount().call() == 0:  # first example: build the scenario once; later ones revert to it
        start = h.chain.now() + 100
        first = setup_timeframe(start=start, length=400, rules={
            HARD: Rules(price_per_activation=1, price_per_second=1, max_concurrent=2, max_activations=3),
            SOFT: Rules(price_per_activation=1, price_per_second=1, max_concurrent=1, max_activations=2,
                         mode=LimitMode.SOFT),
        }, enter=False)
        setup_timeframe(start=first.end, length=300, rules={
            HARD: Rules(price_per_activation=2, price_per_second=2, max_concurrent=1, max_activations=3),
        }, enter=False)
        h.chain.mine(start)
    t1, t2 = h.fn.timeframe(1).call(), h.fn.timeframe(2).call()
    addresses = [c.address for c in customers[:3]]

    snapshot = h.chain.snapshot()
    first_block = h.w3.eth.block_number
    try:
        model = Model(
            timeframes=[(1, t1[0], t1[1]), (2, t2[0], t2[1])],
            limits={(1, HARD): (2, 3, LimitMode.HARD), (1, SOFT): (1, 2, LimitMode.SOFT),
                    (2, HARD): (1, 3, LimitMode.HARD)},
            customers={addresses[0]: ENROLLED, addresses[1]: ENROLLED, addresses[2]: NOT_ENROLLED},
        )
        now = h.chain.now() + start_offset  # from the first timeframe's start to past its end
        fresh = 0

        def resolve(request: Any, earlier: list[tuple[str, int, bytes, int]]) -> tuple[str, int, bytes, int]:
            """A concrete request: a fresh id, or an id seen before (with its own customer, so it replays)."""
            nonlocal fresh
            customer_index, itype, reuse, lease = request
            owners = {rid: model.instances[rid].customer for rid in model.known}
            owners.update({rid: customer for customer, _, rid, _ in earlier})
            seen = list(owners)
            if reuse is None or not seen:
                fresh += 1
                return addresses[customer_index], itype, request_id(f"model-{fresh}"), lease
            rid = seen[reuse % len(seen)]
            return owners[rid], itype, rid, lease

        for op in operations:
            kind = op[0]
            expected: list[Any] = []
            if kind == "advance":
                now += op[1]
                continue
            if kind == "activate":
                customer, itype, rid, lease = resolve(op[1], [])
                want = model.activate(customer, itype, rid, lease, now, expected)
                got, receipt = h.activate(customer, itype, rid, lease, at=now)
                assert got == want
            elif kind == "batch":
                resolved: list[tuple[str, int, bytes, int]] = []
                for request in op[1]:
                    resolved.append(resolve(request, resolved))
                wants = [model.activate(c, t, r, s, now, expected) for c, t, r, s in resolved]
                gots, receipt = h.activate_many(resolved, at=now)
                assert gots == wants
            elif kind in ("renew", "deactivate"):
                open_ids = model.open_ids()
                if not open_ids:
                    continue
                rid = open_ids[op[1] % len(open_ids)]
                if kind == "renew":
                    want_renewal = model.renew(rid, op[2], now, expected)
                    got_renewal, receipt = h.renew(rid, op[2], at=now)
                    assert got_renewal == want_renewal
                else:
                    model.deactivate(rid, now, expected)
                    receipt = h.deactivate(rid, at=now)
            elif kind == "expire":
                ids = [model.known[i % len(model.known)] if model.known else request_id("none") for i in op[1]]
                want_closed = model.expire(ids, now, expected)
                got_closed, receipt = h.expire(ids, at=now)
                assert got_closed == want_closed
            else:  # toggle_suspension
                address = addresses[op[1]]
                if model.customers[address] == ENROLLED:
                    model.customers[address] = SUSPENDED
                    receipt = h.send(h.fn.suspendCustomer(address), h.admin, at=now)
                    expected.append(("CustomerSuspended", {"customer": address}))
                else:
                    model.customers[address] = ENROLLED
                    receipt = h.send(h.fn.enrollCustomer(address), h.admin, at=now)
                    expected.append(("CustomerEnrolled", {"customer": address}))
            assert _chain_events(h, receipt) == expected, f"after {op}"
            for name, args in expected:  # shown by --hypothesis-show-statistics: what the examples reached
                label = f"{name}:{DenialReason(args['reason']).name}" if "reason" in args else name
                if name == "ActivationGranted" and args["overage"]:
                    label += ":overage"
                if kind == "renew" and name in ("ActivationGranted", "ActivationDenied"):
                    label += ":continuation"
                note_reached(label)

        # Counters: on chain == model == sums of the events.
        from_events = counters_from_events(h.logs_since(first_block))
        for customer in addresses:
            for tf_id in (1, 2):
                for itype in (HARD, SOFT):
                    on_chain = h.usage(customer, tf_id, itype)
                    assert on_chain == UsageView(*model.usage[(customer, tf_id, itype)]), (customer, tf_id, itype)
                    assert on_chain == from_events.get((customer, tf_id, itype), UsageView(0, 0, 0, 0))
        for rid in model.known:
            record, want_record = h.instance(rid), model.instances[rid]
            assert (record.customer, record.status, record.lease_end, record.timeframe, record.reason) == (
                want_record.customer, want_record.status, want_record.lease_end, want_record.timeframe,
                want_record.reason,
            )
    finally:
        h.chain.revert(snapshot)
