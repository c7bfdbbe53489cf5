"""Small conversions shared by the store modules: timestamps and JSON columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, overload


def iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 text with a fixed shape, so that text order is time order in SQL."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@overload
def parse_iso(value: str) -> datetime: ...
@overload
def parse_iso(value: str | None) -> datetime | None: ...
def parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(value: str | None, default: Any) -> Any:
    if not value:
        return default
    return json.loads(value)
