"""Source health: turn a source's run history into at most one operator notification per episode.

An operator must hear about a source that keeps failing (expired Telegram session, pastebin IP
no longer whitelisted, Tor down) or that went silent, but once — not every five minutes. The
idempotency key names the episode (the last success before the failures, the last item before
the silence), and the outbox's UNIQUE(sink, idempotency_key) makes a repeat enqueue a no-op, even
across restarts. A recovery followed by new failures is a new episode and alerts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.collectors.base import SourceConfig
from monitor.models import Notification, utcnow

if TYPE_CHECKING:
    from monitor.store.sources import SourceState

RULE_ID = "leakmon.source_health"
RULE_TITLE = "Source health"
MAX_ERROR_CHARS = 300


@dataclass(slots=True, frozen=True)
class HealthView:
    """The parts of the store's SourceState that health needs, with parsed times."""

    consecutive_failures: int
    last_success: datetime | None
    last_error: str | None
    last_item_at: datetime | None
    last_run: datetime | None

    @classmethod
    def of(cls, state: SourceState | None) -> HealthView:
        return cls(
            consecutive_failures=int(getattr(state, "consecutive_failures", 0) or 0),
            last_success=as_datetime(getattr(state, "last_success", None)),
            last_error=getattr(state, "last_error", None),
            last_item_at=as_datetime(getattr(state, "last_item_at", None)),
            last_run=as_datetime(getattr(state, "last_run", None)),
        )


def health_notifications(
    schedule: SourceConfig, state: SourceState | None, *, now: datetime | None = None
) -> list[Notification]:
    """The operator notifications this source's state calls for right now (0, 1 or 2)."""
    now = now or utcnow()
    view = HealthView.of(state)
    out: list[Notification] = []
    if view.consecutive_failures >= schedule.alert_after_failures:
        episode = _stamp(view.last_success)
        error = (view.last_error or "unknown error")[:MAX_ERROR_CHARS]
        out.append(_notification(
            schedule, now,
            key=f"operator:{schedule.name}:failing:since-success:{episode}",
            severity="high",
            title=f"Source {schedule.name} failing: {view.consecutive_failures} runs in a row",
            reason=f"{view.consecutive_failures} consecutive failures "
                   f"(alert_after_failures = {schedule.alert_after_failures})",
            excerpt=error,
        ))
    silence = schedule.expected_silence
    if silence and view.consecutive_failures == 0 and view.last_item_at is not None:
        quiet = now - view.last_item_at
        if quiet > timedelta(seconds=silence):
            out.append(_notification(
                schedule, now,
                key=f"operator:{schedule.name}:silent:since-item:{_stamp(view.last_item_at)}",
                severity="medium",
                title=f"Source {schedule.name} silent for {_human(quiet.total_seconds())}",
                reason=f"no new items since {_stamp(view.last_item_at)} "
                       f"(expected_silence = {_human(silence)})",
                excerpt="",
            ))
    return out


def _notification(
    schedule: SourceConfig, now: datetime, *, key: str, severity: str, title: str,
    reason: str, excerpt: str,
) -> Notification:
    return Notification(
        idempotency_key=key,
        event="operator",
        reason=reason,
        incident_id=None,
        dedup_key=f"source:{schedule.name}",
        title=title,
        severity=severity,
        confidence=1.0,
        rule_id=RULE_ID,
        rule_title=RULE_TITLE,
        created_at=now.isoformat(),
        tags=["operator", f"source:{schedule.type}"],
        platform=schedule.type,
        source=schedule.name,
        excerpt=excerpt,
        link="leakmon status",
    )


def as_datetime(value: datetime | str | float | None) -> datetime | None:
    """A store time (datetime, ISO string or epoch seconds) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        dt = datetime.fromtimestamp(value, UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _stamp(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else "never"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds:.0f}s"
