"""`leakmon scan`: scan files, folders and stdin with rules and fingerprint sets, once.

No config file and no database are needed: `--rules` and `--fingerprints` are enough. The
same `scan_document` as the daemon does the work, so what this command finds is what the
daemon would alert on. With `--json` stdout carries exactly one JSON object per document;
errors, warnings and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import time
from typing import TYPE_CHECKING

from monitor.filescan import batch, inputs, render
from monitor.matching.extract import MB, Limits, printable
from monitor.matching.readers.passwords import Password
from monitor.models import SEVERITIES, severity_rank
from monitor.paths import resolve_state_dir
from monitor.progress import Progress

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

PROGRESS_MIN_BYTES = 32 * MB  # below this much input no progress bar is drawn

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


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Scan every input and print one result per document; see DESCRIPTION for the exit
    status."""
    from monitor.matching.folders import PrelistedFolders
    from monitor.matching.loader import load_engine

    # The folders are listed on the other core while this one loads the engine.
    prelisted = PrelistedFolders([p for p in args.paths if p != "-"])
    config = ctx.config
    limits = Limits.from_config(config.matching)
    state_dir = resolve_state_dir(ctx.state_dir_arg, config.state_dir)
    loaded = load_engine(config, state_dir, rule_paths=args.rules,
                         fingerprint_names=args.fingerprints)
    prelisted.join()  # before any worker is forked
    job = batch.ScanJob(
        loaded.engine, limits, max(limits.max_document_bytes, limits.max_unpacked_bytes) + 1,
        severity_rank(args.min_severity) if args.min_severity else 0, args.json,
        tuple(Password(pw, "--password") for pw in dict.fromkeys(args.password)))
    out = sys.stdout
    # A broken rule file among good ones: its rules are missing from this scan, which must
    # not pass for a clean one (a --fail-on-hit script would see 0); the loader logged why.
    totals = batch.Totals(rule_errors=sum(p.severity == "error" for p in loaded.problems))
    started = time.monotonic()

    def walk_error(message: str) -> None:
        totals.errors += 1
        _error(message)

    # The walk of a big folder runs on into the scan (the pool takes slices as they are
    # found, the workers scan the first ones meanwhile) unless a progress bar will be drawn:
    # the bar needs the total first.
    listing = inputs.expand(args.paths, walk_error, _warning, prelisted)
    first = list(itertools.islice(listing, None if _bar_wanted() else 2 * inputs.SLICE_FILES))
    jobs = 1 if "-" in args.paths else batch.worker_count(args.jobs, first)
    out.flush()  # a pooled slice's output is written to out's buffer, after whatever came first
    with Progress(sum(i.size for i in first), label="scanning",
                  min_total=PROGRESS_MIN_BYTES) as bar, \
            contextlib.closing(batch.scan_inputs(job, itertools.chain(first, listing),
                                                 jobs)) as outcomes:
        for done in outcomes:
            bar.close()
            for message in done.errors:
                _error(message)
            totals.add(done.totals)
            render.write_output(out, done.text)
            bar.advance(done.bytes, item=done.last)
    if not args.json:
        render.print_summary(out, totals, time.monotonic() - started)
    out.flush()
    if args.fail_on_hit and totals.hits:
        return 1
    return 2 if totals.errors or totals.rule_errors else 0


def _bar_wanted() -> bool:
    """Whether a progress bar may be drawn (stderr is a terminal): see Progress."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _error(message: str) -> None:
    _stderr_line(f"leakmon: error: {printable(message)}")


def _warning(message: str) -> None:
    _stderr_line(f"leakmon: warning: {message}")


def _stderr_line(line: str) -> None:
    """One whole line to stderr in one write (a warning of the walk between the documents'
    errors)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
