"""Store + dedup benchmark: documents/s through Pipeline.process_batch on one core.

    .venv/bin/python -m bench.store_bench [--prefill 100000] [--documents 20000] [--batch 100]
                                          [--store postgresql://...]

The store is pre-filled (fast, with direct inserts) with `--prefill` documents and a few
hundred incidents (with MinHash signatures and matched records, through the pipeline), then
`--documents` new documents go through `process_batch` in batches: most match nothing, some
are new leaks (fingerprint records and mentions), some are re-posts of earlier leaks with a
changed header/footer (near-duplicates), some are exact repeats (skipped). Matching is a cheap
stand-in (a regex for record ids) so that the figure measures the store and dedup path.

With `--store URL` the same run (same seed, same documents) is repeated on that PostgreSQL
database (it should be empty: `createdb -T template0 bench`) after the SQLite baseline, and the
ratio is printed. Only the benchmark process is pinned to one core, not the PostgreSQL server.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import Document, Hit, RecordMatch
from monitor.pipeline import Pipeline
from monitor.store import Store
from monitor.store._util import iso

RECORD = re.compile(rb"\bP(\d{6})\b")
WORDS = tuple(["leak", "dump", "base", "combo", "vente", "prix", "channel", "join", "update", "free", "sample", "fresh", "mirror", "hello", "news", "price", "crypto", "wallet", "bot", "admin", "contact", "post", "link", "today", "tomorrow"])
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def scanner(doc: Document) -> list[Hit]:
    hits = []
    if b"dedalus" in doc.content:
        hits.append(Hit("org.mention", "Organization named", "medium", 1, "D****** ..."))
    found = sorted({m.decode() for m in RECORD.findall(doc.content)})
    if found:
        hits.append(Hit("patients.records", "Our patient records", "high", len(found),
                        "P****** ...", fingerprint_set="patients",
                        records=[RecordMatch(f"P{r}", ("email",), 0.9) for r in found]))
    return hits


def chatter(rnd: random.Random) -> bytes:
    n = rnd.randint(20, 300)
    return " ".join(rnd.choice(WORDS) for _ in range(n)).encode()


def leak(rnd: random.Random, first: int, n: int, header: str = "") -> bytes:
    rows = [f"P{first + i:06d},user{first + i}@mail.example,{rnd.randint(1, 99)},city"
            for i in range(n)]
    return (f"{header}\nfuite dedalus base\n" + "\n".join(rows) + "\n").encode()


def prefill(store: Store, n: int, rnd: random.Random) -> None:
    now = iso(T0)
    rows = []
    for i in range(n):
        sha = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
        rows.append(("tg-old", "telegram", str(i), f"https://t.me/old/{i}", now, sha,
                     rnd.randint(50, 5000), now))
    with store.transaction():
        store._executemany(
            "INSERT INTO documents (source, platform, external_id, url, fetched_at, sha256, "
            "size, updated_at) VALUES (?,?,?,?,?,?,?,?)", rows)


def prefill_signatures(store: Store, n: int, rnd: random.Random) -> None:
    """`n` stored MinHash signatures of unrelated old leaks (random values: they match nothing)
    under one old incident, with their LSH bands where the store keeps them."""
    import numpy as np

    from monitor.alerting.dedup import new_minhash

    if not n:
        return
    scheme = f"{new_minhash().scheme}:<u8"
    inc = store.create_incident(dedup_key="c:old", title="old", rule_id="r", rule_title="old",
                                severity="low", confidence=0.5, seen_at=T0, canary=False,
                                tags=[], excerpt="")
    values = np.random.default_rng(rnd.randrange(2**32)).integers(
        0, 2**32, size=(n, 128), dtype=np.uint64)
    now = iso(T0)
    with store.transaction():
        ids = [store.db.execute(
            "INSERT INTO documents (source, platform, external_id, fetched_at, sha256, size, "
            "updated_at) VALUES (?,?,?,?,?,?,?) RETURNING id",
            ("sig-old", "telegram", str(i), now, f"{i:064x}", 1, now)).fetchone()[0]
            for i in range(n)]
        store._executemany(
            "INSERT INTO minhashes (document_id, incident_id, scheme, num_perm, hashvalues, "
            "created_at) VALUES (?,?,?,?,?,?)",
            [(doc_id, inc, scheme, 128, values[i].tobytes(), now) for i, doc_id in enumerate(ids)])
        if hasattr(store, "fill_lsh_bands"):  # the shared index (schema v5)
            store.fill_lsh_bands()


def make_stream(rnd: random.Random, count: int, leaks: list[bytes]) -> list[Document]:
    docs: list[Document] = []
    recent: list[Document] = []
    next_record = 500_000
    for i in range(count):
        r = rnd.random()
        fetched = T0 + timedelta(seconds=i)
        if r < 0.05 and recent:  # exact repeat of something just seen
            docs.append(rnd.choice(recent))
            continue
        if r < 0.10:  # a new leak
            n = rnd.randint(5, 200)
            content = leak(rnd, next_record, n, header=f"new dump #{i}")
            next_record += n
            leaks.append(content)
        elif r < 0.13 and leaks:  # a re-post of an earlier leak with another header/footer
            content = rnd.choice(leaks).replace(b"new dump", b"mirror of") + b"join @x\n"
        else:
            content = chatter(rnd)
        d = Document(source=f"chan{i % 20}", platform="telegram", external_id=str(i),
                     content=content, url=f"https://t.me/chan{i % 20}/{i}", fetched_at=fetched)
        docs.append(d)
        recent = [*recent[-50:], d]
    return docs


def run(store: Store, args: argparse.Namespace) -> dict[str, float]:
    """Pre-fill `store`, then time the stream through the pipeline; the figures to print."""
    rnd = random.Random(args.seed)
    t = time.perf_counter()
    prefill(store, args.prefill, rnd)
    prefill_signatures(store, args.signatures, rnd)
    leaks: list[bytes] = []
    pipe = Pipeline(store, None, scanner=scanner, clock=lambda: T0)
    seed_docs = []
    for i in range(args.incidents):
        content = leak(rnd, 100_000 + i * 300, rnd.randint(5, 200), header=f"old dump {i}")
        leaks.append(content)
        seed_docs.append(Document(source="seed", platform="pastebin", external_id=str(i),
                                  content=content, url=f"https://pastebin.com/{i}"))
    for i in range(0, len(seed_docs), args.batch):
        pipe.process_batch("seed", seed_docs[i:i + args.batch], str(i))
    prefill_s = time.perf_counter() - t
    before = store.count_documents()
    stream = make_stream(rnd, args.documents, leaks)
    pipe = Pipeline(store, None, scanner=scanner, clock=lambda: T0)  # index rebuilt on open
    totals = {"documents": 0, "skipped": 0, "new_incidents": 0, "notifications": 0, "hits": 0}
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(stream), args.batch):
        r = pipe.process_batch("bench", stream[i:i + args.batch], str(i))
        for k in totals:
            totals[k] += getattr(r, k)
    elapsed = time.perf_counter() - t
    cpu = time.process_time() - cpu
    incidents = store.db.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    return {**totals, "before": before, "prefill_s": prefill_s, "elapsed": elapsed,
            "stream": len(stream), "incidents": incidents, "rate": len(stream) / elapsed,
            "cpu": cpu}


def report(name: str, f: dict[str, float], args: argparse.Namespace) -> None:
    """The figures of one run; `name` prefixes the lines when two backends are compared."""
    tag = f"[{name}] " if name else ""
    print(f"{tag}pre-filled: {f['before']:,} documents, {args.incidents} incidents, "
          f"{args.signatures:,} extra signatures ({f['prefill_s']:.1f} s)")
    print(f"{tag}processed:  {f['stream']:,} documents in batches of {args.batch} in "
          f"{f['elapsed']:.2f} s on one core")
    print(f"{tag}            {f['documents']:,} recorded, {f['skipped']:,} exact repeats "
          f"skipped, {f['hits']:,} hits, {f['new_incidents']:,} new incidents, "
          f"{f['incidents']:,} incidents in all")
    print(f"{tag}store + dedup throughput: {f['rate']:,.0f} documents/s")
    print(f"{tag}store + dedup CPU time:   {f['cpu']:.2f} s in this process "
          f"({f['stream'] / f['cpu']:,.0f} documents per CPU second: steadier than wall time "
          "on a shared machine; SQLite only, the PostgreSQL server's CPU is not in it)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.store_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefill", type=int, default=100_000)
    ap.add_argument("--incidents", type=int, default=500, help="leaks pre-filled as incidents")
    ap.add_argument("--signatures", type=int, default=0,
                    help="MinHash signatures of old incident documents pre-filled as well")
    ap.add_argument("--documents", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--store", metavar="URL", help="also run on this (empty) PostgreSQL database")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    print(f"command: {' '.join([os.path.basename(sys.executable), '-m', 'bench.store_bench', *(argv if argv is not None else sys.argv[1:])])}")
    with tempfile.TemporaryDirectory(prefix="leakmon-bench-") as tmp:
        with Store.open(Path(tmp)) as store:
            sqlite = run(store, args)
        report("sqlite" if args.store else "", sqlite, args)
        if args.store:
            with Store.open(args.store, state_dir=Path(tmp)) as store:
                pg = run(store, args)
            report("postgresql", pg, args)
            print(f"postgresql / sqlite throughput: {pg['rate'] / sqlite['rate']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
