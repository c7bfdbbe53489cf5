"""`leakmon sinks list` and `leakmon sinks test [NAME]` end to end (in-process CLI)."""

from __future__ import annotations

import json

from monitor.cli import main
from monitor.store import Store
from tests.support.net import free_port
from tests.support.sinks import WebhookReceiver, make_notification


def write_config(tmp_path, webhook_url, syslog_port):
    cfg = tmp_path / "leakmon.toml"
    cfg.write_text(f"""
state_dir = "state"

[[sinks]]
name = "soar"
type = "webhook"
url = "{webhook_url}/hooks/T0KEN"
secret = "env:LEAKMON_WEBHOOK_SECRET"
min_severity = "high"

[[sinks]]
name = "siem-file"
type = "jsonl"
path = "alerts.jsonl"
rules = ["patients.*"]

[[sinks]]
name = "arcsight"
type = "syslog"
host = "127.0.0.1"
port = {syslog_port}
protocol = "tcp"
format = "cef"
digest = "15m"
""")
    return cfg


def test_sinks_test_reports_each_answer_and_fails_if_one_failed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEAKMON_WEBHOOK_SECRET", "cli-secret")
    with WebhookReceiver("cli-secret") as rx:
        cfg = write_config(tmp_path, rx.url, free_port())
        code = main(["--config", str(cfg), "sinks", "test"])
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.splitlines()
    assert lines[0] == "OK   soar (webhook): HTTP 200 OK"
    assert lines[1].startswith("OK   siem-file (jsonl): appended 1 line(s) to ")
    assert lines[2].startswith("FAIL arcsight (syslog): sink 'arcsight': syslog over tcp to "
                               "127.0.0.1:")
    assert "1 of 3 sink(s) failed" in out.err
    (got,) = rx.accepted
    n = got.json["notification"]
    assert n["title"] == "[TEST] leakmon test alert — no action needed"
    assert n["event"] == "test" and n["severity"] == "high"  # the sink's min_severity
    assert got.signature_ok
    record = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert record["event"]["action"] == "test"  # rule filters do not stop a test event
    assert "T0KEN" not in out.out + out.err


def test_sinks_test_one_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEAKMON_WEBHOOK_SECRET", "cli-secret")
    cfg = write_config(tmp_path, f"http://127.0.0.1:{free_port()}", free_port())
    assert main(["--config", str(cfg), "sinks", "test", "siem-file"]) == 0
    assert capsys.readouterr().out.startswith("OK   siem-file (jsonl)")
    assert main(["--config", str(cfg), "sinks", "test", "nope"]) == 2
    assert "no sink named 'nope'; configured: soar, siem-file, arcsight" in \
        capsys.readouterr().err


def test_sinks_list_shows_targets_filters_and_backlog(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEAKMON_WEBHOOK_SECRET", "cli-secret")
    monkeypatch.delenv("LEAKMON_STATE_DIR")
    cfg = write_config(tmp_path, "http://127.0.0.1:9", 5514)
    (tmp_path / "state").mkdir()
    with Store.open(tmp_path / "state" / "leakmon.db") as store:
        store.enqueue(make_notification(), ["soar", "arcsight"])
        store.enqueue(make_notification(idempotency_key="k2"), ["arcsight"])
    assert main(["--config", str(cfg), "sinks", "list"]) == 0
    out = capsys.readouterr().out
    assert "soar (webhook) -> http://127.0.0.1:9/…" in out
    assert "T0KEN" not in out
    assert "min_severity high; one message per event, 1 pending" in out
    assert "min_severity info, rules patients.*; one message per event, 0 pending" in out
    assert "arcsight (syslog) -> syslog+tcp://127.0.0.1:5514 (cef)" in out
    assert "digest every 15 min, 2 pending" in out
    assert main(["--config", str(cfg), "sinks", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["pending"]) for r in rows] == [
        ("soar", 1), ("siem-file", 0), ("arcsight", 2)]


def test_sinks_need_a_config(capsys):
    assert main(["sinks", "list"]) == 2
    assert "give --config FILE" in capsys.readouterr().err


def test_bad_sink_config_is_one_clear_line(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[sinks]]\nname = "x"\ntype = "syslog"\nhost = "h"\nprotocol = "sctp"\n')
    assert main(["--config", str(cfg), "sinks", "test"]) == 2
    assert capsys.readouterr().err.strip() == (
        "leakmon: error: sink 'x': protocol: 'sctp' is not one of udp, tcp, tls")
