"""API keys on a real SQLite file: only hashes stored, revocation, and the role order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from serving.db import ApiKey, make_engine, migrate
from serving.keys import ROLES, allows, create_key, list_keys, revoke_key, verify_key


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_created_key_verifies_and_only_its_hash_is_stored(engine: Engine) -> None:
    """The plaintext is shown once; the table holds its 12-char prefix and its sha256."""
    key_id, plaintext = create_key(engine, "writer", "shop front")
    assert plaintext.startswith("ant_") and len(plaintext) == 4 + 43
    key = verify_key(engine, plaintext)
    assert key is not None
    assert (key.id, key.role, key.name, key.revoked_at) == (key_id, "writer", "shop front", None)
    with engine.connect() as connection:
        stored = connection.execute(select(ApiKey.prefix, ApiKey.key_hash)).one()
    assert stored.prefix == plaintext[:12]
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in stored


@pytest.mark.parametrize(
    "guess",
    [
        lambda real: real[:-1] + ("A" if real[-1] != "A" else "B"),  # same prefix, wrong tail
        lambda real: real[:12],  # the prefix alone
        lambda real: "ant_" + "x" * 43,  # unknown prefix
        lambda real: "",
        lambda real: real.upper(),
    ],
    ids=["wrong-tail", "prefix-only", "unknown", "empty", "upper-case"],
)
def test_a_wrong_key_is_refused(engine: Engine, guess) -> None:
    """Anything but the exact plaintext gives None."""
    _, plaintext = create_key(engine, "admin")
    assert verify_key(engine, guess(plaintext)) is None


def test_a_revoked_key_is_refused_and_listed_as_revoked(engine: Engine) -> None:
    """Revocation takes effect at once; the key stays listed with its revoked_at."""
    first, kept = create_key(engine, "viewer", "old")
    second, gone = create_key(engine, "viewer", "leaked")
    assert revoke_key(engine, second) is True
    assert revoke_key(engine, second) is False  # already revoked
    assert revoke_key(engine, 999) is False
    assert verify_key(engine, gone) is None
    assert verify_key(engine, kept) is not None
    listed = list_keys(engine)
    assert [(k.id, k.name, k.revoked_at is None) for k in listed] == [
        (first, "old", True),
        (second, "leaked", False),
    ]


def test_an_unknown_role_is_refused(engine: Engine) -> None:
    """Only viewer, writer and admin exist, for keys and for checks."""
    with pytest.raises(ValueError, match=r"unknown role 'owner'; roles are \['viewer'"):
        create_key(engine, "owner")
    with pytest.raises(ValueError, match="unknown role"):
        allows("viewer", "superuser")
    assert list_keys(engine) == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("needed", ROLES)
def test_roles_are_ordered(role: str, needed: str) -> None:
    """viewer < writer < admin: a role may do what it or a weaker role may."""
    assert allows(role, needed) is (ROLES.index(role) >= ROLES.index(needed))
