from __future__ import annotations

import json

from monitor.cli import main
from monitor.config import parse_config
from monitor.daemon.status import gather_status, render_status
from monitor.models import Document
from monitor.pipeline import Pipeline
from monitor.store import Store
from tests.support.scanners import keyword_scanner


class Sink:
    name = "soc"

    def accepts(self, n) -> bool:
        return True


def seed(state):
    state.mkdir(mode=0o700, exist_ok=True)
    with Store.open(state) as store:
        store.record_source_run("paste", True, 3)
        store.record_source_run("tg", False, 0, "t.me answered 429")
        store.record_source_run("tg", False, 0, "t.me answered 429")
        store.record_source_run("gone", True, 1)
        Pipeline(store, sinks=[Sink()], scanner=keyword_scanner()).process_batch(
            "paste", [Document("paste", "pastebin", "k1", b"LEAK here")], None)


CONFIG = {"sources": [{"name": "paste", "type": "pastebin", "every": "2m"},
                      {"name": "tg", "type": "telegram_web", "channel": "x"},
                      {"name": "off", "type": "files", "path": "in", "enabled": False}]}


def test_gather_status(tmp_path):
    seed(tmp_path)
    report = gather_status(parse_config(CONFIG), tmp_path)
    rows = {s.name: s for s in report.sources}
    assert report.daemon_pid is None
    assert rows["paste"].items_last_run == 3 and rows["paste"].last_error is None
    assert rows["paste"].next_run is not None and rows["paste"].next_run != "due now"
    assert rows["tg"].consecutive_failures == 2 and "429" in rows["tg"].last_error
    assert rows["off"].next_run is None and rows["off"].last_run is None
    assert not rows["gone"].configured
    assert report.outbox_backlog == {"soc": 1}
    assert report.incidents == {"new": 1}
    text = render_status(report)
    assert "gone (not configured)" in text and "off (disabled)" in text
    assert "outbox backlog: soc 1" in text and "incidents: new 1" in text


def test_status_cli_json(tmp_path, capsys):
    state = tmp_path / "state"
    seed(state)
    config = tmp_path / "c.toml"
    config.write_text('[[sources]]\nname = "paste"\ntype = "pastebin"\n')
    assert main(["--config", str(config), "--state-dir", str(state), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sources"][0]["name"] == "paste"
    assert data["outbox_backlog"] == {"soc": 1}


def test_a_once_pass_holding_the_lock_is_not_called_a_daemon(tmp_path):
    from monitor.daemon.lock import StateLock

    seed(tmp_path)
    with StateLock(tmp_path):
        report = gather_status(parse_config(CONFIG), tmp_path)
    assert report.daemon_pid is None and report.lock_holder is not None
    assert "a `leakmon once` pass" in render_status(report)
