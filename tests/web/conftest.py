"""A real uvicorn server on 127.0.0.1 (random port) over a seeded store."""

from __future__ import annotations

import re

import httpx
import pytest

from monitor.config import WebConfig
from monitor.store import Store
from monitor.web.server import BackgroundServer, make_server
from tests.web.seed import HOSTILE, PASSWORDS, add_incident, add_users


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    add_users(s)
    yield s
    s.close()


@pytest.fixture
def seeded(store):
    ids = {
        "leak": add_incident(store, 1, title="Records of fingerprint set patients",
                             sites=(("telegram", "leaks_fr"), ("pastebin", "pastebin"),
                                    ("tor", "lockbit")), records=3, canary=True),
        "hostile": add_incident(store, 2, title='Mention of <b>us</b> "><img onerror=x>',
                                severity="medium", excerpt=HOSTILE, rule="org.mention"),
    }
    return ids


def start(store: Store, config=None, **web) -> BackgroundServer:
    web.setdefault("secure_cookies", False)  # plain http on loopback
    return BackgroundServer(make_server(store, WebConfig(**web), "127.0.0.1:0",
                                        config)).start()


@pytest.fixture
def server(store, seeded):
    srv = start(store)
    yield srv
    srv.stop()


@pytest.fixture
def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


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
