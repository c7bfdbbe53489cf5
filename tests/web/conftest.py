"""A real uvicorn server on 127.0.0.1 (random port) over a seeded store."""

from __future__ import annotations

import pytest

from monitor.store import Store
from tests.support.seed import HOSTILE, add_incident, add_users
from tests.support.web import start


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


@pytest.fixture
def server(store, seeded):
    srv = start(store)
    yield srv
    srv.stop()


@pytest.fixture
def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"
