"""`leakmon fingerprints import|list|info|remove`: output and exit codes."""

from __future__ import annotations

import json
import os
import stat

import pytest
from stdnum.fr import nir as stdnum_nir

from tests.support.cli import run_cli

NIR1 = "1850375123456" + stdnum_nir.calc_check_digits("1850375123456")
CSV = (
    "id,nir,nom,prenom,naissance,email,tel,canary\n"
    f"P1,{NIR1},Dupont,Jean-Pierre,12/03/1985,jp.dupont@example.fr,06 12 34 56 78,\n"
    "P2,,Le Gall,Marie,1990-07-01,famille.legall@example.fr,,\n"
    "P3,,Le Gall,Yann,1988-02-29,famille.legall@example.fr,not a phone,yes\n"
    ",,Nobody,X,1970-01-01,x@example.fr,,\n"
)
IMPORT = ["fingerprints", "import", "patients", "--id-column", "id", "--field", "nir=fr_nir",
          "--field", "nom=last_name", "--field", "prenom=first_name", "--field",
          "naissance=date", "--field", "email=email", "--field", "tel=phone",
          "--canary-column", "canary"]


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text(CSV, encoding="utf-8")
    return path



def test_import_reports_and_exits_1_on_error_rows(tmp_path, csv_path, capsys):
    code, out, err = run_cli(capsys, *IMPORT[:3], str(csv_path), *IMPORT[3:])
    assert code == 1  # line 5 has no id
    assert "fingerprint set 'patients': 3 records (1 canary) from 4 rows of patients.csv" in out
    assert "keyed hashes and record ids only" in out
    assert "1 row(s) with unusable values" in err and "column 'tel': 1 (line 4)" in err
    assert "line 5: empty id; row left out" in err
    state = tmp_path / "state"
    key_file = state / "fingerprint.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in out + err


def test_import_clean_exits_0_and_replace(tmp_path, csv_path, capsys):
    csv_path.write_text(CSV.rsplit(",,Nobody", 1)[0], encoding="utf-8")
    argv = [*IMPORT[:3], str(csv_path), *IMPORT[3:]]
    assert run_cli(capsys, *argv)[0] == 0
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "already exists" in err and "--replace" in err
    assert run_cli(capsys, *argv, "--replace")[0] == 0


def test_import_usage_errors(tmp_path, csv_path, capsys):
    code, _, err = run_cli(capsys, "fingerprints", "import", "p", str(csv_path), "--id-column",
                       "id", "--field", "nir=passport")
    assert code == 2 and "unknown kind 'passport'" in err
    code, _, err = run_cli(capsys, "fingerprints", "import", "p", str(csv_path), "--id-column",
                       "ident", "--field", "nir=fr_nir")
    assert code == 2 and "'ident' not in the header" in err
    code, _, err = run_cli(capsys, "fingerprints", "import", "p", str(tmp_path / "none.csv"),
                       "--id-column", "id", "--field", "nir=fr_nir")
    assert code == 2 and "does not exist" in err


def test_env_key_is_used_and_no_key_file_written(tmp_path, csv_path, capsys, monkeypatch):
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", os.urandom(32).hex())
    assert run_cli(capsys, *IMPORT[:3], str(csv_path), *IMPORT[3:])[0] == 1
    assert not (tmp_path / "state" / "fingerprint.key").exists()
    code, out, _ = run_cli(capsys, "fingerprints", "info", "patients")
    assert code == 0 and "matches the current key" in out
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", os.urandom(32).hex())
    code, out, _ = run_cli(capsys, "fingerprints", "info", "patients")
    assert "DIFFERENT from the current key" in out


def test_list_info_remove(tmp_path, csv_path, capsys):
    code, out, _ = run_cli(capsys, "fingerprints", "list")
    assert code == 0 and "no fingerprint sets in" in out
    run_cli(capsys, *IMPORT[:3], str(csv_path), *IMPORT[3:])
    code, out, _ = run_cli(capsys, "fingerprints", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "RECORDS", "CANARIES", "FIELDS", "CREATED"]
    assert lines[1].split()[:4] == ["patients", "3", "1",
                                    "fr_nir,last_name,first_name,date,email,phone"]
    code, out, _ = run_cli(capsys, "fingerprints", "list", "--json")
    assert json.loads(out)["records"] == 3
    code, out, _ = run_cli(capsys, "fingerprints", "info", "patients")
    assert code == 0
    assert "records:         3" in out and "name+birth date: yes" in out
    code, out, _ = run_cli(capsys, "fingerprints", "info", "patients", "--json")
    info = json.loads(out)
    assert info["canaries"] == 1 and info["fields"][0] == {"column": "nir", "kind": "fr_nir"}
    assert info["key_status"] == "matches the current key"
    code, _, err = run_cli(capsys, "fingerprints", "info", "staff")
    assert code == 2 and "'staff' not found" in err and "existing sets: patients" in err
    code, out, _ = run_cli(capsys, "fingerprints", "remove", "patients")
    assert code == 0 and "removed fingerprint set 'patients'" in out
    code, _, err = run_cli(capsys, "fingerprints", "remove", "patients")
    assert code == 2 and "not found" in err


def test_state_dir_option(tmp_path, csv_path, capsys):
    other = tmp_path / "elsewhere"
    run_cli(capsys, *IMPORT[:3], str(csv_path), *IMPORT[3:], "--state-dir", str(other))
    assert (other / "fingerprints" / "patients" / "meta.json").exists()
    code, out, _ = run_cli(capsys, "fingerprints", "list", "--state-dir", str(other))
    assert code == 0
    assert "patients" in out


def test_import_reads_excel_utf8_bom(tmp_path, csv_path, capsys):
    csv_path.write_bytes(b"\xef\xbb\xbf" + CSV.encode("utf-8"))
    code, out, err = run_cli(capsys, *IMPORT[:3], str(csv_path), *IMPORT[3:])
    assert "not in the header" not in err
    assert code == 1  # the same file as without a BOM: line 5 has no id
    assert "3 records (1 canary) from 4 rows of patients.csv" in out
