"""The C reader (native/reader.c) against the Python definitions it must agree with.

The import normalizes and hashes in Python (identifiers.normalize, hashing.Hasher); the scan
reads and hashes in C. A disagreement would silently lose records, so these tests compare the
two on many generated inputs, and feed the reader hostile bytes.
"""

from __future__ import annotations

import hmac
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from monitor.matching import _native
from monitor.matching.fingerprints.candidates import Extractor
from monitor.matching.fingerprints.hashing import Hasher, compact_name
from monitor.matching.identifiers import fold

KEY = os.urandom(32)

_HMAC_CHECK = r"""
import hmac, json, random, sys
from monitor.matching import _native
rng = random.Random(int(sys.argv[1]))
bad = checked = 0
for key_len in (0, 1, 32, 64, 65, 100):
    key = rng.randbytes(key_len)
    h = _native.Hmac(key)
    messages = [rng.randbytes(n) for n in range(0, 200)]
    many = h.hash_many(messages)
    for i, m in enumerate(messages):
        want = int.from_bytes(hmac.digest(key, m, "sha256")[:8], "little") or 1
        got = h.hash(m)
        checked += 1
        bad += got != want or int.from_bytes(many[8 * i:8 * i + 8], sys.byteorder) != want
print(json.dumps({"impl": _native.sha256_implementation(), "checked": checked, "bad": bad}))
"""


@pytest.mark.parametrize("force_portable", [False, True])
def test_hmac_equals_the_standard_library_on_each_code_path(force_portable):
    env = {k: v for k, v in os.environ.items() if k != "LEAKMON_NO_SHANI"}
    if force_portable:
        env["LEAKMON_NO_SHANI"] = "1"
    out = subprocess.run([sys.executable, "-c", _HMAC_CHECK, "7"], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    assert result["checked"] == 6 * 200
    assert result["bad"] == 0
    if force_portable:
        assert result["impl"] == "portable"
    else:
        assert result["impl"] in ("sha-ni", "portable")


def test_hasher_hash_is_truncated_hmac():
    hasher = Hasher(KEY)
    want = int.from_bytes(hmac.digest(KEY, b"name\0dupont", "sha256")[:8], "little")
    assert hasher.hash(b"name", "dupont") == want
    assert hasher.hash_many([b"name\0dupont"]).tolist() == [want]


# Letters from the table-folded range and beyond it (Greek, Cyrillic, combining marks,
# ligatures, full-width forms): the C side must fold every one as identifiers.fold does.
_ALPHABET = (
    "abcxyzABCXYZ'-"
    "àâäçéèêëîïôöùûüÿñÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÑßæœÆŒøØåÅðþ"  # Latin-1
    "łŁńŃśŚźŻžŽčČřŘőŐűŰıİĳŉſ"  # Latin Extended-A
    "ǅǆǈǌșȘțȚƒǃ"  # Latin Extended-B
    "αβΣσςДжЯ"  # Greek, Cyrillic
    "\u0301\u0308\u0327"  # combining marks
    "ﬁﬂＡｂ"  # ligatures, full width
    "ʼˈ"  # modifier letters
)


def _python_grams(phrase: str) -> set[int]:
    hasher = Hasher(KEY)
    words = [compact_name(fold(w)) for w in phrase.strip(" _-'").split("_")[:12]]
    words = [w for w in words if w]
    grams = {"".join(words[i:j]) for i in range(len(words))
             for j in range(i + 1, min(len(words), i + 3) + 1)}
    return {hasher.hash(b"name", g) for g in grams}


def test_name_grams_fold_like_python():
    rng = random.Random(3)
    ex = Extractor(Hasher(KEY))
    for _ in range(3000):
        words = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 8)))
                 for _ in range(rng.randint(1, 4))]
        phrase = "_".join(words)
        view = phrase.encode("utf-8")
        assert ex.names_in(view, 0, len(view)) == _python_grams(phrase), phrase


def test_name_grams_split_rows_and_phrases():
    ex = Extractor(Hasher(KEY))
    data = "DUPONT;Jean-Pierre;Le Gall\nMARTIN  Zoé\n".encode()
    view = ex.phrase_view(data, [])
    bounds = np.array([data.index(b"\n")], dtype=np.int64)
    hashes, rows = ex.names_of_rows(view, bounds, np.array([0, 1]))
    hasher = Hasher(KEY)
    first = {hasher.hash(b"name", g) for g in ("dupont", "jeanpierre", "le", "gall", "legall")}
    second = {hasher.hash(b"name", g) for g in ("martin", "zoe", "martinzoe")}
    assert set(hashes[rows == 0].tolist()) == first
    assert set(hashes[rows == 1].tolist()) == second


def test_broken_utf8_in_names_is_folded_like_python():
    ex = Extractor(Hasher(KEY))
    for raw in (b"Dup\xc3nt_Z\xc3\xa9\xe9", b"\xe2\x82_Martin", b"L\xc3"):
        assert ex.names_in(raw, 0, len(raw)) == _python_grams(raw.decode("utf-8", "ignore"))


@pytest.mark.parametrize("seed", range(4))
def test_reader_survives_hostile_bytes(seed):
    """Random bytes biased to what the reader looks at (digits, separators, '@', '+',
    capitals, UTF-8 lead bytes), cut at every kind of end: no crash, sane offsets."""
    rng = random.Random(seed)
    ex = Extractor(Hasher(KEY))
    pieces = [b"0", b"1", b"2", b"9", b" ", b".", b"-", b"/", b"+", b"@", b"FR", b"2A", b"a",
              b"\xc3", b"\xa9", b"\n", b"er ", b"mars", b"19", b"20", b",", b"x.fr", b"\xff"]
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 400)))
        cand = ex.extract(data)
        rows = len(cand.bounds) + 1
        assert ((cand.strong_rows >= 0) & (cand.strong_rows < rows)).all()
        assert ((cand.date_rows >= 0) & (cand.date_rows < rows)).all()
        assert cand.strong_hashes.size == cand.strong_kinds.size == cand.strong_rows.size
        assert all(0 <= s < e <= len(data) and data[s:e].count(b"@") >= 1
                   for s, e in cand.emails)
        view = ex.phrase_view(data, cand.emails)
        hashes, of_row = ex.names_of_rows(view, cand.bounds, np.arange(rows))
        assert hashes.size == of_row.size


def test_reader_rejects_bad_arguments():
    with pytest.raises(TypeError):
        _native.Hmac("not bytes")
    reader = Extractor(Hasher(KEY))._reader
    with pytest.raises(ValueError, match="int64 arrays"):
        reader.name_grams(b"abc", b"\0" * 8, b"")
    with pytest.raises(TypeError):
        reader.extract("text, not bytes")


def test_uninitialized_reader_raises_instead_of_crashing():
    reader = _native.CandidateReader.__new__(_native.CandidateReader)
    with pytest.raises(RuntimeError, match="not initialized"):
        reader.extract(b"1985-03-12 0612345678")
    with pytest.raises(RuntimeError, match="not initialized"):
        reader.name_grams(b"Dupont", b"\0" * 8, b"\6" + b"\0" * 7)


def test_odd_arguments_to_the_c_functions_are_safe():
    """Found by sanitizer fuzzing: a bucket index out of order, a row start near 2**63."""
    table = np.array([1, 2, 3], np.uint64)
    index = np.array([1000, 0, 3], np.uint32)
    found, _, _ = _native.lookup(table, index, 63, np.array([5], np.uint64))
    assert found == b""
    reader = Extractor(Hasher(KEY))._reader
    hashes, rows = reader.name_grams(b"Jean", np.int64(2**63 - 1).tobytes(),
                                     np.int64(4).tobytes())
    assert hashes == b"" and rows == b""


def test_utf8_validation_agrees_with_python():
    rng = random.Random(11)
    pieces = [bytes([b]) for b in range(256)] + [
        "é".encode(), "€".encode(), "😀".encode(),
        b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xc0\xaf", b"\xf0\x8f\xbf\xbf",
        b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"a" * 20]
    for _ in range(20000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        try:
            data.decode("utf-8")
            want = True
        except UnicodeDecodeError:
            want = False
        assert _native.utf8_valid(data) is want, data


@pytest.mark.parametrize("shift", [47, 52, 63])
def test_bucket_index_is_where_each_bucket_starts(shift):
    rng = np.random.default_rng(shift)
    table = np.sort(rng.integers(0, 2**63, 5000, dtype=np.uint64) * np.uint64(2))
    index = np.frombuffer(_native.bucket_index(table, shift), np.uint32)
    starts = np.arange(1 << (64 - shift), dtype=np.uint64) << np.uint64(shift)
    assert index.tolist() == np.append(np.searchsorted(table, starts), table.size).tolist()
    # and lookup through it finds exactly the members
    queries = np.concatenate((table[::7], table[::11] + np.uint64(1)))
    found, lo, _ = _native.lookup(table, index, shift, queries)
    hits = np.frombuffer(found, np.int64)
    assert hits.tolist() == list(range(table[::7].size))
    assert (table[np.frombuffer(lo, np.int64)] == queries[hits]).all()


@pytest.mark.parametrize("shift", [47, 56, 63])
def test_lookup_owners_is_lookup_with_the_owners_of_each_hit(shift):
    """Duplicated hashes (a family e-mail: several owners), misses, a query repeated."""
    rng = np.random.default_rng(shift)
    distinct = np.unique(rng.integers(1, 2**64 - 1, 3000, dtype=np.uint64))
    table = np.sort(np.concatenate((distinct, distinct[::5], distinct[::13])))
    owners = rng.integers(0, 2**32, table.size, dtype=np.uint64).astype(np.uint32)
    index = np.frombuffer(_native.bucket_index(table, shift), np.uint32)
    queries = rng.permutation(np.concatenate((
        distinct[::3], distinct[::3] + np.uint64(1), distinct[:4],
        np.array([0, 2**64 - 1], np.uint64))))
    found, lo, hi = (np.frombuffer(b, np.int64).tolist()
                     for b in _native.lookup(table, index, shift, queries))
    want = [(i, owners[a:b].tolist()) for i, a, b in zip(found, lo, hi, strict=True)]
    got = _native.lookup_owners(table, index, shift, owners, queries)
    assert got == want
    assert any(len(recs) > 1 for _, recs in got) and len(got) < queries.size
    for i, recs in got:  # the owners of exactly the table entries equal to the query
        assert sorted(recs) == sorted(owners[table == queries[i]].tolist())
    assert _native.lookup_owners(table, index, shift, owners, np.zeros(0, np.uint64)) == []


def test_lookup_owners_refuses_arrays_that_do_not_fit():
    table = np.array([1, 2, 3], np.uint64)
    index = np.frombuffer(_native.bucket_index(table, 63), np.uint32)
    with pytest.raises(ValueError, match="owners"):
        _native.lookup_owners(table, index, 63, np.zeros(2, np.uint32), table)
    with pytest.raises(ValueError, match="index does not fit"):
        _native.lookup_owners(table, index[:-1], 63, np.zeros(3, np.uint32), table)
    bad = np.array([1000, 0, 3], np.uint32)  # out of order: no read past the table
    assert _native.lookup_owners(table, bad, 63, np.zeros(3, np.uint32),
                                 np.array([5], np.uint64)) == []


def test_uninitialized_hmac_raises():
    hmac_ = _native.Hmac.__new__(_native.Hmac)
    with pytest.raises(RuntimeError, match="not initialized"):
        hmac_.hash(b"x")
    with pytest.raises(RuntimeError, match="not initialized"):
        Extractor.__new__(Extractor).__init__(type("H", (), {"native": hmac_})())


def test_last_name_filter_keeps_exactly_the_filtered_grams():
    ex = Extractor(Hasher(KEY))
    data = "DUPONT;Jean-Pierre;Le Gall\nMARTIN  Zoé;Dupont\n".encode()
    view = ex.phrase_view(data, np.zeros((0, 2), np.int64))
    bounds = np.array([data.index(b"\n")], dtype=np.int64)
    rows = np.array([0, 1])
    every, every_rows = ex.names_of_rows(view, bounds, rows)
    hasher = Hasher(KEY)
    for names in (["dupont", "legall"], ["martin"], []):
        keep = np.sort(np.array([hasher.hash(b"name", n) for n in names], dtype=np.uint64))
        ex.set_last_names(keep)
        got, got_rows = ex.names_of_rows(view, bounds, rows, last_names_only=True)
        want = [(h, r) for h, r in zip(every.tolist(), every_rows.tolist(), strict=True)
                if h in set(keep.tolist())]
        assert list(zip(got.tolist(), got_rows.tolist(), strict=True)) == want
    with pytest.raises(ValueError, match="sorted"):
        ex.set_last_names(np.array([3, 1], dtype=np.uint64)[::1])


def test_names_of_spans_are_the_grams_names_of_rows_gives_per_row():
    """The list path _fill_rows takes agrees with the numpy one, on random rows of names."""
    rng = random.Random(5)
    words = ["Dupont", "Jean-Pierre", "Le Gall", "Zoé", "N'Diaye", "MARTIN", "x", "O'Neil",
             "12", "Ørsted", "Łukasz", "de la Fontaine", "@", ";", "  "]
    ex = Extractor(Hasher(KEY))
    for _ in range(200):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
                 for _ in range(rng.randint(1, 6))]
        data = "\n".join(lines).encode()
        view = ex.phrase_view(data, np.zeros((0, 2), np.int64))
        bounds = np.array([i for i, c in enumerate(data) if c == 10], dtype=np.int64)
        rows = sorted(rng.sample(range(len(lines)), rng.randint(1, len(lines))))
        spans = [(int(bounds[r - 1]) + 1 if r else 0, int(bounds[r]) if r < bounds.size
                  else len(data)) for r in rows]
        hashes, of_row = ex.names_of_rows(view, bounds, np.array(rows))
        want = [set(hashes[of_row == r].tolist()) for r in rows]
        assert ex.names_of_spans(view, spans) == want
        assert [ex.names_in(view, a, b) for a, b in spans] == want
    assert ex.names_of_spans(b"", []) == []


@pytest.mark.parametrize("text, phone", [
    ("tel: + 33 6 12 34 56 78", "+33612345678"),  # a space after the '+' (the former reader: none)
    ("tel:+33 6 12 34 56 78", "+33612345678"),
    ("appeler le 06.12.34.56.78 svp", "+33612345678"),
])
def test_phone_readings(text, phone):
    hasher = Hasher(KEY)
    cand = Extractor(hasher, kinds={"phone"}, dates=False).extract(text.encode())
    assert hasher.hash(b"phone", phone) in set(cand.strong_hashes.tolist())
