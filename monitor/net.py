"""Network details shared by collectors, sinks and `leakmon doctor` (which otherwise know
nothing of each other)."""

from __future__ import annotations

import email.utils
import socket
import time

CONNECT_TIMEOUT = 3.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if
    absent or unreadable. A date in the past means no wait (0.0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def connect_problem(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a TCP connection to host:port opens (it is closed again at once), else
    what went wrong, for a health check."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"cannot connect to {host}:{port}: {e.strerror or e}"
