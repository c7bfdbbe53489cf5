"""Console accounts, API tokens and web sessions in the store.

Why this shape: passwords are argon2id hashes (argon2-cffi); API tokens and session cookies are
random 256-bit values of which only the sha256 is stored, so a copy of the database lets nobody
log in. Functions take a `Store` so the Store class stays free of web concerns.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.errors import LeakmonError
from monitor.models import utcnow
from monitor.store import Store
from monitor.store._util import iso, parse_iso

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
SESSION_TTL = timedelta(hours=12)
_hasher = PasswordHasher()


class UserError(LeakmonError):
    """A user cannot be created, found or changed as asked."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    created_at: datetime | None = None

    def can(self, need: str) -> bool:
        """True when this user's role is `need` or above (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(need)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '-', '@'")


def add_user(store: Store, name: str, role: str, password: str | None) -> User:
    """Create an account; `password=None` makes a proxy-only account (no password login)."""
    _check_name(name)
    if role not in ROLES:
        raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise UserError("password: at least 8 characters")
    with store.transaction():
        if store.db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserError(f"user {name!r} already exists in {store.path}")
        store.db.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)",
            (name, role, _hasher.hash(password) if password is not None else None,
             iso(utcnow())))
    return User(name, role)


def get_user(store: Store, name: str) -> User | None:
    row = store.db.execute("SELECT name, role, created_at FROM users "
                           "WHERE name = ? AND disabled = 0", (name,)).fetchone()
    return User(row[0], row[1], parse_iso(row[2])) if row else None


def list_users(store: Store) -> list[User]:
    return [User(r[0], r[1], parse_iso(r[2])) for r in store.db.execute(
        "SELECT name, role, created_at FROM users WHERE disabled = 0 ORDER BY name")]


def remove_user(store: Store, name: str) -> None:
    with store.transaction():
        if not store.db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
            raise UserError(f"no user {name!r} in {store.path}")
        store.db.execute("DELETE FROM api_tokens WHERE user_name = ?", (name,))
        store.db.execute("DELETE FROM web_sessions WHERE user_name = ?", (name,))


def verify_password(store: Store, name: str, password: str) -> User | None:
    """The user when `password` is right; None otherwise (unknown user included)."""
    row = store.db.execute("SELECT password_hash FROM users WHERE name = ? AND disabled = 0",
                           (name,)).fetchone()
    if not row or not row[0]:
        _hasher.hash(password)  # same cost whether or not the user exists
        return None
    try:
        _hasher.verify(row[0], password)
    except (VerificationError, InvalidHashError):
        return None
    return get_user(store, name)


def create_token(store: Store, name: str, label: str = "") -> str:
    """A new API token for `name`; returned once, only its sha256 is stored."""
    if get_user(store, name) is None:
        raise UserError(f"no user {name!r} in {store.path}")
    token = "lm_" + secrets.token_urlsafe(32)
    with store.transaction():
        store.db.execute("INSERT INTO api_tokens (token_hash, user_name, label, created_at) "
                         "VALUES (?,?,?,?)", (_sha(token), name, label, iso(utcnow())))
    return token


def user_for_token(store: Store, token: str) -> User | None:
    row = store.db.execute("SELECT user_name FROM api_tokens WHERE token_hash = ?",
                           (_sha(token),)).fetchone()
    return get_user(store, row[0]) if row else None


def revoke_tokens(store: Store, name: str) -> int:
    with store.transaction():
        return store.db.execute("DELETE FROM api_tokens WHERE user_name = ?", (name,)).rowcount


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str


def create_session(store: Store, name: str, now: datetime | None = None) -> str:
    """A new session cookie value for `name` (only its sha256 is stored)."""
    now = now or utcnow()
    value = secrets.token_urlsafe(32)
    with store.transaction():
        store.db.execute("DELETE FROM web_sessions WHERE expires_at < ?", (iso(now),))
        store.db.execute("INSERT INTO web_sessions (session_hash, user_name, csrf, created_at, "
                         "expires_at) VALUES (?,?,?,?,?)",
                         (_sha(value), name, secrets.token_urlsafe(32), iso(now),
                          iso(now + SESSION_TTL)))
    return value


def get_session(store: Store, value: str, now: datetime | None = None) -> Session | None:
    row = store.db.execute("SELECT user_name, csrf FROM web_sessions WHERE session_hash = ? "
                           "AND expires_at > ?", (_sha(value), iso(now or utcnow()))).fetchone()
    if not row:
        return None
    user = get_user(store, row[0])
    return Session(user, row[1]) if user else None


def end_session(store: Store, value: str) -> None:
    with store.transaction():
        store.db.execute("DELETE FROM web_sessions WHERE session_hash = ?", (_sha(value),))
