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


def test_status_lists_every_worker_with_its_heartbeat_and_leases(tmp_path, capsys):
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    state = tmp_path / "state"
    seed(state)
    with Store.open(state) as store:
        for wid, host, labels in (("w1", "mon-1", ["tg-account-1"]), ("w2", "mon-2", []),
                                  ("w3", "mon-3", []), ("old", "mon-9", [])):
            store.register_worker(wid, host=host, pid=100 + len(wid), labels=labels, ttl=30,
                                  now=t0 - timedelta(days=3) if wid == "old" else t0)
        store.acquire_source_leases("w1", ["tg"], 1, ttl=30, now=t0)
        store.acquire_source_leases("w2", ["paste", "off"], 5, ttl=30, now=t0)
        store.renew_leases("w1", ttl=30, now=t0 + timedelta(seconds=40))  # w2 stopped renewing
        store.stop_worker("w3", now=t0 + timedelta(seconds=5))
    report = gather_status(parse_config(CONFIG), state, now=t0 + timedelta(seconds=45))
    workers = {w.id: w for w in report.workers}
    assert set(workers) == {"w1", "w2", "w3"}  # a worker gone for days drops out
    assert (workers["w1"].state, workers["w1"].leases, workers["w1"].labels) == (
        "alive", ["tg"], ["tg-account-1"])
    assert workers["w1"].heartbeat_at == "2026-12-01T12:00:40+00:00"
    assert (workers["w2"].state, workers["w2"].leases) == ("expired", ["off", "paste"])
    assert (workers["w3"].state, workers["w3"].leases) == ("stopped", [])
    assert {r.name: r.worker for r in report.sources} == {
        "paste": "w2", "tg": "w1", "off": "w2", "gone": None}
    lines = render_status(report).splitlines()
    assert lines[2].split()[-3:] == ["WORKER", "LAST", "ERROR"]  # who runs each source
    tg = next(x for x in lines if x.startswith("tg "))
    assert tg[lines[2].index("WORKER"):].split()[0] == "w1"
    header = lines.index(next(x for x in lines if x.startswith("WORKER")))
    assert lines[header].split() == ["WORKER", "HOST", "PID", "LABELS", "LAST", "HEARTBEAT",
                                     "STATE", "LEASES"]
    w1 = next(x for x in lines[header:] if x.startswith("w1 "))
    assert w1.split() == ["w1", "mon-1", "102", "tg-account-1", "2026-12-01", "12:00:40Z",
                          "alive", "1:", "tg"]

    config = tmp_path / "c.toml"
    config.write_text('[[sources]]\nname = "paste"\ntype = "pastebin"\n')
    assert main(["--config", str(config), "--state-dir", str(state), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"daemon_pid", "lock_holder", "sources", "outbox_backlog", "incidents"} < set(data)
    assert data["sources"][0]["worker"] == "w2"
    by_id = {w["id"]: w for w in data["workers"]}
    assert by_id["w1"]["host"] == "mon-1" and by_id["w1"]["leases"] == ["tg"]
    assert by_id["w1"]["state"] == "expired"  # now (days later) nobody renewed
