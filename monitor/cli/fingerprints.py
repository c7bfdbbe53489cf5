"""`leakmon fingerprints import|list|info|remove`: manage fingerprint sets of our own records."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.errors import FingerprintError
from monitor.matching import kinds
from monitor.matching.fingerprints import (
    FieldSpec,
    ImportReport,
    import_csv,
    list_sets,
    remove_set,
    set_info,
)
from monitor.matching.fingerprints.build import MAX_LISTED, ProblemCount
from monitor.matching.keys import key_id, load_key
from monitor.progress import Progress

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

PROGRESS_MIN_BYTES = 5 * 1024 * 1024  # smaller CSVs import in a few seconds: no bar

IMPORT_HELP = f"""\
Build fingerprint set NAME from a CSV file with a header row. Each --field value is
normalized by its KIND and hashed (HMAC-SHA-256) under the fingerprint key; only the hashes,
the record ids and counts are written to <state-dir>/fingerprints/NAME/.

kinds: {", ".join(kinds.names())}
  unique identifiers ({", ".join(k for k in kinds.names() if k in kinds.unique_names())}) \
recognize a record on their own;
  last_name + first_name + date (the first date column: birth date) recognize it together;
  every other field only corroborates (raises the confidence).

example:
  leakmon fingerprints import patients patients.csv --id-column id \\
      --field nir=fr_nir --field nom=last_name --field prenom=first_name \\
      --field naissance=date --field email=email --field tel=phone --canary-column canary
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("fingerprints", help="import, list, inspect and remove fingerprint sets",
                       description="Fingerprint sets: keyed hashes of your own records, used "
                                   "to recognize them in leaked dumps.")
    fsub = sub.subcommands(p, dest="fp_command", title="subcommands")

    imp = fsub.add_parser("import", help="build a set from a CSV file", description=IMPORT_HELP)
    imp.add_argument("name", metavar="NAME", help="set name (letters, digits, _ . -)")
    imp.add_argument("csv", metavar="CSV", type=Path, help="CSV file with a header row")
    imp.add_argument("--id-column", required=True, metavar="COL",
                     help="column holding the record id (stored in clear, reported in hits)")
    imp.add_argument("--field", action="append", required=True, metavar="COL=KIND",
                     dest="fields", help="a column to fingerprint and its kind (repeatable)")
    imp.add_argument("--canary-column", metavar="COL",
                     help="column marking planted canary records (1/true/yes/x)")
    imp.add_argument("--delimiter", default=",", help="CSV delimiter (default ',')")
    imp.add_argument("--encoding", default="utf-8-sig",
                     help="CSV encoding (default utf-8-sig: UTF-8, with or without a BOM)")
    imp.add_argument("--region", metavar="CC", default=None,
                     help="default phone region (default: [matching].phone_region, FR)")
    imp.add_argument("--replace", action="store_true", help="overwrite an existing set NAME")
    imp.set_defaults(func=cmd_import)

    ls = fsub.add_parser("list", help="list the sets in the state directory")
    ls.add_argument("--json", action="store_true", help="one JSON object per set, per line")
    ls.set_defaults(func=cmd_list)

    info = fsub.add_parser("info", help="show one set: records, fields, creation time, key")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.set_defaults(func=cmd_info)

    rm = fsub.add_parser("remove", help="delete a set")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=cmd_remove)


def _lines(problem: ProblemCount) -> str:
    """"line 4" or "lines 4, 9 and 12 more" (CSV line numbers, header = line 1)."""
    shown = ", ".join(str(r) for r in problem.rows)
    more = problem.count - len(problem.rows)
    word = "line" if problem.count == 1 else "lines"
    return f"{word} {shown}{f' and {more} more' if more > 0 else ''}"


def _print_report(report: ImportReport, csv_path: Path, fields: list[FieldSpec]) -> None:
    canaries = f" ({report.canaries} canar{'y' if report.canaries == 1 else 'ies'})" \
        if report.canaries else ""
    print(f"fingerprint set {report.name!r}: {report.records} records{canaries} "
          f"from {report.rows_read} rows of {csv_path.name}")
    print("  fields: " + ", ".join(f"{f.column}={f.kind}" for f in fields))
    print(f"  written to {report.path} (keyed hashes and record ids only)")
    err = sys.stderr
    for warning in report.warnings:
        print(f"warning: {warning}", file=err)
    if report.unusable_rows.count:
        print(f"warning: {report.unusable_rows.count} row(s) with unusable values, kept with "
              f"their other fields: {_lines(report.unusable_rows)}", file=err)
        for column, problem in report.unusable.items():
            print(f"  column {column!r}: {problem.count} ({_lines(problem)})", file=err)
    if report.no_usable_field.count:
        print(f"warning: {report.no_usable_field.count} row(s) without any usable value, left "
              f"out: {_lines(report.no_usable_field)}", file=err)
    for label, problem in (("empty id", report.empty_id), ("duplicate id", report.duplicate_id)):
        for line in problem.rows:
            print(f"error: {csv_path}: line {line}: {label}; row left out", file=err)
        if problem.count > len(problem.rows):
            print(f"error: ... and {problem.count - len(problem.rows)} more rows with "
                  f"{label} (first {MAX_LISTED} shown)", file=err)


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    fields = [FieldSpec.parse(text) for text in args.fields]
    region = (args.region or ctx.config.matching.phone_region).upper()
    state_dir = ctx.state_dir
    key = load_key(state_dir, create=True)
    try:
        big = args.csv.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        big = False  # import_csv reports the unreadable file
    with Progress(None, label=f"importing {args.name}", unit="rows",
                  enabled=big and sys.stderr.isatty()) as bar:
        report = import_csv(state_dir, args.name, args.csv, id_column=args.id_column,
                            fields=fields, key=key, canary_column=args.canary_column,
                            delimiter=args.delimiter, encoding=args.encoding, region=region,
                            replace=args.replace,
                            progress=lambda rows: bar.advance(rows - bar.done))
    _print_report(report, args.csv, fields)
    return 1 if report.errors else 0


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    sets = list_sets(ctx.state_dir)
    if args.json:
        for info in sets:
            print(json.dumps(info.to_json()))
        return 0
    if not sets:
        print(f"no fingerprint sets in {ctx.state_dir}")
        return 0
    rows = [("NAME", "RECORDS", "CANARIES", "FIELDS", "CREATED")]
    rows += [(s.name, str(s.records), str(s.canaries),
              ",".join(dict.fromkeys(f["kind"] for f in s.fields)), s.created) for s in sets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _key_status(state_dir: Path, set_key_id: str) -> str:
    try:
        key = load_key(state_dir, create=False)
    except FingerprintError as e:
        return f"unavailable ({e})"
    return "matches the current key" if key_id(key) == set_key_id else \
        "DIFFERENT from the current key: matching would find nothing; re-import the set"


def cmd_info(ctx: Context, args: argparse.Namespace) -> int:
    info = set_info(ctx.state_dir, args.name)
    status = _key_status(ctx.state_dir, info.key_id)
    if args.json:
        print(json.dumps({**info.to_json(), "key_status": status}, indent=2))
        return 0
    kinds = {f["kind"] for f in info.fields}
    print(f"name:            {info.name}")
    print(f"records:         {info.records}")
    print(f"canaries:        {info.canaries}")
    print("fields:          " + ", ".join(f"{f['column']}={f['kind']}" for f in info.fields))
    print("name+birth date: " + ("yes" if {"last_name", "first_name", "date"} <= kinds
                                 else "no (needs last_name, first_name and date fields)"))
    print(f"created:         {info.created}")
    print(f"unusable rows:   {info.unusable_rows} (at import)")
    print(f"size:            {info.size_bytes / 1024:.1f} KiB")
    print(f"key id:          {info.key_id} ({status})")
    print(f"path:            {info.path}")
    return 0


def cmd_remove(ctx: Context, args: argparse.Namespace) -> int:
    path = remove_set(ctx.state_dir, args.name)
    print(f"removed fingerprint set {args.name!r} ({path})")
    return 0
