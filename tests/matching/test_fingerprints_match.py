"""Recognizing our records in reformatted dumps: every shape a leak takes must still match."""

from __future__ import annotations

import json
import os

import pytest
from stdnum.fr import nir as stdnum_nir

from monitor.matching.fingerprints import FieldSpec, FingerprintSet, build_set
from monitor.matching.fingerprints.matcher import WEIGHTS

NIR1 = "1850375123456" + stdnum_nir.calc_check_digits("1850375123456")
NIR4 = "275032A123456" + stdnum_nir.calc_check_digits("275032A123456")
PEOPLE = [
    {"id": "P1", "nir": NIR1, "nom": "Dupont", "prenom": "Jean-Pierre", "naissance": "12/03/1985",
     "email": "jp.dupont@example.fr", "tel": "06 12 34 56 78",
     "iban": "FR76 3000 6000 0112 3456 7890 189", "carte": "4970 1012 3456 7893",
     "ville": "Rennes"},
    {"id": "P2", "nom": "Le Gall", "prenom": "Marie", "naissance": "1990-07-01",
     "email": "famille.legall@example.fr", "ville": "Brest"},
    {"id": "P3", "nom": "Le Gall", "prenom": "Yann", "naissance": "29.02.1988",
     "email": "famille.legall@example.fr", "ville": "Brest", "canary": "yes"},
    {"id": "P4", "nir": NIR4, "nom": "N'Diaye", "prenom": "Aïssatou", "naissance": "3 mars 1975",
     "tel": "+33 7 98 76 54 32"},
    {"id": "P5", "nom": "Lefèvre", "prenom": "Bérénice", "naissance": "1 août 1960",
     "ville": "Saint-Étienne"},
    {"id": "P6", "nom": "Martin", "prenom": "Étienne", "naissance": "1960-08-01",
     "email": "étienne.martin@exemple.fr"},
]
FIELDS = ["nir=fr_nir", "nom=last_name", "prenom=first_name", "naissance=date", "email=email",
          "tel=phone", "iban=iban", "carte=card", "ville=text"]


@pytest.fixture(scope="module")
def fs(tmp_path_factory) -> FingerprintSet:
    state = tmp_path_factory.mktemp("fp") / "state"
    key = os.urandom(32)
    build_set(state, "patients", enumerate(PEOPLE, start=2), id_column="id",
              fields=[FieldSpec.parse(f) for f in FIELDS], key=key, canary_column="canary")
    return FingerprintSet.load(state, "patients", key)


def ids(fs: FingerprintSet, text: str) -> list[str]:
    return sorted(m.record_id for m in fs.match(text.encode("utf-8")))


def by_id(fs: FingerprintSet, text: str) -> dict:
    return {m.record_id: m for m in fs.match(text.encode("utf-8"))}


SPACED_NIR = f"{NIR1[0]} {NIR1[1:3]} {NIR1[3:5]} {NIR1[5:7]} {NIR1[7:10]} {NIR1[10:13]} {NIR1[13:]}"
DOTTED_NIR = SPACED_NIR.replace(" ", ".")


@pytest.mark.parametrize("text", [
    # one unique identifier, in every written form
    f"dump: {NIR1}",
    f"secu {SPACED_NIR} ok",
    f"secu={DOTTED_NIR};",
    f"nir without key: {NIR1[:13]} end",
    "tel: +33 6 12 34 56 78",
    "06.12.34.56.78",
    "0612345678",
    "0033612345678",
    "+33612345678",
    "contact JP.Dupont@Example.FR now",
    "<jp.dupont@example.fr>",
    "iban FR7630006000011234567890189 PARIS",
    "IBAN: FR76 3000 6000 0112 3456 7890 189",
    "cc 4970 1012 3456 7893 exp 12/27",
    "cc 4970-1012-3456-7893",
])
def test_unique_identifier_forms(fs, text):
    assert ids(fs, text) == ["P1"]


@pytest.mark.parametrize("text", [
    "DUPONT;Jean-Pierre;12/03/1985",
    "12.03.1985,Dupont,Jean Pierre",
    "Jean-Pierre|DUPONT|1985-03-12|Rennes",
    "Rennes\t19850312\tdupont\tJEAN-PIERRE",
    "DUPONT, Jean-Pierre ; né le 12 mars 1985",
    "Dupont Jean Pierre 12 March 1985",
    "dupont jean-pierre 12-03-1985",
    '{"last": "DUPONT", "first": "Jean-Pierre", "dob": "1985-03-12"}',
    "INSERT INTO patients (nom, prenom, ddn) VALUES ('DUPONT', 'Jean-Pierre', '1985-03-12');",
])
def test_name_and_birth_date_shapes(fs, text):
    got = by_id(fs, text)
    assert list(got) == ["P1"]
    assert {"last_name", "first_name", "date"} <= set(got["P1"].fields)


@pytest.mark.parametrize("date", [
    "1960-08-01", "01/08/1960", "01.08.1960", "01-08-1960", "1 août 1960", "1er août 1960",
    "1 aout 1960", "1 AOÛT 1960", "1 August 1960", "19600801",
])
def test_every_date_form(fs, date):
    assert ids(fs, f"LEFEVRE;Bérénice;{date};Lyon") == ["P5"]


def test_non_ascii_email(fs):
    assert ids(fs, "ÉTIENNE.MARTIN@EXEMPLE.FR:motdepasse123") == ["P6"]
    assert ids(fs, "contact: étienne.martin@exemple.fr;") == ["P6"]
    assert ids(fs, "tienne.martin@exemple.fr") == []


def test_names_with_apostrophes_and_accents(fs):
    assert ids(fs, "N'DIAYE Aissatou 03/03/1975") == ["P4"]
    assert ids(fs, "('N''Diaye','Aïssatou','1975-03-03')") == ["P4"]
    assert ids(fs, "NDiaye;AÏSSATOU;3 mars 1975") == ["P4"]
    nir4 = f"{NIR4[0]} {NIR4[1:3]} {NIR4[3:5]} {NIR4[5:7]} {NIR4[7:10]} {NIR4[10:13]} {NIR4[13:]}"
    assert ids(fs, f"secu: {nir4}") == ["P4"]


def test_csv_dump_reordered_columns(fs):
    dump = (
        "ville;naissance;telephone;prenom;nom\n"
        "Lyon;14/07/1970;0699999999;Paul;Durand\n"
        "Rennes;12/03/1985;06.12.34.56.78;Jean-Pierre;DUPONT\n"
        "Brest;01/07/1990;;Marie;LE GALL\n"
    )
    got = by_id(fs, dump)
    assert sorted(got) == ["P1", "P2"]
    assert set(got["P1"].fields) == {"phone", "first_name", "last_name", "date", "text"}


def test_json_pretty_and_lines(fs):
    records = [{"nom": "MARTIN", "prenom": "Paul", "naissance": "1960-08-01"},
               {"nom": "Lefèvre", "prenom": "Bérénice", "naissance": "01/08/1960"},
               {"tel": "+33 7 98 76 54 32", "nom": "x"}]
    assert ids(fs, json.dumps(records, indent=2, ensure_ascii=False)) == ["P4", "P5"]
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    assert ids(fs, lines) == ["P4", "P5"]
    assert ids(fs, json.dumps(records, ensure_ascii=False)) == ["P4", "P5"]  # one line


def test_pretty_json_after_other_text_and_crlf(fs):
    records = [{"id": 1, "person": {"nom": "Lefèvre", "prenom": "Bérénice"},
                "naissance": "01/08/1960", "ville": "Lyon"},
               {"id": 2, "person": {"nom": "MARTIN", "prenom": "Paul"}, "naissance": "1960-08-01"}]
    pretty = json.dumps(records, indent=4, ensure_ascii=False)
    doc = "name;first;dob\nDURAND;Paul;1960-08-01\n\n" + pretty + "\n"
    assert ids(fs, doc) == ["P5"]
    assert ids(fs, doc.replace("\n", "\r\n")) == ["P5"]
    # objects must stay apart: P5's names in one object, its birth date in the next
    swapped = [{"nom": "Lefèvre", "prenom": "Bérénice", "naissance": "1999-01-01"},
               {"nom": "MARTIN", "prenom": "Paul", "naissance": "01/08/1960"}]
    assert ids(fs, json.dumps(swapped, indent=2, ensure_ascii=False)) == []


def test_sql_extended_insert_keeps_tuples_apart(fs):
    sql = ("INSERT INTO p VALUES ('DUPONT','Jean-Pierre','01/08/1960'),"
           "('LEFEVRE','Bérénice','12/03/1985'),('MARTIN','Paul','1970-01-01');")
    assert ids(fs, sql) == []  # names and dates of different tuples never combine
    sql_ok = ("INSERT INTO p VALUES ('MARTIN','Paul','1970-01-01'),"
              "('LEFEVRE','Bérénice','01/08/1960'),('DUPONT','Jean-Pierre','12/03/1985');")
    assert ids(fs, sql_ok) == ["P1", "P5"]


def test_fields_on_different_lines_do_not_combine(fs):
    assert ids(fs, "DUPONT Jean-Pierre\n12/03/1985\n") == []
    assert ids(fs, "DUPONT;Jean-Pierre;12/03/1986") == []  # one day off
    assert ids(fs, "DUPONT;Jean;12/03/1985") == []  # another first name


def test_city_is_not_a_first_name(fs):
    # "Saint-Étienne" must not read as the first name Étienne of P6 (Martin, 1960-08-01).
    assert ids(fs, "MARTIN;Saint-Étienne;1960-08-01") == []
    assert ids(fs, "MARTIN;Étienne;1960-08-01") == ["P6"]


def test_confidence_rises_with_corroboration(fs):
    alone = by_id(fs, f"x {NIR1} x")["P1"].confidence
    with_name = by_id(fs, f"DUPONT;{NIR1}")["P1"].confidence
    full = by_id(fs, f"DUPONT;Jean-Pierre;{NIR1};12/03/1985;jp.dupont@example.fr")["P1"]
    assert alone == pytest.approx(WEIGHTS["fr_nir"])
    assert alone < with_name < full.confidence <= 1.0
    assert set(full.fields) == {"fr_nir", "email", "first_name", "last_name", "date"}
    combo = by_id(fs, "DUPONT;Jean-Pierre;12/03/1985")["P1"].confidence
    assert 0.5 < combo < alone


def test_shared_email_reports_the_corroborated_owner(fs):
    got = by_id(fs, "famille.legall@example.fr;Yann;Brest")
    assert list(got) == ["P3"]
    assert got["P3"].canary is True
    assert set(got["P3"].fields) == {"email", "first_name", "text"}
    got = by_id(fs, "famille.legall@example.fr | Marie | 01/07/1990")
    assert list(got) == ["P2"] and got["P2"].canary is False


def test_shared_email_alone_reports_all_owners_low(fs):
    got = by_id(fs, "mail: famille.legall@example.fr")
    assert sorted(got) == ["P2", "P3"]
    unique = by_id(fs, "mail: jp.dupont@example.fr")["P1"].confidence
    assert got["P2"].confidence < unique / 1.5
    assert got["P2"].fields == ("email",)


def test_email_local_part_is_not_a_name(fs):
    # "legall" inside the shared address must not corroborate the last name "Le Gall".
    got = by_id(fs, "famille.legall@example.fr")
    assert all("last_name" not in m.fields for m in got.values())


def test_canary_flag(fs):
    got = by_id(fs, "LE GALL, Yann, 29/02/1988")
    assert list(got) == ["P3"] and got["P3"].canary
    assert not by_id(fs, "0612345678")["P1"].canary


def test_record_found_on_several_rows_is_reported_once(fs):
    got = fs.match(b"0612345678\nDUPONT;Jean-Pierre;12/03/1985;" + NIR1.encode() + b"\n")
    assert [m.record_id for m in got] == ["P1"]
    assert {"phone", "fr_nir", "last_name"} <= set(got[0].fields)


def test_nothing_in_unrelated_text(fs):
    assert fs.match(b"") == []
    assert ids(fs, "hello world, 12/03/1985, 06 99 99 99 99, jean.pierre@elsewhere.org") == []
    other = "2850375123456" + stdnum_nir.calc_check_digits("2850375123456")
    assert ids(fs, f"nir {other}") == []
    assert ids(fs, "4970 1012 3456 7894 FR7630006000011234567890188") == []


def test_hostile_inputs(fs):
    huge_line = b"A" * 3_000_000 + b" " + NIR1.encode() + b" " + b"B" * 1000
    assert [m.record_id for m in fs.match(huge_line)] == ["P1"]
    binary = bytes(range(256)) * 2000
    assert fs.match(binary) == []
    digits = b"0" * 100_000 + b"\n" + b"1." * 50_000
    assert fs.match(digits) == []
    broken = b"DUPONT;Jean-Pierre;12/03/1985" + b"\xff\xfe\xc3"
    assert [m.record_id for m in fs.match(broken)] == ["P1"]


def test_same_first_and_last_name_needs_both(tmp_path):
    key = os.urandom(32)
    state = tmp_path / "state"
    build_set(state, "s", [(2, {"id": "F1", "nom": "François", "prenom": "François",
                                "naissance": "2003-02-09"})], id_column="id",
              fields=[FieldSpec.parse(f) for f in ("nom=last_name", "prenom=first_name",
                                                   "naissance=date")], key=key)
    fs = FingerprintSet.load(state, "s", key)
    assert ids(fs, "Pasquier;François;09/02/2003") == []
    assert ids(fs, "FRANCOIS;François;09/02/2003") == ["F1"]
    assert ids(fs, "François François 09/02/2003") == ["F1"]


def test_concurrent_matching_gives_the_serial_results(fs):
    from concurrent.futures import ThreadPoolExecutor

    docs = [f"DUPONT;Jean-Pierre;12/03/1985\n{i}" for i in range(20)]
    docs += [f"mail {i}: famille.legall@example.fr;Yann" for i in range(20)]
    docs += [f"LEFEVRE Bérénice 1 août 1960 #{i}" for i in range(20)]
    serial = [fs.match(d.encode()) for d in docs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda d: fs.match(d.encode()), docs))
    assert parallel == serial
    assert {m.record_id for ms in serial for m in ms} == {"P1", "P3", "P5"}


def test_fields_run_together_in_space_separated_dumps(fs):
    assert ids(fs, "DURAND Paul 1985 06 12 34 56 78 Lyon") == ["P1"]
    assert ids(fs, f"né le 12 mars 1986 {SPACED_NIR} à Lyon") == ["P1"]
    assert ids(fs, "carte 4970 1012 3456 7893 1234 5678") == ["P1"]
    assert ids(fs, f"0612345678 {SPACED_NIR} 12 rue de la Paix") == ["P1"]
    got = by_id(fs, f"x 0612345678 {SPACED_NIR} y")["P1"]
    assert set(got.fields) == {"fr_nir", "phone"}


def test_no_phone_made_up_from_digit_soup(tmp_path):
    key = os.urandom(32)
    state = tmp_path / "state"
    build_set(state, "s", [(2, {"id": "T1", "tel": "06 26 49 07 95"})], id_column="id",
              fields=[FieldSpec.parse("tel=phone")], key=key)
    fs = FingerprintSet.load(state, "s", key)
    assert ids(fs, "appel au 06 26 49 07 95") == ["T1"]
    # "06.26.490.795" sits inside a dotted NIR next to a date: not a phone number
    assert ids(fs, "Paris Cécile 1976-06-21 2.76.06.26.490.795.57") == []
    assert ids(fs, "ref 2.76.06.26.490.795.57.12.34") == []


def test_set_written_before_dob_and_last_name_files_matches_the_same(tmp_path):
    """Sets imported by earlier versions have no dob_h.npy / last_h.npy: they are derived at
    load, and the matches are the same."""
    key = os.urandom(32)
    build_set(tmp_path, "old", enumerate(PEOPLE, start=2), id_column="id",
              fields=[FieldSpec.parse(f) for f in FIELDS], key=key, canary_column="canary")
    text = ("LE GALL;Yann;29/02/1988;Brest\nN'DIAYE, Aïssatou | 3 mars 1975\n"
            "Lefèvre Bérénice née le 1er août 1960\n").encode()
    current = FingerprintSet.load(tmp_path, "old", key).match(text)
    path = tmp_path / "fingerprints" / "old"
    (path / "dob_h.npy").unlink()
    (path / "last_h.npy").unlink()
    derived = FingerprintSet.load(tmp_path, "old", key).match(text)
    assert [m.record_id for m in current] == ["P3", "P4", "P5"]
    assert derived == current
