"""Source state, outbox, suggested sources, evidence keeping and retention."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta

from monitor.alerting.notification import Notification
from monitor.models import Document, Hit
from monitor.paths import is_private
from monitor.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def note(key: str = "c:abc:new", severity: str = "high") -> Notification:
    return Notification(idempotency_key=key, event="new", reason="new incident", incident_id=1,
                        dedup_key="c:abc", title="Our patient records", severity=severity,
                        confidence=0.9, rule_id="patients.records",
                        rule_title="Our patient records", created_at=T0.isoformat(),
                        record_ids=["P1", "P2"], record_count=2)


class NamedSink:
    def __init__(self, name):
        self.name = name


def test_source_runs_count_failures_and_reset_on_success(store):
    assert store.get_source_state("tg").consecutive_failures == 0
    store.record_source_run("tg", False, 0, "timeout", now=T0)
    s = store.record_source_run("tg", False, 0, "HTTP 503", now=T0 + timedelta(minutes=5))
    assert s.consecutive_failures == 2 and s.last_error == "HTTP 503"
    assert s.last_success is None and s.last_run == T0 + timedelta(minutes=5)
    s = store.record_source_run("tg", True, 7, now=T0 + timedelta(minutes=10))
    assert s.consecutive_failures == 0 and s.items_last_run == 7
    assert s.last_success == s.last_item_at == T0 + timedelta(minutes=10)
    s = store.record_source_run("tg", True, 0, now=T0 + timedelta(minutes=20))
    assert s.last_item_at == T0 + timedelta(minutes=10)  # silence is measured from here
    store.set_source_meta("tg", {"health_alert": "failing"})
    assert store.get_source_state("tg").meta == {"health_alert": "failing"}
    assert [x.name for x in store.list_source_states()] == ["tg"]


def test_outbox_enqueue_is_idempotent_per_sink(store):
    assert store.enqueue(note(), [NamedSink("slack"), "webhook"], now=T0) == 2
    assert store.enqueue(note(), ["slack", "webhook"], now=T0) == 0
    assert store.outbox_backlog() == {"slack": 1, "webhook": 1}
    [a, b] = store.outbox_due(T0, 10)
    assert (a.sink, b.sink) == ("slack", "webhook")
    assert a.notification == note() and a.attempts == 0 and a.next_attempt_at == T0


def test_outbox_retry_then_sent_records_every_attempt(store):
    store.enqueue(note(), ["webhook"], now=T0)
    [item] = store.outbox_due(T0)
    store.outbox_failed(item.id, "HTTP 503 from receiver", T0 + timedelta(seconds=30), now=T0)
    assert store.outbox_due(T0 + timedelta(seconds=29)) == []
    [again] = store.outbox_due(T0 + timedelta(seconds=30))
    assert again.attempts == 1
    store.outbox_sent(again.id, "HTTP 200", now=T0 + timedelta(seconds=31))
    assert store.outbox_due(T0 + timedelta(days=1)) == []
    assert store.outbox_backlog() == {}
    attempts = store.delivery_attempts(item.id)
    assert [(a["ok"], a["detail"]) for a in attempts] == [(0, "HTTP 503 from receiver"),
                                                          (1, "HTTP 200")]
    [row] = store.outbox_rows(status="sent")
    assert row["attempts"] == 2 and row["detail"] == "HTTP 200"


def test_outbox_give_up_marks_dead_with_the_error(store):
    store.enqueue(note(), ["thehive"], now=T0)
    [item] = store.outbox_due(T0)
    store.outbox_failed(item.id, "HTTP 401: bad API key", None, now=T0)
    [row] = store.outbox_rows()
    assert row["status"] == "dead" and row["last_error"] == "HTTP 401: bad API key"
    assert store.outbox_due(T0 + timedelta(days=9)) == []


def test_outbox_due_respects_limit_and_sink(store):
    for i in range(5):
        store.enqueue(note(f"k{i}"), ["a", "b"], now=T0 + timedelta(seconds=i))
    assert [x.notification.idempotency_key for x in store.outbox_due(T0 + timedelta(1), 3)] \
        == ["k0", "k0", "k1"]
    assert {x.sink for x in store.outbox_due(T0 + timedelta(1), 100, sink="b")} == {"b"}


def test_meta_key_values(store):
    assert store.get_meta("digest:slack") is None
    store.set_meta("digest:slack", "2026-11-01T12:00:00+00:00")
    store.set_meta("digest:slack", "2026-11-01T13:00:00+00:00")
    assert store.get_meta("digest:slack") == "2026-11-01T13:00:00+00:00"


def test_suggested_sources_are_normalized_and_counted(store):
    assert store.add_suggested_sources("tg", ["https://t.me/s/LeakBase/55", "t.me/leakbase",
                                              "https://t.me/LeakBase?x=1",
                                              "https://t.me/joinchat/AAAA",
                                              "https://t.me/OtherChan"], now=T0) == 2
    assert store.add_suggested_sources("tg2", ["https://t.me/LeakBase"], now=T0) == 0
    got = {s.link: (s.mentions, s.first_source) for s in store.list_suggested_sources()}
    assert got == {"https://t.me/leakbase": (2, "tg"), "https://t.me/otherchan": (1, "tg")}


def test_evidence_is_compressed_private_and_pruned(tmp_path):
    with Store.open(tmp_path, evidence=True, retention_days=30) as s:
        content = b"dump line\n" * 1000
        path = s.evidence.write("ab" * 32, content)
        assert path.parent.parent == tmp_path / "evidence"
        assert is_private(path) and is_private(tmp_path / "evidence")
        assert gzip.decompress(path.read_bytes()) == content
        assert path.stat().st_size < len(content) // 10
        old = T0.timestamp() - 40 * 86400
        os.utime(path, (old, old))
        fresh = s.evidence.write("cd" * 32, b"new")
        assert s.prune(T0)["evidence_files"] == 1
        assert not path.exists() and fresh.exists()


def test_prune_clears_old_excerpts_only(store):
    old = Document("s", "telegram", "1", b"x", fetched_at=T0 - timedelta(days=40))
    new = Document("s", "telegram", "2", b"y", fetched_at=T0 - timedelta(days=1))
    with store.transaction():
        old_id = store.save_document(old, sha256=old.sha256, excerpt="j***@x.fr")
        store.save_document(new, sha256=new.sha256, excerpt="k***@x.fr")
        store.replace_hits(old_id, [Hit("r", "R", "low", 1, "j***@x.fr")], None)
    assert store.prune(T0)["excerpts"] == 1
    assert store.get_document("s", "1")["excerpt"] is None
    assert store.hits_for(document_id=old_id)[0]["excerpt"] == ""
    assert store.get_document("s", "2")["excerpt"] == "k***@x.fr"
    assert store.document_seen("s", "1", old.sha256)  # dedup still knows it


def test_a_sighting_older_than_the_incident_moves_first_seen_back(store):
    """t.me/s backfills hand over the newest page first: the original post may be recorded
    after its re-post, and the incident must still say when the leak first appeared."""
    repost = Document("tg", "telegram", "20", b"dump", posted_at=T0)
    original = Document("tg", "telegram", "10", b"dump", posted_at=T0 - timedelta(days=3))
    later = Document("tg", "telegram", "30", b"dump", posted_at=T0 + timedelta(days=1))
    with store.transaction():
        ids = [store.save_document(d, sha256=d.sha256, excerpt=None)
               for d in (repost, original, later)]
        incident = store.create_incident(
            dedup_key="k", title="t", rule_id="r", rule_title="R", severity="high",
            confidence=1.0, seen_at=T0, canary=False, tags=[], excerpt="")
        for doc, doc_id in zip((repost, original, later), ids, strict=True):
            store.add_sighting(incident, doc_id, source="tg", platform="telegram",
                               site="t.me", url=None, seen_at=doc.posted_at)
    inc = store.get_incident(incident)
    assert inc.first_seen == T0 - timedelta(days=3)
    assert inc.last_seen == T0 + timedelta(days=1)
    assert inc.sightings == 3
