"""The misp sink through the real PyMISP client against a local MISP (tests/alerting/_misp.py)
that answers like MISP 2.5 and refuses what MISP refuses."""

from __future__ import annotations

import pytest
from test_sinks_kinds import one_sink

from monitor.alerting.delivery import make_test_notification
from monitor.alerting.sinks import SinkDeliveryError
from monitor.alerting.sinks.misp import event_uuid
from tests.support.misp import MispServer, attribute_problems, event_problems
from tests.support.net import free_port
from tests.support.sinks import make_notification

SHA_A = "a" * 64
SHA_B = "b" * 64


def _sink(misp, **extra):
    return one_sink({"type": "misp", "url": misp.url, "api_key": "misp-key", **extra})


def test_one_event_per_incident_created_then_updated_on_escalation():
    with MispServer("misp-key") as misp:
        sink = _sink(misp, event_tags=["customer:hospital-a"])
        first = sink.send(make_notification(document_sha256=SHA_A))
        esc = make_notification(event="escalated", idempotency_key="inc-12:records-200",
                                record_count=230, sightings=3, url="https://t.me/s/leaks/991",
                                document_sha256=SHA_B,
                                console_url="https://leakmon.example/incidents/12")
        sink.close()
        # a fresh sink (another process): finds the event by its UUID
        second = _sink(misp).send(esc)
        again = _sink(misp).send(esc)  # a resend after a crash adds nothing twice
    assert misp.rejected == []
    assert first.startswith("created event 1")
    assert second.startswith("updated event 1") and again.startswith("updated event 1")
    (event,) = misp.events.values()
    assert event["uuid"] == event_uuid("sha256:5f1c0ffee")
    assert event["info"] == "Our patient records in a paste"
    assert (event["threat_level_id"], event["analysis"], event["distribution"]) == ("1", "1", "0")
    attrs = {(a["type"], a["value"]) for a in event["Attribute"]}
    assert {("url", "https://pastebin.com/raw/Ab12Cd34"), ("url", "https://t.me/s/leaks/991"),
            ("sha256", SHA_A), ("sha256", SHA_B),
            ("link", "https://leakmon.example/incidents/12")} <= attrs
    counters = {a["comment"]: a["value"] for a in event["Attribute"] if a["type"] == "counter"}
    assert counters == {"distinct records of ours matched": "230",
                        "sightings of this incident": "3"}
    assert len(event["Attribute"]) == 7  # 2 URLs, 2 hashes, link, 2 counters: nothing twice
    tags = [t["name"] for t in event["Tag"]]
    assert "tlp:amber" in tags and "leakmon:event=escalated" in tags
    # our superseded tags are replaced; others (this one came from the first sink's
    # event_tags, but could be an analyst's) are kept
    assert "leakmon:event=new" not in tags and "customer:hospital-a" in tags
    assert "leakmon:severity=critical" in tags and "pii" in tags


def test_analysts_tags_survive_an_escalation():
    with MispServer("misp-key") as misp:
        sink = _sink(misp, tlp="red")
        sink.send(make_notification())
        misp.events["1"]["Tag"].append({"id": "9", "name": "analyst:confirmed"})
        sink.send(make_notification(event="escalated", idempotency_key="inc-12:x",
                                    severity="high"))
    tags = [t["name"] for t in misp.events["1"]["Tag"]]
    assert "analyst:confirmed" in tags and "tlp:red" in tags and tags.count("tlp:red") == 1
    assert "leakmon:severity=high" in tags and "leakmon:severity=critical" not in tags


def test_sinks_test_leaves_no_event():
    with MispServer("misp-key") as misp:
        sink = _sink(misp)
        detail = sink.send(make_test_notification(sink))
    assert detail.startswith("created test event 1 and deleted it")
    assert misp.events == {} and misp.rejected == []


def test_wrong_key_is_a_permanent_error_without_the_key():
    with MispServer("right-key") as misp:
        sink = one_sink({"type": "misp", "url": misp.url, "api_key": "wrong-key"})
        with pytest.raises(SinkDeliveryError) as e:
            sink.send(make_notification())
    assert "HTTP 403" in str(e.value) and not e.value.retryable
    assert "wrong-key" not in str(e.value)


def test_misp_down_is_retryable():
    sink = one_sink({"type": "misp", "url": f"http://127.0.0.1:{free_port()}",
                     "api_key": "k"})
    with pytest.raises(SinkDeliveryError, match="MISP connect") as e:
        sink.send(make_notification())
    assert e.value.retryable


def test_the_fake_refuses_what_misp_refuses():
    assert attribute_problems({"type": "sha256", "category": "Other", "value": "x"}) == [
        "category: 'sha256' is not allowed in 'Other'"]
    assert attribute_problems({"type": "record-count", "category": "Other", "value": "1"}) == [
        "type: 'record-count' is not a MISP attribute type"]
    assert event_problems({"threat_level_id": 0, "date": "28/11/2026"}) == [
        "info: required", "threat_level_id: 0 is not allowed",
        "date: '28/11/2026' is not YYYY-MM-DD"]
