"""Schema version 2 as an analyst meets it through sqlite-utils (what Datasette uses too):
foreign keys between incidents, sightings, hits and documents, the severity rank, the views,
and the migration of a version-1 database keeping every row."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from monitor.store import Store
from monitor.store import schema as schema_mod

NOW = "2026-11-28T10:00:00+00:00"


def _v1_database(tmp_path, monkeypatch) -> None:
    """A store at schema version 1 with two incidents, their documents, hits, sightings."""
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", schema_mod.MIGRATIONS[:1])
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", 1)
    with Store.open(tmp_path) as s:
        assert s.schema_version() == 1
        db = s.db
        for i, (sev, title) in enumerate((("critical", "Patients dump"),
                                          ("low", "Mention")), 1):
            db["incidents"].insert({
                "id": i, "dedup_key": f"k{i}", "title": title, "rule_id": "r", "rule_title": "R",
                "severity": sev, "confidence": 0.9, "first_seen": NOW, "last_seen": NOW,
                "sightings": 2 if i == 1 else 1, "updated_at": NOW})
        for d, (inc, site, url) in enumerate(((1, "pastebin.com", "https://pastebin.com/a"),
                                              (1, "t.me", "https://t.me/c/9"),
                                              (2, "t.me", None)), 1):
            db["documents"].insert({
                "id": d, "source": f"src{d}", "platform": "paste", "external_id": f"e{d}",
                "url": url, "fetched_at": f"2026-11-28T10:0{d}:00+00:00", "sha256": f"{d:064x}",
                "size": 100 * d, "incident_id": inc, "updated_at": NOW})
            db["hits"].insert({"document_id": d, "incident_id": inc, "rule_id": "r",
                               "title": "R", "severity": "high" if inc == 1 else "info",
                               "count": 1, "excerpt": "x"})
            db["sightings"].insert({"incident_id": inc, "document_id": d, "source": f"src{d}",
                                    "platform": "paste", "site": site, "url": url,
                                    "seen_at": f"2026-11-28T10:0{d}:00+00:00"})


def _counts(db: sqlite_utils.Database) -> dict[str, int]:
    return {t: db[t].count for t in ("incidents", "documents", "hits", "sightings")}


def test_v1_database_migrates_keeping_every_row(tmp_path, monkeypatch):
    _v1_database(tmp_path, monkeypatch)
    before = _counts(sqlite_utils.Database(tmp_path / "leakmon.db"))
    rows_before = list(sqlite_utils.Database(tmp_path / "leakmon.db")["documents"].rows)
    monkeypatch.undo()
    with Store.open(tmp_path) as s:
        assert s.schema_version() == schema_mod.LATEST_VERSION
        assert 2 in [r["version"] for r in s.query("SELECT version FROM schema_version")]
    db = sqlite_utils.Database(tmp_path / "leakmon.db")
    assert before == {"incidents": 2, "documents": 3, "hits": 3, "sightings": 3}
    assert _counts(db) == before
    assert list(db["documents"].rows) == rows_before
    fks = {(fk.table, fk.column, fk.other_table) for t in ("documents", "hits", "sightings")
           for fk in db[t].foreign_keys}
    assert fks == {("documents", "incident_id", "incidents"),
                   ("hits", "document_id", "documents"), ("hits", "incident_id", "incidents"),
                   ("sightings", "incident_id", "incidents"),
                   ("sightings", "document_id", "documents")}
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert {"documents_incident", "hits_document", "sightings_site"} <= {
        i.name for t in ("documents", "hits", "sightings") for i in db[t].indexes}


def test_views_answer_what_an_analyst_asks(tmp_path, monkeypatch):
    _v1_database(tmp_path, monkeypatch)
    monkeypatch.undo()
    Store.open(tmp_path).close()
    db = sqlite_utils.Database(tmp_path / "leakmon.db")
    assert {"incident_overview", "sighting_timeline"} <= set(db.view_names())
    overview = list(db["incident_overview"].rows_where(order_by="severity_rank desc"))
    assert [(r["id"], r["severity"], r["severity_rank"]) for r in overview] == [
        (1, "critical", 4), (2, "low", 1)]
    first = overview[0]
    assert (first["site_count"], first["sites"], first["hits"]) == (
        2, "paste:pastebin.com, paste:t.me", 2)
    assert first["latest_url"] == "https://t.me/c/9"
    timeline = list(db["sighting_timeline"].rows_where(order_by="seen_at"))
    assert [(r["incident_id"], r["site"], r["sha256"][-1]) for r in timeline] == [
        (1, "pastebin.com", "1"), (1, "t.me", "2"), (2, "t.me", "3")]
    assert timeline[0]["incident_title"] == "Patients dump"
    ranks = {r["severity"]: r["severity_rank"] for r in db["hits"].rows}
    assert ranks == {"high": 3, "info": 0}


def test_foreign_keys_are_enforced(tmp_path):
    Store.open(tmp_path).close()
    db = sqlite_utils.Database(tmp_path / "leakmon.db")
    db.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db["hits"].insert({"document_id": 999, "rule_id": "r", "title": "R",
                           "severity": "low", "count": 1, "excerpt": "x"})
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db["sightings"].insert({"incident_id": 5, "document_id": 5, "source": "s",
                                "platform": "p", "site": "x", "seen_at": NOW})
    assert db["hits"].count == 0 and db["sightings"].count == 0


def test_a_dangling_reference_stops_the_migration_and_keeps_v1(tmp_path, monkeypatch):
    _v1_database(tmp_path, monkeypatch)
    raw = sqlite3.connect(tmp_path / "leakmon.db")
    raw.execute("UPDATE hits SET incident_id = 77 WHERE id = 1")  # v1 had no FK to stop it
    raw.commit()
    raw.close()
    monkeypatch.undo()
    with pytest.raises(Exception, match=r"migration 2 stopped, nothing changed: 1 row\(s\) of hits"):
        Store.open(tmp_path)
    db = sqlite_utils.Database(tmp_path / "leakmon.db")
    assert [r["version"] for r in db["schema_version"].rows] == [1]
    assert _counts(db) == {"incidents": 2, "documents": 3, "hits": 3, "sightings": 3}
    assert "incident_overview" not in db.view_names()
