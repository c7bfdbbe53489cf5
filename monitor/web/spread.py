"""The spread picture: sightings per site over time and cumulative records, as inline SVG.

Server-rendered so the console needs no script and no CDN; every label goes through Jinja's
escaping in the template (this module returns numbers and names, not markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.models import parse_iso

WIDTH, ROW, LEFT = 640, 22, 160


@dataclass(slots=True)
class Spread:
    rows: list[dict[str, Any]]      # {"site": str, "y": int, "dots": [{"x": float, "t": str}]}
    records: str                    # SVG polyline points of cumulative records
    height: int
    start: str
    end: str


def spread(details: dict[str, Any], records: list[dict[str, Any]]) -> Spread:
    """Lay out the sightings (one row per site) and the records' first-seen times."""
    times = [parse_iso(s["seen_at"]) for s in details["sightings_detail"]]
    rtimes = sorted(parse_iso(r["first_seen"]) for r in records)
    allt = [t for t in times + rtimes if t is not None]
    t0 = min(allt) if allt else datetime.now().astimezone()
    t1 = max(allt) if allt else t0
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(t: datetime) -> float:
        return round(LEFT + (WIDTH - LEFT - 10) * (t - t0).total_seconds() / span, 1)

    sites: dict[str, list[dict[str, Any]]] = {}
    for s, t in zip(details["sightings_detail"], times, strict=True):
        sites.setdefault(f"{s['platform']}:{s['site']}", []).append(
            {"x": x(t), "t": s["seen_at"][:19]})
    rows = [{"site": name, "y": 20 + i * ROW, "dots": dots}
            for i, (name, dots) in enumerate(sorted(sites.items()))]
    top = 30 + len(rows) * ROW
    h = 80
    pts = [f"{LEFT},{top + h}"]
    y: float = top + h
    for i, t in enumerate(rtimes, 1):  # a step line: flat until the next record arrives
        pts.append(f"{x(t)},{y}")
        y = round(top + h - h * i / len(rtimes), 1)
        pts.append(f"{x(t)},{y}")
    pts.append(f"{WIDTH - 10},{y}")
    return Spread(rows=rows, records=" ".join(pts), height=top + h + 20,
                  start=t0.isoformat()[:16], end=t1.isoformat()[:16])
