"""Property: the invoice equals an independent recomputation from a plain model of the contract's counters.

The model does not look at events at all: it simulates the contract (grants, renewals, deactivations, expiries,
denials, replays) and keeps the counters the way ``Meter.sol`` does (``leasedSeconds`` grows by each lease and
shrinks by the unused rest at deactivation). The invoice is computed from the events the simulation emits.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.contract import LimitMode
from metering.invoice import compute_invoice
from metering.types import Rules, Timeframe

from ._builders import CONTRACT, CUSTOMER, OTHER, History

TF = Timeframe(id=3, start=10_000, end=12_000, currency="USDC")

rules_strategy = st.builds(
    Rules,
    price_per_activation=st.integers(0, 2**128 - 1),
    price_per_second=st.integers(0, 10**30),
    included_activations=st.integers(0, 5),
    included_seconds=st.integers(0, 3_000),
    max_concurrent=st.integers(0, 3),
    max_activations=st.integers(0, 6),
    mode=st.sampled_from(list(LimitMode)),
)

op_strategy = st.tuples(
    st.sampled_from(["grant", "renew", "deactivate", "expire", "replay", "wait", "other"]),
    st.sampled_from([1, 2]),
    st.integers(1, 900),  # lease seconds or wait
    st.integers(0, 50),  # which instance
)


def plain_line(rules: Rules, activations: int, overage: int, seconds: int) -> tuple[int, ...]:
    """The bill of one type, written as plainly as possible."""
    billable_activations = activations - rules.included_activations
    if billable_activations < 0:
        billable_activations = 0
    billable_seconds = seconds - rules.included_seconds
    if billable_seconds < 0:
        billable_seconds = 0
    activation_amount = billable_activations * rules.price_per_activation
    seconds_amount = billable_seconds * rules.price_per_second
    return (activations, overage, billable_activations, activation_amount, seconds, billable_seconds,
            seconds_amount, activation_amount + seconds_amount)


@settings(max_examples=150, deadline=None)
@given(rules1=rules_strategy, rules2=rules_strategy, ops=st.lists(op_strategy, max_size=60))
def test_invoice_equals_a_plain_recomputation_of_the_contracts_counters(
    rules1: Rules, rules2: Rules, ops: list[tuple[str, int, int, int]]
) -> None:
    rules = {1: rules1, 2: rules2}
    history = History(timeframe=TF.id)
    now = TF.start
    # The contract's view: counters per type, and each instance's (type, lease end, open?).
    active = {1: 0, 2: 0}
    activations = {1: 0, 2: 0}
    overage = {1: 0, 2: 0}
    leased = {1: 0, 2: 0}
    instances: dict[str, list[int]] = {}  # name -> [type, lease_end, open(1/0)]
    counter = 0
    for kind_of_op, kind, amount, pick in ops:
        names = sorted(instances)
        chosen = names[pick % len(names)] if names else None
        if kind_of_op == "wait":
            now = min(now + amount, TF.end + 100)
        elif kind_of_op == "grant" and now < TF.end:
            counter += 1
            name = f"i{counter}"
            r = rules[kind]
            over_concurrency = r.max_concurrent != 0 and active[kind] >= r.max_concurrent
            over_quota = r.max_activations != 0 and activations[kind] >= r.max_activations
            if (over_concurrency or over_quota) and r.mode == LimitMode.HARD:
                history.deny(name, kind)
                instances[name] = [kind, 0, 0]
                continue
            lease_end = min(now + amount, TF.end)
            history.grant(name, kind, now, lease_end, overage=over_concurrency or over_quota)
            active[kind] += 1
            activations[kind] += 1
            overage[kind] += int(over_concurrency or over_quota)
            leased[kind] += lease_end - now
            instances[name] = [kind, lease_end, 1]
        elif kind_of_op == "renew" and chosen and instances[chosen][2]:
            kind, lease_end, _ = instances[chosen]
            if now < lease_end:
                new_end = max(min(now + amount, TF.end), lease_end)
                history.renew(chosen, kind, new_end)
                leased[kind] += new_end - lease_end
                instances[chosen][1] = new_end
            else:
                history.expire(chosen, kind, lease_end)
                history.deny_renewal(chosen, kind)
                active[kind] -= 1
                instances[chosen][2] = 0
        elif kind_of_op in ("deactivate", "expire") and chosen and instances[chosen][2]:
            kind, lease_end, _ = instances[chosen]
            if now >= lease_end:
                history.expire(chosen, kind, lease_end)
            elif kind_of_op == "deactivate":
                history.deactivate(chosen, kind, now)
                leased[kind] -= lease_end - now
            else:
                continue  # expireLeases skips a lease that has not run out
            active[kind] -= 1
            instances[chosen][2] = 0
        elif kind_of_op == "replay" and chosen:
            history.replay(chosen)
        elif kind_of_op == "other" and now < TF.end:
            counter += 1
            history.grant(f"o{counter}", kind, now, min(now + amount, TF.end), customer=OTHER)

    invoice = compute_invoice(
        CUSTOMER, TF, rules, history.events, chain_id=1, contract=CONTRACT, from_block=0, to_block=10**6,
        as_of=now,
    )
    for kind in (1, 2):
        line = invoice.line(kind)
        assert (
            line.activations, line.overage_activations, line.billable_activations, line.activation_amount,
            line.seconds, line.billable_seconds, line.seconds_amount, line.total,
        ) == plain_line(rules[kind], activations[kind], overage[kind], leased[kind])
    assert invoice.total == sum(plain_line(rules[k], activations[k], overage[k], leased[k])[-1] for k in (1, 2))
    assert invoice.final == (now >= TF.end)
