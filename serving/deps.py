"""What routes are handed: the service, the live model, and the caller's key with its role.

    def create_forecasts(body: ForecastRequest, live: LiveModelDep, key: ViewerKey) -> ...

Keys come in the `X-API-Key` header or as `Authorization: Bearer <key>`; both are declared as
security schemes, so the OpenAPI document has `securitySchemes` and /docs an Authorize button.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serving import keys
from serving.errors import Forbidden, Unauthorized
from serving.service import Service
from serving.state import LiveModel
from serving.web.sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, same_token

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key (`anticipate keys create --role viewer|writer|admin`).",
)
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


async def get_service(request: Request) -> Service:
    """The app's Service."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_live_model(service: ServiceDep) -> LiveModel:
    """The model snapshot this request is served with (503 when none is loaded)."""
    return service.live()


LiveModelDep = Annotated[LiveModel, Depends(get_live_model)]


def require(role: str):  # type: ignore[no-untyped-def]
    """A dependency: the caller's key must exist, be active and have at least `role`.

    The key comes in a header, or from the web page's session cookie; a request made with the
    cookie that changes anything must also carry the session's CSRF token.
    """

    async def check(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)] = None,
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    ) -> keys.ApiKey:
        plaintext = (api_key or (token.credentials if token else "") or "").strip()
        if plaintext:
            key = await request.app.state.service.keys.verified(plaintext)
            if key is None:
                raise Unauthorized("the API key is unknown or revoked")
        else:
            key = await session_key(request)
        if not keys.allows(key.role, role):
            raise Forbidden(f"this needs the {role} role; the key has the {key.role} role")
        return key

    return check


async def session_key(request: Request) -> keys.ApiKey:
    """The key behind the request's session cookie (401 without one, 403 without its CSRF)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("an API key is required in the X-API-Key header")
    web = await run_in_threadpool(request.app.state.service.sessions.verify, cookie)
    if web is None:
        raise Unauthorized("the session has expired or its key was revoked; log in again")
    if request.method not in SAFE_METHODS and not same_token(
        request.headers.get(CSRF_HEADER), web.csrf
    ):
        raise Forbidden(f"a request made with the session cookie needs its {CSRF_HEADER} header")
    return web.key


ViewerKey = Annotated[keys.ApiKey, Depends(require("viewer"))]
WriterKey = Annotated[keys.ApiKey, Depends(require("writer"))]
AdminKey = Annotated[keys.ApiKey, Depends(require("admin"))]
