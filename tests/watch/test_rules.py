"""Rule kinds over a synthetic store, each against a plainly written model of what it should find."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from metering.audit.events import (
    ActivationGranted,
    InstanceClosedByProvider,
    InstanceDeactivated,
    LeaseContinued,
    LeaseExpired,
    LeaseRenewed,
)
from metering.audit.store import Store, StoredBlock
from metering.watch.config import parse_watch_config
from metering.watch.watcher import Watcher

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402 - bench/ is not a package


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> synthetic.SyntheticStore:
    return synthetic.build(tmp_path_factory.mktemp("rules") / "s.sqlite", 16_000)  # leases renewed, stopped, expired


def _ids(store: Store, rules: list[dict[str, object]], confirmations: int = 0) -> set[str]:
    config = parse_watch_config({"name": "t", "sinks": {"o": {"stdout": True}},
                                 "rules": rules})
    Watcher(store, config.rules, name="t", confirmations=confirmations, start_block=0, batch=333).drain()
    return {str(r[0]) for r in store.query("SELECT id FROM outbox")}


def test_quota_notifies_each_customer_once_per_threshold_crossed(
    made: synthetic.SyntheticStore, copy_store: Callable[[Path], str]
) -> None:
    db = copy_store(made.path)
    with Store(db) as store:
        grants = Counter((e.customer, e.instance_type) for e in store.events(names=[ActivationGranted.name])
                         if isinstance(e, ActivationGranted))
        included = synthetic.RULES[1].included_activations  # 10 for type 1; type 2 includes none: never fires
        expected = {f"q:{synthetic.TIMEFRAME}:{c}:1:included_activations:{p}"
                    for (c, kind), n in grants.items() if kind == 1 for p in (50, 100) if n * 100 >= included * p}
        assert expected
        found = _ids(store, [{"name": "q", "kind": "quota", "of": "included_activations", "percent": [50, 100]}])
    assert found == expected


def test_lease_expiring_finds_the_open_leases_ending_soon_and_no_closed_one(
    made: synthetic.SyntheticStore, copy_store: Callable[[Path], str]
) -> None:
    db = copy_store(made.path)
    with Store(db) as store:
        last = store.last_block
        assert last is not None
        confirmed = made.last_event_block - 50
        confirmations = last - confirmed
        now = synthetic.GENESIS + confirmed  # one block a second
        stored = store.block(confirmed)
        assert stored is not None
        assert store.remember_block(StoredBlock(confirmed, stored.hash, now))  # the watch's clock at that block
        open_leases: dict[bytes, int] = {}
        for e in store.events(to_block=confirmed):  # the model: the latest end of each lease not closed
            if isinstance(e, ActivationGranted | LeaseContinued | LeaseRenewed):
                open_leases[e.instance_id] = e.lease_end
            elif isinstance(e, InstanceDeactivated | InstanceClosedByProvider | LeaseExpired):
                open_leases.pop(e.instance_id, None)
        expected = {f"x:0x{iid.hex()}:{end}" for iid, end in open_leases.items() if now <= end < now + 120}
        assert expected
        found = _ids(store, [{"name": "x", "kind": "lease_expiring", "minutes": 2}], confirmations)
    assert found == expected


def test_a_new_rule_kind_is_one_registered_class(
    made: synthetic.SyntheticStore, copy_store: Callable[[Path], str]
) -> None:
    """How the settlement branch adds "invoice settled": a class reacting to its event, registered by name."""
    from collections.abc import Mapping, Sequence
    from typing import Any

    from metering.audit.events import LeaseExpired, MeterEvent
    from metering.watch.context import WatchContext
    from metering.watch.rules import RULE_KINDS, Notification, rule_kind

    @rule_kind("expired_test")
    class Expired:
        def __init__(self, name: str, sinks: tuple[str, ...], options: Mapping[str, Any]) -> None:
            self.name, self.sinks = name, sinks

        def on_events(self, events: Sequence[MeterEvent], ctx: WatchContext) -> list[Notification]:
            return [Notification(f"{self.name}:0x{e.tx_hash.hex()}:{e.log_index}", "lease.expired", e.block_number,
                                 None, {"customer": e.customer}) for e in events if isinstance(e, LeaseExpired)]

        def on_tick(self, ctx: WatchContext) -> list[Notification]:
            return []

    db = copy_store(made.path)
    try:
        with Store(db) as store:
            expected = len(store.events(names=[LeaseExpired.name]))
            assert expected and len(_ids(store, [{"name": "e", "kind": "expired_test"}])) == expected
    finally:
        del RULE_KINDS["expired_test"]
