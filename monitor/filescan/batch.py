"""Scanning inputs slice by slice: in this process, or in a pool of forked workers (one
engine each, inherited copy-on-write) whose results come back in input order, so that the
output is the serial one."""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.errors import LeakmonError
from monitor.filescan import inputs as _inputs
from monitor.filescan import render
from monitor.filescan.inputs import Input
from monitor.matching import forkpool
from monitor.matching.extract import Limits
from monitor.matching.readers.passwords import Password
from monitor.models import Hit

if TYPE_CHECKING:
    from monitor.matching.document_scan import DocumentScan, EngineLike

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Totals:
    """The counts of a scan (or of a slice of it) for its summary and exit status."""

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

    def add(self, o: Totals) -> None:
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


@dataclass(slots=True, frozen=True)
class ScanJob:
    """What every document is scanned with (inherited by forked workers, not pickled)."""

    engine: EngineLike
    limits: Limits
    read_cap: int
    min_rank: int  # hits below this severity rank are dropped
    json: bool  # render `--json` lines, else tables
    passwords: tuple[Password, ...] = ()


@dataclass(slots=True)
class SliceResult:
    """The outcome of scanning consecutive inputs: their rendered output and counts, and the
    errors that stopped some of them. This, not one object per document, is what a worker
    sends back: a folder of 30,000 messages must not cost 30,000 pickles each way."""

    text: str | bytes = ""  # bytes from a worker: encoded there, not in the busy parent
    errors: list[str] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    bytes: int = 0  # the inputs' sizes, for the progress bar
    last: str = ""  # the label of the last input


def scan_slice(job: ScanJob, items: Sequence[Input]) -> SliceResult:
    """Read, scan and render `items` in order: the same code in the serial and the pooled
    scan."""
    from monitor.matching import document_scan  # scan_document looked up per slice: tests wrap it

    scan = document_scan.scan_document
    out = SliceResult()
    texts: list[str] = []
    for item, got in zip(items, _inputs.read_slice(items, job.read_cap), strict=True):
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


def _scan_one(job: ScanJob, item: Input, got: tuple[bytes, int, bool],
              scan: Callable[..., DocumentScan], totals: Totals) -> str:
    """Scan and render one input read by `read_slice`, counting it in `totals`; its output
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
        return render.json_line(item.label, result, hits) if job.json else ""
    if cut:
        result.skipped.append((item.label, f"only the first {len(data)} bytes were read "
                                           "(the larger of max_document_mb and "
                                           "max_unpacked_mb)"))
    if hits:
        hits = sorted((h for h in hits if render.rank(h.severity) >= job.min_rank),
                      key=lambda h: (-render.rank(h.severity), h.rule_id))
    for name, reason in result.skipped:
        log.info("skipped %s: %s", name, reason)
    totals.count(size, hits, len(result.skipped), sum(p.truncated for p in parts))
    if job.json:
        return render.json_line(item.label, result, hits)
    buf = io.StringIO()
    render.print_human(buf, item.label, result, hits)
    return buf.getvalue()


def _scan_packed(job: ScanJob, packed: tuple[str, list[int]]) -> SliceResult:
    """A worker's scan of a slice sent packed by `inputs.pack`."""
    done = scan_slice(job, _inputs.unpack(packed))
    # Encoded here, as sys.stdout would encode it: the parent, whose CPU the workers need,
    # then writes bytes (pickled str and TextIOWrapper.write cost it 7x more per slice).
    if isinstance(done.text, str) and render.stdout_buffer(sys.stdout) is not None:
        done.text = done.text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict")
    return done


def worker_count(requested: int | None, inputs: list[Input]) -> int:
    """Worker processes to use: `requested` (--jobs), else one per usable CPU; 1 (serial)
    for stdin, for a handful of inputs, or where processes cannot be forked."""
    if not forkpool.fork_available():
        return 1
    if any(i.path is None for i in inputs) or len(inputs) < 2 * _inputs.SLICE_FILES:
        return 1
    if requested is not None:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def scan_inputs(job: ScanJob, inputs: Iterable[Input],
                jobs: int) -> Generator[SliceResult, None, None]:
    """The scanned inputs, slice after slice in input order. With jobs > 1, forked workers
    (each inheriting the compiled engine and the mmapped fingerprint sets, shared
    copy-on-write) scan the slices, handed out as the walk finds them, and the results come
    back in order, so the output is the serial one."""
    if jobs <= 1:
        for items in _inputs.slices(inputs):
            yield scan_slice(job, items)
        return
    gc.freeze()  # the engine's objects stay in shared pages: the collector does not touch them
    try:
        # Neither multiprocessing.Pool (its handler thread spins on the result pipe while
        # results wait: 0.45 CPU-s of a 2-core scan of 30,000 messages, taken from the
        # workers) nor ProcessPoolExecutor (its threads and per-task futures: 0.3 CPU-s):
        # forkpool's parent only sleeps in select between slices.
        with contextlib.closing(forkpool.ordered_map(functools.partial(_scan_packed, job),
                                                     map(_inputs.pack, _inputs.slices(inputs)),
                                                     jobs)) as results:
            yield from results
    except forkpool.WorkerDied:
        raise LeakmonError(
            "a scan worker process died (killed by a signal, or out of memory?): the results "
            "printed so far are complete, the inputs after them were not scanned; --jobs 1 "
            "scans in this process") from None
    finally:
        gc.unfreeze()
