"""What only the PostgreSQL backend has: connecting (errors that name the server and the
database, never the password), migrating an empty database (also from several processes at
once), the schema as an analyst meets it, and transactions of two connections at once."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError, StoreError
from monitor.models import Document
from monitor.store import LATEST_VERSION, Store
from monitor.store import schema as schema_mod
from monitor.store._postgres import PgStoreError, redact, translate
from tests.support import postgres
from tests.support.net import free_port

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
TABLES = {"documents", "hits", "incidents", "sightings", "incident_records", "outbox",
          "delivery_attempts", "source_state", "suggested_sources", "minhashes",
          "incident_events", "incident_keys", "incident_log", "meta", "schema_version",
          "users", "api_tokens", "web_sessions"}


def _with(url: str, *, password: str | None = None, port: int | None = None,
          database: str | None = None) -> str:
    """`url` with another password ("": none), port or database."""
    parts = urlsplit(url)
    password = parts.password if password is None else password
    host = f"{parts.hostname}:{port or parts.port}"
    auth = f"{parts.username}:{password}@" if password else f"{parts.username}@"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=auth + host, path=path))


# -- connecting ---------------------------------------------------------------------------------

def test_wrong_password_names_server_and_database_not_the_password(pg_database, caplog):
    url = _with(pg_database, password="Wr0ng-s3cret-pw")
    real = urlsplit(pg_database).password
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as err:
        Store.open(url)
    msg = str(err.value)
    db = urlsplit(pg_database).path.lstrip("/")
    assert "password authentication failed" in msg
    assert f"database {db!r} on 127.0.0.1:{urlsplit(url).port}" in msg
    for secret in ("Wr0ng-s3cret-pw", real):
        assert secret not in msg and secret not in caplog.text
        assert secret not in repr(err.value.__cause__ or "")


def test_server_down_is_a_clear_error(pg_url):
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError, match=rf"cannot open store database 'leakmon' on "
                                         rf"127\.0\.0\.1:{port} .*Connection refused"):
        Store.open(_with(pg_url, password="pw", port=port, database="leakmon"))


def test_unknown_database_and_bad_port_are_clear_errors(pg_url):
    with pytest.raises(StoreError, match=r"database 'no_such_db' on .*does not exist"):
        Store.open(_with(pg_url, database="no_such_db"))
    with pytest.raises(StoreError, match=r"on 127\.0\.0\.1:notaport .*\"port\""):
        Store.open("postgresql://leakmon@127.0.0.1:notaport/leakmon")


def test_url_without_password_is_what_messages_and_path_show():
    url = "postgresql://lm:hunter22@db.example:6432/leakmon?sslmode=require&password=pw2"
    shown = redact(url)
    assert "hunter22" not in shown and "pw2" not in shown
    assert shown.startswith("postgresql://lm@db.example:6432/leakmon?sslmode=require")


def test_config_url_and_password_from_the_environment(pg_database, tmp_path, monkeypatch):
    password = urlsplit(pg_database).password
    cfg = parse_config({"store": {"url": _with(pg_database, password=""),
                                  "password": "env:LM_PG_PW"}})
    with pytest.raises(ConfigError, match="LM_PG_PW is not set"):
        Store.from_config(cfg, tmp_path)
    monkeypatch.setenv("LM_PG_PW", password)
    with Store.from_config(cfg, tmp_path) as s:
        assert s.dialect == "postgresql" and s.state_dir == tmp_path
        assert password not in str(s.path) and str(s.path).startswith("postgresql://leakmon@")
        assert s.schema_version() == LATEST_VERSION
    assert not (tmp_path / "leakmon.db").exists()  # no SQLite file on the side


def test_config_refuses_a_password_in_the_url_and_other_schemes():
    with pytest.raises(ConfigError, match=r"\[store\] url holds a password"):
        parse_config({"store": {"url": "postgresql://lm:secret@127.0.0.1/leakmon"}})
    with pytest.raises(ConfigError, match=r"\[store\] url must be a postgresql:// URL"):
        parse_config({"store": {"url": "mysql://lm@127.0.0.1/leakmon"}})


# -- statements -------------------------------------------------------------------------------

def test_placeholders_are_translated_outside_literals_only():
    assert translate("SELECT '?%' AS q, ? FROM t WHERE a LIKE '%x' AND b = ? -- why?") == (
        "SELECT '?%%' AS q, %s FROM t WHERE a LIKE '%%x' AND b = %s -- why?")


def test_literal_percent_and_question_marks_reach_the_server_intact(pg_database):
    with Store.open(pg_database) as s:
        s.set_meta("50% done?", "yes")
        assert s.query("SELECT key FROM meta WHERE key LIKE '50%' AND value = ?",
                       ("yes",)) == [{"key": "50% done?"}]


def test_a_failed_statement_is_a_store_error_naming_it_and_rolls_back(pg_database):
    with Store.open(pg_database) as s:
        with (pytest.raises(PgStoreError, match=r"INSERT INTO meta failed: null value") as err,
              s.transaction()):
            s.set_meta("a", "1")
            s.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("b", None))
        assert err.value.sqlstate == "23502"  # not_null_violation
        assert not s._db_in_transaction() and s.get_meta("a") is None
        s.set_meta("a", "2")  # the connection is usable again
        assert s.get_meta("a") == "2"


# -- schema ---------------------------------------------------------------------------------------

def test_an_empty_database_is_migrated_to_the_latest_version(pg_database):
    with psycopg.connect(pg_database) as raw:
        assert raw.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                           ).fetchone()[0] == 0
    with Store.open(pg_database) as s:
        assert s.schema_version() == LATEST_VERSION
        assert [r["version"] for r in s.query(
            "SELECT version FROM schema_version ORDER BY version")] == [
            m.version for m in schema_mod.MIGRATIONS]
        assert set(s.db.table_names()) >= TABLES
        assert {"incident_overview", "sighting_timeline"} <= set(s.db.view_names())
        indexes = {r[0] for r in s.db.execute("SELECT indexname FROM pg_indexes "
                                              "WHERE schemaname = 'public'").fetchall()}
        assert {"documents_fetched", "hits_document", "sightings_site", "sightings_document",
                "outbox_due", "incident_log_incident", "incidents_sev_last_seen"} <= indexes
    with Store.open(pg_database) as s:  # reopening changes nothing
        assert len(s.query("SELECT version FROM schema_version")) == len(schema_mod.MIGRATIONS)


def test_several_processes_opening_an_empty_database_migrate_it_once(pg_database):
    start, errors, stores = threading.Barrier(4), [], []

    def open_it():
        start.wait(10)
        try:
            stores.append(Store.open(pg_database))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for s in stores:
        s.close()
    with Store.open(pg_database) as s:
        assert [r["version"] for r in s.query("SELECT version FROM schema_version "
                                              "ORDER BY version")] == [
            m.version for m in schema_mod.MIGRATIONS]


def _v1_rows(s: Store) -> None:
    """Two incidents with documents, hits and sightings, written at schema version 1."""
    with s.transaction():
        for i, (sev, title) in enumerate((("critical", "Patients dump"), ("low", "Mention")), 1):
            s.db.execute(
                "INSERT INTO incidents (id, dedup_key, title, rule_id, rule_title, severity, "
                "confidence, first_seen, last_seen, sightings, updated_at) "
                "VALUES (?,?,?,'r','R',?,0.9,?,?,?,?)",
                (i, f"k{i}", title, sev, NOW.isoformat(), NOW.isoformat(), 2 if i == 1 else 1,
                 NOW.isoformat()))
        for d, (inc, site, url) in enumerate(((1, "pastebin.com", "https://pastebin.com/a"),
                                              (1, "t.me", "https://t.me/c/9"),
                                              (2, "t.me", None)), 1):
            seen = f"2026-11-28T10:0{d}:00+00:00"
            s.db.execute(
                "INSERT INTO documents (id, source, platform, external_id, url, fetched_at, "
                "sha256, size, incident_id, updated_at) VALUES (?,?,'paste',?,?,?,?,?,?,?)",
                (d, f"src{d}", f"e{d}", url, seen, f"{d:064x}", 100 * d, inc, NOW.isoformat()))
            s.db.execute(
                "INSERT INTO hits (document_id, incident_id, rule_id, title, severity, count, "
                "excerpt) VALUES (?,?,'r','R',?,1,'x')",
                (d, inc, "high" if inc == 1 else "info"))
            s.db.execute(
                "INSERT INTO sightings (incident_id, document_id, source, platform, site, url, "
                "seen_at) VALUES (?,?,?,'paste',?,?,?)", (inc, d, f"src{d}", site, url, seen))


def _at_version_1(url: str, monkeypatch) -> None:
    monkeypatch.setattr("monitor.store.db.MIGRATIONS", schema_mod.MIGRATIONS[:1])
    monkeypatch.setattr("monitor.store.db.LATEST_VERSION", 1)
    with Store.open(url) as s:
        assert s.schema_version() == 1
        _v1_rows(s)
    monkeypatch.undo()


def _counts(s: Store) -> dict[str, int]:
    return {t: s.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("incidents", "documents", "hits", "sightings")}


def test_v1_database_migrates_keeping_every_row_and_the_views_answer(pg_database, monkeypatch):
    _at_version_1(pg_database, monkeypatch)
    with Store.open(pg_database) as s:
        assert s.schema_version() == LATEST_VERSION
        assert _counts(s) == {"incidents": 2, "documents": 3, "hits": 3, "sightings": 3}
        overview = s.query("SELECT * FROM incident_overview ORDER BY severity_rank DESC")
        assert [(r["id"], r["severity"], r["severity_rank"]) for r in overview] == [
            (1, "critical", 4), (2, "low", 1)]
        first = overview[0]
        assert (first["site_count"], first["sites"], first["hits"]) == (
            2, "paste:pastebin.com, paste:t.me", 2)
        assert first["latest_url"] == "https://t.me/c/9"
        timeline = s.query("SELECT * FROM sighting_timeline ORDER BY seen_at")
        assert [(r["incident_id"], r["site"], r["sha256"][-1]) for r in timeline] == [
            (1, "pastebin.com", "1"), (1, "t.me", "2"), (2, "t.me", "3")]
        ranks = {r["severity"]: r["severity_rank"] for r in s.query("SELECT * FROM hits")}
        assert ranks == {"high": 3, "info": 0}


def test_foreign_keys_are_checked_at_commit(pg_database):
    """As SQLite's (test_store_analyst_schema.py): DEFERRABLE INITIALLY DEFERRED."""
    with Store.open(pg_database) as s:
        with (pytest.raises(StoreError, match="violates foreign key constraint"),
              s.transaction()):
            s.db.execute("INSERT INTO hits (document_id, rule_id, title, severity, count, "
                         "excerpt) VALUES (999, 'r', 'R', 'low', 1, 'x')")
        assert _counts(s)["hits"] == 0
        with s.transaction():  # deferred: a hit may be written before its document
            s.db.execute("INSERT INTO hits (document_id, rule_id, title, severity, count, "
                         "excerpt) VALUES (1, 'r', 'R', 'low', 1, 'x')")
            s.db.execute("INSERT INTO documents (id, source, platform, external_id, "
                         "fetched_at, sha256, size, updated_at) "
                         "VALUES (1, 's', 'p', 'e', 't', 'h', 1, 't')")
        assert _counts(s)["hits"] == 1


def test_a_dangling_reference_stops_the_migration_and_keeps_v1(pg_database, monkeypatch):
    _at_version_1(pg_database, monkeypatch)
    with psycopg.connect(pg_database, autocommit=True) as raw:
        raw.execute("UPDATE hits SET incident_id = 77 WHERE document_id = 1")
    with pytest.raises(StoreError, match=r"cannot migrate store .*: migration 2 .*hits"):
        Store.open(pg_database)
    with psycopg.connect(pg_database) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert raw.execute("SELECT count(*) FROM pg_views WHERE viewname = "
                           "'incident_overview'").fetchone()[0] == 0
        assert raw.execute("SELECT count(*) FROM information_schema.columns WHERE "
                           "column_name = 'severity_rank'").fetchone()[0] == 0


# -- two connections at once --------------------------------------------------------------------

def test_concurrent_transactions_of_two_connections_lose_no_write(store_location, tmp_path):
    """Two workers write to the same incident, source and counters at the same time; every
    increment and every record counts (PostgreSQL: row locks; SQLite: one writer)."""
    rounds = 60
    with Store.open(store_location) as s:
        inc = s.create_incident(dedup_key="k", title="t", rule_id="r", rule_title="R",
                                severity="high", confidence=0.9, seen_at=NOW, canary=False,
                                tags=[], excerpt="")
    conns = [Store.open(store_location), Store.open(store_location)]
    start, errors, counts = threading.Barrier(2), [], []

    def work(w: int, s: Store) -> None:
        try:
            start.wait(10)
            for i in range(rounds):
                with s.transaction():  # one batch: a document, its sighting, its records
                    d = Document(source=f"w{w}", external_id=str(i), platform="telegram",
                                 content=b"x", fetched_at=NOW)
                    doc_id = s.save_document(d, sha256=f"{w}{i}", excerpt=None)
                    s.add_sighting(inc, doc_id, source=f"w{w}", platform="telegram",
                                   site=f"chan{w}", url=None, seen_at=NOW)
                    s.record_source_run("shared", ok=False, items=1, error="e")
                    s.add_suggested_sources(f"w{w}", ["https://t.me/shared_chan"])
                # a batch whose only change to the incident is its records: the count it
                # returns decides escalation, so no two batches may both see the same count
                counts.append(s.add_incident_records(inc, "patients", [(f"w{w}-r{i}", False)]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w, c)) for w, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in conns:
        c.close()
    assert errors == []
    with Store.open(store_location) as s:
        incident = s.get_incident(inc)
        assert incident.sightings == 2 * rounds
        assert incident.record_count == 2 * rounds == len(s.incident_record_ids(inc))
        assert s.get_source_state("shared").consecutive_failures == 2 * rounds
        assert s.list_suggested_sources()[0].mentions == 2 * rounds
        assert s.count_documents() == 2 * rounds
    assert sorted(counts) == list(range(1, 2 * rounds + 1))



# -- leakmon doctor -------------------------------------------------------------------------------

def test_doctor_checks_the_postgresql_store_without_changing_it(pg_database, tmp_path,
                                                                monkeypatch):
    from monitor.daemon.doctor import FAIL, OK, WARN, run_checks

    password = urlsplit(pg_database).password
    config = tmp_path / "leakmon.toml"
    config.write_text(f'[store]\nurl = "{_with(pg_database, password="")}"\n'
                      'password = "env:LM_PG_PW"\n')

    def store_check():
        [check] = [c for c in run_checks(config, tmp_path) if c.what == "store"]
        return check

    monkeypatch.setenv("LM_PG_PW", "not-the-password")
    check = store_check()
    assert check.status == FAIL and "password authentication failed" in check.detail
    assert "not-the-password" not in check.line() and "pg_hba.conf" in check.fix
    monkeypatch.setenv("LM_PG_PW", password)
    check = store_check()
    assert check.status == WARN and "schema version 0" in check.detail  # nothing migrated
    with psycopg.connect(pg_database) as raw:
        assert raw.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                           ).fetchone()[0] == 0
    Store.open(pg_database).close()
    check = store_check()
    assert (check.status, check.detail) == (
        OK, f"{redact(pg_database)}: schema version {LATEST_VERSION}")


def test_a_dropped_connection_is_opened_again_for_the_next_batch(pg_database):
    """The server restarts (here: it ends our backend): the batch in flight fails and rolls
    back, the next one runs on a new connection."""
    with Store.open(pg_database) as s, psycopg.connect(pg_database, autocommit=True) as admin:
        s.save_cursor("src", "1")
        pid = s.db.execute("SELECT pg_backend_pid()").fetchone()[0]
        with (pytest.raises(StoreError, match=r"terminating connection|server closed"),
              s.transaction()):
            s.save_cursor("src", "2")
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            s.record_source_run("src", ok=True, items=1)
        assert not s.in_transaction
        s.save_cursor("src", "3")  # a new connection
        assert s.db.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
        assert s.get_source_state("src").cursor == "3"
    with pytest.raises(StoreError, match="the connection is closed"):
        s.get_source_state("src")  # closed by its owner: not opened again


def test_the_throw_away_cluster_starts_and_stops_leaving_nothing():
    """tests/support/postgres.py, as the `pg_url` fixture and .ci/run use it."""
    import socket
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="leakmon-pg-test-"))
    url = postgres.start(folder)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW lc_collate").fetchone()[0] == "C"
            assert conn.execute("SELECT inet_server_addr()::text").fetchone()[0] == "127.0.0.1/32"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(_with(url, password="nope"))
    finally:
        postgres.stop(folder)
    assert not folder.exists()
    with socket.socket() as s:  # the server is gone: its port is closed
        assert s.connect_ex(("127.0.0.1", urlsplit(url).port)) != 0


def test_a_killed_test_session_leaves_no_cluster_behind(tmp_path):
    """No teardown runs in a SIGKILLed session: its watchdog stops and removes the cluster."""
    import select
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="leakmon-pg-test-"))
    script = tmp_path / "session.py"
    script.write_text(
        "import os, sys\n"
        "from pathlib import Path\n"
        "from tests.support import postgres\n"
        f"url = postgres.start(Path({str(folder)!r}))\n"
        f"print(url, postgres._WATCHDOGS[Path({str(folder)!r})].pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n")
    root = Path(__file__).resolve().parents[2]
    session = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True,
                             text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert session.returncode == -9, session.stderr
    url, pid = session.stdout.split()
    try:
        try:
            fd = os.pidfd_open(int(pid))
        except ProcessLookupError:  # already done
            pass
        else:
            with os.fdopen(fd) as dog:  # readable when the watchdog has exited
                assert select.select([dog], [], [], 120)[0], "the watchdog did not finish"
        assert not folder.exists()
    finally:
        if folder.exists():  # the test failed: do not leave its server running
            postgres.stop(folder)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", urlsplit(url).port)) != 0
