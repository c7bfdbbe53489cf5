"""Opening the store: file mode, WAL, schema version and migrations, transactions."""

from __future__ import annotations

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


def test_reopen_is_idempotent_and_keeps_data(store_location):
    Store.open(store_location).close()
    with Store.open(store_location) as s:
        s.save_cursor("src", "c1")
    with Store.open(store_location) as s:
        rows = s.query("SELECT version FROM schema_version")
        assert [r["version"] for r in rows] == [m.version for m in schema_mod.MIGRATIONS]
        assert s.get_source_state("src").cursor == "c1"


def test_a_new_migration_is_applied_on_open(store_location, monkeypatch):
    with Store.open(store_location) as s:
        s.save_cursor("src", "c1")
    add = ("ALTER TABLE source_state ADD COLUMN note TEXT",)
    extra = schema_mod.Migration(LATEST_VERSION + 1, "add a column", add, postgres=add)
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", (*schema_mod.MIGRATIONS, extra))
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", extra.version)
    with Store.open(store_location) as s:
        assert s.schema_version() == LATEST_VERSION + 1
        assert s.query("SELECT name, note FROM source_state") == [{"name": "src", "note": None}]
        assert s.get_source_state("src").cursor == "c1"
    with Store.open(store_location) as s:  # applied once only
        assert s.schema_version() == LATEST_VERSION + 1


def test_a_failing_migration_leaves_the_previous_version(store_location, monkeypatch):
    Store.open(store_location).close()
    broken = ("CREATE TABLE t1 (x TEXT)", "THIS IS NOT SQL")
    bad = schema_mod.Migration(LATEST_VERSION + 1, "broken", broken, postgres=broken)
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", (*schema_mod.MIGRATIONS, bad))
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", bad.version)
    with pytest.raises(StoreError, match="cannot migrate store"):
        Store.open(store_location)
    monkeypatch.undo()
    with Store.open(store_location) as s:
        assert s.schema_version() == LATEST_VERSION and "t1" not in s.db.table_names()


def test_newer_database_is_refused(store_location):
    with Store.open(store_location) as s, s.transaction():
        s.db.execute("INSERT INTO schema_version VALUES (?, 'future', 'x')",
                     (LATEST_VERSION + 5,))
    with pytest.raises(StoreError, match="newer than this leakmon"):
        Store.open(store_location)


def test_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "leakmon.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"leakmon\.db"):
        Store.open(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope" / "leakmon.db")


def test_transaction_rolls_back_everything_and_nests(store_location):
    with Store.open(store_location) as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.save_cursor("a", "1")
            with s.transaction():
                s.save_cursor("b", "2")
            raise RuntimeError("boom")
        assert s.list_source_states() == []
        assert not s._db_in_transaction()
        with s.transaction():
            s.save_cursor("a", "1")
        assert not s._db_in_transaction()
        # another connection sees the committed write (nothing left in an open transaction)
        with Store.open(store_location) as other:
            assert other.db.execute("SELECT cursor FROM source_state").fetchall() == [("1",)]
