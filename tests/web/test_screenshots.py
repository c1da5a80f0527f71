"""PNGs of every page at a laptop's and a phone's width; `make screenshots` keeps them in docs/.

In the suite they go to a temporary folder and only their rendering is checked (a page that
drew nothing makes a small, nearly blank PNG).
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Browser, WebServer

#: (file stem, path, role): every page of the workspace.
SHOTS = (
    ("login", None, None),
    ("today", "/", "viewer"),
    ("series", "/series?id=store%3Dshop-1", "viewer"),
    ("orders", "/orders", "viewer"),
    ("data", "/data", "admin"),
    ("accuracy", "/accuracy", "viewer"),
)
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def test_screenshots_of_every_page(web_server: WebServer, tmp_path: Path) -> None:
    """Each page at 1280×800 and 390×844 (full height), written as PNG."""
    out = Path(os.environ.get("ANTICIPATE_SCREENSHOTS_DIR") or tmp_path / "shots")
    out.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        browser = Browser(web_server.base, tmp_path, width=width, height=height)
        try:
            for stem, path, role in SHOTS:
                if role is None:
                    browser.open("/login")
                else:
                    browser.login(web_server.keys[role], path)
                    browser.ready()
                    browser.driver.execute_script("window.scrollTo(0, 0)")
                full = browser.driver.execute_script("return document.body.scrollHeight")
                browser.resize(width, min(max(height, full + 40), 4000))
                target = out / f"{stem}-{size}.png"
                browser.driver.save_screenshot(str(target))
                browser.resize(width, height)
                assert target.stat().st_size > 15_000, f"{target.name} looks blank"
                browser.driver.delete_all_cookies()
        finally:
            browser.quit()
