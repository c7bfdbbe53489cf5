"""The read queries triage and the console need: a filtered page of incidents, snoozes that
have run out, documents per source and day, the outbox by delivery state.

They live in the store so that no other layer writes SQL against `store.db`: the SQL here is
portable (`?` placeholders, no SQLite-only functions), so a second backend runs it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from monitor.models import SEVERITIES, iso, severity_rank
from monitor.store.incidents import Incident, _incident

# Sort orders of the incident list, by the name the console and API accept.
INCIDENT_SORTS: dict[str, str] = {
    "last_seen": "last_seen DESC, id DESC",
    "first_seen": "first_seen DESC, id DESC",
    "severity": "CASE severity " + " ".join(
        f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES)) + " END DESC, "
                "last_seen DESC, id DESC",
    "records": "record_count DESC, id DESC",
    "id": "id DESC",
}

DEAD_ROWS_SHOWN = 200


@dataclass(slots=True)
class IncidentFilter:
    """Which incidents a list shows, in which order, which page."""

    status: str | None = None
    min_severity: str | None = None
    rule: str | None = None
    site: str | None = None          # "platform:site" or a bare site
    platform: str | None = None
    canary: bool | None = None
    q: str | None = None             # substring of the title (ASCII case ignored)
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "last_seen"
    page: int = 1
    per_page: int = 50


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(f: IncidentFilter) -> tuple[str, list[Any]]:
    sql: list[str] = ["1=1"]
    params: list[Any] = []
    if f.status:
        sql.append("status = ?")
        params.append(f.status)
    if f.min_severity:
        allowed = SEVERITIES[severity_rank(f.min_severity):]
        sql.append(f"severity IN ({','.join('?' * len(allowed))})")
        params.extend(allowed)
    if f.rule:
        sql.append("rule_id = ?")
        params.append(f.rule)
    if f.canary is not None:
        sql.append("canary = ?")
        params.append(int(f.canary))
    if f.q:
        # LOWER on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not
        sql.append("LOWER(title) LIKE LOWER(?) ESCAPE '\\'")
        params.append(f"%{_like_escape(f.q)}%")
    if f.since:
        sql.append("last_seen >= ?")
        params.append(iso(f.since))
    if f.until:
        sql.append("last_seen <= ?")
        params.append(iso(f.until))
    if f.site or f.platform:
        sub = "SELECT incident_id FROM sightings WHERE 1=1"
        sp: list[Any] = []
        if f.platform:
            sub += " AND platform = ?"
            sp.append(f.platform)
        if f.site:
            platform, _, site = f.site.rpartition(":")
            sub += " AND site = ?" + (" AND platform = ?" if platform else "")
            sp += [site, platform] if platform else [site]
        sql.append(f"id IN ({sub})")
        params.extend(sp)
    return " AND ".join(sql), params


class QueriesMixin:
    if TYPE_CHECKING:  # provided by monitor.store.db.Store
        def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
                  ) -> list[dict[str, Any]]: ...

    def search_incidents(self, f: IncidentFilter) -> tuple[list[Incident], int]:
        """One page of incidents matching `f`, and how many match in all."""
        where, params = _where(f)
        total = self.query(f"SELECT COUNT(*) AS n FROM incidents WHERE {where}",
                           tuple(params))[0]["n"]
        order = INCIDENT_SORTS.get(f.sort, INCIDENT_SORTS["last_seen"])
        rows = self.query(
            f"SELECT * FROM incidents WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, f.per_page, (max(f.page, 1) - 1) * f.per_page))
        return [_incident(r) for r in rows], total

    def expired_snoozes(self, now: datetime) -> list[int]:
        """Ids of snoozed incidents whose snooze time is not after `now`."""
        rows = self.query("SELECT id FROM incidents WHERE status = 'snoozed' "
                          "AND snoozed_until <= ? ORDER BY id", (iso(now),))
        return [r["id"] for r in rows]

    def documents_per_day(self, since: date) -> dict[tuple[str, date], int]:
        """Documents stored per (source, UTC day of `fetched_at`) from day `since` on."""
        rows = self.query(
            "SELECT source, SUBSTR(fetched_at, 1, 10) AS day, COUNT(*) AS n FROM documents "
            "WHERE fetched_at >= ? GROUP BY source, SUBSTR(fetched_at, 1, 10)",
            (since.isoformat(),))
        out: dict[tuple[str, date], int] = {}
        for r in rows:
            try:
                out[(r["source"], date.fromisoformat(r["day"]))] = r["n"]
            except (TypeError, ValueError):
                continue
        return out

    def outbox_states(self) -> dict[str, dict[str, int]]:
        """Per sink, rows not sent yet: `pending` (never tried), `failed` (tried, retrying)
        and `dead` (given up)."""
        rows = self.query(
            "SELECT sink, CASE WHEN status = 'pending' AND attempts > 0 THEN 'failed' "
            "ELSE status END AS state, COUNT(*) AS n FROM outbox WHERE status != 'sent' "
            "GROUP BY sink, CASE WHEN status = 'pending' AND attempts > 0 THEN 'failed' "
            "ELSE status END")
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["sink"], {"pending": 0, "failed": 0, "dead": 0})[r["state"]] = r["n"]
        return out

    def dead_outbox(self, limit: int = DEAD_ROWS_SHOWN) -> list[dict[str, Any]]:
        """The newest dead outbox rows (no notification body: the console lists them)."""
        return self.query("SELECT id, sink, incident_id, event, attempts, last_error, "
                          "created_at FROM outbox WHERE status = 'dead' ORDER BY id DESC "
                          "LIMIT ?", (limit,))
