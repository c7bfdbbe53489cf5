"""Incident list queries for the console: filters, search, sort and paging in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.models import SEVERITIES, severity_rank
from monitor.store import Incident, Store
from monitor.store._util import iso
from monitor.store.incidents import _incident

SORTS = {"last_seen": "last_seen DESC, id DESC", "first_seen": "first_seen DESC, id DESC",
         "severity": "CASE severity " + " ".join(
             f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES)) + " END DESC, "
                     "last_seen DESC, id DESC",
         "records": "record_count DESC, id DESC", "id": "id DESC"}


@dataclass(slots=True)
class IncidentFilter:
    status: str | None = None
    min_severity: str | None = None
    rule: str | None = None
    site: str | None = None          # "platform:site" or a bare site
    platform: str | None = None
    canary: bool | None = None
    q: str | None = None             # substring of the title
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "last_seen"
    page: int = 1
    per_page: int = 50


def _where(f: IncidentFilter) -> tuple[str, list[Any]]:
    sql, params = ["1=1"], list[object]()
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
        sql.append("title LIKE ? ESCAPE '\\'")
        params.append("%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                      + "%")
    if f.since:
        sql.append("last_seen >= ?")
        params.append(iso(f.since))
    if f.until:
        sql.append("last_seen <= ?")
        params.append(iso(f.until))
    if f.site or f.platform:
        sub, sp = "SELECT incident_id FROM sightings WHERE 1=1", []
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


def search_incidents(store: Store, f: IncidentFilter) -> tuple[list[Incident], int]:
    """One page of incidents matching `f`, and how many match in all."""
    where, params = _where(f)
    total = store.db.execute(f"SELECT COUNT(*) FROM incidents WHERE {where}", params).fetchone()[0]
    order = SORTS.get(f.sort, SORTS["last_seen"])
    rows = store.query(f"SELECT * FROM incidents WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                       (*params, f.per_page, (max(f.page, 1) - 1) * f.per_page))
    return [_incident(r) for r in rows], total
