"""The analysts' console on a loopback port, and logging in to it through the real login form."""

from __future__ import annotations

import re

import httpx

from monitor.config import WebConfig
from monitor.store import Store
from monitor.web.server import BackgroundServer, make_server
from tests.support.seed import PASSWORDS


def start(store: Store, config=None, **web) -> BackgroundServer:
    web.setdefault("secure_cookies", False)  # plain http on loopback
    return BackgroundServer(make_server(store, WebConfig(**web), "127.0.0.1:0",
                                        config)).start()


def login(base: str, name: str) -> httpx.Client:
    """A client holding a console session of `name` (cookie), after the real login form."""
    c = httpx.Client(base_url=base, follow_redirects=False)
    r = post_login(c, name, PASSWORDS[name])
    assert r.status_code == 303, r.text
    return c


def post_login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    """Fetch the login form (for its CSRF token and cookie), then submit it."""
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    return c.post("/login", data={"username": name, "password": password, "csrf": token})
