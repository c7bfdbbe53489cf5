"""What `leakmon scan` prints of a document: its `--json` line, or a table of its hits, and
the summary line after them all."""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import TYPE_CHECKING, BinaryIO, TextIO

from monitor.matching.extract import printable
from monitor.models import Hit, severity_rank

if TYPE_CHECKING:
    from monitor.filescan.batch import Totals
    from monitor.matching.document_scan import DocumentScan


def json_line(label: str, result: DocumentScan, hits: list[Hit]) -> str:
    """The document's `--json` line (with its newline): `json.dumps` of `json_object`, with
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
                line = line.translate(JSON_UNSAFE)
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
        line = line.translate(JSON_UNSAFE)  # rare: one C search spares the translate
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


def json_object(label: str, result: DocumentScan, hits: list[Hit]) -> dict:
    """The document's `--json` object, as a dict (what `json_line` writes)."""
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
# JSON escapes C0 controls itself; DEL and C1 controls (U+009B is a CSI on some terminals)
# and the bidi overrides are escaped too, so that `--json` on a terminal is inert.
JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), *range(0x202A, 0x202F),
                                            *range(0x2066, 0x206A), 0x2028, 0x2029)}
_JSON_UNSAFE_CHAR = re.compile("[" + "".join(map(chr, JSON_UNSAFE)) + "]")


def print_human(out: TextIO, label: str, result: DocumentScan, hits: list[Hit]) -> None:
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


def print_summary(out: TextIO, t: Totals, seconds: float) -> None:
    parts = [f"scanned {t.documents} document(s) ({_human_size(t.bytes)}) in {seconds:.2f} s",
             f"{t.hits} hit(s) in {t.with_hits} document(s)"]
    if t.by_severity:
        order = sorted(t.by_severity, key=rank, reverse=True)
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


def rank(severity: str) -> int:
    """severity_rank, 0 for a severity it does not know (a hit's severity from a plugin)."""
    try:
        return severity_rank(severity)
    except ValueError:
        return 0


def stdout_buffer(out: TextIO) -> BinaryIO | None:
    """The binary layer under `out`, when it has one that writes bytes unchanged (not when a
    newline translation or a test's StringIO is in the way)."""
    buffer = getattr(out, "buffer", None)
    if buffer is None or os.linesep != "\n":
        return None
    return buffer


def write_output(out: TextIO, text: str | bytes) -> None:
    """Rendered output to `out`: bytes (encoded by a worker, as `out` would encode them) go
    to its binary layer."""
    if isinstance(text, str):
        out.write(text)
        return
    buffer = stdout_buffer(out)
    if buffer is None:  # pragma: no cover (a worker encodes only where the parent has one)
        out.write(text.decode(out.encoding or "utf-8", out.errors or "strict"))
    else:
        buffer.write(text)


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
