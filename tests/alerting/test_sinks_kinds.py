"""Each sink kind against a real receiver on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import os
import stat

import pytest

from monitor.alerting.sinks import SinkDeliveryError, build_sinks
from monitor.config import parse_config
from monitor.errors import SinkError
from tests.support.net import free_port, self_signed_cert
from tests.support.sinks import (
    SmtpServer,
    SyslogListener,
    TheHiveServer,
    WebhookReceiver,
    make_notification,
)


def one_sink(table, tmp_path=None):
    cfg = parse_config({"sinks": [{"name": "s", **table}]},
                       path=(tmp_path / "leakmon.toml") if tmp_path else None)
    (sink,) = build_sinks(cfg.sinks, cfg)
    return sink


# -- webhook -----------------------------------------------------------------------------------


def test_webhook_signs_the_exact_body_and_sends_the_idempotency_key(monkeypatch):
    monkeypatch.setenv("LEAKMON_WEBHOOK_SECRET", "hmac-key-1")
    with WebhookReceiver("hmac-key-1") as rx:
        sink = one_sink({"type": "webhook", "url": rx.url + "/hook",
                         "secret": "env:LEAKMON_WEBHOOK_SECRET",
                         "headers": {"X-Tenant": "hospital-a"}})
        n = make_notification()
        assert sink.send(n) == "HTTP 200 OK"
        assert sink.send(n) == "HTTP 200 OK"  # a resend: same key, receiver de-duplicates
        sink.close()
    assert len(rx.requests) == 2 and len(rx.accepted) == 1
    got = rx.accepted[0]
    assert got.signature_ok and got.key == "inc-12:new"
    assert got.headers["x-tenant"] == "hospital-a"
    assert got.headers["content-type"] == "application/json"
    payload = got.json
    assert payload["notification"]["record_ids"][:2] == ["p-1", "p-2"]
    assert payload["notification"]["dedup_key"] == "sha256:5f1c0ffee"
    assert "CRITICAL Our patient records in a paste" in payload["text"]


def test_webhook_with_wrong_secret_is_refused_and_not_retryable():
    with WebhookReceiver("the-real-key") as rx:
        sink = one_sink({"type": "webhook", "url": rx.url, "secret": "a-wrong-key"})
        with pytest.raises(SinkDeliveryError) as e:
            sink.send(make_notification())
        sink.close()
    assert "HTTP 401" in str(e.value) and e.value.retryable is False
    assert rx.accepted == []


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (500, True), (429, True),
                                                    (408, True), (404, False), (400, False)])
def test_webhook_status_classification(status, retryable):
    with WebhookReceiver("k") as rx:
        rx.statuses = [status]
        rx.error_headers = {"Retry-After": "120"}
        sink = one_sink({"type": "webhook", "url": rx.url, "secret": "k"})
        with pytest.raises(SinkDeliveryError) as e:
            sink.send(make_notification())
        sink.close()
    assert f"HTTP {status}" in str(e.value)
    assert e.value.retryable is retryable
    assert e.value.retry_after == 120.0


def test_webhook_port_closed_is_a_retryable_error_without_the_url_path():
    sink = one_sink({"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/secret-path",
                     "secret": "k"})
    with pytest.raises(SinkDeliveryError) as e:
        sink.send(make_notification())
    sink.close()
    assert e.value.retryable and "cannot reach" in str(e.value)
    assert "secret-path" not in str(e.value)


def test_webhook_digest_is_one_signed_post():
    with WebhookReceiver("k") as rx:
        sink = one_sink({"type": "webhook", "url": rx.url, "secret": "k", "digest": 10})
        ns = [make_notification(idempotency_key=f"inc-{i}:new", incident_id=i) for i in range(3)]
        sink.send_digest(ns)
        sink.send_digest(list(reversed(ns)))  # same items: same key
        sink.close()
    assert len(rx.accepted) == 1 and rx.accepted[0].signature_ok
    assert rx.accepted[0].key.startswith("digest-")
    assert [x["incident_id"] for x in rx.accepted[0].json["notifications"]] == [0, 1, 2]


# -- jsonl -------------------------------------------------------------------------------------


def test_jsonl_writes_ecs_records_to_a_private_file(tmp_path):
    sink = one_sink({"type": "jsonl", "path": "out/alerts.jsonl"}, tmp_path)
    sink.send(make_notification())
    sink.send_digest([make_notification(event="escalated", idempotency_key="inc-12:records-100",
                                        severity="high"), make_notification(canary=True)])
    path = tmp_path / "out" / "alerts.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    doc = lines[0]
    assert doc["@timestamp"] == "2026-11-28T10:00:00+00:00"
    assert doc["event"]["kind"] == "alert" and doc["event"]["severity"] == 99
    assert doc["rule"] == {"id": "patients.records", "name": "Our patient records"}
    assert doc["url"]["full"] == "https://pastebin.com/raw/Ab12Cd34"
    ind = doc["threat"]["indicator"]
    assert (ind["first_seen"], ind["last_seen"], ind["sightings"]) == (
        "2026-11-28T09:58:00+00:00", "2026-11-28T09:59:30+00:00", 2)
    assert doc["labels"]["dedup_key"] == "sha256:5f1c0ffee"
    assert doc["leakmon"]["record_count"] == 153 and doc["leakmon"]["incident_id"] == 12
    assert lines[1]["event"]["action"] == "escalated" and lines[1]["event"]["severity"] == 73
    assert lines[2]["leakmon"]["canary"] is True


def test_jsonl_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    sink = one_sink({"type": "jsonl", "path": str(blocker / "alerts.jsonl")})
    with pytest.raises(SinkError, match=r"sink 's': cannot open .*alerts.jsonl"):
        sink.send(make_notification())


# -- syslog ------------------------------------------------------------------------------------


def test_syslog_udp_rfc5424():
    with SyslogListener("udp") as rx:
        sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": rx.port,
                         "facility": "local3", "app_name": "leakmon-test", "hostname": "mon-1"})
        detail = sink.send(make_notification(excerpt='bad " ] \\ chars'))
        (msg,) = rx.wait_for(1)
    assert "over udp" in detail
    assert msg.facility == 19 and msg.severity == 2  # local3, critical
    assert (msg.hostname, msg.app_name, msg.msgid) == ("mon-1", "leakmon-test", "new")
    assert msg.procid == str(os.getpid())
    assert msg.sd["rule"] == "patients.records" and msg.sd["key"] == "inc-12:new"
    assert msg.sd["records"] == "153" and msg.sd["dedup"] == "sha256:5f1c0ffee"
    assert msg.msg.startswith("CRITICAL Our patient records in a paste")
    assert msg.bom and msg.sd_id == "leakmon@32473"  # RFC 5424 MSG-UTF8; the default PEN
    assert msg.timestamp.endswith("Z")


def test_syslog_tcp_octet_counting_and_cef():
    with SyslogListener("tcp") as rx:
        sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": rx.port,
                         "protocol": "tcp", "format": "cef"})
        n = make_notification(title="Dump | with pipes", reason="records crossed 100",
                              url="https://x.example/a?b=c")
        sink.send_digest([n, make_notification(severity="low", event="escalated")])
        msgs = rx.wait_for(2)
    assert len(msgs) == 2
    assert not msgs[0].bom  # CEF is MSG-ANY: parsers expect "CEF:0|" first
    cef = msgs[0].msg
    assert cef.startswith("CEF:0|leakmon|leakmon|0.1.0|patients.records|"
                          "[leakmon] CRITICAL: Dump \\| with pipes|10|")
    assert "request=https://x.example/a?b\\=c" in cef  # '=' escaped in extension values
    assert "msg=records crossed 100" in cef and "cn2=153" in cef and "cs1=sha256:5f1c0ffee" in cef
    assert msgs[1].severity == 5 and msgs[1].msg.split("|")[6] == "3"  # low


def test_syslog_tls_with_ca_file(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    with SyslogListener("tls", certfile=cert, keyfile=key) as rx:
        sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": rx.port,
                         "protocol": "tls", "ca_file": str(cert)})
        assert "over tls" in sink.send(make_notification())
        (msg,) = rx.wait_for(1)
    assert msg.sd["incident"] == "12"


def test_syslog_tls_rejects_an_unknown_certificate(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    with SyslogListener("tls", certfile=cert, keyfile=key) as rx:
        sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": rx.port,
                         "protocol": "tls"})  # system CAs only: our self-signed cert fails
        with pytest.raises(SinkDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            sink.send(make_notification())


def test_syslog_tcp_refused_is_retryable():
    sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": free_port(),
                     "protocol": "tcp"})
    with pytest.raises(SinkDeliveryError) as e:
        sink.send(make_notification())
    assert e.value.retryable and "ConnectionRefusedError" in str(e.value)


# -- TheHive -----------------------------------------------------------------------------------


def test_thehive_creates_then_updates_the_same_alert(monkeypatch):
    monkeypatch.setenv("HIVE_KEY", "hive-api-key")
    with TheHiveServer("hive-api-key") as hive:
        sink = one_sink({"type": "thehive", "url": hive.url, "api_key": "env:HIVE_KEY",
                         "alert_tags": ["tenant:a"]})
        first = sink.send(make_notification())
        esc = make_notification(event="escalated", idempotency_key="inc-12:severity",
                                reason="seen on a new site", url="https://t.me/s/leaks/991")
        second = sink.send(esc)
        sink.close()
        # a fresh process (no remembered id) finds the alert by sourceRef and updates it
        sink2 = one_sink({"type": "thehive", "url": hive.url, "api_key": "hive-api-key"})
        hive.alerts["~4096"]["tags"].append("analyst:triaged")
        third = sink2.send(esc)
        sink2.close()
    assert hive.rejected == []  # every body fits thehive4py 2.x's input types
    assert first.startswith("created alert ~4096")
    assert second.startswith("updated alert ~4096") and third.startswith("updated alert ~4096")
    assert list(hive.alerts) == ["~4096"]
    alert = hive.alerts["~4096"]
    assert (alert["type"], alert["source"], alert["sourceRef"]) == (
        "data-leak", "leakmon", "sha256:5f1c0ffee")
    assert alert["severity"] == 4 and "tenant:a" in alert["tags"]
    # an escalation updates our tags and keeps what analysts added
    assert "leakmon:event=escalated" in alert["tags"] and "analyst:triaged" in alert["tags"]
    assert "leakmon:event=new" not in alert["tags"]
    assert alert["tags"].count("leakmon:severity=critical") == 1
    assert alert["externalLink"] == "https://t.me/s/leaks/991"
    assert "seen on a new site" in alert["description"]
    assert "153 (ids: p-1" in alert["description"]
    assert [o["data"] for o in alert["observables"]] == [
        "https://pastebin.com/raw/Ab12Cd34", "https://t.me/s/leaks/991"]
    assert [c[0] for c in hive.calls].count("PATCH") == 2


def test_thehive_severity_info_and_low_differ_by_tag_and_link_prefers_the_console():
    with TheHiveServer("k") as hive:
        sink = one_sink({"type": "thehive", "url": hive.url, "api_key": "k"})
        sink.send(make_notification(severity="info", dedup_key="a"))
        sink.send(make_notification(severity="low", dedup_key="b",
                                    console_url="https://leakmon.example/incidents/12"))
        sink.send(make_notification(severity="high", dedup_key="c", url=None))
        sink.close()
    info, low, high = hive.alerts.values()
    assert (info["severity"], low["severity"], high["severity"]) == (1, 1, 3)
    assert "leakmon:severity=info" in info["tags"] and "leakmon:severity=low" in low["tags"]
    assert low["externalLink"] == "https://leakmon.example/incidents/12"
    assert "externalLink" not in high
    assert hive.rejected == []


def test_thehive_sinks_test_leaves_no_alert():
    from monitor.alerting.delivery import make_test_notification

    with TheHiveServer("k") as hive:
        sink = one_sink({"type": "thehive", "url": hive.url, "api_key": "k"})
        detail = sink.send(make_test_notification(sink))
        sink.close()
    assert detail.startswith("created test alert ~4096 and deleted it")
    assert hive.alerts == {} and [c[0] for c in hive.calls] == ["POST", "DELETE"]


def test_the_fake_enforces_thehive4pys_input_types():
    from tests.support.sinks import thehive_input_problems

    assert thehive_input_problems("alert", {"type": "t", "source": "s", "title": "x",
                                            "description": "d", "severity": 0,
                                            "tags": ["a", 1], "colour": "red"}) == [
        "colour: unknown field", "sourceRef: missing", "tags[1]: expected str",
        "severity: 0 is not between 1 and 4"]
    assert thehive_input_problems("update", {"observables": []}) == [
        "observables: unknown field"]


def test_thehive_recreates_an_alert_deleted_meanwhile():
    with TheHiveServer("k") as hive:
        sink = one_sink({"type": "thehive", "url": hive.url, "api_key": "k"})
        sink.send(make_notification())
        hive.alerts.clear()  # an analyst deleted it
        detail = sink.send(make_notification(event="escalated", idempotency_key="inc-12:x"))
        sink.close()
    assert detail.startswith("created alert ~4097")
    assert list(hive.alerts) == ["~4097"]


def test_thehive_bad_api_key_is_not_retryable():
    with TheHiveServer("right") as hive:
        sink = one_sink({"type": "thehive", "url": hive.url, "api_key": "wrong"})
        with pytest.raises(SinkDeliveryError) as e:
            sink.send(make_notification())
        sink.close()
    assert "HTTP 401" in str(e.value) and not e.value.retryable
    assert "wrong" not in str(e.value)


# -- apprise (mailto) --------------------------------------------------------------------------


def _mail_url(port: int) -> str:
    return (f"mailto://127.0.0.1:{port}?from=leakmon@hospital.example"
            "&to=soc@hospital.example&mode=insecure")


def test_apprise_mailto_reaches_a_real_smtp_server():
    console = "https://leakmon.hospital.example/incidents/12"
    with SmtpServer() as smtp:
        sink = one_sink({"type": "apprise", "urls": [_mail_url(smtp.port)]})
        assert sink.send(make_notification(console_url=console)) == \
            "accepted by 1 Apprise service(s)"
        # Apprise spaces messages to one service ~5 s apart; a second sink is a new service
        digest_sink = one_sink({"type": "apprise", "urls": [_mail_url(smtp.port)]})
        digest_sink.send_digest([make_notification(), make_notification(severity="low")])
    assert len(smtp.messages) == 2
    rcpts, raw = smtp.messages[0]
    assert rcpts == ["soc@hospital.example"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[leakmon] CRITICAL: Our patient records in a paste"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    lines = [line.strip() for line in text.splitlines()]
    # what happened, how many records, where — then one fact per line, line breaks kept
    assert lines[0] == ("New incident — 153 of our record(s), seen 2 time(s) on "
                        "pastebin.com, t.me.")
    assert "Records matched: 153 (ids: p-1, p-2, p-3, p-4, p-5, p-6, p-7, p-8, p-9, p-10, " \
        "p-11, p-12, p-13, p-14, p-15, p-16, p-17, p-18, p-19, p-20, … and 133 more)" in lines
    assert "Open: leakmon alerts show 12" in lines and f"Console: {console}" in lines
    assert lines[-2:] == ["id;nir;nom", "1;2 ** ** ** *** *** **;D*** | fuite base patients"]
    page = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert f'<a href="{console}">{console}</a>' in page
    assert "<b>Severity:</b> critical<br/>" in page and "<pre>id;nir;nom\n1;2" in page
    digest = email.message_from_bytes(smtp.messages[1][1], policy=email.policy.default)
    assert digest["Subject"].startswith("[leakmon] digest: 2 alert(s), worst CRITICAL")
    digest_lines = digest.get_body(("plain",)).get_content().strip().splitlines()
    assert len(digest_lines) == 2 and digest_lines[1].startswith("- [new] LOW Our patient")


def test_mail_html_escapes_what_it_shows():
    from monitor.alerting.sinks import format as fmt

    page = fmt.chat_html(make_notification(title="x", excerpt="<script>alert(1)</script>",
                                           console_url="javascript:alert(1)"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<a " not in page  # only http(s) console URLs become links


def test_apprise_failure_says_why():
    sink = one_sink({"type": "apprise", "urls": [_mail_url(free_port())]})
    with pytest.raises(SinkDeliveryError, match=r"Apprise delivery failed: .*(?i:connection)"):
        sink.send(make_notification())
