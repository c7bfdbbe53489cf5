"""scan_document: parts scanned one by one, hits of one rule merged across parts.

The engine here is a stand-in that reports what it was given, so that these tests pin the
merging and bookkeeping of scan_document itself; the CLI tests use the real engine.
"""

from __future__ import annotations

from monitor.matching.document_scan import DocumentScan, merge_records, scan_document
from monitor.matching.extract import Limits
from monitor.models import Hit, RecordMatch
from tests.support.formats import make_zip


class RecordingEngine:
    """Reports one hit per line starting with `HIT rule severity record`."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def scan(self, data: bytes) -> list[Hit]:
        self.seen.append(data)
        hits: dict[str, Hit] = {}
        for line in data.decode().splitlines():
            if not line.startswith("HIT "):
                continue
            _, rule, severity, record = line.split()
            hit = hits.setdefault(rule, Hit(rule, rule.title(), severity, 0, f"first {record}",
                                            fingerprint_set="p" if record != "-" else None))
            hit.count += 1
            if record != "-":
                hit.records.append(RecordMatch(record, ("fr_nir",), 0.6))
        return list(hits.values())




def test_plain_document_is_one_part():
    engine = RecordingEngine()
    res = scan_document(engine, b"HIT kw low -\nnothing\n", "a.txt", Limits())
    assert isinstance(res, DocumentScan)
    assert res.bytes == 21
    assert [(p.name, p.bytes, p.truncated) for p in res.parts] == [("a.txt", 21, False)]
    assert [(h.rule_id, h.count) for h in res.hits] == [("kw", 1)]
    assert res.skipped == []


def test_hits_of_one_rule_are_merged_across_archive_members():
    data = make_zip({
        "a.csv": b"HIT recs high r1\nHIT recs high r2\nHIT kw low -\n",
        "b.csv": b"HIT recs critical r2\nHIT recs high r3\n",
        "c.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    })
    engine = RecordingEngine()
    res = scan_document(engine, data, "leak.zip", Limits())
    assert len(engine.seen) == 2  # the image was never handed to the engine
    hits = {h.rule_id: h for h in res.hits}
    assert set(hits) == {"recs", "kw"}
    recs = hits["recs"]
    assert recs.count == 4
    assert recs.severity == "critical"  # highest of the parts
    assert recs.excerpt == "first r1"  # first excerpt kept
    assert sorted(r.record_id for r in recs.records) == ["r1", "r2", "r3"]
    assert res.skipped == [("leak.zip!c.png", "image (PNG)")]
    assert [p.name for p in res.parts] == ["leak.zip!a.csv", "leak.zip!b.csv"]


def test_merge_does_not_mutate_the_engine_hits():
    class Fixed:
        def __init__(self):
            self.hit = Hit("r", "R", "low", 1, "x")

        def scan(self, data):
            return [self.hit]

    engine = Fixed()
    res = scan_document(engine, make_zip({"a": b"1", "b": b"2"}), "z.zip", Limits())
    assert res.hits[0].count == 2
    assert engine.hit.count == 1


def test_merge_records_unions_fields_and_keeps_best_confidence_and_canary():
    a = [RecordMatch("r1", ("fr_nir",), 0.6), RecordMatch("r2", ("email",), 0.5)]
    b = [RecordMatch("r1", ("last_name", "date"), 0.9, canary=True)]
    merged = {r.record_id: r for r in merge_records(a, b)}
    assert merged["r1"].fields == ("fr_nir", "last_name", "date")
    assert merged["r1"].confidence == 0.9 and merged["r1"].canary
    assert merged["r2"] == a[1]


def test_truncation_and_skips_are_reported():
    engine = RecordingEngine()
    res = scan_document(engine, b"HIT kw low -\n" + b"x" * 5000, "big.txt",
                        Limits(max_document_bytes=100))
    assert res.truncated
    assert res.parts[0].note and "max_document_mb" in res.parts[0].note
    assert res.parts[0].to_json()["truncated"] is True


def test_on_part_is_called_for_each_part_including_skipped():
    seen = []
    scan_document(RecordingEngine(), make_zip({"a": b"x", "b.png": b"\x89PNG\r\n\x1a\n"}),
                  "z.zip", Limits(), on_part=lambda p: seen.append((p.name, p.skipped is None)))
    assert seen == [("z.zip!a", True), ("z.zip!b.png", False)]
