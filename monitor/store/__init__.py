"""The SQLite store (sqlite-utils, WAL): documents, hits, incidents, sightings, outbox and
per-source state. `Store.open(path)`; see docs/internals.md "Store"."""

from monitor.store.db import DB_NAME, Store
from monitor.store.incidents import Incident
from monitor.store.queries import INCIDENT_SORTS, IncidentFilter
from monitor.store.schema import LATEST_VERSION
from monitor.store.sources import SourceState, SuggestedSource

__all__ = ["DB_NAME", "INCIDENT_SORTS", "LATEST_VERSION", "Incident", "IncidentFilter",
           "SourceState", "Store", "SuggestedSource"]
