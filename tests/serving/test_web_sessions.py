"""Session cookies of the web page: signed per key, expiring, ended by revoking the key."""

from __future__ import annotations

from pathlib import Path

from serving.db import make_engine, migrate
from serving.keys import create_key, revoke_key, verify_key
from serving.web.sessions import SessionBook


def _book(tmp_path: Path, **kwargs) -> tuple[SessionBook, object, int, str]:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    key_id, plaintext = create_key(engine, "writer", "anna")
    return SessionBook(engine, hours=8, seconds=0.0, **kwargs), engine, key_id, plaintext


def test_a_cookie_stands_for_its_key_until_it_expires(tmp_path: Path) -> None:
    book, engine, key_id, plaintext = _book(tmp_path)
    key = verify_key(engine, plaintext)  # type: ignore[arg-type]
    assert key is not None
    cookie, issued = book.issue(key, now=1_000_000.0)
    web = book.verify(cookie, now=1_000_000.0 + 7 * 3600)
    assert web is not None and web.key.id == key_id and web.key.role == "writer"
    assert web.csrf == issued.csrf and len(web.csrf) >= 20
    assert plaintext not in cookie  # the key itself never travels again
    assert book.verify(cookie, now=1_000_000.0 + 8 * 3600 + 1) is None


def test_a_changed_or_forged_cookie_is_refused(tmp_path: Path) -> None:
    book, engine, _, plaintext = _book(tmp_path)
    key = verify_key(engine, plaintext)  # type: ignore[arg-type]
    cookie, _ = book.issue(key, now=2_000_000.0)  # type: ignore[arg-type]
    key_id, expires, csrf, mac = cookie.split(".")
    later = str(int(expires) + 86_400)
    assert book.verify(f"{key_id}.{later}.{csrf}.{mac}", now=2_000_000.0) is None
    assert book.verify(f"{key_id}.{expires}.other{csrf}.{mac}", now=2_000_000.0) is None
    assert book.verify(f"{key_id}.{expires}.{csrf}.{'0' * len(mac)}", now=2_000_000.0) is None
    for junk in ("", "x", "1.2.3", "a.b.c.d", None):
        assert book.verify(junk, now=2_000_000.0) is None
    # another server secret signs differently: its cookies are not ours
    other = SessionBook(engine, hours=8, pepper="another secret", seconds=0.0)  # type: ignore[arg-type]
    assert other.verify(cookie, now=2_000_000.0) is None


def test_revoking_the_key_ends_its_sessions(tmp_path: Path) -> None:
    book, engine, key_id, plaintext = _book(tmp_path)
    key = verify_key(engine, plaintext)  # type: ignore[arg-type]
    cookie, _ = book.issue(key)  # type: ignore[arg-type]
    assert book.verify(cookie) is not None
    assert revoke_key(engine, key_id)  # type: ignore[arg-type]
    assert book.verify(cookie) is None
