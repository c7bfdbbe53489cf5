"""The shipped config.example.toml runs as documented: `run` starts, scans the drop folder
with the shipped rules, stops cleanly on SIGTERM; `once` then delivers to the jsonl sink."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from monitor.store import Store
from tests.support.example import prepare_example

pytestmark = pytest.mark.slow


def test_example_config_runs_out_of_the_box(tmp_path):
    env = prepare_example(tmp_path)
    cmd = [sys.executable, "-m", "monitor", "--config", "config.toml"]
    proc = subprocess.Popen([*cmd, "run"], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                            text=True)
    state = tmp_path / "state"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read()
            if (state / "leakmon.db").exists():
                with Store.open(state) as store:
                    rows = store.outbox_rows()
                if rows:
                    break
            assert time.monotonic() < deadline, "the dropped file was never scanned"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "leakmon daemon started" in err and "leakmon daemon stopped" in err
    assert "AKIA454ML6LG4TJFCZ4K" not in err  # the secret itself never reaches the logs
    assert rows[0]["sink"] == "local-jsonl"
    assert rows[0]["notification"]["rule_id"] == "secrets.cloud_keys"

    once = subprocess.run([*cmd, "once"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert "inbox: not due yet" in once.stdout and "outbox: sent" in once.stdout
    alerts = [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]
    assert [a["rule"]["id"] for a in alerts] == ["secrets.cloud_keys"]
    assert (state / "alerts.jsonl").stat().st_mode & 0o077 == 0
