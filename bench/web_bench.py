"""Web console benchmark: incident list answers with 100,000 incidents in the store.

    .venv/bin/python -m bench.web_bench [--incidents 100000] [--repeat 20]

Pre-fills a temporary store (direct inserts: the figure is about reading), starts the real
uvicorn server on 127.0.0.1 and times HTTP requests from a client on the same machine: the
incidents page (HTML) and /api/v1/incidents with the filters an analyst uses, against a trivial
endpoint (/api/v1/openapi.json) in the same run as the baseline. Bar: <= 200 ms per answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx

from monitor.config import WebConfig
from monitor.models import SEVERITIES
from monitor.store import Store
from monitor.store._util import iso
from monitor.store.users import add_user, create_session, create_token
from monitor.web.server import BackgroundServer, make_server

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("new", "acknowledged", "resolved", "false_positive")
SITES = [("telegram", f"chan{i}") for i in range(40)] + [("tor", f"leak{i}") for i in range(10)]


def prefill(store: Store, n: int) -> None:
    now = iso(T0)
    inc, docs, sights = [], [], []
    for i in range(1, n + 1):
        seen = iso(T0 + timedelta(minutes=i))
        inc.append((i, f"k{i}", f"Incident {i} mention of dedalus {'dump' if i % 3 else 'base'}",
                    f"rule.{i % 11}", "r", SEVERITIES[i % 5], 0.8, STATUSES[i % 4], seen, seen,
                    1, i % 50, int(i % 997 == 0), now))
        platform, site = SITES[i % len(SITES)]
        docs.append((i, site, platform, str(i), "0" * 64, 100, seen, now))
        sights.append((i, i, site, platform, site, f"https://{site}.example/{i}", seen))
    with store.transaction():
        c = store.db.conn
        c.executemany("INSERT INTO incidents (id, dedup_key, title, rule_id, rule_title, severity,"
                      " confidence, status, first_seen, last_seen, sightings, record_count,"
                      " canary, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", inc)
        c.executemany("INSERT INTO documents (id, source, platform, external_id, sha256, size,"
                      " fetched_at, updated_at) VALUES (?,?,?,?,?,?,?,?)", docs)
        c.executemany("INSERT INTO sightings (incident_id, document_id, source, platform, site,"
                      " url, seen_at) VALUES (?,?,?,?,?,?,?)", sights)
    store.db.execute("ANALYZE")


CASES = [
    ("baseline: openapi.json", "/api/v1/openapi.json", {}),
    ("page: /incidents", "/incidents", {}),
    ("page: status=new", "/incidents", {"status": "new"}),
    ("page: severity>=high sort=severity", "/incidents",
     {"severity": "high", "sort": "severity"}),
    ("page: q=base", "/incidents", {"q": "base"}),
    ("page: site=tor:leak3", "/incidents", {"site": "tor:leak3"}),
    ("page: last page", "/incidents", {"page": 2000}),
    ("api: /api/v1/incidents", "/api/v1/incidents", {}),
    ("api: rule+since, 500/page", "/api/v1/incidents",
     {"rule": "rule.3", "since": "2026-02-01", "per_page": 500}),
    ("api: canary=true", "/api/v1/incidents", {"canary": "true"}),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Store.open(tmp) as store:
        t = time.perf_counter()
        prefill(store, args.incidents)
        print(f"prefilled {args.incidents} incidents in {time.perf_counter() - t:.1f} s")
        add_user(store, "bench", "viewer", "bench-password")
        token, cookie = create_token(store, "bench"), create_session(store, "bench")
        srv = BackgroundServer(make_server(store, WebConfig(secure_cookies=False),
                                           "127.0.0.1:0")).start()
        worst = 0.0
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}",
                              headers={"Authorization": f"Bearer {token}"}) as api, \
                    httpx.Client(base_url=f"http://127.0.0.1:{srv.port}",
                                 cookies={"leakmon_session": cookie}) as ui:
                print(f"{'CASE':<40} {'MEDIAN ms':>9} {'P95 ms':>7} {'MAX ms':>7}")
                for name, path, params in CASES:
                    client = ui if path == "/incidents" else api
                    times = []
                    for _ in range(args.repeat + 2):
                        t = time.perf_counter()
                        r = client.get(path, params=params)
                        times.append((time.perf_counter() - t) * 1000)
                        if r.status_code != 200:
                            print(f"{name}: HTTP {r.status_code}", file=sys.stderr)
                            return 1
                    times = sorted(times[2:])  # first two warm caches
                    p95 = times[int(len(times) * 0.95) - 1]
                    print(f"{name:<40} {statistics.median(times):>9.1f} {p95:>7.1f} "
                          f"{times[-1]:>7.1f}")
                    if not name.startswith("baseline"):
                        worst = max(worst, p95)
        finally:
            srv.stop()
    print(f"worst p95 {worst:.1f} ms (bar: 200 ms) -> {'OK' if worst <= 200 else 'TOO SLOW'}")
    return 0 if worst <= 200 else 1


if __name__ == "__main__":
    sys.exit(main())
