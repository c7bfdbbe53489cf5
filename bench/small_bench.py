"""The small-document benchmark: many messages and pastes of 200 B-20 KB, whole process.

`python -m bench.small_bench` (`make bench-small`) reports, in one run, next to raw Hyperscan
over the same bytes (one core, in this process):

1. `leakmon scan --json FOLDER`, whole process (start-up, walk, read, scan, JSON out), with
   1,000 keyword rules alone and with the shipped rules/ added, serial (`--jobs 1`) and with
   the worker pool (one process per CPU): MB/s, and the check that every document in which
   raw Hyperscan finds a keyword is reported with a keyword hit, and that no excerpt shows
   the user of an e-mail address (combo lists: the most frequent alert);
2. the same with the 1,000,000-record fingerprint set: MB/s, peak RSS and PSS summed over
   the parent and its workers (PSS counts the pages they share once), record recall and
   precision against the planted ground truth;
3. start-up: `leakmon scan` of one small file with 1,000 keywords + rules/, with an empty
   Hyperscan cache and with a warm one (best of 3);
4. the daemon path: 1 KB Telegram messages served as t.me/s pages on 127.0.0.1, collected
   by the telegram_web collector, matched and stored by `Pipeline.process_batch` in a fresh
   SQLite store, with and without the 1M set, in a daemon already running (a warm-up run of
   another source first): messages/s, CPU per message of each process (the loopback
   server's apart: Telegram is not on the machine), and who waited for whom;
5. store + dedup (bench.store_bench) with 100,000 and 1,000,000 documents already stored.

Each scan runs `--repeat` times (3), each run after the folder was read once (this VM's page
cache lets go of files within minutes: a run that reads part of its input from the disk
measures the disk), and the run of median wall time is reported, with the seconds of every
run; every run must write the same output. One more variant measures that disk: the
keywords+rules scan with the folder's files dropped from the page cache before each run
(posix_fadvise DONTNEED), as for the first scan of a folder copied from elsewhere.

The machine is shared: the load average is printed with the figures; compare ratios. The
scans and the daemon path also give their CPU seconds (the scan's process and workers; the
daemon path's process and its page reader process; the loopback server's apart) and MB or
messages per CPU-second, which other load on the machine does not inflate the way it does
wall time.
Results also go to bench/out/small_results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.run import BENCH_KEY, OUT, ROOT, SET_NAME, accuracy, ensure_set, log, write_org_rules
from bench.small_corpus import DEFAULT_OUT, ensure_small_corpus
from bench.tme import PAGE, LoopbackServer, channel_route, message_posts

MB = 1024 * 1024
LEAKMON = [sys.executable, "-m", "monitor"]


def load(docs: Path) -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for p in sorted(docs.iterdir())]


def raw_hyperscan(docs: list[tuple[str, bytes]], keywords: list[str]) -> dict:
    """Hyperscan alone, one call per document, and the documents with a keyword in them."""
    import hyperscan

    from bench.run import _hs_literal
    from bench.run import raw_hyperscan as raw
    from monitor.matching.normalize import at_boundaries

    fig = raw(docs, keywords)
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[_hs_literal(k) for k in keywords], ids=list(range(len(keywords))),
               flags=[hyperscan.HS_FLAG_CASELESS] * len(keywords))
    scratch = hyperscan.Scratch(db)
    with_kw = []
    hit: list[int] = []
    lengths = [len(k.encode("utf-8")) for k in keywords]
    current = b""

    def on_match(kw: int, _start: int, end: int, *_a: object) -> bool:
        # A keyword rule promises whole words ("Dos Santos" is not in "Dos Santosbourg"):
        # count the document only for a match on word boundaries, as the engine checks them.
        if not at_boundaries(current, end - lengths[kw], end):
            return False
        hit.append(1)
        return True  # stop: one match tells that the document has a keyword

    for name, data in docs:
        current = data
        hit.clear()
        try:
            db.scan(data, match_event_handler=on_match, scratch=scratch)
        except hyperscan.ScanTerminated:
            pass
        if hit:
            with_kw.append(name)
    fig["documents_with_keywords"] = len(with_kw)
    fig["_with_kw"] = with_kw
    return fig


# --- whole-process scan, with the RSS of the process tree sampled ----------------------------


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _mem(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB from smaps_rollup; (0, 0) once the process is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_scan(argv: list[str], env: dict, total_bytes: int) -> dict:
    """`leakmon scan ...` as a subprocess: wall time, MB/s, peak summed RSS/PSS, CPU seconds
    of the process and its workers (what other load on the machine does not inflate), its
    output."""
    with tempfile.TemporaryFile() as out:
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        proc = subprocess.Popen([*LEAKMON, *argv], stdout=out, stderr=subprocess.PIPE,
                                env=env, cwd=ROOT)
        peak_rss = peak_pss = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_rss, peak_pss
            while not stop.wait(0.05):
                mems = [_mem(p) for p in _tree(proc.pid)]
                peak_rss = max(peak_rss, sum(m[0] for m in mems))
                peak_pss = max(peak_pss, sum(m[1] for m in mems))

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, err = proc.communicate()
        seconds = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        stop.set()
        th.join()
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"leakmon scan failed ({proc.returncode}): {err[-2000:]!r}")
        out.seek(0)
        text = out.read()
    return {"seconds": seconds, "mb_s": total_bytes / MB / seconds, "cpu_s": cpu,
            "mb_per_cpu_s": total_bytes / MB / cpu,
            "peak_rss_mb": peak_rss / 1024, "peak_pss_mb": peak_pss / 1024,
            "_output": text}


def warm_page_cache(folder: Path) -> None:
    """Read every file of `folder` once, so that a timed scan reads them from memory: this
    VM's page cache lets go of files within minutes, and a scan that finds part of its input
    on disk measures the disk (cold-cache start-up is measured apart)."""
    for entry in os.scandir(folder):
        with open(entry.path, "rb") as fh:
            while fh.read(1 << 20):
                pass


def evict_page_cache(folder: Path) -> None:
    """Drop every file of `folder` from the page cache (posix_fadvise DONTNEED: no privilege
    needed), as for the first scan of a folder just copied from elsewhere or read long ago."""
    for entry in os.scandir(folder):
        fd = os.open(entry.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def repeated_scan(argv: list[str], env: dict, total_bytes: int, folder: Path,
                  repeat: int, *, cold: bool = False) -> tuple[dict, list[dict]]:
    """`repeat` runs of run_scan, each after warm_page_cache (`cold`: evict_page_cache):
    the run of median wall time (its figures are the ones reported, with every run's
    seconds and the peak memory of all), and the rows of its output, which must be the same
    in every run."""
    runs = []
    for _ in range(max(1, repeat)):
        (evict_page_cache if cold else warm_page_cache)(folder)
        runs.append(run_scan(argv, env, total_bytes))
    outputs = {r.pop("_output") for r in runs}
    if len(outputs) != 1:
        raise RuntimeError(f"leakmon {' '.join(argv)} wrote different output in "
                           f"{len(runs)} runs of the same input")
    by_time = sorted(runs, key=lambda r: r["seconds"])
    fig = dict(by_time[(len(by_time) - 1) // 2])
    fig["runs_s"] = [round(r["seconds"], 3) for r in by_time]
    fig["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    fig["peak_pss_mb"] = max(r["peak_pss_mb"] for r in runs)
    rows = [json.loads(line) for line in outputs.pop().splitlines()]
    fig["documents"] = len(rows)
    return fig, rows


def _children_cpu() -> float:
    """User + system seconds of the reaped child processes (and theirs, once reaped)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def check_keywords(rows: list[dict], with_kw: list[str]) -> dict:
    reported = {r["path"] for r in rows if any(h["rule"].startswith("org.kw") for h in r["hits"])}
    missing = sorted(set(with_kw) - reported)
    return {"keyword_documents": len(with_kw), "reported": len(reported),
            "missing": len(missing), "missing_examples": missing[:5]}


# the user of an e-mail address left whole: excerpts show "l***@wanadoo.fr", never more
_UNMASKED_USER = re.compile(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9-]+\.")


def check_excerpts(rows: list[dict]) -> dict:
    """Excerpts that show the user of an e-mail address (redaction must mask them all)."""
    excerpts = [h.get("excerpt") or "" for r in rows for h in r["hits"]]
    leaks = [m for e in excerpts for m in _UNMASKED_USER.findall(e)]
    return {"excerpts": len(excerpts), "unmasked_users": len(leaks), "examples": leaks[:3]}


def found_records(rows: list[dict]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for r in rows:
        ids = sorted({i for h in r["hits"] for i in h.get("records", [])})
        if ids:
            found[os.path.basename(r["path"])] = ids
    return found


def startup(rules: list[str], env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "hello.txt"
        tiny.write_text("bonjour\n")
        env = dict(env, LEAKMON_CACHE_DIR=str(Path(tmp) / "hscache"))
        argv = [*LEAKMON, "scan", "--json", *[a for r in rules for a in ("--rules", r)],
                str(tiny)]

        def once() -> float:
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
            return time.perf_counter() - t0

        cold = once()
        warm = min(once() for _ in range(3))
    return {"cold_cache_s": cold, "warm_cache_s": warm}


# --- daemon path: telegram_web -> Pipeline.process_batch -> SQLite -----------------------------


def daemon_path(messages: list[str], rules: list[str], state: Path, sets: list[str]) -> dict:
    """One run of the daemon's SourceRunner (collector on the loop, pipeline thread, shared
    store), as `leakmon daemon` does it, in a daemon that is already running: its store is
    open and a first run (of another source, two pages of posts without hits) has paid what
    a process pays once (httpx's imports on the first request, the pipeline's construction,
    the page readers' forkserver), ~0.2 s that a 1 s run would otherwise count as
    throughput."""
    from types import SimpleNamespace

    from monitor.collectors.registry import build_collector, parse_source
    from monitor.config import parse_config
    from monitor.daemon.runner import PipelineHost, SourceRunner
    from monitor.daemon.workers import SharedStore, StoreThread
    from monitor.matching.loader import load_engine
    from monitor.pipeline import Pipeline

    srv = LoopbackServer({"/s/benchchan": channel_route(message_posts(messages))})
    warm_srv = LoopbackServer({"/s/benchchan": channel_route(message_posts(
        [f"warm-up post {i}" for i in range(2 * PAGE)]))})
    try:
        config = parse_config({"network": {"retries": 0}, "rules": rules})
        loaded = load_engine(config, state, fingerprint_names=sets)
        with tempfile.TemporaryDirectory() as tmp:
            shared = SharedStore(Path(tmp))
            thread = StoreThread(shared, "pipeline")
            try:
                table = {"name": "bench-tg", "type": "telegram_web", "channel": "benchchan",
                         "base_url": srv.url(), "backfill": len(messages),
                         "max_pages": len(messages) // 20 + 5}
                warm = {**table, "name": "bench-warm-up", "base_url": warm_srv.url(),
                        "backfill": 2 * PAGE}
                collector = build_collector(table, config, Path(tmp))
                warm_collector = build_collector(warm, config, Path(tmp))
                shared.get()
                if getattr(collector, "in_child", False):  # the daemon starts it once, at
                    from monitor.collectors.process_feed import start_server  # start-up
                    start_server()
                host = PipelineHost(SimpleNamespace(sinks=[]),
                                    lambda store, rt: Pipeline(store, loaded.engine))
                runner = SourceRunner(thread, host)

                warm_docs = 0

                async def run() -> tuple[object, float, float]:
                    try:
                        await runner.run(parse_source(warm), warm_collector)
                    finally:
                        await warm_collector.aclose()
                    runner.metrics.scan_seconds = 0.0
                    nonlocal warm_docs
                    warm_docs = await thread.call(lambda store: store.count_documents())
                    t0, c0 = time.perf_counter(), time.process_time()
                    try:
                        out = await runner.run(parse_source(table), collector)
                    finally:
                        await collector.aclose()
                    return out, time.perf_counter() - t0, time.process_time() - c0

                result, seconds, cpu = asyncio.run(run())
                # the page reader's child process (telegram_web reads pages in one when
                # there is a second CPU): its CPU counts too
                feed = getattr(collector, "feed", None)
                reader_cpu = getattr(feed, "child_cpu_s", None)
                # who waited for whom: the reader on a full pipe, this side for pages
                waits = {"reader_blocked_s": getattr(feed, "child_blocked_s", None),
                         "consumer_starved_s": getattr(feed, "starved_s", None),
                         "pipeline_busy_s": runner.metrics.scan_seconds}
                stored = shared.get().count_documents() - warm_docs
                server_cpu = srv.cpu_s()
            finally:
                thread.close()
                shared.close()
    finally:
        srv.close()
        warm_srv.close()
    return {"messages": result.items, "documents": result.documents, "stored": stored,
            "seconds": seconds, "msg_s": result.items / seconds, "cpu_s": cpu + (reader_cpu or 0),
            "main_cpu_s": cpu, "reader_cpu_s": reader_cpu, "server_cpu_s": server_cpu, **waits,
            "msg_per_cpu_s": result.items / (cpu + (reader_cpu or 0))}


def store_dedup(prefill: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.store_bench", "--prefill", str(prefill)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    m = re.search(r"throughput: ([\d,]+) documents/s", proc.stdout)
    return {"prefill": prefill, "docs_s": int(m.group(1).replace(",", "")) if m else None,
            "output": proc.stdout}


def one_kb_messages(docs: list[tuple[str, bytes]], n: int) -> list[str]:
    """`n` messages of about 1 KB: the corpus's Telegram posts, cut or joined to ~1 KB."""
    texts = [d.decode() for name, d in docs if os.path.basename(name).startswith("tg_")]
    out, i = [], 0
    while len(out) < n:
        t = texts[i % len(texts)]
        while len(t) < 900:
            i += 1
            t += "\n" + texts[i % len(texts)]
        out.append(t[:1100])
        i += 1
    return out


# --- report --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.small_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=100.0)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--messages", type=int, default=5000, help="1 KB messages, daemon path")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each scan, the median reported (default 3)")
    ap.add_argument("--skip", action="append", default=[],
                    choices=["fingerprints", "daemon", "store", "scans"],
                    help="leave a stage out (scans: the `leakmon scan` runs and start-up)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = ensure_small_corpus(args.corpus, args.size_mb, args.records, args.seed)
    org_rules, keywords = write_org_rules(args.corpus, OUT, "small_org_rules.toml")
    shipped = str(ROOT / "rules")
    docs = load(args.corpus / "docs")
    total = sum(len(d) for _, d in docs)
    res: dict = {"corpus": {**manifest, "bytes": total, "files": len(docs)},
                 "load_at_start": os.getloadavg(), "cpus": len(os.sched_getaffinity(0))}
    log(f"raw Hyperscan over {total / MB:.1f} MB in {len(docs)} files ...")
    raw = raw_hyperscan(docs, keywords)
    with_kw = raw.pop("_with_kw")
    res["raw_hyperscan"] = raw
    state = OUT / "small_state"
    env = dict(os.environ, LEAKMON_FINGERPRINT_KEY=BENCH_KEY, LEAKMON_STATE_DIR=str(state),
               LEAKMON_CACHE_DIR=str(OUT / "hscache"))
    folder = str(args.corpus / "docs")
    scans = {}
    # (label, rule paths, fingerprint sets, the folder out of the page cache before each run)
    variants = [("keywords", [str(org_rules)], [], False),
                ("keywords+rules", [str(org_rules), shipped], [], False),
                ("keywords+rules, files not in the page cache", [str(org_rules), shipped], [], True)]
    for rules in dict.fromkeys(tuple(v[1]) for v in variants):  # compiled and cached untimed
        subprocess.run([*LEAKMON, "scan", *[a for r in rules for a in ("--rules", r)], "--json",
                        str(org_rules)], env=env, cwd=ROOT, check=True, capture_output=True)
    if "fingerprints" not in args.skip:
        state.mkdir(parents=True, exist_ok=True)
        os.environ["LEAKMON_FINGERPRINT_KEY"] = BENCH_KEY
        ensure_set(state, args.corpus, manifest)
        variants.append(("keywords+rules+1M set", [str(org_rules), shipped], [SET_NAME], False))
    truth = json.loads((args.corpus / "truth.json").read_text())["files"]
    for label, rules, sets, cold in variants if "scans" not in args.skip else []:
        for jobs in ("1", str(res["cpus"])):
            log(f"leakmon scan --json, {label}, --jobs {jobs} ...")
            argv_ = ["scan", "--json", "--jobs", jobs,
                     *[a for r in rules for a in ("--rules", r)],
                     *[a for s in sets for a in ("--fingerprints", s)], folder]
            fig, rows = repeated_scan(argv_, env, total, args.corpus / "docs", args.repeat,
                                      cold=cold)
            fig["load"] = os.getloadavg()[0]
            fig["ratio_to_raw"] = fig["mb_s"] / raw["mb_s"]
            fig["keyword_check"] = check_keywords(rows, with_kw)
            fig["excerpt_check"] = check_excerpts(rows)
            if sets:
                acc = accuracy(truth, found_records(rows))
                fig["accuracy"] = {k: acc[k] for k in ("planted", "reported", "true_positives",
                                                       "recall", "precision")}
            fig["command"] = "leakmon " + " ".join(argv_)
            scans[f"{label} / jobs {jobs}"] = fig
            res["scans"] = scans
            save(res)
    if "scans" not in args.skip:
        res["startup"] = startup([str(org_rules), shipped], env)
    save(res)
    if "daemon" not in args.skip:
        msgs = one_kb_messages(docs, args.messages)
        res["daemon"] = {}
        for label, sets in (("keywords+rules", []), ("keywords+rules+1M set", [SET_NAME])):
            if sets and "fingerprints" in args.skip:
                continue
            log(f"daemon path, {label}, {len(msgs)} messages of ~1 KB ...")
            res["daemon"][label] = daemon_path(msgs, [str(org_rules), shipped], state, sets)
            res["daemon"][label]["load"] = os.getloadavg()[0]
            save(res)
    if "store" not in args.skip:
        res["store_dedup"] = {}
        for prefill in (100_000, 1_000_000):
            log(f"store + dedup with {prefill:,} documents stored ...")
            res["store_dedup"][str(prefill)] = store_dedup(prefill)
            res["store_dedup"][str(prefill)]["load"] = os.getloadavg()[0]
            save(res)
    print(table(res))
    print(f"\nwritten: {OUT / 'small_results.json'}")
    return 0


def save(res: dict) -> None:
    (OUT / "small_results.json").write_text(json.dumps(res, indent=1))


def table(r: dict) -> str:
    c, raw = r["corpus"], r["raw_hyperscan"]
    rows = [("corpus", f"{c['bytes'] / MB:.1f} MB in {c['files']:,} files "
                       f"({c['bytes'] / c['files'] / 1024:.1f} KB each), {c['planted']} planted "
                       f"record sightings, {c['near_misses']} near misses"),
            ("load average at start", " ".join(f"{x:.2f}" for x in r["load_at_start"])),
            ("raw Hyperscan, 1,000 keywords, 1 core",
             f"{raw['mb_s']:,.0f} MB/s ({raw['documents_with_keywords']} documents with a "
             "keyword)")]
    for label, f in r.get("scans", {}).items():
        kc = f["keyword_check"]
        extra = f"  recall {f['accuracy']['recall']:.2%} precision " \
                f"{f['accuracy']['precision']:.2%}" if "accuracy" in f else ""
        runs = f.get("runs_s", [])
        spread = f" (runs {' / '.join(f'{x:.2f}' for x in runs)})" if len(runs) > 1 else ""
        rows.append((f"leakmon scan --json: {label}",
                     f"{f['mb_s']:,.1f} MB/s ({f['ratio_to_raw']:.1%} of raw), "
                     f"{f['seconds']:.2f} s{spread}, "
                     f"{f['mb_per_cpu_s']:,.1f} MB per CPU-s, "
                     f"peak RSS {f['peak_rss_mb']:.0f} MB / PSS {f['peak_pss_mb']:.0f} MB, "
                     f"keyword docs missed {kc['missing']}/{kc['keyword_documents']}{extra}, "
                     f"e-mail users unmasked in excerpts {f['excerpt_check']['unmasked_users']}"
                     f"/{f['excerpt_check']['excerpts']}, "
                     f"load {f['load']:.2f}"))
    if "startup" in r:
        s = r["startup"]
        rows.append(("start-up, 1,000 keywords + rules/",
                     f"{s['warm_cache_s']:.2f} s warm cache, {s['cold_cache_s']:.2f} s cold"))
    for label, d in r.get("daemon", {}).items():
        rows.append((f"daemon path (t.me/s -> match -> store), {label}",
                     f"{d['msg_s']:,.0f} msg/s ({d['messages']} x ~1 KB, {d['stored']} stored), "
                     f"{d['msg_per_cpu_s']:,.0f} msg per CPU-s ("
                     f"{d['main_cpu_s'] / d['messages'] * 1e6:.0f} µs CPU/msg here"
                     + (f" + {d['reader_cpu_s'] / d['messages'] * 1e6:.0f} in the page reader"
                        if d.get("reader_cpu_s") else "")
                     + (f"; loopback server {d['server_cpu_s'] / d['messages'] * 1e6:.0f}"
                        if d.get("server_cpu_s") is not None else "")
                     + f"), load {d['load']:.2f}"
                     + (f"; of {d['seconds']:.2f} s: pipeline busy {d['pipeline_busy_s']:.2f} s, "
                        f"waiting for pages {d['consumer_starved_s']:.2f} s, reader blocked "
                        f"{d['reader_blocked_s']:.2f} s" if d.get("reader_blocked_s") is not None
                        else "")))
    for n, s in r.get("store_dedup", {}).items():
        rows.append((f"store + dedup, {int(n):,} stored", f"{s['docs_s']:,} docs/s, "
                                                          f"load {s['load']:.2f}"))
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


if __name__ == "__main__":
    raise SystemExit(main())
