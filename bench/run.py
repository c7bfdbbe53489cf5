"""The leakmon benchmark: scan speed next to raw Hyperscan, fingerprint cost, and accuracy.

`make bench` (= `python -m bench.run`) reports, in one run, on one core:

1. MB/s of the full scan path (`scan_document` -> `Engine.scan`) with 1,000 organization
   keyword rules plus the shipped rules/, next to raw Hyperscan on the same bytes with the
   same 1,000 keywords (the ratio is the figure that matters: what our Python costs);
2. the same with a 1,000,000-record fingerprint set added: MB/s, the set's load time and
   the peak RSS of a fresh process that loads everything and scans the corpus;
3. record-level recall and precision on the records planted in the corpus.

It prints a table and writes bench/out/results.json. `--size-mb` and `--records` make quick
runs; the corpus and the imported set are reused while their parameters do not change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
MB = 1024 * 1024
SET_NAME = "ours"
# A fixed key: the benchmark's set is synthetic, and a stable key lets the set be reused.
BENCH_KEY = "6c65616b6d6f6e2d62656e63686d61726b2d6b65792d6e6f742d736563726574"
RAW_PASSES = 5
SINGLE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- setup ----------------------------------------------------------------------------------


def ensure_corpus(corpus: Path, size_mb: float, records: int, seed: int, regen: bool) -> dict:
    from bench.corpus import VERSION, Generator

    manifest_path = corpus / "manifest.json"
    if manifest_path.exists() and not regen:
        m = json.loads(manifest_path.read_text())
        if (m.get("seed"), m.get("records"), m.get("size_mb"), m.get("version")) == \
                (seed, records, size_mb, VERSION):
            return m
    log(f"generating a {size_mb:g} MB corpus with {records:,} records into {corpus} ...")
    m = Generator(corpus, size_mb, records, seed).run()
    log(f"  corpus ready in {m['seconds']} s: {m['documents']} documents, {m['planted']} planted")
    return m


def write_org_rules(corpus: Path, out: Path,
                    name: str = "org_rules.toml") -> tuple[Path, list[str]]:
    """1,000 keyword rules, one per organization name or domain of `corpus`, written to
    out/`name` (each corpus its own file: the benches share `out`)."""
    keywords = [k for k in (corpus / "org_keywords.txt").read_text().splitlines() if k]
    lines = []
    for i, kw in enumerate(keywords):
        lines += ["[[rules]]", f'id = "org.kw{i:04d}"', f"title = {json.dumps('Mention: ' + kw)}",
                  'severity = "medium"', f"keywords = [{json.dumps(kw)}]", ""]
    path = out / name
    path.write_text("\n".join(lines))
    return path, keywords


def ensure_set(state: Path, corpus: Path, manifest: dict, *, force: bool = False) -> dict:
    """Import records.csv as set `ours` through the library API, unless already done."""
    from monitor.matching.fingerprints import FieldSpec, import_csv

    stamp = state / "bench_set.json"
    st = (corpus / "records.csv").stat()
    want = {"seed": manifest["seed"], "records": manifest["records"], "csv_bytes": st.st_size,
            "csv_mtime_ns": st.st_mtime_ns}
    if not force and stamp.exists() and json.loads(stamp.read_text()).get("corpus") == want:
        return json.loads(stamp.read_text())
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    log(f"importing {manifest['records']:,} records into fingerprint set {SET_NAME!r} ...")
    fields = [FieldSpec("nir", "fr_nir"), FieldSpec("email", "email"),
              FieldSpec("phone", "phone"), FieldSpec("last_name", "last_name"),
              FieldSpec("first_name", "first_name"), FieldSpec("birth_date", "date")]
    t0 = time.perf_counter()
    report = import_csv(state, SET_NAME, corpus / "records.csv", id_column="id", fields=fields,
                        key=bytes.fromhex(BENCH_KEY), replace=True)
    seconds = time.perf_counter() - t0
    info = {"corpus": want, "import_seconds": round(seconds, 2), "records": report.records,
            "unusable_rows": report.unusable_rows.count}
    stamp.write_text(json.dumps(info))
    log(f"  imported {report.records:,} records in {seconds:.1f} s")
    return info


def load_docs(corpus: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((corpus / "docs").iterdir())]


def save(results: dict) -> None:
    """Written after every stage, so that a late failure keeps the figures already taken."""
    (OUT / "results.json").write_text(json.dumps(results, indent=1))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- measurements ---------------------------------------------------------------------------


def raw_hyperscan(docs: list[tuple[str, bytes]], keywords: list[str]) -> dict:
    """Hyperscan alone: the same keywords, caseless literals, every match reported."""
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    exprs = [_hs_literal(k) for k in keywords]
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
               flags=[hyperscan.HS_FLAG_CASELESS] * len(exprs))
    scratch = hyperscan.Scratch(db)
    count = 0

    def on_match(*_args):
        nonlocal count
        count += 1

    total = sum(len(d) for _, d in docs)
    db.scan(docs[0][1][:65536], match_event_handler=on_match, scratch=scratch)  # warm-up
    best = float("inf")
    for _ in range(RAW_PASSES):  # a pass takes ~0.1 s: the best of a few damps noise
        count = 0
        t0 = time.perf_counter()
        for _, data in docs:
            db.scan(data, match_event_handler=on_match, scratch=scratch)
        best = min(best, time.perf_counter() - t0)
    return {"mb_s": total / MB / best, "seconds": best, "matches": count,
            "passes": RAW_PASSES}


def aho_corasick(docs: list[tuple[str, bytes]], keywords: list[str]) -> dict | None:
    """pyahocorasick on the same keywords (lower-cased text), for scale; None if absent."""
    try:
        import ahocorasick
    except ImportError:
        return None
    automaton = ahocorasick.Automaton()
    for i, kw in enumerate(keywords):
        automaton.add_word(kw.lower(), i)
    automaton.make_automaton()
    total = sum(len(d) for _, d in docs)
    count = 0
    t0 = time.perf_counter()
    for _, data in docs:
        for _ in automaton.iter(data.decode("utf-8", errors="replace").lower()):
            count += 1
    seconds = time.perf_counter() - t0
    return {"mb_s": total / MB / seconds, "seconds": seconds, "matches": count}


def _hs_literal(text: str) -> bytes:
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() else f"\\x{ord(ch):02x}" if ord(ch) < 128 else ch)
    return "".join(out).encode("utf-8")


def engine_scan(docs: list[tuple[str, bytes]], rule_paths: list[Path]) -> dict:
    """The full scan path without fingerprints: scan_document with the real engine."""
    from monitor.config import load_config
    from monitor.matching.document_scan import scan_document
    from monitor.matching.extract import Limits
    from monitor.matching.loader import load_engine

    config = load_config(None)
    t0 = time.perf_counter()
    loaded = load_engine(config, OUT / "state", rule_paths=rule_paths, fingerprint_names=[])
    build = time.perf_counter() - t0
    limits = Limits.from_config(config.matching)
    engine = loaded.engine
    scan_document(engine, docs[0][1][:65536], "warm-up", limits)
    hits = 0
    by_rule: dict[str, int] = {}
    t0 = time.perf_counter()
    for name, data in docs:
        res = scan_document(engine, data, name, limits)
        hits += len(res.hits)
        for h in res.hits:
            by_rule[h.rule_id.split(".")[0]] = by_rule.get(h.rule_id.split(".")[0], 0) + 1
    seconds = time.perf_counter() - t0
    raw_seconds = float("inf")
    for _ in range(RAW_PASSES):
        raw_t0 = time.perf_counter()
        for _, data in docs:
            engine.raw_scan(data)
        raw_seconds = min(raw_seconds, time.perf_counter() - raw_t0)
    total = sum(len(d) for _, d in docs)
    return {"mb_s": total / MB / seconds, "seconds": seconds, "build_seconds": build,
            "rules": len(loaded.ruleset.rules), "patterns": engine.pattern_count,
            "hits": hits, "hits_by_rule_prefix": by_rule,
            "engine_db_raw_mb_s": total / MB / raw_seconds}


def child_scan(spec: dict) -> dict:
    """Run in a fresh process: load the set, build the engine, scan every file; report
    speed, load time, peak RSS, and which of our records each document contained."""
    os.environ["LEAKMON_FINGERPRINT_KEY"] = BENCH_KEY
    from monitor.config import load_config
    from monitor.matching.document_scan import scan_document
    from monitor.matching.extract import Limits
    from monitor.matching.fingerprints import load_fingerprint_sets
    from monitor.matching.loader import load_engine

    state = Path(spec["state"])
    t0 = time.perf_counter()
    sets = load_fingerprint_sets(state, [SET_NAME])
    load_seconds = time.perf_counter() - t0
    rss_after_load = peak_rss_mb()
    del sets  # timed alone above; load_engine loads it again (the page cache is warm)
    t0 = time.perf_counter()
    loaded = load_engine(load_config(None), state, rule_paths=spec["rules"],
                         fingerprint_names=[SET_NAME])
    engine, fset = loaded.engine, loaded.fingerprint_sets[SET_NAME]
    build_seconds = time.perf_counter() - t0
    limits = Limits()
    found: dict[str, list[str]] = {}
    total = 0
    seconds = match_seconds = 0.0
    files = sorted(Path(spec["docs"]).iterdir())
    scan_document(engine, files[0].read_bytes()[:65536], "warm-up", limits)
    for path in files:
        data = path.read_bytes()
        total += len(data)
        t0 = time.perf_counter()
        res = scan_document(engine, data, path.name, limits)
        seconds += time.perf_counter() - t0
        ids = sorted({r.record_id for h in res.hits if h.fingerprint_set for r in h.records})
        if ids:
            found[path.name] = ids
        t0 = time.perf_counter()
        fset.match(data)  # the set's own share of the cost, for attribution
        match_seconds += time.perf_counter() - t0
        del data, res
    return {"mb_s": total / MB / seconds, "seconds": seconds, "bytes": total,
            "set_match_alone_mb_s": total / MB / match_seconds,
            "set_load_seconds": load_seconds, "build_seconds": build_seconds,
            "peak_rss_mb": peak_rss_mb(),
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_set_load_mb": rss_after_load, "found": found}


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux: VmHWM, the high-water mark of this process image only;
    ru_maxrss also carries the parent's RSS copied at fork time, before exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(spec: dict) -> dict:
    env = dict(os.environ, **SINGLE_CORE_ENV, LEAKMON_FINGERPRINT_KEY=BENCH_KEY)
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--child", json.dumps(spec)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def accuracy(truth: dict[str, list[str]], found: dict[str, list[str]]) -> dict:
    want = {(f, r) for f, ids in truth.items() for r in ids}
    got = {(f, r) for f, ids in found.items() for r in ids}
    tp = len(want & got)
    missed = sorted(want - got)
    extra = sorted(got - want)
    return {"planted": len(want), "reported": len(got), "true_positives": tp,
            "recall": tp / len(want) if want else 1.0,
            "precision": tp / len(got) if got else 1.0,
            "missed_by_file": _by_file(missed), "false_positives_by_file": _by_file(extra),
            "missed_examples": [list(x) for x in missed[:10]],
            "false_positive_examples": [list(x) for x in extra[:10]]}


def _by_file(pairs) -> dict[str, int]:
    out: dict[str, int] = {}
    for f, _ in pairs:
        out[f] = out.get(f, 0) + 1
    return out


# --- report ---------------------------------------------------------------------------------


def table(r: dict) -> str:
    c, kw, raw, fp, acc = r["corpus"], r["keywords"], r["raw_hyperscan"], r.get("fingerprints"), \
        r.get("accuracy")
    ko = r["keywords_only"]
    rows = [
        ("corpus", f"{c['bytes'] / MB:.1f} MB, {c['documents']} documents, "
                   f"{c['planted']} planted record sightings"),
        ("raw Hyperscan, 1,000 keywords", f"{raw['mb_s']:,.0f} MB/s"),
        *([("  for scale: pyahocorasick, same keywords", f"{r['pyahocorasick']['mb_s']:,.0f} MB/s")]
          if r.get("pyahocorasick") else []),
        ("scan_document: 1,000 keyword rules alone",
         f"{ko['mb_s']:,.0f} MB/s  ({ko['mb_s'] / raw['mb_s']:.1%} of raw; engine's Hyperscan "
         f"pass alone {ko['engine_db_raw_mb_s']:,.0f} MB/s; {ko['hits']} hits)"),
        ("scan_document: 1,000 keyword rules + rules/",
         f"{kw['mb_s']:,.0f} MB/s  ({kw['rules']} rules, {kw['patterns']} patterns, "
         f"{kw['hits']} hits)"),
        ("  ratio to raw Hyperscan", f"{kw['mb_s'] / raw['mb_s']:.1%}"),
        ("  engine's passes alone (HS + triggers)", f"{kw['engine_db_raw_mb_s']:,.0f} MB/s"),
    ]
    if fp:
        rows += [
            (f"+ {fp['records']:,}-record fingerprint set", f"{fp['mb_s']:,.1f} MB/s"),
            ("  FingerprintSet.match alone", f"{fp['set_match_alone_mb_s']:,.1f} MB/s"),
            ("  set import (library API)", f"{fp['import_seconds']:.1f} s"
             + ("" if fp.get("imported_now") else " (earlier run, reused)")),
            ("  set load time", f"{fp['set_load_seconds']:.2f} s"),
            ("  peak RSS (fresh process: load + scan)", f"{fp['peak_rss_mb']:.0f} MB"),
        ]
    if r.get("fingerprints_error"):
        rows.append(("fingerprint stage", "FAILED (the error is in results.json)"))
    if acc:
        rows += [
            ("record recall", f"{acc['recall']:.2%}  ({acc['true_positives']}/{acc['planted']})"),
            ("record precision",
             f"{acc['precision']:.3%}  ({acc['true_positives']}/{acc['reported']})"),
        ]
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=100.0, help="corpus size (default 100)")
    ap.add_argument("--records", type=int, default=1_000_000,
                    help="records in the fingerprint set (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=HERE / "corpus")
    ap.add_argument("--regen", action="store_true", help="regenerate the corpus")
    ap.add_argument("--reimport", action="store_true",
                    help="import the fingerprint set again even if an earlier run made it")
    ap.add_argument("--no-fingerprints", action="store_true",
                    help="only the keyword figures (skip the set import and the child scan)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child_scan(json.loads(args.child))))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = ensure_corpus(args.corpus, args.size_mb, args.records, args.seed, args.regen)
    org_rules, keywords = write_org_rules(args.corpus, OUT)
    shipped = ROOT / "rules"
    docs = load_docs(args.corpus)
    log(f"scanning {sum(len(d) for _, d in docs) / MB:.1f} MB in {len(docs)} documents ...")
    results: dict = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine(), "cores_used": 1},
        "corpus": manifest,
        "raw_hyperscan": raw_hyperscan(docs, keywords),
        "pyahocorasick": aho_corasick(docs, keywords),
    }
    save(results)
    results["keywords_only"] = engine_scan(docs, [org_rules])
    save(results)
    results["keywords"] = engine_scan(docs, [org_rules, shipped])
    save(results)
    del docs
    if not args.no_fingerprints:
        state = OUT / "state"
        os.environ["LEAKMON_FINGERPRINT_KEY"] = BENCH_KEY
        t_before = time.time()
        set_info = ensure_set(state, args.corpus, manifest, force=args.reimport)
        imported_now = time.time() - t_before > 1
        try:
            child = run_child({"state": str(state), "docs": str(args.corpus / "docs"),
                               "rules": [str(org_rules), str(shipped)]})
        except RuntimeError as e:
            log(str(e))
            results["fingerprints_error"] = str(e)
        else:
            found = child.pop("found")
            results["fingerprints"] = {**child, "records": set_info["records"],
                                       "import_seconds": set_info["import_seconds"],
                                       "imported_now": imported_now}
            truth = json.loads((args.corpus / "truth.json").read_text())["files"]
            results["accuracy"] = accuracy(truth, found)
    save(results)
    print(table(results))
    print(f"\nwritten: {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
