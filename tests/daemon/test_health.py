from __future__ import annotations

from datetime import timedelta

from monitor.collectors.base import SourceConfig
from monitor.daemon.runner import raise_health_alerts
from monitor.models import utcnow
from monitor.store import Store


class Sink:
    def __init__(self, name: str, accept: bool = True) -> None:
        self.name, self.accept = name, accept

    def accepts(self, n) -> bool:
        return self.accept


def operator_rows(store: Store) -> list[dict]:
    return [r for r in store.outbox_rows() if r["event"] == "operator"]


def test_one_alert_after_n_failures_then_again_after_recovery(tmp_path):
    store = Store.open(tmp_path)
    src = SourceConfig(name="paste", type="pastebin", alert_after_failures=3)
    sinks = [Sink("soc"), Sink("muted", accept=False)]
    for i in range(1, 7):
        store.record_source_run("paste", False, 0, "YOUR IP: DOES NOT HAVE ACCESS")
        raise_health_alerts(store, src, sinks)
        assert len(operator_rows(store)) == (0 if i < 3 else 1), f"after failure {i}"
    row = operator_rows(store)[0]
    assert row["sink"] == "soc"
    note = row["notification"]
    assert note["source"] == "paste" and note["severity"] == "high"
    assert "3 runs in a row" in note["title"] and "DOES NOT HAVE ACCESS" in note["excerpt"]

    store.record_source_run("paste", True, 4)
    raise_health_alerts(store, src, sinks)
    assert len(operator_rows(store)) == 1
    for _ in range(3):
        store.record_source_run("paste", False, 0, "timeout")
        raise_health_alerts(store, src, sinks)
    rows = operator_rows(store)
    assert len(rows) == 2
    assert rows[0]["idempotency_key"] != rows[1]["idempotency_key"]


def test_silence_alerts_once_per_quiet_spell(tmp_path):
    store = Store.open(tmp_path)
    src = SourceConfig(name="chan", type="telegram_web", expected_silence=3600.0)
    sinks = [Sink("soc")]
    start = utcnow() - timedelta(hours=5)
    store.record_source_run("chan", True, 10, now=start)
    store.record_source_run("chan", True, 0, now=start + timedelta(minutes=30))
    assert raise_health_alerts(store, src, sinks, now=start + timedelta(minutes=40)) == 0
    later = start + timedelta(hours=2)
    assert raise_health_alerts(store, src, sinks, now=later) == 1
    assert raise_health_alerts(store, src, sinks, now=later + timedelta(hours=1)) == 0
    note = operator_rows(store)[0]["notification"]
    assert note["event"] == "operator" and "silent" in note["title"]
    # new items, then a new quiet spell: a new alert
    store.record_source_run("chan", True, 3, now=later + timedelta(hours=2))
    assert raise_health_alerts(store, src, sinks, now=later + timedelta(hours=4)) == 1


def test_no_silence_alert_without_expected_silence(tmp_path):
    store = Store.open(tmp_path)
    src = SourceConfig(name="chan", type="telegram_web")
    store.record_source_run("chan", True, 1, now=utcnow() - timedelta(days=30))
    assert raise_health_alerts(store, src, [Sink("soc")]) == 0
