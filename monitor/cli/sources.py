"""`leakmon sources list|test|suggested`: what is configured, whether a source works now,
and which Telegram channels were seen linked from watched ones.

`sources test` runs one real collect with a small backfill and prints what came back; it
writes nothing (no cursor, no documents), so it is safe to run next to the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from monitor.collectors.registry import TYPES, build_collector, validate_source
from monitor.errors import ConfigError, LeakmonError
from monitor.telegram_links import channel_name

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context
    from monitor.models import Document

DETAIL_KEYS = ("channel", "url", "path", "base_url", "api_url")


def register(sub: Commands) -> None:
    # nested subcommands accept the global options too (--state-dir after the verb)
    p = sub.add_parser("sources", help="list, test and discover sources",
                       description=__doc__)
    ssub = sub.subcommands(p, dest="sources_command")
    ls = ssub.add_parser("list",
                         help="configured sources and whether their keys are valid")
    ls.add_argument("--json", action="store_true", help="one JSON object per source")
    ls.set_defaults(func=cmd_list)
    t = ssub.add_parser("test",
                        help="collect from one source now and show what came back")
    t.add_argument("name", metavar="NAME", help="the source's name in the config")
    t.add_argument("--limit", type=int, default=5, metavar="N",
                   help="backfill at most N items (default 5)")
    t.add_argument("--json", action="store_true", help="one JSON object per document")
    t.set_defaults(func=cmd_test)
    s = ssub.add_parser("suggested",
                        help="t.me channels linked from watched sources, most mentioned first")
    s.add_argument("--json", action="store_true", help="one JSON object per channel")
    s.set_defaults(func=cmd_suggested)


def _detail(table: dict[str, Any]) -> str:
    return next((str(table[k]) for k in DETAIL_KEYS if k in table), "")


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    tables = ctx.config.sources
    if not tables:
        print("no [[sources]] in the configuration" + ("" if ctx.config_path else
                                                       " (no --config given)"))
        return 0
    bad = 0
    rows: list[dict[str, Any]] = []  # JSON lines or the table
    for t in tables:
        try:
            s = validate_source(t, ctx.config, ctx.state_dir)
            rows.append({"name": s.name, "type": s.type, "every": s.every, "enabled": s.enabled,
                         "tor": s.tor, "target": _detail(t), "error": None})
        except ConfigError as e:
            bad += 1
            rows.append({"name": t.get("name"), "type": t.get("type"), "every": None,
                         "enabled": None, "tor": None, "target": _detail(t), "error": str(e)})
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 1 if bad else 0
    print(f"{'NAME':<20} {'TYPE':<13} {'EVERY':>6} {'ON':<3} {'TOR':<3} TARGET")
    for r in rows:
        if r["error"]:
            print(f"{r['name']!s:<20} {r['type']!s:<13} {'-':>6} {'-':<3} {'-':<3} "
                  f"INVALID: {r['error']}")
            continue
        every = _fmt_seconds(r["every"])
        print(f"{r['name']:<20} {r['type']:<13} {every:>6} {'yes' if r['enabled'] else 'no':<3} "
              f"{'yes' if r['tor'] else 'no':<3} {r['target']}")
    if bad:
        print(f"\n{bad} source(s) invalid; known types: {', '.join(TYPES)}")
    return 1 if bad else 0


def _fmt_seconds(s: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{int(s // n)}{unit}"
    return f"{s:g}s"


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    table = next((t for t in ctx.config.sources if t.get("name") == args.name), None)
    if table is None:
        names = ", ".join(t["name"] for t in ctx.config.sources) or "none"
        raise ConfigError(f"no source named {args.name!r} in the configuration "
                          f"(configured: {names})")
    table = {**table, "backfill": max(0, args.limit)}
    return asyncio.run(_test(ctx, table, args))


async def _test(ctx: Context, table: dict[str, Any], args: argparse.Namespace) -> int:
    collector = build_collector(table, ctx.config, ctx.state_dir)
    n_docs = n_items = n_batches = 0
    cursor = None
    try:
        async for batch in collector.collect(None):
            n_batches += 1
            n_items += batch.items
            cursor = batch.cursor
            for d in batch.documents:
                n_docs += 1
                if args.json:
                    print(json.dumps(_doc_json(d), ensure_ascii=False))
                else:
                    print(_doc_line(d))
    except LeakmonError:
        raise
    finally:
        await collector.aclose()
    if not args.json:
        print(f"\nsource {table['name']!r}: OK, {n_items} item(s), {n_docs} document(s) in "
              f"{n_batches} batch(es); nothing was saved")
        if cursor:
            print(f"cursor after this run would be: {cursor[:200]}")
    return 0


def _doc_json(d: Document) -> dict[str, Any]:
    return {"external_id": d.external_id, "platform": d.platform, "url": d.url,
            "title": d.title, "author": d.author, "filename": d.filename,
            "posted_at": d.posted_at.isoformat() if d.posted_at else None,
            "parent_id": d.parent_id, "bytes": d.size, "sha256": d.sha256,
            "forwarded_from": d.forwarded_from,
            "links": d.metadata.get("links", []),
            "truncated": bool(d.metadata.get("truncated"))}


def _doc_line(d: Document) -> str:
    """One line per document: what and where, never the content itself."""
    when = d.posted_at.strftime("%Y-%m-%d %H:%M") if d.posted_at else "-"
    label = d.filename or d.title or d.url or ""
    extra = []
    if d.parent_id:
        extra.append(f"in {d.parent_id}")
    if d.metadata.get("links"):
        extra.append(f"{len(d.metadata['links'])} link(s)")
    if d.metadata.get("truncated"):
        extra.append("TRUNCATED")
    if d.forwarded_from:
        extra.append(f"fwd {d.forwarded_from}")
    tail = f"  [{', '.join(extra)}]" if extra else ""
    return f"{d.external_id:<24} {when:<16} {d.size:>9} B  {label[:60]}{tail}"


def cmd_suggested(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.store import Store

    store = Store.from_config(ctx.config, ctx.state_dir)
    try:
        rows = store.list_suggested_sources()
    finally:
        store.close()
    watched = {channel_name(str(t.get("channel", ""))).lower() for t in ctx.config.sources}
    rows = [r for r in rows if channel_name(r.link).lower() not in watched]
    if args.json:
        for r in rows:
            print(json.dumps({"link": r.link, "mentions": r.mentions,
                              "first_source": r.first_source,
                              "first_seen": r.first_seen.isoformat(),
                              "last_seen": r.last_seen.isoformat()}))
        return 0
    if not rows:
        print("no suggested channels yet (t.me links seen in watched sources appear here)")
        return 0
    print(f"{'LINK':<40} {'MENTIONS':>8}  {'FIRST SEEN IN':<20} LAST SEEN")
    for r in rows:
        print(f"{r.link:<40} {r.mentions:>8}  {r.first_source:<20} "
              f"{r.last_seen.strftime('%Y-%m-%d %H:%M')}")
    return 0
