"""The pages and the login: each page is a template whose script reads the /v1 API.

A page needs a session (else a 303 to /login?next=...). The session's role decides which
controls a page shows; the API decides what a request may do, whatever the page showed.
"""

from __future__ import annotations

import hashlib
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from serving import keys
from serving.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WebSession,
    new_token,
    same_token,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: plotly.js as the pinned plotly package ships it (MIT licence, version in its first lines).
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
LOCALE_COOKIE = "anticipate_locale"
#: Locales offered on the page (any BCP 47 tag works in the cookie or ANTICIPATE_UI_LOCALE).
LOCALES = {
    "": "Browser default",
    "en-GB": "English (UK)",
    "en-US": "English (US)",
    "de-DE": "Deutsch",
    "fr-FR": "Français",
    "nl-NL": "Nederlands",
    "it-IT": "Italiano",
    "es-ES": "Español",
}
#: (path, title, needed role) of the pages in the navigation, in order.
PAGES = (
    ("/", "Today", "viewer"),
    ("/series", "Series", "viewer"),
    ("/orders", "Orders", "viewer"),
    ("/data", "Data", "writer"),
    ("/accuracy", "Accuracy", "viewer"),
)
#: The page's own scripts only; plotly needs inline styles; nothing from another origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


_versions: dict[str, str] = {}


def static_url(name: str) -> str:
    """/static/NAME?v=<content hash>: cached for a year, refetched when the file changes."""
    if name not in _versions:
        source = PLOTLY_JS if name == "vendor/plotly.min.js" else STATIC / name
        _versions[name] = _fingerprint(source)
    return f"/static/{name}?v={_versions[name]}"


templates.env.globals["static_url"] = static_url


class LoginRequired(Exception):
    """The page needs a session; the handler redirects to the login page."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


async def page_session(request: Request) -> WebSession:
    """The request's session, or LoginRequired (a redirect back here after login)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    web = await run_in_threadpool(request.app.state.service.sessions.verify, cookie)
    if web is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return web


def _locale(request: Request) -> str:
    chosen = request.cookies.get(LOCALE_COOKIE, "")
    if chosen and len(chosen) <= 35 and all(c.isalnum() or c == "-" for c in chosen):
        return chosen
    return request.app.state.service.settings.ui_locale


def render(
    request: Request,
    web: WebSession,
    template: str,
    title: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page of the workspace with the navigation, the session's role and CSRF token."""
    role = web.key.role
    nav = [
        {"path": path, "title": name, "current": request.url.path == path}
        for path, name, needed in PAGES
        if keys.allows(role, needed)
    ]
    response = templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "nav": nav,
            "role": role,
            "key_name": web.key.name or web.key.prefix,
            "csrf": web.csrf,
            "locale": _locale(request),
            "locales": LOCALES,
            "can_write": keys.allows(role, "writer"),
            "can_admin": keys.allows(role, "admin"),
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no //host): an open redirect otherwise."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, next_path: str, error: str = "", status: int = 200) -> Response:
    token = new_token()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "title": "Log in",
            "next": next_path,
            "error": error,
            "csrf": token,
            "locale": _locale(request),
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login", max_age=3600
    )
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The login form (a planner pastes the API key an admin gave them)."""
    return _login_page(request, _safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Exchange a valid API key for a session cookie and go to the page asked for."""
    target = _safe_next(next)
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_page(
            request, target, "The form expired or came from another site; try again.", 403
        )
    service = request.app.state.service
    key = await service.keys.verified(api_key.strip()) if api_key.strip() else None
    if key is None:
        return _login_page(request, target, "That API key is unknown or revoked.", 401)
    cookie, web = service.sessions.issue(key)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=web.expires - int(time.time()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """End the session in this browser (revoke the key to end it everywhere)."""
    web = await run_in_threadpool(
        request.app.state.service.sessions.verify, request.cookies.get(SESSION_COOKIE)
    )
    if web is not None and not same_token(csrf_token, web.csrf):
        return Response("CSRF token missing or wrong", status_code=403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def today(request: Request) -> Response:
    """Today: the hierarchy's next week against last week, accuracy, what needs attention."""
    return render(request, await page_session(request), "today.html", "Today")


@router.get("/series")
async def series(request: Request, id: str = "total") -> Response:
    """One series: fan chart, past served forecasts against sales, anticipation, what-if."""
    return render(request, await page_session(request), "series.html", "Series", series_id=id)


@router.get("/orders")
async def orders(request: Request) -> Response:
    """Order quantities from on-hand stock, lead time and service level or shelf life."""
    return render(request, await page_session(request), "orders.html", "Orders")


@router.get("/data")
async def data(request: Request) -> Response:
    """Upload a sales export, map its columns, check it, build the datasets, retrain."""
    web = await page_session(request)
    if not keys.allows(web.key.role, "writer"):
        return render(
            request,
            web,
            "forbidden.html",
            "Data",
            status_code=403,
            needed="writer",
        )
    return render(request, web, "data.html", "Data")


@router.get("/accuracy")
async def accuracy(request: Request) -> Response:
    """Realized against expected accuracy over time, per store and category, and drift."""
    return render(request, await page_session(request), "accuracy.html", "Accuracy")


@router.get("/static/vendor/plotly.min.js")
async def plotly_js() -> FileResponse:
    """plotly.js from the installed plotly package (no CDN)."""
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def install_web(app: FastAPI) -> None:
    """Add the pages, the login and the static files to `app`."""

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.target, safe='')}", status_code=303)

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
