"""Normalization and validation per kind: both sides of a fingerprint comparison depend on it."""

from __future__ import annotations

import pytest
from stdnum.fr import nir as stdnum_nir

from monitor.matching.identifiers import KINDS, fold, is_valid, normalize

NIR_BODY = "1850375123456"
NIR = NIR_BODY + stdnum_nir.calc_check_digits(NIR_BODY)
NIR_CORSE_BODY = "285032A123456"
NIR_CORSE = NIR_CORSE_BODY + stdnum_nir.calc_check_digits(NIR_CORSE_BODY)


@pytest.mark.parametrize("written", [
    NIR,
    f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:13]} {NIR[13:]}",
    f"{NIR[0]}.{NIR[1:3]}.{NIR[3:5]}.{NIR[5:7]}.{NIR[7:10]}.{NIR[10:13]}.{NIR[13:]}",
    f"{NIR[:5]}-{NIR[5:10]}-{NIR[10:]}",
])
def test_nir_is_compacted(written):
    assert normalize("fr_nir", written) == NIR


def test_nir_corsica_and_bad_key():
    assert normalize("fr_nir", NIR_CORSE.replace("2A", "2a")) == NIR_CORSE
    bad_key = NIR[:13] + f"{(int(NIR[13:]) + 1) % 100:02d}"
    assert normalize("fr_nir", bad_key) is None
    assert not is_valid("fr_nir", bad_key)
    assert normalize("fr_nir", NIR[:13]) is None  # without its key: not a usable import value


@pytest.mark.parametrize("written", [
    "06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78", "+33612345678",
    "0033 6 12 34 56 78", "06-12-34-56-78",
])
def test_phone_to_e164(written):
    assert normalize("phone", written) == "+33612345678"


def test_phone_region_and_invalid():
    assert normalize("phone", "030 123456", region="DE") == "+4930123456"
    assert normalize("phone", "+1 650-253-0000", region="FR") == "+16502530000"
    assert normalize("phone", "12") is None
    assert normalize("phone", "not a phone") is None


@pytest.mark.parametrize("written", [
    "Jean.Dupont@Example.FR", " jean.dupont@example.fr ", "<JEAN.DUPONT@EXAMPLE.FR>",
    "mailto:jean.dupont@example.fr",
])
def test_email_lower_case(written):
    assert normalize("email", written) == "jean.dupont@example.fr"


def test_email_non_ascii_local_part():
    assert normalize("email", "Salvador.Chlipała@LaPoste.net") == "salvador.chlipała@laposte.net"


def test_email_invalid():
    assert normalize("email", "jean.dupont.example.fr") is None
    assert normalize("email", "jean@localhost") is None
    assert normalize("email", "jean dupont@example.fr") is None


@pytest.mark.parametrize("written", [
    "FR7630006000011234567890189", "FR76 3000 6000 0112 3456 7890 189",
    "fr76 3000 6000 0112 3456 7890 189",
])
def test_iban_compact_upper(written):
    assert normalize("iban", written) == "FR7630006000011234567890189"


def test_iban_bad_checksum():
    assert normalize("iban", "FR7630006000011234567890188") is None


@pytest.mark.parametrize("written", ["4970 1012 3456 7893", "4970-1012-3456-7893",
                                     "4970101234567893"])
def test_card_digits(written):
    assert normalize("card", written) == "4970101234567893"


def test_card_invalid():
    assert normalize("card", "4970 1012 3456 7894") is None  # Luhn
    assert normalize("card", "0000 0000 0000 0000") is None


@pytest.mark.parametrize("written", [
    "1985-03-12", "12/03/1985", "12.03.1985", "12-03-1985", "12 mars 1985", "12 MARS 1985",
    "12 March 1985", "19850312", "1985/03/12", "March 12, 1985",
])
def test_date_forms_to_iso(written):
    assert normalize("date", written) == "1985-03-12"


def test_date_accents_first_and_invalid():
    assert normalize("date", "12 février 1985") == "1985-02-12"
    assert normalize("date", "12 fevrier 1985") == "1985-02-12"
    assert normalize("date", "1er août 1985") == "1985-08-01"
    assert normalize("date", "31/02/1985") is None
    assert normalize("date", "yesterday") is None


@pytest.mark.parametrize(("kind", "written", "expected"), [
    ("last_name", "LE GALL", "le gall"),
    ("last_name", "Le  Gall", "le gall"),
    ("last_name", "N’Diaye", "n diaye"),
    ("first_name", "Jean-Pierre", "jean pierre"),
    ("first_name", "JÉRÔME", "jerome"),
    ("first_name", "Ｊｅａｎ", "jean"),  # NFKC: full-width letters
    ("text", "  Saint-Étienne  ", "saint-etienne"),
])
def test_names_folded(kind, written, expected):
    assert normalize(kind, written) == expected


def test_fold_and_unknown_kind():
    assert fold("Société Générale") == "societe generale"
    assert normalize("text", "   ") is None
    with pytest.raises(ValueError, match="unknown field kind"):
        normalize("shoe_size", "42")
    assert set(KINDS) >= {"fr_nir", "email", "phone", "iban", "card", "first_name",
                          "last_name", "date", "text"}


def test_nir_key_check_is_stdnum_on_random_and_edge_values():
    """The inlined key check answers exactly as python-stdnum's `fr.nir.is_valid` for
    15-character compact values: random digits, Corsica, letters, non-ASCII digits."""
    import random

    from monitor.matching.kinds.fr_nir import nir_key_ok as _nir_key_ok

    rng = random.Random(97)
    values = []
    for _ in range(20000):
        body = "".join(rng.choice("0123456789") for _ in range(13))
        if rng.random() < 0.1:
            body = body[:5] + rng.choice(("2A", "2B", "2C", "AA", "2a")) + body[7:]
        computable = body[5:7] in ("2A", "2B") or body[5:7].isdigit()
        key = (stdnum_nir.calc_check_digits(body) if computable and rng.random() < 0.5
               else f"{rng.randrange(100):02d}")
        values.append(body + key)
    values += [NIR, NIR_CORSE, "1" * 14 + "\u0663", "\u0661" + NIR[1:], "X" + NIR[1:],
               NIR[:13] + "9x", NIR[:5] + "2A" + NIR[7:]]
    valid = 0
    for v in values:
        want = stdnum_nir.is_valid(v)
        assert _nir_key_ok(v.upper()) == want, v  # callers pass the upper-cased compact form
        valid += want
    assert 5000 < valid < len(values) - 5000, valid  # both answers well represented
