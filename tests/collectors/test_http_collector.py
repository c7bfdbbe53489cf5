from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.collectors import build_collector
from monitor.config import parse_config
from monitor.errors import CollectorError, ConfigError
from tests.support.collect import drain, run
from tests.support.formats import make_zip
from tests.support.http import Reply
from tests.support.socks import Socks5Proxy

DATA = Path(__file__).parent / "data"


def docs_of(batches):
    return [d for b in batches for d in b.documents]


def make(server, config, tmp_path, **table):
    return build_collector({"name": "site", "type": "http", **table}, config, tmp_path)


# -- RSS / Atom ---------------------------------------------------------------------------


def test_rss_items_with_linked_file(server, config, tmp_path):
    rss = (DATA / "feed.rss").read_text().replace("FILES/", server.url("/files/"))
    server.route("/feed", Reply(body=rss, content_type="application/rss+xml"))
    server.route("/files/sample.csv", Reply(body="id,nir\n1,185057800608436\n",
                                            content_type="text/csv"))
    batches = run(drain(make(server, config, tmp_path, url=server.url("/feed"))))
    docs = docs_of(batches)
    assert [d.external_id for d in docs] == [
        "thread-8000", "thread-8999", "thread-9001", "thread-9001/file/sample.csv"]
    post = docs[2]
    assert post.title == "[FR] Dedalus Biologie – 48k patients"
    assert post.author == "kingdumper"
    assert post.posted_at.isoformat() == "2024-05-24T09:20:00+00:00"
    assert b"Full dump, 48k rows." in post.content
    sample = docs[3]
    assert sample.parent_id == "thread-9001" and sample.filename == "sample.csv"
    assert sample.content.startswith(b"id,nir")
    assert post.platform == "http"
    assert batches[-1].items == 3


def test_atom_feed(server, config, tmp_path):
    server.route("/atom", Reply(body=(DATA / "feed.atom").read_text(),
                                content_type="application/atom+xml"))
    docs = docs_of(run(drain(make(server, config, tmp_path, url=server.url("/atom")))))
    assert len(docs) == 1
    assert docs[0].external_id == "urn:post:77"
    assert docs[0].url == "http://tracker.example/posts/77"
    assert b"Victim: Clinique Exemple, deadline 7 days" in docs[0].content
    assert docs[0].author == "tracker-bot"


def test_rss_resume_and_bounded_backfill(server, config, tmp_path):
    rss = (DATA / "feed.rss").read_text().replace("FILES/", server.url("/files/"))
    server.route("/feed", Reply(body=rss))
    server.route("/files/sample.csv", Reply(body="x"))
    first = run(drain(make(server, config, tmp_path, url=server.url("/feed"), backfill=1)))
    assert [d.external_id for d in docs_of(first)] == ["thread-9001",
                                                       "thread-9001/file/sample.csv"]
    cursor = first[-1].cursor
    assert run(drain(make(server, config, tmp_path, url=server.url("/feed")), cursor)) == []
    newer = rss.replace("<item>", """<item><title>Brand new</title>
      <link>http://forum.example/Thread-New</link><guid>thread-9100</guid>
      <pubDate>Sat, 25 May 2024 09:00:00 +0000</pubDate><description>new</description></item>
      <item>""", 1)
    server.route("/feed", Reply(body=newer))
    again = run(drain(make(server, config, tmp_path, url=server.url("/feed")), cursor))
    assert [d.external_id for d in docs_of(again)] == ["thread-9100"]


def test_not_a_feed_is_an_error(server, config, tmp_path):
    server.route("/feed", Reply(body=b"\x00\x01binary garbage"))
    with pytest.raises(CollectorError, match="not a readable RSS/Atom feed"):
        run(drain(make(server, config, tmp_path, url=server.url("/feed"))))


# -- JSON ---------------------------------------------------------------------------------


def test_json_api_with_items_path_and_field_mapping(server, config, tmp_path):
    server.route("/api/posts", Reply(body=(DATA / "api.json").read_text(),
                                     content_type="application/json"))
    table = {"url": server.url("/api/posts"), "format": "json", "items_path": "data.posts",
             "fields": {"id": "uuid", "url": "permalink", "title": "headline",
                        "text": "body.text", "date": "created", "author": "poster.name"}}
    batches = run(drain(make(server, config, tmp_path, **table)))
    docs = docs_of(batches)
    assert [d.external_id for d in docs] == ["p-1", "p-2", "p-3"]
    assert docs[2].url == server.url("/p/3")
    assert docs[2].author == "zer0"
    assert docs[2].content == b"dedalus-biologie.fr SQL\ndump of dedalus-biologie.fr users table"
    assert docs[2].posted_at.isoformat() == "2024-05-24T12:00:00+00:00"
    assert docs[0].posted_at.isoformat() == "2024-05-24T09:00:00+00:00"
    cur = json.loads(batches[-1].cursor)
    assert cur["seen"] == ["p-1", "p-2", "p-3"]
    assert cur["newest"] == "2024-05-24T12:00:00+00:00"


def test_json_items_path_that_leads_nowhere_fails_loudly(server, config, tmp_path):
    server.route("/api/posts", Reply(body='{"data": {"items": []}}'))
    with pytest.raises(CollectorError, match=r"items_path 'data\.posts' does not lead to a list"):
        run(drain(make(server, config, tmp_path, url=server.url("/api/posts"), format="json",
                       items_path="data.posts")))


def test_seen_window_is_bounded_and_old_items_are_not_repeated(server, config, tmp_path):
    rows = [{"id": f"i{n}", "date": 1716500000 + n * 60, "text": f"t{n}"} for n in range(10)]
    server.route("/api", Reply(body=json.dumps(rows)))
    table = {"url": server.url("/api"), "format": "json", "remember": 3}
    batches = run(drain(make(server, config, tmp_path, **table)))
    cur = json.loads(batches[-1].cursor)
    assert cur["seen"] == ["i7", "i8", "i9"]
    # i0..i6 fell out of the bounded window; they are still recognized as old because they
    # are dated before `newest - max_age`
    table["max_age"] = "1m"
    assert docs_of(run(drain(make(server, config, tmp_path, **table), batches[-1].cursor))) == []


# -- HTML listings, follow, Tor -------------------------------------------------------------


LEAK_TABLE = {"format": "html", "items": "a.post-block", "title": ".post-title",
              "text": ".post-block-text", "date": "time", "follow": True,
              "follow_text": ".post-description"}


def leak_routes(server, proof: bytes):
    server.route("/", Reply(body=(DATA / "leaksite_list.html").read_text()))
    server.route("/post/dedalus-biologie",
                 Reply(body=(DATA / "leaksite_post_dedalus.html").read_text()))
    server.route("/post/clinique-exemple",
                 Reply(body=(DATA / "leaksite_post_clinique.html").read_text()))
    server.route("/files/proof_dedalus.zip", Reply(body=proof, content_type="application/zip"))
    server.route("/files/filetree.txt", Reply(body="HR/\nHR/salaries.xlsx\n"))


def test_html_listing_with_follow_and_attachments(server, config, tmp_path):
    proof = make_zip({"patients.csv": b"0" * 20 * 1024 * 1024})  # 20 MB of zeros, about 20 KB zipped
    leak_routes(server, proof)
    batches = run(drain(make(server, config, tmp_path, url=server.url("/"), **LEAK_TABLE)))
    docs = docs_of(batches)
    assert [d.external_id for d in docs] == [
        server.url("/post/clinique-exemple"), server.url("/post/dedalus-biologie"),
        server.url("/post/dedalus-biologie") + "/file/proof_dedalus.zip",
        server.url("/post/dedalus-biologie") + "/file/filetree.txt"]
    victim = docs[1]
    assert victim.title == "dedalus-biologie.fr"
    assert victim.posted_at.isoformat() == "2024-05-24T16:30:00+00:00"
    assert b"Medical lab software vendor" in victim.content
    assert b"All data will be published in 7 days." in victim.content
    # the archive arrives as its own bytes (unpacking with caps is matching's job)
    assert docs[2].content == proof and docs[2].parent_id == victim.external_id
    assert "https://t.me/cliniquemirror" in docs[0].metadata["links"]


def test_hostile_archive_attachment_is_cut_at_the_cap(server, config, tmp_path):
    proof = make_zip({"patients.csv": b"0" * 8 * 1024 * 1024}) + b"\0" * 200_000  # a big archive
    leak_routes(server, proof)
    docs = docs_of(run(drain(make(server, config, tmp_path, url=server.url("/"),
                                  max_item_mb=0.05, **LEAK_TABLE))))
    z = next(d for d in docs if d.filename == "proof_dedalus.zip")
    assert z.metadata["truncated"] is True and len(z.content) == int(0.05 * 1024 * 1024)


def test_html_selector_matching_nothing_is_logged(server, config, tmp_path, caplog):
    server.route("/", Reply(body="<html><body>redesigned</body></html>"))
    table = {**LEAK_TABLE, "url": server.url("/")}
    assert docs_of(run(drain(make(server, config, tmp_path, **table)))) == []
    assert "matched nothing" in caplog.text


def test_leak_site_over_tor_goes_only_through_the_proxy(server, tmp_path):
    leak_routes(server, b"PK\x05\x06" + b"\0" * 18)
    proxy = Socks5Proxy(("127.0.0.1", server.port)).start()
    try:
        config = parse_config({"network": {"tor_proxy": proxy.url, "retries": 0}})
        onion = "http://lockbit3abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs.onion"
        col = make(server, config, tmp_path, url=onion + "/", tor=True, **LEAK_TABLE)
        docs = docs_of(run(drain(col)))
    finally:
        proxy.stop()
    assert docs[1].url == onion + "/post/dedalus-biologie"
    assert docs[1].platform == "tor"
    assert {h for h, _ in proxy.connects} == {onion[7:]}
    assert sorted(server.connections) == sorted(proxy.upstreams)  # nothing reached it directly
    assert all(r.headers["host"] == onion[7:] for r in server.requests)


def test_html_needs_an_items_selector(server, config, tmp_path):
    with pytest.raises(ConfigError, match="source 'site': format = \"html\" needs an `items`"):
        make(server, config, tmp_path, url=server.url("/"), format="html")
    with pytest.raises(ConfigError, match="source 'site': format must be one of"):
        make(server, config, tmp_path, url=server.url("/"), format="xml")


def test_linked_files_on_foreign_hosts_are_not_fetched(server, config, tmp_path):
    """A hostile post must not make the monitor fetch arbitrary (internal) URLs."""
    # "localhost:PORT" is another host than the listing's "127.0.0.1:PORT" (and still loopback,
    # so a broken guard would show up as a request below, not as traffic leaving the machine)
    foreign = server.url("/files/", host="localhost")
    rss = (DATA / "feed.rss").read_text().replace("FILES/", foreign)
    server.route("/feed", Reply(body=rss))
    server.route("/files/sample.csv", Reply(body="secret internal"))
    docs = docs_of(run(drain(make(server, config, tmp_path, url=server.url("/feed")))))
    assert [d.external_id for d in docs] == ["thread-8000", "thread-8999", "thread-9001"]
    assert foreign + "sample.csv" in docs[2].metadata["links"]
    assert server.hits("/files/sample.csv") == []
    allowed = make(server, config, tmp_path, url=server.url("/feed"),
                   allowed_hosts=[f"localhost:{server.port}"])
    docs = docs_of(run(drain(allowed)))
    assert docs[-1].filename == "sample.csv" and docs[-1].content == b"secret internal"


def test_clearnet_listing_following_onion_links_uses_the_proxy(server, tmp_path):
    """A source without `tor = true` still never reaches an .onion page directly."""
    onion = "http://mirror5abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnop.onion"
    listing = (DATA / "leaksite_list.html").read_text().replace(
        'href="/post/dedalus-biologie"', f'href="{onion}/post/dedalus-biologie"')
    leak_routes(server, b"PK\x05\x06" + b"\0" * 18)
    server.route("/", Reply(body=listing))
    proxy = Socks5Proxy(("127.0.0.1", server.port)).start()
    try:
        config = parse_config({"network": {"tor_proxy": proxy.url, "retries": 0}})
        col = make(server, config, tmp_path, url=server.url("/"),
                   allowed_hosts=[onion[7:]], **LEAK_TABLE)
        docs = docs_of(run(drain(col)))
    finally:
        proxy.stop()
    victim = next(d for d in docs if d.title == "dedalus-biologie.fr")
    assert b"All data will be published in 7 days." in victim.content
    assert {h for h, _ in proxy.connects} == {onion[7:]}  # only onion traffic is proxied
    # the onion page was served, which only the proxy can do (the name resolves nowhere else)
    assert any(r.headers["host"] == onion[7:] for r in server.requests)


def test_hostile_markup_does_not_break_the_listing(server, config, tmp_path):
    html = """<html><body>
      <div class="post-block"><a href="http://[broken" class="t">bad</a></div>
      <div class="post-block"><a href="/post/ok" class="t">good</a>
        <p>see <a href="javascript:alert(1)">x</a> <a href="http://[::1">y</a>
        <a href="/dl/leak.sql">leak.sql</a></p></div>
      <div class="post-block"><span class="t">no link at all</span></div>
    </body></html>"""
    server.route("/", Reply(body=html))
    server.route("/dl/leak.sql", Reply(body="INSERT INTO t VALUES (1);"))
    col = make(server, config, tmp_path, url=server.url("/"), format="html",
               items="div.post-block", title=".t")
    docs = docs_of(run(drain(col)))
    titles = [d.title for d in docs]
    assert "good" in titles and "bad" in titles and "no link at all" in titles
    assert any(d.filename == "leak.sql" for d in docs)


def test_linked_archive_carries_its_post_and_the_source_passwords(server, config, tmp_path):
    import subprocess

    from monitor.matching.extract import Limits, iter_parts
    from monitor.pipeline import document_passwords

    (tmp_path / "salaries.csv").write_text("nom;salaire\nDUPONT;4200\n")
    subprocess.run(["7z", "a", "-bso0", "-tzip", "-pdedalus-proof", "-mem=AES256",
                    str(tmp_path / "proof.zip"), "salaries.csv"], cwd=tmp_path, check=True)
    leak_routes(server, (tmp_path / "proof.zip").read_bytes())
    docs = docs_of(run(drain(make(server, config, tmp_path, url=server.url("/"),
                                  archive_passwords=["other", "dedalus-proof"], **LEAK_TABLE))))
    z = next(d for d in docs if d.filename == "proof_dedalus.zip")
    assert "Proof pack" in z.metadata["caption"]
    assert z.metadata["archive_passwords"] == ["other", "dedalus-proof"]
    (part,) = iter_parts(z.content, z.filename, Limits(), document_passwords(z))
    assert part.data == b"nom;salaire\nDUPONT;4200\n"
    assert part.note == "zip archive opened with a password from the source's archive_passwords"


def test_archive_passwords_must_be_a_list_of_strings(server, config, tmp_path):
    with pytest.raises(ConfigError, match="archive_passwords"):
        make(server, config, tmp_path, url=server.url("/"), archive_passwords="x", **LEAK_TABLE)


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "iso"), [
    (1796817600, "2026-12-09T12:00:00+00:00"),            # epoch seconds
    (1796817600000, "2026-12-09T12:00:00+00:00"),         # epoch milliseconds (JS Date.now())
    ("1796817600000", "2026-12-09T12:00:00+00:00"),
    ("28/11/2026", "2026-11-28T00:00:00+00:00"),           # day first
    ("28.11.2026 14:00", "2026-11-28T14:00:00+00:00"),
    ("Nov 28, 2026", "2026-11-28T00:00:00+00:00"),
    ("28 novembre 2026", "2026-11-28T00:00:00+00:00"),
    ("mardi 3 févr. 2026 à 14:05", "2026-02-03T14:05:00+00:00"),
    ("3 August 2026", "2026-08-03T00:00:00+00:00"),
    ("Sat, 28 Nov 2026 10:00:00 GMT", "2026-11-28T10:00:00+00:00"),
])
def test_dates_in_the_shapes_sites_print_them(value, iso):
    from monitor.collectors.http import parse_date

    assert parse_date(value).isoformat() == iso


def test_epoch_ms_feed_and_an_unreadable_date_never_fail_the_run(server, config, tmp_path,
                                                                    caplog):
    rows = [{"id": "a", "date": 1796817600000, "text": "dump acme"},
            {"id": "b", "date": "le jour d'après", "text": "undated"},
            {"id": "c", "date": 10**20, "text": "absurd"}]
    server.route("/api", Reply(body=json.dumps(rows), content_type="application/json"))
    batches = run(drain(make(server, config, tmp_path, url=server.url("/api"), format="json")))
    by_id = {d.external_id: d for d in docs_of(batches)}
    assert sorted(by_id) == ["a", "b", "c"]
    assert by_id["a"].posted_at.isoformat() == "2026-12-09T12:00:00+00:00"
    assert by_id["b"].posted_at is None and by_id["c"].posted_at is None
    assert "item b: unreadable date" in caplog.text and "item c: unreadable date" in caplog.text


def paged_api(server, total=25, per=10):
    rows = [{"id": f"r{n}", "text": f"row {n}"} for n in range(total)][::-1]  # newest first

    def api(req):
        page = int(req.q("page") or 1)
        chunk = rows[(page - 1) * per:page * per]
        nxt = f"/api?page={page + 1}" if page * per < total else None
        return Reply(body=json.dumps({"data": chunk, "links": {"next": nxt}}),
                     content_type="application/json")

    server.route("/api", api)


@pytest.mark.parametrize("paging", [{"next_path": "links.next"}, {"page_param": "page"}])
def test_json_api_is_followed_over_pages_and_bounded(server, config, tmp_path, paging):
    paged_api(server)
    table = {"url": server.url("/api"), "format": "json", "items_path": "data", **paging}
    docs = docs_of(run(drain(make(server, config, tmp_path, backfill=100, **table))))
    assert sorted(d.external_id for d in docs) == sorted(f"r{n}" for n in range(25))
    assert [d.external_id for d in docs][:2] == ["r0", "r1"]  # oldest first

    server.requests.clear()
    docs = docs_of(run(drain(make(server, config, tmp_path, backfill=100, max_pages=2,
                                  **table))))
    assert len(docs) == 20 and len(server.hits("/api")) == 2


def test_json_paging_stops_at_a_page_already_read(server, config, tmp_path):
    paged_api(server)
    table = {"url": server.url("/api"), "format": "json", "items_path": "data",
             "next_path": "links.next"}
    cursor = run(drain(make(server, config, tmp_path, backfill=100, **table)))[-1].cursor
    server.requests.clear()
    assert docs_of(run(drain(make(server, config, tmp_path, **table), cursor))) == []
    assert len(server.hits("/api")) == 1  # page 1 held nothing new: page 2 not fetched
