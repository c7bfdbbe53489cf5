"""The kinds registry (monitor/matching/kinds/): one module per kind, read by every consumer.

Pins the hash domain and a known HMAC of every built-in kind (stored fingerprint sets must keep
matching), checks that the C reader hashes under the registry's domains, that a kind registered
later is picked up by import, matching and detectors, and the Belgian national number.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterator

import pytest

from monitor.matching import identifiers, kinds
from monitor.matching.detectors import DETECTORS
from monitor.matching.engine import Engine
from monitor.matching.fingerprints import FieldSpec, FingerprintSet, build_set
from monitor.matching.fingerprints.build import _check_fields
from monitor.matching.fingerprints.candidates import Extractor, native_domains
from monitor.matching.fingerprints.hashing import DOMAINS, Hasher, fingerprint_value
from monitor.matching.fingerprints.matcher import WEIGHTS
from monitor.matching.kinds import DetectorSpec, Kind
from monitor.matching.rules import Rule

KEY = b"pinned-key-for-hash-domain-tests"
# kind: (written value, domain, hashed form, HMAC-SHA-256 of domain\0form under KEY, first
# 8 bytes little-endian). Computed before the registry existed; they must never change.
PINNED = {
    "fr_nir": ("1 85 03 75 123 456 41", b"fr_nir", "1850375123456", 5908107490285439306),
    "email": ("Jean.Dupont@Example.FR", b"email", "jean.dupont@example.fr", 701655280215511007),
    "phone": ("06 12 34 56 78", b"phone", "+33612345678", 5249889329776083182),
    "iban": ("FR76 3000 6000 0112 3456 7890 189", b"iban", "FR7630006000011234567890189",
             16122759375673387685),
    "card": ("4111 1111 1111 1111", b"card", "4111111111111111", 608556844704785893),
    "first_name": ("Jean-Pierre", b"name", "jeanpierre", 2742015526507957597),
    "last_name": ("Le Gall", b"name", "legall", 7167469916941939349),
    "date": ("12/03/1985", b"date", "1985-03-12", 10625387677642260672),
    "text": ("Rue de la Paix", b"text", "ruedelapaix", 4467726066750856504),
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_hash_domain_and_hmac_of_each_kind_are_pinned(kind):
    written, domain, form, want = PINNED[kind]
    assert DOMAINS[kind] == kinds.get(kind).domain == domain
    normalized = identifiers.normalize(kind, written)
    assert normalized is not None
    assert fingerprint_value(kind, normalized) == form
    assert Hasher(KEY).hash(domain, form) == want
    digest = hmac.digest(KEY, domain + b"\0" + form.encode(), "sha256")
    assert int.from_bytes(digest[:8], "little") == want


def test_the_c_reader_hashes_under_the_registry_domains():
    """The C reader is given its domains by the registry: a document holding the pinned values
    yields the pinned hashes (strong kinds, the date, the name grams)."""
    ex = Extractor(Hasher(KEY))
    doc = ";".join(PINNED[k][0] for k in ("fr_nir", "email", "phone", "iban", "card", "date"))
    cand = ex.extract((doc + ";Le Gall\n").encode())
    strong = {(cand.kind(i), int(h)) for i, h in enumerate(cand.strong_hashes.tolist())}
    for kind in ("fr_nir", "email", "phone", "iban", "card"):
        assert (kind, PINNED[kind][3]) in strong
    assert PINNED["date"][3] in cand.date_hashes.tolist()
    view = ex.phrase_view(doc.encode() + b";Le Gall\n", cand.email_spans)
    assert PINNED["last_name"][3] in ex.names_in(view, 0, len(view))


def test_registry_order_is_the_field_order_and_weights_come_from_kinds():
    assert identifiers.KINDS[:9] == ("fr_nir", "email", "phone", "iban", "card", "first_name",
                                     "last_name", "date", "text")
    assert {"fr_nir", "email", "phone", "iban", "card", "be_nn"} == identifiers.UNIQUE_KINDS
    assert dict(WEIGHTS) == {k.name: k.weight for k in kinds.all_kinds()}
    assert WEIGHTS["fr_nir"] == 0.95 and WEIGHTS["text"] == 0.1
    assert "phone" in DETECTORS and "first_name" not in DETECTORS


def test_registry_refuses_clashes():
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(kinds.get("email"))
    clash = Kind(name="other_card", normalize=lambda v, r: v, domain=b"card", weight=0.5,
                 unique=True, find=lambda d, r: [])
    with pytest.raises(ValueError, match="hash domain b'card' is already used by 'card'"):
        kinds.register(clash)
    with pytest.raises(ValueError, match="C reader code 2 is already used by 'card'"):
        kinds.register(Kind(name="other", normalize=lambda v, r: v, domain=b"other",
                            weight=0.5, unique=True, native=2))
    with pytest.raises(ValueError, match="needs a C reader code"):
        Kind(name="lost", normalize=lambda v, r: v, domain=b"lost", weight=0.5, unique=True)
    with pytest.raises(ValueError, match="unknown field kind 'shoe_size'; expected one of fr_nir"):
        kinds.get("shoe_size")


def test_a_kind_whose_c_code_names_another_reader_is_an_error():
    wrong = Kind(name="nir_typo", normalize=lambda v, r: v, domain=b"nir_typo", weight=0.5,
                 unique=True, native=5)
    kinds.register(wrong)
    try:
        with pytest.raises(ValueError, match="C reader code 5 reads nothing"):
            native_domains(frozenset({"nir_typo"}))
    finally:
        kinds.unregister("nir_typo")


# --- a throw-away kind: one module's worth of code, picked up everywhere --------------------

_MEMBER = re.compile(rb"(?<![A-Za-z0-9])MBR-([0-9]{6})-([A-Z])(?![A-Za-z0-9])")


def _member_check(digits: str) -> str:
    return "ABCDEFGHJKLMNPQRSTUVWXYZ"[int(digits) % 24]


def _member_normalize(value: str, region: str) -> str | None:
    m = _MEMBER.fullmatch(value.strip().upper().encode())
    if m is None or _member_check(m[1].decode()) != m[2].decode():
        return None
    return m[0].decode()


def _member_find(data: bytes, region: str) -> list[tuple[int, str]]:
    out = []
    for m in _MEMBER.finditer(data):
        value = _member_normalize(m[0].decode(), region)
        if value is not None:
            out.append((m.start(), value))
    return out


def _member(digits: str) -> str:
    return f"MBR-{digits}-{_member_check(digits)}"


@pytest.fixture
def member_kind() -> Iterator[Kind]:
    kind = kinds.register(Kind(
        name="zz_member", normalize=_member_normalize, domain=b"zz_member", weight=0.9,
        unique=True, find=_member_find,
        detector=DetectorSpec("club member number with its check letter",
                              (rb"MBR-[0-9]{6}-[A-Z]",), _MEMBER,
                              lambda m, r: _member_normalize(m[0].decode(), r),
                              reach=14, after=2),
    ))
    yield kind
    kinds.unregister("zz_member")


def test_a_registered_kind_is_imported_matched_and_detected(member_kind, tmp_path):
    assert "zz_member" in identifiers.KINDS and "zz_member" in identifiers.UNIQUE_KINDS
    assert identifiers.is_valid("zz_member", _member("123456"))
    assert not identifiers.is_valid("zz_member", "MBR-123456-B")  # wrong check letter
    assert DOMAINS["zz_member"] == b"zz_member" and WEIGHTS["zz_member"] == 0.9
    assert FieldSpec.parse("m=zz_member").kind == "zz_member"
    assert _check_fields([FieldSpec("m", "zz_member")], "id") == []  # unique: no warning

    key = os.urandom(32)
    rows = [(2, {"id": "R1", "m": _member("123456"), "nom": "Dupont"}),
            (3, {"id": "R2", "m": _member("654321"), "nom": "Martin"})]
    report = build_set(tmp_path, "club", rows, id_column="id", key=key,
                       fields=[FieldSpec.parse("m=zz_member"), FieldSpec.parse("nom=last_name")])
    assert report.records == 2 and not report.unusable
    fs = FingerprintSet.load(tmp_path, "club", key)
    found = fs.match(f"leak\nDupont;{_member('123456')}\n{_member('999999')}\n".encode())
    assert [(m.record_id, m.fields) for m in found] == [("R1", ("last_name", "zz_member"))]
    assert found[0].confidence == pytest.approx(1 - (1 - 0.9) * (1 - 0.3), abs=1e-3)

    assert "zz_member" in DETECTORS
    engine = Engine.build([Rule(id="m", title="m", detectors=("zz_member",))])
    text = f"{_member('123456')} {_member('111111')} MBR-222222-A"
    hits = engine.scan_text(text)
    assert [(h.rule_id, h.count) for h in hits] == [("m", 2)]


def test_an_unregistered_kind_is_gone(member_kind):
    kinds.unregister("zz_member")
    try:
        assert "zz_member" not in DETECTORS and "zz_member" not in identifiers.KINDS
        with pytest.raises(ValueError, match="unknown field kind"):
            identifiers.normalize("zz_member", _member("123456"))
    finally:
        kinds.register(member_kind)  # the fixture removes it again


# --- be_nn: the Belgian national number -------------------------------------------------

# python-stdnum's own examples (stdnum/be/nn.py and tests/test_be_nn.doctest)
BE_VALID = {
    "85.07.30-033 28": "85073003328", "85 07 30 033 28": "85073003328",
    "17 07 30 033 84": "17073003384", "75.06.08-980.09": "75060898009",
    "00000100166": "00000100166", "00010000135": "00010000135", "85073500107": "85073500107",
}
BE_INVALID = ["12345678901", "85133000105", "85.07.30-033.29", "8507300332"]


@pytest.mark.parametrize(("written", "compact"), sorted(BE_VALID.items()))
def test_be_nn_valid_numbers(written, compact):
    assert identifiers.normalize("be_nn", written) == compact


@pytest.mark.parametrize("written", BE_INVALID)
def test_be_nn_invalid_numbers(written):
    assert identifiers.normalize("be_nn", written) is None


def test_be_nn_fingerprints_and_detector(tmp_path):
    key = os.urandom(32)
    rows = [(2, {"id": "B1", "nn": "85.07.30-033.28", "nom": "Peeters"}),
            (3, {"id": "B2", "nn": "17073003384", "nom": "Janssens"})]
    build_set(tmp_path, "be", rows, id_column="id", key=key,
              fields=[FieldSpec.parse("nn=be_nn"), FieldSpec.parse("nom=last_name")])
    fs = FingerprintSet.load(tmp_path, "be", key)
    doc = "rijksregisternummer;naam\n85073003328;X\n17 07 30 033 84;Janssens\n12345678901;Y\n"
    found = {m.record_id: m.fields for m in fs.match(doc.encode())}
    assert found == {"B1": ("be_nn",), "B2": ("last_name", "be_nn")}
    # glued to a word or a decimal point, it is not read
    assert fs.match(b"id85073003328 4.85073003328\n") == []

    engine = Engine.build([Rule(id="nn", title="nn", detectors=("be_nn",))])
    hits = engine.scan_text("NN 85.07.30-033.28, 75.06.08-980.09; faux 12345678901")
    assert [(h.rule_id, h.count) for h in hits] == [("nn", 2)]
