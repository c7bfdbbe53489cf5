"""Prometheus metrics in the text exposition format, served on loopback only.

Written by hand (no prometheus_client dependency): a few counters and gauges are all a SOC's
Prometheus needs to graph throughput and alert on a stuck source or a growing outbox. The
endpoint refuses non-loopback addresses: metrics name sources and sinks, which is already more
than an outsider should learn about what is watched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from monitor.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    """Counters updated by the runner; gauges sampled at scrape time."""

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

    @property
    def scan_mb_per_s(self) -> float:
        return self.scan_bytes / 1e6 / self.scan_seconds if self.scan_seconds > 0 else 0.0

    def render(self, backlog: dict[str, int] | None = None) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                out.append(f"{name}{labels} {_num(value)}")

        family("leakmon_documents_total", "counter", "Documents committed by the pipeline.",
               [(_lbl(source=s), v) for s, v in sorted(self.documents.items())])
        family("leakmon_hits_total", "counter", "Rule hits on committed documents.",
               [(_lbl(source=s), v) for s, v in sorted(self.hits.items())])
        family("leakmon_incidents_new_total", "counter", "Incidents opened.",
               [(_lbl(source=s), v) for s, v in sorted(self.incidents.items())])
        family("leakmon_source_runs_total", "counter", "Source runs by outcome.",
               [(_lbl(source=s, outcome=o), v) for (s, o), v in sorted(self.runs.items())])
        family("leakmon_source_errors_total", "counter", "Failed source runs.",
               [(_lbl(source=s), v) for s, v in sorted(self.errors.items())])
        family("leakmon_source_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful run of each source.",
               [(_lbl(source=s), v) for s, v in sorted(self.last_success.items())])
        family("leakmon_scan_bytes_total", "counter", "Bytes of documents through the pipeline.",
               [("", self.scan_bytes)])
        family("leakmon_scan_seconds_total", "counter", "Seconds spent in the pipeline.",
               [("", self.scan_seconds)])
        family("leakmon_scan_megabytes_per_second", "gauge",
               "Average pipeline throughput since start (scan + store).",
               [("", self.scan_mb_per_s)])
        family("leakmon_reloads_total", "counter", "SIGHUP reloads by outcome.",
               [(_lbl(outcome=o), v) for o, v in sorted(self.reloads.items())])
        if backlog is not None:
            family("leakmon_outbox_backlog", "gauge", "Notifications waiting per sink.",
                   [(_lbl(sink=s), v) for s, v in sorted(backlog.items())])
        family("leakmon_start_time_seconds", "gauge", "Unix time the daemon started.",
               [("", self.started)])
        return "\n".join(out) + "\n"


def _lbl(**labels: str) -> str:
    inner = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


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
                body = self.metrics.render(backlog)
                await _respond(writer, 200, "text/plain; version=0.0.4; charset=utf-8", body)
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
