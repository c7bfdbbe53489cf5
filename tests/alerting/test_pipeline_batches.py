"""Pipeline batches: recording, repeats, edits, cursor, and atomicity under a crash."""

from __future__ import annotations

import pytest
from leakfakes import (
    FakeSink,
    count,
    csv_dump,
    doc,
    ids,
    make_pipeline,
    patient_rows,
    stored_bytes,
)

from monitor.store import Store

LEAK = "fuite de la base Dedalus Biologie, 500k lignes\n" + csv_dump(patient_rows(ids(20)))


def test_documents_without_hits_are_recorded_without_excerpt(store):
    p = make_pipeline(store)
    r = p.process_batch("tg-leaks", [doc("bonjour", ext="1"), doc("rien ici", ext="2")], "c2")
    assert (r.documents, r.hits, r.new_incidents, r.notifications) == (2, 0, 0, 0)
    row = store.get_document("tg-leaks", "1")
    assert row["excerpt"] is None and row["size"] == 7 and len(row["sha256"]) == 64
    assert row["incident_id"] is None
    assert store.get_source_state("tg-leaks").cursor == "c2"


def test_exact_repeats_are_skipped_and_hit_documents_keep_only_redacted_excerpt(store):
    p = make_pipeline(store)
    r1 = p.process_batch("tg-leaks", [doc(LEAK, ext="7")], "c1")
    r2 = p.process_batch("tg-leaks", [doc(LEAK, ext="7"), doc(LEAK, ext="7")], "c2")
    assert (r1.documents, r1.new_incidents, r1.notifications) == (1, 1, 1)
    assert (r2.documents, r2.skipped, r2.notifications) == (0, 2, 0)
    row = store.get_document("tg-leaks", "7")
    assert row["excerpt"] == "1 ** ** ** *** *** **"
    # nothing of the leaked content is in the database
    raw = stored_bytes(store)
    assert b"Dedalus Biologie" not in raw and b"P10003" in raw  # record ids are fine, values not
    assert patient_rows(ids(20))[3][2].encode() + b"," not in raw


def test_hits_are_stored_with_record_ids(store):
    make_pipeline(store).process_batch("tg-leaks", [doc(LEAK, ext="7")], None)
    doc_id = store.get_document("tg-leaks", "7")["id"]
    hits = {h["rule_id"]: h for h in store.hits_for(document_id=doc_id)}
    assert set(hits) == {"org.mention", "patients.records"}
    assert hits["patients.records"]["record_ids"] == ids(20)
    assert hits["patients.records"]["incident_id"] == store.get_document("tg-leaks", "7")[
        "incident_id"]


def test_edited_message_updates_document_and_hits_without_second_alert(store):
    p = make_pipeline(store)
    p.process_batch("tg-leaks", [doc("dedalus leak soon, stay tuned", ext="42")], "1")
    edited = doc("dedalus leak soon, stay tuned. DEDALUS base tomorrow", ext="42")
    r = p.process_batch("tg-leaks", [edited], "2")
    assert (r.documents, r.updated, r.new_incidents, r.notifications) == (1, 1, 0, 0)
    assert count(store, "documents") == 1 and count(store, "incidents") == 1
    row = store.get_document("tg-leaks", "42")
    assert row["versions"] == 2 and row["sha256"] == edited.sha256
    [hit] = store.hits_for(document_id=row["id"])
    assert hit["count"] == 2  # the old hit row was replaced, not kept beside the new one
    assert store.get_incident(row["incident_id"]).sightings == 1
    assert [o["event"] for o in store.outbox_rows()] == ["new"]


def test_an_edit_in_the_same_batch_updates_the_document_written_just_before(store):
    """The batch's stored states are read once; the pipeline keeps them current as it
    writes, so the second version of an item in one batch is an edit of the first."""
    first = doc("dedalus leak soon", ext="42")
    edited = doc("dedalus leak soon. DEDALUS base", ext="42")
    cleared = doc("nothing to see", ext="42")
    r = make_pipeline(store).process_batch("tg-leaks", [first, edited, first, cleared], None)
    assert (r.documents, r.updated, r.new_incidents, r.skipped) == (3, 2, 1, 1)
    row = store.get_document("tg-leaks", "42")
    assert row["versions"] == 3 and row["sha256"] == cleared.sha256
    assert row["incident_id"] is not None  # the edit that removed the hits keeps the link
    assert store.hits_for(document_id=row["id"]) == []


def test_edit_that_adds_records_escalates_once_and_never_realerts_new(store):
    p = make_pipeline(store)
    p.process_batch("tg-leaks", [doc("dedalus leak soon, stay tuned", ext="42")], "1")
    edited = doc("dedalus leak: full base here\n" + csv_dump(patient_rows(ids(12))), ext="42")
    r = p.process_batch("tg-leaks", [edited], "2")
    assert (r.updated, r.new_incidents, r.notifications) == (1, 0, 1)
    row = store.get_document("tg-leaks", "42")
    rules = sorted(h["rule_id"] for h in store.hits_for(document_id=row["id"]))
    assert rules == ["org.mention", "patients.records"]
    assert store.get_incident(row["incident_id"]).record_count == 12
    events = [(o["event"], o["idempotency_key"].split(":")[-2:]) for o in store.outbox_rows()]
    assert events[0][0] == "new" and events[1][0] == "escalated"
    assert store.outbox_rows()[1]["notification"]["reason"].startswith("severity rose to high")
    assert count(store, "outbox") == 2


def test_suggested_sources_come_from_document_links(store):
    d = doc("see also", ext="9", metadata={"links": ["https://t.me/s/DarkLeaks/12",
                                                     "https://example.org/x",
                                                     "t.me/joinchat/abc"]})
    make_pipeline(store).process_batch("tg-leaks", [d], None)
    assert [s.link for s in store.list_suggested_sources()] == ["https://t.me/darkleaks"]


def test_a_suggested_channel_counts_once_per_document_of_the_batch(store):
    links = ["https://t.me/DarkLeaks/12", "https://t.me/s/darkleaks", "https://t.me/other"]
    batch = [doc(f"post {i}", ext=str(i), metadata={"links": links[:2] if i < 3 else links})
             for i in range(4)]
    make_pipeline(store).process_batch("tg-leaks", batch, None)
    make_pipeline(store).process_batch("tg-leaks", [doc("again", ext="9",
                                                        metadata={"links": links[:1]})], None)
    got = {s.link: (s.mentions, s.first_source) for s in store.list_suggested_sources()}
    assert got == {"https://t.me/darkleaks": (5, "tg-leaks"), "https://t.me/other": (1, "tg-leaks")}


class Boom(RuntimeError):
    pass


class ExplodingSink(FakeSink):
    """Raises while the second notification of the batch is being queued."""

    def accepts(self, n):
        if len(self.seen) == 1:
            self.seen.append(n)
            raise Boom("injected failure mid-batch")
        return super().accepts(n)


def test_crash_mid_batch_leaves_nothing_half_written(store):
    ok = make_pipeline(store)
    ok.process_batch("tg-leaks", [doc("hello", ext="0")], "cursor-0")
    before = {t: count(store, t) for t in ("documents", "hits", "incidents", "sightings",
                                           "outbox", "incident_records", "minhashes")}
    p = make_pipeline(store, [ExplodingSink()])
    batch = [doc(LEAK, ext="1"), doc("nothing", ext="2"),
             doc("password dump for dedalus\npassword=hunter2", ext="3")]
    with pytest.raises(Boom):
        p.process_batch("tg-leaks", batch, "cursor-1")
    after = {t: count(store, t) for t in before}
    assert after == before
    assert store.get_source_state("tg-leaks").cursor == "cursor-0"
    assert len(p.index) == 0  # the near-duplicate index rolled back with the batch
    # the same batch goes through cleanly on retry: nothing lost, nothing doubled
    r = make_pipeline(store).process_batch("tg-leaks", batch, "cursor-1")
    assert (r.documents, r.new_incidents, r.notifications, r.skipped) == (3, 2, 2, 0)
    assert store.get_source_state("tg-leaks").cursor == "cursor-1"
    assert count(store, "outbox") == 2


def test_crash_while_enqueueing_rolls_back_the_incident(store, monkeypatch):
    p = make_pipeline(store)

    def fail(*a, **kw):
        raise Boom("disk full while writing the outbox")

    monkeypatch.setattr(store, "enqueue", fail)
    with pytest.raises(Boom):
        p.process_batch("tg-leaks", [doc(LEAK, ext="1")], "c1")
    for table in ("documents", "hits", "incidents", "sightings", "incident_keys", "outbox"):
        assert count(store, table) == 0, table
    assert store.get_source_state("tg-leaks").cursor is None


def test_a_scan_error_is_recorded_and_does_not_block_the_batch(store):
    def scanner(d):
        if d.external_id == "bad":
            raise ValueError("engine choked")
        return []

    from monitor.pipeline import Pipeline
    p = Pipeline(store, None, scanner=scanner)
    r = p.process_batch("s", [doc("x", source="s", ext="bad"), doc("y", source="s", ext="ok")],
                        "c")
    assert (r.documents, r.errors) == (2, 1)
    assert store.get_document("s", "bad")["scan_error"] == "ValueError: engine choked"
    assert store.get_source_state("s").cursor == "c"


def test_near_duplicate_index_survives_restart(tmp_path):
    rows = patient_rows(ids(40))
    with Store.open(tmp_path) as s:
        make_pipeline(s).process_batch("tg-leaks", [doc(csv_dump(rows), ext="1")], None)
    with Store.open(tmp_path) as s:
        p = make_pipeline(s)
        assert len(p.index) == 1
        repost = csv_dump(rows[:38], header="NEW DUMP by @x", order=(4, 3, 2, 1, 0), sep=";")
        # no record overlap rule can fire here: strip record ids so only MinHash can match
        repost = repost.replace("P1", "Q1")
        r = p.process_batch("paste", [doc(repost, source="paste", platform="pastebin",
                                          url="https://pastebin.com/abc")], None)
        assert r.new_incidents == 0 and count(s, "incidents") == 1


def test_evidence_kept_for_hit_documents_when_switched_on(tmp_path):
    from monitor.config import parse_config
    from monitor.paths import is_private

    cfg = parse_config({"store": {"evidence": True, "retention_days": 7}})
    with Store.from_config(cfg, tmp_path) as s:
        make_pipeline(s).process_batch("tg-leaks", [doc(LEAK, ext="1"), doc("x", ext="2")], None)
        hit_row, miss_row = s.get_document("tg-leaks", "1"), s.get_document("tg-leaks", "2")
        assert miss_row["evidence_path"] is None
        assert is_private(tmp_path / "evidence")
        path = tmp_path / "evidence" / hit_row["sha256"][:2] / f"{hit_row['sha256']}.gz"
        assert hit_row["evidence_path"] == str(path) and is_private(path)
        assert s.evidence.read(hit_row["sha256"]) == LEAK.encode()


def test_no_evidence_by_default(tmp_path):
    with Store.open(tmp_path) as s:
        make_pipeline(s).process_batch("tg-leaks", [doc(LEAK, ext="1")], None)
        assert s.get_document("tg-leaks", "1")["evidence_path"] is None
    assert not (tmp_path / "evidence").exists()
