"""`[[sinks]]` validation, env: secrets, filters, masking and the shared formatter."""

from __future__ import annotations

import logging

import pytest

from monitor.alerting.sinks import build_sinks, mask_url
from monitor.alerting.sinks import format as fmt
from monitor.config import parse_config
from monitor.errors import ConfigError
from tests.support.sinks import make_notification


def _build(*tables, tmp_path=None):
    cfg = parse_config({"sinks": list(tables)})
    return build_sinks(cfg.sinks, cfg)


def test_builds_every_kind_with_common_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret-value")
    sinks = _build(
        {"name": "mail", "type": "apprise", "urls": ["mailto://127.0.0.1:2525?from=l@b.example&to=a@b.example&mode=insecure"]},
        {"name": "hook", "type": "webhook", "url": "https://soar.example/h/T0KEN",
         "secret": "env:HOOK_SECRET", "min_severity": "high", "rules": ["patients.*"],
         "tags": ["pii"], "digest": "1h"},
        {"name": "file", "type": "jsonl", "path": str(tmp_path / "a.jsonl"), "digest": 15},
        {"name": "siem", "type": "syslog", "host": "127.0.0.1", "protocol": "tcp",
         "format": "cef", "facility": "local4"},
        {"name": "hive", "type": "thehive", "url": "https://hive.example", "api_key": "k"},
    )
    assert [s.kind for s in sinks] == ["apprise", "webhook", "jsonl", "syslog", "thehive"]
    hook = sinks[1]
    assert (hook.min_severity, hook.rules, hook.tags, hook.digest) == (
        "high", ("patients.*",), ("pii",), 60.0)
    assert sinks[2].digest == 15.0
    assert sinks[3].port == 514 and sinks[3].facility == 20
    # what logs and `sinks list` show carries no token
    assert "T0KEN" not in hook.describe() and hook.describe() == "https://soar.example/…"
    for s in sinks:
        s.close()


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "x", "type": "carrier-pigeon"}, "sink 'x': type: 'carrier-pigeon' is not a sink type"),
    ({"name": "x", "type": "webhook", "url": "https://a.example"}, "sink 'x': missing required key 'secret'"),
    ({"name": "x", "type": "webhook", "url": "ftp://a.example", "secret": "s"}, "sink 'x': url: must start with http"),
    ({"name": "x", "type": "jsonl", "path": "a", "min_severity": "urgent"}, "sink 'x': min_severity: 'urgent' is not one of"),
    ({"name": "x", "type": "jsonl", "path": "a", "secert": "s"}, "sink 'x': unknown key(s) secert"),
    ({"name": "x", "type": "jsonl", "path": "a", "digest": 0}, "sink 'x': digest: must be a positive"),
    ({"name": "x", "type": "jsonl", "path": "a", "rules": "patients.*"}, "sink 'x': rules: expected list"),
    ({"name": "x", "type": "syslog", "host": "h", "port": 70000}, "sink 'x': port: must be between 1 and 65535"),
    ({"name": "x", "type": "syslog", "host": "h", "protocol": "quic"}, "sink 'x': protocol: 'quic' is not one of"),
    ({"name": "x", "type": "apprise", "urls": []}, "sink 'x': urls: give at least one"),
    ({"name": "x", "type": "apprise", "urls": ["nosuchscheme://abc"]}, "sink 'x': urls[1]: Apprise cannot use this 'nosuchscheme' URL"),
    ({"name": "x", "type": "apprise", "urls": ["mailto://127.0.0.1:2525?to=a@b.example"]}, "Invalid ~From~ email"),
    ({"name": "x", "type": "thehive", "url": "https://h.example"}, "sink 'x': missing required key 'api_key'"),
])
def test_errors_name_the_sink_and_key(table, message):
    with pytest.raises(ConfigError) as e:
        _build(table)
    assert message in str(e.value)


def test_env_secret_must_be_set(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match=r"sink 'h': secret: environment variable "
                                          r"NOT_SET_ANYWHERE is not set"):
        _build({"name": "h", "type": "webhook", "url": "http://127.0.0.1:1/",
                "secret": "env:NOT_SET_ANYWHERE"})


def test_apprise_urls_can_come_from_env_and_are_masked(monkeypatch, caplog):
    monkeypatch.setenv("SLACK_URL", "slack://T1AAAAAAA/B2BBBBBBB/SecretTokenXyz123/#soc")
    (sink,) = _build({"name": "chat", "type": "apprise", "urls": ["env:SLACK_URL"]})
    assert "SecretTokenXyz123" not in sink.describe()
    assert sink.describe().startswith("slack://")
    assert "SecretTokenXyz123" not in sink._scrub("posting with SecretTokenXyz123 failed")


def test_filters():
    (sink,) = _build({"name": "f", "type": "jsonl", "path": "x", "min_severity": "high",
                      "rules": ["patients.*", "org.mention"], "tags": ["pii", "vip-*"]})
    n = make_notification
    assert sink.accepts(n())
    assert not sink.accepts(n(severity="medium"))
    assert not sink.accepts(n(rule_id="brand.mention"))
    assert sink.accepts(n(rule_id="org.mention", tags=["vip-ceo"]))
    assert not sink.accepts(n(tags=["other"]))
    # operator/test events ignore rule and tag filters, but not min_severity
    assert sink.accepts(n(event="operator", rule_id="source.health", tags=[], severity="high"))
    assert not sink.accepts(n(event="operator", rule_id="source.health", severity="low"))


def test_mask_url():
    assert mask_url("https://user:pw@hooks.example:8443/services/T/B/X?token=1") == \
        "https://hooks.example:8443/…"
    assert mask_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_formatter_carries_every_fact_but_no_more_than_ids():
    n = make_notification(canary=True)
    body = fmt.body_text(n)
    for expected in ("Severity: critical", "Confidence: 93%", "patients.records",
                     "pastebin / pastebin-scrape", "https://pastebin.com/raw/Ab12Cd34",
                     "First seen: 2026-11-28T09:58:00+00:00", "Last seen: 2026-11-28T09:59:30",
                     "Sightings: 2 on 2 site(s)", "Records matched: 153 (ids: p-1, p-2",
                     "and 133 more", "Canary: YES", "leakmon alerts show 12",
                     "Excerpt (redacted):"):
        assert expected in body, expected
    assert "p-21" not in body  # ids are capped at 20 in a message
    assert fmt.subject(n) == "[leakmon] CRITICAL: Our patient records in a paste"
    assert fmt.subject(make_notification(event="escalated")).startswith(
        "[leakmon] CRITICAL (escalated):")
    digest = fmt.digest_body([make_notification(severity="low", title="low one"), n])
    assert digest.index("CRITICAL") < digest.index("LOW")  # most severe first
    assert "2 alert(s), worst CRITICAL" in fmt.digest_subject(
        [n, make_notification(severity="low")])


def test_build_sinks_logs_no_secret(monkeypatch, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOOK_SECRET", "super-secret-hmac-key")
    sinks = _build({"name": "h", "type": "webhook", "url": "http://127.0.0.1:1/p",
                    "secret": "env:HOOK_SECRET"})
    assert "super-secret-hmac-key" not in repr(sinks) + caplog.text
