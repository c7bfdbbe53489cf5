"""Two connections (the daemon and a CLI command) and a Store handed between threads."""

from __future__ import annotations

import threading

from monitor.store import Store


def test_a_writer_waits_for_the_other_connections_transaction(tmp_path):
    """SQLite: one writer at a time (BEGIN IMMEDIATE); PostgreSQL's row locks are in
    test_store_postgres.py."""
    daemon, cli, reader = Store.open(tmp_path), Store.open(tmp_path), Store.open(tmp_path)
    inside, release, done = threading.Event(), threading.Event(), threading.Event()

    def long_batch():
        with daemon.transaction():
            daemon.save_cursor("tg", "1")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=long_batch)
    t.start()
    inside.wait(10)

    def cli_write():
        cli.set_meta("k", "v")  # BEGIN IMMEDIATE blocks on the busy timeout, then succeeds
        done.set()

    w = threading.Thread(target=cli_write)
    w.start()
    assert not done.is_set()  # still blocked while the batch is open (it cannot finish first)
    assert reader.get_source_state("tg").cursor is None  # WAL: readers see the last commit
    release.set()
    t.join(10)
    w.join(10)
    assert done.is_set()
    assert cli.get_source_state("tg").cursor == "1" and daemon.get_meta("k") == "v"
    for s in (daemon, cli, reader):
        s.close()


def test_store_can_be_used_from_a_worker_thread(store):
    errors: list[BaseException] = []

    def work():
        try:
            store.record_source_run("tg", True, 3)
            store.save_cursor("tg", "9")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert errors == []
    assert store.get_source_state("tg").cursor == "9"


def test_opening_an_up_to_date_store_needs_no_write_lock(tmp_path, monkeypatch):
    """`leakmon status` or `alerts list` beside a daemon whose process holds the write lock
    (mid-batch, or stopped there by SIGSTOP) opens and reads at once instead of queueing."""
    import sqlite3

    import monitor.store.db as db

    Store.open(tmp_path).close()  # created and migrated
    writer = sqlite3.connect(tmp_path / db.DB_NAME, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO meta (key, value) VALUES ('batch', 'in flight')")
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)  # a queued open would fail, not hang
    try:
        with Store.open(tmp_path) as store:
            assert store.get_meta("batch") is None  # the uncommitted batch is not visible
            assert store.schema_version() == db.LATEST_VERSION
    finally:
        writer.execute("ROLLBACK")
        writer.close()
