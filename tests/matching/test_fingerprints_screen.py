"""The C screen (CandidateReader.screen) that lets most documents skip the Python match: it
may let through a document without our records, never turn away one with them."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from monitor.matching import _native
from monitor.matching.fingerprints import FieldSpec, FingerprintSet, build_set
from monitor.matching.fingerprints.candidates import MAX_ROW, Extractor
from monitor.matching.fingerprints.hashing import Hasher
from tests.matching.test_fingerprints_match import FIELDS, NIR1, PEOPLE, SPACED_NIR

KEY = os.urandom(32)


@pytest.fixture(scope="module")
def fs(tmp_path_factory) -> FingerprintSet:
    state = tmp_path_factory.mktemp("fp") / "state"
    build_set(state, "patients", enumerate(PEOPLE, start=2), id_column="id",
              fields=[FieldSpec.parse(f) for f in FIELDS], key=KEY, canary_column="canary")
    return FingerprintSet.load(state, "patients", KEY)


def _unscreened(fs: FingerprintSet, data: bytes):
    screen, fs._screen = fs._screen, None
    try:
        return fs.match(data)
    finally:
        fs._screen = screen


# Pieces of documents: our records' fields in several forms, near misses (a neighbour's
# birth date, a namesake), separators of every row shape the matcher knows, non-ASCII.
_PIECES = [
    "DUPONT", "Dupont", "Jean-Pierre", "jean pierre", "12/03/1985", "12 mars 1985", "1985-03-12",
    "13/03/1985", "Le Gall", "LEGALL", "Yann", "Marie", "29.02.1988", "1990-07-01", "Brest",
    "N'Diaye", "Aïssatou", "3 mars 1975", "Lefèvre", "Bérénice", "1er août 1960", "Martin",
    "Étienne", "1960-08-01", "étienne.martin@exemple.fr", "famille.legall@example.fr",
    "jp.dupont@example.fr", "06 12 34 56 78", "+33 7 98 76 54 32", SPACED_NIR, NIR1,
    "FR76 3000 6000 0112 3456 7890 189", "4970 1012 3456 7893", "Rennes", "Durand", "Paul",
    "2025-06-30 00:03", "Ωmega", "Дюпон", "x" * 50,
    ";", ",", " ", " ", "\t", "|", "\n", "\r\n", "),(", "}, {", '{"nom": ', '",\n  "prenom": ',
    "\n}\n", "'", "-", "@", "(", "\xa0",
]


def _documents(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    docs = []
    for _ in range(count):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40)))
        docs.append(text.encode("utf-8"))
    return docs


@pytest.mark.parametrize("seed", range(3))
def test_screen_never_hides_a_match(fs, seed):
    docs = _documents(seed, 1500)
    turned_away = matched = 0
    for data in docs:
        want = _unscreened(fs, data)
        assert fs.match(data) == want, data
        if fs._screen(data) is None:
            turned_away += 1
            assert want == [], data
        matched += bool(want)
    # both answers occur: the screen is neither a no-op nor a wall
    assert turned_away > 100 and matched > 100


def _check_screen(fs: FingerprintSet, data: bytes) -> bool:
    """The screen's pass, row ends and combos equal extract's, row_bounds' and
    _combo_matches'; whether it found a combo."""
    screened = fs._screen(data)
    if screened is None:
        return False
    ex = fs._extractor
    read, bounds, combos = screened
    assert read == ex._reader.extract(data)
    cand = ex.extract(data)
    assert np.frombuffer(bounds, np.int64).tolist() == cand.bounds.tolist(), data
    want = fs._combo_matches(cand, ex.phrase_view(data, cand.email_spans)) \
        if cand.date_rows.size else {}
    assert fs._combos_found(combos) == want, data
    return bool(want)


def test_screen_reads_like_extract_and_finds_the_combos_of_the_rows(fs):
    assert sum(_check_screen(fs, data) for data in _documents(7, 1000)) > 10


@pytest.mark.parametrize("data", [
    # pretty-printed JSON (rows join lines), also after other text, with CRLF, at the end
    b'[\n  {\n    "nom": "Le Gall",\n    "prenom": "Marie",\n    "naissance": "1990-07-01"\n  }\n]',
    b'log\r\n{\r\n\t"nom": "LE GALL",\r\n\t"prenom": "Marie",\r\n\t"n": "01/07/1990"\r\n}\r\n',
    b'{"nom": "Le Gall",\n "prenom": "Marie", "naissance": "1990-07-01",\n  }\n ',
    b'{\n' + b' ' * 30 + b'"nom": "Le Gall", "prenom": "Marie", "d": "1990-07-01"}',
    # SQL extended INSERT and one-line JSON array: records on one line
    b"INSERT INTO t VALUES ('Le Gall','Marie','1990-07-01'),('Dupont','Jean-Pierre','1985-03-12'),"
    b" ('x','y','1990-07-01');",
    b'[{"n": "Le Gall", "p": "Marie", "d": "1990-07-01"}, {"n": "Martin", "d": "1960-08-01"}]',
    # rows cut at MAX_ROW, a date right at a cut, Le Gall cut in two
    b"1990-07-01 Le Gall Marie " + b"x" * (MAX_ROW - 25) + b"1990-07-01 Le Gall Marie\n" * 2,
    b"a" * (MAX_ROW - 4) + b"Le Gall Marie 1990-07-01",
    b"Marie 1990-07-01 " + b"b" * (2 * MAX_ROW - 20) + b"Le Gall",
    b"", b"\n", b" \n ", b"1990-07-01",
])
def test_screen_on_every_row_shape(fs, data):
    _check_screen(fs, data)
    assert fs.match(data) == _unscreened(fs, data)


@pytest.mark.parametrize("text, passes", [
    ("", False),
    ("rien à signaler 2025-06-30 00:03 @bob", False),
    ("DUPONT Jean-Pierre 13/03/1985", False),  # a birth date of no Dupont
    ("DUPONT Jean-Pierre 12/03/1985", True),
    ("DUPONT Jean-Pierre\n12/03/1985", False),  # name and date on two lines
    ("Durand Paul 1990-07-01", False),  # somebody's birth date, nobody's last name
    (f"x {NIR1} y", True),
    ("mail jp.dupont@example.fr", True),
    ("mail Jean.Dupont@example.fr", False),
    ("mail Zoé.Dupont@example.fr", True),  # a UTF-8 local part: lowered in Python
    ('{\n  "nom": "Le Gall",\n  "naissance": "1990-07-01"\n}', True),  # one row, 3 lines
    ('{\n  "nom": "Le Gall"\n}\n{\n  "naissance": "1990-07-01"\n}', False),  # two rows
    ("Ωmega LE GALL;Marie;1990-07-01", True),
])
def test_screen_answers(fs, text, passes):
    assert (fs._screen(text.encode()) is not None) is passes


def test_long_rows_and_many_birth_dates_give_the_full_answer(fs):
    long_line = ("1990-07-01 " + "a" * MAX_ROW).encode()
    assert fs._screen(long_line) is None
    assert _unscreened(fs, long_line) == []
    dates = ("Le Gall;Marie;" + "; ".join(["01/07/1990"] * 70)).encode()
    assert _check_screen(fs, dates)
    assert [m.record_id for m in fs.match(dates)] == ["P2"] == \
        [m.record_id for m in _unscreened(fs, dates)]


def test_screen_needs_its_tables_and_checks_them():
    reader = Extractor(Hasher(KEY))._reader
    with pytest.raises(RuntimeError, match="set_tables"):
        reader.screen(b"0612345678")
    table = np.array([1, 2, 3], np.uint64)
    index = np.frombuffer(_native.bucket_index(table, 56), np.uint32)
    dob = np.array([5, 9], np.uint64)
    with pytest.raises(ValueError, match="strong index"):
        reader.set_tables(table, index[:-1], 56, table, index, 56, dob)
    with pytest.raises(ValueError, match="combo index"):
        reader.set_tables(table, index, 56, table, index, 57, dob)
    with pytest.raises(ValueError, match="sorted"):
        reader.set_tables(table, index, 56, table, index, 56, dob[::-1].copy())
    reader.set_tables(table, index, 56, table, index, 56, dob)
    assert reader.screen(b"nothing here") is None
    uninitialized = _native.CandidateReader.__new__(_native.CandidateReader)
    with pytest.raises(RuntimeError, match="not initialized"):
        uninitialized.screen(b"x")


def test_a_dump_bigger_than_screen_max_skips_the_screen(fs, monkeypatch):
    """Dumps (bigger than SCREEN_MAX) go straight to the matcher: the screen's combos of
    every dated row cost more there than they save, and the answer is the same."""
    from monitor.matching.fingerprints import matcher

    row = f"DUPONT;Jean-Pierre;12/03/1985;{SPACED_NIR};Brest\n".encode()
    dump = row * (matcher.SCREEN_MAX // len(row) + 1)
    small = row * 3
    want_dump, want_small = _unscreened(fs, dump), _unscreened(fs, small)
    calls: list[int] = []
    screen = fs._screen
    monkeypatch.setattr(fs, "_screen", lambda data: calls.append(len(data)) or screen(data))
    assert fs.match(dump) == want_dump and want_dump
    assert calls == []
    assert fs.match(small) == want_small and calls == [len(small)]
