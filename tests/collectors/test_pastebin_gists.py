from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.collectors import CollectorDeferred, build_collector, parse_source
from monitor.collectors.github_gists import GistsCollector
from monitor.errors import CollectorError, ConfigError
from tests.support.collect import drain, run
from tests.support.http import Reply

DATA = Path(__file__).parent / "data"

LISTING = (DATA / "pastebin_listing.json").read_text()
NO_ACCESS = (DATA / "pastebin_no_access.txt").read_text()
BODIES = {
    "Xk3pQ9aZ": "admin@dedalus-biologie.fr:Winter2024!\nsee https://t.me/+InviteXyz",
    "Mn7Rt2Lw": "print('hello')",
    "Ab12Cd34": '{"db": "prod"}',
}


def pastebin_routes(server, listing=LISTING, bodies=BODIES):
    server.route("/api_scraping.php", Reply(body=listing, content_type="application/json"))
    server.route("/api_scrape_item.php",
                 lambda req: Reply(body=bodies[req.q("i")], content_type="text/plain"))


def pastebin(server, config, tmp_path, **extra):
    return build_collector({"name": "pb", "type": "pastebin", "base_url": server.url(""),
                            "item_interval": 0, **extra}, config, tmp_path)


def docs_of(batches):
    return [d for b in batches for d in b.documents]


def test_pastebin_listing_and_items(server, config, tmp_path):
    pastebin_routes(server)
    batches = run(drain(pastebin(server, config, tmp_path)))
    docs = docs_of(batches)
    assert [d.external_id for d in docs] == ["Ab12Cd34", "Mn7Rt2Lw", "Xk3pQ9aZ"]  # oldest first
    creds = docs[2]
    assert creds.content == BODIES["Xk3pQ9aZ"].encode()
    assert creds.title == "dedalus-biologie.fr creds" and creds.author == "dumper77"
    assert creds.url == "https://pastebin.com/Xk3pQ9aZ"
    assert creds.posted_at == datetime.fromtimestamp(1716545400, UTC)
    assert creds.metadata["links"] == ["https://t.me/+InviteXyz"]
    assert json.loads(batches[-1].cursor) == {"date": 1716545400, "keys": ["Mn7Rt2Lw",
                                                                         "Xk3pQ9aZ"]}
    assert server.hits("/api_scraping.php")[0].q("limit") == "100"


def test_pastebin_resume_skips_keys_seen_at_the_same_second(server, config, tmp_path):
    pastebin_routes(server)
    cursor = run(drain(pastebin(server, config, tmp_path)))[-1].cursor
    newer = json.loads(LISTING)
    newer.insert(0, {**newer[0], "key": "New0ne11", "date": "1716545400", "title": "new"})
    newer.insert(0, {**newer[0], "key": "Later222", "date": "1716545999", "title": "later"})
    pastebin_routes(server, json.dumps(newer), {**BODIES, "New0ne11": "n", "Later222": "l"})
    batches = run(drain(pastebin(server, config, tmp_path), cursor))
    assert [d.external_id for d in docs_of(batches)] == ["New0ne11", "Later222"]
    assert json.loads(batches[-1].cursor) == {"date": 1716545999, "keys": ["Later222"]}
    assert run(drain(pastebin(server, config, tmp_path), batches[-1].cursor)) == []


def test_pastebin_no_access_answer_tells_the_operator(server, config, tmp_path):
    server.route("/api_scraping.php", Reply(body=NO_ACCESS, content_type="text/html"))
    with pytest.raises(CollectorError) as e:
        run(drain(pastebin(server, config, tmp_path)))
    msg = str(e.value)
    assert "source 'pb'" in msg and "203.0.113.7" in msg
    assert "PRO account" in msg and "whitelisted" in msg


def test_pastebin_body_is_capped(server, config, tmp_path):
    pastebin_routes(server, bodies={**BODIES, "Xk3pQ9aZ": "x" * 3_000_000})
    docs = docs_of(run(drain(pastebin(server, config, tmp_path, max_item_mb=1))))
    big = docs[-1]
    assert big.metadata["truncated"] is True and len(big.content) == 1024 * 1024


def test_pastebin_limit_is_checked(server, config, tmp_path):
    with pytest.raises(ConfigError, match="source 'pb': limit must be between 1 and 250"):
        pastebin(server, config, tmp_path, limit=1000)


# -- gists --------------------------------------------------------------------------------

NOW = datetime(2024, 5, 24, 10, 30, tzinfo=UTC)


def gist_routes(server, page1=None, rate=None):
    raw_base = server.url("/raw")
    p1 = (page1 or (DATA / "gists_page1.json").read_text()).replace("RAW", raw_base)
    p2 = (DATA / "gists_page2.json").read_text().replace("RAW", raw_base)

    def listing(req):
        headers = {"X-RateLimit-Remaining": "59", "X-RateLimit-Reset": str(int(time.time()) + 60)}
        if rate:
            headers.update(rate)
        if req.q("page") == "2":
            return Reply(body=p2, headers=headers, content_type="application/json")
        nxt = server.url(f"/gists/public?since={req.q('since')}&per_page=100&page=2")
        headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
        return Reply(body=p1, headers=headers, content_type="application/json")

    server.route("/gists/public", listing)
    server.route("/raw/aa11/users.csv", Reply(body="id,email\n1,jean@dedalus-biologie.fr\n"))
    server.route("/raw/aa11/notes.txt", Reply(body="nothing here"))
    server.route("/raw/bb22/big.sql", Reply(body="INSERT INTO t VALUES (1);\n" * 20000))
    server.route("/raw/cc33/hello.py", Reply(body="print('hello world')\n"))
    server.route("/raw/dd44/new.txt", Reply(body="fresh"))


def gists(server, config, **extra):
    src = parse_source({"name": "gh", "type": "github_gists", "api_url": server.url(""),
                        **extra})
    return GistsCollector(src, config, now=lambda: NOW)


def test_gists_paginate_and_fetch_each_file_capped(server, config, monkeypatch):
    monkeypatch.setenv("GH_TEST_TOKEN", "ghp_testtoken")
    gist_routes(server)
    batches = run(drain(gists(server, config, token="env:GH_TEST_TOKEN", max_item_mb=0.1)))
    docs = docs_of(batches)
    ids = [d.external_id for d in docs]
    assert ids == ["cc33", "cc33/hello.py", "bb22", "bb22/big.sql", "aa11", "aa11/users.csv",
                   "aa11/notes.txt"]
    by_id = {d.external_id: d for d in docs}
    assert by_id["aa11/users.csv"].parent_id == "aa11"
    assert by_id["aa11/users.csv"].filename == "users.csv"
    assert b"jean@dedalus-biologie.fr" in by_id["aa11/users.csv"].content
    assert by_id["aa11"].author == "leaker1" and b"[file] users.csv" in by_id["aa11"].content
    assert by_id["bb22/big.sql"].metadata["truncated"] is True
    assert len(by_id["bb22/big.sql"].content) == int(0.1 * 1024 * 1024)
    assert "https://t.me/somechan" in by_id["cc33"].metadata["links"]
    listing = server.hits("/gists/public")
    assert [r.q("page") for r in listing] == [None, "2"]
    assert listing[0].q("since") == "2024-05-24T09:30:00Z"  # initial_window = 1h
    assert listing[0].headers["authorization"] == "Bearer ghp_testtoken"
    assert json.loads(batches[-1].cursor) == {"since": "2024-05-24T10:05:00Z", "ids": ["aa11"]}


def test_gists_resume_neither_repeats_nor_loses(server, config):
    gist_routes(server)
    cursor = run(drain(gists(server, config)))[-1].cursor
    server.requests.clear()
    assert docs_of(run(drain(gists(server, config), cursor))) == []
    assert server.hits("/gists/public")[0].q("since") == "2024-05-24T10:05:00Z"

    page1 = json.loads((DATA / "gists_page1.json").read_text())
    page1.insert(0, {**page1[0], "id": "dd44", "updated_at": "2024-05-24T10:10:00Z",
                     "files": {"new.txt": {"filename": "new.txt", "raw_url": "RAW/dd44/new.txt",
                                           "size": 5}}})
    gist_routes(server, json.dumps(page1))
    docs = docs_of(run(drain(gists(server, config), cursor)))
    assert [d.external_id for d in docs] == ["dd44", "dd44/new.txt"]


def test_gists_rate_limit_defers_until_reset(server, config):
    reset = int(time.time()) + 1200
    server.route("/gists/public", Reply(403, '{"message": "API rate limit exceeded"}', headers={
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))
    with pytest.raises(CollectorDeferred, match="rate limit") as e:
        run(drain(gists(server, config)))
    assert 1100 < e.value.retry_after <= 1200


def test_gists_last_request_of_the_window_stops_paging(server, config):
    gist_routes(server, rate={"X-RateLimit-Remaining": "0"})
    docs = docs_of(run(drain(gists(server, config))))
    assert [r.q("page") for r in server.hits("/gists/public")] == [None]
    assert "aa11" in [d.external_id for d in docs]


def test_gists_missing_token_env_is_a_config_error(server, config, monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"source 'gh'.*token: environment variable NOPE_TOKEN is not set"):
        gists(server, config, token="env:NOPE_TOKEN")


NOT_READY = "File is not ready for scraping yet. Try again in 1 minute."


def test_pastebin_not_ready_paste_is_retried_next_run_and_nothing_is_skipped(
        server, config, tmp_path):
    bodies = {**BODIES, "Xk3pQ9aZ": NOT_READY, "Ab12Cd34": "Error, we cannot find this paste."}
    pastebin_routes(server, bodies=bodies)
    col = pastebin(server, config, tmp_path, item_interval=0.5)
    slept = []

    async def record(seconds):
        slept.append(seconds)

    col._sleep = record
    first = run(drain(col))
    assert [d.external_id for d in docs_of(first)] == ["Mn7Rt2Lw"]  # notices are not pastes
    assert slept == [0.5, 0.5]  # paced between the three item fetches
    pending = json.loads(first[-1].cursor)["pending"]
    assert {k: v["attempts"] for k, v in pending.items()} == {"Xk3pQ9aZ": 1, "Ab12Cd34": 1}

    # next run: the listing no longer shows them (newer pastes pushed them out), both are ready
    newer = [{**json.loads(LISTING)[0], "key": "New0ne11", "date": "1716546000"}]
    pastebin_routes(server, json.dumps(newer), {**BODIES, "New0ne11": "n"})
    second = run(drain(pastebin(server, config, tmp_path, item_interval=0), first[-1].cursor))
    assert sorted(d.external_id for d in docs_of(second)) == ["Ab12Cd34", "New0ne11", "Xk3pQ9aZ"]
    by_id = {d.external_id: d for d in docs_of(second)}
    assert by_id["Xk3pQ9aZ"].content == BODIES["Xk3pQ9aZ"].encode()
    assert "pending" not in json.loads(second[-1].cursor)


def test_pastebin_gives_up_on_a_paste_after_max_attempts(server, config, tmp_path):
    pastebin_routes(server, bodies={**BODIES, "Mn7Rt2Lw": NOT_READY})
    cursor = None
    for _run in (1, 2):
        batches = run(drain(pastebin(server, config, tmp_path, item_interval=0,
                                     max_attempts=2), cursor))
        cursor = batches[-1].cursor
        assert "Mn7Rt2Lw" not in [d.external_id for d in docs_of(batches)]
    assert "pending" not in json.loads(cursor)  # bounded: dropped after the second run


def many_gists_routes(server, count):
    """`count` gists, newest first, 100 per page with GitHub's Link header, as /gists/public."""
    base = datetime(2024, 5, 24, 9, 40, tzinfo=UTC)
    gists = [{"id": f"g{i:04d}", "description": f"gist {i}", "files": {},
              "html_url": f"https://gist.github.com/g{i:04d}", "owner": {"login": "u"},
              "created_at": (base + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "updated_at": (base + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
             for i in range(count)][::-1]

    def listing(req):
        page = int(req.q("page") or 1)
        headers = {"X-RateLimit-Remaining": "4000"}
        if page * 100 < len(gists):
            nxt = server.url(f"/gists/public?since={req.q('since')}&per_page=100&page={page + 1}")
            headers["Link"] = f'<{nxt}>; rel="next"'
        body = json.dumps(gists[(page - 1) * 100:page * 100])
        return Reply(body=body, headers=headers, content_type="application/json")

    server.route("/gists/public", listing)


def test_gists_page_cap_keeps_the_cursor_where_reading_stopped(server, config, caplog):
    many_gists_routes(server, 1200)
    cursor, seen, runs = None, [], 0
    while True:
        runs += 1
        batches = run(drain(gists(server, config, max_pages=5, backfill=5000), cursor))
        seen += [d.external_id for d in docs_of(batches)]
        cursor = batches[-1].cursor
        if "resume" not in json.loads(cursor):
            break
        assert "max_pages (5) reached" in caplog.text
    assert runs == 3  # 5 + 5 + 2 pages
    assert sorted(seen) == [f"g{i:04d}" for i in range(1200)]  # nothing skipped, none twice
    assert json.loads(cursor) == {"since": "2024-05-24T09:59:59Z", "ids": ["g1199"]}


@pytest.mark.parametrize(("headers", "wait"), [
    ({"Retry-After": "30"}, 30.0),
    ({"X-RateLimit-Remaining": "4000"}, 60.0),  # secondary limit without retry-after: >= 1 min
])
def test_gists_secondary_rate_limit_waits_as_github_documents(server, config, headers, wait):
    server.route("/gists/public", Reply(403, json.dumps({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                   "before you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
        headers=headers, content_type="application/json"))
    with pytest.raises(CollectorDeferred, match="rate limit") as e:
        run(drain(gists(server, config)))
    assert e.value.retry_after == wait
