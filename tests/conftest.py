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
