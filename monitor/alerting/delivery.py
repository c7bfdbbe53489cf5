"""The outbox worker: hands due notifications to their sinks, with backoff, a retry limit and
digests. Delivery is at-least-once: `send` happens before `outbox_sent`, so a crash between the
two resends the same notification with the same idempotency key (receivers de-duplicate on it);
nothing is marked sent that a sink did not take.

Sinks are served in parallel (one thread each). Per run and per sink, the first retryable failure stops that sink's turn: when a receiver is
down, its other items wait untouched (their attempt counts do not grow) instead of each
burning a timeout and an attempt. Other sinks are unaffected.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from monitor.alerting.sinks.base import Sink, SinkDeliveryError
from monitor.errors import SinkError
from monitor.models import Notification, OutboxItem, utcnow

log = logging.getLogger(__name__)

DIGEST_META_PREFIX = "digest_last_sent:"
DIGEST_BATCH = 1000  # items one digest may carry (the message itself lists the first 50)
MAX_RETRY_AFTER = 86400.0  # a receiver's Retry-After is honoured up to a day
MAX_PARALLEL_SINKS = 8


class OutboxStore(Protocol):
    """The part of monitor.store.Store this worker uses (docs/internals.md, "Store")."""

    def outbox_due(self, now: datetime | None = ..., limit: int = ..., *,
                   sink: str | None = ..., worker: str | None = ...) -> list[OutboxItem]: ...
    def outbox_sent(self, id: int, detail: str = ..., *, now: datetime | None = ...) -> None: ...
    def outbox_failed(self, id: int, error: str, next_attempt_at: datetime | None, *,
                      now: datetime | None = ...) -> None: ...
    def outbox_backlog(self) -> dict[str, int]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Exponential backoff: base * 2^(failures-1), capped, +-jitter; dead after max_attempts.

    The defaults keep retrying for about a day (7 attempts reach the 1 h cap after ~1 h,
    then hourly), so a receiver down overnight still gets everything in the morning.
    """

    base_delay: float = 30.0
    max_delay: float = 3600.0
    max_attempts: int = 30
    jitter: float = 0.2  # +-20 %: sinks recovering together do not get every retry at once

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1 = first)."""
        raw = min(self.max_delay, self.base_delay * (2 ** max(0, failures - 1)))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(1.0, raw * (1.0 + spread))


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0  # items delivered one by one
    failed: int = 0  # failed attempts that will be retried
    dead: int = 0  # items given up (retry limit, permanent error, sink gone)
    digested: int = 0  # items delivered inside digests
    errors: list[str] = field(default_factory=list)  # one line per failing sink
    # sink -> {"sent", "failed", "dead"}: what the metrics count (digested items are sent)
    by_sink: dict[str, dict[str, int]] = field(default_factory=dict)

    def merge(self, other: DeliveryReport, sink: str | None = None) -> None:
        """Add `other`; with `sink`, `other` is that one sink's part."""
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.digested += other.digested
        self.errors.extend(other.errors)
        for name, counts in other.by_sink.items():
            mine = self.by_sink.setdefault(name, {"sent": 0, "failed": 0, "dead": 0})
            for k, v in counts.items():
                mine[k] += v
        if sink is not None:
            mine = self.by_sink.setdefault(sink, {"sent": 0, "failed": 0, "dead": 0})
            mine["sent"] += other.sent + other.digested
            mine["failed"] += other.failed
            mine["dead"] += other.dead

    @property
    def ok(self) -> bool:
        return not self.failed and not self.dead


def deliver_due(store: OutboxStore, sinks: Sequence[Sink], *, now: datetime | None = None,
                limit: int = 100, policy: DeliveryPolicy | None = None,
                rng: random.Random | None = None, worker: str | None = None) -> DeliveryReport:
    """Deliver what is due at `now` (default: the current time); at most `limit` items per
    sink per call. Items for sinks no longer configured are marked dead with that reason.
    With several workers on one store, `worker` (this worker's id) claims the rows it
    delivers, so no two workers send one row."""
    now = now or utcnow()
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    configured = {s.name for s in sinks}
    for name in sorted(set(store.outbox_backlog()) - configured):
        orphans = DeliveryReport()
        _drop_orphans(store, name, now, orphans, worker)
        report.merge(orphans, name)

    def one_sink(sink: Sink) -> DeliveryReport:
        part = DeliveryReport()
        if sink.digest:
            _deliver_digest(store, sink, now, policy, rng, part, worker)
        else:
            _deliver_each(store, sink, now, limit, policy, rng, part, worker)
        return part

    # One thread per sink: a receiver that times out, or Apprise throttling a chat service,
    # must not hold back the others. The store serializes its own calls.
    if sinks:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SINKS, len(sinks)),
                                thread_name_prefix="leakmon-sink") as pool:
            for sink, part in zip(sinks, pool.map(one_sink, sinks), strict=True):
                report.merge(part, sink.name)
    return report


def _deliver_each(store: OutboxStore, sink: Sink, now: datetime, limit: int,
                  policy: DeliveryPolicy, rng: random.Random | None,
                  report: DeliveryReport, worker: str | None = None) -> None:
    for item in store.outbox_due(now, limit, sink=sink.name, worker=worker):
        try:
            detail = sink.send(item.notification)
        except Exception as e:  # a sink bug must not stop the other sinks
            retrying = _record_failure(store, sink, [item], e, now, policy, rng, report)
            if retrying:
                return  # the receiver is struggling: leave its other items for later
            continue
        store.outbox_sent(item.id, detail, now=now)
        report.sent += 1
        log.info("delivered %s (%s) to sink %s: %s", item.notification.idempotency_key,
                 item.notification.event, sink.name, detail)


def _deliver_digest(store: OutboxStore, sink: Sink, now: datetime, policy: DeliveryPolicy,
                    rng: random.Random | None, report: DeliveryReport,
                    worker: str | None = None) -> None:
    items = store.outbox_due(now, DIGEST_BATCH, sink=sink.name, worker=worker)
    if not items:
        return
    key = DIGEST_META_PREFIX + sink.name
    last = store.get_meta(key)
    # The window opens with the oldest waiting item, and never before the previous digest:
    # at most one summary per interval, and each covers at least one full interval.
    opened = min(_aware(i.created_at) for i in items)
    if last:
        opened = max(opened, _parse_time(last))
    assert sink.digest is not None
    if now - opened < timedelta(minutes=sink.digest):
        return
    try:
        detail = sink.send_digest([i.notification for i in items])
    except Exception as e:
        _record_failure(store, sink, items, e, now, policy, rng, report)
        return
    for item in items:
        store.outbox_sent(item.id, f"digest of {len(items)}: {detail}", now=now)
    store.set_meta(key, now.astimezone(UTC).isoformat())
    report.digested += len(items)
    log.info("delivered a digest of %d alert(s) to sink %s: %s", len(items), sink.name, detail)


def _record_failure(store: OutboxStore, sink: Sink, items: Iterable[OutboxItem],
                    error: Exception, now: datetime, policy: DeliveryPolicy,
                    rng: random.Random | None, report: DeliveryReport) -> bool:
    """Schedule the next try (or give up) for `items`; True when they will be retried."""
    if isinstance(error, SinkError):
        message = str(error)
    else:
        message = f"sink {sink.name!r}: internal error: {type(error).__name__}: {error}"
        log.error("sink %s raised an unexpected %s", sink.name, type(error).__name__,
                  exc_info=error)
    retryable = getattr(error, "retryable", True)
    retry_after = error.retry_after if isinstance(error, SinkDeliveryError) else None
    any_retry = False
    for item in items:
        failures = item.attempts + 1
        if not retryable or failures >= policy.max_attempts:
            why = "not retryable" if not retryable else f"gave up after {failures} attempts"
            store.outbox_failed(item.id, f"{message} ({why})", None, now=now)
            report.dead += 1
            log.error("gave up delivering %s to sink %s (%s): %s",
                      item.notification.idempotency_key, sink.name, why, message)
            continue
        wait = policy.delay(failures, rng)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        store.outbox_failed(item.id, message, now + timedelta(seconds=wait), now=now)
        report.failed += 1
        any_retry = True
        log.warning("delivery of %s to sink %s failed (attempt %d, next in %.0fs): %s",
                    item.notification.idempotency_key, sink.name, failures, wait, message)
    report.errors.append(message)
    return any_retry


def _drop_orphans(store: OutboxStore, name: str, now: datetime, report: DeliveryReport,
                  worker: str | None = None) -> None:
    reason = f"sink {name!r} is no longer configured"
    horizon = now + timedelta(days=3650)  # pending items not yet due are just as orphaned
    while items := store.outbox_due(horizon, 500, sink=name, worker=worker):
        for item in items:
            store.outbox_failed(item.id, reason, None, now=now)
            report.dead += 1
        log.warning("marked %d outbox item(s) dead: %s", len(items), reason)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_time(value: str) -> datetime:
    return _aware(datetime.fromisoformat(value))


def make_test_notification(sink: Sink, *, now: datetime | None = None) -> Notification:
    """The clearly marked notification `leakmon sinks test` sends.

    Its severity is the sink's own `min_severity`, so it travels the same route in the
    receiver (e.g. PagerDuty urgency) as the least severe real alert this sink would get.
    """
    now = now or utcnow()
    stamp = now.astimezone(UTC).isoformat(timespec="seconds")
    key = f"test-{uuid.uuid4().hex}"
    return Notification(
        idempotency_key=key, event="test", reason="operator-requested test (leakmon sinks test)",
        incident_id=None, dedup_key=key,
        title="[TEST] leakmon test alert — no action needed",
        severity=sink.min_severity, confidence=1.0, rule_id="leakmon.test",
        rule_title="Sink test", created_at=stamp, tags=["test"], platform="leakmon",
        source="sinks test", first_seen=stamp, last_seen=stamp, sightings=1,
        excerpt="This is a test message sent by `leakmon sinks test`. No data leak is involved.",
    )
