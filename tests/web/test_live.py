"""Live pages in Chromium: a new event shows up without a reload (0.25 s after it was mined on a quiet machine; the
test bounds the wait at 10 s, a loaded machine is slower); and the view holds up
at a phone's 390 px (no sideways scrolling of the page, navigation on screen, tables scroll in their cards)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from tests.conftest import Actors, transact

from .conftest import CHROMEDRIVER, CHROMIUM, World, chromium, serving

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="no Chromium: sudo apt-get install -y chromium chromium-driver (see README)",
)
pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency: ./run setup")
pytest.importorskip("sse_starlette", reason="live pages need sse-starlette: pip install 'metering[web]'")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-live"), "1400,1000") as driver:
        yield driver


def _wait_for(driver: Any, script: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return True
        time.sleep(0.02)
    return False


def test_a_new_event_appears_on_the_open_events_page_within_2_s_of_being_mined(
    browser: Any, meter: Contract, w3: Web3, actors: Actors, tmp_path: Path
) -> None:
    from metering.audit.indexer import Indexer
    from metering.audit.store import Store
    from metering.web.app import WebConfig, create_app
    from metering.web.sync import BackgroundSync

    db = tmp_path / "live.sqlite"
    # Indexed from block 0 rather than from the deployment block BackgroundSync would find by bisecting eth_getCode
    # over old blocks: anvil may drop old blocks' states on an evm_revert under load (foundry-rs/foundry#4843; seen
    # here as "block height is 27 but requested was 0"), and the session chain's revert is what isolates this test.
    with Store(db, chain_id=int(w3.eth.chain_id), contract=meter.address) as store:
        Indexer(w3, meter.address, store, start_block=0).sync()
    sync = BackgroundSync(w3, meter.address, db, interval=0.1)
    sync.sync_once()
    sync.start()
    try:
        with serving(create_app(WebConfig(db=db, contract=meter.address, w3=w3))) as url:
            browser.get(url + "/events")
            assert _wait_for(browser, "return document.getElementById('live').classList.contains('on')", 10)
            browser.execute_script("window.__same_page = true")  # gone if the page reloaded
            customer = actors.customers[3].address
            receipt = transact(w3, meter.functions.enrollCustomer(customer), actors.admin)
            mined = time.monotonic()
            seen = _wait_for(
                browser, "return [...document.querySelectorAll('tr.event')].some(r => "
                f"r.dataset.event === 'CustomerEnrolled' && r.textContent.includes('{receipt['blockNumber']}'))",
                10,
            )
            # Liveness, not speed: a timed bound here would fail on a loaded machine (targets go in bench/). On a
            # quiet one the event shows up in a few tenths of a second (the sync polls every 0.1 s).
            took = time.monotonic() - mined
            assert seen, "the new event never showed up"
            print(f"\nthe new event showed up {took:.2f} s after it was mined")
            assert browser.execute_script("return window.__same_page === true"), "the page reloaded"
            # The timeframes page follows the indexed block the same way.
            browser.get(url + "/timeframes")
            assert _wait_for(browser, "return document.getElementById('live').classList.contains('on')", 10)
            before = w3.eth.block_number
            transact(w3, meter.functions.enrollCustomer(actors.customers[4].address), actors.admin)
            assert _wait_for(browser, f"return document.body.textContent.includes('Indexed up to block {before + 1}')",
                             10)
            # The stream drops (server gone): the marker says so; the content stays.
    finally:
        sync.stop()
    assert _wait_for(browser, "return document.getElementById('live').classList.contains('off')", 10)
    assert browser.execute_script("return document.getElementById('content').textContent.includes('Indexed up to')")


@pytest.fixture(scope="module")
def demo_server(world: World, type_names: dict[int, str]) -> Iterator[str]:
    from metering.web.app import WebConfig, create_app

    app = create_app(WebConfig(db=world.db, contract=world.contract, w3=world.w3, type_names=type_names))
    with serving(app) as url:
        yield url


@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_fits_the_screen_at_phone_and_desktop_widths(
    browser: Any, demo_server: str, world: World, width: int
) -> None:
    browser.set_window_size(width, 900)
    inner = browser.execute_script("return window.innerWidth")
    customer = world.invoice("acme").customer
    pages = ["/timeframes", "/customers", "/events", f"/customers/{customer}"]
    for page in pages:
        browser.get(demo_server + page)
        # Chromium applies a window resize to the page's layout a moment after it reports the new innerWidth: under
        # load the first page after the resize was seen laid out at the old width (a table 1,144 px wide) and at
        # the new one a second later. The page must fit once laid out at this width, so wait for that.
        fits = f"return document.documentElement.scrollWidth <= {inner}"
        if not _wait_for(browser, fits, 10):
            wide = browser.execute_script(
                "return [...document.querySelectorAll('body *')]"
                f".filter(e => e.getBoundingClientRect().right > {inner}).slice(0, 5)"
                ".map(e => e.tagName.toLowerCase() + ' ' + Math.round(e.getBoundingClientRect().right))")
            overflow = browser.execute_script("return document.documentElement.scrollWidth")
            raise AssertionError(f"{page} scrolls sideways at {width} px ({overflow} > {inner}): {wide}")
        links = browser.execute_script(
            "return [...document.querySelectorAll('header nav a')].map(a => a.getBoundingClientRect())"
            ".map(r => [r.left, r.right, r.width])")
        assert links and all(left >= 0 and right <= inner and w > 0 for left, right, w in links), page
    # The customer page was the last one loaded: its charts are no wider than their card, and every y axis is at
    # least as wide as its longest label (uPlot's fixed 50 px cut "75,000" to "5,000").
    charts = browser.execute_script(
        "return [...document.querySelectorAll('.chart')].map(c => [c.scrollWidth, c.clientWidth])")
    assert charts
    assert all(scroll <= client + 1 for scroll, client in charts)
    axes = browser.execute_script(
        "return (window.meteringPlots || []).map(u => { const a = u.axes[1]; u.ctx.font = a.font[0];"
        " const w = Math.max(0, ...(a._values || []).map(v => u.ctx.measureText(String(v)).width))"
        " / (window.devicePixelRatio || 1); return [a._size, w + a.ticks.size + a.gap]; })")
    assert axes and all(size >= needed for size, needed in axes), axes
    if width == 390:
        browser.get(demo_server + "/events")
        times = browser.execute_script(
            "return [...document.querySelectorAll('td.fields')].map(t => t.textContent).join(' ')")
        assert "started_at=20" in times and "started_at=17" not in times  # ISO, not unix seconds
