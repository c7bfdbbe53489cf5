"""`leakmon status`: what each source last did, what waits in the outbox, incidents by status,
and every worker sharing the store (host, pid, labels, last heartbeat, the sources it leases).

Read-only: it opens the store next to a running daemon (WAL lets readers in) and takes next run
times from the daemon's `daemon.json` when that daemon still holds the lock; otherwise the next
run is estimated from the last run and `every` (what `once` under cron would do).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Config
from monitor.daemon.health import as_datetime
from monitor.daemon.lock import holder_pid
from monitor.daemon.scheduler import STATUS_FILE
from monitor.daemon.source_tables import source_configs
from monitor.daemon.workers import store_opener
from monitor.models import utcnow

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.store.sources import SourceState
    from monitor.store.workers import WorkerInfo

WORKER_HISTORY = timedelta(days=1)


@dataclass(slots=True)
class SourceStatus:
    name: str
    type: str
    enabled: bool
    configured: bool
    last_run: str | None
    last_success: str | None
    last_error: str | None
    items_last_run: int
    consecutive_failures: int
    next_run: str | None
    running: bool = False
    worker: str | None = None  # the worker leasing it (several workers on one store)


@dataclass(slots=True)
class WorkerStatus:
    """One `leakmon run` worker as the store knows it (monitor/store/workers.py)."""

    id: str
    host: str
    pid: int
    labels: list[str]
    started_at: str | None
    heartbeat_at: str | None
    expires_at: str | None
    stopped_at: str | None
    state: str  # alive | expired (no heartbeat within the lease ttl: dead) | stopped
    leases: list[str]


@dataclass(slots=True)
class StatusReport:
    daemon_pid: int | None  # the running daemon, if any
    lock_holder: int | None = None  # whoever holds the state lock (a daemon or a `once` pass)
    sources: list[SourceStatus] = field(default_factory=list)
    outbox_backlog: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    workers: list[WorkerStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:  # JSON
        return asdict(self)


def gather_status(config: Config, state_dir: Path, *, store: Store | None = None,
                  now: datetime | None = None) -> StatusReport:
    now = now or utcnow()
    pid = holder_pid(state_dir)
    daemon_data = _daemon_file(state_dir, pid)
    daemon = daemon_data.get("sources", {}) or {}
    own = store is None
    store = store or store_opener(config)(state_dir)  # [store] url: PostgreSQL
    try:
        states = {s.name: s for s in store.list_source_states()}
        report = StatusReport(daemon_pid=pid if daemon_data else None, lock_holder=pid,
                              outbox_backlog=dict(store.outbox_backlog()),
                              incidents=dict(store.incident_counts()))
        holders: dict[str, str | None] = {}
        if hasattr(store, "list_workers"):
            report.workers = [_worker(w, now) for w in store.list_workers()
                              if w.alive(now) or w.leases or _recent(w, now)]
            holders = {s: lease.worker for s, lease in store.source_leases().items()}
    finally:
        if own:
            store.close()
    for src in source_configs(config.sources):
        st = states.pop(src.name, None)
        sched = daemon.get(src.name, {})
        last_run = as_datetime(getattr(st, "last_run", None))
        if not src.enabled:
            next_run = None
        elif sched.get("next_run"):
            next_run = sched["next_run"]
        elif last_run is not None:
            next_run = _iso(max(now, last_run + timedelta(seconds=src.every)))
        else:
            next_run = "due now"
        report.sources.append(_row(src.name, src.type, src.enabled, True, st, next_run,
                                   bool(sched.get("running"))))
    for name, st in sorted(states.items()):
        report.sources.append(_row(name, "?", False, False, st, None, False))
    for row in report.sources:
        row.worker = holders.get(row.name)
    return report


def _row(name: str, typ: str, enabled: bool, configured: bool, st: SourceState | None,
         next_run: str | None,
         running: bool) -> SourceStatus:
    return SourceStatus(
        name=name, type=typ, enabled=enabled, configured=configured,
        last_run=_iso(as_datetime(getattr(st, "last_run", None))),
        last_success=_iso(as_datetime(getattr(st, "last_success", None))),
        last_error=getattr(st, "last_error", None) if getattr(st, "consecutive_failures", 0)
        else None,
        items_last_run=int(getattr(st, "items_last_run", 0) or 0),
        consecutive_failures=int(getattr(st, "consecutive_failures", 0) or 0),
        next_run=next_run, running=running,
    )


def _worker(w: WorkerInfo, now: datetime) -> WorkerStatus:
    state = "stopped" if w.stopped_at else ("alive" if w.alive(now) else "expired")
    return WorkerStatus(id=w.id, host=w.host, pid=w.pid, labels=list(w.labels),
                        started_at=_iso(w.started_at), heartbeat_at=_iso(w.heartbeat_at),
                        expires_at=_iso(w.expires_at), stopped_at=_iso(w.stopped_at),
                        state=state, leases=list(w.leases))


def _recent(w: WorkerInfo, now: datetime) -> bool:
    """Stopped or dead workers stay listed for a day, then drop out of the view."""
    return (w.stopped_at or w.expires_at) >= now - WORKER_HISTORY


def _daemon_file(state_dir: Path, pid: int | None) -> dict[str, Any]:  # daemon.json's JSON
    """The running daemon's schedule, only if the lock holder is the daemon that wrote it."""
    if pid is None:
        return {}
    try:
        data = json.loads((Path(state_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if data.get("pid") != pid or data.get("stopped"):
        return {}
    return data


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") if dt else None


def render_status(report: StatusReport) -> str:
    """The human table: one line per source, then backlog and incidents."""
    if report.daemon_pid:
        state = f"running, pid {report.daemon_pid}"
    elif report.lock_holder:
        state = f"not running (a `leakmon once` pass, pid {report.lock_holder}, is working)"
    else:
        state = "not running"
    lines = [f"daemon: {state}", ""]
    header: tuple[str, ...] = ("SOURCE", "TYPE", "LAST RUN", "LAST SUCCESS", "ITEMS", "FAILS",
                               "NEXT RUN", "LAST ERROR")
    several = len(report.workers) > 1  # who runs what matters once there are several
    if several:
        header = (*header[:-1], "WORKER", header[-1])
    rows = []
    for s in report.sources:
        name = s.name + ("" if s.configured else " (not configured)") + (
            "" if s.enabled or not s.configured else " (disabled)")
        row: tuple[str, ...] = (name, s.type, _short(s.last_run), _short(s.last_success),
                                str(s.items_last_run), str(s.consecutive_failures),
                                "running" if s.running else _short(s.next_run),
                                (s.last_error or "")[:80])
        if several:
            row = (*row[:-1], s.worker or "-", row[-1])
        rows.append(row)
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for r in [header, *rows]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False))
                         + "  " + r[-1])
    else:
        lines.append("no sources configured")
    lines.append("")
    backlog = ", ".join(f"{k} {v}" for k, v in sorted(report.outbox_backlog.items()))
    lines.append(f"outbox backlog: {backlog or 'empty'}")
    incidents = ", ".join(f"{k} {v}" for k, v in sorted(report.incidents.items()))
    lines.append(f"incidents: {incidents or 'none'}")
    if report.workers:
        lines += ["", *render_workers(report.workers)]
    return "\n".join(lines)


def render_workers(workers: list[WorkerStatus]) -> list[str]:
    """One line per worker: where it runs, whether it is alive, what it leases."""
    header = ("WORKER", "HOST", "PID", "LABELS", "LAST HEARTBEAT", "STATE", "LEASES")
    rows = [(w.id, w.host, str(w.pid), ",".join(w.labels) or "-", _short(w.heartbeat_at),
             w.state, f"{len(w.leases)}: {', '.join(w.leases)}" if w.leases else "0")
            for w in workers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=False)) + "  " + r[-1]
            for r in [header, *rows]]


def _short(value: str | None) -> str:
    if not value:
        return "-"
    if value == "due now":
        return value
    return value.replace("+00:00", "Z").replace("T", " ")
