"""The benchmark corpus generator: deterministic, valid identifiers, truthful ground truth."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import pytest

# `bench` is a top-level folder of the repository, not part of the installed package:
# importable under `python -m pytest` (cwd on sys.path) and, with this, under plain `pytest`.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.corpus import Generator, fmt_date, fmt_nir, fmt_phone  # noqa: E402
from bench.run import accuracy  # noqa: E402
from monitor.matching.identifiers import is_valid  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    gen = Generator(out, 0.6, 300, seed=3)
    manifest = gen.run()
    return out, manifest, gen


def test_records_are_unique_and_hold_valid_identifiers(corpus):
    out, manifest, _ = corpus
    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == manifest["records"] == 300
    for key in ("id", "nir", "email", "phone"):
        assert len({r[key] for r in rows}) == 300, key
    assert len({(r["last_name"], r["first_name"], r["birth_date"]) for r in rows}) == 300
    assert all(is_valid("fr_nir", r["nir"]) for r in rows)
    assert all(is_valid("phone", r["phone"]) for r in rows)


def test_every_planted_record_is_really_in_its_document(corpus):
    out, _, _ = corpus
    truth = json.loads((out / "truth.json").read_text())
    with open(out / "records.csv", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert truth["planted"] > 0
    for name, ids in truth["files"].items():
        text = (out / "docs" / name).read_text(encoding="utf-8").lower()
        for rid in ids:
            r = rows[rid]
            # a planted row carries the e-mail, or the last name (any case) of the record
            assert r["email"] in text or r["last_name"].lower() in text, (name, rid)


def test_same_seed_same_bytes(tmp_path, corpus):
    out, _, _ = corpus
    again = tmp_path / "again"
    Generator(again, 0.6, 300, seed=3).run()
    for path in sorted((out / "docs").iterdir()):
        twin = again / "docs" / path.name
        assert hashlib.sha256(path.read_bytes()).digest() == \
            hashlib.sha256(twin.read_bytes()).digest(), path.name


def test_reformatting_helpers():
    from datetime import date

    assert fmt_nir("185037512345641", 1) == "1 85 03 75 123 456 41"
    assert fmt_nir("185037512345641", 2) == "1.85.03.75.123.456.41"
    assert fmt_phone("0612345678", 2) == "06.12.34.56.78"
    assert fmt_phone("0612345678", 3) == "+33 6 12 34 56 78"
    d = date(1985, 3, 12)
    assert [fmt_date(d, i) for i in range(7)] == [
        "1985-03-12", "12/03/1985", "12.03.1985", "12-03-1985", "12 mars 1985",
        "12 March 1985", "19850312"]


def test_accuracy_counts_pairs_of_document_and_record():
    acc = accuracy({"a": ["1", "2"], "b": ["3"]}, {"a": ["1"], "b": ["3", "9"]})
    assert (acc["planted"], acc["reported"], acc["true_positives"]) == (3, 3, 2)
    assert acc["recall"] == pytest.approx(2 / 3) and acc["precision"] == pytest.approx(2 / 3)
    assert acc["missed_examples"] == [["a", "2"]]
    assert acc["false_positive_examples"] == [["b", "9"]]


def test_near_misses_resemble_our_records_but_are_not_them(corpus):
    from bench.corpus import ascii_fold

    _, manifest, gen = corpus
    assert manifest["near_misses"] > 0
    ours = gen.ours
    nirs, phones, emails = ({p.nir for p in ours}, {p.phone for p in ours},
                            {p.email for p in ours})
    triples = {(ascii_fold(p.last), ascii_fold(p.first), p.dob) for p in ours}
    last_names = {p.last for p in ours}
    resembling = 0
    for _ in range(300):
        m = gen._near_miss()
        assert m.nir not in nirs and m.phone not in phones and m.email not in emails
        assert (ascii_fold(m.last), ascii_fold(m.first), m.dob) not in triples
        assert is_valid("fr_nir", m.nir) and is_valid("phone", m.phone)
        resembling += m.last in last_names
    assert resembling > 100  # most share a name with one of ours: a real precision test
