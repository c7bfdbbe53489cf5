"""`leakmon once`: one pass of every due source plus outbox delivery, for cron.

It takes the same state-directory lock as the daemon, so a cron pass, a second daemon and the
running daemon never work over each other. "Due" means the source's `every` has elapsed since
its last recorded run (minus a little slack so a 5-minute cron and `every = "5m"` line up).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from monitor.collectors.base import SourceConfig
from monitor.daemon.health import as_datetime
from monitor.daemon.lock import StateLock
from monitor.daemon.runner import PipelineFactory, PipelineHost, RunResult, SourceRunner
from monitor.daemon.runtime import Runtime, ensure_drop_folders, load_runtime
from monitor.daemon.scheduler import (
    CollectorFactory,
    Deliver,
    build_collector_default,
    deliver_default,
)
from monitor.daemon.workers import SharedStore, StoreOpener, StoreThread, open_store
from monitor.errors import ConfigError, LeakmonError
from monitor.models import utcnow

if TYPE_CHECKING:
    from monitor.alerting.delivery import DeliveryReport
    from monitor.store.sources import SourceState

log = logging.getLogger(__name__)

MAX_SLACK = 60.0


@dataclass(slots=True)
class OnceReport:
    runs: list[RunResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not due yet
    delivery: DeliveryReport | None = None
    delivery_error: str | None = None

    @property
    def failed_sources(self) -> list[RunResult]:
        return [r for r in self.runs if not r.ok]

    @property
    def delivery_failed(self) -> bool:
        if self.delivery_error:
            return True
        return bool(getattr(self.delivery, "failed", 0) or getattr(self.delivery, "dead", 0))

    @property
    def ok(self) -> bool:
        return not self.failed_sources and not self.delivery_failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def is_due(source: SourceConfig, state: SourceState, now: datetime) -> bool:
    last = as_datetime(getattr(state, "last_run", None))
    if last is None:
        return True
    slack = min(MAX_SLACK, 0.1 * source.every)
    return now - last >= timedelta(seconds=source.every - slack)


class PassHooks(TypedDict, total=False):
    """The seams `run_pass` takes (tests pass stand-ins)."""

    collector_factory: CollectorFactory
    deliver: Deliver
    store_opener: StoreOpener
    pipeline_factory: PipelineFactory | None


async def run_pass(
    runtime: Runtime,
    state_dir: Path,
    *,
    only: str | None = None,
    collector_factory: CollectorFactory = build_collector_default,
    deliver: Deliver = deliver_default,
    store_opener: StoreOpener = open_store,
    pipeline_factory: PipelineFactory | None = None,
) -> OnceReport:
    """Run the due sources (or only `only`, due or not) concurrently, then deliver the outbox."""
    report = OnceReport()
    if only is not None:
        source = runtime.source(only)
        if source is None:
            known = ", ".join(s.name for s in runtime.sources) or "none configured"
            raise ConfigError(f"no source named {only!r} (sources: {known})")
        candidates = [source]
    else:
        candidates = runtime.enabled_sources
    shared = SharedStore(state_dir, store_opener)
    thread = StoreThread(shared, "pipeline")
    try:
        now = utcnow()
        states = await thread.call(lambda s: {c.name: s.get_source_state(c.name) for c in candidates})
        due = [c for c in candidates if only is not None or is_due(c, states[c.name], now)]
        report.skipped = [c.name for c in candidates if c not in due]
        runner = SourceRunner(thread, PipelineHost(runtime, pipeline_factory))
        report.runs = list(await asyncio.gather(
            *(_run_one(runner, runtime, c, state_dir, collector_factory) for c in due)))
        sinks = list(runtime.sinks)
        try:
            report.delivery = await thread.call(lambda s: deliver(s, sinks, utcnow()))
        except Exception as e:
            report.delivery_error = f"{type(e).__name__}: {e}"
            log.exception("outbox delivery failed")
    finally:
        await asyncio.to_thread(thread.close)
        shared.close()
    return report


async def _run_one(runner: SourceRunner, runtime: Runtime, source: SourceConfig,
                   state_dir: Path, factory: CollectorFactory) -> RunResult:
    try:
        collector = factory(runtime.tables[source.name], runtime.config, state_dir)
    except LeakmonError as e:
        log.error("source %s: cannot be built: %s", source.name, e)
        return RunResult(source=source.name, ok=False, error=str(e))
    try:
        return await runner.run(source, collector)
    finally:
        closer = getattr(collector, "aclose", None)
        if closer is not None:
            await closer()


def run_once(config_path: str | Path | None, state_dir: Path, *, only: str | None = None,
             wait: float = 0.0, **hooks: Unpack[PassHooks]) -> OnceReport:
    """Take the lock (waiting up to `wait` s; LockBusyError -> exit 75), load, run one pass."""
    with StateLock(state_dir).acquire(wait):
        runtime = load_runtime(config_path, state_dir, strict=False)
        ensure_drop_folders(runtime)
        return asyncio.run(run_pass(runtime, state_dir, only=only, **hooks))
