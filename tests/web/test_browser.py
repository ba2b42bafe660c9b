"""The web view in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

Each page is loaded from a real server (uvicorn on a free loopback port) over the demo's history; the numbers the
page shows are checked against the invoice JSON, a tampered invoice dropped on the page is flagged, and every page
is photographed into ``test-artifacts/screenshots/`` (ignored by git: running the tests leaves the tree clean).
The README's copies in ``docs/`` are refreshed from there only on purpose, by ``./run screenshots``.
Nothing downloads a browser: without Debian's chromium and chromium-driver the tests skip and say how to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from metering.audit.invoice import Charge
from metering.money import format_minor

from .conftest import CHROMEDRIVER, CHROMIUM, World, chromium, serving

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="no Chromium: install Debian's browser and driver with "
    "`sudo apt-get update && sudo apt-get install -y chromium chromium-driver` (see README)",
)
pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency: ./run setup")


@pytest.fixture(scope="module")
def server(world: World, type_names: dict[int, str]) -> Iterator[str]:
    from metering.web.app import WebConfig, create_app

    app = create_app(WebConfig(db=world.db, contract=world.contract, w3=world.w3, type_names=type_names))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with chromium(tmp_path_factory.mktemp("chromium-profile"), "1400,1800") as driver:
        yield driver


def _shot(driver: object, name: str) -> None:
    """A picture of the page into the ignored ``test-artifacts/screenshots/`` (``./run screenshots`` copies the
    README's, ``docs/screenshot-NAME.png``, from there)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def _text(driver: object, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)  # type: ignore[attr-defined]


def _wait(driver: object, css: str, timeout: float = 15) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_the_timeframes_page_lists_both_days_with_their_rules(browser: object, server: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/timeframes")  # type: ignore[attr-defined]

    cards = browser.find_elements(By.CSS_SELECTOR, "section.card")  # type: ignore[attr-defined]
    assert len(cards) == 2
    assert "0.12 EUR per 1 h" in cards[0].text and "0.0004 EUR" in cards[0].text
    _shot(browser, "timeframes")


def test_the_customer_page_draws_charts_and_shows_the_invoiced_total(
    browser: object, server: str, world: World
) -> None:
    from selenium.webdriver.common.by import By

    invoice = world.invoice("globex")
    browser.get(f"{server}/customers/{invoice.customer}?timeframe=1")  # type: ignore[attr-defined]
    _wait(browser, "#chart-amount canvas")

    assert _text(browser, "#total-so-far") == f"{format_minor(invoice.total, 'EUR')} EUR"
    canvases = browser.find_elements(By.CSS_SELECTOR, ".chart canvas")  # type: ignore[attr-defined]
    assert len(canvases) == 1 + 3 * 2  # the amount, and running/seconds/activations per type
    assert "SPENDING_CAP_REACHED" in _text(browser, "table.denials")
    _shot(browser, "customer")


def test_the_invoice_page_shows_every_line_of_the_invoice_json(browser: object, server: str, world: World) -> None:
    from selenium.webdriver.common.by import By

    invoice = world.invoice("acme")
    browser.get(f"{server}/invoices/{invoice.customer}/1")  # type: ignore[attr-defined]

    rows = browser.find_elements(By.CSS_SELECTOR, "table.lines tbody tr")  # type: ignore[attr-defined]
    assert len(rows) == len(invoice.lines)
    for row, line in zip(rows, invoice.lines, strict=True):
        assert row.get_attribute("data-charge") == str(line.charge)
        assert int(str(row.get_attribute("data-amount"))) == line.amount
        assert f"{format_minor(line.amount, 'EUR')} EUR" in row.text
    assert int(str(browser.find_element(By.ID, "total").get_attribute("data-total"))) == invoice.total  # type: ignore[attr-defined]
    assert "✔" not in _text(browser, "#verification h2")
    checks = browser.find_elements(By.CSS_SELECTOR, "#verification li.check.ok")  # type: ignore[attr-defined]
    assert len(checks) == 3
    seconds = next(ln for ln in invoice.lines if ln.charge == Charge.SECONDS and ln.amount)
    assert Decimal(format_minor(seconds.amount, "EUR")) > 0
    _shot(browser, "invoice")


def test_a_tampered_invoice_dropped_on_the_page_is_flagged(browser: object, server: str, world: World) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/timeframes")  # type: ignore[attr-defined]
    upload = browser.find_element(By.ID, "drop-file")  # type: ignore[attr-defined]
    browser.execute_script("arguments[0].hidden = false;", upload)  # type: ignore[attr-defined]

    upload.send_keys(str(world.out / "invoice-acme-TAMPERED.json"))
    _wait(browser, "#drop-result .not-verified")

    result = _text(browser, "#drop-result")
    assert "NOT verified" in result and "total" in result
    _shot(browser, "tampered-invoice-flagged")

    browser.get(f"{server}/timeframes")  # type: ignore[attr-defined]
    upload = browser.find_element(By.ID, "drop-file")  # type: ignore[attr-defined]
    browser.execute_script("arguments[0].hidden = false;", upload)  # type: ignore[attr-defined]
    upload.send_keys(str(world.result.invoices["acme"]))
    _wait(browser, "#drop-result .verified")
    assert "verified" in _text(browser, "#drop-result")


def test_the_event_stream_page_filters(browser: object, server: str, world: World) -> None:
    from selenium.webdriver.common.by import By

    acme = world.invoice("acme").customer
    browser.get(f"{server}/events?customer={acme}&event=ActivationDenied")  # type: ignore[attr-defined]

    rows = browser.find_elements(By.CSS_SELECTOR, "tr.event")  # type: ignore[attr-defined]
    assert rows and all(r.get_attribute("data-event") == "ActivationDenied" for r in rows)
    _shot(browser, "events")
