"""What the sources, rules and outbox pages show, gathered from the same library calls as
`leakmon status`, `rules check` and `fingerprints list`."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.models import utcnow
from monitor.store import Store

DAYS = 30


def items_per_day(store: Store, now: datetime | None = None, days: int = DAYS
                  ) -> dict[str, list[int]]:
    """Documents stored per source and UTC day, oldest first, for the last `days` days."""
    now = now or utcnow()
    start = (now - timedelta(days=days - 1)).date()
    out: dict[str, list[int]] = {}
    for (source, day), n in store.documents_per_day(start).items():
        i = (day - start).days
        if 0 <= i < days:
            out.setdefault(source, [0] * days)[i] = n
    return out


def sparkline(values: list[int], width: int = 120, height: int = 24) -> str:
    """SVG polyline points for `values` (numbers only: safe in an attribute)."""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{round(i * step, 1)},{round(height - 2 - (height - 4) * v / top, 1)}"
                    for i, v in enumerate(values))


def sources(config: Config, state_dir: Path, store: Store) -> dict[str, Any]:
    from monitor.daemon.status import gather_status

    report = gather_status(config, state_dir, store=store)
    per_day = items_per_day(store)
    rows = []
    for s in report.sources:
        counts = per_day.get(s.name, [0] * DAYS)
        rows.append({**dataclasses.asdict(s), "per_day": counts, "total_30d": sum(counts),
                     "spark": sparkline(counts)})
    return {"sources": rows, "suggested": store.list_suggested_sources()}


def rules(config: Config, state_dir: Path) -> dict[str, Any]:
    from monitor.matching.fingerprints import list_sets
    from monitor.matching.rules import load_rules

    sets = list_sets(state_dir)
    ruleset = load_rules(config.rules, known_fingerprint_sets={s.name for s in sets}) \
        if config.rules else None
    return {"paths": [str(p) for p in config.rules], "ruleset": ruleset, "sets": sets,
            "configured_sets": config.fingerprints}


def outbox(store: Store) -> dict[str, Any]:
    """Per sink: pending (never tried), failed (retrying), dead; and the dead rows."""
    return {"counts": store.outbox_states(), "dead": store.dead_outbox()}
