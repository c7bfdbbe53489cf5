"""Importing a CSV into a fingerprint set: what is stored, what is reported, what is refused."""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from stdnum.fr import nir as stdnum_nir

from monitor.errors import FingerprintError
from monitor.matching.fingerprints import (
    FieldSpec,
    FingerprintSet,
    import_csv,
    list_sets,
    load_fingerprint_sets,
    remove_set,
    set_info,
)
from monitor.matching.identifiers import normalize

NIR1 = "1850375123456" + stdnum_nir.calc_check_digits("1850375123456")
NIR4 = "275032A123456" + stdnum_nir.calc_check_digits("275032A123456")
HEADER = "id,nir,nom,prenom,naissance,email,tel,iban,carte,ville,canary"
ROWS = [
    f"P1,{NIR1},Dupont,Jean-Pierre,12/03/1985,jp.dupont@example.fr,06 12 34 56 78,"
    "FR76 3000 6000 0112 3456 7890 189,4970 1012 3456 7893,Rennes,",
    "P2,,Le Gall,Marie,1990-07-01,famille.legall@example.fr,,,,Brest,",
    "P3,,Le Gall,Yann,29.02.1988,famille.legall@example.fr,,,,Brest,yes",
    f"P4,{NIR4},N'Diaye,Aïssatou,3 mars 1975,,+33 7 98 76 54 32,,,Ajaccio,",
    "P5,,Lefèvre,Bérénice,1 août 1960,,,,,Saint-Étienne,",
    ",,Nobody,Noone,1970-01-01,nobody@example.fr,,,,,",  # line 7: empty id
    "P6,123,,,,not-an-email,,,,,",  # line 8: nothing usable
    "P1,,Dupont,Jean,1999-01-01,,,,,,",  # line 9: duplicate id
    "P7,,Martin,Hugo,31/02/1985,hugo.martin@example.fr,0612,,,,",  # line 10: bad date, phone
]
FIELDS = ["nir=fr_nir", "nom=last_name", "prenom=first_name", "naissance=date", "email=email",
          "tel=phone", "iban=iban", "carte=card", "ville=text"]


def write_csv(path: Path, rows=ROWS, header=HEADER, delimiter=",") -> Path:
    path.write_text("\n".join([header, *rows]).replace(",", delimiter) + "\n", encoding="utf-8")
    return path


def do_import(tmp_path, **kw):
    state = tmp_path / "state"
    key = kw.pop("key", os.urandom(32))
    csv_path = kw.pop("csv_path", None) or write_csv(tmp_path / "patients.csv")
    report = import_csv(state, kw.pop("name", "patients"), csv_path, id_column="id",
                        fields=[FieldSpec.parse(f) for f in kw.pop("fields", FIELDS)], key=key,
                        canary_column=kw.pop("canary_column", "canary"), **kw)
    return state, key, report


def test_report_counts_and_row_numbers(tmp_path):
    _, _, report = do_import(tmp_path)
    assert report.rows_read == 9
    assert report.records == 6  # P1..P5 and P7
    assert report.canaries == 1
    assert report.empty_id.rows == [7]
    assert report.duplicate_id.rows == [9]
    assert report.errors == 2
    assert report.no_usable_field.rows == [8]
    assert report.unusable_rows.rows == [8, 10]
    assert {c: p.rows for c, p in report.unusable.items()} == {
        "nir": [8], "email": [8], "naissance": [10], "tel": [10]}


def test_stored_files_are_private_and_hold_no_plaintext(tmp_path):
    state, _, report = do_import(tmp_path)
    files = [p for p in state.rglob("*") if p.is_file()]
    assert report.path is not None and len(files) >= 9
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(report.path.stat().st_mode) == 0o700
    blob = b"".join(p.read_bytes() for p in files)

    needles: set[str] = set()
    kinds = dict(f.split("=") for f in FIELDS)
    header = HEADER.split(",")
    for row in ROWS:
        for column, value in zip(header, row.split(","), strict=True):
            if column not in kinds or not value:
                continue
            norm = normalize(kinds[column], value)
            forms = {value, value.upper(), value.lower(), value.casefold(),
                     "".join(c for c in unicodedata.normalize("NFKD", value)
                             if not unicodedata.combining(c)),
                     value.replace(" ", "").replace(".", "").replace("-", "")}
            if norm:
                forms |= {norm, norm.replace(" ", ""), norm.upper(), norm[:13]}
            needles |= {f for f in forms if len(f) >= 4}
    assert len(needles) > 60
    for needle in sorted(needles):
        for enc in ("utf-8", "utf-16-le", "latin-1"):
            try:
                data = needle.encode(enc)
            except UnicodeEncodeError:
                continue
            assert data not in blob, f"plaintext {needle!r} ({enc}) found in the stored set"
    # The record ids are the one thing stored in clear.
    assert b"P1" in (report.path / "ids.bin").read_bytes()


def test_arrays_are_compact_and_sorted(tmp_path):
    state, key, _ = do_import(tmp_path)
    path = state / "fingerprints" / "patients"
    strong = np.load(path / "strong_h.npy")
    assert strong.dtype == np.uint64 and np.all(strong[:-1] <= strong[1:])
    # P1: nir, email, phone, iban, card; P2/P3: the shared e-mail; P4: nir, phone; P7: e-mail
    assert strong.size == 5 + 2 + 2 + 1
    fs = FingerprintSet.load(state, "patients", key)
    assert fs.records == 6 and fs.name == "patients"
    assert [fs.record_id(i) for i in range(6)] == ["P1", "P2", "P3", "P4", "P5", "P7"]
    assert [fs.is_canary(i) for i in range(6)] == [False, False, True, False, False, False]


def test_replace_needed_to_overwrite(tmp_path):
    state, key, _ = do_import(tmp_path)
    with pytest.raises(FingerprintError, match="--replace"):
        do_import(tmp_path, key=key)
    _, _, report = do_import(tmp_path, key=key, replace=True)
    assert report.records == 6
    assert [s.name for s in list_sets(state)] == ["patients"]
    assert not [p for p in (state / "fingerprints").iterdir() if p.name.startswith(".")]


def test_missing_column_and_bad_field_spec(tmp_path):
    csv_path = write_csv(tmp_path / "p.csv")
    with pytest.raises(FingerprintError, match=r"'secu'.*columns are: id, nir"):
        do_import(tmp_path, csv_path=csv_path, fields=["secu=fr_nir"])
    with pytest.raises(FingerprintError, match="unknown kind 'ssn'"):
        FieldSpec.parse("nir=ssn")
    with pytest.raises(FingerprintError, match="COLUMN=KIND"):
        FieldSpec.parse("nir")
    with pytest.raises(FingerprintError, match="id column"):
        do_import(tmp_path, csv_path=csv_path, fields=["id=text"])
    with pytest.raises(FingerprintError, match="invalid fingerprint set name"):
        do_import(tmp_path, csv_path=csv_path, name="../escape")
    with pytest.raises(FingerprintError, match="does not exist"):
        do_import(tmp_path, csv_path=tmp_path / "absent.csv")


def test_no_usable_record_writes_nothing(tmp_path):
    csv_path = write_csv(tmp_path / "p.csv", rows=["P1,123,,,,,,,,,", ",,,,,,,,,,"])
    with pytest.raises(FingerprintError, match="no usable record in 2 row"):
        do_import(tmp_path, csv_path=csv_path)
    assert list_sets(tmp_path / "state") == []


def test_delimiter_and_encoding(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_bytes(("id;nom;prenom;naissance\nP9;Lefèvre;Bérénice;01/08/1960\n")
                         .encode("cp1252"))
    with pytest.raises(FingerprintError, match="--encoding"):
        do_import(tmp_path, csv_path=csv_path, delimiter=";", canary_column=None,
                  fields=["nom=last_name", "prenom=first_name", "naissance=date"])
    state, key, report = do_import(
        tmp_path, csv_path=csv_path, delimiter=";", encoding="cp1252", canary_column=None,
        fields=["nom=last_name", "prenom=first_name", "naissance=date"])
    assert report.records == 1 and not report.warnings
    fs = FingerprintSet.load(state, "patients", key)
    assert [m.record_id for m in fs.match("LEFEVRE;Bérénice;1960-08-01".encode())] == ["P9"]


def test_unrecognizable_set_warns(tmp_path):
    _, _, report = do_import(tmp_path, fields=["nom=last_name", "ville=text"])
    assert any("can never be recognized" in w for w in report.warnings)


def test_info_list_remove_and_loading_errors(tmp_path, monkeypatch):
    state, key, _ = do_import(tmp_path)
    info = set_info(state, "patients")
    assert (info.records, info.canaries) == (6, 1)
    assert info.fields[0] == {"column": "nir", "kind": "fr_nir"}
    assert info.created.endswith("+00:00")
    with pytest.raises(FingerprintError, match="different key"):
        FingerprintSet.load(state, "patients", os.urandom(32))
    with pytest.raises(FingerprintError, match=r"'staff' not found.*existing sets: patients"):
        load_fingerprint_sets(state, ["patients", "staff"], key=key)
    sets = load_fingerprint_sets(state, ["patients", "patients"], key=key)
    assert list(sets) == ["patients"]
    assert load_fingerprint_sets(state, []) == {}
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", key.hex())
    assert list(load_fingerprint_sets(state, ["patients"])) == ["patients"]
    remove_set(state, "patients")
    assert list_sets(state) == []
    with pytest.raises(FingerprintError, match="existing sets: none"):
        remove_set(state, "patients")


def test_damaged_set_is_a_clear_error(tmp_path):
    state, key, report = do_import(tmp_path)
    (report.path / "weak.npy").unlink()
    with pytest.raises(FingerprintError, match=r"cannot read weak\.npy"):
        FingerprintSet.load(state, "patients", key)
    (report.path / "meta.json").write_text("{not json")
    with pytest.raises(FingerprintError, match="cannot read"):
        FingerprintSet.load(state, "patients", key)
    assert list_sets(state) == []  # a broken folder is left out of the listing


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF8"])
def test_utf8_bom_from_excel_is_read(tmp_path, encoding):
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + "id,nom,prenom,naissance\nP7,Lefèvre,Bérénice,01/08/1960\n"
                         .encode())
    kw = {} if encoding is None else {"encoding": encoding}
    state, key, report = do_import(tmp_path, csv_path=csv_path, canary_column=None,
                                   fields=["nom=last_name", "prenom=first_name", "naissance=date"],
                                   **kw)
    assert report.records == 1
    fs = FingerprintSet.load(state, "patients", key)
    assert fs.record_id(0) == "P7"  # no BOM glued to the id column or its first value
    assert [m.record_id for m in fs.match("LEFEVRE;Bérénice;1960-08-01".encode())] == ["P7"]
