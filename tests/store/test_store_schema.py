"""Opening the store: file mode, WAL, schema version and migrations, transactions."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.errors import StoreError
from monitor.paths import is_private
from monitor.store import LATEST_VERSION, Store
from monitor.store import schema as schema_mod


def test_open_creates_private_wal_database_with_version(tmp_path):
    with Store.open(tmp_path) as s:
        assert s.path == tmp_path / "leakmon.db"
        assert is_private(s.path)
        assert s.db.journal_mode == "wal"
        assert s.schema_version() == LATEST_VERSION
        assert s.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        for table in ("documents", "hits", "incidents", "sightings", "incident_records",
                      "outbox", "delivery_attempts", "source_state", "suggested_sources",
                      "minhashes", "incident_events"):
            assert table in s.db.table_names()
        s.save_cursor("a", "42")


def test_reopen_is_idempotent_and_keeps_data(tmp_path):
    Store.open(tmp_path).close()
    with Store.open(tmp_path / "leakmon.db") as s:
        s.save_cursor("src", "c1")
    with Store.open(tmp_path) as s:
        rows = s.query("SELECT version FROM schema_version")
        assert [r["version"] for r in rows] == [m.version for m in schema_mod.MIGRATIONS]
        assert s.get_source_state("src").cursor == "c1"


def test_a_new_migration_is_applied_on_open(tmp_path, monkeypatch):
    with Store.open(tmp_path) as s:
        s.save_cursor("src", "c1")
    extra = schema_mod.Migration(LATEST_VERSION + 1, "add a column",
                                 ("ALTER TABLE source_state ADD COLUMN note TEXT",))
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", (*schema_mod.MIGRATIONS, extra))
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", extra.version)
    with Store.open(tmp_path) as s:
        assert s.schema_version() == LATEST_VERSION + 1
        assert "note" in s.db["source_state"].columns_dict
        assert s.get_source_state("src").cursor == "c1"
    with Store.open(tmp_path) as s:  # applied once only
        assert s.schema_version() == LATEST_VERSION + 1


def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    Store.open(tmp_path).close()
    bad = schema_mod.Migration(LATEST_VERSION + 1, "broken",
                               ("CREATE TABLE t1 (x)", "THIS IS NOT SQL"))
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", (*schema_mod.MIGRATIONS, bad))
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", bad.version)
    with pytest.raises(StoreError, match="cannot migrate store"):
        Store.open(tmp_path)
    monkeypatch.undo()
    with Store.open(tmp_path) as s:
        assert s.schema_version() == LATEST_VERSION and "t1" not in s.db.table_names()


def test_newer_database_is_refused(tmp_path):
    with Store.open(tmp_path) as s, s.transaction():
        s.db.execute("INSERT INTO schema_version VALUES (?, 'future', 'x')",
                     (LATEST_VERSION + 5,))
    with pytest.raises(StoreError, match="newer than this leakmon"):
        Store.open(tmp_path)


def test_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "leakmon.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"leakmon\.db"):
        Store.open(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope" / "leakmon.db")


def test_transaction_rolls_back_everything_and_nests(tmp_path):
    with Store.open(tmp_path) as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.save_cursor("a", "1")
            with s.transaction():
                s.save_cursor("b", "2")
            raise RuntimeError("boom")
        assert s.list_source_states() == []
        assert not s.db.conn.in_transaction
        with s.transaction():
            s.save_cursor("a", "1")
        # another connection sees the committed write (nothing left in an open transaction)
        other = sqlite3.connect(tmp_path / "leakmon.db")
        assert other.execute("SELECT cursor FROM source_state").fetchall() == [("1",)]
        other.close()
