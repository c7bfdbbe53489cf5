"""The outbox worker against the real Store and real receivers on 127.0.0.1: backoff while a
sink is down, delivery once it is back, the retry limit, digests, orphans, and a process
killed in the middle of a delivery."""

from __future__ import annotations

import itertools
import json
import logging
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting.delivery import DeliveryPolicy, deliver_due
from monitor.alerting.sinks import build_sinks
from monitor.config import parse_config
from tests.support.net import free_port
from tests.support.sinks import WebhookReceiver, make_notification

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SECRET = "whsec-test"


def sinks_for(*tables, tmp_path=None):
    cfg = parse_config({"sinks": list(tables)})
    return build_sinks(cfg.sinks, cfg)


def webhook(url, **extra):
    return {"name": "soar", "type": "webhook", "url": url, "secret": SECRET, **extra}


def notifications(count, **kw):
    return [make_notification(idempotency_key=f"inc-{i}:new", incident_id=i,
                              dedup_key=f"dk-{i}", **kw) for i in range(1, count + 1)]


def rows(store, sink=None):
    return [r for r in store.outbox_rows() if sink is None or r["sink"] == sink]


def test_due_items_are_delivered_once_and_marked_sent(store, tmp_path):
    with WebhookReceiver(SECRET) as rx:
        sinks = sinks_for(webhook(rx.url),
                          {"name": "file", "type": "jsonl", "path": str(tmp_path / "a.jsonl")})
        for n in notifications(2):
            store.enqueue(n, sinks, now=T0)
        report = deliver_due(store, sinks, now=T0)
        again = deliver_due(store, sinks, now=T0 + timedelta(minutes=5))
    assert (report.sent, report.failed, report.dead) == (4, 0, 0) and report.ok
    assert again.sent == 0
    assert [d.key for d in rx.accepted] == ["inc-1:new", "inc-2:new"]
    assert all(d.signature_ok for d in rx.accepted)
    assert {r["status"] for r in rows(store)} == {"sent"}
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2
    first = rows(store, "soar")[0]
    assert first["detail"] == "HTTP 200 OK"
    assert [a["ok"] for a in store.delivery_attempts(first["id"])] == [1]


def test_sink_down_for_an_hour_gets_everything_once_back(store):
    port = free_port()  # nothing listens here yet: connection refused
    sinks = sinks_for(webhook(f"http://127.0.0.1:{port}/hook"))
    for n in notifications(3):
        store.enqueue(n, sinks, now=T0)
    rng = random.Random(7)
    now, runs = T0, 0
    while now <= T0 + timedelta(hours=1):  # the daemon's outbox job, every 30 s for an hour
        report = deliver_due(store, sinks, now=now, rng=rng)
        assert report.sent == 0 and report.dead == 0
        now += timedelta(seconds=30)
        runs += 1
    attempts = [r["attempts"] for r in rows(store)]
    # exponential backoff: ~7 tries each in an hour, not one per run
    assert all(5 <= a <= 9 for a in attempts), attempts
    assert all(r["status"] == "pending" for r in rows(store))
    assert "Connection refused" in rows(store)[0]["last_error"]
    tried = [datetime.fromisoformat(a["attempted_at"])
             for a in store.delivery_attempts(rows(store)[0]["id"])]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(tried)]
    assert gaps == sorted(gaps) and gaps[-1] >= 600 and gaps[0] <= 120
    with WebhookReceiver(SECRET, port=port) as rx:
        report = deliver_due(store, sinks, now=now + timedelta(hours=1))
    assert report.sent == 3
    assert sorted(d.key for d in rx.accepted) == ["inc-1:new", "inc-2:new", "inc-3:new"]
    assert len(rx.requests) == 3
    assert {r["status"] for r in rows(store)} == {"sent"}
    # every failed attempt is on record with its error
    errors = [a for r in rows(store) for a in store.delivery_attempts(r["id"]) if not a["ok"]]
    assert len(errors) == sum(attempts) and all(a["detail"] for a in errors)


def test_503_is_retried_with_backoff_then_delivered(store):
    with WebhookReceiver(SECRET) as rx:
        rx.statuses = [503, 503]
        sinks = sinks_for(webhook(rx.url))
        store.enqueue(make_notification(), sinks, now=T0)
        r1 = deliver_due(store, sinks, now=T0, rng=random.Random(1))
        nxt1 = datetime.fromisoformat(rows(store)[0]["next_attempt_at"])
        r_early = deliver_due(store, sinks, now=nxt1 - timedelta(seconds=1))
        r2 = deliver_due(store, sinks, now=nxt1, rng=random.Random(1))
        nxt2 = datetime.fromisoformat(rows(store)[0]["next_attempt_at"])
        r3 = deliver_due(store, sinks, now=nxt2)
    assert (r1.failed, r_early.failed + r_early.sent, r2.failed, r3.sent) == (1, 0, 1, 1)
    assert "HTTP 503" in r1.errors[0]
    assert (nxt2 - nxt1) > (nxt1 - T0)  # the wait doubled (with jitter)
    assert len(rx.accepted) == 1 and rx.accepted[0].key == "inc-12:new"


def test_retry_limit_then_dead_with_the_error_kept(store):
    with WebhookReceiver(SECRET) as rx:
        rx.statuses = [500] * 10
        sinks = sinks_for(webhook(rx.url))
        store.enqueue(make_notification(), sinks, now=T0)
        policy = DeliveryPolicy(max_attempts=3)
        now, reports = T0, []
        for _ in range(5):
            reports.append(deliver_due(store, sinks, now=now, policy=policy))
            now += timedelta(hours=2)
    assert [r.failed for r in reports] == [1, 1, 0, 0, 0]
    assert [r.dead for r in reports] == [0, 0, 1, 0, 0]
    (row,) = rows(store)
    assert row["status"] == "dead" and row["attempts"] == 3
    assert "HTTP 500" in row["last_error"] and "gave up after 3 attempts" in row["last_error"]


def test_permanent_error_is_dead_at_once(store):
    with WebhookReceiver("another-secret") as rx:  # signature check fails: HTTP 401
        sinks = sinks_for(webhook(rx.url))
        store.enqueue(make_notification(), sinks, now=T0)
        report = deliver_due(store, sinks, now=T0)
    assert report.dead == 1 and not report.ok
    (row,) = rows(store)
    assert row["status"] == "dead" and "HTTP 401" in row["last_error"]
    assert "not retryable" in row["last_error"]


def test_items_for_a_removed_sink_are_dead_with_the_reason(store, tmp_path):
    old = sinks_for({"name": "old-chat", "type": "jsonl", "path": str(tmp_path / "x")})
    store.enqueue(make_notification(), old, now=T0)
    store.enqueue(make_notification(idempotency_key="later"), old,
                  now=T0 + timedelta(days=1))  # not even due yet
    current = sinks_for({"name": "file", "type": "jsonl", "path": str(tmp_path / "y")})
    report = deliver_due(store, current, now=T0)
    assert report.dead == 2
    assert {r["status"] for r in rows(store)} == {"dead"}
    assert all("sink 'old-chat' is no longer configured" in r["last_error"] for r in rows(store))
    assert store.outbox_backlog() == {}


def test_a_down_sink_does_not_hold_back_the_others(store, tmp_path):
    sinks = sinks_for(webhook(f"http://127.0.0.1:{free_port()}/"),
                      {"name": "file", "type": "jsonl", "path": str(tmp_path / "a.jsonl")})
    for n in notifications(3):
        store.enqueue(n, sinks, now=T0)
    report = deliver_due(store, sinks, now=T0)
    assert report.sent == 3 and report.failed == 1
    soar = rows(store, "soar")
    # only the first item was tried; the others kept their attempt budget
    assert sorted(r["attempts"] for r in soar) == [0, 0, 1]


def test_digest_sends_one_summary_per_interval(store):
    with WebhookReceiver(SECRET) as rx:
        sinks = sinks_for(webhook(rx.url, digest=10))
        for n in notifications(3):
            store.enqueue(n, sinks, now=T0)
        r_early = deliver_due(store, sinks, now=T0 + timedelta(minutes=1))
        r_due = deliver_due(store, sinks, now=T0 + timedelta(minutes=10))
        (late,) = notifications(4)[3:]
        store.enqueue(late, sinks, now=T0 + timedelta(minutes=12))
        r_wait = deliver_due(store, sinks, now=T0 + timedelta(minutes=21))
        r_next = deliver_due(store, sinks, now=T0 + timedelta(minutes=22))
    assert (r_early.digested, r_due.digested, r_wait.digested, r_next.digested) == (0, 3, 0, 1)
    assert len(rx.accepted) == 2
    first = rx.accepted[0].json
    assert first["schema"] == "leakmon.digest/1" and len(first["notifications"]) == 3
    assert first["text"].startswith("[leakmon] digest: 3 alert(s)")
    assert {r["status"] for r in rows(store)} == {"sent"}
    assert store.get_meta("digest_last_sent:soar").startswith("2026-11-28T10:22")


def test_failed_digest_is_retried_with_backoff(store):
    with WebhookReceiver(SECRET) as rx:
        rx.statuses = [502]
        sinks = sinks_for(webhook(rx.url, digest=5))
        for n in notifications(2):
            store.enqueue(n, sinks, now=T0)
        r1 = deliver_due(store, sinks, now=T0 + timedelta(minutes=5))
        r2 = deliver_due(store, sinks, now=T0 + timedelta(minutes=30))
    assert (r1.failed, r1.digested, r2.digested) == (2, 0, 2)
    assert len(rx.accepted) == 1 and len(rx.accepted[0].json["notifications"]) == 2


def test_backoff_policy():
    p = DeliveryPolicy()
    rng = random.Random(3)
    for failures, base in [(1, 30), (2, 60), (5, 480), (7, 1920), (8, 3600), (25, 3600)]:
        d = p.delay(failures, rng)
        assert base * 0.8 <= d <= base * 1.2
    total = sum(min(3600, 30 * 2 ** (k - 1)) for k in range(1, p.max_attempts))
    assert 20 * 3600 <= total <= 30 * 3600  # about a day of retries before giving up


# -- a process killed in the middle of a delivery -----------------------------------------------

WORKER = textwrap.dedent("""
    import os, signal, sys
    from monitor.alerting.delivery import deliver_due
    from monitor.alerting.sinks import build_sinks
    from monitor.config import load_config
    from monitor.store import Store

    config = load_config(sys.argv[1])
    store = Store.open(sys.argv[2])  # the test's store: a SQLite file or a PostgreSQL URL
    with open(sys.argv[3], "w") as f:
        f.write(str(os.getpid()))
    if sys.argv[4] == "crash-before-mark":
        # the receiver has the message, the process dies before recording it as sent
        store.outbox_sent = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    report = deliver_due(store, build_sinks(config.sinks, config))
    print(f"sent={report.sent} failed={report.failed}")
""")


def _run_worker(tmp_path: Path, location: Path | str, url: str,
                mode: str) -> subprocess.CompletedProcess:
    config = tmp_path / "leakmon.toml"
    config.write_text(f'[[sinks]]\nname = "soar"\ntype = "webhook"\nurl = "{url}"\n'
                      f'secret = "{SECRET}"\n')
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return subprocess.run([sys.executable, str(script), str(config), str(location),
                           str(tmp_path / "worker.pid"), mode],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["killed-by-receiver", "crash-before-mark"])
def test_killed_mid_delivery_resends_with_the_same_key(tmp_path, store_location, store, mode):
    n = make_notification()
    store.enqueue(n, ["soar"])
    with WebhookReceiver(SECRET) as rx:
        if mode == "killed-by-receiver":
            # the receiver SIGKILLs the sender (pid from its pid file) while the request is
            # in flight: the sender never sees the answer
            rx.kill_pid_file = tmp_path / "worker.pid"
        first = _run_worker(tmp_path, store_location, rx.url, mode)
        assert first.returncode == -9, first.stderr
        (row,) = rows(store)
        assert row["status"] == "pending"  # not lost, not marked sent
        rx.kill_pid_file = None
        second = _run_worker(tmp_path, store_location, rx.url, "normal")
    assert second.returncode == 0, second.stderr
    assert "sent=1" in second.stdout
    assert [d.key for d in rx.requests] == ["inc-12:new", "inc-12:new"]  # the same key twice
    assert len(rx.accepted) == 1  # the receiver de-duplicated it
    (row,) = rows(store)
    assert row["status"] == "sent"


def test_outbox_rows_hold_no_secret(store, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "never-store-me")
    with WebhookReceiver("never-store-me") as rx:
        sinks = sinks_for(webhook(rx.url + "/path-token-123", secret="env:HOOK_SECRET"))
        store.enqueue(make_notification(), sinks, now=T0)
        rx.statuses = [503]
        deliver_due(store, sinks, now=T0)
    dumped = json.dumps(rows(store)) + json.dumps(store.delivery_attempts(rows(store)[0]["id"]))
    assert "never-store-me" not in dumped and "path-token-123" not in dumped


def test_failing_deliveries_log_no_secret(store, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MAIL_URL", f"mailto://alerts:Sm7pPassw0rd@127.0.0.1:{free_port()}"
                                   "?from=l@h.example&to=soc@h.example&mode=insecure")
    sinks = sinks_for(
        webhook(f"http://127.0.0.1:{free_port()}/hooks/PathToken9876", secret="HmacKey5432"),
        {"name": "mail", "type": "apprise", "urls": ["env:MAIL_URL"]})
    store.enqueue(make_notification(), sinks, now=T0)
    report = deliver_due(store, sinks, now=T0)
    assert report.failed == 2
    stored = json.dumps(rows(store))
    for secret in ("Sm7pPassw0rd", "PathToken9876", "HmacKey5432"):
        assert secret not in caplog.text and secret not in stored
        assert secret not in " ".join(report.errors)


def test_two_workers_delivering_at_once_send_each_row_once(store, store_location):
    """Two connections (two `leakmon run` workers) deliver the same backlog in parallel."""
    import threading

    from monitor.store import Store

    other = Store.open(store_location)
    for s, wid in ((store, "w1"), (other, "w2")):
        s.register_worker(wid, host="h", pid=1, ttl=60, now=T0)
    with WebhookReceiver(SECRET) as rx:
        sinks = sinks_for(webhook(rx.url))
        for n in notifications(40):
            store.enqueue(n, sinks, now=T0)
        start = threading.Barrier(2)
        reports = {}

        def worker(s, wid):
            start.wait()
            reports[wid] = deliver_due(s, sinks, now=T0, limit=5, worker=wid)
            while (more := deliver_due(s, sinks, now=T0, limit=5, worker=wid)).sent:
                reports[wid].merge(more)

        threads = [threading.Thread(target=worker, args=a) for a in ((store, "w1"), (other, "w2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    other.close()
    keys = [d.key for d in rx.accepted]
    assert sorted(keys) == sorted(f"inc-{i}:new" for i in range(1, 41))  # each once
    assert reports["w1"].sent + reports["w2"].sent == 40
    assert {r["status"] for r in rows(store)} == {"sent"}
    assert {r["leased_by"] for r in rows(store)} == {None}
