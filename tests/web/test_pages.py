"""Today, Series and Accuracy in a real browser: drawn from the API, offline, by keyboard.

Every check reads what a planner sees (the DOM and the chart's data), against what the JSON API
answers for the same question.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import HELD_OUT_DAYS, Browser, WebServer
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

PAGES = ("/", "/series?id=total", "/orders", "/accuracy")


def _chart_traces(browser: Browser, element_id: str) -> dict[str, list[int]]:
    """Points per trace of a plotly chart, by the trace's role (`meta`)."""
    return browser.driver.execute_script(
        """
        const out = {};
        for (const t of document.getElementById(arguments[0]).data || []) {
          (out[t.meta] = out[t.meta] || []).push((t.x || []).length);
        }
        return out;
        """,
        element_id,
    )


@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_offline_without_script_errors(
    web_server: WebServer, browser: Browser, path: str
) -> None:
    """Every page draws completely with every host but loopback unreachable."""
    browser.login(web_server.keys["viewer"], path)
    browser.ready()
    assert browser.request_hosts() == {"127.0.0.1"}
    assert browser.console_errors() == []
    assert browser.driver.find_elements(By.CSS_SELECTOR, "p.error") == []
    assert browser.driver.find_element(By.TAG_NAME, "h1").text


def test_today_shows_the_hierarchy_with_next_week_and_attention(
    web_server: WebServer, browser: Browser
) -> None:
    """The tree opens from the total; figures are the overview's; drifting series come first."""
    with web_server.api() as api:
        overview = api.get("/v1/overview?days=7").json()
    total = next(r for r in overview["rows"] if r["level"] == "total")
    browser.login(web_server.keys["viewer"], "/")
    browser.ready()
    card = browser.driver.find_element(By.ID, "card-next").text
    assert f"{round(total['next_total']):,}" in card
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#hierarchy-table tbody tr")
    under = [r for r in overview["rows"] if r["parent"] == total["unique_id"]]
    stores = [r for r in under if r["level"] == "store"]
    assert len(rows) == 1 + len(stores)  # the total, open, and its stores
    assert {r.get_attribute("data-level") for r in rows[1:]} == {"store"}
    # open the first store with the keyboard
    toggle = rows[1].find_element(By.CSS_SELECTOR, "button.toggle")
    toggle.send_keys(Keys.ENTER)
    browser.wait(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#hierarchy-table tbody tr")) > len(rows)
    )
    attention = browser.driver.find_elements(By.CSS_SELECTOR, "#attention-table tbody tr")
    assert overview["attention"], "the surge at shop-1 should need attention"
    shown = [row.find_element(By.TAG_NAME, "a").get_attribute("href") for row in attention]
    assert [h.split("id=", 1)[1] for h in shown] == [
        quote(a["unique_id"], safe="") for a in overview["attention"][:25]
    ]
    # the same total opened by category instead
    browser.driver.find_element(By.XPATH, "//button[text()='By category']").click()
    levels = {
        r.get_attribute("data-level")
        for r in browser.driver.find_elements(By.CSS_SELECTOR, "#hierarchy-table tbody tr")[1:]
    }
    assert levels == {"category"}


def test_series_fan_chart_holds_history_forecast_and_bands(
    web_server: WebServer, browser: Browser
) -> None:
    """The chart has the horizon's forecast points, both bands and 120 days of sales."""
    with web_server.api() as api:
        uid = api.get("/v1/series?level=series&limit=1").json()["items"][0]["unique_id"]
        history = api.get(f"/v1/series/{uid}/history?days=120").json()
    browser.login(web_server.keys["viewer"], f"/series?id={uid}")
    browser.ready()
    traces = _chart_traces(browser, "fan-chart")
    assert traces["forecast"] == [14]
    assert traces["band80"] == [28] and traces["band95"] == [28]  # upper then lower bound
    assert traces["history"] == [len(history["points"])] and len(history["points"]) > 100
    assert traces.get("served"), "past served forecasts are drawn against the sales"
    facts = browser.driver.find_element(By.ID, "anticipation-facts").text
    assert "Expected MASE" in facts and "Realized MASE" in facts
    # weekly totals: two whole weeks ahead
    browser.driver.find_element(By.ID, "view-weekly").click()
    browser.wait(lambda d: _chart_traces(browser, "fan-chart").get("forecast") == [2])
    assert browser.driver.find_element(By.ID, "view-weekly").get_attribute("aria-pressed") == "true"


def test_a_what_if_redraws_the_forecast(web_server: WebServer, browser: Browser) -> None:
    """A deep price cut with a promotion on three days raises the store's what-if forecast."""
    browser.login(web_server.keys["viewer"], "/series?id=store%3Dshop-1")
    browser.ready()
    for box in browser.driver.find_elements(By.CSS_SELECTOR, "#whatif-days input")[:3]:
        box.click()
    price = browser.driver.find_element(By.ID, "price-change")
    price.clear()
    price.send_keys("-40")
    browser.driver.find_element(By.ID, "promo-on").click()
    browser.driver.find_element(By.ID, "whatif-run").click()
    outcome = browser.wait_for("#whatif-summary, #whatif-result .error")
    assert outcome.get_attribute("id") == "whatif-summary", outcome.text
    summary = outcome
    browser.ready()
    traces = browser.driver.execute_script(
        """
        const data = document.getElementById('fan-chart').data;
        const pick = (m) => data.find((t) => t.meta === m).y;
        return [pick('forecast'), pick('scenario')];
        """
    )
    base, scenario = traces
    assert len(scenario) == len(base) == 14
    assert sum(scenario[:3]) > sum(base[:3]) * 1.01, (base, scenario)
    assert "pieces over the 14 days" in summary.text


def test_accuracy_page_shows_realized_against_expected_per_store(
    web_server: WebServer, browser: Browser
) -> None:
    """The held-out weeks were scored: each store has a realized line and its expected one."""
    with web_server.api() as api:
        trend = api.get("/v1/accuracy/trend?by=store&period=W").json()
    groups = {row["group"] for row in trend["rows"]}
    assert groups, "the held-out sales were scored"
    browser.login(web_server.keys["viewer"], "/accuracy")
    browser.ready()
    traces = _chart_traces(browser, "trend-chart")
    assert len(traces["realized"]) == len(groups)
    assert sum(traces["realized"]) >= HELD_OUT_DAYS // 7
    drifting = browser.driver.find_elements(By.CSS_SELECTOR, "#drift-table tbody tr a")
    assert any("shop-1" in a.text for a in drifting), "the surging store's series drift"


def test_the_pages_fit_a_phone(web_server: WebServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """At 390 px nothing is wider than the screen but the tables' own scrolling regions."""
    phone = Browser(web_server.base, tmp_path, width=390, height=844)
    try:
        phone.login(web_server.keys["viewer"], "/")
        for path in ("/", "/series?id=total", "/accuracy"):
            phone.open(path)
            phone.ready()
            assert phone.driver.execute_script("return window.innerWidth") == 390
            overflow = phone.driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{path} is {overflow}px wider than the phone"
    finally:
        phone.quit()
