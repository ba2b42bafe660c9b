"""The web view's pages on a history with many customers and events, on both backends: each page reads a bounded
part of the store (a window of customers and their count, events counted up to a bound), never the whole history.

The adversary is size: at 10,000,000 events and 100,000 customers a page that counted every event or listed every
customer took seconds on PostgreSQL; and a URL's page number, which anyone may set to any integer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _postgres import PostgresServer
from starlette.testclient import TestClient

from metering.audit.store import Store
from metering.web import app as web_app
from metering.web import views
from metering.web.app import WebConfig, create_app
from metering.web.data import CustomerWindow, timeframe_rows

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402 - bench/ is not a package

EVENTS = 3_000  # 30 customers


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("large") / "events.sqlite")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_url()
    synthetic.build(url, EVENTS)
    yield url


@pytest.fixture
def client(history: str) -> TestClient:
    return TestClient(create_app(WebConfig(db=history, contract=synthetic.CONTRACT)))


def test_counting_events_stops_at_its_bound_and_is_exact_below_it(history: str) -> None:
    with Store(history) as store:
        everything = store.count_events()
        assert everything >= EVENTS - 10
        assert store.count_events(at_most=100) == 100
        assert store.count_events(at_most=everything + 1) == everything
        assert store.count_events(at_most=0) == 0
        assert store.count_events(at_most=1 << 80) == everything  # a bound past 64 bits is clamped, not an error


def test_the_event_stream_says_at_least_beyond_its_counting_bound(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "COUNT_AHEAD", 100)

    response = client.get("/events")

    total = response.context["total"]
    assert total == web_app.PAGE_SIZE + 100 and not total.exact
    assert f"at least {web_app.PAGE_SIZE + 100} matching" in response.text
    assert "page=1" in response.text  # the older page is still linked
    typical = synthetic.customer_address(1)
    mine = client.get(f"/events?customer={typical}&timeframe={synthetic.TIMEFRAME}").context["total"]
    with Store(client.app.state.config.db) as store:  # type: ignore[attr-defined]
        assert mine.exact and mine == store.count_events(customer=typical, timeframe=synthetic.TIMEFRAME)


def test_customer_pages_read_a_window_and_the_count_not_every_customer(
    client: TestClient, history: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(history) as store:
        everyone = store.customers(synthetic.TIMEFRAME)
        assert store.customer_count(synthetic.TIMEFRAME) == len(everyone) == EVENTS // 100
    monkeypatch.setattr(web_app, "SHOWN_CUSTOMERS", 3)
    monkeypatch.setattr(web_app, "CUSTOMERS_PAGE_SIZE", 7)

    shown = client.get("/timeframes").context["timeframes"][0].customers
    assert isinstance(shown, CustomerWindow) and shown.loaded == tuple(everyone[:3]) and len(shown) == len(everyone)
    paged = client.get(f"/customers?timeframe={synthetic.TIMEFRAME}&page=2")
    window = paged.context["timeframes"][0].customers
    assert window.loaded == tuple(everyone[14:21]) and len(window) == len(everyone)
    assert everyone[14] in paged.text and everyone[13] not in paged.text
    last = client.get(f"/customers?timeframe={synthetic.TIMEFRAME}&page=4").context["timeframes"][0].customers
    assert last.loaded == tuple(everyone[28:]) and len(last) == len(everyone)  # a short page needs no count


@pytest.mark.parametrize("page", ["100", str(10**30)])
def test_a_page_past_the_end_is_empty_whatever_its_number(client: TestClient, page: str) -> None:
    customers = client.get(f"/customers?timeframe={synthetic.TIMEFRAME}&page={page}")
    events = client.get(f"/events?page={page}")

    assert customers.status_code == events.status_code == 200
    assert "no activity" in customers.text and events.context["events"] == []


def test_a_window_refuses_customers_it_did_not_load(history: str) -> None:
    with Store(history) as store:
        window = timeframe_rows(store, customers=slice(5, 10))[0].customers
        everyone = store.customers(synthetic.TIMEFRAME)
    assert window[5:10] == tuple(everyone[5:10]) and window[7] == everyone[7] and window[40:50] == ()
    for outside in (slice(0, 10), slice(5, 11)):
        with pytest.raises(IndexError, match="not loaded"):
            window[outside]
    with pytest.raises(IndexError, match="not loaded"):
        window[4]
