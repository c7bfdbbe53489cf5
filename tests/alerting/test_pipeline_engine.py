"""The pipeline with the real matching engine: rule file + fingerprint set in tmp_path."""

from __future__ import annotations

import csv

import pytest
from leakfakes import FakeSink, count, doc, stored_bytes

from monitor.config import Config, parse_config
from monitor.matching.fingerprints.build import FieldSpec, import_csv
from monitor.matching.keys import load_key
from monitor.matching.loader import load_engine
from monitor.pipeline import Pipeline

RULES = """
[[rules]]
id = "org.mention"
title = "Organization named near leak vocabulary"
severity = "medium"
keywords = ["Dedalus Biologie"]
near = ["dump", "leak", "fuite", "base"]
window = 300

[[rules]]
id = "patients.records"
title = "Our patient records"
severity = "critical"
fingerprints = "patients"
min_records = 1
"""

PEOPLE = [(f"P{i:04d}", f"patient{i}@hopital-exemple.fr", name, "1" if i == 7 else "")
          for i, name in enumerate(["Martin", "Bernard", "Dubois", "Thomas", "Robert",
                                    "Richard", "Petit", "Durand", "Leroy", "Moreau",
                                    "Simon", "Laurent"])]


@pytest.fixture
def engine(tmp_path):
    state = tmp_path  # the state dir of the `store` fixture (fingerprint key and sets)
    src = tmp_path / "patients.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "email", "last", "canary"])
        w.writerows(PEOPLE)
    import_csv(state, "patients", src, id_column="id", canary_column="canary",
               fields=[FieldSpec("email", "email"), FieldSpec("last", "last_name")],
               key=load_key(state))
    (tmp_path / "rules.toml").write_text(RULES)
    cfg: Config = parse_config({})
    return load_engine(cfg, state, rule_paths=[tmp_path / "rules.toml"]).engine


def dump(rows, header="email;nom") -> str:
    return header + "\n" + "\n".join(f"{e};{n}" for _, e, n, _ in rows) + "\n"


def test_real_engine_hits_become_incidents_with_record_ids(store, engine):
    sink = FakeSink()
    p = Pipeline(store, engine, sinks=[sink])
    first = doc("fuite de la base Dedalus Biologie\n" + dump(PEOPLE[:5]), ext="1")
    r = p.process_batch("tg", [first, doc("rien à voir", ext="2")], "c1")
    assert (r.documents, r.new_incidents, r.notifications) == (2, 1, 1)
    [inc] = store.list_incidents()
    assert inc.severity == "critical" and inc.record_count == 5
    assert store.incident_record_ids(inc.id) == [p[0] for p in PEOPLE[:5]]
    # re-posted elsewhere with more rows (incl. the canary) and another header
    repost = doc(dump(PEOPLE, header="mail;lastname") + "by @someone", source="paste",
                 platform="pastebin", url="https://pastebin.com/abc")
    r = p.process_batch("paste", [repost], None)
    assert r.new_incidents == 0 and count(store, "incidents") == 1
    inc = store.get_incident(inc.id)
    assert inc.record_count == 12 and inc.canary and inc.sightings == 2
    n = store.outbox_rows()[-1]["notification"]
    assert n["event"] == "escalated" and n["canary"] and n["record_count"] == 12
    raw = stored_bytes(store)
    # nothing plaintext in the store (redacted excerpts keep only e-mail domains)
    for _, email, last, _ in PEOPLE:
        assert email.encode() not in raw and last.encode() not in raw
