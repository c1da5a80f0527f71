"""The Data page: upload an export, map it, see located problems, build, retrain, by role."""

from __future__ import annotations

from pathlib import Path

from conftest import Browser, WebServer
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def _upload(browser: Browser, sales: Path, attributes: Path | None = None) -> None:
    browser.driver.find_element(By.ID, "sales-file").send_keys(str(sales))
    if attributes is not None:
        browser.driver.find_element(By.ID, "attributes-file").send_keys(str(attributes))
    browser.driver.find_element(By.ID, "upload-button").click()
    browser.wait_for("#upload-summary, #upload-result .error")
    browser.ready()


def test_a_broken_export_shows_the_located_problem(
    web_server: WebServer, browser: Browser, tmp_path: Path
) -> None:
    """A writer uploads an export with a non-number on row 4: the report names row and column."""
    broken = tmp_path / "kasse.csv"
    broken.write_text(
        "Artikel;Datum;Menge\n"
        "Brezel;01.02.2026;12\n"
        "Brezel;02.02.2026;14\n"
        "Brezel;03.02.2026;zwölf\n"
        "Brezel;04.02.2026;11\n",
        encoding="utf-8",
    )
    browser.login(web_server.keys["writer"], "/data")
    browser.ready()
    _upload(browser, broken)
    assert "4 rows" in browser.driver.find_element(By.ID, "upload-summary").text
    # a quantity column holding a word is not suggested: the planner picks it
    Select(browser.driver.find_element(By.ID, "map-quantity_col")).select_by_value("Menge")
    browser.driver.find_element(By.ID, "check-button").click()
    browser.wait_for("#problems, #report p.error")
    text = browser.driver.find_element(By.ID, "report").text
    assert browser.driver.find_elements(By.ID, "problems"), text
    assert "row 4" in text and "Menge" in text, text
    assert "kasse.csv" in text
    # a writer checks, but building and retraining need an admin
    assert browser.driver.find_elements(By.ID, "build-button") == []
    assert browser.driver.find_elements(By.ID, "retrain-button") == []
    assert "admin" in browser.driver.find_element(By.ID, "admin-needed").text
    assert browser.request_hosts() == {"127.0.0.1"}


def test_a_viewer_cannot_open_data_nor_start_a_retrain(
    web_server: WebServer, browser: Browser
) -> None:
    """The page is refused, and so is the API call made with the viewer's session and token."""
    browser.login(web_server.keys["viewer"], "/")
    browser.ready()
    browser.open("/data")
    assert "needs the writer role" in browser.driver.find_element(By.CSS_SELECTOR, "main").text
    browser.open("/")
    browser.ready()
    status = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        Anticipate.api('/v1/retrain', {method: 'POST'})
          .then(() => done('accepted'))
          .catch((error) => done(`${error.status} ${error.message}`));
        """
    )
    assert status.startswith("403") and "admin role" in status, status


def test_an_admin_imports_builds_and_retrains(own_web_server: WebServer, tmp_path: Path) -> None:
    """The demo export checks clean, builds, retrains, and the page says whether it promoted."""
    browser = Browser(own_web_server.base, tmp_path)
    try:
        browser.login(own_web_server.keys["admin"], "/data")
        browser.ready()
        _upload(browser, own_web_server.sales_csv, own_web_server.attributes_csv)
        browser.driver.find_element(By.ID, "check-button").click()
        ok = browser.wait_for("#report-ok, #problems", 120)
        assert ok.get_attribute("id") == "report-ok", ok.text
        assert "10 series" in ok.text
        browser.driver.find_element(By.ID, "build-button").click()
        browser.wait_for("#build-ok, #job .error", 180)
        assert browser.driver.find_elements(By.ID, "build-ok"), browser.driver.find_element(
            By.ID, "job"
        ).text
        browser.driver.find_element(By.ID, "retrain-button").click()
        result = browser.wait_for("#retrain-result, #job .error", 600)
        assert result.get_attribute("id") == "retrain-result", result.text
        assert "Backtest MASE" in result.text and "Why:" in result.text
        with own_web_server.api() as api:
            job = api.get("/v1/jobs?kind=retrain&limit=1").json()["items"][0]
        verdict = "was promoted" if job["result"]["promoted"] else "was not promoted"
        assert verdict in result.text
        assert browser.console_errors() == []
    finally:
        browser.quit()
