"""Escalation: re-notify once per event (severity, record thresholds, new site, canary)."""

from __future__ import annotations

from leakfakes import FakeSink, count, csv_dump, doc, ids, make_pipeline, patient_rows

from monitor.alerting import escalation


def dump(n: int, **kw) -> str:
    return csv_dump(patient_rows(ids(n)), **kw)


def outbox(store):
    return [(o["event"], o["notification"]["reason"], o["idempotency_key"])
            for o in store.outbox_rows()]


def test_each_record_threshold_notifies_exactly_once(store):
    p = make_pipeline(store)
    steps = [(5, None), (12, "records:10"), (60, None), (150, "records:100"),
             (1_200, "records:1000"), (10_001, "records:10000"), (10_050, None)]
    for i, (n, expected) in enumerate(steps):
        r = p.process_batch("tg", [doc(dump(n), ext=f"m{i}")], None)
        assert r.new_incidents == (1 if i == 0 else 0)
        rows = store.outbox_rows()
        if expected is None:
            assert len(rows) == len({e for _, e in steps[:i + 1] if e}) + 1, (n, rows[-1])
        else:
            assert rows[-1]["idempotency_key"].endswith(":" + expected)
            assert rows[-1]["event"] == "escalated"
            assert f"crossed {int(expected.split(':')[1]):,}" in rows[-1]["notification"]["reason"]
    [inc] = store.list_incidents()
    assert inc.record_count == 10_050 and inc.notified_records == 10_000
    assert count(store, "outbox") == 5  # new + four thresholds


def test_jumping_several_thresholds_sends_one_escalation_for_the_highest(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(dump(5), ext="a")], None)
    p.process_batch("tg", [doc(dump(150), ext="b")], None)
    p.process_batch("tg", [doc(dump(160), ext="c")], None)
    keys = [k.rsplit(":", 1)[-1] for _, _, k in outbox(store)]
    assert keys == ["new", "100"]


def test_a_new_incident_already_past_thresholds_does_not_escalate_them_later(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(dump(150), ext="a")], None)
    p.process_batch("tg", [doc(dump(180), ext="b")], None)
    assert [e for e, _, _ in outbox(store)] == ["new"]
    assert "records:100" in {e["event_key"] for e in store.incident_events(1)}


def test_severity_rise_notifies_once(store):
    p = make_pipeline(store)
    base = "dedalus biologie base fuite\n" + dump(3).replace("P1", "Z1")
    p.process_batch("tg", [doc(base, ext="a")], None)
    p.process_batch("tg", [doc(base + "admin password: x\n", ext="b")], None)
    p.process_batch("tg", [doc(base + "root password: y\n", ext="c")], None)
    events = outbox(store)
    assert [e for e, _, _ in events] == ["new", "escalated"]
    assert events[1][1] == "severity rose to critical"
    assert events[1][2].endswith(":severity:critical")
    [inc] = store.list_incidents()
    assert inc.severity == "critical" and inc.rule_id == "creds"


def test_new_site_notifies_but_a_third_sighting_there_is_silent(store):
    p = make_pipeline(store)
    post = "dedalus biologie base fuite\n" + dump(20)
    p.process_batch("tg", [doc(post, ext="1")], None)
    p.process_batch("paste", [doc(post, source="paste", platform="pastebin",
                                  url="https://pastebin.com/a1")], None)
    p.process_batch("paste", [doc(post + "mirror", source="paste", platform="pastebin",
                                  ext="2", url="https://pastebin.com/b2")], None)
    p.process_batch("tg2", [doc(post, source="tg2", ext="5")], None)
    events = outbox(store)
    assert [e for e, _, _ in events] == ["new", "escalated"]
    assert events[1][1] == "seen on a new site: pastebin.com (pastebin)"
    [inc] = store.list_incidents()
    assert inc.sightings == 4
    n = store.outbox_rows()[1]["notification"]
    assert n["sites"] == ["pastebin:pastebin.com", "telegram:t.me"] and n["sightings"] == 2


def test_canary_appearing_notifies_and_marks_the_incident(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(dump(20), ext="1")], None)
    with_canary = dump(20) + "C99999,Canary,Record,Nowhere,1 99 99\n"
    p.process_batch("tg", [doc(with_canary, ext="2")], None)
    events = outbox(store)
    assert [e for e, _, _ in events] == ["new", "escalated"]
    assert events[1][1] == "a canary record appeared" and events[1][2].endswith(":canary")
    [inc] = store.list_incidents()
    assert inc.canary and store.outbox_rows()[1]["notification"]["canary"] is True


def test_combined_events_make_one_notification_with_a_stable_key(store):
    p = make_pipeline(store)
    p.process_batch("tg", [doc(dump(5), ext="1")], None)
    p.process_batch("paste", [doc(dump(15), source="paste", platform="pastebin",
                                  url="https://pastebin.com/z")], None)
    [_, (event, reason, key)] = outbox(store)
    assert event == "escalated"
    assert key.endswith(":records:10+site:pastebin:pastebin.com")
    assert reason == ("15 distinct records matched (crossed 10); "
                      "seen on a new site: pastebin.com (pastebin)")


def test_sinks_that_do_not_accept_get_no_row(store):
    loud, quiet = FakeSink("all"), FakeSink("pager", min_severity="critical")
    p = make_pipeline(store, [loud, quiet])
    p.process_batch("tg", [doc(dump(5), ext="1")], None)
    assert [o["sink"] for o in store.outbox_rows()] == ["all"]
    assert len(quiet.seen) == 1  # it was asked


def test_escalation_helpers():
    assert escalation.threshold_reached(9) == 0
    assert escalation.threshold_reached(10) == 10
    assert escalation.threshold_reached(99_999) == 10_000
    assert escalation.records_event(10, 99) is None
    assert escalation.records_event(10, 100).key == "records:100"
    assert escalation.severity_event("high", "medium") is None
    assert escalation.severity_event("high", "critical").key == "severity:critical"
    assert escalation.canary_event().canary
