"""Triage states an analyst sets, and what they mean for notifications.

- `new`: not looked at yet. `acknowledged`: someone is on it (escalations still notify).
- `resolved`: handled; an escalation (new site, more records...) notifies and re-opens it as `new`.
- `false_positive`: later sightings of the same dedup key are recorded silently.
- `snoozed` until a time: silent until then; then it falls back to `acknowledged`.
Canary events are never suppressed: a canary record can only come from a real leak.
"""

from __future__ import annotations

import getpass
from datetime import datetime

from monitor.errors import LeakmonError
from monitor.models import iso, utcnow
from monitor.store import Incident, Store

STATUSES: tuple[str, ...] = ("new", "acknowledged", "resolved", "false_positive", "snoozed")
AFTER_SNOOZE = "acknowledged"


class TriageError(LeakmonError):
    """An incident cannot be found or the requested triage change is invalid."""


def is_suppressed(incident: Incident, now: datetime, *, canary: bool = False) -> bool:
    """True when a notification about `incident` must not be sent now."""
    if canary:
        return False
    if incident.status == "false_positive":
        return True
    return incident.status == "snoozed" and (
        incident.snoozed_until is None or incident.snoozed_until > now)


def expire_snoozes(store: Store, now: datetime | None = None) -> int:
    """Turn snoozes whose time has passed back into `acknowledged`; returns how many."""
    now = now or utcnow()
    with store.transaction():
        expired = store.expired_snoozes(now)
        for incident_id in expired:
            store.update_incident(incident_id, status=AFTER_SNOOZE, snoozed_until=None)
            store.log_incident(incident_id, "snooze expired", now=now)
    return len(expired)


def cli_actor() -> str:
    """Who acts from a shell: "cli:<unix user>"."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def set_status(store: Store, incident_id: int, status: str, *, until: datetime | None = None,
               note: str | None = None, now: datetime | None = None,
               actor: str | None = None) -> Incident:
    """Apply an analyst's verdict, log it with the optional note and who acted (`actor`,
    default "cli:<unix user>"), and return the incident."""
    actor = actor or cli_actor()
    if status not in STATUSES:
        raise TriageError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    now = now or utcnow()
    if status == "snoozed" and (until is None or until <= now):
        raise TriageError("snooze needs a time in the future (e.g. --for 7d)")
    with store.transaction():
        incident = store.get_incident(incident_id)
        if incident is None:
            raise TriageError(f"no incident with id {incident_id} in {store.path}")
        values: dict = {"status": status, "snoozed_until": until if status == "snoozed" else None}
        if note:
            values["note"] = note
        store.update_incident(incident_id, **values)
        action = f"status {incident.status} -> {status}"
        if status == "snoozed":
            action += f" until {iso(until)}"
        store.log_incident(incident_id, action, note, now=now, actor=actor)
    return store.get_incident(incident_id)  # type: ignore[return-value]
