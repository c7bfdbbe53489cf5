"""The shipped config.example.toml with `[store] url` added: `leakmon once` scans the drop
folder, records and alerts in PostgreSQL (nothing in a SQLite file) and delivers."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from monitor.store import Store
from tests.support.example import example_config, prepare_example

pytestmark = pytest.mark.slow


def test_once_on_the_example_config_with_a_postgresql_store(tmp_path, pg_databases):
    url = pg_databases.create(migrated=False)  # `once` migrates it
    parts = urlsplit(url)
    bare = parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}").geturl()
    config = example_config()
    assert "\nretention_days = 30\n" in config
    env = prepare_example(tmp_path, config.replace(
        "\nretention_days = 30\n",
        f'\nretention_days = 30\nurl = "{bare}"\npassword = "env:LM_TEST_PG_PASSWORD"\n', 1))
    env["LM_TEST_PG_PASSWORD"] = parts.password
    once = subprocess.run([sys.executable, "-m", "monitor", "--config", "config.toml", "once"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert "outbox: sent" in once.stdout
    assert parts.password not in once.stdout + once.stderr
    state = tmp_path / "state"
    assert not (state / "leakmon.db").exists()
    with Store.open(url, state_dir=state) as store:
        [row] = store.outbox_rows()
        assert row["status"] == "sent" and row["sink"] == "local-jsonl"
        assert row["notification"]["rule_id"] == "secrets.cloud_keys"
        assert store.get_source_state("inbox").cursor is not None
    alerts = [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]
    assert [a["rule"]["id"] for a in alerts] == ["secrets.cloud_keys"]
