"""Triage states: false positives suppress, snoozes expire, canaries always get through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from leakfakes import Clock, FakeSink, count, csv_dump, doc, ids, make_pipeline, patient_rows

from monitor.alerting import triage

POST = "dedalus biologie base\n" + csv_dump(patient_rows(ids(8)))


def paste(content: str, n: int, site: str = "pastebin.com"):
    return doc(content, source=f"paste{n}", platform="pastebin", ext=str(n),
               url=f"https://{site}/{n}")


def test_false_positive_records_sightings_silently(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(POST, ext="1")], None)
    triage.set_status(store, 1, "false_positive", note="our own awareness post")
    r = p.process_batch("p", [paste(POST, 2)], None)
    r2 = p.process_batch("p", [paste(POST + csv_dump(patient_rows(ids(30, 20000))), 3,
                                     site="paste.ee")], None)
    assert r.notifications == r2.notifications == 0
    inc = store.get_incident(1)
    assert inc.status == "false_positive" and inc.sightings == 3
    assert count(store, "outbox") == 1
    silent = [e for e in store.incident_events(1) if not e["notified"]]
    assert {e["event_key"] for e in silent} >= {"site:pastebin:pastebin.com", "records:10"}
    assert store.incident_log(1)[0]["note"] == "our own awareness post"


def test_canary_is_never_suppressed(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(POST, ext="1")], None)
    triage.set_status(store, 1, "false_positive")
    r = p.process_batch("tg", [doc(POST + "C00042,Canary,Trap,Nowhere,1 99\n", ext="2")], None)
    assert r.notifications == 1
    [_, row] = store.outbox_rows()
    assert row["notification"]["canary"] and row["notification"]["reason"] == (
        "a canary record appeared")


def test_snooze_silences_until_it_expires(store):
    clock = Clock()
    p = make_pipeline(store, clock=clock)
    p.process_batch("tg", [doc(POST, ext="1")], None)
    triage.set_status(store, 1, "snoozed", until=clock.now + timedelta(days=7), now=clock.now)
    clock.advance(days=1)
    assert p.process_batch("p", [paste(POST, 2)], None).notifications == 0
    assert store.get_incident(1).status == "snoozed"
    clock.advance(days=7)  # snooze over
    r = p.process_batch("p", [paste(POST, 3, site="paste.ee")], None)
    assert r.notifications == 1
    inc = store.get_incident(1)
    assert inc.status == "acknowledged" and inc.snoozed_until is None
    # the pastebin crossing happened while snoozed: it is not replayed after the snooze
    assert [o["notification"]["reason"] for o in store.outbox_rows()] == [
        "new incident", "seen on a new site: paste.ee (pastebin)"]
    assert store.incident_log(1)[-1]["action"] == "snooze expired"


def test_acknowledged_still_escalates_and_resolved_reopens(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(POST, ext="1")], None)
    triage.set_status(store, 1, "acknowledged")
    assert p.process_batch("p", [paste(POST, 2)], None).notifications == 1
    assert store.get_incident(1).status == "acknowledged"
    triage.set_status(store, 1, "resolved")
    assert p.process_batch("p", [paste(POST, 3, site="paste.ee")], None).notifications == 1
    assert store.get_incident(1).status == "new"
    assert store.incident_log(1)[-1]["action"] == "re-opened by escalation"


def test_silent_sighting_on_resolved_incident_keeps_it_resolved(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(POST, ext="1")], None)
    triage.set_status(store, 1, "resolved")
    assert p.process_batch("tg2", [doc(POST, source="tg2", ext="9")], None).notifications == 0
    assert store.get_incident(1).status == "resolved"


def test_set_status_errors_name_the_problem(store):
    make_pipeline(store).process_batch("tg", [doc(POST, ext="1")], None)
    with pytest.raises(triage.TriageError, match="no incident with id 99"):
        triage.set_status(store, 99, "resolved")
    with pytest.raises(triage.TriageError, match="unknown status 'closed'"):
        triage.set_status(store, 1, "closed")
    with pytest.raises(triage.TriageError, match="snooze needs a time in the future"):
        triage.set_status(store, 1, "snoozed")
    assert store.get_incident(1).status == "new"


def test_is_suppressed_rules(store):
    make_pipeline(store).process_batch("tg", [doc(POST, ext="1")], None)
    inc = store.get_incident(1)
    now = inc.first_seen
    assert not triage.is_suppressed(inc, now)
    inc.status = "false_positive"
    assert triage.is_suppressed(inc, now) and not triage.is_suppressed(inc, now, canary=True)
    inc.status, inc.snoozed_until = "snoozed", now + timedelta(hours=1)
    assert triage.is_suppressed(inc, now)
    assert not triage.is_suppressed(inc, now + timedelta(hours=2))


def test_triage_log_says_who_acted(store, monkeypatch):
    make_pipeline(store).process_batch("tg", [doc(POST, ext="1")], None)
    monkeypatch.setattr("getpass.getuser", lambda: "soc-oncall")
    triage.set_status(store, 1, "acknowledged", note="on it")
    triage.set_status(store, 1, "resolved", actor="web:alice")
    assert [(e["actor"], e["note"]) for e in store.incident_log(1)] == [
        ("cli:soc-oncall", "on it"), ("web:alice", None)]


def test_notifications_link_to_the_console_when_public_url_is_set(store):
    sink = FakeSink()
    p = make_pipeline(store, sinks=[sink])
    p.tracker.public_url = "https://leakmon.example.org/"
    p.process_batch("tg", [doc(POST, ext="1")], None)
    plain = make_pipeline(store, sinks=[FakeSink()])
    r = plain.process_batch("tg", [doc("dedalus biologie leak " + "x" * 40, ext="2")], None)
    assert sink.seen[0].link == "https://leakmon.example.org/incidents/1"
    assert r.new_incidents == 1
    assert plain.sinks[0].seen[0].link == "leakmon alerts show 2"
