"""Incidents and what hangs off them: content keys, sightings, matched record ids, escalation
events, triage log and MinHash signatures for near-duplicate detection.

Policy (what counts as the same incident, when to notify) lives in monitor.alerting; this
module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from monitor.errors import StoreError
from monitor.models import utcnow
from monitor.store._mixin import StoreMixin
from monitor.store._util import dumps, iso, loads, parse_iso
from monitor.store.lsh import band_keys

_CHUNK = 500  # SQLite host-parameter batches
MAX_INCIDENT_LOCKS = 1000  # advisory locks per transaction before one global lock instead
GLOBAL_INCIDENT_LOCK = int.from_bytes(b"leakmon!", "little", signed=True)


@dataclass(slots=True)
class Incident:
    id: int
    dedup_key: str
    title: str
    rule_id: str
    rule_title: str
    severity: str
    confidence: float
    status: str
    snoozed_until: datetime | None
    first_seen: datetime
    last_seen: datetime
    sightings: int
    record_count: int
    canary: bool
    tags: list[str] = field(default_factory=list)
    excerpt: str = ""
    note: str | None = None
    notified_severity: str | None = None
    notified_records: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "dedup_key": self.dedup_key, "title": self.title,
            "rule": self.rule_id, "rule_title": self.rule_title, "severity": self.severity,
            "confidence": self.confidence, "status": self.status,
            "snoozed_until": iso(self.snoozed_until), "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen), "sightings": self.sightings,
            "record_count": self.record_count, "canary": self.canary, "tags": self.tags,
            "excerpt": self.excerpt, "note": self.note,
        }


@dataclass(slots=True)
class StoredMinHash:
    document_id: int
    incident_id: int
    scheme: str
    hashvalues: np.ndarray


class IncidentsMixin(StoreMixin):
    # -- incidents -----------------------------------------------------------------------------

    def create_incident(self, **values: Any) -> int:
        """The id of the incident with `dedup_key`, created if needed (see open_incident)."""
        return self.open_incident(**values)[0]

    def open_incident(self, *, dedup_key: str, title: str, rule_id: str, rule_title: str,
                      severity: str, confidence: float, seen_at: datetime, canary: bool,
                      tags: list[str], excerpt: str, status: str = "new") -> tuple[int, bool]:
        """Insert-or-get on the unique dedup key: (id, True) in the transaction that created
        the incident, (the winner's id, False) when another worker's insert came first; only
        the creator may announce it as new."""
        now_s = iso(utcnow())
        with self.transaction():
            row = self._fetchone(
                "INSERT INTO incidents (dedup_key, title, rule_id, rule_title, severity, "
                "confidence, status, first_seen, last_seen, canary, tags, excerpt, "
                "notified_severity, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                (dedup_key, title, rule_id, rule_title, severity, confidence, status,
                 iso(seen_at), iso(seen_at), int(canary), dumps(tags), excerpt, severity, now_s))
            if row is not None:
                return row[0], True
            winner = self._fetchone("SELECT id FROM incidents WHERE dedup_key = ?", (dedup_key,))
            if winner is None:  # only if the database was edited underneath us
                raise StoreError(f"incident {dedup_key}: the insert conflicted, yet no such row")
            return winner[0], False

    def lock_incident_keys(self, keys: Iterable[int]) -> None:
        """Serialize "find or create the incident" between workers for these keys (see
        monitor.alerting.dedup.lock_keys) until the transaction ends.

        PostgreSQL: transaction-level advisory locks, taken in sorted order so two batches
        never wait on each other in a cycle; every holder also shares one global key, which a
        batch with more than MAX_INCIDENT_LOCKS keys takes alone and exclusively instead (the
        server's lock table is finite). SQLite: BEGIN IMMEDIATE already serializes writers;
        what matters is that the lookup runs inside the write transaction, checked here (and
        `keys`, which may be lazy, is not even read)."""
        if not self.in_transaction:
            raise StoreError("incident lookups must run inside the batch's write transaction")
        if self.dialect != "postgresql":
            return
        ordered = sorted(set(keys))
        if len(ordered) > MAX_INCIDENT_LOCKS:
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (GLOBAL_INCIDENT_LOCK,))
            return
        self.db.execute("SELECT pg_advisory_xact_lock_shared(?)", (GLOBAL_INCIDENT_LOCK,))
        if ordered:
            self.db.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(? AS BIGINT[])) "
                            "AS t(k)", (ordered,))

    def get_incident(self, incident_id: int) -> Incident | None:
        rows = self.query("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return _incident(rows[0]) if rows else None

    def get_incident_by_key(self, dedup_key: str) -> Incident | None:
        rows = self.query("SELECT * FROM incidents WHERE dedup_key = ?", (dedup_key,))
        return _incident(rows[0]) if rows else None

    _UPDATABLE = frozenset({
        "title", "rule_id", "rule_title", "severity", "confidence", "status", "snoozed_until",
        "last_seen", "canary", "tags", "excerpt", "note", "notified_severity",
        "notified_records", "record_count",
    })

    def update_incident(self, incident_id: int, **values: Any) -> None:
        unknown = set(values) - self._UPDATABLE
        if unknown:
            raise ValueError(f"update_incident: unknown column(s) {sorted(unknown)}")
        conv = {k: (iso(v) if isinstance(v, datetime) else dumps(v) if isinstance(v, list)
                    else int(v) if isinstance(v, bool) else v) for k, v in values.items()}
        conv["updated_at"] = iso(utcnow())
        sets = ", ".join(f"{k} = ?" for k in conv)
        with self.transaction():
            self.db.execute(f"UPDATE incidents SET {sets} WHERE id = ?",
                            (*conv.values(), incident_id))

    def list_incidents(self, *, status: str | None = None, min_severity: str | None = None,
                       since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        from monitor.models import SEVERITIES, severity_rank

        sql, params = "SELECT * FROM incidents WHERE 1=1", list[object]()
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if min_severity is not None:
            allowed = SEVERITIES[severity_rank(min_severity):]
            sql += f" AND severity IN ({','.join('?' * len(allowed))})"
            params.extend(allowed)
        if since is not None:
            sql += " AND last_seen >= ?"
            params.append(iso(since))
        sql += " ORDER BY last_seen DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_incident(r) for r in self.query(sql, tuple(params))]

    def incident_counts(self) -> dict[str, int]:
        """Incidents per triage status (for `leakmon status`)."""
        return {r["status"]: r["n"] for r in self.query(
            "SELECT status, COUNT(*) AS n FROM incidents GROUP BY status")}

    def log_incident(self, incident_id: int, action: str, note: str | None = None,
                     *, now: datetime | None = None, actor: str | None = None) -> None:
        """Append to the triage log; `actor` says who acted (None: the system itself)."""
        with self.transaction():
            self.db.execute("INSERT INTO incident_log (incident_id, at, action, note, actor) "
                            "VALUES (?,?,?,?,?)",
                            (incident_id, iso(now or utcnow()), action, note, actor))

    def incident_log(self, incident_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT at, action, note, actor FROM incident_log "
                          "WHERE incident_id = ? ORDER BY id", (incident_id,))

    # -- content keys --------------------------------------------------------------------------

    def incident_for_content_key(self, content_key: str) -> int | None:
        row = self._fetchone("SELECT incident_id FROM incident_keys WHERE content_key = ?",
                             (content_key,))
        return row[0] if row else None

    def add_content_key(self, content_key: str, incident_id: int) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO incident_keys (content_key, incident_id) "
                            "VALUES (?,?) ON CONFLICT (content_key) DO NOTHING",
                            (content_key, incident_id))

    # -- sightings -----------------------------------------------------------------------------

    def add_sighting(self, incident_id: int, document_id: int, *, source: str, platform: str,
                     site: str, url: str | None, seen_at: datetime) -> bool:
        """Record that the incident was seen in this document; False if already recorded.

        `first_seen` moves back too: a collector may hand over the newer re-post before the
        older original (t.me/s backfills read newest page first), and the incident must still
        say when the leak first appeared."""
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO sightings (incident_id, document_id, source, platform, "
                "site, url, seen_at) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (incident_id, document_id) DO NOTHING",
                (incident_id, document_id, source, platform, site, url, iso(seen_at)))
            if cur.rowcount:
                self.db.execute(
                    "UPDATE incidents SET sightings = sightings + 1, "
                    "last_seen = CASE WHEN last_seen > ? THEN last_seen ELSE ? END, "
                    "first_seen = CASE WHEN first_seen < ? THEN first_seen ELSE ? END "
                    "WHERE id = ?", (*(iso(seen_at),) * 4, incident_id))
            return bool(cur.rowcount)

    def incident_sites(self, incident_id: int) -> set[tuple[str, str]]:
        rows = self._fetchall("SELECT DISTINCT platform, site FROM sightings "
                              "WHERE incident_id = ?", (incident_id,))
        return {(p, s) for p, s in rows}

    def sightings_for(self, incident_id: int) -> list[dict[str, Any]]:
        return self.query(
            "SELECT s.*, d.external_id, d.title AS document_title, d.excerpt, d.sha256, d.size "
            "FROM sightings s JOIN documents d ON d.id = s.document_id "
            "WHERE s.incident_id = ? ORDER BY s.seen_at, s.id", (incident_id,))

    # -- matched records -----------------------------------------------------------------------

    def add_incident_records(self, incident_id: int, set_name: str,
                             records: Iterable[tuple[str, bool]],
                             *, now: datetime | None = None) -> int:
        """Add (record_id, canary) pairs; returns the incident's distinct record count after."""
        now_s = iso(now or utcnow())
        with self.transaction():
            self._lock_row("incidents", incident_id)  # the count below must see every insert
            self._executemany(
                "INSERT INTO incident_records (incident_id, set_name, record_id, canary, "
                "first_seen) VALUES (?,?,?,?,?) "
                "ON CONFLICT (incident_id, set_name, record_id) DO UPDATE SET canary = "
                "CASE WHEN excluded.canary > incident_records.canary THEN excluded.canary "
                "ELSE incident_records.canary END",
                [(incident_id, set_name, rid, int(c), now_s) for rid, c in records])
            count = self.db.execute("SELECT COUNT(*) FROM incident_records WHERE incident_id = ?",
                                    (incident_id,)).fetchone()[0]
            self.db.execute("UPDATE incidents SET record_count = ? WHERE id = ?",
                            (count, incident_id))
        return count

    def incident_record_ids(self, incident_id: int, limit: int | None = None) -> list[str]:
        sql = ("SELECT record_id FROM incident_records WHERE incident_id = ? "
               "ORDER BY first_seen, record_id")
        params: tuple = (incident_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (incident_id, limit)
        return [r[0] for r in self._fetchall(sql, params)]

    def incident_records_detail(self, incident_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT set_name, record_id, canary, first_seen FROM incident_records "
                          "WHERE incident_id = ? ORDER BY set_name, record_id", (incident_id,))

    def record_overlap(self, set_name: str, record_ids: Iterable[str]) -> dict[int, int]:
        """For incidents sharing records of `set_name` with `record_ids`: {incident: shared}."""
        ids = list(dict.fromkeys(record_ids))
        shared: dict[int, int] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            rows = self._fetchall(
                "SELECT incident_id, COUNT(*) FROM incident_records WHERE set_name = ? AND "
                f"record_id IN ({','.join('?' * len(chunk))}) GROUP BY incident_id",
                (set_name, *chunk))
            for inc, n in rows:
                shared[inc] = shared.get(inc, 0) + n
        return shared

    # -- escalation events ---------------------------------------------------------------------

    def claim_event(self, incident_id: int, event_key: str, *, notified: bool, reason: str,
                    now: datetime | None = None) -> bool:
        """Record an escalation event once; False when it was already recorded."""
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO incident_events (incident_id, event_key, created_at, "
                "notified, reason) VALUES (?,?,?,?,?) "
                "ON CONFLICT (incident_id, event_key) DO NOTHING",
                (incident_id, event_key, iso(now or utcnow()), int(notified), reason))
            return bool(cur.rowcount)

    def incident_events(self, incident_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT event_key, created_at, notified, reason FROM incident_events "
                          "WHERE incident_id = ? ORDER BY created_at, event_key", (incident_id,))

    # -- MinHash signatures --------------------------------------------------------------------

    def save_minhash(self, document_id: int, incident_id: int, scheme: str,
                     hashvalues: np.ndarray, *, bands: Sequence[int] | None = None) -> None:
        """Store a signature and its LSH bands (monitor.store.lsh; `bands` when the caller
        has them already) in one transaction, so every worker's near-duplicate lookup sees
        it from the commit on."""
        hv = np.asarray(hashvalues)
        if bands is None:
            bands = band_keys(hv)
        with self.transaction():
            self.db.execute(
                "INSERT INTO minhashes (document_id, incident_id, scheme, num_perm, hashvalues, "
                "created_at) VALUES (?,?,?,?,?,?) ON CONFLICT(document_id) DO UPDATE SET "
                "incident_id = excluded.incident_id, scheme = excluded.scheme, "
                "num_perm = excluded.num_perm, hashvalues = excluded.hashvalues",
                (document_id, incident_id, f"{scheme}:{hv.dtype.str}", len(hv), hv.tobytes(),
                 iso(utcnow())))
            self.db.execute("DELETE FROM lsh_bands WHERE document_id = ?", (document_id,))
            self._executemany(
                "INSERT INTO lsh_bands (band_key, document_id) VALUES (?,?) "
                "ON CONFLICT (band_key, document_id) DO NOTHING", [(k, document_id) for k in bands])

    def minhash_candidates(self, keys: Sequence[int]) -> list[StoredMinHash]:
        """Stored signatures sharing at least one of the LSH band `keys` (indexed lookups:
        the cost does not grow with the number of stored signatures), by document id."""
        if not keys:
            return []
        rows = self._fetchall(
            "SELECT document_id, incident_id, scheme, hashvalues FROM minhashes "
            "WHERE document_id IN (SELECT document_id FROM lsh_bands "
            f"WHERE band_key IN ({','.join('?' * len(keys))})) ORDER BY document_id",
            tuple(keys))
        return [_minhash(*row) for row in rows]

    def count_minhashes(self) -> int:
        row = self._fetchone("SELECT COUNT(*) FROM minhashes")
        return row[0] if row else 0

    def fill_lsh_bands(self) -> None:
        """Migration v5: band every signature stored before the shared index existed (in
        pages, so a store with millions of signatures is not read into memory at once)."""
        last = -1
        while True:
            page = self._fetchall(
                "SELECT document_id, incident_id, scheme, hashvalues FROM minhashes "
                "WHERE document_id > ? ORDER BY document_id LIMIT 2000", (last,))
            if not page:
                return
            self._executemany(
                "INSERT INTO lsh_bands (band_key, document_id) VALUES (?,?) "
                "ON CONFLICT (band_key, document_id) DO NOTHING",
                [(k, m.document_id) for m in (_minhash(*r) for r in page)
                 for k in band_keys(m.hashvalues)])
            last = page[-1][0]


def _minhash(doc_id: int, inc_id: int, scheme: str, blob: bytes) -> StoredMinHash:
    name, _, dtype = scheme.partition(":")
    return StoredMinHash(doc_id, inc_id, name, np.frombuffer(blob, dtype=dtype).copy())


def _incident(row: dict[str, Any]) -> Incident:
    return Incident(
        id=row["id"], dedup_key=row["dedup_key"], title=row["title"], rule_id=row["rule_id"],
        rule_title=row["rule_title"], severity=row["severity"], confidence=row["confidence"],
        status=row["status"], snoozed_until=parse_iso(row["snoozed_until"]),
        first_seen=parse_iso(row["first_seen"]), last_seen=parse_iso(row["last_seen"]),
        sightings=row["sightings"], record_count=row["record_count"], canary=bool(row["canary"]),
        tags=loads(row["tags"], []), excerpt=row["excerpt"], note=row["note"],
        notified_severity=row["notified_severity"], notified_records=row["notified_records"],
    )
