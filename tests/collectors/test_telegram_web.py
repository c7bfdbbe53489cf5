from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from monitor.collectors import CollectorDeferred, build_collector, parse_source
from monitor.collectors.http_client import make_client
from monitor.collectors.telegram_web import TelegramWebCollector
from monitor.errors import CollectorError, ConfigError
from monitor.pipeline import Pipeline
from monitor.store import Store
from tests.support.collect import drain, run
from tests.support.http import Reply
from tests.support.scanners import keyword_scanner

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


def test_backfill_parses_every_kind_of_post_one_batch_per_page(server, config):
    channel_routes(server)
    batches = run(drain(make(server, config)))
    docs = docs_of(batches)
    # newest page first, a page's posts oldest first; only the last batch moves the cursor
    assert [d.external_id for d in docs] == ["96", "97", "99", "100", "101", "90", "93", "95"]
    assert all(b.cursor is None for b in batches[:-1]) and batches[-1].documents
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


def paged_channel(server, total: int, leak_every: int = 7) -> None:
    """Channel `leakmarketfr` with posts 1..total, 20 a page, as t.me/s pages them
    (`?before=N` gives the 20 posts below N and a "load more" link while older ones exist)."""
    def post(i: int) -> str:
        text = f"post {i}: LEAK base clients" if i % leak_every == 0 else f"post {i}: bonjour"
        return (NEW_POST.replace("leakmarketfr/102", f"leakmarketfr/{i}")
                .replace("new: mutuelle santé dump 300k", text).replace("        </section>", ""))

    def page(req):
        before = req.q("before")
        top = min(total, int(before) - 1) if before else total
        lo = max(1, top - 19)
        more = (f'<a href="/s/leakmarketfr?before={lo}" class="tme_messages_more '
                f'js-messages_more" data-before="{lo}"></a>') if lo > 1 else ""
        posts = "".join(post(i) for i in range(lo, top + 1))
        return Reply(body=f'<html><head><title>Leak market</title></head><body><main><section>'
                          f'{more}{posts}</section></main><div class="tgme_channel_info"></div>'
                          f'</body></html>')

    server.route("/s/leakmarketfr", page)


@pytest.mark.parametrize("crash_after", [1, 3])
def test_crash_after_page_k_rereads_and_stores_every_message_once(server, config, tmp_path,
                                                                   crash_after):
    """Pages are committed newest first without moving the cursor; a run that dies after page
    k leaves the cursor where it was, so the restart reads those pages again (skipped as exact
    repeats) and stores the rest: each message once, each hit once, nothing skipped."""
    total = 95  # 5 pages
    paged_channel(server, total)
    store = Store.open(tmp_path / "leakmon.db")
    pipeline = Pipeline(store, scanner=keyword_scanner())

    async def run_until(cursor, pages):
        collector = make(server, config, backfill=1000, batch_size=20)  # a batch is a page
        results = []
        try:
            async for batch in collector.collect(cursor):
                results.append(pipeline.process_batch("tgweb", batch.documents, batch.cursor))
                if len(results) == pages:
                    break  # the process dies here: nothing else of this run is written
        finally:
            await collector.aclose()
        return results

    try:
        first = run(run_until(None, crash_after))
        assert store.get_source_state("tgweb").cursor is None  # not moved mid-range
        assert store.count_documents() == 20 * crash_after
        second = run(run_until(store.get_source_state("tgweb").cursor, None))
        assert sum(r.skipped for r in second) == 20 * crash_after
        assert sum(r.documents for r in first + second) == total
        rows = store.query("SELECT external_id, versions FROM documents")
        assert sorted(int(r["external_id"]) for r in rows) == list(range(1, total + 1))
        assert {r["versions"] for r in rows} == {1}
        leaks = total // 7
        assert store.db.execute("SELECT COUNT(*) FROM hits").fetchone()[0] == leaks
        assert store.db.execute("SELECT COUNT(*) FROM sightings").fetchone()[0] == leaks
        assert json.loads(store.get_source_state("tgweb").cursor) == {"last_id": total}
        server.requests.clear()
        assert run(run_until(store.get_source_state("tgweb").cursor, None)) == []
        assert len(server.hits("/s/leakmarketfr")) == 1  # the next run reads one page
    finally:
        store.close()


def test_next_page_is_fetched_while_the_batch_is_stored(server, config):
    """The request for page 2 reaches the server while the runner still holds page 1."""
    paged_channel(server, 60)
    serve = server.routes["/s/leakmarketfr"]
    asked: dict[str | None, threading.Event] = {b: threading.Event() for b in (None, "41", "21")}

    def page(req):
        asked[req.q("before")].set()
        return serve(req)

    server.route("/s/leakmarketfr", page)

    async def go():
        collector = make(server, config, backfill=1000, batch_size=20)  # a batch is a page
        prefetched = []
        try:
            async for _batch in collector.collect(None):
                following = {1: "41", 2: "21"}.get(len(prefetched) + 1)
                # the runner's commit runs off the loop; the next page must arrive meanwhile
                prefetched.append(following is None or await asyncio.to_thread(
                    asked[following].wait, 10))
        finally:
            await collector.aclose()
        return prefetched

    assert run(go()) == [True, True, True]


def test_more_new_pages_than_max_pages_reads_the_newest_and_says_so(server, config, caplog):
    paged_channel(server, 95)
    batches = run(drain(make(server, config, max_pages=2), json.dumps({"last_id": 10})))
    assert sorted(int(d.external_id) for d in docs_of(batches)) == list(range(56, 96))
    assert [b.cursor for b in batches] == [None] * (len(batches) - 1) + ['{"last_id":95}']
    assert "more than 2 pages of new posts since 10" in caplog.text
    assert len(server.hits("/s/leakmarketfr")) == 2
