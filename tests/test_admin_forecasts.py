"""The forecast page of a product (chart, method, plan, back-test, forecast table,
empty state) and its lead time and service level, edited on the product's page."""
from __future__ import annotations

import html
import re

import pytest

from forecast_history import FORECAST_CONFIG, seasonal, sell_weekly
from oms_core.db import db
from oms_core.services import forecast_runs
from oms_core.models import Product
from oms_core.services import forecasts

ADMIN = "/oms/admin"


@pytest.fixture
def app_config():
    return dict(FORECAST_CONFIG)


@pytest.fixture
def teas(make_product, place):
    """EARL: 60 weeks of sales; NEW: 3 weeks (the fallback); IDLE: none."""
    history = {"EARL": seasonal(60), "NEW": [2, 4, 3]}
    made = {sku: make_product(sku=sku, name=f"{sku.title()} tea", on_hand=sum(units) + 4)
            for sku, units in history.items()}
    made["IDLE"] = make_product(sku="IDLE", name="Idle tea", on_hand=5)
    sell_weekly(place, history)
    return made


def forecast_page(client, product) -> str:
    response = client.get(f"{ADMIN}/products/{product.id}/forecast")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def fresh(product_id) -> Product:
    db.session.expire_all()
    return db.session.get(Product, product_id)


def test_forecast_page_shows_chart_method_plan_backtest_and_table(staff_client, teas):
    run = forecast_runs.run_forecast()
    page = forecast_page(staff_client, teas["EARL"])
    chart = page.split('<svg')[1].split("</svg>")[0]
    assert 'role="img"' in chart and "Sales and forecast: Earl tea" in chart
    for part in ("chart-history", "chart-forecast", "chart-band", "chart-now", "chart-legend"):
        assert f'class="{part}"' in chart, part
    # The last two seasons of history (all 60 weeks are fewer than 104), one dot per week.
    assert chart.count('class="chart-point-history"') == 60
    assert chart.count('class="chart-point-forecast"') == run.horizon == 26
    assert "Seasonal naive" in page.split('id="method-label"')[1].split("</p>")[0]
    plan = forecasts.for_product(teas["EARL"].id).plan
    panel = page.split('id="plan-panel"')[1].split("</section>")[0]
    assert f"{plan.reorder_point:.1f}" in panel and "14 days" in panel and "95.0%" in panel
    assert panel.count("(shop default)") == 2
    backtest = page.split('id="backtest-table"')[1].split("</table>")[0]
    assert 'id="score-seasonal_naive"' in backtest and "baseline" in backtest
    assert "Back-test #" in page
    table = page.split('id="forecast-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 26  # header and one row per week
    assert run.first_period.isoformat() in table


def test_short_histories_say_they_use_the_fallback(staff_client, teas):
    forecast_runs.run_forecast()
    page = forecast_page(staff_client, teas["NEW"])
    assert "Average of the sales so far" in page
    assert "Only 3 weeks of sales: fewer than the 8 a model needs" in page
    assert page.count('class="chart-point-history"') == 3
    earl = forecast_page(staff_client, teas["EARL"])
    assert 'id="fallback-note"' not in earl and 'id="short-history-note"' not in earl  # 60 weeks: a season


def test_less_than_a_season_is_said_even_with_a_model(staff_client, make_product, place):
    product = make_product(sku="YOUNG", on_hand=500)
    sell_weekly(place, {"YOUNG": [3, 4, 5, 3, 4, 5, 3, 4, 5, 3]})
    forecast_runs.run_forecast()
    page = forecast_page(staff_client, product)
    assert "Less than a season (52 weeks) of sales" in page


def test_empty_states(staff_client, teas):
    page = forecast_page(staff_client, teas["IDLE"])
    assert 'id="forecast-empty"' in page and "No sales yet" in page and "<svg" not in page
    # Sales but no forecast run yet: the history is charted, and the page says there is no forecast.
    page = forecast_page(staff_client, teas["EARL"])
    assert "<svg" in page and 'class="chart-history"' in page and 'class="chart-forecast"' not in page
    assert "no forecast has been run" in page and "No back-test yet" in page
    assert staff_client.get(f"{ADMIN}/products/9999/forecast").status_code == 404


def test_product_pages_link_to_the_forecast(staff_client, teas):
    earl = teas["EARL"]
    link = f'href="{ADMIN}/products/{earl.id}/forecast"'
    assert link in staff_client.get(f"{ADMIN}/products/{earl.id}").get_data(as_text=True)
    assert link in staff_client.get(f"{ADMIN}/products").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_staff_set_lead_time_and_service_level(staff_client, teas, htmx):
    earl = teas["EARL"]
    url = f"{ADMIN}/products/{earl.id}/replenishment"
    response = staff_client.post(url, htmx=htmx, data={"lead_time_days": "21", "service_level": "97.5"})
    if htmx:
        body = response.get_data(as_text=True)
        assert body.lstrip().startswith('<div id="product-detail">')
        assert "lead time and service level saved" in body
        assert 'value="21"' in body and 'value="97.5"' in body
    else:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/products/{earl.id}")
    product = fresh(earl.id)
    assert (product.lead_time_days, product.service_level) == (21, 0.975)

    forecast_runs.run_forecast()
    panel = forecast_page(staff_client, earl).split('id="plan-panel"')[1].split("</section>")[0]
    assert "21 days" in panel and "97.5%" in panel and "(shop default)" not in panel

    # Blank: back to the shop's defaults, shown as placeholders.
    staff_client.post(url, htmx=htmx, data={"lead_time_days": "", "service_level": " "})
    product = fresh(earl.id)
    assert (product.lead_time_days, product.service_level) == (None, None)
    page = staff_client.get(f"{ADMIN}/products/{earl.id}").get_data(as_text=True)
    assert 'placeholder="14"' in page and 'placeholder="95"' in page


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("data, message", [
    ({"lead_time_days": "-3"}, "Lead time must be a whole number, not '-3'."),
    ({"lead_time_days": "two weeks"}, "Lead time must be a whole number"),
    ({"lead_time_days": "400"}, "Lead time must be between 0 and 365 days"),
    ({"service_level": "abc"}, "Service level must be a percentage (e.g. 95), not 'abc'."),
    ({"service_level": "nan"}, "Service level must be a percentage"),
    ({"service_level": "40"}, "Service level must be between 50% and 99.9%, not 40%."),
    ({"service_level": "100"}, "Service level must be between 50% and 99.9%"),
    ({"service_level": "0.95"}, "not 0.95%"),  # a fraction typed where a percentage is asked
])
def test_bad_settings_are_refused_and_change_nothing(staff_client, teas, htmx, data, message):
    earl = teas["EARL"]
    url = f"{ADMIN}/products/{earl.id}/replenishment"
    good = {"lead_time_days": "10", "service_level": "90"}
    staff_client.post(url, data=good)
    response = staff_client.post(url, htmx=htmx, data=dict(good, **data))
    if htmx:
        body = html.unescape(response.get_data(as_text=True))
        assert message in body and 'role="alert"' in body
        typed = list(data.values())[0]
        assert re.search(rf'value="{re.escape(typed)}"', body)  # kept for correction
    else:
        assert message in html.unescape(staff_client.get(response.headers["Location"]).get_data(as_text=True))
    product = fresh(earl.id)
    assert (product.lead_time_days, product.service_level) == (10, 0.9)


def test_settings_need_the_csrf_token(staff_client, teas):
    earl = teas["EARL"]
    response = staff_client.client.post(f"{ADMIN}/products/{earl.id}/replenishment",
                                        data={"lead_time_days": "30"})
    assert response.status_code == 400
    assert fresh(earl.id).lead_time_days is None
