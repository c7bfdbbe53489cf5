"""Who is asking: session cookie, API bearer token, or a trusted reverse-proxy header.

No anonymous access: a request with none of these gets 401 (API) or the login page (UI).
The proxy header is believed only when the TCP peer is the configured proxy address.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

from starlette.requests import Request

from monitor.store.users import Session, User, get_session, get_user, user_for_token

COOKIE = "leakmon_session"


class LoginLimiter:
    """At most `limit` failed logins per `window` seconds per client address and per user."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)


def identify(request: Request) -> tuple[User | None, Session | None]:
    """The user behind `request` and, for cookie sessions, the session (for its CSRF token)."""
    app = request.app.state
    store = app.store
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return user_for_token(store, auth[7:].strip()), None
    settings = app.settings
    if settings.proxy_header and settings.proxy_address and request.client \
            and request.client.host == settings.proxy_address:
        name = request.headers.get(settings.proxy_header)
        if name:
            return get_user(store, name), None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session = get_session(store, cookie)
        if session:
            return session.user, session
    return None, None


def csrf_ok(session: Session | None, submitted: object) -> bool:
    """Cookie sessions must echo their CSRF token; token/proxy requests carry no ambient cookie."""
    if session is None:
        return True
    # `submitted` is a form field: a file upload in its place is no token either
    return isinstance(submitted, str) and bool(submitted) and hmac.compare_digest(session.csrf,
                                                                                 submitted)
