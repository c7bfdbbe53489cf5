"""`leakmon run`: the long-running daemon around APScheduler 3.11's AsyncIOScheduler.

One interval job per enabled source (max_instances=1: never two runs of one source at once;
coalesce: a backlog of missed runs becomes one run), plus outbox delivery (and digests) and
retention pruning. Collectors are coroutines on the loop; scanning and SQLite run on worker
threads, so a slow or failing source never delays the others. SIGTERM/SIGINT stop taking new
work and let in-flight batches commit (bounded by [daemon] shutdown_timeout); SIGHUP reloads
config and rules, validated first; systemd gets READY/STATUS/WATCHDOG/RELOADING/STOPPING.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.collectors.base import Collector
from monitor.config import Config
from monitor.daemon.health import as_datetime
from monitor.daemon.leases import Leases
from monitor.daemon.metrics import Metrics, MetricsServer, parse_listen
from monitor.daemon.runner import PipelineFactory, PipelineHost, RunResult, SourceRunner
from monitor.daemon.runtime import ReloadError, Runtime, load_runtime
from monitor.daemon.systemd import SystemdNotifier
from monitor.daemon.workers import SharedStore, StoreOpener, StoreThread, open_store
from monitor.errors import ConfigError, LeakmonError
from monitor.models import utcnow
from monitor.paths import write_secret

if TYPE_CHECKING:
    from monitor.alerting.delivery import DeliveryReport
    from monitor.alerting.sinks.base import Sink
    from monitor.store import Store

log = logging.getLogger(__name__)

# The daemon's seams (tests pass stand-ins): build a collector from its [[sources]] TOML table,
# and deliver the outbox's due rows to the sinks.
CollectorFactory: TypeAlias = "Callable[[dict[str, Any], Config, Path], Collector]"
Deliver: TypeAlias = "Callable[[Store, list[Sink], datetime], DeliveryReport]"

STATUS_FILE = "daemon.json"
STATUS_REFRESH = 30.0  # seconds between STATUS= updates when no watchdog is configured
STALL_AFTER = 900.0  # a worker call running longer than this is a stall: stop WATCHDOG=1
OUTBOX_JOB = "outbox"
PRUNE_JOB = "prune"


def source_job_id(name: str) -> str:
    return f"source:{name}"


def build_collector_default(table: dict[str, Any], config: Config, state_dir: Path) -> Collector:
    from monitor.collectors import build_collector

    return build_collector(table, config, state_dir)


def deliver_default(store: Store, sinks: list[Sink], now: datetime,
                    worker: str | None = None) -> DeliveryReport:
    from monitor.alerting.delivery import deliver_due

    return deliver_due(store, sinks, now=now, worker=worker)


class Console(Protocol):
    """What the daemon needs of the web console it hosts (monitor.web.server.start_console)."""

    def stop(self) -> None: ...


class Daemon:
    """The scheduler, its jobs and the signal handling. `await Daemon(...).run()` -> exit code."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        state_dir: Path,
        config_path: str | Path | None,
        notifier: SystemdNotifier | None = None,
        loader: Callable[..., Runtime] = load_runtime,
        collector_factory: CollectorFactory = build_collector_default,
        pipeline_factory: PipelineFactory | None = None,
        store_opener: StoreOpener = open_store,
        console: Callable[[Config, Path], Console] | None = None,
        deliver: Deliver = deliver_default,
        metrics: Metrics | None = None,
        start_delay: float = 0.0,
        labels: tuple[str, ...] = (),
        use_leases: bool = True,
    ) -> None:
        self.runtime = runtime
        self.state_dir = Path(state_dir)
        self.config_path = config_path
        self.notifier = notifier or SystemdNotifier()
        self.metrics = metrics or Metrics()
        self._loader = loader
        self._collector_factory = collector_factory
        self._deliver = deliver
        self._start_delay = start_delay
        self.store = SharedStore(self.state_dir, store_opener)
        self.pipeline_thread = StoreThread(self.store, "pipeline")
        self.delivery_thread = StoreThread(self.store, "delivery")
        self.lease_thread = StoreThread(self.store, "leases")
        self._labels = (*runtime.config.daemon.labels, *labels)
        self.leases: Leases | None = None  # None: no leases (a store without workers)
        self._use_leases = use_leases  # False: run every source unleased (bench baseline)
        self.host = PipelineHost(runtime, pipeline_factory)
        self.runner = SourceRunner(self.pipeline_thread, self.host, self.metrics)
        self.scheduler: AsyncIOScheduler | None = None
        self.collectors: dict[str, Collector] = {}
        self.running: set[str] = set()
        self.last_results: dict[str, RunResult] = {}
        self._inflight: set[asyncio.Task] = set()
        self._stop = asyncio.Event()
        self._stopping = False
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()
        self._metrics_server: MetricsServer | None = None
        self._console = console  # starts the web console for `[daemon] web = true`
        self._web: Console | None = None
        self._retired_sinks: list[Sink] = []
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.stall_after = STALL_AFTER

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        if not log.isEnabledFor(logging.DEBUG):  # job add/remove chatter; misfires stay visible
            logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
        self._install_signals(loop)
        self.collectors = self._build_collectors(self.runtime, {})
        await self._start_leases()
        names = [s.name for s in self.runtime.enabled_sources]
        last_runs = await self.pipeline_thread.call(
            lambda store: {n: as_datetime(store.get_source_state(n).last_run) for n in names})
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self._sync_jobs(initial=True, last_runs=last_runs)
        self.scheduler.start()
        await self._start_metrics()
        await self._start_web()
        self._spawn(self._heartbeat())
        if self.leases is not None:
            self._spawn(self._lease_loop())
        self._write_status_file()
        log.info("leakmon daemon started (pid %d): %s", os.getpid(), self.runtime.summary())
        self.notifier.ready(self.status_line())
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
        return 0

    def request_stop(self, reason: str = "stop requested") -> None:
        if not self._stopping:
            log.info("%s: finishing in-flight batches, taking no new work", reason)
        self._stopping = True
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _shutdown(self) -> None:
        self.notifier.stopping()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
        timeout = self.runtime.timings.shutdown_timeout
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            log.info("waiting up to %.0fs for %d in-flight job(s)", timeout, len(pending))
            _done, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                log.warning("job %s did not finish within shutdown_timeout; cancelling",
                            task.get_name())
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)
        for task in list(self._background):
            task.cancel()
        if self.leases is not None:
            await self.leases.stop()  # after the last commit: another worker takes over now
        if self._metrics_server is not None:
            await self._metrics_server.close()
        if self._web is not None:
            await asyncio.to_thread(self._web.stop)
        for name, collector in list(self.collectors.items()):
            await _aclose(collector, name)
        self.collectors.clear()
        await asyncio.to_thread(self.pipeline_thread.close)
        await asyncio.to_thread(self.delivery_thread.close)
        await asyncio.to_thread(self.lease_thread.close)
        self.store.close()
        for sink in [*self.runtime.sinks, *self._retired_sinks]:
            try:
                sink.close()
            except Exception:
                log.exception("closing sink %s failed", getattr(sink, "name", sink))
        self._write_status_file(stopped=True)
        self.notifier.close()
        log.info("leakmon daemon stopped")

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, f"received {sig.name}")
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ---- jobs ------------------------------------------------------------------------------

    def _sync_jobs(self, *, initial: bool = False, old: Runtime | None = None,
                   last_runs: dict[str, datetime | None] | None = None) -> None:
        """Make the scheduler's jobs match `self.runtime` (added, changed, removed sources).

        A new job first runs when the source is due (`last_run + every`, so a restart does not
        hammer a rate-limited API), spread by up to `jitter` so that fifty channels do not
        all hit t.me in the same second.
        """
        assert self.scheduler is not None
        now = datetime.now(UTC)
        wanted = {s.name: s for s in self.runtime.enabled_sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("source:") and job.id[len("source:"):] not in wanted:
                job.remove()
                log.info("source %s: unscheduled", job.id[len("source:"):])
        for i, src in enumerate(wanted.values()):
            job_id = source_job_id(src.name)
            previous = old.source(src.name) if old else None
            existing = self.scheduler.get_job(job_id)
            trigger = IntervalTrigger(seconds=src.every, jitter=src.jitter or None, timezone=UTC)
            if existing is None:
                first = now + timedelta(seconds=self._start_delay + 0.05 * i
                                        + random.uniform(0, src.jitter))
                last = (last_runs or {}).get(src.name)
                if last is not None:
                    first = max(first, last + timedelta(seconds=src.every))
                self.scheduler.add_job(
                    self._source_job, trigger, args=[src.name], id=job_id, name=job_id,
                    max_instances=1, coalesce=True, misfire_grace_time=int(max(60, src.every)),
                    next_run_time=first,
                )
                if not initial:
                    log.info("source %s: scheduled every %gs", src.name, src.every)
            elif previous is None or (previous.every, previous.jitter) != (src.every, src.jitter):
                existing.reschedule(trigger)
                existing.modify(misfire_grace_time=int(max(60, src.every)))
        timings = self.runtime.timings
        for job_id, every, func in ((OUTBOX_JOB, timings.outbox_every, self._outbox_job),
                                    (PRUNE_JOB, timings.prune_every, self._prune_job)):
            trigger = IntervalTrigger(seconds=every, timezone=UTC)
            existing = self.scheduler.get_job(job_id)
            if existing is None:
                soon = now + timedelta(seconds=1.0) if job_id == OUTBOX_JOB else None
                kwargs: dict[str, datetime] = {"next_run_time": soon} if soon else {}
                self.scheduler.add_job(func, trigger, id=job_id, name=job_id, max_instances=1,
                                       coalesce=True, misfire_grace_time=int(max(60, every)),
                                       **kwargs)
            elif old is not None:
                old_every = (old.timings.outbox_every if job_id == OUTBOX_JOB
                             else old.timings.prune_every)
                if old_every != every:
                    existing.reschedule(trigger)

    async def _source_job(self, name: str) -> None:
        if self._stopping:
            return
        source = self.runtime.source(name)
        collector = self.collectors.get(name)
        if source is None or collector is None:
            return
        leases = self.leases
        if leases is not None and not leases.holds(name):
            return  # another worker runs it
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        self.running.add(name)
        try:
            if leases is None:
                result = await self.runner.run(source, collector, lambda: self._stopping)
            else:
                result = await self.runner.run(
                    source, collector, lambda: self._stopping or not leases.holds(name),
                    guard=leases.guard(name))
            self.last_results[name] = result
            if result.retry_after is not None and not self._stopping:
                self._defer(name, result.retry_after)
        finally:
            self.running.discard(name)
            if task is not None:
                self._inflight.discard(task)
            if self.collectors.get(name) is not collector:
                await _aclose(collector, name)  # replaced by a reload while it ran
            self._write_status_file()

    # ---- leases (several workers on one store; monitor/daemon/leases.py) --------------------

    async def _start_leases(self) -> None:
        """Register this worker and take its share of the sources before any job runs."""
        if not self._use_leases or not await self.lease_thread.call(
                lambda store: hasattr(store, "register_worker")):
            return
        timings = self.runtime.timings
        self.leases = Leases(self.lease_thread, ttl=timings.lease_ttl, labels=self._labels)
        await self.leases.start(self.runtime.enabled_sources)
        if self._deliver is deliver_default:
            worker = self.leases.id
            self._deliver = lambda store, sinks, now: deliver_default(store, sinks, now, worker)

    async def _lease_loop(self) -> None:
        """Renew every `lease_renew` seconds; run sources taken over when they are due."""
        assert self.leases is not None
        while not self._stopping:
            await asyncio.sleep(self.runtime.timings.lease_renew)
            if self._stopping:
                return
            await self._sync_leases()

    async def _sync_leases(self, *, new_jobs: frozenset[str] = frozenset()) -> None:
        assert self.leases is not None
        try:
            change = await self.leases.sync(self.runtime.enabled_sources, set(self.running))
        except Exception:
            log.exception("renewing the leases failed; trying again in %gs",
                          self.runtime.timings.lease_renew)
            return
        for name, last_run in change.gained.items():
            if name not in new_jobs:  # a job just added is already scheduled when due
                self._run_when_due(name, as_datetime(last_run))

    def _run_when_due(self, name: str, last_run: datetime | None) -> None:
        """A source just leased runs at `last_run + every` (now if that is past), whoever ran
        it last: a takeover neither waits a whole interval nor hammers a rate-limited site."""
        source = self.runtime.source(name)
        job = self.scheduler.get_job(source_job_id(name)) if self.scheduler else None
        if source is None or job is None:
            return
        now = datetime.now(UTC)
        when = now if last_run is None else max(now, last_run + timedelta(seconds=source.every))
        job.modify(next_run_time=when)

    def _defer(self, name: str, seconds: float) -> None:
        assert self.scheduler is not None
        job = self.scheduler.get_job(source_job_id(name))
        if job is not None:
            when = datetime.now(UTC) + timedelta(seconds=seconds)
            job.modify(next_run_time=when)
            log.info("source %s: next run deferred to %s", name, when.isoformat(timespec="seconds"))

    async def _outbox_job(self) -> None:
        if self._stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        sinks = list(self.runtime.sinks)
        try:
            report = await self.delivery_thread.call(
                lambda store: self._deliver(store, sinks, utcnow()))
            self.metrics.delivered(getattr(report, "by_sink", {}))
            if any(getattr(report, k, 0) for k in ("sent", "failed", "dead", "digested")):
                log.info("outbox: %s", _describe(report))
        except Exception:
            log.exception("outbox delivery failed")
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _prune_job(self) -> None:
        if self._stopping:
            return
        try:
            pruned = await self.pipeline_thread.call(lambda store: store.prune(utcnow()))
            log.info("retention pruning done: %s", pruned)
        except Exception:
            log.exception("retention pruning failed")

    # ---- reload ----------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Re-read config and rules; swap only if everything validates. True when swapped."""
        if self._stopping:
            return False
        async with self._reload_lock:
            self.notifier.reloading()
            log.info("SIGHUP: reloading %s", self.config_path or "(built-in defaults)")
            try:
                new = await asyncio.to_thread(
                    self._loader, self.config_path, self.state_dir, strict=True)
                collectors = self._build_collectors(new, self._reusable(new))
            except Exception as e:  # any failure keeps the last good set running
                self.reloads_failed += 1
                self.metrics.reloads["failed"] += 1
                if not isinstance(e, LeakmonError):
                    log.exception("reload failed unexpectedly")
                    e = ReloadError(f"{type(e).__name__}: {e}")
                log.error("reload rejected, still running the previous configuration: %s", e)
                for problem in getattr(e, "problems", []) or []:
                    log.error("reload problem: %s", problem)
                self.notifier.ready(f"reload FAILED ({e}); " + self.status_line())
                return False
            if self._stopping:  # SIGTERM arrived while loading: do not swap any more
                for sink in new.sinks:
                    sink.close()
                for name, collector in collectors.items():
                    if self.collectors.get(name) is not collector:
                        await _aclose(collector, name)
                return False
            old, old_collectors = self.runtime, self.collectors
            self.runtime, self.host.runtime = new, new
            self.collectors = collectors
            if self.leases is not None:  # lease added sources before their jobs first fire
                await self._sync_leases(new_jobs=frozenset(
                    s.name for s in new.enabled_sources if old.source(s.name) is None))
            self._sync_jobs(old=old)
            for name, collector in old_collectors.items():
                if collectors.get(name) is not collector and name not in self.running:
                    await _aclose(collector, name)
            self._retired_sinks.extend(old.sinks)  # closed at exit: a delivery may hold one
            self.reloads_ok += 1
            self.metrics.reloads["ok"] += 1
            log.info("reload done: %s", new.summary())
            self._write_status_file()
            self.notifier.ready(self.status_line())
            return True

    def _reusable(self, new: Runtime) -> dict[str, Collector]:
        """Collectors whose table and network settings did not change (keeps Telegram sessions)."""
        if new.config.network != self.runtime.config.network:
            return {}
        return {name: c for name, c in self.collectors.items()
                if new.tables.get(name) == self.runtime.tables.get(name)}

    def _build_collectors(self, runtime: Runtime, reuse: dict[str, Collector]
                          ) -> dict[str, Collector]:
        out: dict[str, Collector] = {}
        problems: list[str] = []
        for src in runtime.enabled_sources:
            if src.name in reuse:
                out[src.name] = reuse[src.name]
                continue
            try:
                out[src.name] = self._collector_factory(
                    runtime.tables[src.name], runtime.config, self.state_dir)
            except LeakmonError as e:
                where = f"source {src.name!r}"
                problems.append(str(e) if str(e).startswith(where) else f"{where}: {e}")
        if problems:
            raise ReloadError(f"{len(problems)} source(s) cannot be built: "
                              + "; ".join(problems), problems)
        return out

    # ---- reporting -------------------------------------------------------------------------

    def status_line(self) -> str:
        failing = [n for n, r in self.last_results.items() if not r.ok]
        docs = sum(self.metrics.documents.values())
        hits = sum(self.metrics.hits.values())
        line = (f"{len(self.runtime.enabled_sources)} sources, {docs} documents, {hits} hits, "
                f"{sum(self.metrics.incidents.values())} new incidents")
        if failing:
            line += f"; failing: {', '.join(sorted(failing))}"
        if self.running:
            line += f"; running: {', '.join(sorted(self.running))}"
        return line

    def healthy(self) -> bool:
        """Scheduler up and no worker thread stuck in one call (systemd restarts us if not)."""
        if self.scheduler is None or not self.scheduler.running or self._stopping:
            return False
        stalled = [t.name for t in (self.pipeline_thread, self.delivery_thread)
                   if t.busy_for() > self.stall_after]
        if stalled:
            log.error("worker thread(s) %s stuck for over %.0fs; withholding the watchdog ping",
                      ", ".join(stalled), self.stall_after)
            return False
        return True

    async def _heartbeat(self) -> None:
        interval = self.notifier.watchdog_interval
        while True:
            await asyncio.sleep(min(interval or STATUS_REFRESH, STATUS_REFRESH))
            if not self.healthy():
                continue  # no WATCHDOG=1: systemd restarts a wedged daemon
            if interval:
                self.notifier.watchdog()
            self.notifier.status(self.status_line())

    async def _start_metrics(self) -> None:
        listen = self.runtime.config.daemon.metrics_listen
        if not listen:
            return
        host, port = parse_listen(listen)

        async def backlog() -> dict[str, int]:
            # every configured sink has a series, at 0 when nothing waits
            waiting = await self.delivery_thread.call(lambda s: dict(s.outbox_backlog()))
            return {s.name: 0 for s in self.runtime.sinks} | waiting

        self._metrics_server = MetricsServer(self.metrics, backlog)
        await self._metrics_server.start(host, port)

    async def _start_web(self) -> None:
        """`[daemon] web = true`: serve the console in its own thread and store connection."""
        config = self.runtime.config
        if not config.daemon.web:
            return
        if self._console is None:
            raise ConfigError("[daemon] web = true, but this daemon was built without a "
                              "console to serve (Daemon(console=...); `leakmon run` gives it)")
        self._web = await asyncio.to_thread(self._console, config, self.state_dir)
        log.info("web console on %s", config.web.listen)

    def _write_status_file(self, *, stopped: bool = False) -> None:
        """`<state_dir>/daemon.json`: next run times for `leakmon status` (no secrets in it)."""
        sources: dict[str, dict[str, object]] = {}  # daemon.json's JSON
        if self.scheduler is not None and not stopped:
            for src in self.runtime.enabled_sources:
                if self.leases is not None and not self.leases.holds(src.name):
                    continue  # another worker's: its own daemon.json has the schedule
                job = self.scheduler.get_job(source_job_id(src.name))
                nrt = getattr(job, "next_run_time", None) if job else None
                sources[src.name] = {
                    "next_run": nrt.isoformat(timespec="seconds") if nrt else None,
                    "running": src.name in self.running,
                }
        data = {"pid": os.getpid(), "updated_at": utcnow().isoformat(), "stopped": stopped,
                "status": "stopped" if stopped else self.status_line(), "sources": sources}
        try:
            write_secret(self.state_dir / STATUS_FILE, json.dumps(data, indent=1).encode())
        except OSError as e:
            log.warning("cannot write %s: %s", self.state_dir / STATUS_FILE, e.strerror)


def _describe(report: DeliveryReport) -> str:
    keys = ("sent", "failed", "dead", "digested")
    return ", ".join(f"{k} {getattr(report, k)}" for k in keys if hasattr(report, k)) or str(report)


async def _aclose(collector: Collector, name: str) -> None:
    closer = getattr(collector, "aclose", None)
    if closer is None:
        return
    try:
        await closer()
    except Exception:
        log.exception("source %s: closing the collector failed", name)
