"""Workers and leases: several `leakmon run` processes sharing one store.

Each worker registers a row in `workers` and renews its heartbeat; each source is run by the
one worker holding its row in `source_leases` until `expires_at`. A worker that dies stops
renewing, its leases expire, and any live worker may take them over (resuming from the cursor
committed with the last batch). The lease is checked again inside every batch transaction
(`check_source_lease`), so a worker that stalled past its expiry can never commit a cursor over
the one who took the source. Outbox rows are claimed the same way (`leased_by`, `lease_until`
in monitor/store/outbox.py) so two workers never deliver one row.

Portable SQL (SQLite and PostgreSQL, docs/internals.md): the only difference is PostgreSQL's
`FOR UPDATE [SKIP LOCKED]`; SQLite gets the same serialization from `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.errors import StoreError
from monitor.models import utcnow
from monitor.store._mixin import StoreMixin
from monitor.store._util import iso, parse_iso


class LeaseLost(StoreError):
    """This worker no longer holds the source's lease: the batch must not commit."""


@dataclass(slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    labels: list[str]
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    stopped_at: datetime | None
    leases: list[str] = field(default_factory=list)  # sources it holds (expired ones included)

    def alive(self, now: datetime | None = None) -> bool:
        return self.stopped_at is None and self.expires_at >= (now or utcnow())


@dataclass(frozen=True, slots=True)
class SourceLease:
    source: str
    worker: str | None
    expires_at: datetime | None
    acquired_at: datetime | None

    def live(self, now: datetime | None = None) -> bool:
        return (self.worker is not None and self.expires_at is not None
                and self.expires_at >= (now or utcnow()))


class WorkersMixin(StoreMixin):
    # -- workers -------------------------------------------------------------------------------

    def register_worker(self, worker_id: str, *, host: str, pid: int, labels: Iterable[str] = (),
                        ttl: float, now: datetime | None = None) -> None:
        """Add (or revive, on a restart with the same id) this worker's row."""
        now = now or utcnow()
        now_s, until = iso(now), iso(now + timedelta(seconds=ttl))
        with self.transaction():
            self.db.execute(
                "INSERT INTO workers (id, host, pid, labels, started_at, heartbeat_at, "
                "expires_at, stopped_at) VALUES (?,?,?,?,?,?,?,NULL) ON CONFLICT (id) DO UPDATE "
                "SET host = excluded.host, pid = excluded.pid, labels = excluded.labels, "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "expires_at = excluded.expires_at, stopped_at = NULL",
                (worker_id, host, pid, json.dumps(sorted(set(labels))), now_s, now_s, until))

    def stop_worker(self, worker_id: str, *, now: datetime | None = None) -> int:
        """Clean stop: mark the worker stopped and free its source and outbox leases at once,
        so another worker takes over without waiting for the expiry. Returns leases freed."""
        now_s = iso(now or utcnow())
        with self.transaction():
            self.db.execute("UPDATE workers SET stopped_at = ?, expires_at = ? WHERE id = ?",
                            (now_s, now_s, worker_id))
            freed = self._free_sources(worker_id, None)
            self.db.execute(
                "UPDATE outbox SET leased_by = NULL, lease_until = NULL WHERE leased_by = ?",
                (worker_id,))
        return freed

    def list_workers(self, *, include_stopped: bool = True) -> list[WorkerInfo]:
        """Every worker ever registered (newest first) with the sources it holds."""
        held: dict[str, list[str]] = {}
        for source, worker in self._fetchall(
                "SELECT source, worker FROM source_leases WHERE worker IS NOT NULL "
                "ORDER BY source"):
            held.setdefault(worker, []).append(source)
        sql = "SELECT * FROM workers"
        if not include_stopped:
            sql += " WHERE stopped_at IS NULL"
        out = []
        for r in self.query(sql + " ORDER BY started_at DESC, id"):
            out.append(WorkerInfo(
                id=r["id"], host=r["host"], pid=int(r["pid"]), labels=json.loads(r["labels"]),
                started_at=parse_iso(r["started_at"]), heartbeat_at=parse_iso(r["heartbeat_at"]),
                expires_at=parse_iso(r["expires_at"]), stopped_at=parse_iso(r["stopped_at"]),
                leases=held.get(r["id"], [])))
        return out

    def live_worker_count(self, *, now: datetime | None = None) -> int:
        row = self._fetchone(
            "SELECT COUNT(*) FROM workers WHERE stopped_at IS NULL AND expires_at >= ?",
            (iso(now or utcnow()),))
        return int(row[0]) if row else 0

    # -- source leases -------------------------------------------------------------------------

    def acquire_source_leases(self, worker_id: str, candidates: Iterable[str], limit: int, *,
                              ttl: float, now: datetime | None = None) -> list[str]:
        """Take up to `limit` of `candidates` that are free or whose lease expired; returns the
        sources newly leased to `worker_id` (those it already holds are not counted)."""
        names = sorted(set(candidates))
        if not names or limit <= 0:
            return []
        now = now or utcnow()
        now_s, until = iso(now), iso(now + timedelta(seconds=ttl))
        marks = ",".join("?" * len(names))
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self.transaction():
            for n in names:
                self.db.execute("INSERT INTO source_leases (source) VALUES (?) "
                                "ON CONFLICT (source) DO NOTHING", (n,))
            rows = self.db.execute(
                f"SELECT source FROM source_leases WHERE source IN ({marks}) AND "
                "(worker IS NULL OR (worker != ? AND expires_at < ?)) "
                f"ORDER BY source LIMIT ?{lock}", (*names, worker_id, now_s, limit)).fetchall()
            taken = [r[0] for r in rows]
            for source in taken:
                self.db.execute(
                    "UPDATE source_leases SET worker = ?, expires_at = ?, acquired_at = ? "
                    "WHERE source = ?", (worker_id, until, now_s, source))
        return taken

    def renew_leases(self, worker_id: str, *, ttl: float,
                     now: datetime | None = None) -> list[str]:
        """Heartbeat and push back the expiry of every source lease still held; returns those
        sources (a lease another worker took after it expired is not ours any more)."""
        now = now or utcnow()
        now_s, until = iso(now), iso(now + timedelta(seconds=ttl))
        with self.transaction():
            self.db.execute(
                "UPDATE workers SET heartbeat_at = ?, expires_at = ?, stopped_at = NULL "
                "WHERE id = ?", (now_s, until, worker_id))
            self.db.execute("UPDATE source_leases SET expires_at = ? WHERE worker = ?",
                            (until, worker_id))
            rows = self.db.execute(
                "SELECT source FROM source_leases WHERE worker = ? ORDER BY source",
                (worker_id,)).fetchall()
        return [r[0] for r in rows]

    def release_source_leases(self, worker_id: str, sources: Iterable[str] | None = None) -> int:
        """Free this worker's leases on `sources` (all when None); returns how many."""
        with self.transaction():
            return self._free_sources(worker_id, None if sources is None else list(sources))

    def _free_sources(self, worker_id: str, sources: list[str] | None) -> int:
        sql = ("UPDATE source_leases SET worker = NULL, expires_at = NULL, acquired_at = NULL "
               "WHERE worker = ?")
        if sources is None:
            return self.db.execute(sql, (worker_id,)).rowcount
        if not sources:
            return 0
        marks = ",".join("?" * len(sources))
        return self.db.execute(f"{sql} AND source IN ({marks})", (worker_id, *sources)).rowcount

    def check_source_lease(self, source: str, worker_id: str) -> None:
        """Raise LeaseLost unless `worker_id` holds `source`. Call it INSIDE the batch's
        transaction: the lease row stays locked (PostgreSQL: FOR UPDATE; SQLite: the write lock
        of BEGIN IMMEDIATE) until commit, so no takeover can slip in between check and commit.
        A lease past its expiry that nobody took yet still counts: nobody else can have read
        the cursor."""
        if not self.in_transaction:
            raise StoreError("check_source_lease must run inside the batch transaction")
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        row = self.db.execute(f"SELECT worker FROM source_leases WHERE source = ?{lock}",
                              (source,)).fetchone()
        holder = row[0] if row else None
        if holder != worker_id:
            raise LeaseLost(f"source {source!r}: lease lost to "
                            f"{holder or 'nobody'}; batch not committed")

    def source_leases(self) -> dict[str, SourceLease]:
        return {r["source"]: SourceLease(r["source"], r["worker"], parse_iso(r["expires_at"]),
                                         parse_iso(r["acquired_at"]))
                for r in self.query("SELECT * FROM source_leases ORDER BY source")}

