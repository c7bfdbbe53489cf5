"""Prometheus metrics through prometheus_client, served on loopback only.

The runner keeps plain counters (dicts, cheap to bump from any thread); a custom collector
turns them into metric families at scrape time, next to prometheus_client's process and
platform collectors and `leakmon_build_info`. Only raw counters and gauges are exposed: rates
(throughput, delivery rates) are for PromQL's `rate()`, not for the exporter. Answers are the
Prometheus text format, or OpenMetrics when the scraper asks for it (Accept header).

The endpoint refuses non-loopback addresses: metrics name sources and sinks, which is already
more than an outsider should learn about what is watched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import platform
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client import exposition as text_format
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.errors import ConfigError

log = logging.getLogger(__name__)

DELIVERY_OUTCOMES = ("sent", "failed", "dead")


@dataclass
class Metrics:
    """Counters updated by the runner and the delivery job; gauges sampled at scrape time."""

    started: float = field(default_factory=time.time)
    documents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    incidents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    runs: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    scan_bytes: int = 0
    scan_seconds: float = 0.0
    last_success: dict[str, float] = field(default_factory=dict)
    reloads: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (sink, outcome) -> notifications; outcome one of DELIVERY_OUTCOMES
    deliveries: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def batch(self, source: str, *, documents: int, hits: int, incidents: int,
              nbytes: int, seconds: float) -> None:
        self.documents[source] += documents
        self.hits[source] += hits
        self.incidents[source] += incidents
        self.scan_bytes += nbytes
        self.scan_seconds += seconds

    def run(self, source: str, outcome: str) -> None:
        self.runs[(source, outcome)] += 1
        if outcome == "error":
            self.errors[source] += 1
        elif outcome == "ok":
            self.last_success[source] = time.time()

    def delivered(self, by_sink: dict[str, dict[str, int]]) -> None:
        """Count one delivery pass: {sink: {"sent": n, "failed": n, "dead": n}} (items in
        digests count as sent)."""
        for sink, counts in by_sink.items():
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries[(sink, outcome)] += counts.get(outcome, 0)

    def registry(self, backlog: dict[str, int] | None = None) -> CollectorRegistry:
        """A registry for one scrape: our families, process and platform metrics."""
        reg = CollectorRegistry(auto_describe=False)
        reg.register(_LeakmonCollector(self, backlog))
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        return reg

    def render(self, backlog: dict[str, int] | None = None, *,
               openmetrics_format: bool = False) -> str:
        """The scrape body; `backlog` is {sink: waiting notifications}, every configured sink
        present (0 when nothing waits), so that its series exist before the first alert."""
        gen = openmetrics.generate_latest if openmetrics_format else text_format.generate_latest
        return gen(self.registry(backlog)).decode()


class _LeakmonCollector(Collector):
    def __init__(self, m: Metrics, backlog: dict[str, int] | None) -> None:
        self.m = m
        self.backlog = backlog

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily]:
        m = self.m
        yield InfoMetricFamily("leakmon_build", "leakmon build information.",
                               value={"version": __version__,
                                      "python": platform.python_version()})

        def counter(name: str, help_: str, labels: list[str],
                    items: Iterable[tuple[str | tuple[str, ...], float]]) -> CounterMetricFamily:
            family = CounterMetricFamily(name, help_, labels=labels)
            for key, value in sorted(items):
                family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
            return family

        yield counter("leakmon_documents", "Documents committed by the pipeline.",
                      ["source"], m.documents.items())
        yield counter("leakmon_hits", "Rule hits on committed documents.",
                      ["source"], m.hits.items())
        yield counter("leakmon_incidents_new", "Incidents opened.",
                      ["source"], m.incidents.items())
        yield counter("leakmon_source_runs", "Source runs by outcome.",
                      ["source", "outcome"], m.runs.items())
        yield counter("leakmon_source_errors", "Failed source runs.",
                      ["source"], m.errors.items())
        last = GaugeMetricFamily("leakmon_source_last_success_timestamp_seconds",
                                 "Unix time of the last successful run of each source.",
                                 labels=["source"])
        for source, value in sorted(m.last_success.items()):
            last.add_metric([source], value)
        yield last
        yield CounterMetricFamily("leakmon_scan_bytes", "Bytes of documents through the "
                                  "pipeline; throughput is rate(leakmon_scan_bytes_total) / "
                                  "rate(leakmon_scan_seconds_total).",
                                  value=m.scan_bytes)
        yield CounterMetricFamily("leakmon_scan_seconds", "Seconds spent in the pipeline "
                                  "(scan + store).", value=m.scan_seconds)
        yield counter("leakmon_reloads", "SIGHUP reloads by outcome.",
                      ["outcome"], m.reloads.items())
        sinks = set(self.backlog or ()) | {s for s, _ in m.deliveries}
        deliveries = {(s, o): m.deliveries.get((s, o), 0)
                      for s in sinks for o in DELIVERY_OUTCOMES}
        yield counter("leakmon_notifications_delivered", "Outbox deliveries per sink by "
                      "outcome: sent, failed (will be retried), dead (given up).",
                      ["sink", "outcome"], deliveries.items())
        if self.backlog is not None:
            waiting = GaugeMetricFamily("leakmon_outbox_backlog",
                                        "Notifications waiting per sink.", labels=["sink"])
            for sink, value in sorted(self.backlog.items()):
                waiting.add_metric([sink], value)
            yield waiting
        yield GaugeMetricFamily("leakmon_start_time_seconds", "Unix time the daemon started.",
                                value=m.started)


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:9464' or '[::1]:9464' -> (host, port); ConfigError unless loopback."""
    where = "[daemon] metrics_listen"
    host, sep, port_s = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise ConfigError(f"{where}: expected HOST:PORT like '127.0.0.1:9464', got {value!r}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"{where}: {host} is not a loopback address; metrics are served on "
                f"127.0.0.1 or ::1 only (put a reverse proxy in front to publish them)")
    return host, int(port_s)


class MetricsServer:
    """A minimal HTTP/1.0 responder for GET /metrics on an asyncio server."""

    def __init__(self, metrics: Metrics,
                 backlog: Callable[[], Awaitable[dict[str, int]]] | None = None) -> None:
        self.metrics = metrics
        self._backlog = backlog
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        log.info("metrics on http://%s:%d/metrics", host, self.port or port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            accept = " ".join(h.split(b":", 1)[1].decode("latin-1")
                              for h in request.split(b"\r\n")[1:]
                              if h.lower().startswith(b"accept:"))
            parts = line.split()
            if len(parts) < 2 or parts[0] != "GET":
                await _respond(writer, 405, "text/plain", "method not allowed\n")
            elif parts[1].split("?", 1)[0] not in ("/metrics", "/"):
                await _respond(writer, 404, "text/plain", "not found; try /metrics\n")
            else:
                backlog = None
                if self._backlog is not None:
                    try:
                        backlog = await self._backlog()
                    except Exception as e:  # a broken store must not break the scrape
                        log.warning("metrics: outbox backlog unavailable: %s", e)
                om = "application/openmetrics-text" in accept
                body = self.metrics.render(backlog, openmetrics_format=om)
                ctype = (openmetrics.CONTENT_TYPE_LATEST if om
                         else text_format.CONTENT_TYPE_PLAIN_0_0_4)  # what Prometheus 2 reads
                await _respond(writer, 200, ctype, body)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()


async def _respond(writer: asyncio.StreamWriter, code: int, ctype: str, body: str) -> None:
    data = body.encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[code]
    head = (f"HTTP/1.0 {code} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
    writer.write(head.encode() + data)
    await writer.drain()
