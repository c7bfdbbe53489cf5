"""How an analyst opens an incident from a notification.

The records themselves (`Notification`, `OutboxItem`, `EVENTS`) live in `monitor.models`,
the bottom layer, because the store keeps them too; they are re-exported here so that
imports written before the move keep working. New code imports them from `monitor.models`.
"""

from __future__ import annotations

from monitor.models import EVENTS, Notification, OutboxItem

__all__ = ["EVENTS", "Notification", "OutboxItem", "incident_link"]


def incident_link(incident_id: int, public_url: str = "") -> str:
    """How an analyst opens the incident: its console page when `[web] public_url` is set,
    else the CLI command."""
    if public_url:
        return f"{public_url.rstrip('/')}/incidents/{incident_id}"
    return f"leakmon alerts show {incident_id}"
