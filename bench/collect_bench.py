"""Collector throughput against a local HTTP server (127.0.0.1 only).

    .venv/bin/python -m bench.collect_bench [--posts 2000] [--items 2000] [--no-e2e]

Measures, in one run:
  * telegram_web backfill: `--posts` posts served as t.me/s pages of 20 (paginated with
    ?before=), parsed with selectolax -> messages/s;
  * http listing (format = "html"): one listing page of `--items` victim posts -> items/s, and
    the same with `follow = true` (one extra page fetch per item) on a tenth of them;
  * end to end (collect -> match -> store): the same collections fed batch by batch to
    `Pipeline.process_batch` with a small keyword rule set, in a throwaway state dir.
Collect-only figures isolate the collector; end-to-end figures include the engine scan and the
SQLite commit of every batch (documents, hits, incidents, cursor).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.tme import PAGE, LoopbackServer, channel_route, post_html
from monitor.collectors.registry import build_collector
from monitor.config import parse_config

# The text of post {id}: organization and leak words, a seller link and a bare t.me mention.
TEXT = ('post {id}: base clients dump {word}, {n}k lignes<br/>contact '
        '<a href="https://t.me/seller{id}">@seller{id}</a> mirror t.me/mirror{id}')

ITEM = """<a class="post-block" href="/post/{id}"><div class="post-title">victim-{id}.example</div>\
<div class="post-block-text">Company {id}, {n} GB of data, deadline 7 days. {word}</div>\
<time datetime="2024-05-24T09:{mm:02d}:00Z">24 May</time></a>
"""

WORDS = ["Dedalus Biologie", "acme", "hospital", "clinic", "laboratoire", "mutuelle"]


def listing(items: int) -> str:
    body = "".join(ITEM.format(id=i, n=i % 500, word=WORDS[i % len(WORDS)], mm=i % 60)
                   for i in range(items))
    return f"<html><body><div class='list'>{body}</div></body></html>"


def victim_page(path: str, _query: dict) -> bytes:
    n = path.rsplit("/", 1)[-1]
    return (f"<html><body><div class='post-description'><p>Victim {n}: all "
            f"files published.</p></div></body></html>").encode()


def make_server(posts: int, items: int) -> LoopbackServer:
    """t.me/s/benchchan with `posts` posts, a leak-site listing of `items` and their pages."""
    channel = [post_html(i, TEXT.format(id=i, word=WORDS[i % len(WORDS)], n=i % 97))
               for i in range(1, posts + 1)]
    listing_html = listing(items).encode()
    return LoopbackServer({"/s/benchchan": channel_route(channel),
                           "/list": lambda _p, _q: listing_html, "/post/": victim_page})


async def collect(table: dict, config, state_dir: Path, sink=None) -> tuple[int, int, float]:
    collector = build_collector(table, config, state_dir)
    docs = items = 0
    t0 = time.perf_counter()
    try:
        async for batch in collector.collect(None):
            docs += len(batch.documents)
            items += batch.items
            if sink is not None:
                await asyncio.to_thread(sink, table["name"], batch.documents, batch.cursor)
    finally:
        await collector.aclose()
    return items, docs, time.perf_counter() - t0


def make_pipeline(state_dir: Path):
    """Pipeline(store, engine) with a few keyword rules; None when not available."""
    try:
        from monitor.matching.loader import load_engine
        from monitor.pipeline import Pipeline
        from monitor.store import Store
    except ImportError as e:
        print(f"end to end skipped: {e}")
        return None, None
    rules = state_dir / "bench_rules.toml"
    rules.write_text("""
[[rules]]
id = "bench.org"
title = "Organization named near leak vocabulary"
severity = "high"
keywords = ["Dedalus Biologie", "mutuelle"]
near = ["dump", "base", "lignes", "deadline"]
window = 300

[[rules]]
id = "bench.victim"
title = "Victim post"
severity = "medium"
keywords = ["deadline 7 days"]
""")
    config = parse_config({"rules": [str(rules)]})
    loaded = load_engine(config, state_dir)
    store = Store.open(state_dir)
    pipeline = Pipeline(store, loaded.engine)
    return pipeline, store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--no-e2e", action="store_true", help="collect only")
    args = ap.parse_args()
    srv = make_server(args.posts, args.items)
    config = parse_config({"network": {"retries": 0}})
    tg = {"name": "bench-tg", "type": "telegram_web", "channel": "benchchan",
          "base_url": srv.url(""), "backfill": args.posts, "max_pages": args.posts // PAGE + 5}
    ht = {"name": "bench-http", "type": "http", "format": "html", "url": srv.url("/list"),
          "items": "a.post-block", "title": ".post-title", "text": ".post-block-text",
          "date": "time", "backfill": args.items, "remember": args.items}
    follow_n = max(1, args.items // 10)
    hf = {**ht, "name": "bench-follow", "follow": True, "follow_text": ".post-description",
          "backfill": follow_n}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            runs = [("telegram_web backfill", tg), ("http html listing", ht),
                    ("http html listing + follow", hf)]
            print(f"{'collect only':<34} {'items':>6} {'docs':>6} {'seconds':>8} {'items/s':>9}")
            for label, table in runs:
                items, docs, secs = asyncio.run(collect(table, config, state))
                print(f"{label:<34} {items:>6} {docs:>6} {secs:>8.2f} {items / secs:>9.0f}")
            if args.no_e2e:
                return
            pipeline, store = make_pipeline(state)
            if pipeline is None:
                return
            print(f"\n{'end to end (collect, match, store)':<34} {'items':>6} {'docs':>6} "
                  f"{'seconds':>8} {'items/s':>9}")
            try:
                for label, table in runs:
                    items, docs, secs = asyncio.run(collect(table, config, state,
                                                            pipeline.process_batch))
                    print(f"{label:<34} {items:>6} {docs:>6} {secs:>8.2f} {items / secs:>9.0f}")
            finally:
                store.close()
    finally:
        srv.close()


if __name__ == "__main__":
    main()
