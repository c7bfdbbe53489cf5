"""Large documents: matched in windows, with bounded memory and the same results."""

from __future__ import annotations

import itertools
import json
import os
import random
import tracemalloc

import pytest

from monitor.matching.fingerprints import FieldSpec, FingerprintSet, build_set
from monitor.matching.fingerprints.matcher import OVERLAP, WINDOW, windows

FIELDS = ["nom=last_name", "prenom=first_name", "naissance=date", "email=email", "tel=phone"]
PLANTED = {
    f"R{i}": {"id": f"R{i}", "nom": ["Abadie", "Bertin", "Carrel", "Dumas", "Estrade", "Fabre"][i],
              "prenom": ["Alix", "Basile", "Cyril", "Delphine", "Elsa", "Fanny"][i],
              "naissance": f"19{60 + i}-0{i + 1}-1{i}", "email": f"planted{i}@example.fr",
              "tel": f"06 1{i} 34 56 78"}
    for i in range(6)
}
# decoys in the set that the filler never mentions: an exact result is not a lucky one
DECOYS = [{"id": f"D{i}", "nom": f"Decoynom{i}", "prenom": f"Decoypre{i}",
           "naissance": "1970-01-01", "email": f"decoy{i}@example.fr"} for i in range(50)]


@pytest.fixture(scope="module")
def fs(tmp_path_factory) -> FingerprintSet:
    state = tmp_path_factory.mktemp("fp") / "state"
    key = os.urandom(32)
    build_set(state, "big", enumerate([*PLANTED.values(), *DECOYS], start=2), id_column="id",
              fields=[FieldSpec.parse(f) for f in FIELDS], key=key)
    return FingerprintSet.load(state, "big", key)


def _row(rec: dict) -> str:
    return json.dumps({"n": rec["nom"], "p": rec["prenom"], "d": rec["naissance"],
                       "e": rec["email"], "t": rec["tel"]})


def _filler(rnd: random.Random, size: int) -> list[str]:
    """Dense JSON objects full of candidates (e-mails, phones, dates) of nobody in the set."""
    out, n = [], 0
    while n < size:
        i = rnd.randrange(10**7)
        s = json.dumps({"n": f"Nom{i}", "p": f"Pre{i}", "d": f"19{i % 90 + 10}-0{1 + i % 9}-1{i % 9}",
                        "e": f"user{i}@example.org", "t": f"07 {i % 100:02d} 11 22 33",
                        "x": i * 7919})
        out.append(s)
        n += len(s) + 1
    return out


def _one_line_dump(size: int, planted: dict[int, str]) -> bytes:
    """A one-line JSON array of about `size` bytes with the given rows planted at (about) the
    given byte offsets."""
    rnd = random.Random(7)
    parts: list[str] = []
    length = 1
    for at in sorted(planted):
        start = max(length, at - len(planted[at]) // 2)
        gap = _filler(rnd, start - length - 400)
        length += sum(len(s) + 1 for s in gap)
        if start - length >= 3:  # a JSON string pads to the exact offset
            gap.append('"' + "p" * (start - length - 3) + '"')
            length = start
        parts.extend(gap)
        parts.append(planted[at])
        length += len(planted[at]) + 1
    parts.extend(_filler(rnd, size - length))
    return ("[" + ",".join(parts) + "]").encode()


def test_windows_cover_the_document_with_overlap():
    line = b"0123456789," * 400_000  # one 4.4 MB line
    spans = windows(line)
    assert len(spans) > 4 and spans[0][0] == 0 and spans[-1][1] == len(line)
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        assert s1 < s2 < e1 < e2 and e1 - s2 <= OVERLAP  # overlapping, always advancing
        assert line[e1 - 1:e1] == b"," and line[s2 - 1:s2] == b","  # no value cut
    rows = b"".join(b"%08d;Nom;Prenom;1980-01-01\n" % i for i in range(120_000))
    assert all(rows[e - 1:e] == b"\n" for _, e in windows(rows)[:-1])  # rows stay whole
    assert windows(b"x" * 100) == [(0, 100)]
    hard = windows(b"x" * (3 * WINDOW))  # no separator at all: cut anyway, with overlap
    assert all(e1 - s2 == OVERLAP for (_, e1), (s2, _) in itertools.pairwise(hard))


def test_large_one_line_dump_finds_exactly_the_planted_records(fs):
    size = 8 * 2**20
    first_cut = windows(_one_line_dump(size, {}))[0][1]
    planted = {
        2: _row(PLANTED["R0"]),
        size // 2: _row(PLANTED["R1"]),
        first_cut: _row(PLANTED["R2"]),  # straddles the end of the first window
        3 * WINDOW: _row(PLANTED["R3"]),
        size - 400: _row(PLANTED["R4"]),
    }
    data = _one_line_dump(size, planted)
    assert len(data) > WINDOW * 7 and b"\n" not in data
    spans = windows(data)
    row = _row(PLANTED["R2"]).encode()
    at = data.index(row)
    assert any(at < e < at + len(row) for _, e in spans)  # R2 really is cut by a window end
    assert data.index(_row(PLANTED["R4"]).encode()) > len(data) - 1000
    found = {m.record_id: m for m in fs.match(data)}
    assert sorted(found) == ["R0", "R1", "R2", "R3", "R4"]
    for m in found.values():
        assert set(m.fields) == {"email", "phone", "last_name", "first_name", "date"}


def test_large_multi_line_dump_same_result_as_small_parts(fs):
    rnd = random.Random(3)
    lines = [",".join(_filler(rnd, 200)) for _ in range(30_000)]  # ~6.5 MB, one row a line
    for i, key in zip((0, 10_000, 20_000, -1), ("R0", "R1", "R5", "R4"), strict=True):
        lines[i] = _row(PLANTED[key])
    data = "\n".join(lines).encode()
    whole = fs.match(data)
    assert [m.record_id for m in whole] == sorted(["R0", "R1", "R4", "R5"])  # same confidence
    assert whole == fs.match(data)  # deterministic order
    one = fs.match(_row(PLANTED["R1"]).encode())
    assert [m for m in whole if m.record_id == "R1"] == one  # same fields and confidence


def test_peak_memory_of_a_dense_one_line_dump_is_bounded(fs):
    """A 6 MB line packed with candidates: matched at once it traced ~130 MB (and grew ~22 MB
    per MB: a 64 MB document took GBs); in windows the peak stays that of one window."""
    rnd = random.Random(5)
    items = [b"06%08d,u%d@ex.org,19%02d-0%d-1%d" % (i, i, i % 90 + 10, 1 + i % 9, i % 9)
             for i in (rnd.randrange(10**8) for _ in range(6 * 2**20 // 40))]
    items[len(items) // 2] = _row(PLANTED["R3"]).encode()
    data = b",".join(items)
    del items
    tracemalloc.start()
    try:
        found = fs.match(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [m.record_id for m in found] == ["R3"]
    assert peak < 64 * 2**20, f"peak traced memory {peak / 2**20:.0f} MB"
