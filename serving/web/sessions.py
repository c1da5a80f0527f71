"""Browser sessions: an API key exchanged at login for a signed, HttpOnly, SameSite=Strict cookie.

A session cookie is `key_id.expires.csrf.mac`, where `mac` is an HMAC of the first three parts
keyed by the key's stored hash (peppered with `ANTICIPATE_SESSION_SECRET` when set). So:

- nothing is stored per session, and every worker and every restart accepts the same cookie;
- revoking the key ends every session opened with it (within the key cache's seconds);
- the key itself never travels again after login, and a cookie cannot be forged without the
  key's hash, which never leaves the server.

`csrf` is a random token bound to the session: every unsafe request made with the cookie must
repeat it (the `X-CSRF-Token` header, or the `csrf_token` field of a form), on top of
SameSite=Strict. The login form itself is protected by a double-submit token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from serving.db import ApiKey

SESSION_COOKIE = "anticipate_session"
LOGIN_CSRF_COOKIE = "anticipate_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class WebSession:
    """A verified session: the live key behind it, its CSRF token and when it ends."""

    key: ApiKey
    csrf: str
    expires: int


def new_token() -> str:
    """A random URL-safe token (CSRF tokens, 128 bits)."""
    return secrets.token_urlsafe(16)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


class SessionBook:
    """Issues and verifies session cookies; keys are looked up by id, kept `seconds`."""

    def __init__(self, engine: Engine, hours: float, pepper: str = "", seconds: float = 5.0):
        self.engine = engine
        self.lifetime = int(hours * 3600)
        self.pepper = pepper.encode()
        self.seconds = seconds
        self._keys: dict[int, tuple[ApiKey | None, float]] = {}
        self._lock = threading.Lock()

    def issue(self, key: ApiKey, now: float | None = None) -> tuple[str, WebSession]:
        """A cookie value for `key` and the session it stands for."""
        expires = int((now or time.time()) + self.lifetime)
        csrf = new_token()
        body = f"{key.id}.{expires}.{csrf}"
        return f"{body}.{self._mac(key, body)}", WebSession(key=key, csrf=csrf, expires=expires)

    def verify(self, cookie: str | None, now: float | None = None) -> WebSession | None:
        """The session of a cookie, or None when it is malformed, forged, expired or revoked."""
        parts = (cookie or "").split(".")
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        key_id, expires, csrf, mac = int(parts[0]), int(parts[1]), parts[2], parts[3]
        if expires < (now or time.time()):
            return None
        key = self._key(key_id)
        if key is None:
            return None
        body = f"{key_id}.{expires}.{csrf}"
        if not hmac.compare_digest(mac.encode(), self._mac(key, body).encode()):
            return None
        return WebSession(key=key, csrf=csrf, expires=expires)

    def _mac(self, key: ApiKey, body: str) -> str:
        secret = hashlib.sha256(self.pepper + key.key_hash.encode()).digest()
        return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()

    def _key(self, key_id: int) -> ApiKey | None:
        """The live key `key_id` (None when revoked or unknown), from the database every few s."""
        now = time.monotonic()
        hit = self._keys.get(key_id)
        if hit is not None and now < hit[1]:
            return hit[0]
        with Session(self.engine, expire_on_commit=False) as session:
            key = session.scalar(
                select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            )
            if key is not None:
                session.expunge(key)
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key_id] = (key, now + self.seconds)
        return key
