"""Small conversions shared by the store modules: timestamps and JSON columns.

The timestamp helpers are defined in `monitor.models` (every layer uses them) and
re-exported here for the store modules."""

from __future__ import annotations

import json
from typing import Any

from monitor.models import iso, parse_iso

__all__ = ["dumps", "iso", "loads", "parse_iso"]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(value: str | None, default: Any) -> Any:
    if not value:
        return default
    return json.loads(value)
