"""Scan one document: extract its parts, run the engine on each, merge the hits.

`scan_document` is the single entry point shared by `leakmon scan` and the daemon's pipeline,
so both see exactly the same hits for the same bytes. It does no I/O and no logging of
content; skipped parts come back with their reasons for the caller to log and report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.matching.extract import (
    PLAIN_ENCODINGS,
    Limits,
    Part,
    full_parts,
    plain_kind,
    printable,
)
from monitor.matching.readers.passwords import Password
from monitor.models import Hit, RecordMatch, severity_rank


class EngineLike(Protocol):
    """What `scan_document` needs from an engine (`monitor.matching.engine.Engine`)."""

    def scan(self, data: bytes) -> list[Hit]: ...


@dataclass(slots=True)
class PartInfo:
    """A part that was scanned: its name, UTF-8 size, source encoding and whether it was cut.

    Not frozen, though nothing changes it: one is made for every message scanned, and a
    frozen dataclass's __init__ (object.__setattr__ per field) cost 3x as much."""

    name: str
    bytes: int
    encoding: str | None
    truncated: bool
    note: str | None = None

    def to_json(self) -> dict:
        out: dict = {"name": self.name, "bytes": self.bytes, "encoding": self.encoding,
                     "truncated": self.truncated}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(slots=True)
class DocumentScan:
    """The outcome of scanning one document (all of its parts)."""

    hits: list[Hit] = field(default_factory=list)
    parts: list[PartInfo] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (part name, reason)
    bytes: int = 0  # raw size of the document as given

    @property
    def truncated(self) -> bool:
        return any(p.truncated for p in self.parts)


def scan_document(engine: EngineLike, data: bytes, name: str | None, limits: Limits,
                  *, on_part: Callable[[Part], None] | None = None,
                  passwords: Sequence[Password] = ()) -> DocumentScan:
    """Scan `data` (a file, message or attachment) part by part and merge the hits.

    Hits of the same rule in several parts (members of one zip) become one hit: counts are
    summed, records are unioned (best confidence and all matched fields kept per record),
    the first excerpt is kept and the highest severity wins. `on_part` is called after each
    part (scanned or skipped), e.g. to drive a progress bar. `passwords` are tried on locked
    archives (readers.passwords.candidates builds them from a post and a source).
    """
    label = printable(name) if name else "-"
    kind = plain_kind(data, limits)
    if kind:  # the common case, a plain text message: iter_parts's one part, made here
        result = DocumentScan(parts=[PartInfo(label, len(data), PLAIN_ENCODINGS[kind], False)],
                              bytes=len(data))
        hits = engine.scan(data)
        if len(hits) == 1:  # one part, one hit: nothing to merge, the engine's own object
            result.hits = hits
        elif hits:
            merged: dict[str, Hit] = {}
            for hit in hits:
                _merge(merged, hit)
            result.hits = list(merged.values())
        if on_part is not None:
            on_part(Part(label, data, encoding=PLAIN_ENCODINGS[kind]))
        return result
    result = DocumentScan(bytes=len(data))
    merged = {}
    for part in full_parts(data, label, limits, passwords):
        if part.skipped is not None:
            result.skipped.append((part.name, part.skipped))
        else:
            result.parts.append(PartInfo(part.name, len(part.data), part.encoding,
                                         part.truncated, part.note))
            if part.data:
                for hit in engine.scan(part.data):
                    _merge(merged, hit)
        if on_part is not None:
            on_part(part)
    result.hits = list(merged.values())
    return result


def _merge(merged: dict[str, Hit], hit: Hit) -> None:
    seen = merged.get(hit.rule_id)
    if seen is None:
        merged[hit.rule_id] = Hit(
            rule_id=hit.rule_id, title=hit.title, severity=hit.severity, count=hit.count,
            excerpt=hit.excerpt, tags=tuple(hit.tags), fingerprint_set=hit.fingerprint_set,
            records=list(hit.records),
        )
        return
    seen.count += hit.count
    if _rank(hit.severity) > _rank(seen.severity):
        seen.severity = hit.severity
    if not seen.excerpt and hit.excerpt:
        seen.excerpt = hit.excerpt
    seen.tags = tuple(dict.fromkeys((*seen.tags, *hit.tags)))
    if hit.fingerprint_set is not None and seen.fingerprint_set is None:
        seen.fingerprint_set = hit.fingerprint_set
    if hit.records:
        seen.records = merge_records(seen.records, hit.records)


def merge_records(a: list[RecordMatch], b: list[RecordMatch]) -> list[RecordMatch]:
    """Union of record matches by record id: fields unioned, best confidence, canary kept."""
    by_id: dict[str, RecordMatch] = {r.record_id: r for r in a}
    for r in b:
        old = by_id.get(r.record_id)
        if old is None:
            by_id[r.record_id] = r
        else:
            by_id[r.record_id] = RecordMatch(
                record_id=r.record_id,
                fields=tuple(dict.fromkeys((*old.fields, *r.fields))),
                confidence=max(old.confidence, r.confidence),
                canary=old.canary or r.canary,
            )
    return list(by_id.values())


def _rank(severity: str) -> int:
    try:
        return severity_rank(severity)
    except ValueError:
        return -1
