"""Properties of invoices over random histories.

1. The invoice equals an independent recomputation from a plain model of the contract's counters. The model does
   not look at events: it simulates the contract (grants, continuations, renewals, stops by agent or provider,
   expiries, denials, replays) and keeps the counters the way ``Meter.sol`` does (``leasedSeconds`` grows by each
   lease and shrinks by the unused rest at a stop). The invoice is computed from the events the simulation emits.
2. The canonical final invoice is the same document whoever computes it and whenever: from the events in any
   order, with any later events appended (expiries nobody had sent yet, other customers, the next timeframe), and
   with the block range fixed by the timeframe rather than by how far the computing party indexed.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.audit.events import ActivationGranted, LeaseContinued, LeaseRenewed, MeterEvent
from metering.audit.invoice import Charge, compute_invoice, to_canonical_json
from metering.contract import LimitMode
from metering.money import PRICE_SCALE
from metering.types import Rules, Timeframe

from ._builders import CONTRACT, CUSTOMER, OTHER, History

TF = Timeframe(id=3, start=10_000, end=12_000, currency="USD")

rules_strategy = st.builds(
    Rules,
    price_per_activation=st.integers(0, 2**48 - 1),
    price_per_time_unit=st.integers(0, 2**48 - 1),
    time_unit_seconds=st.sampled_from([1, 60, 3_600, 7]),
    included_activations=st.integers(0, 5),
    included_seconds=st.integers(0, 3_000),
    max_concurrent=st.integers(0, 3),
    max_activations=st.integers(0, 6),
    mode=st.sampled_from(list(LimitMode)),
    price_per_continuation=st.integers(0, 2**48 - 1),
)

op_strategy = st.tuples(
    st.sampled_from(["grant", "continue", "renew", "deactivate", "close", "expire", "replay", "wait", "other"]),
    st.sampled_from([1, 2]),
    st.integers(1, 900),  # lease seconds or wait
    st.integers(0, 50),  # which instance
)


def plain_amount(billable: int, price: int, per: int) -> int:
    """billable x price / per micro-units as an exact fraction of the minor unit, rounded down."""
    return math.floor(Fraction(billable * price, per) / PRICE_SCALE)


def simulate(
    rules: dict[int, Rules], ops: list[tuple[str, int, int, int]]
) -> tuple[History, dict[str, dict[int, int]], int]:
    """Run ``ops`` against a plain model of the contract; returns the events and the model's counters."""
    history = History(timeframe=TF.id)
    now = TF.start
    counters: dict[str, dict[int, int]] = {
        name: {1: 0, 2: 0} for name in ("active", "activations", "overage", "continuations", "leased")
    }
    instances: dict[str, list[int]] = {}  # name -> [type, lease end, open (1/0)]
    counter = 0
    for kind_of_op, kind, amount, pick in ops:
        names = sorted(instances)
        chosen = names[pick % len(names)] if names else None
        r = rules[kind]
        if kind_of_op == "wait":
            now = min(now + amount, TF.end + 100)
        elif kind_of_op in ("grant", "continue") and now < TF.end:
            counter += 1
            name = f"i{counter}"
            carried = kind_of_op == "continue"
            over_concurrency = r.max_concurrent != 0 and counters["active"][kind] >= r.max_concurrent
            over_quota = not carried and r.max_activations != 0 and counters["activations"][kind] >= r.max_activations
            if (over_concurrency or over_quota) and r.mode == LimitMode.HARD:
                history.deny(name, kind)
                instances[name] = [kind, 0, 0]
                continue
            lease_end = min(now + amount, TF.end)
            started = TF.start if carried else now
            if carried:
                history.cont(name, kind, started, lease_end, overage=over_concurrency)
                counters["continuations"][kind] += 1
            else:
                history.grant(name, kind, started, lease_end, overage=over_concurrency or over_quota)
                counters["activations"][kind] += 1
                counters["overage"][kind] += int(over_concurrency or over_quota)
            counters["active"][kind] += 1
            counters["leased"][kind] += lease_end - started
            instances[name] = [kind, lease_end, 1]
        elif kind_of_op == "renew" and chosen and instances[chosen][2]:
            kind, lease_end, _ = instances[chosen]
            if now < lease_end:
                new_end = max(min(now + amount, TF.end), lease_end)
                history.renew(chosen, kind, new_end)
                counters["leased"][kind] += new_end - lease_end
                instances[chosen][1] = new_end
            else:
                history.expire(chosen, kind, lease_end)
                history.deny_renewal(chosen, kind)
                counters["active"][kind] -= 1
                instances[chosen][2] = 0
        elif kind_of_op in ("deactivate", "close", "expire") and chosen and instances[chosen][2]:
            kind, lease_end, _ = instances[chosen]
            if now >= lease_end:
                history.expire(chosen, kind, lease_end)
            elif kind_of_op == "expire":
                continue  # expireLeases skips a lease that has not run out
            else:
                getattr(history, kind_of_op)(chosen, kind, now)
                counters["leased"][kind] -= lease_end - now
            counters["active"][kind] -= 1
            instances[chosen][2] = 0
        elif kind_of_op == "replay" and chosen:
            history.replay(chosen)
        elif kind_of_op == "other" and now < TF.end:
            counter += 1
            history.grant(f"o{counter}", kind, now, min(now + amount, TF.end), customer=OTHER)
    return history, counters, now


@settings(max_examples=150, deadline=None)
@given(rules1=rules_strategy, rules2=rules_strategy, ops=st.lists(op_strategy, max_size=60))
def test_the_final_invoice_equals_a_plain_recomputation_of_the_contracts_counters(
    rules1: Rules, rules2: Rules, ops: list[tuple[str, int, int, int]]
) -> None:
    rules = {1: rules1, 2: rules2}
    history, model, _now = simulate(rules, ops)
    invoice = compute_invoice(CUSTOMER, TF, rules, history.events, chain_id=1, contract=CONTRACT, from_block=0,
                              to_block=10**6)
    total = 0
    for kind in (1, 2):
        r = rules[kind]
        starts, carried, seconds = (invoice.line(kind, c) for c in Charge)
        assert (starts.quantity, starts.overage) == (model["activations"][kind], model["overage"][kind])
        assert carried.quantity == model["continuations"][kind]
        assert seconds.quantity == model["leased"][kind]
        billable_starts = max(0, model["activations"][kind] - r.included_activations)
        billable_seconds = max(0, model["leased"][kind] - r.included_seconds)
        expected = (
            plain_amount(billable_starts, r.price_per_activation, 1),
            plain_amount(model["continuations"][kind], r.price_per_continuation, 1),
            plain_amount(billable_seconds, r.price_per_time_unit, r.time_unit_seconds),
        )
        assert (starts.amount, carried.amount, seconds.amount) == expected
        # never above what the contract's spending cap counts (each charge rounded up, in micro-units)
        committed_micro = (billable_starts * r.price_per_activation
                           + model["continuations"][kind] * r.price_per_continuation
                           + -(-billable_seconds * r.price_per_time_unit // r.time_unit_seconds))
        assert sum(expected) * PRICE_SCALE <= committed_micro
        total += sum(expected)
    assert invoice.total == total
    assert invoice.final


@settings(max_examples=100, deadline=None)
@given(
    rules1=rules_strategy,
    ops=st.lists(op_strategy, max_size=40),
    later=st.lists(st.sampled_from(["expire", "other", "next"]), max_size=6),
    seed=st.randoms(use_true_random=False),
)
def test_the_final_invoice_is_the_same_whoever_computes_it_and_whenever(
    rules1: Rules, ops: list[tuple[str, int, int, int]], later: list[str], seed: random.Random
) -> None:
    rules = {1: rules1, 2: rules1}
    history, _model, _now = simulate(rules, ops)
    end_block = history.block + 1  # the first block at or after the timeframe's end
    history.block = end_block
    # after the end: late expiries of leases already billed to their end, other customers, the next timeframe
    opened = [e for e in history.events if isinstance(e, ActivationGranted | LeaseContinued | LeaseRenewed)]
    for step in later:
        if step == "expire" and opened:
            event = opened[len(history.events) % len(opened)]
            history.expire_late(event)
        elif step == "other":
            history.grant("late-other", 1, TF.end + 5, TF.end + 50, customer=OTHER, timeframe=TF.id + 1)
        else:
            history.grant("next", 1, TF.end + 5, TF.end + 50, timeframe=TF.id + 1)

    def canonical(events: list[MeterEvent]) -> bytes:
        invoice = compute_invoice(CUSTOMER, TF, rules, events, chain_id=1, contract=CONTRACT, from_block=0,
                                  to_block=end_block)
        return to_canonical_json(invoice)

    at_the_end = [e for e in history.events if e.block_number <= end_block]
    shuffled = list(history.events)
    seed.shuffle(shuffled)
    assert canonical(at_the_end) == canonical(history.events) == canonical(shuffled)
