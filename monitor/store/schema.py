"""The store's schema as an ordered list of migrations, applied on open.

Each migration runs inside one transaction together with the row that records its version in
`schema_version`, so a crash mid-migration leaves the database at the previous version and the
next open simply tries again. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    # A Store method run last in the migration's transaction: rows a statement cannot compute.
    fill: str = ""
    # SQLite's table-rebuild procedure (https://sqlite.org/lang_altertable.html#otheralter):
    # foreign keys off around the transaction, `PRAGMA foreign_key_check` before commit.
    rebuilds_tables: bool = False
    postgres: tuple[str, ...] = ()  # the same change for the PostgreSQL backend


def _rebuild(table: str, create: str, columns: str, indexes: tuple[str, ...]) -> tuple[str, ...]:
    """Statements that give `table` a new definition (`create`, for `<table>_v2`) keeping
    every row: create, copy, drop, rename, re-create the indexes."""
    return (
        create,
        f"INSERT INTO {table}_v2 ({columns}) SELECT {columns} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_v2 RENAME TO {table}",
        *indexes,
    )


_SEVERITY_RANK = ("CASE severity WHEN 'info' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 "
                  "WHEN 'high' THEN 3 WHEN 'critical' THEN 4 END")
_DOCUMENT_COLUMNS = ("id, source, platform, external_id, url, author, title, filename, "
                     "posted_at, fetched_at, edited_at, sha256, size, excerpt, parent, "
                     "forwarded_from, incident_id, content_key, evidence_path, scan_error, "
                     "versions, updated_at")
_HIT_COLUMNS = ("id, document_id, incident_id, rule_id, title, severity, count, excerpt, tags, "
                "fingerprint_set, record_ids, canary")
_SIGHTING_COLUMNS = "id, incident_id, document_id, source, platform, site, url, seen_at"
# Checked at commit: the pipeline writes a document, its hits and its incident in one
# transaction, in that order.
_DEFERRED = "DEFERRABLE INITIALLY DEFERRED"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", (
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            platform TEXT NOT NULL,
            external_id TEXT NOT NULL,
            url TEXT, author TEXT, title TEXT, filename TEXT,
            posted_at TEXT, fetched_at TEXT NOT NULL, edited_at TEXT,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            excerpt TEXT,                 -- redacted; NULL when nothing matched
            parent TEXT,                  -- external id of the carrying message/post
            forwarded_from TEXT,
            incident_id INTEGER,
            content_key TEXT,             -- sha256 of the normalized content (hit documents)
            evidence_path TEXT,           -- gz file under <state>/evidence when kept
            scan_error TEXT,
            versions INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL,
            UNIQUE (source, external_id)
        )""",
        "CREATE INDEX documents_fetched ON documents (fetched_at)",
        "CREATE INDEX documents_incident ON documents (incident_id)",
        """CREATE TABLE hits (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            incident_id INTEGER,
            rule_id TEXT NOT NULL, title TEXT NOT NULL, severity TEXT NOT NULL,
            count INTEGER NOT NULL, excerpt TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            fingerprint_set TEXT,
            record_ids TEXT NOT NULL DEFAULT '[]',
            canary INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX hits_document ON hits (document_id)",
        "CREATE INDEX hits_incident ON hits (incident_id)",
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            dedup_key TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            rule_id TEXT NOT NULL, rule_title TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            snoozed_until TEXT,
            first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
            sightings INTEGER NOT NULL DEFAULT 0,
            record_count INTEGER NOT NULL DEFAULT 0,
            canary INTEGER NOT NULL DEFAULT 0,
            tags TEXT NOT NULL DEFAULT '[]',
            excerpt TEXT NOT NULL DEFAULT '',
            note TEXT,
            notified_severity TEXT,       -- escalation state: highest severity notified
            notified_records INTEGER NOT NULL DEFAULT 0,  -- highest record threshold notified
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX incidents_status ON incidents (status, last_seen)",
        """CREATE TABLE incident_keys (
            content_key TEXT PRIMARY KEY,
            incident_id INTEGER NOT NULL
        )""",
        """CREATE TABLE incident_events (
            incident_id INTEGER NOT NULL,
            event_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            notified INTEGER NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (incident_id, event_key)
        )""",
        """CREATE TABLE incident_log (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            note TEXT
        )""",
        """CREATE TABLE sightings (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL,
            document_id INTEGER NOT NULL,
            source TEXT NOT NULL, platform TEXT NOT NULL, site TEXT NOT NULL,
            url TEXT,
            seen_at TEXT NOT NULL,
            UNIQUE (incident_id, document_id)
        )""",
        "CREATE INDEX sightings_site ON sightings (incident_id, platform, site)",
        """CREATE TABLE incident_records (
            incident_id INTEGER NOT NULL,
            set_name TEXT NOT NULL,
            record_id TEXT NOT NULL,
            canary INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            PRIMARY KEY (incident_id, set_name, record_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX incident_records_record ON incident_records (set_name, record_id)",
        """CREATE TABLE minhashes (
            document_id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL,
            scheme TEXT NOT NULL,
            num_perm INTEGER NOT NULL,
            hashvalues BLOB NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            sink TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            incident_id INTEGER,
            event TEXT NOT NULL,
            notification TEXT NOT NULL,   -- Notification JSON (no plaintext record values)
            status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | dead
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            last_error TEXT,
            detail TEXT,
            UNIQUE (sink, idempotency_key)
        )""",
        "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
        """CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL,
            attempted_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX delivery_attempts_outbox ON delivery_attempts (outbox_id)",
        """CREATE TABLE source_state (
            name TEXT PRIMARY KEY,
            cursor TEXT,
            last_run TEXT, last_success TEXT,
            last_error TEXT, last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            items_last_run INTEGER NOT NULL DEFAULT 0,
            last_item_at TEXT,
            meta TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE suggested_sources (
            link TEXT PRIMARY KEY,
            first_source TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            mentions INTEGER NOT NULL DEFAULT 1
        )""",
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    )),
)

MIGRATIONS += (
    Migration(2, "foreign keys, severity rank, analyst views", (
        *_rebuild("documents", f"""CREATE TABLE documents_v2 (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            platform TEXT NOT NULL,
            external_id TEXT NOT NULL,
            url TEXT, author TEXT, title TEXT, filename TEXT,
            posted_at TEXT, fetched_at TEXT NOT NULL, edited_at TEXT,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            excerpt TEXT,
            parent TEXT,
            forwarded_from TEXT,
            incident_id INTEGER REFERENCES incidents(id) {_DEFERRED},
            content_key TEXT,
            evidence_path TEXT,
            scan_error TEXT,
            versions INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL,
            UNIQUE (source, external_id)
        )""", _DOCUMENT_COLUMNS, (
            "CREATE INDEX documents_fetched ON documents (fetched_at)",
            "CREATE INDEX documents_incident ON documents (incident_id)",
        )),
        *_rebuild("hits", f"""CREATE TABLE hits_v2 (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) {_DEFERRED},
            incident_id INTEGER REFERENCES incidents(id) {_DEFERRED},
            rule_id TEXT NOT NULL, title TEXT NOT NULL, severity TEXT NOT NULL,
            count INTEGER NOT NULL, excerpt TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            fingerprint_set TEXT,
            record_ids TEXT NOT NULL DEFAULT '[]',
            canary INTEGER NOT NULL DEFAULT 0,
            severity_rank INTEGER GENERATED ALWAYS AS ({_SEVERITY_RANK}) VIRTUAL
        )""", _HIT_COLUMNS, (
            "CREATE INDEX hits_document ON hits (document_id)",
            "CREATE INDEX hits_incident ON hits (incident_id)",
        )),
        *_rebuild("sightings", f"""CREATE TABLE sightings_v2 (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id) {_DEFERRED},
            document_id INTEGER NOT NULL REFERENCES documents(id) {_DEFERRED},
            source TEXT NOT NULL, platform TEXT NOT NULL, site TEXT NOT NULL,
            url TEXT,
            seen_at TEXT NOT NULL,
            UNIQUE (incident_id, document_id)
        )""", _SIGHTING_COLUMNS, (
            "CREATE INDEX sightings_site ON sightings (incident_id, platform, site)",
            "CREATE INDEX sightings_document ON sightings (document_id)",
        )),
        # 0 info … 4 critical: ORDER BY / WHERE severity_rank >= 3 in Datasette, sqlite-utils
        f"ALTER TABLE incidents ADD COLUMN severity_rank INTEGER "
        f"GENERATED ALWAYS AS ({_SEVERITY_RANK}) VIRTUAL",
        """CREATE VIEW incident_overview AS
        SELECT i.id, i.title, i.severity, i.severity_rank, i.status, i.rule_id, i.confidence,
               i.first_seen, i.last_seen, i.sightings, i.record_count, i.canary, i.note,
               (SELECT COUNT(DISTINCT s.platform || ':' || s.site) FROM sightings s
                 WHERE s.incident_id = i.id) AS site_count,
               (SELECT group_concat(site, ', ') FROM (
                  SELECT DISTINCT s.platform || ':' || s.site AS site FROM sightings s
                   WHERE s.incident_id = i.id ORDER BY 1)) AS sites,
               (SELECT s.url FROM sightings s WHERE s.incident_id = i.id
                 ORDER BY s.seen_at DESC, s.id DESC LIMIT 1) AS latest_url,
               (SELECT COUNT(*) FROM hits h WHERE h.incident_id = i.id) AS hits
          FROM incidents i""",
        """CREATE VIEW sighting_timeline AS
        SELECT s.seen_at, s.id AS sighting_id, s.incident_id, i.title AS incident_title,
               i.severity, i.severity_rank, i.status, s.source, s.platform, s.site, s.url,
               s.document_id, d.external_id, d.sha256, d.size, d.posted_at, d.fetched_at
          FROM sightings s
          JOIN incidents i ON i.id = s.incident_id
          JOIN documents d ON d.id = s.document_id""",
    ), rebuilds_tables=True),
)

MIGRATIONS += (  # after version 2: its table rebuilds would drop these indexes
    Migration(3, "web console: users, API tokens, sessions, triage actor", (
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,            -- viewer | analyst | admin
            password_hash TEXT,            -- argon2id; NULL for proxy-only accounts
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE api_tokens (
            token_hash TEXT PRIMARY KEY,   -- sha256 of the token; the token itself is not kept
            user_name TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_used_at TEXT
        )""",
        "CREATE INDEX api_tokens_user ON api_tokens (user_name)",
        """CREATE TABLE web_sessions (
            session_hash TEXT PRIMARY KEY, -- sha256 of the cookie value
            user_name TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "ALTER TABLE incident_log ADD COLUMN actor TEXT",
        "CREATE INDEX incident_log_incident ON incident_log (incident_id, id)",
        "CREATE INDEX incidents_last_seen ON incidents (last_seen, id)",
        "CREATE INDEX incidents_sev_last_seen ON incidents (severity, last_seen)",
    )),
)

MIGRATIONS += (
    Migration(5, "near-duplicate index shared by all workers: LSH bands in the store", (
        """CREATE TABLE lsh_bands (
            band_key INTEGER NOT NULL,     -- band number + hash of its values (store/lsh.py)
            document_id INTEGER NOT NULL,  -- minhashes.document_id
            PRIMARY KEY (band_key, document_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX lsh_bands_document ON lsh_bands (document_id)",
    ), fill="fill_lsh_bands", postgres=(
        """CREATE TABLE lsh_bands (
            band_key BIGINT NOT NULL,
            document_id BIGINT NOT NULL,
            PRIMARY KEY (band_key, document_id)
        )""",
        "CREATE INDEX lsh_bands_document ON lsh_bands (document_id)",
    )),
)

LATEST_VERSION = MIGRATIONS[-1].version
