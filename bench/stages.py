"""What one small document costs, stage by stage: `leakmon scan`'s per-document path timed in
one process, no profiler (whose own cost per call would swamp stages of a few µs).

`python -m bench.stages [--fingerprints ours] [FOLDER]` loads the engine as `leakmon scan`
does (keywords of the small corpus + the shipped rules by default), reads every file of
FOLDER (default: the small bench's corpus) and times, as CPU µs per document (best of
`--passes`), each stage alone over all documents:

- walk (one `os.scandir` per folder, one stat per file) and read (open, read, close);
- extraction (`iter_parts`: the plain-text fast path for almost all of them);
- `Engine.scan`, and inside it the main Hyperscan database alone, the bulk detectors alone
  and, with a set, `FingerprintSet.match` alone (the rest is evaluation, excerpts and
  redaction);
- `scan_document` (extraction, engine, merging the parts' hits) and the `--json` line;
- the whole per-document path (`leakmon scan`'s slice scan: read, extraction, engine,
  sorting, JSON), which is what the stages add up to.

Start-up and the worker pool are not in these figures (see bench.small_bench).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.run import BENCH_KEY, OUT, ROOT, write_org_rules
from bench.small_corpus import DEFAULT_OUT


def _best(passes: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(passes):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _raise(message: str) -> None:
    raise SystemExit(f"bench.stages: {message}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_OUT / "docs")
    ap.add_argument("--fingerprints", action="append", default=[], metavar="NAME")
    ap.add_argument("--rules", action="append", default=None, metavar="PATH",
                    help="default: the small corpus's 1,000 keywords + rules/")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args(argv)
    os.environ.setdefault("LEAKMON_FINGERPRINT_KEY", BENCH_KEY)
    os.environ.setdefault("LEAKMON_STATE_DIR", str(OUT / "small_state"))
    os.environ.setdefault("LEAKMON_CACHE_DIR", str(OUT / "hscache"))

    from monitor.config import Config
    from monitor.filescan import batch, inputs, render
    from monitor.matching.document_scan import scan_document
    from monitor.matching.extract import Limits, iter_parts
    from monitor.matching.loader import load_engine

    if args.rules is None:
        org, _ = write_org_rules(DEFAULT_OUT, OUT, "small_org_rules.toml")
        args.rules = [str(org), str(ROOT / "rules")]
    config = Config(None, Path.cwd(), None)
    engine = load_engine(config, Path(os.environ["LEAKMON_STATE_DIR"]), rule_paths=args.rules,
                         fingerprint_names=args.fingerprints).engine
    limits = Limits.from_config(config.matching)
    cap = max(limits.max_document_bytes, limits.max_unpacked_bytes) + 1
    job = batch.ScanJob(engine, limits, cap, 0, True)

    def walk() -> list[inputs.Input]:
        return list(inputs.expand([str(args.folder)], _raise, _raise))

    items = walk()
    datas = [inputs.read_input(item, cap)[0] for item in items]
    parts = [p.data for d, item in zip(datas, items, strict=True)
             for p in iter_parts(d, item.label, limits) if p.data]
    results = [scan_document(engine, d, item.label, limits)
               for d, item in zip(datas, items, strict=True)]
    n = len(items)
    size = sum(map(len, datas))
    passes = args.passes
    rows: list[tuple[str, float]] = []

    def stage(name: str, fn: Callable[[], object]) -> None:
        rows.append((name, 1e6 * _best(passes, fn) / n))

    stage("walk", walk)
    stage("read", lambda: [inputs.read_input(item, cap) for item in items])
    stage("extraction (iter_parts)",
          lambda: [list(iter_parts(d, item.label, limits))
                   for d, item in zip(datas, items, strict=True)])
    stage("Engine.scan", lambda: [engine.scan(p) for p in parts])
    scanner = engine.compiled.scanner
    if scanner is not None:
        stage("  main Hyperscan database", lambda: [scanner.scan(p) for p in parts])
    stage("  bulk detectors", lambda: [engine.bulk.findings(p) for p in parts])
    for name, fp_set in engine.fingerprint_sets.items():
        stage(f"  fingerprint set {name!r} (match)", lambda s=fp_set: [s.match(p) for p in parts])
    stage("scan_document (+ merge of parts)",
          lambda: [scan_document(engine, d, item.label, limits)
                   for d, item in zip(datas, items, strict=True)])
    stage("--json line", lambda: [render.json_line(item.label, r, r.hits)
                                  for item, r in zip(items, results, strict=True)])
    stage("whole per-document path", lambda: [batch.scan_slice(job, s)
                                              for s in inputs.slices(items)])
    print(f"{n:,} documents, {size / 2**20:.1f} MB ({size / n / 1024:.1f} KB each), "
          f"{sum(bool(r.hits) for r in results):,} with hits; rules: {', '.join(args.rules)}"
          + (f"; sets: {', '.join(args.fingerprints)}" if args.fingerprints else "")
          + f"; CPU µs per document, best of {passes}; load {os.getloadavg()[0]:.2f}")
    for name, us in rows:
        print(f"  {name:<40} {us:8.1f} µs")
    whole = rows[-1][1]
    print(f"  = {size / 2**20 / (whole * n / 1e6):.1f} MB per CPU-second for the whole path "
          "(start-up and pool excluded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
