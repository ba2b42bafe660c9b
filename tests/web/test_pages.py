"""The web view's pages, rendered by the app in-process: what each page is given matches the chain and the invoices."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from metering.audit.invoice import Charge, invoice_hash, to_json
from metering.types import rules_hash
from metering.web.app import WebConfig, create_app

from .conftest import World


@pytest.fixture(scope="module")
def client(world: World, type_names: dict[int, str]) -> TestClient:
    app = create_app(WebConfig(db=world.db, contract=world.contract, w3=world.w3, type_names=type_names))
    return TestClient(app)


def test_the_timeframes_page_shows_each_rules_hash_as_the_contract_computes_it(client: TestClient) -> None:
    response = client.get("/timeframes")

    assert response.status_code == 200
    rows = response.context["timeframes"]
    assert [r.timeframe.id for r in rows] == [1, 2]
    for row in rows:
        assert {r.instance_type for r in row.rules} == {1, 2}
        for r in row.rules:
            assert r.rules_hash == "0x" + rules_hash(row.timeframe.id, r.instance_type, r.rules).hex()
            assert r.rules_hash in response.text
    assert "0.0004 EUR" in response.text and "0.12 EUR per 1 h" in response.text


def test_the_customer_page_bills_what_the_final_invoice_bills(client: TestClient, world: World) -> None:
    invoice = world.invoice("globex")

    response = client.get(f"/customers/{invoice.customer}?timeframe=1")

    assert response.status_code == 200
    usage = response.context["usage"]
    assert usage.total[-1] == invoice.total
    for t in usage.types:
        seconds = next(
            ln for ln in invoice.lines if ln.instance_type == t.instance_type and ln.charge == Charge.SECONDS
        )
        activations = next(
            ln for ln in invoice.lines if ln.instance_type == t.instance_type and ln.charge == Charge.ACTIVATIONS
        )
        assert t.seconds[-1] == seconds.quantity
        assert t.activations[-1] == activations.quantity
        assert t.running[-1] == 0  # the timeframe is over: nothing runs in it any more


def test_the_customer_page_marks_denials_with_their_reason_and_time(client: TestClient, world: World) -> None:
    globex = world.invoice("globex").customer

    response = client.get(f"/customers/{globex}?timeframe=1")

    reasons = {d.reason for d in response.context["usage"].denials}
    assert "SPENDING_CAP_REACHED" in reasons
    assert all(d.time is not None for d in response.context["usage"].denials)
    charts = json.loads(response.context["charts_json"])
    assert charts["amount"]["cap"] == 200  # globex capped itself at EUR 2.00
    assert max(charts["amount"]["total"]) <= 200


def test_the_invoice_page_shows_the_final_invoice_verified(client: TestClient, world: World) -> None:
    invoice = world.invoice("acme")

    response = client.get(f"/invoices/{invoice.customer}/1")

    assert response.status_code == 200
    shown = response.context["invoice"]
    assert to_json(shown) == to_json(invoice)
    assert response.context["hash"] == "0x" + invoice_hash(invoice).hex()
    report = response.context["report"]
    assert report.ok and report.anchor.name == "MATCHES"
    assert all(response.context["checks"].values())
    assert response.context["hash"] in response.text


def test_a_running_timeframe_gets_a_statement_not_a_final_invoice(client: TestClient, world: World) -> None:
    acme = world.invoice("acme").customer

    response = client.get(f"/invoices/{acme}/2")

    assert response.status_code == 200
    assert response.context["invoice"].final is False
    assert "running statement, not final" in response.text


def test_dropping_the_honest_invoice_verifies_and_a_tampered_one_is_flagged(client: TestClient, world: World) -> None:
    honest = client.post("/api/verify", content=world.result.invoices["acme"].read_bytes())
    tampered_path = world.out / "invoice-acme-TAMPERED.json"
    tampered = client.post("/api/verify", content=tampered_path.read_bytes())

    assert honest.json()["ok"] is True
    body = tampered.json()
    assert body["ok"] is False
    wheres = {d["where"] for d in body["differences"]}
    assert "total" in wheres and "anchor.hash" in wheres


def test_garbage_dropped_on_the_page_is_answered_with_an_error_not_a_crash(client: TestClient) -> None:
    response = client.post("/api/verify", content=b"{not json")

    assert response.status_code == 200
    assert response.json()["ok"] is False and response.json()["error"]


def test_the_event_stream_filters_by_customer_type_and_block(client: TestClient, world: World) -> None:
    acme = world.invoice("acme").customer

    everything = client.get("/events")
    mine = client.get(f"/events?customer={acme}&instance_type=1&timeframe=1")

    assert everything.context["total"] > mine.context["total"] > 0
    rows = mine.context["events"]
    assert rows and all(r["customer"] == acme and r["instance_type"] == 1 for r in rows)
    first = rows[-1]["block"]
    ranged = client.get(f"/events?from_block={first}&to_block={first}")
    assert all(r["block"] == first for r in ranged.context["events"])


@pytest.mark.parametrize("path", ["/customers/not-an-address", "/events?from_block=x", "/events?customer=0x12"])
def test_a_malformed_url_gets_400_with_the_reason(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 400
    assert "Traceback" not in response.text


def test_pages_load_nothing_from_outside_the_machine(client: TestClient, world: World) -> None:
    acme = world.invoice("acme").customer
    for path in ("/timeframes", f"/customers/{acme}?timeframe=1", f"/invoices/{acme}/1", "/events"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text
        assert 'src="/static/' in text


def test_the_static_chart_library_is_served_from_the_package(client: TestClient) -> None:
    response = client.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js")

    assert response.status_code == 200 and "uPlot" in response.text


def test_a_page_is_recomputed_only_when_the_indexed_head_moves(client: TestClient) -> None:
    pages = client.app.state.pages  # type: ignore[attr-defined]
    pages.clear()
    first = client.get("/events").text
    misses = pages.misses
    assert client.get("/events").text == first
    assert pages.misses == misses and pages.hits >= 1


def test_customer_lists_are_paged_so_thousands_of_customers_stay_one_small_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = client.get("/timeframes").context["timeframes"][0].customers
    assert len(everyone) >= 2
    monkeypatch.setattr("metering.web.app.SHOWN_CUSTOMERS", 1)
    monkeypatch.setattr("metering.web.app.CUSTOMERS_PAGE_SIZE", 1)
    client.app.state.pages.clear()  # type: ignore[attr-defined]  # pages kept from before the sizes changed

    listed = client.get("/timeframes").text
    assert everyone[0] in listed and everyone[1] not in listed
    assert f'href="/customers?timeframe=1">all {len(everyone)}</a>' in listed

    second = client.get("/customers?timeframe=1&page=1")
    assert [row.timeframe.id for row in second.context["timeframes"]] == [1]
    assert everyone[1] in second.text and everyone[0] not in second.text
    assert "/customers?timeframe=1&amp;page=0" in second.text  # previous
