"""Per-source state (cursor and health) and suggested sources."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.models import utcnow
from monitor.store._mixin import StoreMixin
from monitor.store._util import dumps, iso, loads, parse_iso
from monitor.telegram_links import suggestion_link


@dataclass(slots=True)
class SourceState:
    name: str
    cursor: str | None = None
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    items_last_run: int = 0
    last_item_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # free-form flags (e.g. health alerts)


@dataclass(slots=True)
class SuggestedSource:
    link: str
    first_source: str
    first_seen: datetime
    last_seen: datetime
    mentions: int


class SourcesMixin(StoreMixin):
    def _source_row(self, name: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM source_state WHERE name = ?", (name,))
        return rows[0] if rows else None

    def get_source_state(self, name: str) -> SourceState:
        """The stored state of source `name` (an empty state for a source never run)."""
        row = self._source_row(name)
        return _source_state(row) if row else SourceState(name=name)

    def list_source_states(self) -> list[SourceState]:
        return [_source_state(r) for r in self.query("SELECT * FROM source_state ORDER BY name")]

    def _ensure_source(self, name: str) -> None:
        self.db.execute("INSERT INTO source_state (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))

    def save_cursor(self, name: str, cursor: str | None) -> None:
        """Save a source's cursor; joins the caller's transaction (the pipeline's batch)."""
        with self.transaction():
            self._ensure_source(name)
            self.db.execute("UPDATE source_state SET cursor = ? WHERE name = ?", (cursor, name))

    def record_source_run(self, name: str, ok: bool, items: int, error: str | None = None,
                          *, now: datetime | None = None) -> SourceState:
        """Record one run's outcome: success resets the failure count, failure increments it."""
        now_s = iso(now or utcnow())
        with self.transaction():
            self._ensure_source(name)
            if ok:
                self.db.execute(
                    "UPDATE source_state SET last_run = ?, last_success = ?, "
                    "consecutive_failures = 0, items_last_run = ?, "
                    "last_item_at = CASE WHEN ? > 0 THEN ? ELSE last_item_at END WHERE name = ?",
                    (now_s, now_s, items, items, now_s, name))
            else:
                self.db.execute(
                    "UPDATE source_state SET last_run = ?, last_error = ?, last_error_at = ?, "
                    "consecutive_failures = consecutive_failures + 1, items_last_run = ?, "
                    "last_item_at = CASE WHEN ? > 0 THEN ? ELSE last_item_at END WHERE name = ?",
                    (now_s, (error or "unknown error")[:2000], now_s, items, items, now_s, name))
        return self.get_source_state(name)

    def set_source_meta(self, name: str, meta: dict[str, Any]) -> None:
        """Replace the free-form `meta` dict of a source (e.g. {"health_alert": "failing"})."""
        with self.transaction():
            self._ensure_source(name)
            self.db.execute("UPDATE source_state SET meta = ? WHERE name = ?", (dumps(meta), name))

    # -- suggested sources ---------------------------------------------------------------------

    def add_suggested_sources(self, source: str, links: list[str] | tuple[str, ...],
                              *, now: datetime | None = None) -> int:
        """Remember t.me channel links seen in `source`; returns how many were new."""
        return self.add_suggested_links(source, [links], now=now)

    def add_suggested_links(self, source: str, documents: Iterable[Iterable[str]],
                            *, now: datetime | None = None) -> int:
        """`add_suggested_sources` for a batch: one list of links per document of `source`,
        each channel counted once per document that mentions it; returns how many were new."""
        mentions: Counter[str] = Counter()
        for links in documents:
            mentions.update({n for n in (suggestion_link(x) for x in links) if n})
        if not mentions:
            return 0
        now_s = iso(now or utcnow())
        upsert = ("INSERT INTO suggested_sources (link, first_source, first_seen, last_seen, "
                  "mentions) VALUES (?,?,?,?,?) ON CONFLICT(link) DO UPDATE SET "
                  "last_seen = excluded.last_seen, "
                  "mentions = suggested_sources.mentions + excluded.mentions")
        rows = [(link, source, now_s, now_s, count) for link, count in mentions.items()]
        with self.transaction():
            if self.dialect != "sqlite":  # concurrent writers: each row says if it was new
                return sum(self.db.execute(upsert + " RETURNING mentions", row).fetchone()[0]
                           == row[-1] for row in rows)
            # SQLite: BEGIN IMMEDIATE holds the write lock, so a read first is exact and the
            # upserts go in one statement (a batch of messages names hundreds of links)
            known = 0
            for i in range(0, len(rows), 500):
                chunk = tuple(row[0] for row in rows[i:i + 500])
                known += len(self._fetchall(
                    f"SELECT 1 FROM suggested_sources WHERE link IN ({','.join('?' * len(chunk))})",
                    chunk))
            self._executemany(upsert, rows)
        return len(rows) - known

    def list_suggested_sources(self) -> list[SuggestedSource]:
        rows = self.query("SELECT * FROM suggested_sources ORDER BY mentions DESC, link")
        return [SuggestedSource(r["link"], r["first_source"], parse_iso(r["first_seen"]),
                                parse_iso(r["last_seen"]), r["mentions"]) for r in rows]


def _source_state(row: dict[str, Any]) -> SourceState:
    return SourceState(
        name=row["name"], cursor=row["cursor"], last_run=parse_iso(row["last_run"]),
        last_success=parse_iso(row["last_success"]), last_error=row["last_error"],
        last_error_at=parse_iso(row["last_error_at"]),
        consecutive_failures=row["consecutive_failures"], items_last_run=row["items_last_run"],
        last_item_at=parse_iso(row["last_item_at"]), meta=loads(row["meta"], {}),
    )
