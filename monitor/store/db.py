"""The store: opening (SQLite file or PostgreSQL URL), migrating and transactions.

Why these choices: WAL lets `leakmon status` / `alerts list` read while the daemon writes; a busy
timeout makes a CLI write (e.g. `alerts ack`) wait for the daemon's short transactions instead of
failing; `BEGIN IMMEDIATE` takes the write lock up front so a transaction never fails half-way on
a read->write lock upgrade. The connection runs in autocommit mode (isolation_level=None) so that
nothing is ever left in an implicit, uncommitted transaction: every write goes through
`Store.transaction()`. sqlite-utils gives us the table helpers and nests its own `atomic()` blocks
inside ours as savepoints.

On PostgreSQL (`[store] url`, monitor.store._postgres) the same mixins run through a small
adapter with the same `execute`/`query` surface; a transaction is a plain BEGIN (READ
COMMITTED), statements that read-then-write a shared row lock it first (see `_lock_row`), and
migrations take an advisory lock so that several workers starting together migrate once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.config import Config, resolve_secret
from monitor.errors import StoreError
from monitor.models import utcnow
from monitor.store import _postgres
from monitor.store._util import iso
from monitor.store.documents import DocumentsMixin
from monitor.store.evidence import EvidenceStore
from monitor.store.incidents import IncidentsMixin
from monitor.store.outbox import OutboxMixin
from monitor.store.queries import QueriesMixin
from monitor.store.schema import LATEST_VERSION, MIGRATIONS
from monitor.store.sources import SourcesMixin
from monitor.store.workers import WorkersMixin

log = logging.getLogger(__name__)

DB_NAME = "leakmon.db"
BUSY_TIMEOUT_MS = 30_000


class Store(SourcesMixin, DocumentsMixin, IncidentsMixin, OutboxMixin, QueriesMixin,
            WorkersMixin):
    """One connection to `<state_dir>/leakmon.db`. Open one Store per thread or process.

    The object may be handed between threads (e.g. `asyncio.to_thread`), but calls are serialized
    by an internal lock; it is not meant for concurrent use from several threads at once.
    """

    dialect: str = "sqlite"  # "postgresql" when opened on a postgresql:// URL

    def __init__(self, db: sqlite_utils.Database | _postgres.PgDatabase, path: Path | str,
                 evidence: EvidenceStore | None, state_dir: Path | None = None) -> None:
        self.db = db
        # The database file, or on PostgreSQL the URL without its password (for messages).
        self.path = path
        # The state directory (fingerprint key, evidence): the SQLite file's folder, or
        # for PostgreSQL the one given on opening (None: this process has none).
        self.state_dir = Path(state_dir) if state_dir is not None else (
            path.parent if isinstance(path, Path) else None)
        self.evidence = evidence
        if isinstance(db, _postgres.PgDatabase):
            self.dialect = db.dialect
        self._lock = threading.RLock()
        self._depth = 0

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, evidence: bool = False, retention_days: int = 30,
             evidence_dir: Path | None = None, state_dir: Path | None = None) -> Store:
        """Open (creating 0600 if needed) and migrate the database at `path`.

        `path` may be the database file or the state directory (then `leakmon.db` inside it),
        or a `postgresql://` URL (see `connect`; `state_dir` only matters there).
        With `evidence=True`, raw content is kept gz-compressed under `<state_dir>/evidence/`.
        """
        if _postgres.is_url(path):
            return cls.connect(str(path), evidence=evidence, retention_days=retention_days,
                               evidence_dir=evidence_dir, state_dir=state_dir)
        p = Path(path)
        if p.is_dir():
            p = p / DB_NAME
        if not p.parent.is_dir():
            raise StoreError(f"cannot open store {p}: folder {p.parent} does not exist")
        try:
            # Create the file only when missing: opening and closing an existing database
            # file would drop the POSIX locks other SQLite connections in this process hold.
            if not p.exists():
                with contextlib.suppress(FileExistsError):  # another process was quicker
                    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
            conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open store {p}: {e}") from None
        try:
            db = sqlite_utils.Database(conn)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StoreError(f"cannot open store {p}: {e} (is it a leakmon database?)") from None
        ev = None
        if evidence:
            ev = EvidenceStore(evidence_dir or p.parent / "evidence", retention_days)
        store = cls(db, p, ev)
        store.retention_days = retention_days
        try:
            store._migrate()
        except sqlite3.Error as e:
            conn.close()
            raise StoreError(f"cannot migrate store {p}: {e}") from None
        for suffix in ("-wal", "-shm"):
            side = p.with_name(p.name + suffix)
            if side.exists():
                with contextlib.suppress(OSError):
                    os.chmod(side, 0o600)
        return store

    @classmethod
    def connect(cls, url: str, *, password: str | None = None, state_dir: Path | None = None,
                evidence: bool = False, retention_days: int = 30,
                evidence_dir: Path | None = None) -> Store:
        """Connect to the PostgreSQL database at `url` and migrate it.

        The password comes from `password`, the URL, or libpq's own PGPASSWORD / ~/.pgpass;
        messages show the URL without it. `state_dir` is this process's state directory (the
        fingerprint key); evidence files go to `evidence_dir`, by default `<state_dir>/evidence`
        (a local folder: the raw content never goes into the database).
        """
        if evidence_dir is None and state_dir is not None:
            evidence_dir = Path(state_dir) / "evidence"
        if evidence and evidence_dir is None:
            raise StoreError(f"store {_postgres.redact(url)}: evidence keeping needs a folder "
                             "for the evidence files (the state directory)")
        db = _postgres.PgDatabase.connect(url, password=password)
        ev = EvidenceStore(evidence_dir, retention_days) if evidence and evidence_dir else None
        store = cls(db, db.url, ev, state_dir)
        store.retention_days = retention_days
        try:
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def from_config(cls, config: Config, state_dir: Path) -> Store:
        """Open the store of `config`'s `[store]` section: `url` (PostgreSQL) when set, else
        `<state_dir>/leakmon.db`."""
        sc = config.store
        if sc.url:
            url = resolve_secret(sc.url, where="[store] url")
            password = resolve_secret(sc.password, where="[store] password") or None
            return cls.connect(url, password=password, state_dir=Path(state_dir),
                               evidence=sc.evidence, retention_days=sc.retention_days)
        return cls.open(state_dir / DB_NAME, evidence=sc.evidence,
                        retention_days=sc.retention_days)

    @staticmethod
    def peek_version(config: Config) -> tuple[str, int]:
        """The `[store] url` database without its password, and its schema version (0: not
        migrated yet), changing nothing: for `leakmon doctor`. StoreError when unreachable."""
        url = resolve_secret(config.store.url, where="[store] url")
        db = _postgres.PgDatabase.connect(
            url, password=resolve_secret(config.store.password, where="[store] password") or None)
        try:
            if "schema_version" not in db.table_names():
                return db.url, 0
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            return db.url, int(row[0] or 0) if row else 0
        finally:
            db.close()

    retention_days: int = 30

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------------

    def schema_version(self) -> int:
        if "schema_version" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    def _lock_schema(self) -> None:
        """Inside a transaction: wait until no other process is migrating (PostgreSQL; on
        SQLite, BEGIN IMMEDIATE already keeps every other writer out)."""
        if self.dialect == "postgresql":
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (_postgres.MIGRATION_LOCK,))

    def _migrate(self) -> None:
        # Up to date is the common case: a read (WAL readers wait for no writer) and no write
        # lock, so `status`, `alerts list` or a test's probe never queue behind a daemon's
        # batch, nor fail on one whose process is stopped while it holds the lock.
        if self.schema_version() == LATEST_VERSION:
            return
        with self.transaction():
            self._lock_schema()
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        current = self.schema_version()
        if current > LATEST_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {current}, newer than this leakmon "
                f"understands ({LATEST_VERSION}); upgrade leakmon"
            )
        sqlite = self.dialect == "sqlite"
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            statements = migration.statements if sqlite else migration.postgres
            if not statements:
                raise StoreError(f"store {self.path}: migration {migration.version} "
                                 f"({migration.description}) has no {self.dialect} statements")
            rebuilds = sqlite and migration.rebuilds_tables
            if rebuilds:  # a no-op inside a transaction: set it outside
                self.db.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.transaction():
                    self._lock_schema()
                    if self.schema_version() >= migration.version:
                        continue  # another process applied it while we waited
                    for sql in statements:
                        self.db.execute(sql)
                    if migration.fill:
                        getattr(self, migration.fill)()
                    if rebuilds:
                        broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            tables = sorted({row[0] for row in broken})
                            raise StoreError(
                                f"store {self.path}: migration {migration.version} stopped, "
                                f"nothing changed: {len(broken)} row(s) of "
                                f"{', '.join(tables)} refer to rows that do not exist")
                    self.db.execute(
                        "INSERT INTO schema_version (version, description, applied_at) "
                        "VALUES (?,?,?)",
                        (migration.version, migration.description, iso(utcnow())),
                    )
            except _postgres.PgStoreError as e:  # the adapter names the failed statement
                raise StoreError(f"cannot migrate store {self.path}: migration "
                                 f"{migration.version} ({migration.description}): {e}") from e
            finally:
                if rebuilds:
                    self.db.execute("PRAGMA foreign_keys = ON")
            log.info("store %s migrated to schema version %d (%s)", self.path,
                     migration.version, migration.description)

    # -- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all. Nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                if self._db_in_transaction():
                    self.db.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                try:
                    self.db.execute("COMMIT")
                except BaseException:
                    if self._db_in_transaction():
                        self.db.execute("ROLLBACK")
                    raise

    def _db_in_transaction(self) -> bool:
        if isinstance(self.db, sqlite_utils.Database):
            return self.db.conn.in_transaction
        return self.db.in_transaction

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _fetchone(self, sql: str, params: tuple = ()) -> tuple | None:
        """One raw row (fast path for hot lookups), serialized with the writers."""
        with self._lock:
            return self.db.execute(sql, params).fetchone()

    def _fetchall(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        """Rows as dicts (read-only helper, serialized with the writers)."""
        with self._lock:
            return list(self.db.query(sql, params))

    def _executemany(self, sql: str, rows: list[tuple]) -> None:
        """One statement over many rows (inside the caller's transaction)."""
        with self._lock:
            if isinstance(self.db, sqlite_utils.Database):
                self.db.conn.executemany(sql, rows)
            else:
                self.db.executemany(sql, rows)

    def _lock_row(self, table: str, id: int) -> None:
        """Inside a transaction, before a read-then-write of rows hanging off `table` row
        `id`: on PostgreSQL lock that row (FOR UPDATE) so that a concurrent transaction
        waits and then reads what this one committed; on SQLite BEGIN IMMEDIATE already did."""
        if self.dialect == "postgresql":
            self.db.execute(f"SELECT 1 FROM {table} WHERE id = ? FOR UPDATE", (id,))

    # -- small key/value table (e.g. a digest sink's last send time) ---------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- retention -----------------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> dict[str, int]:
        """Apply `retention_days`: drop old documents' excerpts and old evidence files.

        Incidents, sightings and hashes stay (they are what dedup needs); the redacted excerpts
        of documents fetched before the cut-off (and of their hits) are cleared, and sent/dead
        outbox rows and their delivery attempts past the same age are deleted.
        """
        now = now or utcnow()
        cutoff = iso(now - timedelta(days=self.retention_days))
        with self.transaction():
            excerpts = self.db.execute(
                "UPDATE documents SET excerpt = NULL WHERE fetched_at < ? AND excerpt IS NOT NULL",
                (cutoff,)).rowcount
            self.db.execute(
                "UPDATE hits SET excerpt = '' WHERE excerpt != '' AND document_id IN "
                "(SELECT id FROM documents WHERE fetched_at < ?)", (cutoff,))
            self.db.execute(
                "DELETE FROM delivery_attempts WHERE outbox_id IN (SELECT id FROM outbox "
                "WHERE status != 'pending' AND created_at < ?)", (cutoff,))
            outbox = self.db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND created_at < ?",
                (cutoff,)).rowcount
            evidence = 0
            if self.evidence is not None:
                evidence = self.db.execute(
                    "UPDATE documents SET evidence_path = NULL "
                    "WHERE fetched_at < ? AND evidence_path IS NOT NULL", (cutoff,)).rowcount
        removed_files = self.evidence.prune(now) if self.evidence is not None else 0
        return {"excerpts": excerpts, "outbox": outbox, "evidence_rows": evidence,
                "evidence_files": removed_files}
