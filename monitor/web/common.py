"""Helpers shared by the pages and the API: filters from a query string, triage, redaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from monitor.alerting import triage
from monitor.alerting.export import incident_details
from monitor.config import parse_duration
from monitor.errors import ConfigError, LeakmonError
from monitor.models import SEVERITIES
from monitor.store import INCIDENT_SORTS, IncidentFilter, Store

ACTIONS = {"ack": "acknowledged", "resolve": "resolved", "false-positive": "false_positive",
           "snooze": "snoozed"}
MAX_PER_PAGE = 500


class BadRequest(LeakmonError):
    """A query parameter or form field is invalid."""


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not an ISO date") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.now().astimezone().tzinfo)


def filter_from(params: Mapping[str, str]) -> IncidentFilter:
    """An IncidentFilter from query parameters; BadRequest names the bad one."""
    status = params.get("status") or None
    if status and status not in triage.STATUSES:
        raise BadRequest(f"status: {status!r} is not one of {', '.join(triage.STATUSES)}")
    sev = params.get("severity") or None
    if sev and sev not in SEVERITIES:
        raise BadRequest(f"severity: {sev!r} is not one of {', '.join(SEVERITIES)}")
    sort = params.get("sort") or "last_seen"
    if sort not in INCIDENT_SORTS:
        raise BadRequest(f"sort: {sort!r} is not one of {', '.join(INCIDENT_SORTS)}")
    canary = params.get("canary") or None
    if canary not in (None, "true", "false"):
        raise BadRequest("canary: expected true or false")
    try:
        page = int(params.get("page") or 1)
        per_page = int(params.get("per_page") or 50)
    except ValueError:
        raise BadRequest("page and per_page must be integers") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
    return IncidentFilter(status=status, min_severity=sev, rule=params.get("rule") or None,
                          site=params.get("site") or None,
                          platform=params.get("platform") or None,
                          canary=None if canary is None else canary == "true",
                          q=params.get("q") or None, since=_time(params.get("since"), "since"),
                          until=_time(params.get("until"), "until"), sort=sort, page=page,
                          per_page=per_page)


def details(store: Store, incident_id: int) -> dict[str, Any] | None:
    """What `alerts show --json` prints for this incident, or None."""
    triage.expire_snoozes(store)
    inc = store.get_incident(incident_id)
    return incident_details(store, inc) if inc else None


def apply_action(store: Store, incident_id: int, action: str, note: str | None,
                 duration: str | None, actor: str):
    """Perform a triage action through the same library call as the CLI."""
    status = ACTIONS.get(action)
    if status is None:
        raise BadRequest(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    until = None
    if status == "snoozed":
        try:
            secs = parse_duration(duration or "7d", where="duration")
        except ConfigError as e:
            raise BadRequest(str(e)) from None
        until = datetime.now().astimezone() + timedelta(seconds=secs)
    return triage.set_status(store, incident_id, status, until=until, note=note or None,
                             actor=actor)
