"""Notification sinks: where alerts go (chat, e-mail, SIEM, TheHive).

`build_sinks(config.sinks, config)` turns the `[[sinks]]` tables into `Sink` objects; the
delivery worker (`monitor.alerting.delivery`) feeds them from the outbox.
"""

from monitor.alerting.sinks.base import (
    SINK_KINDS,
    Sink,
    SinkDeliveryError,
    build_sink,
    build_sinks,
    mask_url,
)
from monitor.tables import resolve_secret

__all__ = [
    "SINK_KINDS",
    "Sink",
    "SinkDeliveryError",
    "build_sink",
    "build_sinks",
    "mask_url",
    "resolve_secret",
]
