"""The scan-path shortcuts of fingerprint matching give the same answers as the plain paths."""

from __future__ import annotations

import os

import numpy as np
import pytest

from monitor.matching.fingerprints import FieldSpec, FingerprintSet, build_set
from monitor.matching.fingerprints.candidates import Extractor, _email_form
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.identifiers import normalize

KEY = os.urandom(32)


def test_hash_many_equals_hash():
    hasher = Hasher(KEY)
    values = [("phone", "+33612345678"), ("email", "chlipała@example.pl"), ("date", "1985-03-12"),
              ("phone", "+33612345678")]
    got = hasher.hash_many([d.encode() + b"\0" + v.encode() for d, v in values])
    assert got.dtype == np.uint64
    assert got.tolist() == [hasher.hash(d.encode(), v) for d, v in values]
    assert hasher.hash_many([]).size == 0


@pytest.mark.parametrize("local, domain", [
    (b"JP.Dupont", b"Example.FR"),
    (b"..lead", b"example.fr"),
    ("Étienne.Martin".encode(), b"EXEMPLE.fr"),
    ("CHLIPAŁA".encode(), b"example.pl"),
])
def test_email_form_is_the_imported_form(local, domain):
    text = local.decode() + "@" + domain.decode()
    assert _email_form(local, domain).decode() == normalize("email", text.lstrip("."))


def _extract_kinds(ex: Extractor, text: str) -> set[str]:
    cand = ex.extract(text.encode())
    return {cand.kind(i) for i in range(cand.strong_kinds.size)}


def test_only_kinds_of_the_set_are_read_and_hashed():
    text = "1 85 03 75 123 456 78 | 4970 1012 3456 7893 | 06 12 34 56 78 | a.b@example.fr " \
           "| FR76 3000 6000 0112 3456 7890 189 | 12/03/1985"
    hasher = Hasher(KEY)
    everything = Extractor(hasher)
    assert _extract_kinds(everything, text) == {"fr_nir", "card", "phone", "email", "iban"}
    phones = Extractor(hasher, kinds={"phone"}, dates=False)
    assert _extract_kinds(phones, text) == {"phone"}
    cand = phones.extract(text.encode())
    assert cand.date_rows.size == 0
    assert cand.emails  # still blanked before names are read, though not hashed
    assert Extractor(hasher, kinds=set(), dates=True).extract(text.encode()).date_rows.size == 1


def test_names_of_rows_equals_names_in():
    ex = Extractor(Hasher(KEY))
    doc = ("INSERT INTO t VALUES ('DUPONT','Jean Pierre','12/03/1985'),('LE GALL','Yann','x');\n"
           '{\n  "nom": "N\'Diaye",\n  "prenom": "Aïssatou"\n}\n'
           "LEMAIRE Camille né(e) le 14 juillet 1979 à Saint-Étienne\n\n").encode()
    cand = ex.extract(doc)
    view = ex.phrase_view(doc, cand.emails)
    rows = list(range(len(cand.bounds) + 1))
    hashes, of_row = ex.names_of_rows(view, cand.bounds, rows)
    for r in rows:
        start, end = cand.row_span(r, len(doc))
        assert set(hashes[of_row == r].tolist()) == ex.names_in(view, start, end), r
    assert hashes.size > 0


@pytest.fixture(scope="module")
def phone_only_set(tmp_path_factory) -> FingerprintSet:
    state = tmp_path_factory.mktemp("fp") / "state"
    rows = [(2, {"id": "A", "tel": "06 12 34 56 78"}), (3, {"id": "B", "tel": "07 98 76 54 32"})]
    build_set(state, "phones", rows, id_column="id", fields=[FieldSpec("tel", "phone")], key=KEY)
    return FingerprintSet.load(state, "phones", KEY)


def test_set_without_names_or_dates_matches_its_identifiers(phone_only_set):
    doc = (b"[2024-10-31 00:04] @x: call 06.12.34.56.78\n"
           b"[2024-10-31 00:05] @y: DUPONT Jean 12/03/1985 tel +33 7 98 76 54 32\n")
    first = phone_only_set.match(doc)
    assert sorted(m.record_id for m in first) == ["A", "B"]
    assert all(m.fields == ("phone",) for m in first)
    # a second pass goes through the warm caches (no-reading runs, dates): same answer
    assert phone_only_set.match(doc) == first


def test_repeated_identifier_in_a_document_is_found_on_each_row(phone_only_set):
    doc = b"x 0612345678\n" * 3 + b"y 0798765432\n"
    assert sorted(m.record_id for m in phone_only_set.match(doc)) == ["A", "B"]
