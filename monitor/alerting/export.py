"""Exporting incidents for other tools: JSON lines, or a STIX 2.1 bundle for a CTI platform.

STIX mapping (built with the stix2 library, which validates every object as it is made):
- an `identity` for leakmon (creator of everything),
- per incident an `indicator` whose pattern lists the SHA-256 of every document it was seen in
  (the dedup key is kept as an external reference), an `observed-data` per sighting (a `file`
  SCO with the document's hash and size, plus a `url` SCO when there is a URL), a `sighting` of
  the indicator referring to those observations, and a `note` with the triage state, record
  count and matched record ids (ids only, never values).

The bundle follows the STIX 2.1 Interoperability profile (`stix2_validator --interop`): every
object, the identity itself and the observables included, names its producer in
`created_by_ref` (a property the core spec does not give SCOs, hence `allow_custom` for them),
and every object but the identity carries a TLP marking (TLP:AMBER by default: it says what of
ours leaked where). Ids stay deterministic (UUIDv5), which the validator warns about.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import stix2

from monitor.models import parse_iso, utcnow
from monitor.store import Incident, Store

MAX_RECORD_IDS = 1000


def incident_details(store: Store, incident: Incident) -> dict[str, Any]:
    """Everything `alerts show` and the exports say about one incident (no plaintext values)."""
    out = incident.to_dict()
    out["sightings_detail"] = [
        {"source": s["source"], "platform": s["platform"], "site": s["site"], "url": s["url"],
         "seen_at": s["seen_at"], "external_id": s["external_id"], "sha256": s["sha256"],
         "size": s["size"], "excerpt": s["excerpt"]}
        for s in store.sightings_for(incident.id)
    ]
    out["record_ids"] = store.incident_record_ids(incident.id, MAX_RECORD_IDS)
    out["canary_records"] = [r["record_id"] for r in store.incident_records_detail(incident.id)
                             if r["canary"]]
    out["hits"] = [{"rule": h["rule_id"], "severity": h["severity"], "count": h["count"],
                    "excerpt": h["excerpt"], "document_id": h["document_id"]}
                   for h in store.hits_for(incident_id=incident.id)]
    out["events"] = store.incident_events(incident.id)
    out["log"] = store.incident_log(incident.id)
    return out


def iter_jsonl(store: Store, incidents: list[Incident]) -> Iterator[str]:
    for inc in incidents:
        yield json.dumps(incident_details(store, inc), ensure_ascii=False, sort_keys=True)


_STIX_CONFIDENCE_MAX = 100
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # fixed, so the identity object never changes


def _ts(value: str | datetime | None) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else value


_NS = uuid.UUID("5b0c7a52-6f1e-4d8e-9a51-3c0a3f7e2b10")  # leakmon's STIX id namespace


def _sid(kind: str, *parts: str) -> str:
    """Deterministic STIX ids: re-exporting an incident yields the same objects (a TIP then
    records a new version instead of a duplicate)."""
    return f"{kind}--{uuid.uuid5(_NS, '|'.join(parts))}"


TLP_MARKINGS = {"clear": stix2.TLP_WHITE, "white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN,
                "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED}


def stix_bundle(store: Store, incidents: list[Incident], *,
                now: datetime | None = None, tlp: str = "amber") -> stix2.Bundle:
    """A STIX 2.1 bundle describing `incidents`; raises stix2 exceptions if anything is invalid."""
    now = now or utcnow()
    marking = TLP_MARKINGS[tlp]
    me_id = _sid("identity", "leakmon")
    me = stix2.Identity(id=me_id, name="leakmon", identity_class="system",
                        description="leakmon leak-monitoring daemon", created=_EPOCH,
                        modified=_EPOCH, created_by_ref=me_id)
    marked = {"created_by_ref": me_id, "object_marking_refs": [marking.id]}
    # The TLP marking-definitions are predefined by the spec (well-known ids): not repeated.
    objects: list[Any] = [me]
    for inc in incidents:
        details = incident_details(store, inc)
        sightings = details["sightings_detail"]
        hashes = sorted({s["sha256"] for s in sightings if s["sha256"]})
        if not hashes:
            continue
        pattern = " OR ".join(f"file:hashes.'SHA-256' = '{h}'" for h in hashes)
        created = min(inc.first_seen, now)
        stamps = {"created": created, "modified": max(now, created)}
        indicator = stix2.Indicator(
            id=_sid("indicator", inc.dedup_key), **stamps, **marked, name=inc.title,
            pattern=f"[{pattern}]", pattern_type="stix",
            valid_from=inc.first_seen, indicator_types=["compromised"],
            description=f"Content recognized by leakmon rule {inc.rule_id} "
                        f"(severity {inc.severity}).",
            confidence=round(inc.confidence * _STIX_CONFIDENCE_MAX),
            labels=[f"severity:{inc.severity}", f"status:{inc.status}", *inc.tags],
            external_references=[{"source_name": "leakmon", "external_id": inc.dedup_key,
                                  "description": f"leakmon alerts show {inc.id}"}],
        )
        objects.append(indicator)
        observed_ids = []
        for s in sightings:
            scos: list[Any] = [stix2.File(hashes={"SHA-256": s["sha256"]}, size=s["size"],
                                          name=s["external_id"][:200] or None, **marked,
                                          allow_custom=True)]
            if s["url"]:
                scos.append(stix2.URL(value=s["url"], **marked, allow_custom=True))
            seen = _ts(s["seen_at"])
            od = stix2.ObservedData(id=_sid("observed-data", inc.dedup_key, s["sha256"],
                                            s["source"], s["external_id"]), **stamps,
                                    **marked, first_observed=seen,
                                    last_observed=seen, number_observed=1,
                                    object_refs=[o.id for o in scos])
            objects.extend([*scos, od])
            observed_ids.append(od.id)
        sighting = stix2.Sighting(
            id=_sid("sighting", inc.dedup_key), **stamps, **marked,
            sighting_of_ref=indicator.id,
            observed_data_refs=observed_ids, first_seen=inc.first_seen,
            last_seen=max(inc.last_seen, inc.first_seen), count=max(1, inc.sightings),
            description=", ".join(sorted({f"{s['platform']}:{s['site']}" for s in sightings})),
        )
        objects.append(sighting)
        lines = [f"Status: {inc.status}", f"Distinct records matched: {inc.record_count}",
                 f"Canary: {'yes' if inc.canary else 'no'}"]
        if details["record_ids"]:
            lines.append("Record ids: " + ", ".join(details["record_ids"]))
        if inc.note:
            lines.append(f"Analyst note: {inc.note}")
        objects.append(stix2.Note(id=_sid("note", inc.dedup_key), **stamps,
                                  **marked, abstract=f"leakmon incident {inc.id}",
                                  content="\n".join(lines),
                                  object_refs=[indicator.id, sighting.id]))
    return stix2.Bundle(objects=objects, allow_custom=True)
