"""Rule features through the compiled engine: keywords, regex, fuzzy, conditions, excerpts."""

from __future__ import annotations

import threading

import pytest
from _idgen import cards, nirs

from monitor.errors import RuleFileError
from monitor.matching.engine import Engine
from monitor.matching.rules import Rule
from monitor.models import RecordMatch


def rule(**kw) -> Rule:
    kw.setdefault("id", "r")
    kw.setdefault("title", "test rule")
    return Rule(**kw)


def hits(rules: list[Rule] | Rule, text: str) -> dict[str, int]:
    rules = [rules] if isinstance(rules, Rule) else rules
    return {h.rule_id: h.count for h in Engine.build(rules).scan_text(text)}


# --- keywords: case, accents, boundaries --------------------------------------------------

@pytest.mark.parametrize("text", [
    "la Société Générale annonce", "SOCIETE GENERALE", "societe generale", "SOCIÉTÉ GÉNÉRALE",
    "Société\u00a0Générale", "société\ngénérale", "(Société Générale)",
])
def test_accented_keyword_finds_every_spelling(text):
    assert hits(rule(keywords=("Société Générale",)), text) == {"r": 1}


@pytest.mark.parametrize("text", ["Sociétés Générales", "xsociete generale", "societe generalement"])
def test_keyword_needs_word_boundaries(text):
    assert hits(rule(keywords=("Société Générale",)), text) == {}


def test_keyword_inside_urls_and_email_domains():
    r = rule(keywords=("dedalus-biologie.fr",))
    assert hits(r, "x@dedalus-biologie.fr") == {"r": 1}
    assert hits(r, "https://portail.dedalus-biologie.fr/login") == {"r": 1}
    assert hits(r, "mail.dedalus-biologie.fr.") == {"r": 1}
    assert hits(r, "dedalus-biologie.free.fr") == {}
    assert hits(r, "notdedalus-biologie.fr") == {}


def test_keyword_word_inside_domain_and_ligatures_apostrophes():
    assert hits(rule(keywords=("dedalus",)), "contact@dedalus-biologie.fr") == {"r": 1}
    assert hits(rule(keywords=("Cœur Défense",)), "tour coeur defense") == {"r": 1}
    assert hits(rule(keywords=("L'Oréal",)), "chez L’ORÉAL hier") == {"r": 1}


def test_keyword_count_and_unicode_neighbours():
    r = rule(keywords=("acme",))
    assert hits(r, "acme, ACME; Acme! acmé acmex") == {"r": 3}
    assert hits(r, "éacme") == {}  # an accented letter is a word character


# --- regex --------------------------------------------------------------------------------

def test_regex_in_hyperscan_counts_non_overlapping_matches():
    r = rule(regex=(r"PRJ-\d{4,}",))
    assert hits(r, "PRJ-12345 and PRJ-0001, not PRJ-12") == {"r": 2}


def test_regex_hyperscan_cannot_run_is_confirmed_in_python():
    r = rule(regex=(r"(?<=code:)[a-z]{3}\b", r"(\w)\1{5}"))
    assert hits(r, "code:abc") == {"r": 1}
    assert hits(r, "xcode: abc") == {}
    assert hits(r, "aaaaaa") == {"r": 1}


def test_regex_lines_and_inline_flags():
    assert hits(rule(regex=(r"^leak$",)), "x\nleak\ny") == {"r": 1}
    assert hits(rule(regex=(r"(?i)secret project",)), "SECRET PROJECT") == {"r": 1}
    assert hits(rule(regex=(r"secret project",)), "SECRET PROJECT") == {}


def test_bad_regex_at_build_names_rule():
    with pytest.raises(RuleFileError, match=r"rule r.*bad regex"):
        Engine.build([rule(regex=("(unclosed",))])


# --- fuzzy and leet -----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "d3dalus biologie", "D.E.D.A.L.U.S biologie", "d-e-d-a-l-u-s biologie", "d e d a l u s",
    "dedaluz", "dedalsu", "DEDALLUS",
])
def test_fuzzy_finds_obfuscated_and_misspelt(text):
    assert "r" in hits(rule(keywords=("Dedalus",), fuzzy=80), text)


@pytest.mark.parametrize("text", ["medalist", "dedicated", "vandalism", "dental", "the dallas team"])
def test_fuzzy_threshold_keeps_unrelated_words_out(text):
    assert hits(rule(keywords=("Dedalus",), fuzzy=80), text) == {}


def test_fuzzy_off_means_exact():
    assert hits(rule(keywords=("Dedalus",)), "d3dalus dedaluz") == {}


def test_threshold_decides_misspellings():
    text = "dedalsu"  # a transposition: two edits, ratio 85.7
    assert hits(rule(keywords=("Dedalus",), fuzzy=85), text) == {"r": 1}
    assert hits(rule(keywords=("Dedalus",), fuzzy=95), text) == {}


def test_fuzzy_variants_of_one_mention_count_once():
    assert hits(rule(keywords=("Dedalus",), fuzzy=80), "dedalus") == {"r": 1}


# --- conditions ---------------------------------------------------------------------------

def test_near_within_window_only():
    r = rule(keywords=("Dedalus",), near=("fuite", "dump"), window=40)
    assert hits(r, "Fuite chez Dedalus hier") == {"r": 1}
    assert hits(r, "Dedalus " + "x" * 60 + " dump") == {}
    assert hits(r, "Dedalus seul") == {}
    assert hits(r, "Dedalus dumping") == {}  # near words need boundaries too


def test_near_counts_only_close_mentions():
    r = rule(keywords=("acme",), near=("leak",), window=20)
    text = "acme leak " + "." * 100 + " acme alone"
    assert hits(r, text) == {"r": 1}


def test_exclude_anywhere_in_document():
    r = rule(keywords=("acme",), exclude=("communiqué de presse",))
    assert hits(r, "acme") == {"r": 1}
    assert hits(r, "acme ... " + "x" * 5000 + " COMMUNIQUE DE PRESSE") == {}


def test_min_count():
    r = rule(keywords=("acme",), min_count=3)
    assert hits(r, "acme acme") == {}
    assert hits(r, "acme acme acme") == {"r": 3}


def test_detector_min_count_uses_distinct_values():
    v = nirs(3)
    r = rule(detectors=("fr_nir",), min_count=3)
    assert hits(r, f"{v[0]} {v[0]} {v[1]}") == {}
    assert hits(r, " ".join(v)) == {"r": 3}


def test_disabled_rules_are_not_compiled_unless_asked():
    r = rule(keywords=("acme",), enabled=False)
    assert Engine.build([r]).scan_text("acme") == []
    assert [h.rule_id for h in Engine.build([r], include_disabled=True).scan_text("acme")] == ["r"]


def test_hit_carries_title_severity_tags():
    r = rule(keywords=("acme",), severity="high", tags=("org", "mention"), title="Acme named")
    (hit,) = Engine.build([r]).scan_text("acme")
    assert (hit.title, hit.severity, hit.tags, hit.fingerprint_set) == \
        ("Acme named", "high", ("org", "mention"), None)


def test_rules_combine_keywords_regex_and_detectors():
    r = rule(keywords=("acme",), regex=(r"ACM-\d+",), detectors=("email",))
    assert hits(r, "acme ACM-1 a@b.fr") == {"r": 3}


# --- excerpts -----------------------------------------------------------------------------

def test_excerpt_is_redacted_and_around_first_match():
    v = nirs(1)[0]
    text = "z" * 1000 + f" fuite Acme: patient {v} mail jean.dupont@example.fr " + "y" * 1000
    (hit,) = Engine.build([rule(keywords=("acme",))]).scan_text(text)
    assert "Acme" in hit.excerpt
    assert v not in hit.excerpt.replace(" ", "")
    assert "jean.dupont" not in hit.excerpt
    assert len(hit.excerpt) < 300


def test_excerpt_masks_identifier_cut_at_window_edge():
    v = nirs(1)[0]
    text = f"{v} " + "a" * 95 + " acme " + "b" * 10
    (hit,) = Engine.build([rule(keywords=("acme",))]).scan_text(text)
    assert v[-6:] not in hit.excerpt


# --- fingerprints -------------------------------------------------------------------------

class FakeSet:
    """Stands in for monitor.matching.fingerprints.FingerprintSet (same match() contract)."""

    name = "patients"

    def __init__(self, records: list[RecordMatch]) -> None:
        self.records = records
        self.calls = 0

    def match(self, data: bytes) -> list[RecordMatch]:
        self.calls += 1
        return self.records if b"DUPONT" in data else []


def test_fingerprint_rule_reports_records_without_document_text():
    recs = [RecordMatch("17", ("fr_nir",), 0.9), RecordMatch("42", ("email",), 0.8)]
    fs = FakeSet(recs)
    rules = [rule(id="fp", fingerprints="patients", min_records=2, severity="critical"),
             rule(id="fp3", fingerprints="patients", min_records=3)]
    engine = Engine.build(rules, fingerprint_sets={"patients": fs})
    (hit,) = engine.scan_text("DUPONT;Jean;secret value")
    assert (hit.rule_id, hit.count, hit.fingerprint_set, hit.canary) == ("fp", 2, "patients", False)
    assert [r.record_id for r in hit.records] == ["17", "42"]
    assert "DUPONT" not in hit.excerpt and "secret" not in hit.excerpt
    assert fs.calls == 1  # one match() per document, shared by both rules
    assert engine.scan_text("nothing here") == []


def test_a_canary_record_is_critical_below_the_rule_threshold():
    fs = FakeSet([RecordMatch("42", ("email",), 0.8, canary=True)])
    engine = Engine.build([rule(id="fp", fingerprints="patients", min_records=5, severity="low")],
                          fingerprint_sets={"patients": fs})
    (hit,) = engine.scan_text("DUPONT;Jean")
    assert (hit.rule_id, hit.severity, hit.canary) == ("fp", "critical", True)
    fs.records = [RecordMatch("17", ("email",), 0.8)]
    assert engine.scan_text("DUPONT;Jean") == []


def test_missing_fingerprint_set_is_a_clear_build_error():
    with pytest.raises(RuleFileError, match="fingerprint set 'patients' is not loaded"):
        Engine.build([rule(fingerprints="patients")])
    engine = Engine.build([rule(fingerprints="patients")], skip_missing_fingerprints=True)
    assert [r.id for r in engine.skipped] == ["r"]


# --- concurrency --------------------------------------------------------------------------

def test_concurrent_scans_from_threads_agree():
    engine = Engine.build([rule(keywords=("acme",)), rule(id="n", detectors=("fr_nir",))])
    v = nirs(1)[0]
    texts = [(f"acme {v} " * (i + 1)).encode() for i in range(8)]
    expected = [[(h.rule_id, h.count) for h in engine.scan(t)] for t in texts]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        for _ in range(50):
            got = [(h.rule_id, h.count) for h in engine.scan(texts[i])]
            if got != expected[i]:
                results[i] = got
                return
        results.setdefault(i, expected[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == dict(enumerate(expected))


def test_empty_and_binary_input():
    engine = Engine.build([rule(keywords=("acme",))])
    assert engine.scan(b"") == []
    assert [h.rule_id for h in engine.scan(b"\xff\xfe\x00acme\x00\x80")] == ["r"]


@pytest.mark.parametrize("text", [
    "d3dalus biologie", "D.E.D.A.L.U.S B.I.O.L.O.G.I.E", "d-e-d-a-l-u-s-b-i-o-l-o-g-i-e",
    "DEDALUS_BIOLOGIE", "d 3 d a l u s  b i o l o g i e", "dedalus biolgie",
])
def test_fuzzy_multi_word_keyword(text):
    assert hits(rule(keywords=("Dedalus Biologie",), fuzzy=85), text) == {"r": 1}


def test_keyword_nfd_text_and_documented_blind_spot():
    import unicodedata

    r = rule(keywords=("Société Générale",))
    assert hits(r, unicodedata.normalize("NFD", "Société Générale")) == {"r": 1}
    # A keyword typed without its accents only finds unaccented text (see docs/rules.md).
    assert hits(rule(keywords=("Societe Generale",)), "Société Générale") == {}


def test_repeated_word_is_capped_in_memory_but_counted(monkeypatch):
    from monitor.matching import hyperscan_db

    monkeypatch.setattr(hyperscan_db, "MAX_MATCHES_PER_PATTERN", 100)
    engine = Engine.build([rule(keywords=("acme",))])
    data = b"acme " * 1000
    buckets, overflow = engine.compiled.scanner.scan(data)
    assert max(map(len, buckets.values())) == 100 and sum(overflow.values()) == 900
    (hit,) = engine.scan(data)
    assert hit.count == 1000
    assert engine.raw_scan(data) == 1000


# --- bulk detectors: chunked scan, early stop -----------------------------------------------

def _filler(nbytes: int) -> str:
    line = "bonjour, rien à signaler dans ce fichier de journal, ligne ordinaire\n"
    return line * (nbytes // len(line) + 1)


def test_bulk_rule_stops_early_and_reports_rule_severity_and_estimate():
    from monitor.matching import engine as eng_mod

    values = nirs(4000, seed=21)
    text = "\n".join(f"{i};DUPONT;Jean;Paris;{v};client depuis 2019" for i, v in enumerate(values))
    assert len(text.encode()) > 2 * eng_mod.BULK_CHUNK  # large enough to be chunked
    r = rule(id="bulk.nir", severity="high", detectors=("fr_nir",), min_count=20)
    found = Engine.build([r]).scan_text(text)
    assert [(h.rule_id, h.severity) for h in found] == [("bulk.nir", "high")]
    count = found[0].count
    assert count >= 20
    assert abs(count - len(values)) <= len(values) * 0.15  # extrapolated, not exact
    # The excerpt shows the first row of the document (masked).
    assert found[0].excerpt.startswith("0;D*****;J***;")
    assert values[0] not in found[0].excerpt


def test_bulk_rule_finds_a_dump_that_starts_late_in_a_large_document():
    values = nirs(30, seed=22)
    text = _filler(1_500_000) + "\n".join(values) + "\n"
    r = rule(detectors=("fr_nir",), min_count=20)
    assert hits(r, text) == {"r": 30}  # never proven early: every candidate validated


def test_bulk_threshold_is_exact_across_chunks():
    values = nirs(20, seed=23)
    # Spread over ~600 kB, one NIR every 30 kB: several chunks, none proves it alone.
    parts = [_filler(30_000) + v + "\n" for v in values]
    r = rule(detectors=("fr_nir",), min_count=20)
    assert hits(r, "".join(parts)) == {"r": 20}
    assert hits(r, "".join(parts[:19])) == {}


def test_bulk_detectors_scanned_apart_still_combine_with_other_rules():
    values = nirs(25, seed=24)
    text = _filler(200_000) + "\n".join(values) + "\nfuite de données\n"
    rules = [rule(id="bulk", detectors=("fr_nir",), min_count=20),
             rule(id="single", detectors=("fr_nir",)),  # min_count 1: stays in the main pass
             rule(id="kw", keywords=("fuite",))]
    assert hits(rules, text) == {"bulk": 25, "single": 25, "kw": 1}


def test_detector_rule_with_near_sees_matches_late_in_a_large_document():
    # A `near` rule needs every position: its detector is never stopped early.
    values = nirs(200, seed=25)
    text = ("\n".join(f"{v};x" for v in values[:100]) + "\n" + _filler(300_000)
            + "patient " + values[100] + "\n" + _filler(1000) + "\n".join(values[101:]))
    r = rule(detectors=("fr_nir",), min_count=2, near=("patient",), window=30)
    assert hits(r, text) == {}  # one NIR near the word: below min_count 2
    text2 = text.replace(values[101], "patient " + values[101], 1)
    # The NIR on the line after the second "patient" is within the window too.
    assert hits(r, text2) == {"r": 3}


def test_near_words_are_looked_for_around_matches_in_large_documents():
    r = rule(keywords=("acme",), near=("leak",), window=40)
    far = "acme " + _filler(300_000) + " leak"
    assert hits(r, far) == {}
    close = _filler(300_000) + "acme leak " + _filler(300_000) + " acme"
    assert hits(r, close) == {"r": 1}


def test_exclude_word_anywhere_in_a_large_document_silences_the_rule():
    r = rule(keywords=("acme",), exclude=("communiqué officiel",))
    text = "acme " + _filler(400_000) + "communiqué officiel"
    assert hits(r, text) == {}
    assert hits(r, "acme " + _filler(400_000)) == {"r": 1}


def test_one_value_repeated_past_the_validation_budget_does_not_make_a_bulk_rule_fire():
    engine = Engine.build([rule(id="bulk.card", detectors=("card",), min_count=20,
                                severity="critical")])
    card = cards(1)[0]
    repeated = "\n".join(f"order {i}: paid with {card}" for i in range(5000)).encode()
    assert engine.scan(repeated) == []
    distinct = "\n".join(f"order {i}: paid with {c}" for i, c in enumerate(cards(25))).encode()
    (hit,) = engine.scan(distinct)
    assert (hit.rule_id, hit.count) == ("bulk.card", 25)


def test_excerpts_lose_proper_names_when_our_records_are_in_the_document():
    fs = FakeSet([RecordMatch("17", ("last_name", "first_name", "date"), 0.6)])
    engine = Engine.build([rule(id="org", keywords=("fuite",)),
                           rule(id="fp", fingerprints="patients")],
                          fingerprint_sets={"patients": fs})
    text = "fuite: Jean DUPONT habite 12 rue des Lilas, né le 12 mars 1985"
    hits = {h.rule_id: h for h in engine.scan_text(text)}
    for plain in ("Jean", "DUPONT", "Lilas", "12 mars"):
        assert plain not in hits["org"].excerpt
    assert hits["org"].excerpt.startswith("fuite")
    (alone,) = engine.scan_text(text.replace("DUPONT", "Durand"))  # FakeSet: no record
    assert "Jean" in alone.excerpt  # without our records, prose stays readable
