"""Incidents for the console's tests and benchmark, written through the Store's own calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import SEVERITIES, Document, Hit
from monitor.store import Store
from monitor.store.users import add_user

HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'
PASSWORDS = {"alice": "alice-analyst-pw", "victor": "victor-viewer-pw", "root": "root-admin-pw"}
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def add_users(store: Store) -> None:
    add_user(store, "alice", "analyst", PASSWORDS["alice"])
    add_user(store, "victor", "viewer", PASSWORDS["victor"])
    add_user(store, "root", "admin", PASSWORDS["root"])


def add_incident(store: Store, n: int, *, title: str, severity: str = "high",
                 sites: tuple[tuple[str, str], ...] = (("telegram", "leaks_fr"),),
                 excerpt: str = "F**** base patients", records: int = 0,
                 canary: bool = False, rule: str = "fingerprints.patients") -> int:
    """One incident with a document, a hit and a sighting per site, seen from T0 + n hours."""
    seen = T0 + timedelta(hours=n)
    iid = store.create_incident(dedup_key=f"k{n}", title=title, rule_id=rule,
                                rule_title=title, severity=severity, confidence=0.9,
                                seen_at=seen, canary=canary, tags=[], excerpt=excerpt)
    for j, (platform, site) in enumerate(sites):
        doc = Document(source=site, platform=platform, external_id=f"{n}-{j}",
                       content=b"", url=f"https://{site}.example/{n}/{j}",
                       fetched_at=seen + timedelta(hours=j))
        did = store.save_document(doc, sha256="0" * 64, excerpt=excerpt)
        store.replace_hits(did, [Hit(rule, title, severity, 2, excerpt)], iid)
        store.add_sighting(iid, did, source=site, platform=platform, site=site, url=doc.url,
                           seen_at=seen + timedelta(hours=j))
    if records:
        for k in range(records):  # one more record with each later sighting
            store.add_incident_records(iid, "patients", [(f"PAT-{k:04d}", canary and k == 0)],
                                       now=seen + timedelta(hours=min(k, len(sites) - 1)))
    return iid


def add_many(store: Store, count: int) -> None:
    """`count` plain incidents in one transaction (paging and benchmark)."""
    with store.transaction():
        for n in range(count):
            store.create_incident(
                dedup_key=f"bulk{n}", title=f"Bulk incident {n}", rule_id=f"rule.{n % 7}",
                rule_title="bulk", severity=SEVERITIES[n % 5], confidence=0.5,
                seen_at=T0 + timedelta(minutes=n), canary=n % 97 == 0, tags=[], excerpt="")
