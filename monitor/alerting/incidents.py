"""The incident stage: attach a document's hits to an incident, record the sighting, decide
whether anyone must be told, and queue that notification in the outbox.

One leak, one alert, many sightings. A document joins an existing incident when
1. it is an edit of a document already in an incident (an edited Telegram message), or
2. its normalized content has the same hash (exact re-post), or
3. its MinHash is close to one of the incident's documents (header/footer/column changes), or
4. its matched fingerprint records largely overlap the incident's records.
Otherwise it opens a new incident whose dedup key is its content key — never a URL.

Everything here runs inside the pipeline's store transaction: the incident change and the
outbox rows commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from monitor.alerting import escalation
from monitor.alerting.dedup import (
    ContentFingerprint,
    NearDuplicateIndex,
    lock_keys,
    record_sets,
    records_overlap,
)
from monitor.alerting.notification import incident_link
from monitor.alerting.triage import is_suppressed
from monitor.errors import StoreError
from monitor.models import Document, Hit, Notification, iso, severity_rank
from monitor.store import Incident, Store
from monitor.telegram_links import site_host

log = logging.getLogger(__name__)

MAX_RECORD_IDS_IN_ALERT = 50
DEFAULT_CONFIDENCE = 0.6  # a rule matched but no fingerprint corroborates it


class SinkLike(Protocol):
    name: str

    def accepts(self, notification: Notification) -> bool: ...


@dataclass(slots=True)
class IncidentUpdate:
    incident_id: int
    is_new: bool
    matched_by: str  # new | edit | exact | near | records
    events: list[str] = field(default_factory=list)
    notification: Notification | None = None
    suppressed: bool = False


def site_of(doc: Document, platform_sites: Mapping[str, str] | None = None) -> str:
    """Where a document was seen, for "seen on a new site": a configured label for its source,
    else the URL's host, else the source name.

    All Telegram channels are one site (t.me): a re-post on another channel is a sighting,
    not a new-site escalation; a re-post on a paste site or a leak site is.
    """
    if platform_sites and doc.source in platform_sites:
        return platform_sites[doc.source]
    if doc.url:
        host = site_host(urlsplit(doc.url).hostname or "")
        if host:
            return host
    return doc.source


def top_hit(hits: Sequence[Hit]) -> Hit:
    return max(hits, key=lambda h: (severity_rank(h.severity), len(h.records), h.count))


def confidence_of(hits: Sequence[Hit]) -> float:
    scores = [r.confidence for h in hits for r in h.records]
    return round(max(scores), 3) if scores else DEFAULT_CONFIDENCE


class IncidentTracker:
    """Finds or opens the incident of each document; correct with several workers on one store.

    The lookup (edit, exact, near, records) and the creation run in the batch's write
    transaction under locks on the document's `lock_keys`, so of two workers seeing re-posts of
    one leak at once, the second waits for the first's commit and then finds its incident; the
    insert itself is insert-or-get on the unique dedup key. Only the transaction that created
    an incident queues its "new" notification; the other records a sighting (and an
    escalation when the policy says so).
    """

    def __init__(self, store: Store, *, sinks: Sequence[SinkLike] = (),
                 index: NearDuplicateIndex | None = None,
                 platform_sites: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.index = index if index is not None else NearDuplicateIndex.from_store(store)
        self.platform_sites = dict(platform_sites or {})
        self.public_url = ""  # [web] public_url: notifications link to the console page

    def _load(self, incident_id: int) -> Incident:
        incident = self.store.get_incident(incident_id)
        if incident is None:  # only possible if the database was edited underneath us
            raise StoreError(f"incident {incident_id} vanished from {self.store.path} mid-batch")
        return incident

    # -- finding the incident ------------------------------------------------------------------

    def _match(self, fp: ContentFingerprint, records: dict[str, dict[str, bool]],
               previous_incident: int | None) -> tuple[int | None, str]:
        if previous_incident is not None and self.store.get_incident(previous_incident):
            return previous_incident, "edit"
        exact = self.store.incident_for_content_key(fp.content_key)
        if exact is not None:
            return exact, "exact"
        near = self.index.best(fp.minhash, fp.bands)
        if near is not None:
            return near[0], "near"
        best: tuple[float, int] | None = None
        for set_name, recs in records.items():
            for incident_id, shared in self.store.record_overlap(set_name, recs).items():
                inc = self.store.get_incident(incident_id)
                if inc is None:
                    continue
                score = records_overlap(shared, len(recs), inc.record_count)
                if score and (best is None or score > best[0]):
                    best = (score, incident_id)
        if best is not None:
            return best[1], "records"
        return None, "new"

    # -- the stage -----------------------------------------------------------------------------

    def lock(self, documents: Iterable[tuple[ContentFingerprint, Sequence[Hit]]]) -> None:
        """Take the incident locks of a whole batch up front, in one sorted go, so that two
        workers' batches never wait on each other in a cycle (call inside the transaction)."""
        self.store.lock_incident_keys(
            key for fp, hits in documents for key in lock_keys(fp, record_sets(hits)))

    def record(self, doc: Document, document_id: int, hits: Sequence[Hit],
               fp: ContentFingerprint, *, now: datetime,
               previous_incident: int | None = None, locked: bool = False) -> IncidentUpdate:
        """Attach `hits` of document `document_id` to an incident; queue any notification.
        `locked`: the caller's transaction already holds this document's `lock` (a batch)."""
        store = self.store
        records = record_sets(hits)
        top = top_hit(hits)
        canary = any(h.canary for h in hits)
        tags = sorted({t for h in hits for t in h.tags})
        seen_at = doc.posted_at or doc.fetched_at or now
        site = site_of(doc, self.platform_sites)
        with store.transaction():
            if not locked:  # other workers: see the class
                store.lock_incident_keys(lock_keys(fp, records))
            matched, how = self._match(fp, records, previous_incident)
            is_new = False
            if matched is None:
                matched, is_new = store.open_incident(
                    dedup_key=fp.content_key, title=top.title, rule_id=top.rule_id,
                    rule_title=top.title, severity=top.severity, confidence=confidence_of(hits),
                    seen_at=seen_at, canary=canary, tags=tags, excerpt=top.excerpt)
                how = "new" if is_new else "exact"  # lost the race: the winner's, as a sighting
            incident_id = matched
            before = self._load(incident_id)
            sites_before = store.incident_sites(incident_id)
            store.add_content_key(fp.content_key, incident_id)
            self.index.add(document_id, incident_id, fp.minhash, fp.bands)
            store.add_sighting(incident_id, document_id, source=doc.source,
                               platform=doc.platform, site=site, url=doc.url, seen_at=seen_at)
            for set_name, recs in records.items():
                store.add_incident_records(incident_id, set_name, recs.items(), now=now)
            changes: dict[str, Any] = {}
            if severity_rank(top.severity) > severity_rank(before.severity):
                changes.update(severity=top.severity, title=top.title, rule_id=top.rule_id,
                               rule_title=top.title, excerpt=top.excerpt)
            conf = confidence_of(hits)
            if conf > before.confidence:
                changes["confidence"] = conf
            if canary and not before.canary:
                changes["canary"] = True
            merged_tags = sorted(set(before.tags) | set(tags))
            if merged_tags != before.tags:
                changes["tags"] = merged_tags
            if changes:
                store.update_incident(incident_id, **changes)
            incident = self._load(incident_id)
            update = IncidentUpdate(incident_id, is_new, how)
            if is_new:
                self._new_incident(incident, site, doc, now, update)
            else:
                self._escalate(incident, before, sites_before, site, doc, now, update)
        return update

    def _new_incident(self, incident: Incident, site: str, doc: Document, now: datetime,
                      update: IncidentUpdate) -> None:
        store = self.store
        # The first alert already tells everything known now: later events start from here.
        store.claim_event(incident.id, "new", notified=True, reason="new incident", now=now)
        store.claim_event(incident.id, escalation.site_event(doc.platform, site).key,
                          notified=False, reason="first site", now=now)
        if incident.canary:
            store.claim_event(incident.id, "canary", notified=True, reason="canary at creation",
                              now=now)
        reached = escalation.threshold_reached(incident.record_count)
        for t in escalation.RECORD_THRESHOLDS:
            if t <= reached:
                store.claim_event(incident.id, f"records:{t}", notified=False,
                                  reason="reached at creation", now=now)
        store.update_incident(incident.id, notified_records=reached,
                              notified_severity=incident.severity)
        update.events = ["new"]
        reason = "new incident" + (" with a canary record" if incident.canary else "")
        update.notification = self._notify(incident, doc, "new", ["new"], reason, now)

    def _escalate(self, incident: Incident, before: Incident, sites_before: set,
                  site: str, doc: Document, now: datetime, update: IncidentUpdate) -> None:
        store = self.store
        candidates: list[escalation.Event] = []
        ev = escalation.severity_event(before.notified_severity, incident.severity)
        if ev:
            candidates.append(ev)
        ev = escalation.records_event(before.notified_records, incident.record_count)
        if ev:
            candidates.append(ev)
        if (doc.platform, site) not in sites_before:
            candidates.append(escalation.site_event(doc.platform, site))
        if incident.canary and not before.canary:
            candidates.append(escalation.canary_event())
        if not candidates:
            return  # a silent update: one more sighting, nothing new to tell
        is_canary = any(e.canary for e in candidates)
        suppressed = is_suppressed(incident, now, canary=is_canary)
        fresh = [e for e in candidates if store.claim_event(
            incident.id, e.key, notified=not suppressed, reason=e.reason, now=now)]
        # Escalation state moves on even when suppressed: the update is then silent, and the
        # same crossing will not alert after the snooze ends.
        store.update_incident(
            incident.id,
            notified_severity=max(before.notified_severity or incident.severity,
                                  incident.severity, key=severity_rank),
            notified_records=max(before.notified_records,
                                 escalation.threshold_reached(incident.record_count)))
        update.events = [e.key for e in fresh]
        update.suppressed = suppressed
        if suppressed or not fresh:
            if fresh:
                log.info("incident %d: %s (not notified: %s)", incident.id,
                         "; ".join(e.reason for e in fresh), incident.status)
            return
        if incident.status == "resolved":
            store.update_incident(incident.id, status="new")
            store.log_incident(incident.id, "re-opened by escalation",
                               "; ".join(e.reason for e in fresh), now=now)
            incident = self._load(incident.id)
        update.notification = self._notify(
            incident, doc, "escalated", [e.key for e in fresh],
            "; ".join(e.reason for e in fresh), now)

    def _notify(self, incident: Incident, doc: Document, event: str, keys: list[str],
                reason: str, now: datetime) -> Notification:
        store = self.store
        sites = sorted(f"{p}:{s}" for p, s in store.incident_sites(incident.id))
        n = Notification(
            idempotency_key=f"{incident.dedup_key}:{'+'.join(keys)}",
            event=event, reason=reason, incident_id=incident.id,
            dedup_key=incident.dedup_key, title=incident.title, severity=incident.severity,
            confidence=incident.confidence, rule_id=incident.rule_id,
            rule_title=incident.rule_title, created_at=iso(now) or "",
            tags=list(incident.tags), platform=doc.platform, source=doc.source, url=doc.url,
            first_seen=iso(incident.first_seen), last_seen=iso(incident.last_seen),
            sightings=incident.sightings, sites=sites, record_count=incident.record_count,
            record_ids=store.incident_record_ids(incident.id, MAX_RECORD_IDS_IN_ALERT),
            canary=incident.canary, excerpt=incident.excerpt,
            link=incident_link(incident.id, self.public_url),
            console_url=incident_link(incident.id, self.public_url) if self.public_url else None,
            document_sha256=doc.sha256 or None,
        )
        accepting = [s for s in self.sinks if s.accepts(n)]
        store.enqueue(n, accepting, now=now)
        return n
