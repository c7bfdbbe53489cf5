"""Shared test set-up: nothing here may reach beyond 127.0.0.1."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Each test gets its own state dir and no inherited key or state location."""
    monkeypatch.delenv("LEAKMON_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("LEAKMON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LEAKMON_CACHE_DIR", str(tmp_path / "hscache"))  # not ~/.cache
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _restore_root_logger():
    """CLI tests call `setup_logging`, which binds a root handler to that test's captured
    stderr; put the root logger back so later tests do not log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# -- the store on both backends -------------------------------------------------------------------
# `store` (and `store_location`, what `Store.open` takes to open a second connection to the same
# database) run each test once on SQLite in tmp_path and once on a fresh PostgreSQL database.
# PostgreSQL comes from $LEAKMON_TEST_PG_URL (a role that may CREATE DATABASE; .ci/run starts a
# cluster and sets it) or else from a throw-away cluster this session starts and stops itself.


@pytest.fixture(scope="session")
def pg_url():
    """URL of a PostgreSQL role allowed to create databases, for the whole session."""
    import os
    import tempfile
    from pathlib import Path

    from tests.support import postgres

    url = os.environ.get("LEAKMON_TEST_PG_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="leakmon-pg-"))
    try:
        url = postgres.start(folder)
    except BaseException:
        postgres.stop(folder)  # and remove the folder
        raise
    try:
        yield url
    finally:
        postgres.stop(folder)


@pytest.fixture(scope="session")
def pg_databases(pg_url):
    """Fresh databases on `pg_url` (tests.support.postgres.PgDatabases), dropped at the end."""
    from tests.support.postgres import PgDatabases

    dbs = PgDatabases(pg_url)
    yield dbs
    dbs.close()


@pytest.fixture
def pg_database(pg_databases):
    """URL of a fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    url = pg_databases.create(migrated=False)
    yield url
    pg_databases.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """What `Store.open` takes: this test's SQLite state dir, or a fresh PostgreSQL database
    at the latest schema version."""
    if request.param == "sqlite":
        yield tmp_path
        return
    dbs = request.getfixturevalue("pg_databases")
    url = dbs.create()
    yield url
    dbs.drop(url)


@pytest.fixture
def store(store_location, tmp_path):
    from monitor.store import Store

    with Store.open(store_location, state_dir=tmp_path) as s:
        yield s
