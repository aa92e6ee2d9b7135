"""The forecast pages in a real browser (headless Chromium via Playwright): the
server-drawn chart is visible with real geometry, the owner re-runs the forecast by
HTMX without a page load, and the purchase list downloads as a CSV file."""
from __future__ import annotations

import re

import pytest

from forecast_history import FORECAST_CONFIG, seasonal, sell_weekly
from oms_core.db import db
from oms_core.services import forecast_runs
from oms_core.services.replenishment import CSV_HEADER
from test_browser import OWNER, browser, live_shop  # noqa: F401  (fixtures)

WEEKS = 60


@pytest.fixture
def app_config():
    return dict(FORECAST_CONFIG)


@pytest.fixture
def teapot(live_shop, make_product, place):  # noqa: F811
    """A product of the live shop with 60 weeks of sales, one left in stock, and a forecast."""
    units = seasonal(WEEKS)
    product = make_product(sku="TEAPOT-1", name="Cast iron teapot", on_hand=sum(units) + 1)
    sell_weekly(place, {product.sku: units})
    forecast_runs.run_forecast()
    return product


def log_in(page, base: str) -> None:
    page.goto(f"{base}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')
    page.wait_for_selector("nav.top")


def geometry(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    return box


def test_forecast_chart_run_now_and_purchase_list(browser, live_shop, teapot):  # noqa: F811
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_shop)

    # --- the product's forecast page: a chart with history, forecast and band
    page.goto(f"{live_shop}/oms/admin/products/{teapot.id}/forecast")
    chart = page.get_by_role("img", name=re.compile("Sales and forecast: Cast iron teapot"))
    assert chart.is_visible()
    assert geometry(chart)["width"] > 300
    history, forecast, band = (page.locator(f"#demand-chart .{kind}") for kind in
                               ("chart-history", "chart-forecast", "chart-band"))
    for name, line in (("history", history), ("forecast", forecast), ("band", band)):
        box = geometry(line)
        assert box["width"] > 0 and box["height"] > 0, (name, box)
    assert geometry(history)["x"] < geometry(forecast)["x"]  # the past on the left
    assert page.locator("#demand-chart circle.chart-point-history").count() == WEEKS
    tooltip = page.locator("#demand-chart circle.chart-point-history title").last.text_content()
    assert re.fullmatch(r"Week of \d+ \w+ \d{4}: \d+ sold", tooltip)
    assert "Seasonal naive" in page.locator("#method-label").inner_text()

    # --- the replenishment page: the owner re-runs the forecast in place
    page.locator("nav.top summary", has_text="More").click()  # set-up pages are under "More"
    page.locator("nav.top").get_by_role("link", name="Replenishment").click()
    row = page.locator("#replenishment-table tr", has_text="TEAPOT-1")
    assert row.is_visible()
    page.evaluate("window.__no_reload_mark = 'still here'")
    documents = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    before = forecast_runs.latest("forecast").id
    page.click("#run-forecast-form button[type=submit]")
    page.locator("#replenishment-body [role=status]", has_text="made with").wait_for()
    db.session.rollback()  # a new read transaction, to see what the server wrote
    latest = forecast_runs.latest("forecast").id
    assert latest > before and f"Forecast #{latest} made" in page.locator("#forecast-run").inner_text()
    assert page.evaluate("window.__no_reload_mark") == "still here" and documents == []

    # --- the purchase list downloads as a dated CSV file
    with page.expect_download() as download_info:
        page.click("#purchase-list")
    download = download_info.value
    assert re.fullmatch(r"purchase-list-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert lines[1].startswith("TEAPOT-1,Cast iron teapot,")
    context.close()
