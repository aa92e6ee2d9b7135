"""The replenishment page, its CSV purchase list, the owner's "Run forecast now" and
the dashboard's expected stock-outs, from real forecast runs on real order history."""
from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from forecast_history import FORECAST_CONFIG, seasonal, sell_weekly
from oms_core.db import db
from oms_core.services import forecast_runs
from oms_core.models import ForecastRun
from oms_core.services import replenishment

ADMIN = "/oms/admin"
PAGE = f"{ADMIN}/replenishment"
RUN_NOW = f"{ADMIN}/replenishment/forecast"
SCRIPT = "<script>alert(1)</script>"
WEEKS = 60


@pytest.fixture
def app_config():
    return dict(FORECAST_CONFIG)


@pytest.fixture
def shop(make_product, place):
    """URGENT and SOON must be reordered (URGENT first: less stock for more demand),
    PLENTY need not, NEW has three weeks of sales (the fallback), IDLE never sold."""
    history = {"URGENT": seasonal(WEEKS), "SOON": seasonal(WEEKS, base=1, peak=3),
               "PLENTY": seasonal(WEEKS), "NEW": [2, 4, 3]}
    left = {"URGENT": 1, "SOON": 3, "PLENTY": 500, "NEW": 40}
    products = {sku: make_product(sku=sku, name=f"{sku.title()} tea", on_hand=sum(units) + left[sku])
                for sku, units in history.items()}
    products["IDLE"] = make_product(sku="IDLE", name="Idle tea", on_hand=5)
    sell_weekly(place, history)
    return products


@pytest.fixture
def forecast(shop):
    return forecast_runs.run_forecast()


def table_skus(page: str) -> list[str]:
    table = page.split('id="replenishment-table"')[1].split("</table>")[0]
    return re.findall(r'<a class="mono" href="[^"]+/forecast">([^<]+)</a>', table)


def test_every_new_route_needs_login(client):
    login_page = client.get(f"{ADMIN}/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', login_page)
    for url in (PAGE, f"{PAGE}?show=all", f"{ADMIN}/replenishment.csv", f"{ADMIN}/products/1/forecast"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    for url in (RUN_NOW, f"{ADMIN}/products/1/replenishment"):
        response = client.post(url, data={"csrf_token": token.group(1), "lead_time_days": "3"})
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    assert db.session.scalar(select(func.count(ForecastRun.id))) == 0


def test_reorder_list_is_sorted_by_urgency(staff_client, forecast):
    page = staff_client.get(PAGE).get_data(as_text=True)
    skus = table_skus(page)
    assert skus == ["URGENT", "SOON"]
    plans = {row.product.sku: row.plan for row in replenishment.rows()}
    assert plans["URGENT"].order_by <= plans["SOON"].order_by
    urgent = page.split('id="replenish-')[1].split("</tr>")[0]
    assert f"<strong>{plans['URGENT'].suggested_quantity}</strong>" in urgent
    assert f'{plans["URGENT"].reorder_point:.1f}' in urgent and "14 d" in urgent
    assert "To reorder (2)" in page and "All products (5)" in page
    # One unit left: it should have been ordered a lead time ago, shown in red.
    assert plans["URGENT"].order_by < datetime.now(timezone.utc).date()
    assert f'nowrap bad">{plans["URGENT"].order_by.isoformat()}' in urgent


def test_all_products_with_their_notes(staff_client, shop, forecast):
    page = staff_client.get(f"{PAGE}?show=all").get_data(as_text=True)
    skus = table_skus(page)
    assert skus[:2] == ["URGENT", "SOON"] and skus[-1] == "IDLE" and set(skus) == {
        "URGENT", "SOON", "PLENTY", "NEW", "IDLE"}
    row = page.split(f'id="replenish-{shop["IDLE"].id}"')[1].split("</tr>")[0]
    assert "no sales before the last forecast" in row
    assert "little history: average of sales so far" in page
    fragment = staff_client.get(f"{PAGE}?show=all", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="replenishment-body">') and "<html" not in fragment


def test_header_names_the_run_and_warns_when_missing_or_old(staff_client, shop):
    page = html.unescape(staff_client.get(PAGE).get_data(as_text=True))
    assert "No forecast has been made yet." in page and 'id="forecast-warning"' in page
    assert "Nothing to plan without a forecast." in page
    run = forecast_runs.run_forecast()
    page = html.unescape(staff_client.get(PAGE).get_data(as_text=True))
    tested = forecast_runs.latest("backtest")
    assert f"Forecast #{run.id} made" in page and f"auto: best in back-test #{tested.id}" in page
    assert "Seasonal naive" in page and 'id="forecast-warning"' not in page
    # Older than twice the worker's schedule (24 h): the worker is probably not running.
    db.session.execute(update(ForecastRun).where(ForecastRun.id == run.id).values(
        created_at=datetime.now(timezone.utc) - timedelta(hours=49)))
    db.session.commit()
    page = html.unescape(staff_client.get(PAGE).get_data(as_text=True))
    assert 'id="forecast-warning"' in page and "is the worker running?" in page


@pytest.mark.parametrize("htmx", [False, True])
def test_owner_runs_a_forecast_now(owner_client, shop, htmx):
    assert forecast_runs.latest("forecast") is None
    response = owner_client.post(RUN_NOW, data={"show": "all"}, htmx=htmx)
    run = forecast_runs.latest("forecast")
    assert run is not None and run.series_count == 4  # IDLE has nothing to forecast
    if htmx:
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and body.lstrip().startswith('<div id="replenishment-body">')
        assert f"Forecast #{run.id} made with" in body and "IDLE" in body  # the "all" view kept
    else:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"{PAGE}?show=all")
        assert f"Forecast #{run.id} made with" in owner_client.get(response.headers["Location"]).get_data(
            as_text=True)


def test_staff_cannot_run_a_forecast(staff_client, shop):
    assert 'id="run-forecast-form"' not in staff_client.get(PAGE).get_data(as_text=True)
    assert staff_client.post(RUN_NOW).status_code == 403
    assert forecast_runs.latest("forecast") is None


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_forecast_run_is_shown_and_changes_nothing(app, owner_client, forecast, htmx):
    app.config["OMS_FORECASTER"] = "no_such_forecaster"
    response = owner_client.post(RUN_NOW, htmx=htmx)
    if not htmx:
        response = owner_client.get(response.headers["Location"])
    body = response.get_data(as_text=True)
    assert "No forecast was made" in html.unescape(body) and "no_such_forecaster" in body
    assert forecast_runs.latest("forecast").id == forecast.id


def test_run_now_needs_the_csrf_token(owner_client, shop):
    assert owner_client.client.post(RUN_NOW, headers={"HX-Request": "true"}).status_code == 400
    assert forecast_runs.latest("forecast") is None


def test_purchase_list_csv(staff_client, forecast):
    response = staff_client.get(f"{ADMIN}/replenishment.csv")
    today = datetime.now(timezone.utc).date().isoformat()
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="purchase-list-{today}.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == replenishment.CSV_HEADER == [
        "sku", "name", "quantity", "available", "reorder_point", "lead_time_days", "stockout_date",
        "order_by"]
    plans = {row.product.sku: row.plan for row in replenishment.rows()}
    assert [r[0] for r in rows[1:]] == ["URGENT", "SOON"]
    urgent = rows[1]
    assert urgent[1] == "Urgent tea" and int(urgent[2]) == plans["URGENT"].suggested_quantity > 0
    assert urgent[3] == "1" and urgent[5] == "14" and urgent[7] == plans["URGENT"].order_by.isoformat()


def test_csv_cells_that_spreadsheets_would_run_are_quoted(staff_client, make_product, place):
    product = make_product(sku="=cmd|'/c calc'!A1", name="@SUM(1+1)*cmd", on_hand=sum(seasonal(WEEKS)))
    sell_weekly(place, {product.sku: seasonal(WEEKS)})
    forecast_runs.run_forecast()
    download = staff_client.get(f"{ADMIN}/replenishment.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(download)))
    assert rows[1][:2] == ["'=cmd|'/c calc'!A1", "'@SUM(1+1)*cmd"]


def test_product_names_are_escaped(owner_client, make_product, place):
    product = make_product(sku="EVIL", name=f"Mug {SCRIPT}", on_hand=sum(seasonal(WEEKS)))
    sell_weekly(place, {"EVIL": seasonal(WEEKS)})
    forecast_runs.run_forecast()
    for url in (PAGE, f"{ADMIN}/", f"{ADMIN}/products/{product.id}/forecast"):
        page = owner_client.get(url).get_data(as_text=True)
        assert "EVIL" in page and SCRIPT not in page and "&lt;script&gt;" in page, url


def test_dashboard_lists_expected_stockouts(staff_client, forecast):
    page = staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    panel = page.split('id="expected-stockouts"')[1].split("</section>")[0]
    expected = replenishment.expected_stockouts()
    assert expected and "URGENT" in panel and "PLENTY" not in panel
    for row in expected:
        assert f'/products/{row.product.id}/forecast"' in panel
        assert row.plan.stockout_date.isoformat() in panel
        assert f'<td class="num">{row.plan.suggested_quantity}</td>' in panel
    assert f'href="{PAGE}"' in panel


def test_expected_stockouts_are_the_plans_whose_order_by_date_has_come(forecast):
    """The dashboard's short cut (a full plan only where demand over the lead time can
    reach the stock) finds exactly what every product's full plan would, on any day."""
    for days_ahead in range(0, 70, 3):
        today = date.today() + timedelta(days=days_ahead)
        by_full_plans = [row.product.sku for row in replenishment.rows(today)
                         if row.plan and row.plan.order_by is not None and row.plan.order_by <= today]
        assert [row.product.sku for row in replenishment.expected_stockouts(today)] == by_full_plans
    assert by_full_plans  # far enough ahead, something runs out


def test_dashboard_has_no_stockout_panel_without_any(staff_client, make_product, place):
    make_product(sku="CALM", on_hand=10_000)
    sell_weekly(place, {"CALM": seasonal(WEEKS)})
    forecast_runs.run_forecast()
    assert 'id="expected-stockouts"' not in staff_client.get(f"{ADMIN}/").get_data(as_text=True)
