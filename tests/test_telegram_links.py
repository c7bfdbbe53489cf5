"""Telegram link rules (monitor/telegram_links.py) and the places that use them: a channel
written any of the usual ways is the same channel everywhere."""

from __future__ import annotations

import pytest

from monitor.alerting.incidents import site_of
from monitor.collectors.base import SourceConfig, extract_links, telegram_links
from monitor.collectors.telegram import TelegramCollector
from monitor.collectors.telegram_web import build as build_web
from monitor.config import parse_config
from monitor.matching.readers.passwords import channel_conventions
from monitor.models import Document
from monitor.telegram_links import (
    channel_name,
    is_telegram_link,
    is_username,
    site_host,
    suggestion_link,
)

SPELLINGS = ["leaks_fr", "@leaks_fr", " @leaks_fr ", "t.me/leaks_fr", "https://t.me/leaks_fr",
             "https://t.me/s/leaks_fr", "https://t.me/s/leaks_fr/1234", "t.me/leaks_fr/99/",
             "http://www.telegram.me/leaks_fr", "https://telegram.dog/leaks_fr?embed=1",
             "https://t.me/@leaks_fr"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_names_the_channel(spelling):
    assert channel_name(spelling) == "leaks_fr"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_both_collectors_read_the_channel_the_same_way(spelling):
    config = parse_config({})
    table = {"name": "tg", "type": "telegram", "channel": spelling, "api_id": 1,
             "api_hash": "h"}
    tg = TelegramCollector(SourceConfig.from_table(table, allowed={"channel", "api_id",
                                                                   "api_hash"}), config,
                           config.base_dir, client_factory=lambda: None)
    web = build_web(SourceConfig.from_table({"name": "w", "type": "telegram_web",
                                             "channel": spelling}, allowed={"channel"}),
                    config, config.base_dir)
    assert tg.channel == web.channel == "leaks_fr"


def test_usernames():
    assert is_username("leaks_fr") and is_username("a" + "b" * 64)
    assert not is_username("abc") and not is_username("1leaks") and not is_username("+AbC123")


@pytest.mark.parametrize(("link", "key"), [
    ("https://t.me/s/LeakBase/12?x", "https://t.me/leakbase"),
    ("t.me/+AbC123", "https://t.me/+abc123"),
    ("https://telegram.dog/LeakBase", "https://t.me/leakbase"),
    ("https://www.telegram.me/leakbase/7", "https://t.me/leakbase"),
    ("https://t.me/joinchat/AAAA", None), ("https://t.me/share/url?x", None),
    ("https://t.me/abc", None), ("https://example.org/t.me/leakbase", None),
])
def test_suggestion_links_have_one_spelling(link, key):
    assert suggestion_link(link) == key


def test_links_found_in_text_and_telegram_ones_among_them():
    text = "mirror telegram.dog/dumps, t.me/s/leaks_fr/5 and https://paste.example/x."
    links = extract_links(text)
    assert links == ["https://telegram.dog/dumps", "https://t.me/s/leaks_fr/5",
                     "https://paste.example/x"]
    assert telegram_links(links) == links[:2]
    assert not is_telegram_link("https://t.mex/a") and is_telegram_link(" t.me/a ")


def test_all_of_telegram_is_one_site():
    assert {site_host(h) for h in ("t.me", "www.t.me", "TELEGRAM.ME", "telegram.dog")} == {"t.me"}
    doc = Document("tg", "telegram", "1", b"", url="https://telegram.me/leaks_fr/1")
    assert site_of(doc) == "t.me"
    assert site_host("www.Paste.example") == "paste.example"


def test_password_convention_uses_the_channel_name():
    assert channel_conventions("https://t.me/s/leaks_fr/12") == channel_conventions("@leaks_fr")
    assert channel_conventions("@Leaks_FR")[:3] == ["@Leaks_FR", "Leaks_FR", "t.me/Leaks_FR"]
