"""One leak, one incident: exact and near-duplicate re-posts, record-set overlap, URLs."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from leakfakes import (
    FakeSink,
    count,
    csv_dump,
    doc,
    ids,
    make_pipeline,
    no_ids,
    patient_rows,
)

from monitor.alerting import dedup
from monitor.matching.keys import load_key
from monitor.store import Store

KEY = bytes(range(32))  # a dedup key for the direct fingerprint() calls


ROWS = patient_rows(ids(60), seed=3)
TG_POST = ("🔥 FRESH LEAK 🔥 Dedalus Biologie patients\n" + csv_dump(ROWS)
           + "join @leakchan for more\n")


def incidents_of(store, *docs) -> set[int]:
    return {store.get_document(d.source, d.external_id)["incident_id"] for d in docs}


def test_exact_repost_on_another_channel_is_a_sighting_not_an_alert(store):
    p = make_pipeline(store)
    a = doc(TG_POST, source="leakchan", ext="10")
    b = doc(TG_POST, source="otherchan", ext="99")
    p.process_batch("leakchan", [a], None)
    r = p.process_batch("otherchan", [b], None)
    assert (r.new_incidents, r.notifications) == (0, 0)  # same site (t.me): silent sighting
    [inc] = store.list_incidents()
    assert inc.sightings == 2 and len(incidents_of(store, a, b)) == 1
    assert {s["source"] for s in store.sightings_for(inc.id)} == {"leakchan", "otherchan"}


def test_repost_with_new_header_footer_and_reordered_columns_joins_the_incident(store):
    p = make_pipeline(store)
    a = doc(no_ids(TG_POST), ext="1")
    repost = no_ids(csv_dump(ROWS, header="== mirror by @anon, 2026 ==", footer="-- enjoy --",
                             order=(3, 0, 4, 1, 2), sep=";", shuffle=7))
    repost = "dedalus biologie base\n" + repost
    b = doc(repost, source="paste", platform="pastebin", url="https://pastebin.com/Xy12")
    p.process_batch("tg", [a], None)
    r = p.process_batch("paste", [b], None)
    assert r.new_incidents == 0
    assert len(incidents_of(store, a, b)) == 1
    assert count(store, "incidents") == 1
    # normalisation makes the two copies nearly identical sets of lines
    fa, fb = dedup.fingerprint(a.content, key=KEY), dedup.fingerprint(b.content, key=KEY)
    assert fa.content_key != fb.content_key and fa.minhash.jaccard(fb.minhash) > 0.8


def test_different_dumps_stay_separate(store):
    p = make_pipeline(store)
    a = doc(no_ids("dedalus\n" + csv_dump(patient_rows(ids(50), seed=1))), ext="1")
    b = doc(no_ids("dedalus\n" + csv_dump(patient_rows(ids(50, start=20000), seed=2))),
            ext="2")
    p.process_batch("tg", [a, b], None)
    assert count(store, "incidents") == 2


def test_sample_of_records_reformatted_joins_by_record_overlap(store):
    p = make_pipeline(store)
    big = doc(csv_dump(ROWS), ext="1")
    sample = "\n".join(json.dumps({"patient": r[0], "town": r[3]}) for r in ROWS[5:35])
    small = doc("free sample:\n" + sample, source="forum", platform="tor",
                url="http://leaksxyz.onion/t/5")
    p.process_batch("tg", [big], None)
    assert dedup.fingerprint(big.content, key=KEY).minhash.jaccard(
        dedup.fingerprint(small.content, key=KEY).minhash) < 0.3  # text alone would not match
    r = p.process_batch("forum", [small], None)
    assert r.new_incidents == 0 and len(incidents_of(store, big, small)) == 1
    [inc] = store.list_incidents()
    assert inc.record_count == 60 and inc.sightings == 2


def test_one_shared_record_does_not_merge_unrelated_dumps(store):
    p = make_pipeline(store)
    a = doc(csv_dump(patient_rows(ids(50), seed=1)), ext="1")
    other = [*ids(49, start=30000), ids(1)[0]]
    b = doc("\n".join(f"{i} | unrelated shop order" for i in other), ext="2")
    p.process_batch("tg", [a, b], None)
    assert count(store, "incidents") == 2


def test_dedup_key_is_content_not_url(store):
    p = make_pipeline(store)
    url = "https://pastebin.com/same"
    a = doc("dedalus leak part one: alpha beta gamma", source="p", ext="1", url=url,
            platform="pastebin")
    b = doc(no_ids(csv_dump(ROWS)) + "dedalus", source="p", ext="2", url=url,
            platform="pastebin")
    c = doc("dedalus leak part one: alpha beta gamma", source="q", ext="1",
            url="https://paste.ee/other", platform="paste_ee")
    p.process_batch("p", [a, b], None)
    p.process_batch("q", [c], None)
    assert len(incidents_of(store, a, b)) == 2  # same URL, different content: two incidents
    assert incidents_of(store, a) == incidents_of(store, c)  # same content, other URL: one
    for inc in store.list_incidents():
        assert inc.dedup_key.startswith("c:") and "pastebin" not in inc.dedup_key


def test_huge_dump_is_sampled_consistently_and_still_matches(store, monkeypatch):
    monkeypatch.setattr(dedup, "MAX_LINES", 3_000)  # same code path as a 100 MB dump, faster
    rows = [f"{i},user{i}@mail.example,{i * 7 % 1000},city{i % 97}" for i in range(12_000)]
    a = "dedalus full dump\n" + "\n".join(rows)
    b = "dedalus mirror\n" + "\n".join(
        ";".join(reversed(r.split(","))) for r in reversed(rows[:11_500])) + "\nfooter"
    fa, fb = dedup.fingerprint(a.encode(), key=KEY), dedup.fingerprint(b.encode(), key=KEY)
    assert fa.sampled and fb.sampled and fa.lines <= 3_000
    assert fa.minhash.jaccard(fb.minhash) > 0.8
    assert dedup.fingerprint(a.encode(), key=KEY).content_key == fa.content_key  # deterministic
    p = make_pipeline(store)
    p.process_batch("tg", [doc(a, ext="1"), doc(b, ext="2")], None)
    assert count(store, "incidents") == 1


def test_normalize_line_handles_quotes_spacing_case_and_column_order():
    assert dedup.normalize_line('"P1", "Jean" ;DUPONT') == dedup.normalize_line("dupont|p1|jean")
    assert dedup.normalize_line("  Hello   World ") == "hello world"
    assert dedup.normalize_line("=====") == ""


@pytest.mark.parametrize(("shared", "mine", "theirs", "same"), [
    (30, 30, 60, True),     # a sample re-posted from a bigger dump
    (1, 1, 60, True),       # the only record of a one-record post
    (1, 50, 50, False),     # one person in two unrelated dumps
    (5, 50, 50, False),
    (20, 50, 50, False),    # jaccard 0.25, containment 0.4: related at most
    (35, 50, 50, True),     # containment 0.7
])
def test_records_overlap_thresholds(shared, mine, theirs, same):
    assert bool(dedup.records_overlap(shared, mine, theirs)) is same


def test_dedup_key_is_keyed_not_a_plain_hash_and_reposts_still_dedup(tmp_path, monkeypatch):
    """The dedup key goes to every sink: it must not let a recipient confirm a guess of the
    leaked text by hashing it. Keyed under the state directory's fingerprint key, it differs
    per key, while re-posts (also after a restart) still land on the same incident."""
    monkeypatch.delenv("LEAKMON_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    text = "dedalus leak part one: alpha beta gamma"
    lines, _ = dedup.normalize_lines(text.encode())
    message = "\n".join(lines).encode()
    plain = "c:" + hashlib.sha256(message).hexdigest()
    keys = []
    for name in ("site-a", "site-b"):  # two installations, two fingerprint keys
        state = tmp_path / name
        state.mkdir(mode=0o700)
        sink = FakeSink()
        with Store.open(state) as store:
            p = make_pipeline(store, sinks=[sink])
            p.process_batch("p", [doc(text, source="p", ext="1")], None)
            r = p.process_batch("q", [doc(text, source="q", ext="7")], None)
            assert r.new_incidents == 0
        assert (state / "fingerprint.key").stat().st_mode & 0o777 == 0o600
        with Store.open(state) as store:  # restart: the key is read back, not re-made
            r = make_pipeline(store, sinks=[sink]).process_batch(
                "r", [doc(text, source="r", ext="3")], None)
            assert r.new_incidents == 0
            [inc] = store.list_incidents()
            assert inc.sightings == 3
            assert store.incident_for_content_key(inc.dedup_key) == inc.id  # exact match
            assert {store.get_document(s, e)["content_key"]
                    for s, e in (("p", "1"), ("q", "7"), ("r", "3"))} == {inc.dedup_key}
        assert {n.dedup_key for n in sink.seen} == {inc.dedup_key}
        subkey = dedup.dedup_subkey(load_key(state, create=False))
        assert subkey != load_key(state, create=False)  # never the fingerprint key itself
        assert inc.dedup_key == "c:" + hmac.new(subkey, message, hashlib.sha256).hexdigest()
        keys.append(inc.dedup_key)
    assert plain not in keys and keys[0] != keys[1]
    assert dedup.fingerprint(text.encode(), key=KEY).content_key != plain
    with pytest.raises(ValueError, match="dedup key"):
        dedup.fingerprint(text.encode(), key=b"")
