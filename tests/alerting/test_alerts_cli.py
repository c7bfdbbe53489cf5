"""`leakmon alerts ...` end to end on a real store in the test's state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import stix2
from leakfakes import csv_dump, doc, ids, make_pipeline, patient_rows
from stix2validator import ValidationOptions, validate_string

from monitor.models import utcnow
from monitor.paths import is_private
from monitor.store import Store
from tests.support.cli import run_cli

POST = "fuite dedalus biologie\n" + csv_dump(patient_rows(ids(12)))


@pytest.fixture
def state(tmp_path):
    """A state dir with two incidents: #1 high with 12 records seen twice, #2 medium mention."""
    state = tmp_path / "state"
    state.mkdir()
    now = utcnow()
    with Store.open(state) as s:
        p = make_pipeline(s)
        p.process_batch("tg", [doc(POST, source="tg", ext="1", fetched_at=now - timedelta(days=3),
                                   posted_at=now - timedelta(days=3))], "c")
        p.process_batch("paste", [doc(POST, source="paste", platform="pastebin", ext="x",
                                      url="https://pastebin.com/x", posted_at=now)], None)
        p.process_batch("tg", [doc("dedalus is hiring, not a leak", source="tg", ext="2",
                                   posted_at=now - timedelta(days=10))], None)
    return state



def test_list_table_and_json(state, capsys):
    code, out, _ = run_cli(capsys, "alerts", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "SEVERITY", "SEEN"]
    assert lines[1].split()[:5] == ["1", "new", "high", "2", "12"]
    assert lines[2].split()[:5] == ["2", "new", "medium", "1", "0"]
    code, out, _ = run_cli(capsys, "alerts", "list", "--json")
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["sites"] == ["pastebin:pastebin.com", "telegram:t.me"]


def test_list_filters(state, capsys):
    def ids_of(*args):
        code, out, _ = run_cli(capsys, "alerts", "list", "--json", *args)
        assert code == 0
        return [json.loads(x)["id"] for x in out.splitlines()]

    assert ids_of("--severity", "high") == [1]
    assert ids_of("--since", "7d") == [1]
    assert ids_of("--since", "30d") == [1, 2]
    assert ids_of("--status", "acknowledged") == []
    code, _, err = run_cli(capsys, "alerts", "list", "--since", "last tuesday")
    assert code == 2 and "--since: 'last tuesday' is neither a duration" in err


def test_show_lists_sightings_records_and_excerpts(state, capsys):
    code, out, _ = run_cli(capsys, "alerts", "show", "1")
    assert code == 0
    assert "Incident 1: Our patient records" in out
    assert "records     12 distinct" in out
    assert "P10000, P10001" in out
    assert "telegram:t.me  source tg  https://t.me/tg/1" in out
    assert "pastebin:pastebin.com  source paste  https://pastebin.com/x" in out
    assert "1 ** ** ** *** *** **" in out  # the redacted excerpt
    code, out, _ = run_cli(capsys, "alerts", "show", "1", "--json")
    d = json.loads(out)
    assert d["record_ids"] == ids(12) and len(d["sightings_detail"]) == 2
    assert d["events"][0]["event_key"] == "new"
    code, _, err = run_cli(capsys, "alerts", "show", "77")
    assert code == 2 and "no incident with id 77" in err


def test_triage_commands(state, capsys):
    assert run_cli(capsys, "alerts", "ack", "1", "--note", "ticket SOC-481")[1] == (
        "incident 1 is now acknowledged\n")
    code, out, _ = run_cli(capsys, "alerts", "snooze", "2", "--for", "7d", "--note", "later")
    assert code == 0 and out.startswith("incident 2 is snoozed until ")
    code, out, _ = run_cli(capsys, "alerts", "list", "--json", "--status", "snoozed")
    [row] = [json.loads(x) for x in out.splitlines()]
    until = row["snoozed_until"]
    assert row["id"] == 2 and timedelta(days=6, hours=23) < (
        __import__("datetime").datetime.fromisoformat(until) - utcnow()) <= timedelta(days=7)
    assert run_cli(capsys, "alerts", "false-positive", "2")[1] == "incident 2 is now false_positive\n"
    assert run_cli(capsys, "alerts", "resolve", "1")[1] == "incident 1 is now resolved\n"
    code, out, _ = run_cli(capsys, "alerts", "show", "1")
    assert "status acknowledged -> resolved" in out and "ticket SOC-481" in out
    assert "status new -> acknowledged  by cli:" in out  # who acted, from the shell
    code, _, err = run_cli(capsys, "alerts", "snooze", "1", "--for", "soon")
    assert code == 2 and "--for: 'soon' is not a duration" in err


def test_export_jsonl(state, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "alerts", "export", "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [1, 2]
    assert rows[0]["record_ids"] == ids(12) and rows[0]["dedup_key"].startswith("c:")
    out_file = tmp_path / "inc.jsonl"
    code, out, err = run_cli(capsys, "alerts", "export", "--output", str(out_file))
    assert code == 0 and out == "" and "wrote 2 incident(s)" in err
    assert is_private(out_file) and len(out_file.read_text().splitlines()) == 2


def test_export_stix_bundle_validates(state, capsys, tmp_path):
    out_file = tmp_path / "bundle.json"
    code, _, _ = run_cli(capsys, "alerts", "export", "--format", "stix", "--output", str(out_file))
    assert code == 0
    # allow_custom: the interop profile's created_by_ref on observables (see export.py)
    bundle = stix2.parse(out_file.read_text(), allow_custom=True)
    types = [o.type for o in bundle.objects]
    assert types.count("sighting") == 2 and types.count("note") == 2
    assert types.count("observed-data") == 3 and types.count("indicator") == 2
    by_id = {o.id: o for o in bundle.objects}
    s1 = next(o for o in bundle.objects if o.type == "sighting" and o.count == 2)
    assert by_id[s1.sighting_of_ref].external_references[0].external_id.startswith("c:")
    for ref in s1.observed_data_refs:
        assert by_id[ref].type == "observed-data"
    note = next(o for o in bundle.objects if o.type == "note" and s1.id in o.object_refs)
    assert "Distinct records matched: 12" in note.content and "P10011" in note.content
    # a second export describes the same objects (same ids), so a TIP versions them
    code, out, _ = run_cli(capsys, "alerts", "export", "--format", "stix")
    again = stix2.parse(out, allow_custom=True)
    assert sorted(o.id for o in again.objects) == sorted(by_id)


@pytest.mark.parametrize("interop", [False, True])
def test_export_stix_passes_stix2_validator(state, capsys, interop):
    code, out, _ = run_cli(capsys, "alerts", "export", "--format", "stix")
    assert code == 0
    results = validate_string(out, ValidationOptions(version="2.1", interop=interop))
    assert [str(e) for e in results.errors] == [] and results.is_valid
    # what is left are warnings we accept, each for a stated reason (export.py docstring)
    warnings = {str(w).split(": {")[1][:3] for w in results.warnings or []}
    assert warnings <= {"103", "401"}  # deterministic UUIDv5 ids; created_by_ref on SCOs
    objects = json.loads(out)["objects"]
    assert all(o["created_by_ref"] == objects[0]["id"] for o in objects)
    assert all(o["object_marking_refs"] == [stix2.TLP_AMBER.id] for o in objects[1:])


def test_alerts_runs_as_a_command(state):
    env = {**os.environ, "LEAKMON_STATE_DIR": str(state)}
    proc = subprocess.run([sys.executable, "-m", "monitor", "alerts", "list", "--status", "new"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Our patient records" in proc.stdout


# -- the commands, configured with [store] url ------------------------------------------------

def test_commands_use_the_configured_postgresql_store(pg_database, tmp_path, monkeypatch, capsys):
    from urllib.parse import urlsplit

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config = tmp_path / "leakmon.toml"
    parts = urlsplit(pg_database)
    url = parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}").geturl()
    config.write_text(f'[store]\nurl = "{url}"\n'
                      'password = "env:LM_PG_PW"\n'
                      '[[sources]]\nname = "tg"\ntype = "pastebin"\n')
    monkeypatch.setenv("LM_PG_PW", parts.password)
    with Store.open(pg_database, state_dir=state) as s:
        make_pipeline(s).process_batch("tg", [doc(POST, ext="1")], "c1")
    argv = ["--config", str(config), "--state-dir", str(state)]
    code, out, _ = run_cli(capsys, *argv, "alerts", "list", "--json")
    [row] = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and row["id"] == 1 and row["status"] == "new"
    assert run_cli(capsys, *argv, "alerts", "ack", "1")[0] == 0
    code, out, _ = run_cli(capsys, *argv, "status", "--json")
    status = json.loads(out)
    assert code == 0
    assert status["incidents"] == {"acknowledged": 1}
    assert [s["name"] for s in status["sources"]] == ["tg"]
    assert not (state / "leakmon.db").exists()  # nothing went to a SQLite file
