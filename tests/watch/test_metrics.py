"""Metrics parsed by prometheus-client's own parser: the web view's (from the store) and the keeper's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="metrics need prometheus-client: pip install 'metering[watch]'")
pytest.importorskip("starlette", reason="the web view needs the web extra")

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from metering.audit.store import Store
from metering.contract import DenialReason

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402 - bench/ is not a package


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_serve_metrics_count_events_per_type_and_denials_per_reason_with_bounded_labels(
    tmp_path: Path, copy_store: Callable[[Path], str]
) -> None:
    from metering.web.app import WebConfig, create_app

    db = copy_store(synthetic.build(tmp_path / "s.sqlite", 3_000).path)
    with Store(db) as store:
        grants = store.count_events(names=["ActivationGranted"])
        denials = store.count_events(names=["ActivationDenied"])
        last = store.last_block
    client = TestClient(create_app(WebConfig(db=db, contract=synthetic.CONTRACT)))
    response = client.get("/metrics/")
    assert response.status_code == 200
    samples = _samples(response.text)
    assert samples[("metering_events_total", (("event", "ActivationGranted"),))] == grants
    by_reason = {dict(k[1])["reason"]: v for k, v in samples.items() if k[0] == "metering_denials_total"}
    assert sum(by_reason.values()) == denials > 0
    assert set(by_reason) <= {r.name.lower() for r in DenialReason}
    assert samples[("metering_indexed_block", ())] == last
    labels = {name for (_, labels) in samples for name, _ in labels}
    assert labels <= {"event", "reason", "state"}  # never an instance, customer or transaction


def test_keeper_metrics_count_renewals_denials_errors_and_latency() -> None:
    from metering.agent import RenewalDenied, Renewed
    from metering.agent.keeper import KeeperError
    from metering.errors import RpcUnavailableError
    from metering.watch.metrics import KeeperMetrics

    metrics = KeeperMetrics()
    iid = bytes(32)
    who = synthetic.customer_address(0)
    metrics.on_event(Renewed(iid, who, 1, 1, 10, "0x01"))  # type: ignore[arg-type]
    metrics.on_event(RenewalDenied(iid, who, 1, 1, DenialReason.CUSTOMER_SUSPENDED, None, "0x02"))  # type: ignore[arg-type]
    metrics.on_event(KeeperError(iid, RpcUnavailableError("down"), dropped=False))
    with metrics.timed("renew"):
        pass
    samples = _samples(generate_latest(metrics.registry).decode())
    assert samples[("metering_keeper_renewals_total", (("outcome", "renewed"),))] == 1
    assert samples[("metering_keeper_renewals_total", (("outcome", "denied"),))] == 1
    assert samples[("metering_agent_decisions_total", (("decision", "denied"), ("reason", "customer_suspended")))] == 1
    assert samples[("metering_keeper_errors_total", (("dropped", "no"),))] == 1
    assert samples[("metering_agent_tx_latency_seconds_count", (("operation", "renew"),))] == 1


def test_the_grafana_dashboard_queries_only_metrics_we_expose(tmp_path: Path) -> None:
    import json
    import re

    from metering.watch.metrics import DeliveryMetrics, KeeperMetrics
    from metering.web.app import WebConfig, create_app

    made = synthetic.build(tmp_path / "s.sqlite", 1_000)
    served = TestClient(create_app(WebConfig(db=made.path, contract=synthetic.CONTRACT))).get("/metrics/").text
    keeper, delivery = KeeperMetrics(), DeliveryMetrics()
    from metering.agent import RenewalDenied, Renewed
    from metering.agent.keeper import KeeperError
    from metering.errors import RpcUnavailableError

    who, iid = synthetic.customer_address(0), bytes(32)
    with keeper.timed("renew"):  # one sample of each labelled family, so their series exist
        keeper.on_event(Renewed(iid, who, 1, 1, 10, "0x01"))  # type: ignore[arg-type]
    keeper.on_event(RenewalDenied(iid, who, 1, 1, DenialReason.CUSTOMER_SUSPENDED, None, "0x02"))  # type: ignore[arg-type]
    keeper.on_event(KeeperError(iid, RpcUnavailableError("down"), dropped=True))
    delivery.observe("ops", "cap.crossed", True)
    exposed = set()
    for text in (served, generate_latest(keeper.registry).decode(), generate_latest(delivery.registry).decode()):
        for family in text_string_to_metric_families(text):
            exposed |= {s.name for s in family.samples} | {family.name}
    exposed |= {"metering_indexer_head_lag_blocks"}  # exposed only with a node (the lag needs its head)
    dashboard = json.loads((ROOT / "examples" / "grafana-dashboard.json").read_text())
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"metering_[a-z_]+", t["expr"])}
    assert queried, "no queries"
    unknown = {m for m in queried if m not in exposed and m.removesuffix("_bucket") + "_count" not in exposed}
    assert not unknown, unknown


def test_the_example_watch_rules_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import os

    from metering.watch.config import load_watch_config

    monkeypatch.setenv("OPS_WEBHOOK_SECRET", "whsec_" + base64.b64encode(os.urandom(32)).decode())
    config = load_watch_config(ROOT / "examples" / "watch.yaml")
    assert {type(r).__name__ for r in config.rules} == {
        "CapRule", "QuotaRule", "DenialRule", "LeaseExpiringRule", "InvoiceFinalRule", "AnchoredRule"}


def test_metric_counts_follow_new_events_and_a_reorg_that_drops_some(
    tmp_path: Path, copy_store: Callable[[Path], str]
) -> None:
    from prometheus_client import CollectorRegistry

    from metering.web.metrics import StoreCollector

    made = synthetic.build(tmp_path / "s.sqlite", 3_000)
    db = copy_store(made.path)
    registry = CollectorRegistry()
    registry.register(StoreCollector(db, lambda: None))

    def counted() -> tuple[float, float]:
        samples = _samples(generate_latest(registry).decode())
        grants = samples[("metering_events_total", (("event", "ActivationGranted"),))]
        denied = sum(v for k, v in samples.items() if k[0] == "metering_denials_total")
        return grants, denied

    with Store(db) as store:
        assert counted() == (store.count_events(names=["ActivationGranted"]),
                             store.count_events(names=["ActivationDenied"]))
        store.rollback_after(made.last_event_block // 2)  # a reorg drops the newer half
        assert counted() == (store.count_events(names=["ActivationGranted"]),
                             store.count_events(names=["ActivationDenied"]))


def test_an_agent_process_serves_its_keeper_metrics_on_loopback() -> None:
    import urllib.request

    from metering.watch.metrics import KeeperMetrics

    metrics, port = KeeperMetrics.serve(0)
    with metrics.timed("activate"):
        pass
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        samples = _samples(response.read().decode())
    assert samples[("metering_agent_tx_latency_seconds_count", (("operation", "activate"),))] == 1


def test_instrumenting_an_agent_times_its_sends_and_counts_its_decisions() -> None:
    from metering.agent import Denied
    from metering.watch.metrics import KeeperMetrics

    class Sender:  # stands in for an Agent: the same three methods, one denial
        def activate(self, *args: object) -> Denied:
            return Denied(bytes(32), 1, synthetic.customer_address(0), 1, 1,  # type: ignore[arg-type]
                          DenialReason.SPENDING_CAP_REACHED, "0x03")

        def renew(self, *args: object) -> None:
            return None

        def deactivate(self, *args: object) -> None:
            return None

    metrics = KeeperMetrics()
    agent = metrics.instrument(Sender())
    agent.activate("c", 1, 600)
    agent.renew(b"")
    samples = _samples(generate_latest(metrics.registry).decode())
    denied = (("decision", "denied"), ("reason", "spending_cap_reached"))
    assert samples[("metering_agent_decisions_total", denied)] == 1
    assert samples[("metering_agent_tx_latency_seconds_count", (("operation", "activate"),))] == 1
    assert samples[("metering_agent_tx_latency_seconds_count", (("operation", "renew"),))] == 1
