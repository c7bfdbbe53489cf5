"""When an incident that already alerted deserves another notification.

Each escalation is an *event* with a stable key (e.g. `records:100`, `severity:critical`,
`site:telegram:t.me/leakchan`, `canary`). The store records each key once per incident, so a
given event notifies at most once, and the notification's idempotency key is built from the
event keys: a resend after a crash is recognisably the same message.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.models import severity_rank

RECORD_THRESHOLDS: tuple[int, ...] = (10, 100, 1_000, 10_000)


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    reason: str
    canary: bool = False  # canary events are never suppressed by triage


def threshold_reached(count: int) -> int:
    """The highest record threshold `count` has reached (0 below the first)."""
    reached = 0
    for t in RECORD_THRESHOLDS:
        if count >= t:
            reached = t
    return reached


def severity_event(notified: str | None, current: str) -> Event | None:
    if notified is not None and severity_rank(current) <= severity_rank(notified):
        return None
    return Event(f"severity:{current}", f"severity rose to {current}")


def records_event(notified_threshold: int, count: int) -> Event | None:
    reached = threshold_reached(count)
    if reached <= notified_threshold:
        return None
    return Event(f"records:{reached}", f"{count:,} distinct records matched (crossed {reached:,})")


def site_event(platform: str, site: str) -> Event:
    return Event(f"site:{platform}:{site}", f"seen on a new site: {site} ({platform})")


def canary_event() -> Event:
    return Event("canary", "a canary record appeared", canary=True)
