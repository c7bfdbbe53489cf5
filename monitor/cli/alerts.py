"""`leakmon alerts`: list, show, triage and export incidents."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.alerting import triage
from monitor.config import parse_duration
from monitor.errors import ConfigError, LeakmonError
from monitor.models import SEVERITIES, utcnow
from monitor.store import Incident, Store

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

HELP = """\
examples:
  leakmon alerts list --status new --severity high
  leakmon alerts list --since 7d --json
  leakmon alerts show 12
  leakmon alerts ack 12 --note "ticket SOC-481"
  leakmon alerts snooze 12 --for 7d
  leakmon alerts false-positive 12 --note "our own test post"
  leakmon alerts export --format stix --output incidents.stix.json
"""

_VERDICTS = {"ack": "acknowledged", "resolve": "resolved", "false-positive": "false_positive"}


def register(sub: Commands) -> None:
    p = sub.add_parser("alerts", help="list, inspect, triage and export incidents",
                       description="List, inspect, triage and export incidents.", epilog=HELP)
    asub = sub.subcommands(p, dest="alerts_command")

    lp = asub.add_parser("list", help="incidents, newest activity first")
    lp.add_argument("--status", choices=triage.STATUSES, help="only incidents in this state")
    lp.add_argument("--severity", choices=SEVERITIES,
                    help="only incidents at this severity or above")
    lp.add_argument("--since", metavar="T",
                    help="only incidents seen within T (e.g. 24h, 7d) or since an ISO date")
    lp.add_argument("--limit", type=int, default=None, metavar="N")
    lp.add_argument("--json", action="store_true", help="one JSON object per line")
    lp.set_defaults(func=cmd_list)

    sp = asub.add_parser("show", help="one incident: sightings, sources, records, excerpts")
    sp.add_argument("id", type=int)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_show)

    for name, status in _VERDICTS.items():
        vp = asub.add_parser(name, help=f"mark an incident {status.replace('_', ' ')}")
        vp.add_argument("id", type=int)
        vp.add_argument("--note", metavar="TEXT", help="why (kept in the incident's log)")
        vp.set_defaults(func=cmd_verdict, status=status)

    zp = asub.add_parser("snooze", help="silence an incident's escalations for a while")
    zp.add_argument("id", type=int)
    zp.add_argument("--for", dest="duration", default="7d", metavar="DURATION",
                    help="how long, e.g. 12h, 7d (default 7d)")
    zp.add_argument("--note", metavar="TEXT")
    zp.set_defaults(func=cmd_snooze)

    ep = asub.add_parser("export", help="incidents as JSON lines or a STIX 2.1 bundle")
    ep.add_argument("--format", choices=("jsonl", "stix"), default="jsonl")
    ep.add_argument("--output", metavar="FILE", help="write here (mode 0600) instead of stdout")
    ep.add_argument("--status", choices=triage.STATUSES)
    ep.add_argument("--since", metavar="T")
    ep.set_defaults(func=cmd_export)


def _store(ctx: Context) -> Store:
    return Store.from_config(ctx.config, ctx.state_dir)


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """"7d" -> now minus 7 days; "2026-11-01" or a full ISO time -> that time (UTC)."""
    if value is None:
        return None
    now = now or utcnow()
    try:
        return now - timedelta(seconds=parse_duration(value, where="--since"))
    except ConfigError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since: {value!r} is neither a duration (e.g. 7d) nor an ISO date") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=now.tzinfo)


def _select(store: Store, args: argparse.Namespace) -> list[Incident]:
    triage.expire_snoozes(store)
    return store.list_incidents(status=getattr(args, "status", None),
                                min_severity=getattr(args, "severity", None),
                                since=parse_since(getattr(args, "since", None)),
                                limit=getattr(args, "limit", None))


def _short(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "-"


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        incidents = _select(store, args)
        if args.json:
            for inc in incidents:
                out = inc.to_dict()
                out["sites"] = sorted(f"{p}:{s}" for p, s in store.incident_sites(inc.id))
                print(json.dumps(out, ensure_ascii=False))
            return 0
        if not incidents:
            print("no incidents")
            return 0
        print(f"{'ID':>4}  {'STATUS':<14} {'SEVERITY':<8} {'SEEN':>4} {'RECORDS':>7}  "
              f"{'LAST SEEN':<16}  TITLE")
        for inc in incidents:
            status = inc.status + ("*" if inc.canary else "")
            print(f"{inc.id:>4}  {status:<14} {inc.severity:<8} {inc.sightings:>4} "
                  f"{inc.record_count:>7}  {_short(inc.last_seen):<16}  {inc.title}")
        if any(i.canary for i in incidents):
            print("* canary record matched")
        return 0


def _get(store: Store, incident_id: int) -> Incident:
    inc = store.get_incident(incident_id)
    if inc is None:
        raise LeakmonError(f"no incident with id {incident_id} in {store.path}")
    return inc


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.alerting.export import incident_details  # stix2 is slow to import: lazily

    with _store(ctx) as store:
        triage.expire_snoozes(store)
        d = incident_details(store, _get(store, args.id))
    if args.json:
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    status = d["status"] + (f" until {d['snoozed_until']}" if d["snoozed_until"] else "")
    print(f"Incident {d['id']}: {d['title']}")
    print(f"  status      {status}")
    print(f"  severity    {d['severity']}   confidence {d['confidence']:.2f}"
          f"{'   CANARY' if d['canary'] else ''}")
    print(f"  rule        {d['rule']}")
    print(f"  dedup key   {d['dedup_key']}")
    print(f"  first seen  {d['first_seen']}")
    print(f"  last seen   {d['last_seen']}")
    print(f"  records     {d['record_count']} distinct")
    if d["record_ids"]:
        shown = d["record_ids"][:50]
        more = len(d["record_ids"]) - len(shown)
        text = ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")
        print(textwrap.fill(text, width=96, initial_indent="  record ids  ",
                            subsequent_indent=" " * 14, break_on_hyphens=False))
    if d["canary_records"]:
        print("  canaries    " + ", ".join(d["canary_records"]))
    if d["note"]:
        print(f"  note        {d['note']}")
    print(f"  sightings   {d['sightings']}")
    for s in d["sightings_detail"]:
        print(f"    - {s['seen_at'][:19]}  {s['platform']}:{s['site']}  source {s['source']}  "
              f"{s['url'] or s['external_id']}")
        if s["excerpt"]:
            print(f"        {s['excerpt']}")
    if d["hits"]:
        print("  hits")
        for h in d["hits"]:
            print(f"    - {h['rule']} ({h['severity']}) x{h['count']}: {h['excerpt']}")
    if d["events"]:
        print("  events")
        for e in d["events"]:
            flag = "notified" if e["notified"] else "silent"
            print(f"    - {e['created_at'][:19]}  {e['event_key']}  ({flag}: {e['reason']})")
    if d["log"]:
        print("  triage log")
        for e in d["log"]:
            who = f"  by {e['actor']}" if e.get("actor") else ""
            print(f"    - {e['at'][:19]}  {e['action']}{who}"
                  + (f" — {e['note']}" if e["note"] else ""))
    return 0


def cmd_verdict(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        inc = triage.set_status(store, args.id, args.status, note=args.note)
    print(f"incident {inc.id} is now {inc.status}")
    return 0


def cmd_snooze(ctx: Context, args: argparse.Namespace) -> int:
    now = utcnow()
    until = now + timedelta(seconds=parse_duration(args.duration, where="--for"))
    with _store(ctx) as store:
        inc = triage.set_status(store, args.id, "snoozed", until=until, note=args.note, now=now)
    print(f"incident {inc.id} is snoozed until {inc.snoozed_until:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.alerting.export import iter_jsonl, stix_bundle  # slow import: lazily

    with _store(ctx) as store:
        incidents = _select(store, argparse.Namespace(status=args.status, since=args.since))
        if args.format == "stix":
            text = stix_bundle(store, incidents).serialize(pretty=True) + "\n"
        else:
            text = "".join(line + "\n" for line in iter_jsonl(store, incidents))
    if args.output:
        path = Path(args.output)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise LeakmonError(f"cannot write {path}: {e.strerror}") from None
        print(f"wrote {len(incidents)} incident(s) to {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
