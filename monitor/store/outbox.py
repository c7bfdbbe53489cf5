"""The notification outbox: one row per (notification, sink), delivered by alerting.delivery.

Rows are written in the same transaction as the incident change that caused them, so a crash
can never lose an alert; `UNIQUE(sink, idempotency_key)` makes re-enqueueing the same event a
no-op. Every attempt (ok or not) is kept in `delivery_attempts`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from monitor.models import Notification, OutboxItem, utcnow
from monitor.store._mixin import StoreMixin
from monitor.store._util import dumps, iso, parse_iso

OUTBOX_STATUSES = ("pending", "sent", "dead")
# How long a worker's claim on outbox rows lasts (several workers): long enough for a slow
# sink's retries, and cut short anyway when the claiming worker dies (its heartbeat expires).
OUTBOX_LEASE = 600.0


class OutboxMixin(StoreMixin):
    def enqueue(self, notification: Notification, sinks: Iterable[Any],
                *, now: datetime | None = None) -> int:
        """Queue `notification` for each sink (objects with `.name`, or names); returns rows added."""
        names = [sink if isinstance(sink, str) else sink.name for sink in sinks]
        if not names:  # no sink takes it: no row, and no body to build (asdict + JSON)
            return 0
        now_s = iso(now or utcnow())
        body = dumps(notification.to_dict())
        added = 0
        with self.transaction():
            for name in names:
                cur = self.db.execute(
                    "INSERT INTO outbox (sink, idempotency_key, incident_id, event, "
                    "notification, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?) "
                    "ON CONFLICT (sink, idempotency_key) DO NOTHING",
                    (name, notification.idempotency_key, notification.incident_id,
                     notification.event, body, now_s, now_s))
                added += cur.rowcount
        return added

    def outbox_due(self, now: datetime | None = None, limit: int = 100,
                   *, sink: str | None = None, worker: str | None = None,
                   lease: float = OUTBOX_LEASE) -> list[OutboxItem]:
        """Pending rows whose next attempt time has come, oldest first.

        With `worker` (several workers on one store), the rows are also claimed for `lease`
        seconds in the same statement, skipping rows another live worker claimed: two workers
        never hand one row to a sink. A claim of a worker that stopped or whose heartbeat
        expired is free at once; `outbox_sent` / `outbox_failed` end the claim.
        """
        now_s = iso(now or utcnow())
        where = "status = 'pending' AND next_attempt_at <= ?"
        params: list[Any] = [now_s]
        if sink is not None:
            where += " AND sink = ?"
            params.append(sink)
        order = " ORDER BY next_attempt_at, id LIMIT ?"
        if worker is None:
            rows = self.query(f"SELECT * FROM outbox WHERE {where}{order}", (*params, limit))
            return [_item(r) for r in rows]
        where += (" AND (leased_by IS NULL OR leased_by = ? OR lease_until < ? OR NOT EXISTS "
                  "(SELECT 1 FROM workers w WHERE w.id = outbox.leased_by "
                  "AND w.stopped_at IS NULL AND w.expires_at >= ?))")
        params += [worker, now_s, now_s]
        skip = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        until = iso(parse_iso(now_s) + timedelta(seconds=lease))
        with self.transaction():
            rows = self.query(
                f"UPDATE outbox SET leased_by = ?, lease_until = ? WHERE id IN "
                f"(SELECT id FROM outbox WHERE {where}{order}{skip}) RETURNING *",
                (worker, until, *params, limit))
        rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
        return [_item(r) for r in rows]

    def outbox_sent(self, id: int, detail: str = "", *, now: datetime | None = None) -> None:
        now_s = iso(now or utcnow())
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, detail = ?, "
                "attempts = attempts + 1, leased_by = NULL, lease_until = NULL WHERE id = ?", (now_s, detail[:2000], id))
            self.db.execute(
                "INSERT INTO delivery_attempts (outbox_id, attempted_at, ok, detail) "
                "VALUES (?,?,1,?)", (id, now_s, detail[:2000]))

    def outbox_failed(self, id: int, error: str, next_attempt_at: datetime | None,
                      *, now: datetime | None = None) -> None:
        """Record a failed attempt; `next_attempt_at=None` gives up (status `dead`)."""
        now_s = iso(now or utcnow())
        with self.transaction():
            if next_attempt_at is None:
                self.db.execute(
                    "UPDATE outbox SET status = 'dead', last_error = ?, attempts = attempts + 1, "
                    "leased_by = NULL, lease_until = NULL WHERE id = ?", (error[:2000], id))
            else:
                self.db.execute(
                    "UPDATE outbox SET last_error = ?, attempts = attempts + 1, "
                    "next_attempt_at = ?, leased_by = NULL, lease_until = NULL WHERE id = ?", (error[:2000], iso(next_attempt_at), id))
            self.db.execute(
                "INSERT INTO delivery_attempts (outbox_id, attempted_at, ok, detail) "
                "VALUES (?,?,0,?)", (id, now_s, error[:2000]))

    def outbox_retry_dead(self, id: int, *, now: datetime | None = None) -> bool:
        """Put a dead notification back in the queue, due now; False when it is not dead."""
        with self.transaction():
            return bool(self.db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE id = ? AND status = 'dead'", (iso(now or utcnow()), id)).rowcount)

    def outbox_backlog(self) -> dict[str, int]:
        """Pending rows per sink."""
        rows = self.query(
            "SELECT sink, COUNT(*) AS n FROM outbox WHERE status = 'pending' GROUP BY sink")
        return {r["sink"]: r["n"] for r in rows}

    def outbox_rows(self, *, status: str | None = None,
                    incident_id: int | None = None) -> list[dict[str, Any]]:
        """Raw outbox rows (notification decoded) for status views and tests."""
        sql, params = "SELECT * FROM outbox WHERE 1=1", list[object]()
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if incident_id is not None:
            sql += " AND incident_id = ?"
            params.append(incident_id)
        rows = self.query(sql + " ORDER BY id", tuple(params))
        for r in rows:
            r["notification"] = json.loads(r["notification"])
        return rows

    def delivery_attempts(self, outbox_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY id",
                          (outbox_id,))


def _item(row: dict[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=row["id"], sink=row["sink"],
        notification=Notification.from_dict(json.loads(row["notification"])),
        attempts=row["attempts"], next_attempt_at=parse_iso(row["next_attempt_at"]),
        created_at=parse_iso(row["created_at"]),
    )
