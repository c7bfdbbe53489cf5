from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.collectors import CollectorDeferred, build_collector, parse_source
from monitor.collectors.http_client import make_client
from monitor.collectors.telegram_web import TelegramWebCollector
from monitor.errors import CollectorError, ConfigError
from tests.support.collect import drain, run
from tests.support.http import Reply

DATA = Path(__file__).parent / "data"

PAGE1 = (DATA / "tme_s_page1.html").read_text()
PAGE2 = (DATA / "tme_s_page2.html").read_text()

NEW_POST = """
<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="leakmarketfr/102">
  <div class="tgme_widget_message_bubble">
    <div class="tgme_widget_message_text js-message_text" dir="auto">new: mutuelle santé dump 300k</div>
    <div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info"><span class="tgme_widget_message_views">12</span><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/leakmarketfr/102"><time datetime="2024-05-25T09:00:00+00:00" class="time">09:00</time></a></span></div></div>
  </div>
</div></div>
        </section>"""


def channel_routes(server, page1: str = PAGE1) -> None:
    def chan(req):
        return Reply(body=PAGE2 if req.q("before") == "96" else page1)

    server.route("/s/leakmarketfr", chan)
    server.route("/s/privatedumps", Reply(302, headers={"Location": "/privatedumps"}))
    server.route("/privatedumps", Reply(body=(DATA / "tme_no_preview.html").read_text()))
    server.route("/s/nosuchchannel42", Reply(302, headers={"Location": "/nosuchchannel42"}))
    server.route("/nosuchchannel42", Reply(body=(DATA / "tme_not_found.html").read_text()))
    server.route("/s/floodedchan", Reply(body=(DATA / "tme_flood.html").read_text()))


def make(server, config, channel="leakmarketfr", sleep=None, **extra):
    table = {"name": "tgweb", "type": "telegram_web", "channel": channel,
             "base_url": server.url(""), **extra}
    source = parse_source(table)
    client = make_client(config.network, source="tgweb", sleep=sleep)
    return TelegramWebCollector(source, config, client=client)


def docs_of(batches):
    return [d for b in batches for d in b.documents]


def test_backfill_parses_every_kind_of_post_oldest_first(server, config):
    channel_routes(server)
    batches = run(drain(make(server, config)))
    docs = docs_of(batches)
    assert [d.external_id for d in docs] == ["90", "93", "95", "96", "97", "99", "100", "101"]
    by_id = {d.external_id: d for d in docs}

    post = by_id["96"]
    text = post.content.decode()
    assert "base clients Dedalus Biologie 2024, 48k lignes\nsample:" in text
    assert post.author == "admin_x"
    assert post.metadata["views"] == 4200
    assert post.posted_at.isoformat() == "2024-05-24T09:15:02+00:00"
    assert post.url == "https://t.me/leakmarketfr/96"
    assert "https://mega.example/file/abc" in post.metadata["links"]
    assert "https://t.me/+AbCdEf123456" in post.metadata["links"]

    fwd = by_id["97"]
    assert fwd.forwarded_from == "Data Breaches FR (https://t.me/databreachesfr/1201)"
    assert "https://t.me/databreachesfr/1201" in fwd.metadata["links"]

    media = by_id["99"]
    assert media.metadata["edited"] is True
    assert media.metadata["attachments"] == [{"name": "patients_export_2024.zip",
                                              "size": "12.4 MB"}]
    assert b"[document] patients_export_2024.zip" in media.content
    assert "edited" not in by_id["96"].metadata

    reply = by_id["100"]  # the quoted reply text is not the post's text
    assert reply.content == b"SOLD OUT. next drop tomorrow"

    assert by_id["101"].metadata["service"] is True
    assert by_id["90"].content == b"Channel created"
    assert "https://t.me/leakmarketfr_backup" in by_id["93"].metadata["links"]
    assert json.loads(batches[-1].cursor) == {"last_id": 101}
    # page 1, then ?before=96 (page 2 has no "load more" link: start of channel)
    assert [r.q("before") for r in server.hits("/s/leakmarketfr")] == [None, "96"]


def test_backfill_is_bounded(server, config):
    channel_routes(server)
    docs = docs_of(run(drain(make(server, config, backfill=3))))
    assert [d.external_id for d in docs] == ["99", "100", "101"]
    assert len(server.hits("/s/leakmarketfr")) == 1


def test_backfill_zero_starts_at_the_newest_post(server, config):
    channel_routes(server)
    batches = run(drain(make(server, config, backfill=0)))
    assert docs_of(batches) == []
    assert json.loads(batches[-1].cursor) == {"last_id": 101}


def test_resume_after_restart_picks_up_exactly_the_new_posts(server, config):
    channel_routes(server)
    first = run(drain(make(server, config)))
    cursor = first[-1].cursor
    assert run(drain(make(server, config), cursor)) == []  # nothing new: nothing repeated

    channel_routes(server, PAGE1.replace("        </section>", NEW_POST, 1))
    fresh = make(server, config)  # a new collector object: a daemon restart
    batches = run(drain(fresh, cursor))
    assert [d.external_id for d in docs_of(batches)] == ["102"]
    assert json.loads(batches[-1].cursor) == {"last_id": 102}


def test_resume_from_the_middle_fetches_one_page(server, config):
    channel_routes(server)
    server.requests.clear()
    docs = docs_of(run(drain(make(server, config), json.dumps({"last_id": 97}))))
    assert [d.external_id for d in docs] == ["99", "100", "101"]
    assert len(server.hits("/s/leakmarketfr")) == 1


def test_channel_without_preview_is_named(server, config):
    channel_routes(server)
    with pytest.raises(CollectorError, match="has no public web preview"):
        run(drain(make(server, config, channel="privatedumps")))


def test_missing_channel_is_named(server, config):
    channel_routes(server)
    with pytest.raises(CollectorError, match="nosuchchannel42 does not exist"):
        run(drain(make(server, config, channel="nosuchchannel42")))


def test_flood_page_with_http_200_defers_the_source(server, config):
    channel_routes(server)
    with pytest.raises(CollectorDeferred, match="Too Many Requests") as e:
        run(drain(make(server, config, channel="floodedchan")))
    assert e.value.retry_after > 0


def test_http_429_is_retried_after_retry_after(server, config, sleeps):
    calls = []

    def flaky(req):
        calls.append(1)
        if len(calls) == 1:
            return Reply(429, "slow down", headers={"Retry-After": "7"})
        return Reply(body=PAGE2)

    server.route("/s/leakmarketfr", flaky)
    docs = docs_of(run(drain(make(server, config, sleep=sleeps))))
    assert [d.external_id for d in docs] == ["90", "93", "95"]
    assert sleeps.waits == [7.0]
    assert len(calls) == 2


def test_config_errors_name_the_source_and_key(server, config, tmp_path):
    with pytest.raises(ConfigError, match="source 'tgweb': missing key 'channel'"):
        build_collector({"name": "tgweb", "type": "telegram_web"}, config, tmp_path)
    with pytest.raises(ConfigError, match=r"source 'tgweb': unknown key.*chanel"):
        build_collector({"name": "tgweb", "type": "telegram_web", "chanel": "x"}, config,
                        tmp_path)
    with pytest.raises(ConfigError, match="source 'tgweb': every"):
        build_collector({"name": "tgweb", "type": "telegram_web", "channel": "abcdef",
                         "every": "soon"}, config, tmp_path)
    with pytest.raises(ConfigError, match="unknown source type 'telegramm'"):
        build_collector({"name": "x", "type": "telegramm"}, config, tmp_path)


RICH = (DATA / "tme_s_rich.html").read_text()


def test_rich_posts_keep_signature_previews_replies_media_and_block_breaks(server, config):
    server.route("/s/leakmarketfr", Reply(body=RICH))
    docs = {d.external_id: d for d in docs_of(run(drain(make(server, config, backfill=10))))}

    post = docs["201"]
    text = post.content.decode()
    assert "dump ready\nacme.com users\n\nid;mail\nsee #leak" in text
    assert "[link preview] FileHost | acme_clients.zip | Size: 1.2 GB" in text
    assert post.author == "Admin Fred"  # the signature, not the channel title
    assert post.forwarded_from == "Dump Source (https://t.me/dumpsource/77), K. Vendor"
    assert post.metadata["reply_to"] == "https://t.me/leakmarketfr/199"
    assert "older teaser" not in text
    assert post.metadata["views"] == 32300
    assert post.metadata["edited"] is True
    assert "https://files.example/f/abc" in post.metadata["links"]

    photo = docs["202"]  # no caption: still a document saying what it holds
    assert photo.content.decode() == "[document] acme_patients.csv 48.7 MB\n[photo]"
    assert photo.author == "Mr Edited"
    assert "edited" not in photo.metadata  # a signature containing "edited" is not the flag

    assert docs["203"].content.decode() == "[poll] Next dump?: acme.com / globex"
    assert docs["203"].author is None and docs["203"].metadata["views"] == 1_200_000
    assert docs["204"].content.decode().split("\n") == [
        "[video]", "[round video]", "[voice] 0:12", "[sticker]",
        "[location] https://maps.google.com/maps?q=48.85,2.35"]


@pytest.mark.parametrize("given", ["https://t.me/leakmarketfr/123", "t.me/s/leakmarketfr/123",
                                   "@leakmarketfr", "https://t.me/s/leakmarketfr"])
def test_channel_given_as_a_post_url_means_the_channel(server, config, given):
    assert make(server, config, channel=given).channel == "leakmarketfr"
