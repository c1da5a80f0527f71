"""API keys and roles: keys are random tokens shown once; only a prefix and a hash are stored.

A key is "ant_" + 32 random bytes (256 bits). Its sha256 is stored, not a slow password hash:
slow hashes (bcrypt, argon2) exist to make guessing low-entropy passwords expensive, and nobody
can enumerate 2**256 candidates, so a fast hash is as safe here and keeps every request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from serving.db import ROLE_NAMES, ApiKey, utcnow

__all__ = ["ROLES", "ApiKey", "allows", "create_key", "list_keys", "revoke_key", "verify_key"]

#: Roles, weakest first: each may do everything the ones before it may.
ROLES: tuple[str, ...] = ROLE_NAMES
KEY_START = "ant_"
#: Stored, indexed and unique: the lookup handle of a key (the start plus 8 random characters).
PREFIX_LENGTH = 12


def _rank(role: str) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {list(ROLES)}")
    return ROLES.index(role)


def allows(role: str, needed: str) -> bool:
    """Whether a key of `role` may do what needs `needed` (viewer < writer < admin)."""
    return _rank(role) >= _rank(needed)


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_key(engine: Engine, role: str, name: str = "") -> tuple[int, str]:
    """Create a key of `role`; returns its id and the plaintext, which is never stored."""
    _rank(role)
    with Session(engine) as session, session.begin():
        while True:
            plaintext = KEY_START + secrets.token_urlsafe(32)
            prefix = plaintext[:PREFIX_LENGTH]
            # 48 random bits in the prefix: a clash is next to impossible, but cheap to rule out.
            if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
                break
        key = ApiKey(
            name=name, prefix=prefix, key_hash=_hash(plaintext), role=role, created_at=utcnow()
        )
        session.add(key)
        session.flush()
        return key.id, plaintext


def verify_key(engine: Engine, plaintext: str) -> ApiKey | None:
    """The live (not revoked) key matching `plaintext`, or None."""
    if not plaintext.startswith(KEY_START) or len(plaintext) <= PREFIX_LENGTH:
        return None
    with Session(engine, expire_on_commit=False) as session:
        key = session.scalar(
            select(ApiKey).where(
                ApiKey.prefix == plaintext[:PREFIX_LENGTH], ApiKey.revoked_at.is_(None)
            )
        )
        if key is None or not hmac.compare_digest(key.key_hash, _hash(plaintext)):
            return None
        session.expunge(key)
        return key


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included (their `revoked_at` is set), oldest first."""
    with Session(engine) as session:
        keys = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
        session.expunge_all()
        return keys


def revoke_key(engine: Engine, key_id: int) -> bool:
    """Revoke key `key_id`; False when there is no such live key."""
    with engine.begin() as connection:
        result = connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return result.rowcount == 1
