"""The store: documents, hits, incidents, sightings, outbox and per-source state, in SQLite
(sqlite-utils, WAL; the default) or PostgreSQL (`[store] url`, psycopg 3). `Store.open(path or
URL)`; see docs/internals.md "Store" and "PostgreSQL store"."""

from monitor.store.db import DB_NAME, Store
from monitor.store.incidents import Incident
from monitor.store.queries import INCIDENT_SORTS, IncidentFilter
from monitor.store.schema import LATEST_VERSION
from monitor.store.sources import SourceState, SuggestedSource

__all__ = ["DB_NAME", "INCIDENT_SORTS", "LATEST_VERSION", "Incident", "IncidentFilter",
           "SourceState", "Store", "SuggestedSource"]
