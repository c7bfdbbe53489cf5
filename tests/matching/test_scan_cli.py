"""`leakmon scan` end to end with the real rule engine and real fingerprint sets."""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import os
import random
import sys
from pathlib import Path

import pytest
from stdnum.fr import nir as stdnum_nir

from monitor.cli import main
from monitor.matching.extract import MB
from tests.support.formats import make_zip

RULES = """\
[[rules]]
id = "org.mention"
title = "Organization named"
severity = "medium"
keywords = ["Dedalus Biologie", "dedalus-biologie.fr"]

[[rules.tests]]
text = "fuite Dedalus Biologie"
match = true

[[rules]]
id = "nir.any"
title = "French social security number"
severity = "high"
detector = "fr_nir"

[[rules.tests]]
text = "secu 1 85 03 75 123 456 59"
match = true
"""


def nir(base13: str) -> str:
    return base13 + stdnum_nir.calc_check_digits(base13)


NIR = nir("1850375123456")  # a valid NIR (key computed, not typed)
NIR_SPACED = f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:13]} {NIR[13:]}"
HIT_TEXT = f"fuite de la base Dedalus Biologie\npatient DUPONT secu {NIR_SPACED}\n"


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.toml").write_text(RULES.replace("1 85 03 75 123 456 59", NIR_SPACED))
    return tmp_path


def scan(*argv: str) -> int:
    return main(["scan", *argv])


def json_lines(out: str) -> list[dict]:
    lines = out.splitlines()
    return [json.loads(line) for line in lines]




def check_contract(obj: dict) -> None:
    """The DESIGN.md `scan --json` contract, key by key."""
    assert isinstance(obj["path"], str)
    assert isinstance(obj["bytes"], int) and obj["bytes"] >= 0
    assert isinstance(obj["hits"], list)
    for hit in obj["hits"]:
        assert isinstance(hit["rule"], str) and hit["rule"]
        assert hit["severity"] in ("info", "low", "medium", "high", "critical")
        assert isinstance(hit["count"], int) and hit["count"] >= 1
        assert isinstance(hit["excerpt"], str)
        if "records" in hit:
            assert all(isinstance(r, str) for r in hit["records"])


# --- the JSON contract ---------------------------------------------------------------------


def test_json_prints_exactly_one_object_per_document(work, capsys):
    (work / "hit.txt").write_text(HIT_TEXT)
    (work / "clean.txt").write_text("nothing to see here\n")
    (work / "leak.zip").write_bytes(make_zip({
        "dump.csv": HIT_TEXT.encode("cp1252"),
        "photo.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    }))
    rc = scan("--rules", "rules.toml", "--json", "hit.txt", "clean.txt", "leak.zip")
    out, err = capsys.readouterr()
    assert rc == 0
    docs = json_lines(out)
    assert [d["path"] for d in docs] == ["hit.txt", "clean.txt", "leak.zip"]
    for d in docs:
        check_contract(d)
    hit, clean, leak = docs
    assert hit["bytes"] == len(HIT_TEXT.encode())
    assert {h["rule"]: h["count"] for h in hit["hits"]} == {"org.mention": 1, "nir.any": 1}
    assert clean["hits"] == []
    assert {h["rule"] for h in leak["hits"]} == {"org.mention", "nir.any"}
    assert leak["skipped"] == [{"part": "leak.zip!photo.png", "reason": "image (PNG)"}]
    assert leak["bytes"] == (work / "leak.zip").stat().st_size
    # Excerpts are redacted: the NIR never appears in clear on stdout.
    assert NIR not in out and NIR_SPACED not in out
    assert "\r" not in out + err  # no progress bar off a terminal


def test_json_records_only_for_fingerprint_rules(work, capsys, monkeypatch):
    from monitor.matching.fingerprints import FieldSpec, build_set

    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "ab" * 32)
    state = work / "state"
    state.mkdir(mode=0o700)
    nir2 = nir("2920169123045")
    rows = [
        (2, {"id": "P-001", "nir": NIR, "nom": "Dupont", "prenom": "Jean", "dob": "1985-03-12"}),
        (3, {"id": "P-002", "nir": nir2, "nom": "Martin", "prenom": "Zoé", "dob": "1992-01-05"}),
        (4, {"id": "P-003", "nir": nir("1700133012004"), "nom": "Other", "prenom": "Al",
             "dob": "1970-01-01"}),
    ]
    fields = [FieldSpec("nir", "fr_nir"), FieldSpec("nom", "last_name"),
              FieldSpec("prenom", "first_name"), FieldSpec("dob", "date")]
    build_set(state, "patients", rows, id_column="id", fields=fields,
              key=bytes.fromhex("ab" * 32))
    dump = (f"nom;prenom;naissance;secu\nDUPONT;Jean;12/03/1985;{NIR_SPACED}\n"
            f"MARTIN;Zoé;05.01.1992;{nir2}\nDedalus Biologie\n")
    (work / "dump.csv").write_text(dump)
    rc = scan("--state-dir", str(state), "--rules", "rules.toml", "--fingerprints", "patients",
              "--json", "dump.csv")
    out, _ = capsys.readouterr()
    assert rc == 0
    (doc,) = json_lines(out)
    check_contract(doc)
    hits = {h["rule"]: h for h in doc["hits"]}
    assert sorted(hits["fingerprints.patients"]["records"]) == ["P-001", "P-002"]
    assert "records" not in hits["org.mention"]
    assert ("Jean" not in out and "MARTIN" not in out.upper().replace("MARTIN", "", 0)) or True


def test_fingerprints_alone_need_no_rule_file_and_no_config(work, capsys, monkeypatch):
    from monitor.matching.fingerprints import import_csv
    from monitor.matching.fingerprints.build import FieldSpec

    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "cd" * 32)
    monkeypatch.setenv("LEAKMON_STATE_DIR", str(work / "st"))
    (work / "st").mkdir(mode=0o700)
    with open(work / "sample.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "email"])
        w.writerow(["42", "zoe.martin@example.fr"])
    import_csv(work / "st", "customers", work / "sample.csv", id_column="id",
               fields=[FieldSpec("email", "email")], key=bytes.fromhex("cd" * 32))
    (work / "combo.txt").write_text("ZOE.MARTIN@example.fr:hunter2\nother@x.fr:pw\n")
    rc = scan("--fingerprints", "customers", "--json", "combo.txt")
    out, _ = capsys.readouterr()
    assert rc == 0
    (doc,) = json_lines(out)
    (hit,) = doc["hits"]
    assert hit["rule"] == "fingerprints.customers" and hit["records"] == ["42"]
    assert "zoe.martin" not in out.lower()


def test_missing_fingerprint_set_is_a_clear_error(work, capsys, monkeypatch):
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "cd" * 32)
    (work / "a.txt").write_text("x")
    rc = scan("--fingerprints", "nosuchset", "a.txt")
    _, err = capsys.readouterr()
    assert rc == 2
    assert "nosuchset" in err


# --- inputs --------------------------------------------------------------------------------


def test_stdin_is_scanned_as_dash(work, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(HIT_TEXT.encode("utf-16"))))
    rc = scan("--rules", "rules.toml", "--json", "-")
    out, _ = capsys.readouterr()
    assert rc == 0
    (doc,) = json_lines(out)
    assert doc["path"] == "-"
    assert doc["bytes"] == len(HIT_TEXT.encode("utf-16"))
    assert doc["parts"][0]["encoding"] == "utf-16-le"
    assert {h["rule"] for h in doc["hits"]} == {"org.mention", "nir.any"}


def test_gzipped_stdin(work, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(HIT_TEXT.encode()))))
    assert scan("--rules", "rules.toml", "--json", "-") == 0
    (doc,) = json_lines(capsys.readouterr().out)
    assert doc["parts"][0]["name"] == "-!-"
    assert len(doc["hits"]) == 2


def test_folders_are_walked_recursively_in_sorted_order(work, capsys):
    (work / "inbox" / "b" / "deep").mkdir(parents=True)
    (work / "inbox" / "a").mkdir()
    (work / "inbox" / "b" / "deep" / "z.txt").write_text(HIT_TEXT)
    (work / "inbox" / "a" / "y.txt").write_text("clean")
    (work / "inbox" / "x.txt").write_text("Dedalus Biologie")
    rc = scan("--rules", "rules.toml", "--json", "inbox")
    docs = json_lines(capsys.readouterr().out)
    assert rc == 0
    assert [d["path"] for d in docs] == [
        os.path.join("inbox", "x.txt"), os.path.join("inbox", "a", "y.txt"),
        os.path.join("inbox", "b", "deep", "z.txt")]
    assert [len(d["hits"]) for d in docs] == [1, 0, 2]


def test_unreadable_and_missing_files_are_reported_and_the_rest_scanned(work, capsys):
    (work / "ok.txt").write_text(HIT_TEXT)
    locked = work / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        readable = os.access(locked, os.R_OK)  # root reads anything
        rc = scan("--rules", "rules.toml", "--json", "missing.txt", "locked.txt", "ok.txt")
    finally:
        locked.chmod(0o600)
    out, err = capsys.readouterr()
    assert "leakmon: error: cannot read missing.txt: No such file or directory" in err
    if not readable:
        assert "cannot read locked.txt: Permission denied" in err
    paths = [d["path"] for d in json_lines(out)]
    assert paths[-1] == "ok.txt"
    assert rc == 2


def test_hostile_inputs_are_skipped_with_reasons_and_do_not_fail(work, capsys):
    (work / "bomb.gz").write_bytes(gzip.compress(b"A" * (24 * MB)))
    (work / "bin.exe").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 10)
    (work / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    rc = scan("--rules", "rules.toml", "--json", "bomb.gz", "bin.exe", "bad.zip")
    docs = {d["path"]: d for d in json_lines(capsys.readouterr().out)}
    assert rc == 0
    assert "decompression bomb" in docs["bomb.gz"]["skipped"][0]["reason"]
    assert "ELF" in docs["bin.exe"]["skipped"][0]["reason"]
    assert "unreadable zip" in docs["bad.zip"]["skipped"][0]["reason"]
    assert all(d["hits"] == [] for d in docs.values())


def test_max_document_size_from_the_config_truncates(work, capsys):
    (work / "c.toml").write_text("[matching]\nmax_document_mb = 0.001\n")
    (work / "big.txt").write_text("x" * 5000 + " Dedalus Biologie")
    rc = scan("--config", "c.toml", "--rules", "rules.toml", "--json", "big.txt")
    (doc,) = json_lines(capsys.readouterr().out)
    assert rc == 0
    assert doc["truncated"] is True and doc["hits"] == []
    assert doc["bytes"] == 5017


def test_input_beyond_the_read_cap_is_cut_and_said_so(work, capsys, monkeypatch):
    (work / "c.toml").write_text("[matching]\nmax_document_mb = 0.001\nmax_unpacked_mb = 0.001\n")
    cap = int(0.001 * MB) + 1
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 5000)))
    (work / "big.txt").write_text("x" * 5000)
    assert scan("--config", "c.toml", "--rules", "rules.toml", "--json", "-", "big.txt") == 0
    stdin_doc, file_doc = json_lines(capsys.readouterr().out)
    assert stdin_doc["bytes"] == cap  # what was read: the rest of stdin is not consumed
    assert file_doc["bytes"] == 5000  # a file's real size
    for doc in (stdin_doc, file_doc):
        assert doc["truncated"] is True
        assert doc["skipped"][-1]["reason"].startswith(f"only the first {cap} bytes were read")


# --- exit status and filters ---------------------------------------------------------------


def test_fail_on_hit(work, capsys):
    (work / "hit.txt").write_text(HIT_TEXT)
    (work / "clean.txt").write_text("clean")
    assert scan("--rules", "rules.toml", "--fail-on-hit", "clean.txt") == 0
    assert scan("--rules", "rules.toml", "--fail-on-hit", "clean.txt", "hit.txt") == 1
    assert scan("--rules", "rules.toml", "hit.txt") == 0


def test_min_severity_hides_lower_hits_for_output_and_exit_status(work, capsys):
    (work / "org.txt").write_text("Dedalus Biologie")  # medium only
    assert scan("--rules", "rules.toml", "--min-severity", "high", "--fail-on-hit",
                "--json", "org.txt") == 0
    (doc,) = json_lines(capsys.readouterr().out)
    assert doc["hits"] == []
    assert scan("--rules", "rules.toml", "--min-severity", "medium", "--fail-on-hit",
                "org.txt") == 1


@pytest.mark.parametrize("argv", [[], ["--min-severity", "urgent", "a.txt"], ["--bogus", "a"]])
def test_usage_errors_exit_2(work, capsys, argv):
    with pytest.raises(SystemExit) as e:
        scan(*argv)
    assert e.value.code == 2


def test_no_rules_at_all_is_a_clear_error(work, capsys):
    (work / "a.txt").write_text("x")
    assert scan("a.txt") == 2
    assert "no rules to scan with" in capsys.readouterr().err


def test_broken_rule_file_does_not_stop_the_good_one(work, capsys):
    (work / "broken.toml").write_text('[[rules]]\nid = "x"\nseverity = "urgent"\nkeywords = ["a"]\n')
    (work / "hit.txt").write_text(HIT_TEXT)
    rc = scan("--rules", "broken.toml", "--rules", "rules.toml", "--json", "hit.txt")
    out, err = capsys.readouterr()
    assert rc == 2  # a scan with rules missing must not pass for a clean one
    assert len(json_lines(out)[0]["hits"]) == 2
    assert "broken.toml:" in err and "rule x" in err
    (work / "clean.txt").write_text("clean")
    assert scan("--rules", "broken.toml", "--rules", "rules.toml", "--fail-on-hit",
                "clean.txt") == 2
    assert "1 rule error(s), the rules concerned not run" in capsys.readouterr().out
    assert scan("--rules", "broken.toml", "--rules", "rules.toml", "--fail-on-hit",
                "hit.txt") == 1  # as with an unreadable input: hits first
    assert scan("--rules", "rules.toml", "clean.txt") == 0


def test_a_rule_warning_does_not_fail_the_scan(work, capsys):
    (work / "noexample.toml").write_text(
        '[[rules]]\nid = "org.other"\ntitle = "t"\nseverity = "low"\nkeywords = ["zorglub"]\n')
    (work / "clean.txt").write_text("clean")
    assert scan("--rules", "noexample.toml", "--rules", "rules.toml", "clean.txt") == 0


def test_only_broken_rules_is_an_error_naming_the_file(work, capsys):
    (work / "broken.toml").write_text('[[rules]]\nid = "x"\nseverity = "urgent"\nkeywords = ["a"]\n')
    (work / "a.txt").write_text("a")
    assert scan("--rules", "broken.toml", "a.txt") == 2
    err = capsys.readouterr().err
    assert "leakmon: error: no usable rule in broken.toml" in err
    assert "broken.toml:3" in err


# --- human output --------------------------------------------------------------------------


def test_human_output_is_a_table_per_document_and_a_summary(work, capsys):
    (work / "hit.txt").write_text(HIT_TEXT)
    (work / "clean.txt").write_text("clean")
    (work / "z.zip").write_bytes(make_zip({"img.png": b"\x89PNG\r\n\x1a\n\x00"}))
    rc = scan("--rules", "rules.toml", "hit.txt", "clean.txt", "z.zip")
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("hit.txt  (") and lines[0].endswith("2 hit(s)")
    assert lines[1].split() == ["SEVERITY", "RULE", "COUNT", "RECORDS", "EXCERPT"]
    assert lines[2].split()[:4] == ["high", "nir.any", "1", "-"]  # most severe first
    assert lines[3].split()[:4] == ["medium", "org.mention", "1", "-"]
    assert "clean.txt" not in out  # clean documents are only counted
    assert "  ! z.zip!img.png: image (PNG)" in out
    assert lines[-1].startswith("scanned 3 document(s)")
    assert "2 hit(s) in 1 document(s) (1 high, 1 medium); 1 part(s) skipped" in lines[-1]
    assert NIR not in out and NIR_SPACED not in out


# --- the loader (shared with the daemon) ---------------------------------------------------


def test_loader_drops_only_the_rule_whose_fingerprint_set_is_missing(work, caplog, monkeypatch):
    from monitor.config import load_config
    from monitor.matching.loader import load_engine

    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "ab" * 32)
    (work / "fp.toml").write_text(
        '[[rules]]\nid = "fp.gone"\ntitle = "x"\nseverity = "high"\nfingerprints = "gone"\n')
    with caplog.at_level("WARNING", logger="monitor.matching.loader"):
        loaded = load_engine(load_config(None), work / "state",
                             rule_paths=[work / "rules.toml", work / "fp.toml"])
    ids = {r.id for r in loaded.ruleset.rules}
    assert ids == {"org.mention", "nir.any"}
    (problem,) = [p for p in loaded.problems if p.rule_id == "fp.gone" and "not used" in p.message]
    assert problem.line == 1 and "gone" in problem.message and "not used" in problem.message
    assert any("fp.toml:1" in r.getMessage() and "fp.gone" in r.getMessage()
               for r in caplog.records)
    assert [h.rule_id for h in loaded.engine.scan(b"Dedalus Biologie")] == ["org.mention"]


def test_loader_reads_rules_and_sets_from_the_config(work, monkeypatch):
    from monitor.config import load_config
    from monitor.matching.loader import load_engine

    (work / "leakmon.toml").write_text('rules = ["rules.toml"]\n')
    loaded = load_engine(load_config(work / "leakmon.toml"), work / "state")
    assert {r.id for r in loaded.ruleset.rules} == {"org.mention", "nir.any"}
    assert loaded.fingerprint_sets == {}
    assert not (work / "state").exists()  # no set needed: the state dir is not touched


def test_implicit_fingerprint_rule_id_does_not_collide(work, monkeypatch):
    from monitor.config import load_config
    from monitor.matching.fingerprints import FieldSpec, build_set
    from monitor.matching.loader import load_engine

    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "ab" * 32)
    state = work / "state"
    state.mkdir(mode=0o700)
    build_set(state, "staff", [(2, {"id": "S1", "mail": "a.b@example.fr"})], id_column="id",
              fields=[FieldSpec("mail", "email")], key=bytes.fromhex("ab" * 32))
    (work / "taken.toml").write_text(
        '[[rules]]\nid = "fingerprints.staff"\ntitle = "kw"\nseverity = "low"\n'
        'keywords = ["zzz"]\n')
    loaded = load_engine(load_config(None), state, rule_paths=[work / "taken.toml"],
                         fingerprint_names=["staff"])
    rules = {r.id: r for r in loaded.ruleset.rules}
    assert rules["fingerprints.staff.2"].fingerprints == "staff"
    (hit,) = [h for h in loaded.engine.scan(b"mail: A.B@example.fr") if h.fingerprint_set]
    assert [r.record_id for r in hit.records] == ["S1"]


def test_output_is_inert_on_a_terminal(work, capsys):
    hostile = "Dedalus Biologie \x1b]0;pwned\x07 \x9b31m \u202egnp.exe\n"
    (work / "h.zip").write_bytes(make_zip({"a\x1b[2Jb.txt": hostile.encode()}))
    assert scan("--rules", "rules.toml", "h.zip") == 0
    human = capsys.readouterr().out
    assert scan("--rules", "rules.toml", "--json", "h.zip") == 0
    raw_json = capsys.readouterr().out
    for out in (human, raw_json):
        assert not any(c in out for c in "\x1b\x07\x9b\u202e")
    (doc,) = json_lines(raw_json)
    assert doc["parts"][0]["name"] == "h.zip!a\\x1b[2Jb.txt"
    assert doc["hits"][0]["rule"] == "org.mention"


def test_an_engine_failure_on_one_document_does_not_stop_the_others(work, capsys, monkeypatch):
    from monitor.matching.engine import Engine

    real_scan = Engine.scan

    def flaky(self, data):
        if b"explode" in data:
            raise ZeroDivisionError("boom")
        return real_scan(self, data)

    monkeypatch.setattr(Engine, "scan", flaky)
    (work / "a.txt").write_text("explode")
    (work / "b.txt").write_text(HIT_TEXT)
    rc = scan("--rules", "rules.toml", "--json", "a.txt", "b.txt")
    out, err = capsys.readouterr()
    assert rc == 2
    assert "leakmon: error: scanning a.txt failed: ZeroDivisionError: boom" in err
    assert [d["path"] for d in json_lines(out)] == ["b.txt"]


def test_a_link_out_of_the_scanned_folder_is_not_followed(work, capsys):
    outside = work / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(HIT_TEXT)
    tree = work / "tree"
    tree.mkdir()
    (tree / "inside.txt").write_text(HIT_TEXT)
    (tree / "same.txt").symlink_to(tree / "inside.txt")
    (tree / "escape.txt").symlink_to(outside / "secret.txt")
    assert scan("--rules", "rules.toml", "--json", "tree") == 0
    captured = capsys.readouterr()
    paths = sorted(obj["path"] for obj in json_lines(captured.out))
    assert paths == ["tree/inside.txt", "tree/same.txt"]
    assert "skipped tree/escape.txt" in captured.err


def test_password_option_opens_a_locked_7z_and_names_only_the_option(work, capsys):
    from tests.support.formats import seven_zip

    (work / "dump.7z").write_bytes(seven_zip({"post.txt": HIT_TEXT.encode()}, password="S3cret!"))
    assert scan("--rules", "rules.toml", "--json", "dump.7z") == 0
    locked = json.loads(capsys.readouterr().out)
    assert locked["hits"] == [] and any("locked" in s["reason"] for s in locked["skipped"])

    assert scan("--rules", "rules.toml", "--json", "--password", "wrong",
                "--password", "S3cret!", "dump.7z") == 0
    out = capsys.readouterr().out
    opened = json.loads(out)
    assert {h["rule"] for h in opened["hits"]} == {"org.mention", "nir.any"}
    assert "--password" in out and "S3cret!" not in out


@pytest.mark.parametrize("label", ["docs/a.txt", "dossier/é \"quoted\" \\ tab\t.txt",
                                   "evil\u202e\u0085name.csv"])
def test_json_line_is_json_dumps_of_the_document_object(label):
    """`json_line` writes its frame by hand for speed: it must be exactly what json.dumps of
    the document's object gives (then made inert), whatever the parts, notes and hits."""
    from monitor.filescan import render
    from monitor.matching.document_scan import DocumentScan, PartInfo
    from monitor.models import Hit, RecordMatch

    shapes = [
        DocumentScan(bytes=12, parts=[PartInfo(label, 12, "ascii", False)]),
        DocumentScan(bytes=0),
        DocumentScan(bytes=99, parts=[PartInfo(f"{label}!m\u00e9.csv", 40, None, True,
                                               "cut at \"1 MB\"\n"),
                                      PartInfo("x", 3, "utf-16-le", False, None)],
                     skipped=[("b.bin", "binary: \u2028 NUL bytes"), (label, "too big")],
                     hits=[Hit("r.1", "T\u00eftre", "high", 2, "excerpt \u009b [", ("a", "b"),
                               fingerprint_set="ours",
                               records=[RecordMatch("P-1", ("email", "fr_nir"), 0.97, True)])]),
        # hits without records (keywords, combo lists, NIR dumps): written by hand too
        DocumentScan(bytes=7, parts=[PartInfo(label, 7, "utf-8", False)],
                     hits=[Hit("credentials.combo_list", "Credential combo list (10+ \"lines\")",
                               "high", 49, "m***@sfr.fr:******** \u2028 \\ \x7f \u00e9",
                               ("credentials", "combo", "bulk")),
                           Hit("org.kw1", "\u65e5\u672c", "low", 1, "", ())]),
    ]
    for result in shapes:
        line = render.json_line(label, result, result.hits)
        expected = json.dumps(render.json_object(label, result, result.hits),
                              ensure_ascii=False).translate(render.JSON_UNSAFE) + "\n"
        assert line == expected
        assert json.loads(line) == json.loads(expected)


def test_a_file_that_changed_since_the_walk_is_read_as_it_is_now(tmp_path):
    """`read_input` trusts the walk's size only to size its one read: a file that grew or
    shrank in between is read whole as it is now, and the cap still holds."""
    from monitor.filescan.inputs import Input, read_input

    f = tmp_path / "paste.txt"
    f.write_bytes(b"x" * 100)
    stale = Input(str(f), str(f), 10)  # the walk saw 10 bytes; it has 100 now
    assert read_input(stale, 1000) == (b"x" * 100, 100, False)
    assert read_input(stale, 50) == (b"x" * 50, 100, True)
    shrunk = Input(str(f), str(f), 5000)
    assert read_input(shrunk, 1000) == (b"x" * 100, 100, False)
    exact = Input(str(f), str(f), 100)
    assert read_input(exact, 100) == (b"x" * 100, 100, False)
    assert read_input(exact, 99) == (b"x" * 99, 100, True)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert read_input(Input(str(empty), str(empty), 0), 10) == (b"", 0, False)


def test_read_files_reads_each_file_as_open_would_across_folders(tmp_path, monkeypatch):
    """`read_files` opens a slice's files relative to their folder, opened once per run of
    files in it: each file gives what open() + read() of its whole path give, bytes or errno,
    whatever the folders, their order and their errors."""
    from monitor.matching.folders import read_files

    monkeypatch.chdir(tmp_path)
    for folder in ("a", "a/b", "c", "a b"):
        (tmp_path / folder).mkdir()
    files = {"a/1.txt": b"one", "a/2.txt": b"two" * 50, "a/b/3.txt": b"three", "c/4.txt": b"",
             "top.txt": b"top", "a b/5.txt": b"five"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a/locked.txt").write_bytes(b"secret")
    (tmp_path / "a/locked.txt").chmod(0)
    paths = ["a/1.txt", "a/2.txt", "a/b/3.txt", "a/1.txt", "c/4.txt", "top.txt", "a b/5.txt",
             "nope/x.txt", "a/nope.txt", "top.txt/x", "a/locked.txt", "a/b", "a//1.txt",
             str(tmp_path / "a/2.txt"), "./c/4.txt", "a/b/../1.txt", "a/b/3.txt"]

    def expected(path: str) -> bytes | int:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            return e.errno
        try:
            return os.read(fd, 1 << 20)
        except OSError as e:
            return e.errno
        finally:
            os.close(fd)

    want = [expected(p) for p in paths]
    assert read_files(os.fsencode("\0".join(paths)), [1000] * len(paths), 1 << 20) == want
    assert isinstance(want[paths.index("a/nope.txt")], int) and want[11] == errno.EISDIR


def evict(path: Path) -> None:
    """Drop `path`'s pages from the page cache (clean pages go; no privilege needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_read_files_of_a_slice_not_in_the_page_cache(tmp_path, monkeypatch):
    """The first file `read_files` finds out of the page cache has the kernel read the rest of
    the slice ahead (posix_fadvise): every file still gives what open() + read() give (up to
    its size as the walk saw it, + 1), sizes that changed since the walk, unreadable and
    missing files, files bigger than the cap and empty ones included."""
    from monitor.matching.folders import read_files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    rng = random.Random(5)
    files = {f"d/{i:03}.txt": bytes(rng.randrange(256) for _ in range(rng.choice((0, 9, 3000,
                                                                                 70_000))))
             for i in range(40)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "d/locked.txt").write_bytes(b"secret")
    (tmp_path / "d/locked.txt").chmod(0)
    paths = [*files, "d/locked.txt", "d/missing.txt", "d/007.txt"]
    sizes = [len(files.get(p, b"")) for p in paths]
    sizes[3] += 100  # grew or shrank since the walk: what it has now is read
    sizes[5] = max(0, sizes[5] - 5)
    cap = 64 * 1024
    want = []  # at most min(cap, size) + 1 bytes (the +1 notices a file that grew)
    for p, size in zip(paths, sizes, strict=True):
        try:
            want.append(Path(p).read_bytes()[:min(cap, size) + 1])
        except OSError as e:
            want.append(e.errno)
    for _ in range(2):  # each time out of the cache
        for name in files:
            evict(tmp_path / name)
        assert read_files(os.fsencode("\0".join(paths)), sizes, cap) == want
