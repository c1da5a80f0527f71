"""The Orders page: stock typed or uploaded, the order table POST /v1/orders answers, its CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import Browser, WebServer
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

#: The policy the page sends when its defaults are left alone.
DEFAULT_POLICY = {
    "lead_time": 1,
    "review_period": 1,
    "pack_size": 1,
    "min_order": 0,
    "service_level": 0.95,
}


@pytest.fixture(scope="module")
def two_series(web_server: WebServer) -> list[str]:
    """Two bottom series of the served model."""
    with web_server.api("viewer") as http:
        page = http.get("/v1/series", params={"level": "series", "limit": 2}).json()
    return [item["unique_id"] for item in page["items"]]


def _row_input(browser: Browser, row: int, css: str) -> WebElement:
    return browser.driver.find_element(By.CSS_SELECTOR, f"#stock-rows tr:nth-child({row}) {css}")


def _type(field: WebElement, text: str) -> None:
    field.clear()
    field.send_keys(text)


def _submit(browser: Browser) -> None:
    browser.driver.find_element(By.ID, "orders-submit").click()
    browser.ready()


def _order_rows(browser: Browser) -> list[WebElement]:
    return browser.driver.find_elements(By.CSS_SELECTOR, "#orders-table tbody tr")


def _downloaded(browser: Browser, pattern: str) -> Path:
    def found(_driver):  # type: ignore[no-untyped-def]
        files = [p for p in browser.downloads.glob(pattern) if not p.name.endswith(".crdownload")]
        return files[0] if files and files[0].stat().st_size > 0 else False

    return browser.wait(found, 30)


def test_a_planner_types_stock_and_gets_the_orders_the_api_computes(
    web_server: WebServer, browser: Browser, two_series: list[str]
) -> None:
    """Two series typed in: one order line each, and the CSV holds the API's own quantities."""
    browser.login(web_server.keys["viewer"], "/orders")  # a viewer may ask for orders
    browser.ready()
    stock = {two_series[0]: 3, two_series[1]: 0}
    _type(_row_input(browser, 1, ".stock-series"), two_series[0])
    _type(_row_input(browser, 1, ".stock-on-hand"), "3")
    browser.driver.find_element(By.ID, "stock-add").click()
    _type(_row_input(browser, 2, ".stock-series"), two_series[1])
    _type(_row_input(browser, 2, ".stock-on-hand"), "0")
    _submit(browser)

    lines = _order_rows(browser)
    assert len(lines) == 2
    shown = {row.find_element(By.CSS_SELECTOR, "td").text for row in lines}
    assert shown == set(two_series)
    assert all(cell.text.strip() for row in lines for cell in row.find_elements(By.TAG_NAME, "td"))
    assert "2 series" in browser.driver.find_element(By.ID, "orders-facts").text

    browser.driver.find_element(By.ID, "orders-download").click()
    csv = _downloaded(browser, "orders-*.csv")
    downloaded = pd.read_csv(csv, dtype={"unique_id": str}).set_index("unique_id")
    request = {
        "items": [{"unique_id": uid, "on_hand": q, **DEFAULT_POLICY} for uid, q in stock.items()]
    }
    with web_server.api("viewer") as http:
        answer = http.post("/v1/orders", json=request)
    assert answer.status_code == 200, answer.text
    expected = pd.DataFrame(answer.json()["orders"]).set_index("unique_id")
    assert set(expected.columns) <= set(downloaded.columns)  # the API's field names
    assert sorted(downloaded.index) == sorted(expected.index)
    for column in ("order_quantity", "demand_mean", "demand_quantile", "stockout_risk"):
        pd.testing.assert_series_equal(
            downloaded.loc[expected.index, column], expected[column], check_dtype=False
        )
    assert downloaded["on_hand"].to_dict() == stock

    assert browser.request_hosts() == {"127.0.0.1"}
    assert browser.console_errors() == []


def test_a_stock_file_with_a_bad_row_is_refused_row_by_row_then_read(
    web_server: WebServer, browser: Browser, two_series: list[str], tmp_path: Path
) -> None:
    """A non-numeric cell is named by row and column; a good file fills the table and orders."""
    browser.login(web_server.keys["writer"], "/orders")
    browser.ready()
    bad = tmp_path / "stock-bad.csv"
    bad.write_text(f"unique_id,on_hand\n{two_series[0]},4\n{two_series[1]},x\n")
    browser.driver.find_element(By.ID, "stock-file").send_keys(str(bad))
    report = browser.wait_for("#stock-file-report [role=alert]")
    assert "row 3: on_hand 'x' is not a number" in report.text
    assert _row_input(browser, 1, ".stock-series").get_attribute("value") == ""  # unchanged

    good = tmp_path / "stock.csv"
    good.write_text(
        f"unique_id,on_hand,pack_size,note\n{two_series[0]},4,6,shelf A\n{two_series[1]},2,,\n"
    )
    browser.driver.find_element(By.ID, "stock-file").send_keys(str(good))
    ok = browser.wait_for("#stock-file-report .ok")
    assert "Read 2 series" in ok.text and "Ignored column(s): note" in ok.text
    assert _row_input(browser, 2, ".stock-series").get_attribute("value") == two_series[1]
    _submit(browser)
    lines = _order_rows(browser)
    assert len(lines) == 2
    first = browser.driver.find_element(
        By.CSS_SELECTOR, "#orders-table tbody tr:first-child td[data-col=order_quantity]"
    )
    assert int(first.text.replace(",", "")) % 6 == 0  # the file's pack size for its row

    # a lead time beyond the model's horizon: the API's error stands next to the lead time
    _type(browser.driver.find_element(By.ID, "lead-time"), "30")
    _submit(browser)
    note = browser.wait_for("#lead-time-error")
    assert "horizon" in note.text
    assert browser.driver.find_element(By.ID, "lead-time").get_attribute("aria-invalid") == "true"
    assert "row 1" in browser.driver.find_element(By.CSS_SELECTOR, "#policy-error").text
    # the browser logs the refused request itself; nothing else went wrong
    assert [e for e in browser.console_errors() if "status of 422" not in e] == []


def test_on_a_phone_the_order_table_scrolls_inside_its_region(
    web_server: WebServer, tmp_path: Path, two_series: list[str]
) -> None:
    """At 390 px the page does not overflow; the wide order table scrolls in its own region."""
    phone = Browser(web_server.base, tmp_path, width=390, height=800)
    # headless windows are at least 500 px wide: emulate the phone's viewport itself
    phone.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 800, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        phone.login(web_server.keys["viewer"], "/orders")
        phone.ready()
        _type(_row_input(phone, 1, ".stock-series"), two_series[0])
        _type(_row_input(phone, 1, ".stock-on-hand"), "1")
        _submit(phone)
        assert len(_order_rows(phone)) == 1
        region = phone.driver.execute_script(
            """
            const wrap = document.getElementById('orders-table').closest('.table-wrap');
            wrap.scrollLeft = 10000;
            return {role: wrap.getAttribute('role'), tabindex: wrap.getAttribute('tabindex'),
                    scrolled: wrap.scrollLeft, right: wrap.getBoundingClientRect().right,
                    page: document.documentElement.scrollWidth,
                    viewport: document.documentElement.clientWidth};
            """
        )
        assert region["role"] == "region" and region["tabindex"] == "0"
        assert region["scrolled"] > 0  # wider than the phone: it scrolls
        assert region["right"] <= region["viewport"] + 1
        wide = phone.driver.execute_script(
            """
            const limit = document.documentElement.clientWidth + 1;
            return [...document.querySelectorAll('body *')]
              .filter((n) => !n.closest('.table-wrap') && n.getBoundingClientRect().right > limit)
              .map((n) => n.tagName + '#' + n.id + '.' + n.className);
            """
        )
        assert region["viewport"] <= 390
        assert wide == [] and region["page"] <= region["viewport"] + 1  # the page does not
        assert phone.request_hosts() == {"127.0.0.1"}
    finally:
        phone.quit()
