"""Several workers on one store: documents/s with 1, 2 and 3 `leakmon run` workers, and what
the leases cost.

    .venv/bin/python -m bench.workers_bench [--sources 50] [--per-source 400] [--batch 50]
        [--workers 1,2,3] [--pg-url postgresql://...]   (or $LEAKMON_TEST_PG_URL)

Each worker is a process running the real daemon (`monitor.daemon.scheduler.Daemon`: leases,
scheduler, runner, Pipeline, store) over `--sources` local sources that yield numbered
documents with a cursor; matching is a cheap stand-in (a keyword test) so the figures measure
what workers share: the store, the batch transactions and the leases. The clock starts when
every worker holds its share of the sources (the start line is a file the collectors wait for)
and stops when the last document is committed. SQLite runs several workers on one file (one
writer at a time: BEGIN IMMEDIATE); PostgreSQL when a URL is given.

Lease overhead, two ways: the same 1-worker run without leases (`use_leases=False`, each
batch then skips its lease check), and the store's lease calls timed one by one (a renewal of
all leases, an acquisition, the check each batch makes inside its transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitor.collectors.base import Batch, Collector, SourceConfig
from monitor.models import Document, Hit

WORDS = ("leak", "dump", "base", "combo", "vente", "prix", "channel", "join", "update", "free",
         "sample", "fresh", "mirror", "hello", "news", "price", "crypto", "wallet", "bot")
START_LINE = "go"
PG_URL_ENV = "LEAKMON_BENCH_PG_URL"


def text(source: str, i: int) -> bytes:
    words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(120))
    return f"{source} message {i}: {words}".encode()


def scan(doc: Document) -> list[Hit]:
    """One hit in ~1% of the documents: incidents and outbox rows are written too."""
    if doc.external_id.endswith("37"):
        return [Hit("bench.leak", "planted leak", "high", 1, "planted ***")]
    return []


class Numbered(Collector):
    """`per_source` numbered documents, `batch` at a time, after the start line exists."""

    platform = "bench"

    def __init__(self, name: str, per_source: int, batch: int, start: Path) -> None:
        super().__init__(SourceConfig(name=name, type="bench"))
        self.per_source, self.batch, self.start = per_source, batch, start

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        if not self.start.exists():
            return
        last = json.loads(cursor)["last"] if cursor else 0
        while last < self.per_source:
            upto = min(self.per_source, last + self.batch)
            docs = [Document(source=self.name, platform="bench", external_id=str(i),
                             content=text(self.name, i)) for i in range(last + 1, upto + 1)]
            last = upto
            yield Batch(docs, json.dumps({"last": last}), len(docs))


def _tables(n: int) -> list[dict[str, Any]]:
    return [{"name": f"b{i:03d}", "type": "bench", "every": 0.3} for i in range(n)]


def _config(args: dict[str, Any]) -> Any:
    from monitor.config import parse_config

    data: dict[str, Any] = {"sources": _tables(args["sources"]),
                            "daemon": {"outbox_every": "1h", "prune_every": "24h",
                                       "lease_ttl": "30s", "lease_renew": "0.5s"}}
    if args["url"]:
        data["store"] = {"url": args["url"]}
    return parse_config(data)


def worker_main(args: dict[str, Any]) -> None:
    """One worker process: the real daemon until SIGTERM."""
    from monitor.daemon.runtime import DaemonTimings, Runtime
    from monitor.daemon.scheduler import Daemon
    from monitor.daemon.source_tables import source_configs
    from monitor.daemon.systemd import SystemdNotifier
    from monitor.daemon.workers import store_opener
    from monitor.pipeline import Pipeline

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # "skipped: maximum number of running instances": a source still busy with its backlog
    logging.getLogger("apscheduler.scheduler").addFilter(lambda r: r.levelno >= logging.ERROR)
    config = _config(args)
    runtime = Runtime(config=config, engine=None, ruleset=None, sinks=[],
                      sources=source_configs(config.sources),
                      tables={t["name"]: t for t in config.sources}, limits=None,
                      timings=DaemonTimings.of(config))
    start = Path(args["start"])

    def collector(table: dict[str, Any], _config: Any, _state: Path) -> Numbered:
        return Numbered(table["name"], args["per_source"], args["batch"], start)

    daemon = Daemon(runtime, state_dir=Path(args["state"]), config_path=None,
                    collector_factory=collector, notifier=SystemdNotifier({}),
                    pipeline_factory=lambda store, rt: Pipeline(store, sinks=[], scanner=scan),
                    store_opener=store_opener(config), use_leases=args["leases"])
    asyncio.run(daemon.run())


def _open(url: str | None, shared: Path) -> Any:
    from monitor.store import Store

    if url:
        from monitor.config import parse_config

        return Store.from_config(parse_config({"store": {"url": url}}), shared)
    return Store.open(shared)


def _reset(store: Any) -> None:
    with store.transaction():
        for table in ("hits", "sightings", "incident_events", "incident_keys",
                      "incident_records", "incident_log", "minhashes", "delivery_attempts",
                      "outbox", "documents", "incidents", "source_state", "source_leases",
                      "workers"):
            store.db.execute(f"DELETE FROM {table}")


def run(workers: int, *, url: str | None, sources: int, per_source: int, batch: int,
        leases: bool = True) -> float:
    """documents/s of `workers` worker processes through `sources * per_source` documents."""
    total = sources * per_source
    with tempfile.TemporaryDirectory(prefix="leakmon-workers-bench-") as tmp:
        root = Path(tmp)
        shared = root / "shared"
        shared.mkdir(mode=0o700)
        store = _open(url, shared)
        _reset(store)
        ctx = multiprocessing.get_context("spawn")
        procs = []
        for i in range(workers):
            state = root / f"state{i}"
            state.mkdir(mode=0o700)
            if not url:
                (state / "leakmon.db").symlink_to(shared / "leakmon.db")
            args = {"state": str(state), "url": url, "sources": sources,
                    "per_source": per_source, "batch": batch, "start": str(root / START_LINE),
                    "leases": leases}
            procs.append(ctx.Process(target=worker_main, args=(args,), daemon=True))
        for p in procs:
            p.start()
        try:
            share = sources // workers
            while True:  # every source ran once (before the start line) and, with leases,
                # every worker holds its share
                counts = [r[0] for r in store._fetchall(
                    "SELECT COUNT(*) FROM source_leases WHERE worker IS NOT NULL "
                    "GROUP BY worker")]
                balanced = not leases or (len(counts) == workers and min(counts) >= share)
                ran = store._fetchone("SELECT COUNT(*) FROM source_state")[0] >= sources
                if balanced and ran:
                    break
                if any(p.exitcode is not None for p in procs):
                    raise SystemExit("a worker died during start-up")
                time.sleep(0.05)
            (root / START_LINE).touch()
            t0 = time.perf_counter()
            while store._fetchone("SELECT COUNT(*) FROM documents")[0] < total:
                time.sleep(0.02)
            elapsed = time.perf_counter() - t0
        finally:
            for p in procs:
                if p.pid is not None and p.exitcode is None:
                    os.kill(p.pid, signal.SIGTERM)
            for p in procs:
                p.join(60)
            store.close()
    return total / elapsed


def lease_calls(url: str | None, sources: int, repeat: int = 300) -> dict[str, float]:
    """Seconds per store call: renew all leases, acquire (nothing free), batch lease check."""
    with tempfile.TemporaryDirectory(prefix="leakmon-lease-calls-") as tmp:
        store = _open(url, Path(tmp))
        _reset(store)
        names = [f"b{i:03d}" for i in range(sources)]
        store.register_worker("bench", host="h", pid=1, ttl=30)
        store.acquire_source_leases("bench", names, sources, ttl=30)

        def timed(fn: Any) -> float:
            samples = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t)
            return statistics.median(samples)

        def empty_tx() -> None:
            with store.transaction():
                pass

        def checked_tx() -> None:
            with store.transaction():
                store.check_source_lease("b000", "bench")

        out = {
            "renew": timed(lambda: store.renew_leases("bench", ttl=30)),
            "acquire": timed(lambda: store.acquire_source_leases("bench", names, 5, ttl=30)),
            "check": timed(checked_tx) - timed(empty_tx),
            "live_count": timed(store.live_worker_count),
        }
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=50)
    ap.add_argument("--per-source", type=int, default=400)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--pg-url", default=os.environ.get("LEAKMON_TEST_PG_URL", ""),
                    help="also run on this PostgreSQL database (its tables are emptied)")
    ap.add_argument("--backends", default="sqlite,postgresql",
                    help="which of sqlite, postgresql to run (postgresql needs --pg-url)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]
    wanted = args.backends.split(",")
    backends: list[tuple[str, str | None]] = [("sqlite", None)] if "sqlite" in wanted else []
    if args.pg_url and "postgresql" in wanted:  # handed to the workers through the environment: it may hold a password
        os.environ[PG_URL_ENV] = args.pg_url
        backends.append(("postgresql", f"env:{PG_URL_ENV}"))
    total = args.sources * args.per_source
    print(f"{total:,} documents: {args.sources} sources x {args.per_source}, "
          f"batches of {args.batch}; {os.cpu_count()} CPU(s)")
    print(f"{'backend':<11} {'run':<26} {'docs/s':>8} {'vs 1 worker':>12}")
    for name, url in backends:
        kw = {"url": url, "sources": args.sources, "per_source": args.per_source,
              "batch": args.batch}
        base = None
        for n in counts:
            rate = run(n, **kw)
            base = base or rate
            print(f"{name:<11} {f'{n} worker(s), leases':<26} {rate:>8,.0f} {rate / base:>11.2f}x")
        bare = run(1, leases=False, **kw)
        print(f"{name:<11} {'1 worker, no leases':<26} {bare:>8,.0f} "
              f"{bare / (base or bare):>11.2f}x")
        calls = lease_calls(url, args.sources)
        batches = args.per_source // args.batch * args.sources
        print(f"{name:<11} lease calls: renew {args.sources} leases "
              f"{calls['renew'] * 1e3:.2f} ms, acquire {calls['acquire'] * 1e3:.2f} ms, "
              f"live workers {calls['live_count'] * 1e3:.2f} ms, "
              f"batch check {calls['check'] * 1e6:.0f} us")
        per_tick = calls["renew"] + calls["acquire"] * 2 + calls["live_count"]
        print(f"{name:<11} lease cost: {per_tick * 1e3:.1f} ms per renewal "
              f"({per_tick / 10 * 100:.3f}% of one core at the default 10 s renewal); "
              f"batch checks {calls['check'] * batches * 1e3:.0f} ms over this run's "
              f"{batches:,} batches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
