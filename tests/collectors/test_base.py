from __future__ import annotations

import pytest

from monitor.collectors.base import (
    SourceConfig,
    extract_links,
    load_cursor,
    telegram_links,
)
from monitor.collectors.registry import build_collector, parse_source
from monitor.errors import CollectorError, ConfigError


def test_common_keys_defaults_and_durations():
    s = parse_source({"name": "a", "type": "telegram_web", "channel": "abcdef"})
    assert (s.every, s.jitter, s.enabled, s.tor, s.backfill) == (300.0, 0.0, True, False, 100)
    assert s.expected_silence is None and s.alert_after_failures == 5 and s.max_item_mb is None
    s = SourceConfig.from_table({"name": "a", "type": "x", "every": "2h", "jitter": "30s",
                                 "expected_silence": "3d", "backfill": 0, "max_item_mb": 2},
                                allowed=())
    assert (s.every, s.jitter, s.expected_silence, s.backfill, s.max_item_mb) == (
        7200.0, 30.0, 259200.0, 0, 2.0)


@pytest.mark.parametrize(("extra", "message"), [
    ({"backfill": -1}, "source 'a': backfill cannot be negative"),
    ({"backfill": "10"}, "source 'a': backfill must be int"),
    ({"enabled": "yes"}, "source 'a': enabled must be bool"),
    ({"expected_silence": "often"}, "source 'a': expected_silence"),
    ({"every": 0}, "source 'a': every must be more than 0"),
    ({"alert_after_failures": 0}, "source 'a': alert_after_failures must be at least 1"),
    ({"max_item_mb": 0}, "source 'a': max_item_mb must be more than 0"),
])
def test_common_key_errors_name_source_and_key(extra, message):
    with pytest.raises(ConfigError) as e:
        SourceConfig.from_table({"name": "a", "type": "x", **extra})
    assert message in str(e.value)


def test_bad_cursor_is_an_error_not_a_silent_reset():
    with pytest.raises(CollectorError, match="saved cursor is not valid JSON"):
        load_cursor("{broken", "source 'a'")
    with pytest.raises(CollectorError, match="not a JSON object"):
        load_cursor("[1]", "source 'a'")
    assert load_cursor(None, "x") == {}


def test_extract_links():
    text = "dump at https://mega.example/f/x). join t.me/+AbC123 or t.me/leakchan, http://a.onion/p."
    links = extract_links(text)
    assert links == ["https://mega.example/f/x", "https://t.me/+AbC123",
                     "https://t.me/leakchan", "http://a.onion/p"]
    assert telegram_links(links) == ["https://t.me/+AbC123", "https://t.me/leakchan"]
    # bare mentions in any case, with no "://" anywhere in the text, are still links
    assert extract_links("see T.ME/LeakChan and Telegram.Me/other") == [
        "https://T.ME/LeakChan", "https://Telegram.Me/other"]
    assert extract_links("no link here, just a dump of 300k lines") == []
    # a link starts at a word boundary only (a letter, digit or _ before it: not a link)
    assert extract_links("xhttps://a.example/1 éhttp://b.example _t.me/c 9tg://d") == []
    assert extract_links("(HTTPS://a.example/1, «t.me/chan» TG://resolve?domain=x") == [
        "HTTPS://a.example/1", "https://t.me/chan»", "TG://resolve?domain=x"]


def test_telegram_source_refuses_tor(config, tmp_path):
    with pytest.raises(ConfigError, match="tor = true is not supported for telegram"):
        build_collector({"name": "t", "type": "telegram", "channel": "x", "tor": True,
                         "api_id": 1, "api_hash": "h"}, config, tmp_path)
