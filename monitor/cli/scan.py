"""`leakmon scan`: scan files, folders and stdin with rules and fingerprint sets, once.

No config file and no database are needed: `--rules` and `--fingerprints` are enough. The
same `scan_document` as the daemon does the work, so what this command finds is what the
daemon would alert on. With `--json` stdout carries exactly one JSON object per document;
errors, warnings and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import itertools
import json
import logging
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from monitor.errors import LeakmonError
from monitor.matching import forkpool
from monitor.matching.extract import MB, Limits, printable
from monitor.matching.readers.passwords import Password
from monitor.models import SEVERITIES, Hit, severity_rank
from monitor.paths import resolve_state_dir
from monitor.progress import Progress

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context
    from monitor.matching.document_scan import DocumentScan, EngineLike, PrelistedFolders

log = logging.getLogger(__name__)

PROGRESS_MIN_BYTES = 32 * MB  # below this much input no progress bar is drawn
_READ_CHUNK = 4 * MB

HELP = "scan files, folders and stdin for leaks with rules and fingerprint sets"
DESCRIPTION = """\
Scan files, folders (recursively) and stdin (`-`) with rule files and fingerprint
sets, and print what matched. Reads txt, csv, json, sql and anything textual, also
inside zip, tar, gz, bz2 and xz archives (capped against decompression bombs); odd
encodings (UTF-16, cp1252, broken UTF-8) are decoded best-effort. Excerpts are
redacted. No config file is needed.

exit status: 0 done (hits or not), 1 with --fail-on-hit when anything matched,
2 on usage errors, on a rule file with errors (the usable rules are still run:
`leakmon rules check` lists every problem), or when an input could not be read
or scanned (the others are still scanned)."""

EPILOG = """\
examples:
  leakmon scan --rules rules/ dump.csv leaks/           files and folders
  cat paste.txt | leakmon scan --rules rules/ -         stdin
  leakmon scan --fingerprints patients --json dump.zip  our records, JSON lines
  leakmon scan --rules rules/ --min-severity high --fail-on-hit inbox/

--json prints one object per document and line:
  {"path": ..., "bytes": N, "hits": [{"rule": ID, "severity": ..., "count": N,
   "records": [RECORD_ID, ...], "excerpt": REDACTED, ...}], "skipped": [...], ...}"""


def register(sub: Commands) -> None:
    p = sub.add_parser("scan", help=HELP, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="file, folder (scanned recursively) or - for stdin")
    p.add_argument("--rules", action="append", metavar="PATH", default=None,
                   help="rule file or folder (repeatable); default: `rules` from the config")
    p.add_argument("--fingerprints", action="append", metavar="NAME", default=None,
                   help="fingerprint set to look for (repeatable); default: the config's")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per scanned document per line on stdout")
    p.add_argument("--min-severity", choices=SEVERITIES, metavar="S", default=None,
                   help=f"hide hits below this severity ({', '.join(SEVERITIES)})")
    p.add_argument("--fail-on-hit", action="store_true",
                   help="exit with status 1 when any (shown) hit was found")
    p.add_argument("--password", action="append", metavar="PW", default=[],
                   help="password to try on locked zip/7z/PDF inputs (repeatable; the notes "
                        "name the option that worked, never the password)")
    p.add_argument("--jobs", "-j", type=int, metavar="N", default=None,
                   help="worker processes for folders of many files (default: one per CPU; "
                        "1 = no pool); the output order is the same either way")
    p.set_defaults(func=run)


@dataclass(slots=True)
class _Input:
    """One document to scan: a file path, or stdin when `path` is None."""

    label: str
    path: str | None
    size: int


@dataclass(slots=True)
class _Totals:
    documents: int = 0
    bytes: int = 0
    with_hits: int = 0
    hits: int = 0
    skipped: int = 0
    truncated: int = 0
    errors: int = 0
    rule_errors: int = 0  # problems of the rule files (errors, not warnings)
    by_severity: dict[str, int] = field(default_factory=dict)

    def count(self, size: int, hits: list[Hit], skipped: int, truncated: int) -> None:
        """Count one scanned document (its hits: those shown, after --min-severity)."""
        self.documents += 1
        self.bytes += size
        if hits:
            self.hits += len(hits)
            self.with_hits += 1
            for h in hits:
                self.by_severity[h.severity] = self.by_severity.get(h.severity, 0) + 1
        self.skipped += skipped
        self.truncated += truncated

    def add(self, o: _Totals) -> None:
        """Fold in the counts of a slice of the inputs (scanned here or by a worker)."""
        self.documents += o.documents
        self.bytes += o.bytes
        self.with_hits += o.with_hits
        self.hits += o.hits
        self.skipped += o.skipped
        self.truncated += o.truncated
        self.errors += o.errors
        for sev, n in o.by_severity.items():
            self.by_severity[sev] = self.by_severity.get(sev, 0) + n


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Scan every input and print one result per document; see DESCRIPTION for the exit
    status."""
    from monitor.matching.document_scan import PrelistedFolders
    from monitor.matching.loader import load_engine

    # The folders are listed on the other core while this one loads the engine.
    prelisted = PrelistedFolders([p for p in args.paths if p != "-"])
    config = ctx.config
    limits = Limits.from_config(config.matching)
    state_dir = resolve_state_dir(ctx.state_dir_arg, config.state_dir)
    loaded = load_engine(config, state_dir, rule_paths=args.rules,
                         fingerprint_names=args.fingerprints)
    prelisted.join()  # before any worker is forked
    job = _Job(loaded.engine, limits, max(limits.max_document_bytes, limits.max_unpacked_bytes) + 1,
               severity_rank(args.min_severity) if args.min_severity else 0, args.json,
               tuple(Password(pw, "--password") for pw in dict.fromkeys(args.password)))
    out = sys.stdout
    # A broken rule file among good ones: its rules are missing from this scan, which must
    # not pass for a clean one (a --fail-on-hit script would see 0); the loader logged why.
    totals = _Totals(rule_errors=sum(p.severity == "error" for p in loaded.problems))
    started = time.monotonic()

    # The walk of a big folder runs on into the scan (the pool takes slices as they are
    # found, the workers scan the first ones meanwhile) unless a progress bar will be drawn:
    # the bar needs the total first.
    walked = _Totals()  # the walk's errors
    listing = _expand(args.paths, walked, prelisted)
    first = list(itertools.islice(listing, None if _bar_wanted() else 2 * _SLICE_FILES))
    jobs = 1 if "-" in args.paths else _jobs(args.jobs, first)
    inputs = itertools.chain(first, listing)
    out.flush()  # a pooled slice's output is written to out's buffer, after whatever came first
    with Progress(sum(i.size for i in first), label="scanning",
                  min_total=PROGRESS_MIN_BYTES) as bar, \
            contextlib.closing(_outcomes(job, inputs, jobs)) as outcomes:
        for done in outcomes:
            bar.close()
            for message in done.errors:
                _error(message)
            totals.add(done.totals)
            _write_output(out, done.text)
            bar.advance(done.bytes, item=done.last)
    totals.add(walked)
    if not args.json:
        _print_summary(out, totals, time.monotonic() - started)
    out.flush()
    if args.fail_on_hit and totals.hits:
        return 1
    return 2 if totals.errors or totals.rule_errors else 0


# --- one document, and the worker pool -----------------------------------------------------


@dataclass(slots=True, frozen=True)
class _Job:
    """What every document is scanned with (inherited by forked workers, not pickled)."""

    engine: EngineLike
    limits: Limits
    read_cap: int
    min_rank: int
    json: bool
    passwords: tuple[Password, ...] = ()


@dataclass(slots=True)
class _Slice:
    """The outcome of scanning consecutive inputs: their rendered output and counts, and the
    errors that stopped some of them. This, not one object per document, is what a worker
    sends back: a folder of 30,000 messages must not cost 30,000 pickles each way."""

    text: str | bytes = ""  # bytes from a worker: encoded there, not in the busy parent
    errors: list[str] = field(default_factory=list)
    totals: _Totals = field(default_factory=_Totals)
    bytes: int = 0  # the inputs' sizes, for the progress bar
    last: str = ""  # the label of the last input


def _scan_slice(job: _Job, items: Sequence[_Input]) -> _Slice:
    """Read, scan and render `items` in order: the same code in the serial and the pooled
    scan."""
    from monitor.matching import document_scan  # scan_document looked up per slice: tests wrap it

    scan = document_scan.scan_document
    out = _Slice()
    texts: list[str] = []
    for item, got in zip(items, _read_slice(items, job.read_cap), strict=True):
        try:
            if isinstance(got, str):
                raise _DocumentError(got)
            texts.append(_scan_one(job, item, got, scan, out.totals))
        except _DocumentError as e:
            out.errors.append(str(e))
            out.totals.errors += 1
    out.bytes = sum(i.size for i in items)
    out.last = items[-1].label if items else ""
    out.text = "".join(texts)
    return out


class _DocumentError(Exception):
    """One input could not be read or scanned (the message is the error line)."""


def _scan_one(job: _Job, item: _Input, got: tuple[bytes, int, bool],
              scan: Callable[..., DocumentScan], totals: _Totals) -> str:
    """Scan and render one input read by `_read_slice`, counting it in `totals`; its output
    text."""
    data, size, cut = got
    try:
        result = scan(job.engine, data, item.label, job.limits, passwords=job.passwords)
    except Exception as e:  # one document must not end the scan of all the others
        log.debug("scan of %s failed", item.label, exc_info=True)
        raise _DocumentError(f"scanning {item.label} failed: {type(e).__name__}: {e} "
                             "(a bug: please report it; --log-level debug shows the "
                             "traceback)") from None
    result.bytes = size
    hits = result.hits
    parts = result.parts
    if not (hits or cut or result.skipped) and len(parts) == 1 and not parts[0].truncated:
        totals.documents += 1  # most documents: one clean text part (totals.count, in short)
        totals.bytes += size
        return _json_line(item.label, result, hits) if job.json else ""
    if cut:
        result.skipped.append((item.label, f"only the first {len(data)} bytes were read "
                                           "(the larger of max_document_mb and "
                                           "max_unpacked_mb)"))
    if hits:
        hits = sorted((h for h in hits if _rank(h.severity) >= job.min_rank),
                      key=lambda h: (-_rank(h.severity), h.rule_id))
    for name, reason in result.skipped:
        log.info("skipped %s: %s", name, reason)
    totals.count(size, hits, len(result.skipped), sum(p.truncated for p in parts))
    if job.json:
        return _json_line(item.label, result, hits)
    buf = io.StringIO()
    _print_human(buf, item.label, result, hits)
    return buf.getvalue()


# Inputs per task: small enough to balance, large enough to amortize IPC. 128 messages of
# 3 KB are ~4 ms of a worker's time; 64 cost a 2-core scan of 31,646 of them ~7 % more wall
# time in the parent's and the workers' per-task work (bench.small_bench).
_SLICE_FILES = 128
_SLICE_BYTES = 8 * MB  # ... and fewer when they are big, so the progress bar keeps moving
_SLICE_NAMES = 16 * 1024  # ... and when their paths are long: a task stays well within a pipe


def _slices(inputs: Iterable[_Input]) -> Iterator[list[_Input]]:
    """Consecutive runs of inputs of at most _SLICE_FILES files and about _SLICE_BYTES
    bytes (a single bigger file is a slice of its own), taken as the inputs come."""
    run: list[_Input] = []
    size = names = 0
    for item in inputs:
        run.append(item)
        size += item.size
        names += len(item.label)
        if len(run) >= _SLICE_FILES or size >= _SLICE_BYTES or names >= _SLICE_NAMES:
            yield run
            run, size, names = [], 0, 0
    if run:
        yield run


def _task(items: list[_Input]) -> tuple[str, list[int]]:
    """A slice of files as a worker is sent it: their paths joined by NUL (which no path
    holds) and their sizes; pickling one dataclass per file cost more than scanning it."""
    return "\0".join([i.path for i in items if i.path is not None]), [i.size for i in items]


def _scan_task(job: _Job, task: tuple[str, list[int]]) -> _Slice:
    """A worker's scan of a slice sent by `_task` (files only: stdin is scanned serially)."""
    paths, sizes = task
    done = _scan_slice(job, [_Input(p, p, n) for p, n in zip(paths.split("\0"), sizes,
                                                              strict=True)])
    # Encoded here, as sys.stdout would encode it: the parent, whose CPU the workers need,
    # then writes bytes (pickled str and TextIOWrapper.write cost it 7x more per slice).
    if isinstance(done.text, str) and _stdout_buffer(sys.stdout) is not None:
        done.text = done.text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict")
    return done


def _stdout_buffer(out: TextIO) -> BinaryIO | None:
    """The binary layer under `out`, when it has one that writes bytes unchanged (not when a
    newline translation or a test's StringIO is in the way)."""
    buffer = getattr(out, "buffer", None)
    if buffer is None or os.linesep != "\n":
        return None
    return buffer


def _write_output(out: TextIO, text: str | bytes) -> None:
    if isinstance(text, str):
        out.write(text)
        return
    buffer = _stdout_buffer(out)
    if buffer is None:  # pragma: no cover (a worker encodes only where the parent has one)
        out.write(text.decode(out.encoding or "utf-8", out.errors or "strict"))
    else:
        buffer.write(text)


def _jobs(requested: int | None, inputs: list[_Input]) -> int:
    """Worker processes to use: --jobs, else one per usable CPU; 1 (serial) for stdin, for
    a handful of inputs, or where processes cannot be forked."""
    if not forkpool.fork_available():
        return 1
    if any(i.path is None for i in inputs) or len(inputs) < 2 * _SLICE_FILES:
        return 1
    if requested is not None:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def _outcomes(job: _Job, inputs: Iterable[_Input],
              jobs: int) -> Generator[_Slice, None, None]:
    """The scanned inputs, slice after slice in input order. With jobs > 1, forked workers
    (each inheriting the compiled engine and the mmapped fingerprint sets, shared
    copy-on-write) scan the slices, handed out as the walk finds them, and the results come
    back in order, so the output is the serial one."""
    if jobs <= 1:
        for items in _slices(inputs):
            yield _scan_slice(job, items)
        return
    gc.freeze()  # the engine's objects stay in shared pages: the collector does not touch them
    try:
        # Neither multiprocessing.Pool (its handler thread spins on the result pipe while
        # results wait: 0.45 CPU-s of a 2-core scan of 30,000 messages, taken from the
        # workers) nor ProcessPoolExecutor (its threads and per-task futures: 0.3 CPU-s):
        # forkpool's parent only sleeps in select between slices.
        with contextlib.closing(forkpool.ordered_map(functools.partial(_scan_task, job),
                                                     map(_task, _slices(inputs)),
                                                     jobs)) as results:
            yield from results
    except forkpool.WorkerDied:
        raise LeakmonError(
            "a scan worker process died (killed by a signal, or out of memory?): the results "
            "printed so far are complete, the inputs after them were not scanned; --jobs 1 "
            "scans in this process") from None
    finally:
        gc.unfreeze()


def _bar_wanted() -> bool:
    """Whether a progress bar may be drawn (stderr is a terminal): see Progress."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _rank(severity: str) -> int:
    try:
        return severity_rank(severity)
    except ValueError:
        return 0


def _error(message: str) -> None:
    _stderr_line(f"leakmon: error: {printable(message)}")


def _stderr_line(line: str) -> None:
    """One whole line to stderr in one write (a warning of the walk between the documents'
    errors)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# --- inputs --------------------------------------------------------------------------------


def _expand(paths: list[str], totals: _Totals,
            prelisted: PrelistedFolders | None = None) -> Iterator[_Input]:
    """Files in the order given; folders walked recursively in sorted order (their listings
    taken from `prelisted` when it has them); `-` is stdin."""
    for raw in paths:
        if raw == "-":
            yield _Input("-", None, 0)
            continue
        try:
            st = os.stat(raw)
        except OSError as e:
            totals.errors += 1
            _error(f"cannot read {raw}: {e.strerror or e}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(raw, totals, prelisted)
        elif stat.S_ISREG(st.st_mode):
            yield _Input(raw, raw, st.st_size)
        else:
            totals.errors += 1
            _error(f"cannot scan {raw}: not a regular file or folder")


def _walk_dir(root: str, totals: _Totals,
              prelisted: PrelistedFolders | None = None) -> Iterator[_Input]:
    """Every regular file under `root`: a folder's files (sorted by name) first, then its
    subfolders in sorted order, as `os.walk` would give them. One C call per folder
    (`list_folder`: its entries listed, classified, stat'ed and sorted as `os.scandir` and
    its DirEntry would give them) and runs of plain files made inputs by `map`: a folder of
    30,000 messages must not cost more to list than to scan.

    Symlinked folders are not followed: a link loop must not make the scan endless. Linked
    files are read only when they stay inside the folder given (no /etc/shadow by a link)."""
    from monitor.matching.document_scan import (
        LISTED_DIR,
        LISTED_ERROR,
        LISTED_FILE,
        LISTED_LINKED_FILE,
        list_folder,
    )

    not_a_file = re.compile(b"[^%c]" % LISTED_FILE).finditer
    top = Path(root).resolve()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            listed = prelisted.take(folder) if prelisted is not None and folder is root else None
            paths, codes, values = listed or list_folder(folder)
        except OSError as e:
            totals.errors += 1
            _error(f"cannot read {e.filename}: {e.strerror or e}")
            continue
        subdirs = []
        done = 0  # the entries before this one are yielded or set aside
        for i in [*(m.start() for m in not_a_file(codes)), len(paths)]:
            if done < i:  # a run of plain files
                run = paths[done:i]
                yield from map(_Input, run, run, values[done:i])
            done = i + 1
            if i == len(paths):
                break
            code, path = codes[i], paths[i]
            if code == LISTED_DIR:
                subdirs.append(path)
            elif code == LISTED_LINKED_FILE:
                try:
                    inside = _linked_file(path, top, root)
                except OSError as e:
                    totals.errors += 1
                    _error(f"cannot read {path}: {e.strerror or e}")
                    continue
                if inside:
                    yield _Input(path, path, values[i])
            elif code == LISTED_ERROR:
                totals.errors += 1
                _error(f"cannot read {path}: {os.strerror(values[i])}")
            # else sockets, fifos, dangling links, links to folders
        stack.extend(reversed(subdirs))


def _linked_file(path: str, top: Path, root: str) -> bool:
    """Whether the link `path` to a file may be read: the file it resolves to is inside the
    folder given (`top`, `root` resolved), else a warning."""
    if Path(path).resolve().is_relative_to(top):
        return True
    _stderr_line(f"leakmon: warning: skipped {printable(path)}: a link "
                 f"to a file outside {printable(root)}")
    return False


def _read_slice(items: Sequence[_Input], cap: int) -> list[tuple[bytes, int, bool] | str]:
    """`_read` of each input (its data, size and whether it was cut), or the error line that
    stopped it. The files are read by one C call for the slice (open, read, close each);
    only a file that turns out bigger than the walk saw, or than the cap, is read again
    here, by `_read`."""
    from monitor.matching.document_scan import read_files

    paths = [i.path for i in items if i.path is not None]
    sizes = [i.size for i in items if i.path is not None]
    raw = iter(read_files(os.fsencode("\0".join(paths)), sizes, cap) if paths else ())
    out: list[tuple[bytes, int, bool] | str] = []
    for item in items:
        got = next(raw) if item.path is not None else None
        if isinstance(got, int):
            out.append(f"cannot read {item.label}: {os.strerror(got)}")
        elif got is not None and len(got) <= item.size and len(got) <= cap:
            out.append((got, len(got), False))
        else:  # stdin, or a file that grew or is bigger than the cap
            try:
                out.append(_read(item, cap))
            except OSError as e:
                out.append(f"cannot read {item.label}: {e.strerror or e}")
    return out


def _read(item: _Input, cap: int) -> tuple[bytes, int, bool]:
    """At most `cap` bytes of the input, its size (files: the full size) and whether there
    was more than was read. A file is opened once and read with one `read` call of the
    size the walk saw (+1 to notice growth), no buffered-reader layer and no fstat."""
    if item.path is None:
        stream = sys.stdin.buffer
        chunks, got = [], 0
        while got < cap:
            chunk = stream.read(min(_READ_CHUNK, cap - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        # Beyond the cap we only note that there was more (stdin may never end).
        return data, len(data), got >= cap and bool(stream.read(1))
    fd = os.open(item.path, _OPEN_FLAGS)
    try:
        want = min(cap, item.size) + 1
        chunks, got = [], 0
        while got < want:
            chunk = os.read(fd, want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got == item.size < want:
                break  # a short read of what the walk announced: the end, no read() for EOF
            if got == want and want <= cap:  # the file grew: read on up to the cap
                want = cap + 1
        # the full size only matters (and costs an fstat) when there is more than we read
        size = os.fstat(fd).st_size if got > cap else got
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    more = len(data) > cap
    if more:
        data = data[:cap]
    return data, max(size, len(data) + more), more


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


# --- output --------------------------------------------------------------------------------


def _json_line(label: str, result: DocumentScan, hits: list[Hit]) -> str:
    """The document's `--json` line (with its newline): `json.dumps` of `_json_object`, with
    the fixed frame written directly (most documents are a small message with no hit, and
    building then encoding their dict cost as much as scanning them)."""
    s = _JSON_STR
    if not hits and not result.skipped and len(result.parts) == 1:
        p = result.parts[0]  # most documents: one clean text part, no hit
        if not p.truncated and p.encoding is not None and p.note is None:
            path = s(label)
            line = (f'{{"path": {path}, "bytes": {result.bytes}, "hits": [], "parts": '
                    f'[{{"name": {path if p.name == label else s(p.name)}, "bytes": {p.bytes}, '
                    f'"encoding": {s(p.encoding)}, "truncated": false}}], "skipped": [], '
                    '"truncated": false}')
            if not line.isascii() and _JSON_UNSAFE_CHAR.search(line):
                line = line.translate(_JSON_UNSAFE)
            return line + "\n"
    parts = ", ".join(
        f'{{"name": {s(p.name)}, "bytes": {p.bytes}, '
        f'"encoding": {"null" if p.encoding is None else s(p.encoding)}, '
        f'"truncated": {"true" if p.truncated else "false"}'
        + (f', "note": {s(p.note)}}}' if p.note else "}")
        for p in result.parts)
    skipped = ", ".join(f'{{"part": {s(name)}, "reason": {s(reason)}}}'
                        for name, reason in result.skipped)
    line = (f'{{"path": {s(label)}, "bytes": {result.bytes}, '
            f'"hits": [{", ".join(map(_hit_json, hits))}], '
            f'"parts": [{parts}], "skipped": [{skipped}], '
            f'"truncated": {"true" if result.truncated else "false"}}}')
    if not line.isascii() and _JSON_UNSAFE_CHAR.search(line):
        line = line.translate(_JSON_UNSAFE)  # rare: one C search spares the translate
    return line + "\n"


def _hit_json(hit: Hit) -> str:
    """`Hit.to_json` as JSON, written directly for a hit without records (the common one:
    a keyword, a combo list, a dump of NIRs)."""
    if hit.fingerprint_set is not None or type(hit.count) is not int \
            or not isinstance(hit.excerpt, str):
        return _JSON.encode(hit.to_json())
    s = _JSON_STR
    return (f'{{"rule": {s(hit.rule_id)}, "severity": {s(hit.severity)}, "count": {hit.count}, '
            f'"excerpt": {s(hit.excerpt)}, "title": {s(hit.title)}, '
            f'"tags": [{", ".join(map(s, hit.tags))}]}}')


def _json_object(label: str, result: DocumentScan, hits: list[Hit]) -> dict:
    """The document's `--json` object, as a dict (what `_json_line` writes)."""
    return {
        "path": label,
        "bytes": result.bytes,
        "hits": [h.to_json() for h in hits],
        "parts": [p.to_json() for p in result.parts],
        "skipped": [{"part": name, "reason": reason} for name, reason in result.skipped],
        "truncated": result.truncated,
    }


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps builds one per call otherwise
_JSON_STR = json.encoder.encode_basestring  # a str as JSON, non-ASCII kept (the C one)


def _human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _records_cell(hit: Hit) -> str:
    if hit.fingerprint_set is None:
        return "-"
    ids = [r.record_id for r in hit.records]
    shown = ", ".join(ids[:3])
    more = f" +{len(ids) - 3}" if len(ids) > 3 else ""
    canary = " (canary!)" if hit.canary else ""
    return f"{len(ids)}: {shown}{more}{canary}" if ids else "0"


def _one_line(text: str) -> str:
    """Whitespace collapsed, and anything a terminal would interpret shown escaped."""
    return printable(" ".join(text.split()))


# JSON escapes C0 controls itself; DEL and C1 controls (U+009B is a CSI on some terminals)
# and the bidi overrides are escaped too, so that `--json` on a terminal is inert.
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), *range(0x202A, 0x202F),
                                             *range(0x2066, 0x206A), 0x2028, 0x2029)}
_JSON_UNSAFE_CHAR = re.compile("[" + "".join(map(chr, _JSON_UNSAFE)) + "]")


def _print_human(out: TextIO, label: str, result: DocumentScan, hits: list[Hit]) -> None:
    """A table per document with hits; documents with no hit and nothing skipped are only
    counted in the summary (a folder of 10,000 clean files must stay readable)."""
    notes = [(printable(name), printable(reason)) for name, reason in result.skipped]
    notes += [(printable(p.name), p.note) for p in result.parts if p.truncated and p.note]
    if not hits and not notes:
        return
    head = f"{'- (stdin)' if label == '-' else printable(label)}  ({_human_size(result.bytes)})"
    out.write(head + (f"  {len(hits)} hit(s)\n" if hits else "  no hits\n"))
    if hits:
        rows = [("SEVERITY", "RULE", "COUNT", "RECORDS", "EXCERPT")]
        rows += [(h.severity, h.rule_id, str(h.count), _records_cell(h), _one_line(h.excerpt))
                 for h in hits]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        width = shutil.get_terminal_size((160, 24)).columns if out.isatty() else 160
        room = max(30, width - sum(widths) - 2 - 2 * 4)
        for r in rows:
            excerpt = r[4] if len(r[4]) <= room else r[4][: room - 3] + "..."
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]),
                     r[3].ljust(widths[3]), excerpt]
            out.write(("  " + "  ".join(cells)).rstrip() + "\n")
    for name, reason in notes:
        out.write(f"  ! {name}: {reason}\n")
    out.write("\n")


def _print_summary(out: TextIO, t: _Totals, seconds: float) -> None:
    parts = [f"scanned {t.documents} document(s) ({_human_size(t.bytes)}) in {seconds:.2f} s",
             f"{t.hits} hit(s) in {t.with_hits} document(s)"]
    if t.by_severity:
        order = sorted(t.by_severity, key=_rank, reverse=True)
        parts[-1] += " (" + ", ".join(f"{t.by_severity[s]} {s}" for s in order) + ")"
    if t.skipped:
        parts.append(f"{t.skipped} part(s) skipped")
    if t.truncated:
        parts.append(f"{t.truncated} part(s) truncated")
    if t.errors:
        parts.append(f"{t.errors} input(s) unreadable")
    if t.rule_errors:
        parts.append(f"{t.rule_errors} rule error(s), the rules concerned not run "
                     "(leakmon rules check lists them)")
    out.write("; ".join(parts) + "\n")
