"""Logging in to the workspace: key → session cookie, CSRF, roles, and the redirect back."""

from __future__ import annotations

import re

import httpx
from conftest import Browser, WebServer
from selenium.webdriver.common.by import By


def test_a_page_asks_for_login_and_a_key_opens_a_session_cookie(
    web_server: WebServer, browser: Browser
) -> None:
    """Without a session a page goes to the login form; the key gives an HttpOnly cookie."""
    browser.open("/accuracy")
    browser.wait(lambda d: "/login" in d.current_url)
    assert browser.driver.find_element(By.CSS_SELECTOR, "label[for=api-key]").text == "API key"
    browser.login(web_server.keys["viewer"], "/accuracy")
    cookie = browser.driver.get_cookie("anticipate_session")
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    # the cookie is not readable by the page's scripts
    assert "anticipate_session" not in browser.driver.execute_script("return document.cookie")
    nav = [a.text for a in browser.driver.find_elements(By.CSS_SELECTOR, "nav a")]
    assert nav == ["Today", "Series", "Orders", "Accuracy"]  # a viewer has no Data page


def test_a_wrong_key_is_refused_with_a_message(web_server: WebServer, browser: Browser) -> None:
    """An unknown key stays on the login form and says why."""
    browser.open("/login")
    browser.driver.find_element(By.ID, "api-key").send_keys("ant_not-a-real-key")
    browser.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    error = browser.wait_for("#login-error")
    assert "unknown or revoked" in error.text
    assert browser.driver.get_cookie("anticipate_session") is None


def test_forms_and_cookie_writes_need_the_csrf_token(web_server: WebServer) -> None:
    """A cross-site form post has no token: login, logout and API writes are refused."""
    with httpx.Client(base_url=web_server.base, timeout=30) as http:
        http.get("/login")
        forged = http.post("/login", data={"api_key": web_server.keys["admin"], "csrf_token": "x"})
        assert forged.status_code == 403
        assert http.cookies.get("anticipate_session") is None
        token = _login_token(http)
        good = http.post(
            "/login", data={"api_key": web_server.keys["admin"], "csrf_token": token, "next": "/"}
        )
        assert good.status_code == 303 and http.cookies.get("anticipate_session")
        page = http.get("/")
        csrf = _found(r'name="csrf-token" content="([^"]+)"', page.text)
        # the cookie alone reads, but does not write
        assert http.get("/v1/jobs").status_code == 200
        refused = http.post("/v1/admin/reload")
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["message"]
        allowed = http.post("/v1/admin/reload", headers={"X-CSRF-Token": csrf})
        assert allowed.status_code == 200, allowed.text
        # a redirect target elsewhere is not followed
        token = _login_token(http)
        away = http.post(
            "/login",
            data={"api_key": web_server.keys["viewer"], "csrf_token": token, "next": "//evil/"},
            follow_redirects=False,
        )
        assert away.status_code == 303 and away.headers["location"] == "/"


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, text[:500]
    return match.group(1)


def _login_token(http: httpx.Client) -> str:
    """The login form's CSRF token (its cookie is set by the same answer)."""
    return _found(r'name="csrf_token" value="([^"]+)"', http.get("/login").text)
